// vit.c: Vision Transformer over query rows (R, T, D), compatible with Hugging Face
// ViTForImageClassification (see vit.h for the architecture, specifications and names): the
// model itself (construction, initialisation, forward, cost, inference). BP through it is
// vit_backward.c's; parsing specifications vit_spec.c's; loading Hugging Face and safetensors
// weights vit_hf.c's. The model's private state (vit_impl) is in vit_internal.h.
//
// Layers (fl_linear, forward order; the stream id of each is its index):
//   embeddings.patch_embeddings.projection    role "embed"  (D, C*P*P)
//   encoder.layer.k.attention.attention.{query,key,value}, .attention.output.dense  "attn"
//   encoder.layer.k.intermediate.dense, encoder.layer.k.output.dense               "mlp"
//   head                                       role "head"   (classes, D)
//
// Forward (S sequences of T = patches + 1 tokens; S = B data or Q query rows):
//   patches (B, T, C*P*P) = patchify(x), row 0 zero
//   h = patches We^T + be; h[:, 0] = cls + pos[0]; h[:, t] += pos[t]
//   per block: a = LN1(h); q, k, v = a Wq^T + bq, ...
//              p = softmax(q_h k_h^T / sqrt(D/H)) per head (strided batched GEMMs), c = p v_h
//              h = h + (c Wo^T + bo); g = gelu(LN2(h) W1^T + b1); h = h + (g W2^T + b2)
//   f = LN(h[:, 0]); logits = f Wc^T + bc
// Clean prefix: layers before the first perturbed one run once per datum; the first linear
// layer that adds noise computes on the data and expands to query rows (fl_linear_forward).
// Residual adds whose two sides differ (per datum vs per query) expand with gather_add_rows.
//
// Tokens and the LR estimator. The estimator (lr.c) treats every perturbed layer as having
// m->tokens = T rows per query. Two layers have fewer meaningful rows, and are run on T rows
// so that the estimator stays exact:
//   - the patch embedding's row 0 (CLS slot) has a zero input and its output is replaced by
//     the CLS token: its noise never reaches the loss;
//   - the classifier reads the CLS token only: its input (S, T, D) holds the final-LN CLS
//     token in row 0 and zeros elsewhere, and only row 0's logits are used.
// The weight gradients G^T X are exact (zero input rows add nothing). The bias and log-sigma
// estimates of these two layers also sum the noise of the unused rows: still unbiased, with
// extra variance. A per-layer token count in fl_linear and lr.c would remove both.
#include <string.h>
#include <math.h>
#include "vit_internal.h"
#include "../kernels/philox.h"

static const fl_model_vt vit_vt;

int fl_vit_is(const fl_model* m) { return m && m->vt == &vit_vt; }
const fl_vit_cfg* fl_vit_config(const fl_model* m) {
    return fl_vit_is(m) ? &((const vit_impl*)m->impl)->c : NULL;
}
int fl_vit_embed_layer(const fl_model* m) { return ((const vit_impl*)m->impl)->l_embed; }
int fl_vit_head_layer(const fl_model* m) { return ((const vit_impl*)m->impl)->l_head; }
void fl_vit_set_eps(fl_model* m, float eps) {
    vit_impl* p = m->impl;
    p->c.eps = eps;
    fl_vit_desc(&p->c, m->desc, sizeof m->desc);
}

static int max_dout(const fl_model* m) {
    int w = 0;
    for (int i = 0; i < m->n_lin; i++) w = m->lin[i].dout > w ? m->lin[i].dout : w;
    return w;
}

// ---------------------------------------------------------------------------------------
// construction

static int add_norm(fl_model* m, const char* name, int D, int* b_out) {
    char tn[128];
    int shape[1] = {D};
    snprintf(tn, sizeof tn, "%s.weight", name);
    int w = fl_params_add(&m->params, tn, FL_KIND_NORM, 1, shape);
    snprintf(tn, sizeof tn, "%s.bias", name);
    *b_out = fl_params_add(&m->params, tn, FL_KIND_NORM, 1, shape);
    return w;
}

// Uniform in [-1, 1) from Philox (seed, tensor, element): the same stream as model.c's
// initialisation, so a head initialised here equals fl_model_init_weights' head.
static float uniform_pm1(uint64_t seed, uint32_t tensor, uint64_t e) {
    fl_u32x4 c = {{(uint32_t)(e >> 2), tensor, 0x494e4954u /* "INIT" */, 0}};
    fl_u32x4 r = fl_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    return (float)(r.v[e & 3] >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

// torch.nn.Linear's initialisation of one layer into the host copy of the parameters.
void fl_vit_init_linear_host(const fl_model* m, const fl_linear* L, uint64_t seed, float* host) {
    float bound = 1.0f / sqrtf((float)L->din);
    float* w = host + m->params.t[L->w].offset;
    float* b = host + m->params.t[L->b].offset;
    for (size_t e = 0; e < (size_t)L->din * L->dout; e++) w[e] = bound * uniform_pm1(seed, (uint32_t)L->w, e);
    for (int e = 0; e < L->dout; e++) b[e] = bound * uniform_pm1(seed, (uint32_t)L->b, (uint64_t)e);
}

// LayerNorm weight 1 and bias 0; CLS and position embeddings N(0, 0.02^2) (as transformers'
// ViT initialisation, untruncated) from Philox (seed, tensor, "EMBD").
static void init_embed_host(const fl_model* m, uint64_t seed, float* host) {
    const vit_impl* p = m->impl;
    for (int i = 0; i < m->params.n; i++) {
        const fl_tensor* t = &m->params.t[i];
        float* d = host + t->offset;
        if (t->kind == FL_KIND_NORM) {
            int is_w = strlen(t->name) > 7 && !strcmp(t->name + strlen(t->name) - 7, ".weight");
            for (size_t e = 0; e < t->numel; e++) d[e] = is_w ? 1.0f : 0.0f;
        } else if (i == p->t_cls || i == p->t_pos) {
            for (size_t e = 0; e < t->numel; e += 4) {
                float z[4];
                fl_normal4((uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)(e >> 2), (uint32_t)i,
                           0x454d4244u /* "EMBD" */, 0, z);
                for (size_t l = 0; l < 4 && e + l < t->numel; l++) d[e + l] = 0.02f * z[l];
            }
        }
    }
}

void fl_vit_init(fl_model* m, uint64_t seed) {
    float* host = fl_malloc(m->params.total * sizeof(float));
    fl_params_download(&m->params, host);
    init_embed_host(m, seed, host);
    for (int i = 0; i < m->n_lin; i++) fl_vit_init_linear_host(m, &m->lin[i], seed, host);
    fl_params_upload(&m->params, host);
    free(host);
}

fl_model* fl_vit_new(const fl_ops* ops, const fl_vit_cfg* cfg, fl_err* err) {
    if (fl_vit_check_cfg(cfg, "vit", err)) return NULL;
    if (!ops->vit_patchify || !ops->vit_tokens || !ops->vit_cls_layernorm || !ops->vit_cls_layernorm_bwd ||
        !ops->gather_add_rows) {
        fl_fail(err, "--backend %s: this backend lacks the ViT ops (vit_patchify, vit_tokens, vit_cls_layernorm, "
                     "gather_add_rows)", ops->name);
        return NULL;
    }
    fl_model* m = fl_calloc(1, sizeof(fl_model));
    vit_impl* p = fl_calloc(1, sizeof(vit_impl));
    m->vt = &vit_vt;
    m->ops = ops;
    m->impl = p;
    p->c = *cfg;
    int D = cfg->dim, L = cfg->depth;
    p->gh = cfg->image_h / cfg->patch;
    p->gw = cfg->image_w / cfg->patch;
    p->T = p->gh * p->gw + 1;
    p->K = cfg->channels * cfg->patch * cfg->patch;
    m->in_dim = cfg->channels * cfg->image_h * cfg->image_w;
    m->n_classes = cfg->classes;
    m->tokens = p->T;
    m->depth = L;
    fl_vit_desc(cfg, m->desc, sizeof m->desc);
    fl_params_init(&m->params, ops);
    int shape_cls[3] = {1, 1, D}, shape_pos[3] = {1, p->T, D};
    p->t_cls = fl_params_add(&m->params, "embeddings.cls_token", FL_KIND_EMBED, 3, shape_cls);
    p->t_pos = fl_params_add(&m->params, "embeddings.position_embeddings", FL_KIND_EMBED, 3, shape_pos);
    p->l_embed = fl_model_add_linear(m, "embeddings.patch_embeddings.projection", "embed", -1, p->K, D);
    p->t_ln1_w = fl_calloc((size_t)L, sizeof(int)); p->t_ln1_b = fl_calloc((size_t)L, sizeof(int));
    p->t_ln2_w = fl_calloc((size_t)L, sizeof(int)); p->t_ln2_b = fl_calloc((size_t)L, sizeof(int));
    p->l_q = fl_calloc((size_t)L, sizeof(int)); p->l_k = fl_calloc((size_t)L, sizeof(int));
    p->l_v = fl_calloc((size_t)L, sizeof(int)); p->l_o = fl_calloc((size_t)L, sizeof(int));
    p->l_fc1 = fl_calloc((size_t)L, sizeof(int)); p->l_fc2 = fl_calloc((size_t)L, sizeof(int));
    p->blk = fl_calloc((size_t)L, sizeof(vit_block_bufs));
    for (int k = 0; k < L; k++) {
        char n[96];
        snprintf(n, sizeof n, "encoder.layer.%d.layernorm_before", k);
        p->t_ln1_w[k] = add_norm(m, n, D, &p->t_ln1_b[k]);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.attention.query", k);
        p->l_q[k] = fl_model_add_linear(m, n, "attn", k, D, D);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.attention.key", k);
        p->l_k[k] = fl_model_add_linear(m, n, "attn", k, D, D);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.attention.value", k);
        p->l_v[k] = fl_model_add_linear(m, n, "attn", k, D, D);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.dense", k);
        p->l_o[k] = fl_model_add_linear(m, n, "attn", k, D, D);
        snprintf(n, sizeof n, "encoder.layer.%d.layernorm_after", k);
        p->t_ln2_w[k] = add_norm(m, n, D, &p->t_ln2_b[k]);
        snprintf(n, sizeof n, "encoder.layer.%d.intermediate.dense", k);
        p->l_fc1[k] = fl_model_add_linear(m, n, "mlp", k, D, cfg->mlp);
        snprintf(n, sizeof n, "encoder.layer.%d.output.dense", k);
        p->l_fc2[k] = fl_model_add_linear(m, n, "mlp", k, cfg->mlp, D);
    }
    p->t_lnf_w = add_norm(m, "layernorm", D, &p->t_lnf_b);
    p->l_head = fl_model_add_linear(m, "head", "head", -1, D, cfg->classes);
    m->lin[p->l_head].tokens = 1;  // the classifier reads the CLS token only
    fl_params_alloc(&m->params);
    fl_vit_init(m, 0);
    return m;
}

// ---------------------------------------------------------------------------------------
// forward

static void vit_reserve(fl_model* m, int max_B, int max_Q) {
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    size_t R = (size_t)(max_B > max_Q ? max_B : max_Q);
    size_t T = (size_t)p->T, D = (size_t)p->c.dim, M = (size_t)p->c.mlp, H = (size_t)p->c.heads;
    size_t C = (size_t)m->n_classes;
    vget(ops, &p->s_resid, R * T * D);
    vget(ops, &p->s_mid, R * T * D);
    vget(ops, &p->s_ln, R * T * D);
    vget(ops, &p->s_q, R * T * D);
    vget(ops, &p->s_k, R * T * D);
    vget(ops, &p->s_v, R * T * D);
    vget(ops, &p->s_probs, R * H * T * T);
    vget(ops, &p->s_ctx, R * T * D);
    vget(ops, &p->s_act, R * T * M);
    vget(ops, &p->patches, (size_t)max_B * T * (size_t)p->K);
    vget(ops, &p->tmp, (size_t)max_B * T * (size_t)max_dout(m));
    vget(ops, &p->head_in, R * T * D);
    vget(ops, &p->mean_f, R);
    vget(ops, &p->rstd_f, R);
    vget(ops, &p->logits_full, R * T * C);
    vget(ops, &p->logits, R * C);
}

// y (S_y, T, D) += h; when y is per query and h per datum, h is expanded through row_datum.
static void residual(fl_model* m, const fl_fwd* f, float* y, int y_pd, const float* h, int h_pd) {
    vit_impl* p = m->impl;
    long row = (long)p->T * p->c.dim;
    FL_CHECK(!(y_pd && !h_pd), "vit: residual of a per-datum branch onto a per-query stream");
    if (y_pd == h_pd) m->ops->axpy(y, 1.0f, h, (long)(y_pd ? f->B : f->Q) * row);
    else m->ops->gather_add_rows(y, h, f->row_datum, f->Q, row);
}

// Multi-head attention over S sequences: probs (S, H, T, T), ctx (S, T, D) from q, k, v
// (S, T, D), heads as contiguous slices of D. The backend's fused op when it has one (probs
// then written only with keep_probs, for BP); else one strided batched GEMM per head and
// product, with probs as their scratch.
static void attention(fl_model* m, float* ctx, float* probs, int keep_probs, const float* q,
                      const float* k, const float* v, int S) {
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    int T = p->T, D = p->c.dim, H = p->c.heads, hd = D / H;
    long TD = (long)T * D, TT = (long)T * T, HTT = (long)H * T * T;
    float scale = 1.0f / sqrtf((float)hd);
    if (ops->attention && ops->attention(ctx, keep_probs ? probs : NULL, q, k, v, S, T, H, D, scale) == 0)
        return;
    for (int h = 0; h < H; h++)  // scores_h (T, T) = scale * q_h (T, hd) k_h^T
        ops->gemm_strided(0, 1, T, T, hd, scale, q + h * hd, D, TD, k + h * hd, D, TD, 0.0f,
                          probs + h * TT, T, HTT, S);
    ops->softmax(probs, probs, S * H * T, T, 1.0f);
    for (int h = 0; h < H; h++)  // ctx_h (T, hd) = probs_h (T, T) v_h (T, hd)
        ops->gemm_strided(0, 0, T, hd, T, 1.0f, probs + h * TT, T, HTT, v + h * hd, D, TD, 0.0f,
                          ctx + h * hd, D, TD, S);
}

// Makes y (rows of rowlen floats) per query when it is per datum, using scratch.
static void expand_inplace(fl_model* m, const fl_fwd* f, float* y, float* scratch, long rowlen) {
    fl_expand_rows(m, f, scratch, y, rowlen);
    m->ops->copy(y, scratch, (size_t)f->Q * rowlen * sizeof(float));
}

// One transformer block from h (S, T, D), per datum when pd, into out; returns whether out is
// per datum. With keep_all (BP, or its recomputation in a checkpointed backward) every
// activation goes to b; otherwise to the shared scratch, except the inputs of perturbed layers
// that an LR forward keeps in b. keep_probs: the attention writes its probabilities (into b,
// or into the scratch, so that a checkpointed forward takes the very path of plain BP).
int fl_vit_block_forward(fl_model* m, const fl_fwd* f, int k, vit_block_bufs* b, int keep_all,
                         int keep_probs, const float* h, int pd, float* out) {
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    const fl_vit_cfg* c = &p->c;
    int B = f->B, Q = f->Q, T = p->T, D = c->dim, M = c->mlp, H = c->heads;
    int lr = (f->keep & FL_KEEP_LR) != 0;
    size_t R = (size_t)(B > Q ? B : Q);
    size_t RT = R * T;
    fl_params* P = &m->params;
    float* tmp = p->tmp.p;
    fl_linear *Lq = &m->lin[p->l_q[k]], *Lk = &m->lin[p->l_k[k]], *Lv = &m->lin[p->l_v[k]];
    fl_linear *Lo = &m->lin[p->l_o[k]], *L1 = &m->lin[p->l_fc1[k]], *L2 = &m->lin[p->l_fc2[k]];
    int S = pd ? B : Q;
    // a = LN1(h)
    int keep_ln1 = keep_all || (lr && (Lq->perturbed || Lk->perturbed || Lv->perturbed));
    float* ln1 = keep_ln1 ? vget(ops, &b->ln1, RT * D) : p->s_ln.p;
    float* mean1 = keep_all ? vget(ops, &b->mean1, RT) : NULL;
    float* rstd1 = keep_all ? vget(ops, &b->rstd1, RT) : NULL;
    ops->layernorm(ln1, mean1, rstd1, h, fl_param_data(P, p->t_ln1_w[k]),
                   fl_param_data(P, p->t_ln1_b[k]), S * T, D, c->eps);
    // q, k, v
    float* q = keep_all ? vget(ops, &b->q, RT * D) : p->s_q.p;
    float* kk = keep_all ? vget(ops, &b->k, RT * D) : p->s_k.p;
    float* v = keep_all ? vget(ops, &b->v, RT * D) : p->s_v.p;
    int pq = fl_linear_forward(m, Lq, f, ln1, pd, q, tmp);
    int pk = fl_linear_forward(m, Lk, f, ln1, pd, kk, tmp);
    int pv = fl_linear_forward(m, Lv, f, ln1, pd, v, tmp);
    int keep_ctx = keep_all || (lr && Lo->perturbed);
    float* ctx = keep_ctx ? vget(ops, &b->ctx, RT * D) : p->s_ctx.p;
    int pa = pq && pk && pv;
    if (!pa) {  // some projection added noise: all three per query (ctx is free scratch)
        if (pq) expand_inplace(m, f, q, ctx, (long)T * D);
        if (pk) expand_inplace(m, f, kk, ctx, (long)T * D);
        if (pv) expand_inplace(m, f, v, ctx, (long)T * D);
    }
    int Sa = pa ? B : Q;
    float* probs = keep_all ? vget(ops, &b->probs, R * H * T * T) : p->s_probs.p;
    attention(m, ctx, probs, keep_probs, q, kk, v, Sa);
    // h = h + ctx Wo^T + bo
    float* mid = keep_all ? vget(ops, &b->mid, RT * D) : p->s_mid.p;
    int po = fl_linear_forward(m, Lo, f, ctx, pa, mid, tmp);
    residual(m, f, mid, po, h, pd);
    pd = po;
    S = pd ? B : Q;
    // h = h + gelu(LN2(h) W1^T + b1) W2^T + b2
    int keep_ln2 = keep_all || (lr && L1->perturbed);
    float* ln2 = keep_ln2 ? vget(ops, &b->ln2, RT * D) : p->s_ln.p;
    float* mean2 = keep_all ? vget(ops, &b->mean2, RT) : NULL;
    float* rstd2 = keep_all ? vget(ops, &b->rstd2, RT) : NULL;
    ops->layernorm(ln2, mean2, rstd2, mid, fl_param_data(P, p->t_ln2_w[k]),
                   fl_param_data(P, p->t_ln2_b[k]), S * T, D, c->eps);
    int keep_act = keep_all || (lr && L2->perturbed);
    float* act = keep_act ? vget(ops, &b->act, RT * M) : p->s_act.p;
    // unless kept, fc1's output is needed only as GELU's input: GELU then runs in place
    // (one pass over memory fewer)
    float* fc1 = keep_all ? vget(ops, &b->fc1, RT * M) : act;
    int p1 = fl_linear_forward(m, L1, f, ln2, pd, fc1, tmp);
    ops->gelu(act, fc1, (long)(p1 ? B : Q) * T * M);
    int p2 = fl_linear_forward(m, L2, f, act, p1, out, tmp);
    residual(m, f, out, p2, mid, pd);
    return p2;
}

static void vit_forward(fl_model* m, const fl_fwd* f) {
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    const fl_vit_cfg* c = &p->c;
    int B = f->B, Q = f->Q, T = p->T, D = c->dim, NC = m->n_classes;
    FL_CHECK(f->row_datum || Q == B, "vit forward: Q (%d) != B (%d) needs row_datum", Q, B);
    int bp = (f->keep & FL_KEEP_BP) != 0;
    FL_CHECK(!bp || (Q == B && !f->noise), "vit forward: BP needs a clean pass with Q == B");
    size_t R = (size_t)(B > Q ? B : Q);
    size_t RT = R * T;
    vit_reserve(m, B, Q);
    fl_params* P = &m->params;
    float* tmp = p->tmp.p;

    // patch embedding, CLS token, position embeddings: h (S, T, D)
    float* patches = p->patches.p;
    ops->vit_patchify(patches, f->x, B, c->channels, c->image_h, c->image_w, c->patch);
    float* h = bp ? vget(ops, &p->blk[0].resid, RT * D) : p->s_resid.p;
    int pd = fl_linear_forward(m, &m->lin[p->l_embed], f, patches, 1, h, tmp);
    ops->vit_tokens(h, h, fl_param_data(P, p->t_cls), fl_param_data(P, p->t_pos), pd ? B : Q, T, D);

    int ckpt = bp && m->checkpoint == FL_CKPT_BLOCK;
    for (int k = 0; k < c->depth; k++) {
        // BP keeps each block's output as the next block's input; otherwise h is dead once
        // added into mid, and the output reuses its buffer
        float* out = bp ? vget(ops, k + 1 < c->depth ? &p->blk[k + 1].resid : &p->final_resid, RT * D)
                        : p->s_resid.p;
        pd = fl_vit_block_forward(m, f, k, &p->blk[k], bp && !ckpt, bp, h, pd, out);
        h = out;
    }

    // final LayerNorm of the CLS token into the classifier's input (S, D), then the head on
    // those S rows (one token per query: its noise, if any, is on the logits that matter)
    int S = pd ? B : Q;
    float* head_in = p->head_in.p;
    ops->vit_cls_layernorm(head_in, p->mean_f.p, p->rstd_f.p, h, fl_param_data(P, p->t_lnf_w),
                           fl_param_data(P, p->t_lnf_b), S, T, 1, D, c->eps);
    float* logits = p->logits.p;
    int ph = fl_linear_forward(m, &m->lin[p->l_head], f, head_in, pd, logits, tmp);
    if (ph && Q != B) {  // no layer added noise: expand the per-datum logits to query rows
        expand_inplace(m, f, logits, p->logits_full.p, NC);
    }
    ops->xent(f->loss, f->argmax, NULL, logits, f->labels, NULL, Q, NC);
    p->x = f->x;
    p->labels = f->labels;
    p->B = B;
    p->bp_valid = bp;
}

void fl_vit_hidden(const fl_model* m, int k, float* host) {
    const vit_impl* p = m->impl;
    FL_CHECK(fl_vit_is(m) && p->bp_valid && k >= -1 && k < p->c.depth, "fl_vit_hidden(%d): no BP state", k);
    const vbuf* b = k + 1 < p->c.depth ? &p->blk[k + 1].resid : &p->final_resid;
    m->ops->download(host, b->p, (size_t)p->B * p->T * p->c.dim * sizeof(float));
}

// ---------------------------------------------------------------------------------------
// cost

static double vit_forward_flops(const fl_model* m, int B, int Q, int noisy) {
    const vit_impl* p = m->impl;
    double T = p->T, D = p->c.dim;
    int expanded = 0;
    double flops = 0.0;
    // a linear layer on the current rows; expansion once noise enters
#define LIN(idx)                                                                        \
    do {                                                                                \
        const fl_linear* L_ = &m->lin[idx];                                             \
        flops += 2.0 * (expanded ? Q : B) * fl_linear_tokens(m, L_) * L_->din * L_->dout; \
        if (noisy && L_->perturbed) expanded = 1;                                       \
    } while (0)
    LIN(p->l_embed);
    for (int k = 0; k < p->c.depth; k++) {
        int in = expanded, any = 0;  // q, k, v share their input
        const int qkv[3] = {p->l_q[k], p->l_k[k], p->l_v[k]};
        for (int j = 0; j < 3; j++) {
            expanded = in;
            LIN(qkv[j]);
            any |= expanded;
        }
        expanded = any;
        flops += 2.0 * 2.0 * (expanded ? Q : B) * T * T * D;  // q k^T and p v over all heads
        LIN(p->l_o[k]);
        LIN(p->l_fc1[k]);
        LIN(p->l_fc2[k]);
    }
    LIN(p->l_head);
#undef LIN
    return flops;
}

static size_t vit_bytes_per_query(const fl_model* m) {
    const vit_impl* p = m->impl;
    size_t T = p->T, D = p->c.dim, M = p->c.mlp, H = p->c.heads, NC = m->n_classes;
    // shared scratch per token: resid, mid, ln, q, k, v, ctx, head_in; act (fc1's output
    // too, without BP); probs; logits
    size_t per_token = 8 * D + M + H * T + NC;
    // inputs kept for the LR gradient of perturbed layers
    for (int k = 0; k < p->c.depth; k++) {
        if (m->lin[p->l_q[k]].perturbed || m->lin[p->l_k[k]].perturbed || m->lin[p->l_v[k]].perturbed) per_token += D;
        if (m->lin[p->l_o[k]].perturbed) per_token += D;
        if (m->lin[p->l_fc1[k]].perturbed) per_token += D;
        if (m->lin[p->l_fc2[k]].perturbed) per_token += M;
    }
    // the estimator's noise factor (rows, dout) for one layer at a time
    per_token += (size_t)max_dout(m);
    return (per_token * T + NC) * sizeof(float);
}

static void free_block(const fl_ops* ops, vit_block_bufs* b) {
    vbuf* all[] = {&b->resid, &b->ln1, &b->mean1, &b->rstd1, &b->q, &b->k, &b->v, &b->probs,
                   &b->ctx, &b->mid, &b->ln2, &b->mean2, &b->rstd2, &b->fc1, &b->act};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vfree(ops, all[i]);
}

static void vit_release(fl_model* m) {
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    for (int k = 0; k < p->c.depth; k++) free_block(ops, &p->blk[k]);
    free_block(ops, &p->rb);
    vbuf* all[] = {&p->final_resid, &p->s_resid, &p->s_mid, &p->s_ln, &p->s_q, &p->s_k, &p->s_v,
                   &p->s_probs, &p->s_ctx, &p->s_act, &p->patches, &p->tmp, &p->head_in,
                   &p->mean_f, &p->rstd_f, &p->logits_full, &p->logits, &p->labels0,
                   &p->g_res, &p->g_tmp, &p->g_ln, &p->g_ctx, &p->g_q, &p->g_k, &p->g_v, &p->g_big,
                   &p->g_probs, &p->g_logits, &p->g_feat, &p->g_pos};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vfree(ops, all[i]);
    p->bp_valid = 0;
}

static void vit_destroy(fl_model* m) {
    vit_impl* p = m->impl;
    vit_release(m);
    free(p->blk);
    free(p->t_ln1_w); free(p->t_ln1_b); free(p->t_ln2_w); free(p->t_ln2_b);
    free(p->l_q); free(p->l_k); free(p->l_v); free(p->l_o); free(p->l_fc1); free(p->l_fc2);
    free(p);
}

static const fl_model_vt vit_vt = {
    .kind = "vit", .reserve = vit_reserve, .release = vit_release, .forward = vit_forward,
    .backward = fl_vit_backward, .forward_flops = vit_forward_flops,
    .bytes_per_query = vit_bytes_per_query, .destroy = vit_destroy,
};

// ---------------------------------------------------------------------------------------
// inference

int fl_vit_infer(fl_model* m, const float* x_host, int n, int batch, int features, float* out_host,
                 fl_err* err) {
    if (!fl_vit_is(m)) return fl_fail(err, "fl_vit_infer: %s is not a ViT", m->desc);
    if (batch < 1) return fl_fail(err, "--batch %d: expected a positive integer", batch);
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    int bmax = n < batch ? n : batch;
    if (bmax < 1) return 0;
    int width = features ? p->c.dim : m->n_classes;
    float* x_d = ops->alloc((size_t)bmax * m->in_dim * sizeof(float));
    float* out_d = ops->alloc((size_t)bmax * width * sizeof(float));
    int32_t* labels = (int32_t*)vget(ops, &p->labels0, (size_t)bmax);
    ops->zero(labels, (size_t)bmax * sizeof(int32_t));
    m->vt->reserve(m, bmax, bmax);
    for (int i0 = 0; i0 < n; i0 += bmax) {
        int b = n - i0 < bmax ? n - i0 : bmax;
        ops->upload(x_d, x_host + (size_t)i0 * m->in_dim, (size_t)b * m->in_dim * sizeof(float));
        fl_fwd f = {.x = x_d, .B = b, .Q = b, .labels = labels, .keep = 0};
        m->vt->forward(m, &f);
        if (features) ops->copy(out_d, p->head_in.p, (size_t)b * p->c.dim * sizeof(float));
        else ops->copy(out_d, p->logits.p, (size_t)b * width * sizeof(float));
        ops->download(out_host + (size_t)i0 * width, out_d, (size_t)b * width * sizeof(float));
    }
    ops->free(x_d);
    ops->free(out_d);
    return 0;
}

