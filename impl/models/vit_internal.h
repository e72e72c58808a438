// vit_internal.h: what the ViT's four files share and nothing outside needs: vit.c (the
// model: construction, forward, cost, inference), vit_backward.c (BP, with checkpointing),
// vit_spec.c (specifications and configuration checks) and vit_hf.c (Hugging Face and
// safetensors weights). The public API is vit.h.
#pragma once
#include "vit.h"

#ifdef __cplusplus
extern "C" {
#endif

// A backend buffer that only grows.
typedef struct {
    float* p;
    size_t cap;  // floats
} vbuf;

static inline float* vget(const fl_ops* ops, vbuf* b, size_t floats) {
    if (floats > b->cap) {
        if (b->p) ops->free(b->p);
        b->p = ops->alloc(floats * sizeof(float));
        b->cap = floats;
    }
    return b->p;
}

static inline void vfree(const fl_ops* ops, vbuf* b) {
    if (b->p) ops->free(b->p);
    b->p = NULL;
    b->cap = 0;
}

// Per-block activations kept for LR (inputs of perturbed layers) or BP (everything).
typedef struct {
    vbuf resid;            // block input h (S, T, D)                         BP
    vbuf ln1, mean1, rstd1;// LN1 output (S, T, D); mean, rstd (S*T)          LR (q,k,v) / BP
    vbuf q, k, v;          // (S, T, D)                                       BP
    vbuf probs;            // attention probabilities (S, H, T, T)            BP
    vbuf ctx;              // attention output, heads merged (S, T, D)        LR (o) / BP
    vbuf mid;              // h after the attention residual (S, T, D)        BP
    vbuf ln2, mean2, rstd2;// LN2 output                                      LR (fc1) / BP
    vbuf fc1;              // MLP pre-activation (S, T, M)                    BP
    vbuf act;              // gelu(fc1) (S, T, M)                             LR (fc2) / BP
} vit_block_bufs;

typedef struct {
    fl_vit_cfg c;
    int T, K;              // tokens, patch length C*P*P
    int gh, gw;            // patch grid
    // parameter tensors
    int t_cls, t_pos, t_lnf_w, t_lnf_b;
    int* t_ln1_w; int* t_ln1_b; int* t_ln2_w; int* t_ln2_b;  // (depth)
    // linear layers (indices into m->lin)
    int l_embed, l_head;
    int* l_q; int* l_k; int* l_v; int* l_o; int* l_fc1; int* l_fc2;  // (depth)
    // buffers
    vit_block_bufs* blk;   // (depth) kept activations; checkpointed BP keeps resid only
    vit_block_bufs rb;     // checkpointed BP: one block's activations, recomputed in backward
    vbuf final_resid;      // BP: residual after the last block (B, T, D)
    vbuf s_resid, s_mid, s_ln, s_q, s_k, s_v, s_probs, s_ctx, s_act;  // shared scratch
    vbuf patches;          // (B, T, K)
    vbuf tmp;              // (B, T, max dout) per-datum product before expansion
    vbuf head_in;          // (S, D) final-LN CLS tokens: the classifier's input
    vbuf mean_f, rstd_f;   // (S)
    vbuf logits_full;      // (S, T, classes)
    vbuf logits;           // (Q, classes) CLS logits
    vbuf labels0;          // int32 zeros for inference
    // backward scratch
    vbuf g_res, g_tmp, g_ln, g_ctx, g_q, g_k, g_v, g_big, g_probs, g_logits, g_feat, g_pos;
    // the last forward, for backward
    const float* x;
    const int32_t* labels;
    int B;
    int bp_valid;
} vit_impl;

// vit.c. One transformer block k from h (S, T, D), per datum when pd, into out; returns
// whether out is per datum. keep_all: every activation into b (BP, or its recomputation in a
// checkpointed backward); keep_probs: the attention writes its probabilities.
int fl_vit_block_forward(fl_model* m, const fl_fwd* f, int k, vit_block_bufs* b, int keep_all,
                         int keep_probs, const float* h, int pd, float* out);

// vit_spec.c. The specification that rebuilds configuration c (vit:image=...,eps=...): the
// desc of a ViT.
void fl_vit_desc(const fl_vit_cfg* c, char* out, size_t size);
// Checks every field of c (sizes, image a multiple of patch, dim a multiple of heads, tokens,
// eps); errors begin with `what`.
int fl_vit_check_cfg(const fl_vit_cfg* c, const char* what, fl_err* err);

// vit.c. Of a ViT m: the indices into m->lin of the patch embedding (D, C*P*P) and of the
// classifier (classes, D).
int fl_vit_embed_layer(const fl_model* m);
int fl_vit_head_layer(const fl_model* m);
// Sets the LayerNorm eps of ViT m and rewrites m->desc to match.
void fl_vit_set_eps(fl_model* m, float eps);
// torch.nn.Linear's initialisation of layer L from seed, into host: the host copy of m's
// parameters (m->params.total floats).
void fl_vit_init_linear_host(const fl_model* m, const fl_linear* L, uint64_t seed, float* host);

// vit_backward.c. The model's backward (fl_model_vt): BP after a forward that kept BP state,
// dloss (B) the per-datum scale of each loss.
void fl_vit_backward(fl_model* m, const float* dloss);

#ifdef __cplusplus
}
#endif
