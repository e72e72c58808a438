// prompt.c: black-box prompt tuning as a model (see prompt.h for what it is and why it is one).
//
// Forward over B data and Q query rows (x (B, 1) holds each datum's index among the box's data):
//   u (S, d) = 1 z^T + b (+ sigma eps per query row, when LR perturbs the layer)   S = B or Q
//   prompts (S', P*D) = u A^T           S' = 1 when u is per datum (every row has z itself)
//   loss (Q), argmax (Q) = box(row r: datum x[row_datum[r]], prompt row r or 0)
// The box runs on the host: prompts and names go down, losses come back up.
#include <string.h>
#include <math.h>
#include "prompt.h"
#include "../kernels/philox.h"

typedef struct {
    int P, D, d;              // prompt tokens, token width, intrinsic dimension
    int t_proj;               // the projection A (P*D, d), frozen
    int max_B, max_rows;
    float* ones;              // (max_B, 1) backend: the layer's constant input
    float* u;                 // (max_rows, d) backend: z, perturbed per row or not
    float* tmp;               // (max_B, d) backend: per-datum product before expansion
    float* prompts;           // (max_rows, P*D) backend
    // host staging
    float* prompts_h;         // (max_rows, P*D)
    float* ids_h;             // (max_B)
    int32_t* row_datum_h;     // (max_rows) the row's datum within the batch
    int32_t* req_datum;       // (max_rows) the row's datum among the box's data
    int32_t* req_prompt;      // (max_rows)
    float* loss_h;            // (max_rows)
    int32_t* argmax_h;        // (max_rows)
} prompt_impl;

static const fl_model_vt prompt_vt;

int fl_prompt_is(const fl_model* m) { return m && m->vt == &prompt_vt; }

static void prompt_release(fl_model* m) {
    prompt_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    float* dev[] = {p->ones, p->u, p->tmp, p->prompts};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) ops->free(dev[i]);
    p->ones = p->u = p->tmp = p->prompts = NULL;
    free(p->prompts_h); free(p->ids_h); free(p->row_datum_h); free(p->req_datum); free(p->req_prompt);
    free(p->loss_h); free(p->argmax_h);
    p->prompts_h = p->ids_h = p->loss_h = NULL;
    p->row_datum_h = p->req_datum = p->req_prompt = p->argmax_h = NULL;
    p->max_B = p->max_rows = 0;
}

static void prompt_reserve(fl_model* m, int max_B, int max_Q) {
    prompt_impl* p = m->impl;
    int rows = max_B > max_Q ? max_B : max_Q;
    if (max_B <= p->max_B && rows <= p->max_rows) return;
    prompt_release(m);
    const fl_ops* ops = m->ops;
    size_t PD = (size_t)p->P * p->D, d = (size_t)p->d;
    p->ones = ops->alloc((size_t)max_B * sizeof(float));
    float* one_h = fl_malloc((size_t)max_B * sizeof(float));
    for (int i = 0; i < max_B; i++) one_h[i] = 1.0f;
    ops->upload(p->ones, one_h, (size_t)max_B * sizeof(float));
    free(one_h);
    p->u = ops->alloc((size_t)rows * d * sizeof(float));
    p->tmp = ops->alloc((size_t)max_B * d * sizeof(float));
    p->prompts = ops->alloc((size_t)rows * PD * sizeof(float));
    p->prompts_h = fl_malloc((size_t)rows * PD * sizeof(float));
    p->ids_h = fl_malloc((size_t)max_B * sizeof(float));
    p->row_datum_h = fl_malloc((size_t)rows * sizeof(int32_t));
    p->req_datum = fl_malloc((size_t)rows * sizeof(int32_t));
    p->req_prompt = fl_malloc((size_t)rows * sizeof(int32_t));
    p->loss_h = fl_malloc((size_t)rows * sizeof(float));
    p->argmax_h = fl_malloc((size_t)rows * sizeof(int32_t));
    p->max_B = max_B;
    p->max_rows = rows;
}

// The forward's answer when the box cannot give one: NaN losses, no prediction.
static void answer_failed(fl_model* m, const fl_fwd* f) {
    prompt_impl* p = m->impl;
    for (int r = 0; r < f->Q; r++) {
        p->loss_h[r] = NAN;
        p->argmax_h[r] = -1;
    }
    m->ops->upload(f->loss, p->loss_h, (size_t)f->Q * sizeof(float));
    if (f->argmax) m->ops->upload(f->argmax, p->argmax_h, (size_t)f->Q * sizeof(int32_t));
}

static void prompt_forward(fl_model* m, const fl_fwd* f) {
    prompt_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    FL_CHECK(!(f->keep & FL_KEEP_BP), "prompt model: BP needs gradients that a black box does not give");
    FL_CHECK(f->row_datum || f->Q == f->B, "prompt forward: Q (%d) != B (%d) needs row_datum", f->Q, f->B);
    prompt_reserve(m, f->B, f->Q);
    if (m->failure) {  // the box is gone: every later forward fails the same way
        answer_failed(m, f);
        return;
    }
    int PD = p->P * p->D;
    int pd = fl_linear_forward(m, &m->lin[0], f, p->ones, 1, p->u, p->tmp);
    int n_prompts = pd ? 1 : f->Q;  // without noise every row's u is z itself
    ops->gemm(0, 1, n_prompts, PD, p->d, 1.0f, p->u, p->d, fl_param_data(&m->params, p->t_proj), p->d, 0.0f,
              p->prompts, PD);
    ops->download(p->prompts_h, p->prompts, (size_t)n_prompts * PD * sizeof(float));
    ops->download(p->ids_h, f->x, (size_t)f->B * sizeof(float));
    if (f->row_datum) ops->download(p->row_datum_h, f->row_datum, (size_t)f->Q * sizeof(int32_t));
    for (int r = 0; r < f->Q; r++) {
        int i = f->row_datum ? p->row_datum_h[r] : r;
        p->req_datum[r] = (int32_t)p->ids_h[i];
        p->req_prompt[r] = pd ? 0 : r;
    }
    fl_bb_request req = {.n_rows = f->Q, .row_datum = p->req_datum, .row_prompt = p->req_prompt,
                         .n_prompts = n_prompts, .prompts = p->prompts_h};
    fl_err err = {{0}};
    if (fl_blackbox_query(m->box, &req, p->loss_h, p->argmax_h, &err)) {
        m->failure = strdup(err.msg);
        FL_CHECK(m->failure, "out of memory");
        answer_failed(m, f);
        return;
    }
    ops->upload(f->loss, p->loss_h, (size_t)f->Q * sizeof(float));
    if (f->argmax) ops->upload(f->argmax, p->argmax_h, (size_t)f->Q * sizeof(int32_t));
}

static void prompt_backward(fl_model* m, const float* dloss) {
    (void)m; (void)dloss;
    FL_FATAL("prompt model: BP needs gradients that a black box does not give");
}

// The layer and the projection per row, plus what the box says one query costs.
static double prompt_forward_flops(const fl_model* m, int B, int Q, int noisy) {
    const prompt_impl* p = m->impl;
    double rows = noisy ? Q : 1;
    return 2.0 * (double)B * p->d + 2.0 * rows * p->d * (double)p->P * p->D + (double)Q * m->box->flops_per_query;
}

static size_t prompt_bytes_per_query(const fl_model* m) {
    const prompt_impl* p = m->impl;
    return (size_t)2 * ((size_t)p->d + (size_t)p->P * p->D + 4) * sizeof(float);
}

static void prompt_destroy(fl_model* m) {
    prompt_release(m);
    fl_blackbox_free(m->box);
    m->box = NULL;
    free(m->impl);
}

static const fl_model_vt prompt_vt = {
    .kind = "prompt",
    .reserve = prompt_reserve,
    .release = prompt_release,
    .forward = prompt_forward,
    .backward = prompt_backward,
    .forward_flops = prompt_forward_flops,
    .bytes_per_query = prompt_bytes_per_query,
    .destroy = prompt_destroy,
};

fl_model* fl_prompt_model_new(const fl_ops* ops, fl_blackbox* box, int d, float scale, int n_classes,
                              uint64_t seed, fl_err* err) {
    if (d < 1 || !(scale > 0.0f)) {
        fl_blackbox_free(box);
        fl_fail(err, "prompt model: expected an intrinsic dimension >= 1 and a projection scale > 0, found %d and %g", d,
                (double)scale);
        return NULL;
    }
    if (box->P < 1 || box->D < 1) {
        fl_blackbox_free(box);
        fl_fail(err, "prompt model: expected a black box set up for P >= 1 prompt tokens of width D >= 1, found P %d, D %d",
                box->P, box->D);
        return NULL;
    }
    fl_model* m = fl_calloc(1, sizeof(fl_model));
    prompt_impl* p = fl_calloc(1, sizeof(prompt_impl));
    m->vt = &prompt_vt;
    m->impl = p;
    m->ops = ops;
    m->box = box;
    m->in_dim = 1;
    m->tokens = 1;
    m->n_classes = n_classes;
    p->P = box->P;
    p->D = box->D;
    p->d = d;
    fl_params_init(&m->params, ops);
    fl_model_add_linear(m, "prompt", "prompt", -1, 1, d);
    int proj_shape[2] = {p->P * p->D, d};
    p->t_proj = fl_params_add(&m->params, "prompt.projection", FL_KIND_EMBED, 2, proj_shape);
    fl_params_alloc(&m->params);
    // only z trains: the bias stays 0, the projection stays as drawn
    m->params.t[m->lin[0].b].trainable = 0;
    m->params.t[p->t_proj].trainable = 0;
    // A (P*D, d): N(0, scale^2 / d) from Philox (seed, tensor, "PROJ"), so that an entry of A z
    // has variance scale^2 |z|^2 / d (docs/METHOD.md, "Prompt tuning"); z = 0, bias = 0
    size_t n = (size_t)p->P * p->D * (size_t)d;
    float* host = fl_calloc(m->params.total, sizeof(float));
    float* a = host + m->params.t[p->t_proj].offset;
    float sd = scale / sqrtf((float)d);
    for (size_t e = 0; e < n; e += 4) {
        float zn[4];
        fl_normal4((uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)(e >> 2), (uint32_t)p->t_proj,
                   0x50524f4au /* "PROJ" */, 0, zn);
        for (size_t l = 0; l < 4 && e + l < n; l++) a[e + l] = sd * zn[l];
    }
    fl_params_upload(&m->params, host);
    free(host);
    snprintf(m->desc, sizeof m->desc, "prompt:P=%d,D=%d,d=%d over a %s black box", p->P, p->D, d, box->vt->kind);
    return m;
}
