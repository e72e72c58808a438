// mlp.c: multilayer perceptron of any depth and widths, ReLU or exact GELU.
// Layers: fc0 .. fc{L-2} (role "mlp", block = index) and the classifier "head".
// Forward over query rows with LR noise on the scoped layers (clean prefix run per datum),
// per-row softmax cross-entropy, and BP backward.
// Checkpointed BP (m->checkpoint == FL_CKPT_BLOCK, docs/METHOD.md "BP"): a block is one layer
// (Linear + activation). The BP forward keeps only the block inputs, post[i] (no pre-activation
// buffers for hidden layers); the backward recomputes each hidden layer's pre-activation into
// `tmp` from its kept input, with the same call as the forward, before its activation's BP.
#include <string.h>
#include "model.h"

typedef struct {
    int gelu;                 // 0 relu, 1 gelu
    int ckpt;                 // m->checkpoint the buffers were reserved for
    int max_rows;             // rows the buffers hold: max(max_B, max_Q)
    int max_B;
    float** pre;              // (n_lin) layer outputs (rows, dout); checkpointed: the head's only
    float** post;             // (n_lin - 1) activations (rows, dout): input of the next layer
    float* tmp;               // (max_B, max width) per-datum product before expansion; checkpointed
                              // BP: the recomputed pre-activation
    float* grad_a;            // (max_rows, max width) BP scratch
    float* grad_b;
    // remembered from the last forward for backward
    const float* x;
    const int32_t* labels;
    int B;
} mlp_impl;

static int max_width(const fl_model* m) {
    int w = m->in_dim;
    for (int i = 0; i < m->n_lin; i++) w = m->lin[i].dout > w ? m->lin[i].dout : w;
    return w;
}

static void mlp_release(fl_model* m) {
    mlp_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    for (int i = 0; i < m->n_lin; i++) {
        if (p->pre && p->pre[i]) ops->free(p->pre[i]);
        if (p->post && i < m->n_lin - 1 && p->post[i]) ops->free(p->post[i]);
    }
    free(p->pre);
    free(p->post);
    p->pre = p->post = NULL;
    if (p->tmp) ops->free(p->tmp);
    if (p->grad_a) ops->free(p->grad_a);
    if (p->grad_b) ops->free(p->grad_b);
    p->tmp = p->grad_a = p->grad_b = NULL;
    p->max_rows = p->max_B = 0;
}

static void mlp_reserve(fl_model* m, int max_B, int max_Q) {
    mlp_impl* p = m->impl;
    int rows = max_B > max_Q ? max_B : max_Q;
    if (rows <= p->max_rows && max_B <= p->max_B && p->ckpt == m->checkpoint) return;
    mlp_release(m);
    const fl_ops* ops = m->ops;
    p->pre = fl_calloc((size_t)m->n_lin, sizeof(float*));
    p->post = fl_calloc((size_t)m->n_lin, sizeof(float*));
    p->ckpt = m->checkpoint;
    for (int i = 0; i < m->n_lin; i++) {
        size_t bytes = (size_t)rows * m->lin[i].dout * sizeof(float);
        int hidden = i < m->n_lin - 1;
        // a hidden pre-activation is kept only by plain BP
        if (!hidden || !p->ckpt) p->pre[i] = ops->alloc(bytes);
        if (hidden) p->post[i] = ops->alloc(bytes);
    }
    int w = max_width(m);
    p->tmp = ops->alloc((size_t)max_B * w * sizeof(float));
    p->grad_a = ops->alloc((size_t)rows * w * sizeof(float));
    p->grad_b = ops->alloc((size_t)rows * w * sizeof(float));
    p->max_rows = rows;
    p->max_B = max_B;
}

static void mlp_forward(fl_model* m, const fl_fwd* f) {
    mlp_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    FL_CHECK(f->B <= p->max_B && f->Q <= p->max_rows, "mlp forward: %d data / %d rows exceed reserve(%d, %d)",
             f->B, f->Q, p->max_B, p->max_rows);
    FL_CHECK(f->row_datum || f->Q == f->B, "mlp forward: Q (%d) != B (%d) needs row_datum", f->Q, f->B);
    const float* x = f->x;
    int per_datum = 1;
    int keep_pre = (f->keep & FL_KEEP_BP) && !p->ckpt;
    for (int i = 0; i < m->n_lin; i++) {
        fl_linear* L = &m->lin[i];
        int hidden = i < m->n_lin - 1;
        // unless plain BP keeps it, the pre-activation is needed only by the activation, which
        // then runs in place in post[i] (one pass over memory fewer)
        float* y = hidden && !keep_pre ? p->post[i] : p->pre[i];
        per_datum = fl_linear_forward(m, L, f, x, per_datum, y, p->tmp);
        if (hidden) {
            long n = (long)(per_datum ? f->B : f->Q) * L->dout;
            if (p->gelu) ops->gelu(p->post[i], y, n);
            else ops->relu(p->post[i], y, n);
            x = p->post[i];
        }
    }
    float* logits = p->pre[m->n_lin - 1];
    if (per_datum && f->row_datum && f->Q != f->B) {
        // no layer expanded (noise-free forward over query rows): expand the logits
        fl_expand_rows(m, f, p->tmp, logits, m->n_classes);
        ops->copy(logits, p->tmp, (size_t)f->Q * m->n_classes * sizeof(float));
    }
    ops->xent(f->loss, f->argmax, NULL, logits, f->labels, NULL, f->Q, m->n_classes);
    p->x = f->x;
    p->labels = f->labels;
    p->B = f->B;
}

static void mlp_backward(fl_model* m, const float* dloss) {
    mlp_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    int B = p->B;
    int L = m->n_lin;
    float* dy = p->grad_a;
    float* dx = p->grad_b;
    // d loss / d logits = dloss[r] * (softmax - onehot)
    ops->xent(NULL, NULL, dy, p->pre[L - 1], p->labels, dloss, B, m->n_classes);
    for (int i = L - 1; i >= 0; i--) {
        fl_linear* lin = &m->lin[i];
        const float* in = i == 0 ? p->x : p->post[i - 1];
        fl_linear_backward(m, lin, in, dy, i > 0 ? dx : NULL, B);
        if (i > 0) {
            long n = (long)B * lin->din;
            const float* pre = p->pre[i - 1];
            if (p->ckpt) {  // recompute layer i-1 from its kept input: y (B, din) = in W^T + b
                fl_fwd rf = {.x = p->x, .B = B, .Q = B};
                pre = p->tmp;
                fl_linear_forward(m, &m->lin[i - 1], &rf, i == 1 ? p->x : p->post[i - 2], 1, p->tmp, NULL);
            }
            // relu's mask is the same read from the pre-activation as from the activation
            if (p->gelu) ops->gelu_bwd(dx, dx, pre, n);
            else ops->relu_bwd(dx, dx, p->ckpt ? pre : p->post[i - 1], n);
            float* t = dy; dy = dx; dx = t;
        }
    }
}

static double mlp_forward_flops(const fl_model* m, int B, int Q, int noisy) {
    double flops = 0.0;
    int expanded = 0;
    for (int i = 0; i < m->n_lin; i++) {
        const fl_linear* L = &m->lin[i];
        int rows = expanded ? Q : B;
        flops += 2.0 * rows * L->din * L->dout;
        if (noisy && L->perturbed) expanded = 1;
    }
    return flops;
}

static size_t mlp_bytes_per_query(const fl_model* m) {
    size_t floats = 3 * (size_t)max_width(m);  // grad scratch and LR factor
    for (int i = 0; i < m->n_lin; i++) floats += 2 * (size_t)m->lin[i].dout;
    return floats * sizeof(float);
}

static void mlp_destroy(fl_model* m) {
    mlp_release(m);
    free(m->impl);
}

static const fl_model_vt mlp_vt = {
    .kind = "mlp", .reserve = mlp_reserve, .release = mlp_release, .forward = mlp_forward,
    .backward = mlp_backward, .forward_flops = mlp_forward_flops,
    .bytes_per_query = mlp_bytes_per_query, .destroy = mlp_destroy,
};

fl_model* fl_mlp_new(const fl_ops* ops, const char* spec, const char* act, fl_err* err) {
    int widths[64], n = 0;
    const char* s = spec;
    while (*s) {
        char* end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 1 << 20 || n == 64) {
            fl_fail(err, "--model mlp:%s: expected widths like 784-256-256-10 (positive integers separated by '-')", spec);
            return NULL;
        }
        widths[n++] = (int)v;
        if (*end == '-') s = end + 1;
        else if (*end == 0) s = end;
        else {
            fl_fail(err, "--model mlp:%s: unexpected '%c' (expected digits and '-')", spec, *end);
            return NULL;
        }
    }
    if (n < 2) {
        fl_fail(err, "--model mlp:%s: need at least an input and an output width", spec);
        return NULL;
    }
    int gelu;
    if (!strcmp(act, "relu")) gelu = 0;
    else if (!strcmp(act, "gelu")) gelu = 1;
    else {
        fl_fail(err, "--act: unknown activation '%s' (expected relu or gelu)", act);
        return NULL;
    }
    fl_model* m = fl_calloc(1, sizeof(fl_model));
    m->vt = &mlp_vt;
    m->ops = ops;
    mlp_impl* p = fl_calloc(1, sizeof(mlp_impl));
    p->gelu = gelu;
    m->impl = p;
    fl_params_init(&m->params, ops);
    m->in_dim = widths[0];
    m->n_classes = widths[n - 1];
    m->tokens = 1;
    m->depth = n - 2;
    for (int i = 0; i < n - 1; i++) {
        char name[32];
        int is_head = i == n - 2;
        if (is_head) snprintf(name, sizeof name, "head");
        else snprintf(name, sizeof name, "fc%d", i);
        fl_model_add_linear(m, name, is_head ? "head" : "mlp", i, widths[i], widths[i + 1]);
    }
    fl_params_alloc(&m->params);
    snprintf(m->desc, sizeof m->desc, "mlp:%s %s", spec, act);
    return m;
}
