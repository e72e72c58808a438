// mezo.c: MeZO / SPSA weight perturbation (docs/METHOD.md, "Estimators"), with per-datum
// allocation of directions.
//
// Direction k: z_k ~ N(0, I) over the trainable parameters, never stored: regenerated from
// Philox (key = seed, row = k, stream = FL_STREAM_MEZO, step) whenever it is needed.
//   theta += mu z_k; l_i(+) = loss; theta -= 2 mu z_k; l_i(-) = loss; theta += mu z_k
//   c_ik = (l_i(+) - l_i(-)) / (2 mu)
// Datum i gets n_i directions (sum_i n_i = budget * B / 2: each direction costs 2 queries);
// direction k is evaluated on the data with n_i > k, and
//   g = (1/B) sum_i (1/n_i) sum_{k < n_i} c_ik z_k = sum_k s_k z_k
// so the update needs only the K scalars s_k and the seed (the MeZO memory property).
#include <string.h>
#include <math.h>
#include "directions.h"
#include "../core/nvtx.h"

// The workspace: the step's host arrays (B: per datum; K: per direction), the subset
// forwards' buffers (directions.h) and the oracle's arrays (B).
typedef struct {
    fl_host_buf idx, c, csq, mid, goff, lp, lm;  // B, B, B, B, slices + 1, B, B
    fl_host_buf o_idx, o_c, o_acc;
    fl_dir_bufs sub;
} mezo_ws;

static void* mezo_ws_new(fl_engine* e) { return fl_calloc(1, sizeof(mezo_ws)); }

static void mezo_ws_free(fl_engine* e, void* p) {
    mezo_ws* w = p;
    fl_host_buf* h[] = {&w->idx, &w->c, &w->csq, &w->mid, &w->goff, &w->lp, &w->lm, &w->o_idx, &w->o_c, &w->o_acc};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) fl_host_buf_free(h[i]);
    fl_dir_bufs_free(e->ops, &w->sub);
    free(w);
}

// One direction of 2 queries on every datum, with its own noise stream.
static long mezo_pilot_queries(const fl_engine* e, int B) { return 2L * B; }

// Each direction costs 2 queries (l(+) and l(-)).
static long mezo_alloc_total(const fl_engine* e, long queries, int* n_min, int* even) {
    *n_min = 1;
    *even = 0;
    return queries / 2;
}

static void mezo_begin(fl_engine* e, const fl_batch* b) { e->model->vt->reserve(e->model, b->B, b->B); }

// Evaluates direction k on groups of the batch's data: group g is idx[goff[g]..goff[g+1]),
// one forward each (the data of one slice, dist.h), all at one perturbation of the weights:
// c[j] for idx[j], and the mean of l(+) and l(-) per datum into mid (nullable).
static void eval_direction(fl_engine* e, const fl_batch* b, const int32_t* idx, const int* goff, int G,
                           uint32_t k, uint32_t stream, float* c, float* mid) {
    mezo_ws* w = e->ws;
    float mu = e->o.mu;
    int m = goff[G];
    float* lp = fl_host_grow(&w->lp, (size_t)(m > 0 ? m : 1) * sizeof(float));
    float* lm = fl_host_grow(&w->lm, (size_t)(m > 0 ? m : 1) * sizeof(float));
    float* theta = e->model->params.data;
    for (int pass = 0; pass < 2; pass++) {
        fl_dir_add(e, theta, pass == 0 ? mu : -2.0f * mu, k, stream);
        fl_dir_group_losses(e, &w->sub, b, idx, goff, G, pass == 0 ? lp : lm);
    }
    fl_dir_add(e, theta, mu, k, stream);
    for (int j = 0; j < m; j++) {
        c[j] = (lp[j] - lm[j]) / (2.0f * mu);
        if (mid) mid[j] = 0.5f * (lp[j] + lm[j]);
    }
}

static int mezo_pilot(fl_engine* e, const fl_batch* b, const float* clean, float* proxy, fl_step_stats* st,
                      fl_err* err) {
    fl_model* m = e->model;
    mezo_ws* w = e->ws;
    int B = b->B;
    int32_t* idx = fl_host_grow(&w->idx, (size_t)B * sizeof(int32_t));
    float* c = fl_host_grow(&w->c, (size_t)B * sizeof(float));
    double P = (double)fl_params_trainable(&m->params);
    double t0 = fl_now();
    for (int i = 0; i < B; i++) idx[i] = i;
    int whole[2] = {0, B};  // the pilot runs whole on every rank
    eval_direction(e, b, idx, whole, 1, 0, FL_STREAM_MEZO + 1, c, NULL);
    for (int i = 0; i < B; i++) proxy[i] = (float)(c[i] * c[i] * P);
    st->queries_pilot = 2L * B;
    st->flops += 2 * m->vt->forward_flops(m, B, B, 0);
    st->t_alloc += fl_now() - t0;
    return 0;
}

// Slices (dist.h): direction k is evaluated on the data with n_i > k of each of this process's
// slices, one forward per slice; each slice's scalars s_k are a row of its own, which the
// engine reduces (fl_engine_reduce_dirs).
static int mezo_step(fl_engine* e, const fl_batch* b, const fl_step_plan* plan, fl_step_stats* st, fl_err* err) {
    fl_model* m = e->model;
    mezo_ws* w = e->ws;
    int B = b->B;
    const int* n = plan->n;
    int32_t* idx = fl_host_grow(&w->idx, (size_t)B * sizeof(int32_t));
    float* c = fl_host_grow(&w->c, (size_t)B * sizeof(float));
    double P = (double)fl_params_trainable(&m->params);
    int K = 0;
    long total_dirs = 0;
    for (int i = 0; i < B; i++) { K = n[i] > K ? n[i] : K; total_dirs += n[i]; }
    int G = plan->s_hi - plan->s_lo;
    float* parts = fl_engine_dir_parts(e, K);  // (G, K)
    int* goff = fl_host_grow(&w->goff, (size_t)(G + 1) * sizeof(int));
    double* csq = fl_host_grow(&w->csq, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) csq[i] = 0.0;
    float* mid = fl_host_grow(&w->mid, (size_t)B * sizeof(float));
    double t0 = fl_now();
    FL_NVTX_PUSH("forward queries");  // +mu/-mu forwards of every direction
    for (int k = 0; k < K; k++) {
        fl_dir_slice_groups(plan, B, k, idx, goff);
        eval_direction(e, b, idx, goff, G, (uint32_t)k, FL_STREAM_MEZO, c, k == 0 ? mid : NULL);
        for (int g = 0; g < G; g++) {
            if (goff[g + 1] > goff[g]) st->flops += 2 * m->vt->forward_flops(m, goff[g + 1] - goff[g], goff[g + 1] - goff[g], 0);
            double s_k = 0.0;
            for (int j = goff[g]; j < goff[g + 1]; j++) {
                int i = idx[j];
                double wt = e->o.weighting == FL_WEIGHT_UNBIASED ? 1.0 / ((double)B * n[i]) : 1.0 / (double)total_dirs;
                s_k += wt * c[j];
                csq[i] += (double)c[j] * c[j];
                if (k == 0) plan->query_loss[i] = mid[j];
            }
            parts[(long)g * K + k] = (float)s_k;
        }
    }
    // the estimate as K scalars and the seed (the MeZO memory property; fl_engine_apply)
    fl_engine_reduce_dirs(e, K, parts, FL_STREAM_MEZO);
    e->ops->sync();
    FL_NVTX_POP();
    st->t_forward += fl_now() - t0;
    if (plan->fresh_proxy)
        for (int i = fl_slice_begin(B, plan->S, plan->s_lo); i < fl_slice_begin(B, plan->S, plan->s_hi); i++)
            plan->fresh_proxy[i] = (float)(csq[i] / n[i] * P);
    st->queries += 2 * total_dirs;
    return 0;
}

// Oracle for MeZO: queries / 2 extra directions on every datum (stream FL_STREAM_MEZO_ORACLE).
// The per-direction estimate c z has squared norm about c^2 * P, so v_i = P * mean_k c_ik^2.
static int mezo_oracle(fl_engine* e, const fl_batch* b, int queries, float* v_out, fl_step_stats* st,
                       fl_err* err) {
    int directions = queries / 2;
    mezo_ws* w = e->ws;
    if (directions < 1) return fl_fail(err, "--oracle-queries: mezo's oracle needs at least one direction (2 queries)");
    int B = b->B;
    fl_model* m = e->model;
    m->vt->reserve(m, B, B);
    int32_t* idx = fl_host_grow(&w->o_idx, (size_t)B * sizeof(int32_t));
    float* c = fl_host_grow(&w->o_c, (size_t)B * sizeof(float));
    double* acc = fl_host_grow(&w->o_acc, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) { idx[i] = i; acc[i] = 0.0; }
    int whole[2] = {0, B};  // the oracle runs whole on every rank
    for (int k = 0; k < directions; k++) {
        eval_direction(e, b, idx, whole, 1, (uint32_t)k, FL_STREAM_MEZO_ORACLE, c, NULL);
        for (int i = 0; i < B; i++) acc[i] += (double)c[i] * c[i];
    }
    double P = (double)fl_params_trainable(&m->params);
    for (int i = 0; i < B; i++) v_out[i] = (float)(acc[i] / directions * P);
    st->queries_oracle += 2L * directions * B;
    return 0;
}

const fl_estimator_vt fl_est_mezo = {
    .name = "mezo", .help = "MeZO: SPSA weight perturbation, two-sided (2 queries per direction)",
    .perturbs = FL_PERTURB_WEIGHTS, .unit = "direction", .unit_queries = 2, .directions = 1,
    .workspace_new = mezo_ws_new, .workspace_free = mezo_ws_free, .begin = mezo_begin,
    .pilot_queries = mezo_pilot_queries, .pilot = mezo_pilot, .oracle = mezo_oracle,
    .alloc_total = mezo_alloc_total, .step = mezo_step,
};
