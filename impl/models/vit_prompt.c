// vit_prompt.c: the frozen ViT's forward with P prompt tokens after the CLS token (vit_prompt.h),
// for black-box prompt tuning, on the model's weights and the backend's ops.
//
// One chunk of S query rows (Tq = T + P tokens each):
//   src (np*P + nb*T, D) = [the chunk's np distinct prompts (np, P, D),
//                           the clean embedding of its nb distinct data (nb, T, D)]
//   h (S, Tq, D) = gather_rows(src, idx): row r's tokens are [CLS_d, prompt_j, patches_d]
//   per block: a = LN1(h); q, k, v = a Wq^T + bq, ...; c = softmax(q_h k_h^T / sqrt(D/H)) v_h;
//              h += c Wo^T + bo; h += gelu(LN2(h) W1^T + b1) W2^T + b2
//   f = LN(h[:, 0]); logits = f Wc^T + bc; loss = xent(logits, label_d)
// The embedding is vit.c's (patchify, projection, CLS and position embeddings). Every linear
// layer is one product per sequence (gemm_strided over the S sequences, the weights shared):
// a row's loss is then a function of that row alone, whatever else shares its chunk and
// however many rows the chunk has. One product over all S*Tq rows would not be: OpenBLAS
// computes small products with other kernels than large ones, so the same row comes out of a
// product of 8 rows and one of 80 an ulp apart. The model's own forward (vit.c) takes one
// product over all rows, so with P = 0 the losses are its own up to that rounding.
#include <limits.h>
#include <math.h>
#include <string.h>
#include "vit_internal.h"
#include "vit_prompt.h"

// Where the backend sets no chunk of activations (CUDA: as many rows as fit), a chunk holds
// at most this much, and at most half of what the backend may still allocate.
#define PROMPT_CHUNK_BYTES_MAX ((size_t)1 << 30)

// The buffers of one chunk of `rows` query rows, backend memory.
typedef struct {
    float* x;          // (nb, C, H, W) the chunk's distinct images
    float* patches;    // (nb, T, K)
    float* src;        // (np*P + nb*T, D) prompts, then embeddings
    int32_t* idx;      // (S*Tq) row of src of each token
    float *h, *ln, *q, *k, *v, *ctx, *br;  // (S, Tq, D); br: a branch's output
    float* act;        // (S, Tq, M)
    float* probs;      // (S, H, Tq, Tq) attention scratch where the backend has no fused op
    float* head_in;    // (S, D)
    float* logits;     // (S, classes)
    int32_t* labels;   // (S)
    float* loss;       // (S)
    int32_t* argmax;   // (S)
} chunk_bufs;

size_t fl_vit_prompt_bytes_per_row(const fl_model* m, int P) {
    FL_CHECK(fl_vit_is(m) && P >= 0, "fl_vit_prompt_bytes_per_row: not a ViT, or P = %d < 0", P);
    const vit_impl* p = m->impl;
    size_t T = (size_t)p->T, Tq = T + (size_t)P, D = (size_t)p->c.dim, M = (size_t)p->c.mlp;
    size_t H = (size_t)p->c.heads, K = (size_t)p->K, NC = (size_t)m->n_classes;
    // chunk_bufs per row, with one datum and one prompt per row at most
    size_t floats = (size_t)m->in_dim + T * K + (P + T) * D + Tq + 7 * Tq * D + Tq * M + H * Tq * Tq + D + NC + 3;
    return floats * sizeof(float);
}

double fl_vit_prompt_flops(const fl_model* m, int P) {
    FL_CHECK(fl_vit_is(m) && P >= 0, "fl_vit_prompt_flops: not a ViT, or P = %d < 0", P);
    const vit_impl* p = m->impl;
    double Tq = (double)p->T + P;
    double flops = 0.0;
    for (int i = 0; i < m->n_lin; i++) {  // the patch embedding on T rows, the classifier on 1
        const fl_linear* L = &m->lin[i];
        double rows = i == p->l_embed ? (double)p->T : i == p->l_head ? 1.0 : Tq;
        flops += 2.0 * rows * L->din * L->dout;
    }
    flops += 2.0 * 2.0 * Tq * Tq * p->c.dim * p->c.depth;  // q k^T and p v over all heads
    return flops;
}

// Query rows per chunk: max_rows, else the backend's chunk of activations over the bytes of
// one row; at least 1, at most n_rows, and few enough that the ops' int row counts hold.
static int chunk_rows(const fl_model* m, int P, int n_rows, int max_rows) {
    const vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    long rows = max_rows;
    if (rows <= 0) {
        size_t budget = ops->chunk_bytes;
        if (!budget) {
            budget = PROMPT_CHUNK_BYTES_MAX;
            size_t avail = ops->mem_available ? ops->mem_available() / 2 : 0;
            if (avail && avail < budget) budget = avail;
        }
        rows = (long)(budget / fl_vit_prompt_bytes_per_row(m, P));
    }
    long Tq = (long)p->T + P;
    long widest = Tq * p->c.heads > p->c.mlp ? Tq * p->c.heads : p->c.mlp;  // softmax rows, act
    long int_rows = INT_MAX / (Tq * widest);
    if (rows > int_rows) rows = int_rows;
    if (rows > n_rows) rows = n_rows;
    return rows < 1 ? 1 : (int)rows;
}

// Checks the request against the model and the data.
static int check_request(const fl_model* m, int B, const int32_t* labels_host, int P, int n_rows,
                         const int32_t* row_datum, const int32_t* row_prompt, int n_prompts,
                         const float* prompts_host, fl_err* err) {
    const vit_impl* p = m->impl;
    if (P < 0 || (long)p->T + P > INT_MAX / 64)
        return fl_fail(err, "vit prompt: P = %d prompt tokens; expected 0 <= P and T + P tokens (T = %d) "
                            "a sequence the ops can index", P, p->T);
    if (n_rows < 0) return fl_fail(err, "vit prompt: %d query rows; expected 0 or more", n_rows);
    if (n_rows > 0 && B < 1) return fl_fail(err, "vit prompt: %d query rows over %d data; expected data", n_rows, B);
    if (P > 0 && (n_prompts < 1 || !prompts_host || !row_prompt))
        return fl_fail(err, "vit prompt: P = %d but %d prompts given; expected at least one prompt", P, n_prompts);
    for (int r = 0; r < n_rows; r++) {
        int d = row_datum[r];
        if (d < 0 || d >= B)
            return fl_fail(err, "vit prompt: query row %d names datum %d; expected a datum in [0, %d)", r, d, B);
        if (labels_host[d] < 0 || labels_host[d] >= m->n_classes)
            return fl_fail(err, "vit prompt: datum %d (query row %d) has label %d; expected a class in [0, %d)",
                           d, r, labels_host[d], m->n_classes);
        if (P > 0 && (row_prompt[r] < 0 || row_prompt[r] >= n_prompts))
            return fl_fail(err, "vit prompt: query row %d names prompt %d; expected a prompt in [0, %d)", r,
                           row_prompt[r], n_prompts);
    }
    return 0;
}

// y (S, rows, dout) = x (S, rows, din) W^T + b: one product per sequence, the weights shared.
static void seq_linear(const fl_model* m, int layer, const float* x, float* y, int S, int rows) {
    const fl_linear* L = &m->lin[layer];
    const fl_params* W = &m->params;
    m->ops->gemm_strided(0, 1, rows, L->dout, L->din, 1.0f, x, L->din, (long)rows * L->din,
                         fl_param_data(W, L->w), L->din, 0, 0.0f, y, L->dout, (long)rows * L->dout, S);
    m->ops->bias_noise(y, fl_param_data(W, L->b), NULL, NULL, S * rows, L->dout);
}

// Multi-head attention over S sequences of T tokens, ctx (S, T, D) from q, k, v (S, T, D):
// the backend's fused op, else vit.c's path (strided GEMMs per head, probs as scratch).
static void attention(const fl_ops* ops, float* ctx, float* probs, const float* q, const float* k,
                      const float* v, int S, int T, int H, int D) {
    int hd = D / H;
    long TD = (long)T * D, TT = (long)T * T, HTT = (long)H * T * T;
    float scale = 1.0f / sqrtf((float)hd);
    if (ops->attention && ops->attention(ctx, NULL, q, k, v, S, T, H, D, scale) == 0) return;
    for (int h = 0; h < H; h++)  // scores_h (T, T) = scale * q_h (T, hd) k_h^T
        ops->gemm_strided(0, 1, T, T, hd, scale, q + h * hd, D, TD, k + h * hd, D, TD, 0.0f, probs + h * TT, T,
                          HTT, S);
    ops->softmax(probs, probs, S * H * T, T, 1.0f);
    for (int h = 0; h < H; h++)  // ctx_h (T, hd) = probs_h (T, T) v_h (T, hd)
        ops->gemm_strided(0, 0, T, hd, T, 1.0f, probs + h * TT, T, HTT, v + h * hd, D, TD, 0.0f, ctx + h * hd, D,
                          TD, S);
}

// The clean embedding of nb images (x) into emb (nb, T, D), as vit.c's forward makes it.
static void embed(const fl_model* m, chunk_bufs* c, float* emb, int nb) {
    const vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    const fl_vit_cfg* cfg = &p->c;
    ops->vit_patchify(c->patches, c->x, nb, cfg->channels, cfg->image_h, cfg->image_w, cfg->patch);
    seq_linear(m, p->l_embed, c->patches, emb, nb, p->T);
    ops->vit_tokens(emb, emb, fl_param_data(&m->params, p->t_cls), fl_param_data(&m->params, p->t_pos), nb, p->T,
                    cfg->dim);
}

// The blocks, the final CLS LayerNorm, the classifier and the cross-entropy over S sequences
// of Tq tokens in c->h: c->loss, c->argmax (S).
static void prompt_forward(const fl_model* m, chunk_bufs* c, int S, int Tq, int want_argmax) {
    const vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    const fl_vit_cfg* cfg = &p->c;
    const fl_params* W = &m->params;
    int D = cfg->dim, rows = S * Tq;
    long n = (long)rows * D;
    for (int k = 0; k < cfg->depth; k++) {
        // h += attention(LN1(h)) Wo^T + bo
        ops->layernorm(c->ln, NULL, NULL, c->h, fl_param_data(W, p->t_ln1_w[k]), fl_param_data(W, p->t_ln1_b[k]),
                       rows, D, cfg->eps);
        seq_linear(m, p->l_q[k], c->ln, c->q, S, Tq);
        seq_linear(m, p->l_k[k], c->ln, c->k, S, Tq);
        seq_linear(m, p->l_v[k], c->ln, c->v, S, Tq);
        attention(ops, c->ctx, c->probs, c->q, c->k, c->v, S, Tq, cfg->heads, D);
        seq_linear(m, p->l_o[k], c->ctx, c->br, S, Tq);
        ops->axpy(c->h, 1.0f, c->br, n);
        // h += gelu(LN2(h) W1^T + b1) W2^T + b2
        ops->layernorm(c->ln, NULL, NULL, c->h, fl_param_data(W, p->t_ln2_w[k]), fl_param_data(W, p->t_ln2_b[k]),
                       rows, D, cfg->eps);
        seq_linear(m, p->l_fc1[k], c->ln, c->act, S, Tq);
        ops->gelu(c->act, c->act, (long)rows * cfg->mlp);
        seq_linear(m, p->l_fc2[k], c->act, c->br, S, Tq);
        ops->axpy(c->h, 1.0f, c->br, n);
    }
    ops->vit_cls_layernorm(c->head_in, NULL, NULL, c->h, fl_param_data(W, p->t_lnf_w), fl_param_data(W, p->t_lnf_b),
                           S, Tq, 1, D, cfg->eps);
    seq_linear(m, p->l_head, c->head_in, c->logits, S, 1);
    ops->xent(c->loss, want_argmax ? c->argmax : NULL, NULL, c->logits, c->labels, NULL, S, m->n_classes);
}

static void chunk_alloc(const fl_model* m, chunk_bufs* c, int rows, int P) {
    const vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    size_t R = (size_t)rows, T = (size_t)p->T, Tq = T + (size_t)P, D = (size_t)p->c.dim, f = sizeof(float);
    c->x = ops->alloc(R * (size_t)m->in_dim * f);
    c->patches = ops->alloc(R * T * (size_t)p->K * f);
    c->src = ops->alloc(R * (P + T) * D * f);
    c->idx = ops->alloc(R * Tq * sizeof(int32_t));
    float** act[7] = {&c->h, &c->ln, &c->q, &c->k, &c->v, &c->ctx, &c->br};
    for (int i = 0; i < 7; i++) *act[i] = ops->alloc(R * Tq * D * f);
    c->act = ops->alloc(R * Tq * (size_t)p->c.mlp * f);
    c->probs = ops->alloc(R * (size_t)p->c.heads * Tq * Tq * f);  // the fused op may decline a shape
    c->head_in = ops->alloc(R * D * f);
    c->logits = ops->alloc(R * (size_t)m->n_classes * f);
    c->labels = ops->alloc(R * sizeof(int32_t));
    c->loss = ops->alloc(R * f);
    c->argmax = ops->alloc(R * sizeof(int32_t));
}

static void chunk_free(const fl_model* m, chunk_bufs* c) {
    void* all[] = {c->x, c->patches, c->src, c->idx, c->h, c->ln, c->q, c->k, c->v, c->ctx, c->br, c->act,
                   c->probs, c->head_in, c->logits, c->labels, c->loss, c->argmax};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) m->ops->free(all[i]);
}

int fl_vit_prompt_losses(fl_model* m, const float* x_host, int B, const int32_t* labels_host, int P,
                         int n_rows, const int32_t* row_datum, const int32_t* row_prompt, int n_prompts,
                         const float* prompts_host, int max_rows, float* loss_out, int32_t* argmax_out,
                         fl_err* err) {
    if (!fl_vit_is(m)) return fl_fail(err, "vit prompt: model %s is not a ViT", m ? m->desc : "(none)");
    if (check_request(m, B, labels_host, P, n_rows, row_datum, row_prompt, n_prompts, prompts_host, err))
        return -1;
    if (n_rows == 0) return 0;
    const vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    const int T = p->T, Tq = T + P, D = p->c.dim, in_dim = m->in_dim;
    const size_t PD = (size_t)P * D;
    int rows = chunk_rows(m, P, n_rows, max_rows);
    chunk_bufs c = {0};
    chunk_alloc(m, &c, rows, P);
    // host staging of one chunk
    float* x_h = fl_malloc((size_t)rows * in_dim * sizeof(float));
    float* prompts_h = fl_malloc((size_t)rows * (PD ? PD : 1) * sizeof(float));
    int32_t* idx_h = fl_malloc((size_t)rows * Tq * sizeof(int32_t));
    int32_t* labels_h = fl_malloc((size_t)rows * sizeof(int32_t));
    // slot of each datum and prompt in the chunk (-1: not in it)
    int32_t* slot_d = fl_malloc((size_t)B * sizeof(int32_t));
    int32_t* slot_p = fl_malloc((size_t)(n_prompts > 0 ? n_prompts : 1) * sizeof(int32_t));
    for (int i = 0; i < B; i++) slot_d[i] = -1;
    for (int j = 0; j < n_prompts; j++) slot_p[j] = -1;

    for (int r0 = 0; r0 < n_rows; r0 += rows) {
        int S = n_rows - r0 < rows ? n_rows - r0 : rows;
        const int32_t* rd = row_datum + r0;
        const int32_t* rp = P > 0 ? row_prompt + r0 : NULL;
        // the chunk's distinct data and prompts, in order of first use
        int nb = 0, np = 0;
        for (int r = 0; r < S; r++) {
            if (slot_d[rd[r]] < 0) {
                slot_d[rd[r]] = nb;
                memcpy(x_h + (size_t)nb * in_dim, x_host + (size_t)rd[r] * in_dim, (size_t)in_dim * sizeof(float));
                nb++;
            }
            if (P > 0 && slot_p[rp[r]] < 0) {
                slot_p[rp[r]] = np;
                memcpy(prompts_h + (size_t)np * PD, prompts_host + (size_t)rp[r] * PD, PD * sizeof(float));
                np++;
            }
            labels_h[r] = labels_host[rd[r]];
        }
        // row r's tokens in src: CLS of its datum, its prompt's P tokens, its datum's patches
        long emb0 = (long)np * P;  // first row of the embeddings
        for (int r = 0; r < S; r++) {
            int32_t* ir = idx_h + (size_t)r * Tq;
            long e = emb0 + (long)slot_d[rd[r]] * T;
            ir[0] = (int32_t)e;
            for (int t = 0; t < P; t++) ir[1 + t] = (int32_t)((long)slot_p[rp[r]] * P + t);
            for (int t = 1; t < T; t++) ir[P + t] = (int32_t)(e + t);
        }
        for (int r = 0; r < S; r++) {
            slot_d[rd[r]] = -1;
            if (P > 0) slot_p[rp[r]] = -1;
        }
        ops->upload(c.x, x_h, (size_t)nb * in_dim * sizeof(float));
        if (np) ops->upload(c.src, prompts_h, (size_t)np * PD * sizeof(float));
        ops->upload(c.idx, idx_h, (size_t)S * Tq * sizeof(int32_t));
        ops->upload(c.labels, labels_h, (size_t)S * sizeof(int32_t));

        embed(m, &c, c.src + (size_t)emb0 * D, nb);
        ops->gather_rows(c.h, c.src, c.idx, S * Tq, D);
        prompt_forward(m, &c, S, Tq, argmax_out != NULL);
        ops->download(loss_out + r0, c.loss, (size_t)S * sizeof(float));
        if (argmax_out) ops->download(argmax_out + r0, c.argmax, (size_t)S * sizeof(int32_t));
    }

    chunk_free(m, &c);
    free(x_h);
    free(prompts_h);
    free(idx_h);
    free(labels_h);
    free(slot_d);
    free(slot_p);
    return 0;
}
