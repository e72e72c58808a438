// vit_backward.c: BP through the Vision Transformer (vit.c): from the loss through the
// classifier, the final LayerNorm, the blocks in reverse order and the embeddings, adding into
// the parameters' gradients. It reads the activations that a forward with FL_KEEP_BP kept in
// each block's vit_block_bufs; with --checkpoint block (m->checkpoint == FL_CKPT_BLOCK) the
// forward kept only each block's input, and each block is recomputed into one shared set of
// buffers (fl_vit_block_forward, the very calls of plain BP) just before its backward.
#include <math.h>
#include "vit_internal.h"

// BP through a linear layer on `rows` rows: dW += dy^T x, db += colsum dy, dx = dy W + beta dx.
static void lin_bwd(fl_model* m, const fl_linear* L, const float* x, const float* dy, float* dx,
                    int rows, float beta) {
    const fl_ops* ops = m->ops;
    ops->gemm(1, 0, L->dout, L->din, rows, 1.0f, dy, L->dout, x, L->din, 1.0f,
              fl_param_grad(&m->params, L->w), L->din);
    ops->col_sum(fl_param_grad(&m->params, L->b), dy, rows, L->dout, 1.0f);
    if (dx)
        ops->gemm(0, 0, rows, L->din, L->dout, 1.0f, dy, L->dout, fl_param_data(&m->params, L->w),
                  L->din, beta, dx, L->din);
}

void fl_vit_backward(fl_model* m, const float* dloss) {
    vit_impl* p = m->impl;
    const fl_ops* ops = m->ops;
    const fl_vit_cfg* c = &p->c;
    FL_CHECK(p->bp_valid, "vit backward: the last forward did not keep BP state");
    fl_params* P = &m->params;
    int B = p->B, T = p->T, D = c->dim, M = c->mlp, H = c->heads, hd = D / H, NC = m->n_classes;
    int BT = B * T;
    long TD = (long)T * D, TT = (long)T * T, HTT = (long)H * T * T;
    float scale = 1.0f / sqrtf((float)hd);
    float* dres = vget(ops, &p->g_res, (size_t)BT * D);
    float* dtmp = vget(ops, &p->g_tmp, (size_t)BT * D);
    float* dln = vget(ops, &p->g_ln, (size_t)BT * D);
    float* dctx = vget(ops, &p->g_ctx, (size_t)BT * D);
    float* dq = vget(ops, &p->g_q, (size_t)BT * D);
    float* dk = vget(ops, &p->g_k, (size_t)BT * D);
    float* dv = vget(ops, &p->g_v, (size_t)BT * D);
    float* dbig = vget(ops, &p->g_big, (size_t)BT * M);
    float* dP = vget(ops, &p->g_probs, (size_t)B * HTT);
    float* dlogits = vget(ops, &p->g_logits, (size_t)B * NC);
    float* dfeat = vget(ops, &p->g_feat, (size_t)B * D);
    float* dpos = vget(ops, &p->g_pos, (size_t)TD);

    // loss -> CLS logits -> classifier (its input: the final-LN CLS rows, head_in (B, D))
    ops->xent(NULL, NULL, dlogits, p->logits.p, p->labels, dloss, B, NC);
    const fl_linear* Lh = &m->lin[p->l_head];
    ops->gemm(1, 0, NC, D, B, 1.0f, dlogits, NC, p->head_in.p, D, 1.0f, fl_param_grad(P, Lh->w), D);
    ops->col_sum(fl_param_grad(P, Lh->b), dlogits, B, NC, 1.0f);
    ops->gemm(0, 0, B, D, NC, 1.0f, dlogits, NC, fl_param_data(P, Lh->w), D, 0.0f, dfeat, D);
    // final LayerNorm (CLS rows only): dres (B, T, D), zero on the other tokens
    ops->vit_cls_layernorm_bwd(dres, fl_param_grad(P, p->t_lnf_w), fl_param_grad(P, p->t_lnf_b), dfeat, D,
                               p->final_resid.p, p->mean_f.p, p->rstd_f.p, fl_param_data(P, p->t_lnf_w), B, T, D);

    for (int k = c->depth - 1; k >= 0; k--) {
        vit_block_bufs* b = &p->blk[k];
        const float* resid = b->resid.p;  // the block's input, kept in both modes
        if (m->checkpoint == FL_CKPT_BLOCK) {
            // recompute the block's forward from its input into rb, with plain BP's calls
            // (a clean pass: per datum throughout); its output goes to scratch, unused
            fl_fwd rf = {.x = p->x, .B = B, .Q = B, .labels = p->labels, .keep = FL_KEEP_BP};
            fl_vit_block_forward(m, &rf, k, &p->rb, 1, 1, resid, 1, p->s_resid.p);
            b = &p->rb;
        }
        const fl_linear *Lq = &m->lin[p->l_q[k]], *Lk = &m->lin[p->l_k[k]], *Lv = &m->lin[p->l_v[k]];
        const fl_linear *Lo = &m->lin[p->l_o[k]], *L1 = &m->lin[p->l_fc1[k]], *L2 = &m->lin[p->l_fc2[k]];
        // MLP branch: dres is d(out) = d(mid) directly + through fc2(gelu(fc1(LN2(mid))))
        lin_bwd(m, L2, b->act.p, dres, dbig, BT, 0.0f);
        ops->gelu_bwd(dbig, dbig, b->fc1.p, (long)BT * M);
        lin_bwd(m, L1, b->ln2.p, dbig, dln, BT, 0.0f);
        ops->layernorm_bwd(dtmp, fl_param_grad(P, p->t_ln2_w[k]), fl_param_grad(P, p->t_ln2_b[k]), dln,
                           b->mid.p, b->mean2.p, b->rstd2.p, fl_param_data(P, p->t_ln2_w[k]), BT, D);
        ops->axpy(dres, 1.0f, dtmp, (long)BT * D);  // dres = d(mid)
        // attention branch
        lin_bwd(m, Lo, b->ctx.p, dres, dctx, BT, 0.0f);
        for (int h = 0; h < H; h++) {  // dP_h = dctx_h v_h^T; dv_h = P_h^T dctx_h
            ops->gemm_strided(0, 1, T, T, hd, 1.0f, dctx + h * hd, D, TD, b->v.p + h * hd, D, TD, 0.0f,
                              dP + h * TT, T, HTT, B);
            ops->gemm_strided(1, 0, T, hd, T, 1.0f, b->probs.p + h * TT, T, HTT, dctx + h * hd, D, TD, 0.0f,
                              dv + h * hd, D, TD, B);
        }
        ops->softmax_bwd(dP, dP, b->probs.p, B * H * T, T, 1.0f);  // dP = d(scaled scores)
        for (int h = 0; h < H; h++) {  // dq_h = scale dS k_h; dk_h = scale dS^T q_h
            ops->gemm_strided(0, 0, T, hd, T, scale, dP + h * TT, T, HTT, b->k.p + h * hd, D, TD, 0.0f,
                              dq + h * hd, D, TD, B);
            ops->gemm_strided(1, 0, T, hd, T, scale, dP + h * TT, T, HTT, b->q.p + h * hd, D, TD, 0.0f,
                              dk + h * hd, D, TD, B);
        }
        lin_bwd(m, Lq, b->ln1.p, dq, dln, BT, 0.0f);
        lin_bwd(m, Lk, b->ln1.p, dk, dln, BT, 1.0f);
        lin_bwd(m, Lv, b->ln1.p, dv, dln, BT, 1.0f);
        ops->layernorm_bwd(dtmp, fl_param_grad(P, p->t_ln1_w[k]), fl_param_grad(P, p->t_ln1_b[k]), dln,
                           resid, b->mean1.p, b->rstd1.p, fl_param_data(P, p->t_ln1_w[k]), BT, D);
        ops->axpy(dres, 1.0f, dtmp, (long)BT * D);  // dres = d(block input)
    }

    // embeddings: d pos = sum over data; d cls = d pos[0]; the patch rows feed the projection
    ops->col_sum(dpos, dres, B, (int)TD, 0.0f);
    ops->axpy(fl_param_grad(P, p->t_pos), 1.0f, dpos, TD);
    ops->axpy(fl_param_grad(P, p->t_cls), 1.0f, dpos, D);
    ops->vit_tokens(dres, dres, NULL, NULL, B, T, D);  // the CLS rows do not come from patches
    lin_bwd(m, &m->lin[p->l_embed], p->patches.p, dres, NULL, BT, 0.0f);
}
