// bp.c: exact backpropagation (docs/METHOD.md, "Estimators"), the reference estimator.
// One clean forward of the batch (B queries), then BP of the batch-mean loss. With activation
// checkpointing (m->checkpoint, docs/METHOD.md "BP") the model recomputes every block's forward
// inside backward: not a query (the same clean evaluation again), but forward GEMM work, so
// it is counted in st->flops.
#include <string.h>
#include "estimator.h"
#include "../core/nvtx.h"

// The workspace: per-datum losses and their gradient 1/B (host and backend).
typedef struct {
    fl_host_buf loss, dloss_h;
    fl_dev_buf loss_d, dloss;
} bp_ws;

static void* bp_ws_new(fl_engine* e) { return fl_calloc(1, sizeof(bp_ws)); }

static void bp_ws_free(fl_engine* e, void* p) {
    bp_ws* w = p;
    fl_host_buf_free(&w->loss);
    fl_host_buf_free(&w->dloss_h);
    fl_dev_buf_free(e->ops, &w->loss_d);
    fl_dev_buf_free(e->ops, &w->dloss);
    free(w);
}

// Forward GEMM FLOPs a checkpointed backward recomputes for B data: the whole clean forward
// but the layers outside the blocks (the ViT's patch embedding, the classifier).
static double recompute_flops(const fl_model* m, int B) {
    double flops = m->vt->forward_flops(m, B, B, 0);
    for (int i = 0; i < m->n_lin; i++) {
        const fl_linear* L = &m->lin[i];
        if (!strcmp(L->role, "embed") || !strcmp(L->role, "head"))
            flops -= 2.0 * B * fl_linear_tokens(m, L) * L->din * L->dout;
    }
    return flops;
}

// bp allocates nothing: one clean query per datum (engine.c, fl_engine_overhead)
static long bp_alloc_total(const fl_engine* e, long queries, int* n_min, int* even) {
    *n_min = 1;
    *even = 0;
    return queries;
}

// Slice by slice (dist.h): the clean forward of the slice's data and BP of their share of the
// batch-mean loss, each slice into its own partial gradient, reduced by the engine.
static int bp_step(fl_engine* e, const fl_batch* b, const fl_step_plan* plan, fl_step_stats* st, fl_err* err) {
    fl_model* m = e->model;
    bp_ws* w = e->ws;
    int B = b->B;
    float* loss_h = fl_host_grow(&w->loss, (size_t)B * sizeof(float));
    float* dloss_h = fl_host_grow(&w->dloss_h, (size_t)B * sizeof(float));
    float* dloss = fl_dev_grow(e->ops, &w->dloss, (size_t)B * sizeof(float));
    for (int s = plan->s_lo; s < plan->s_hi; s++) {
        int d0;
        fl_batch sb = fl_batch_slice(e, b, s, &d0);
        if (!sb.B) continue;
        double t0 = fl_now();
        FL_NVTX_PUSH("clean pass");
        fl_clean_forward(e, &sb, &w->loss_d, loss_h + d0, FL_KEEP_BP);
        FL_NVTX_POP();
        double t1 = fl_now();
        // d(mean loss)/d(loss_r) = 1/B, B the whole batch
        for (int i = 0; i < sb.B; i++) dloss_h[i] = 1.0f / (float)B;
        e->ops->upload(dloss, dloss_h, (size_t)sb.B * sizeof(float));
        FL_NVTX_PUSH("BP gradient");
        fl_engine_slice_grad_begin(e, s);
        m->vt->backward(m, dloss);
        fl_engine_slice_grad_end(e, s);
        e->ops->sync();
        FL_NVTX_POP();
        st->t_clean += t1 - t0;
        st->t_grad += fl_now() - t1;
        st->flops += m->vt->forward_flops(m, sb.B, sb.B, 0);
        if (m->checkpoint == FL_CKPT_BLOCK) st->flops += recompute_flops(m, sb.B);
        for (int i = d0; i < d0 + sb.B; i++) plan->query_loss[i] = loss_h[i];
    }
    st->queries = st->queries_clean = B;
    st->n_lo = st->n_hi = 1;
    return 0;
}

const fl_estimator_vt fl_est_bp = {
    .name = "bp", .help = "backpropagation: the exact gradient, the reference",
    .perturbs = FL_PERTURB_NONE, .unit = NULL, .unit_queries = 1,
    .workspace_new = bp_ws_new, .workspace_free = bp_ws_free,
    .alloc_total = bp_alloc_total, .step = bp_step,
};
