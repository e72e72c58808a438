// model.c: what all models share: linear layers (forward with LR noise and the clean-prefix
// expansion, BP), scopes, sigma handling and weight initialisation.
#include <string.h>
#include <math.h>
#include "model.h"
#include "../kernels/philox.h"

int fl_model_add_linear(fl_model* m, const char* name, const char* role, int block, int din, int dout) {
    m->lin = fl_realloc(m->lin, (size_t)(m->n_lin + 1) * sizeof(fl_linear));
    fl_linear* L = &m->lin[m->n_lin];
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", name);
    snprintf(L->role, sizeof L->role, "%s", role);
    L->block = block;
    L->din = din;
    L->dout = dout;
    char tn[128];
    int wshape[2] = {dout, din}, bshape[1] = {dout};
    snprintf(tn, sizeof tn, "%s.weight", name);
    L->w = fl_params_add(&m->params, tn, FL_KIND_WEIGHT, 2, wshape);
    snprintf(tn, sizeof tn, "%s.bias", name);
    L->b = fl_params_add(&m->params, tn, FL_KIND_BIAS, 1, bshape);
    snprintf(tn, sizeof tn, "%s.log_sigma", name);
    L->s = fl_params_add(&m->params, tn, FL_KIND_LOGSIGMA, 1, bshape);
    L->stream = (uint32_t)m->n_lin;
    return m->n_lin++;
}

void fl_expand_rows(fl_model* m, const fl_fwd* f, float* dst, const float* src, long rowlen) {
    m->ops->gather_rows(dst, src, f->row_datum, f->Q, rowlen);
}

// y (rows, dout) = (set ? 0 : y) + b + sigma eps (nz NULL: b only); with keep_eps, the normals
// also go there for the LR gradient (ops.h, bias_noise_keep).
static void add_bias_noise(const fl_ops* ops, fl_linear* L, float* y, const float* b,
                           const fl_noise* nz, float* keep_eps, int rows, int set) {
    const float* sigma = nz ? L->sigma : NULL;
    if (keep_eps) {
        ops->bias_noise_keep(y, keep_eps, b, sigma, nz, rows, L->dout, set);
        L->saved.eps_kept = 1;
    } else if (set) {
        ops->bias_noise_set(y, b, sigma, nz, rows, L->dout);
    } else {
        ops->bias_noise(y, b, sigma, nz, rows, L->dout);
    }
}

int fl_linear_forward(fl_model* m, fl_linear* L, const fl_fwd* f, const float* x, int x_per_datum,
                      float* y, float* tmp) {
    const fl_ops* ops = m->ops;
    int T = fl_linear_tokens(m, L);
    int noisy = f->noise && L->perturbed;
    int expand = (noisy || m->no_prefix) && x_per_datum && f->row_datum;  // noise enters on per-datum rows
    int x_rows = (x_per_datum ? f->B : f->Q) * T;
    if (f->keep & FL_KEEP_LR) L->saved = (fl_saved){.input = x, .in_rows = x_rows, .per_datum = x_per_datum};
    float* keep = noisy && f->keep_eps && (f->keep & FL_KEEP_LR) && ops->bias_noise_keep ? f->keep_eps[L - m->lin] : NULL;
    const float* W = fl_param_data(&m->params, L->w);
    const float* b = fl_param_data(&m->params, L->b);
    fl_noise nz;
    if (noisy) {
        // sigma = exp(log sigma) from the parameters as they are now: the one place it is computed
        if (!L->sigma) L->sigma = ops->alloc((size_t)L->dout * sizeof(float));
        ops->exp(L->sigma, fl_param_data(&m->params, L->s), L->dout);
        nz = *f->noise;
        nz.stream = f->noise->stream + L->stream;  // template stream = base (main, pilot, ...)
        nz.tokens = T;
    }
    if (!expand && ops->bias_noise_set) {
        // y (rows, dout) = b + sigma eps, then += x (rows, din) W^T (din, dout): one write of y
        // before the GEMM instead of a zeroing pass and a noise pass after it
        add_bias_noise(ops, L, y, b, noisy ? &nz : NULL, keep, x_rows, 1);
        ops->gemm(0, 1, x_rows, L->dout, L->din, 1.0f, x, L->din, W, L->din, 1.0f, y, L->dout);
        return x_per_datum;
    }
    // y (rows, dout) = x (rows, din) W^T (din, dout)
    float* prod = expand ? tmp : y;
    ops->gemm(0, 1, x_rows, L->dout, L->din, 1.0f, x, L->din, W, L->din, 0.0f, prod, L->dout);
    int y_per_datum = x_per_datum;
    if (expand) {
        fl_expand_rows(m, f, y, tmp, (long)T * L->dout);
        y_per_datum = 0;
    }
    int y_rows = (y_per_datum ? f->B : f->Q) * T;
    add_bias_noise(ops, L, y, b, noisy ? &nz : NULL, keep, y_rows, 0);
    return y_per_datum;
}

void fl_linear_backward(fl_model* m, fl_linear* L, const float* x, const float* dy, float* dx, int rows) {
    const fl_ops* ops = m->ops;
    float* gW = fl_param_grad(&m->params, L->w);
    float* gb = fl_param_grad(&m->params, L->b);
    // dW (dout, din) += dy^T (dout, rows) x (rows, din)
    ops->gemm(1, 0, L->dout, L->din, rows, 1.0f, dy, L->dout, x, L->din, 1.0f, gW, L->din);
    ops->col_sum(gb, dy, rows, L->dout, 1.0f);
    // dx (rows, din) = dy (rows, dout) W (dout, din)
    if (dx)
        ops->gemm(0, 0, rows, L->din, L->dout, 1.0f, dy, L->dout, fl_param_data(&m->params, L->w),
                  L->din, 0.0f, dx, L->din);
}

// ---------------------------------------------------------------------------------------
// scopes

static int parse_last_k(const char* s, const char* prefix, int* k) {
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n)) return 0;
    char* end;
    long v = strtol(s + n, &end, 10);
    if (*end || v < 0) return -1;
    *k = (int)v;
    return 1;
}

int fl_model_set_scope(fl_model* m, const char* scope, fl_err* err) {
    for (int i = 0; i < m->n_lin; i++) m->lin[i].perturbed = 0;
    int k;
    int r;
    if (!strcmp(scope, "all")) {
        for (int i = 0; i < m->n_lin; i++) m->lin[i].perturbed = 1;
    } else if (!strcmp(scope, "head")) {
        for (int i = 0; i < m->n_lin; i++) m->lin[i].perturbed = !strcmp(m->lin[i].role, "head");
    } else if ((r = parse_last_k(scope, "attn:last:", &k)) != 0 ||
               (r = parse_last_k(scope, "mlp:last:", &k)) != 0) {
        if (r < 0 || k > m->depth)
            return fl_fail(err, "--scope '%s': K must be an integer in [0, %d] (the model's depth)", scope, m->depth);
        const char* role = scope[0] == 'a' ? "attn" : "mlp";
        for (int i = 0; i < m->n_lin; i++) {
            fl_linear* L = &m->lin[i];
            L->perturbed = !strcmp(L->role, "head") ||
                           (!strcmp(L->role, role) && L->block >= m->depth - k);
        }
    } else if (!strncmp(scope, "layers:", 7)) {
        const char* p = scope + 7;
        while (*p) {
            char* end;
            long i = strtol(p, &end, 10);
            if (end == p || i < 0 || i >= m->n_lin)
                return fl_fail(err, "--scope '%s': expected layer indices in [0, %d) separated by commas", scope, m->n_lin);
            m->lin[i].perturbed = 1;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',')
                return fl_fail(err, "--scope '%s': unexpected '%c'", scope, *end);
        }
    } else {
        return fl_fail(err, "--scope: unknown scope '%s' (expected all, head, attn:last:K, mlp:last:K or layers:I,J)", scope);
    }
    int any = 0;
    for (int i = 0; i < m->n_lin; i++) any |= m->lin[i].perturbed;
    if (!any) return fl_fail(err, "--scope '%s' selects no layer of %s", scope, m->desc);
    return 0;
}

void fl_model_refresh_sigma(fl_model* m) {
    for (int i = 0; i < m->n_lin; i++) {
        fl_linear* L = &m->lin[i];
        if (!L->sigma) L->sigma = m->ops->alloc((size_t)L->dout * sizeof(float));
        m->ops->exp(L->sigma, fl_param_data(&m->params, L->s), L->dout);
    }
}

void fl_model_init_sigma(fl_model* m, float sigma0) {
    for (int i = 0; i < m->n_lin; i++) {
        fl_linear* L = &m->lin[i];
        float* h = fl_malloc((size_t)L->dout * sizeof(float));
        for (int c = 0; c < L->dout; c++) h[c] = logf(sigma0);
        m->ops->upload(fl_param_data(&m->params, L->s), h, (size_t)L->dout * sizeof(float));
        free(h);
    }
    fl_model_refresh_sigma(m);
}

// Uniform in [-1, 1) from the Philox stream (seed, tensor index, element).
static float uniform_pm1(uint64_t seed, uint32_t tensor, uint64_t e) {
    fl_u32x4 c = {{(uint32_t)(e >> 2), tensor, 0x494e4954u /* "INIT" */, 0}};
    fl_u32x4 r = fl_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    return (float)(r.v[e & 3] >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

void fl_model_init_weights(fl_model* m, uint64_t seed) {
    // As torch.nn.Linear: weight and bias ~ U(-1/sqrt(din), 1/sqrt(din)).
    for (int i = 0; i < m->n_lin; i++) {
        fl_linear* L = &m->lin[i];
        float bound = 1.0f / sqrtf((float)L->din);
        size_t nw = (size_t)L->din * L->dout;
        float* h = fl_malloc(nw * sizeof(float));
        for (size_t e = 0; e < nw; e++) h[e] = bound * uniform_pm1(seed, (uint32_t)L->w, e);
        m->ops->upload(fl_param_data(&m->params, L->w), h, nw * sizeof(float));
        for (int e = 0; e < L->dout; e++) h[e] = bound * uniform_pm1(seed, (uint32_t)L->b, (uint64_t)e);
        m->ops->upload(fl_param_data(&m->params, L->b), h, (size_t)L->dout * sizeof(float));
        free(h);
    }
}

void fl_model_free(fl_model* m) {
    if (!m) return;
    if (m->vt && m->vt->destroy) m->vt->destroy(m);
    for (int i = 0; i < m->n_lin; i++)
        if (m->lin[i].sigma) m->ops->free(m->lin[i].sigma);
    free(m->lin);
    free(m->failure);
    fl_params_free(&m->params);
    free(m);
}
