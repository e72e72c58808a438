// spsa1.c: one-sided SPSA with a shared clean pass (forward differences in weight space), with
// per-datum allocation of directions (docs/METHOD.md, "Estimators", spsa1).
//
// Direction k: z_k ~ N(0, I) over the trainable parameters, drawn from Philox (directions.h).
//   l_i(0) = the clean loss (the prelude's clean pass, shared by every direction)
//   theta += mu z_k; l_i(k) = loss; theta -= mu z_k
//   c_ik = (l_i(k) - l_i(0)) / mu
// Datum i gets n_i directions; a direction costs one query per datum it is evaluated on, so
// K directions cost K + 1 queries instead of MeZO's 2K. Direction k is evaluated on the data
// with n_i > k, and
//   g = (1/B) sum_i (1/n_i) sum_{k < n_i} c_ik z_k = sum_k s_k z_k
// so the update needs only the K scalars s_k and the seed (fl_engine_apply).
// Bias: c_ik = g_i.z + (mu/2) z^T H_i z + O(mu^2). Each coefficient is off by O(mu), where
// MeZO's central difference is off by O(mu^2); for Gaussian z the O(mu) term has mean zero
// (E[(z^T H z) z] = 0, an odd moment), so the mean of the estimate is off by O(mu^2), and the
// O(mu) term adds variance (docs/METHOD.md).
#include <math.h>
#include "directions.h"
#include "../core/nvtx.h"

// Noise streams of this estimator (estimator.h numbers the others): the step's directions, the
// pilot's, the oracle's.
#define STREAM_SPSA1 (5u << 24)
#define STREAM_SPSA1_PILOT (STREAM_SPSA1 + 1)
#define STREAM_SPSA1_ORACLE (6u << 24)

// The workspace: per datum (B) and per direction (K) host arrays, the subset forwards' buffers.
typedef struct {
    fl_host_buf idx, c, csq, lk, goff, o_clean, o_acc;  // B, B, B, B, slices + 1, B, B
    fl_dir_bufs sub;
} spsa1_ws;

static void* spsa1_ws_new(fl_engine* e) { return fl_calloc(1, sizeof(spsa1_ws)); }

static void spsa1_ws_free(fl_engine* e, void* p) {
    spsa1_ws* w = p;
    fl_host_buf* h[] = {&w->idx, &w->c, &w->csq, &w->lk, &w->goff, &w->o_clean, &w->o_acc};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) fl_host_buf_free(h[i]);
    fl_dir_bufs_free(e->ops, &w->sub);
    free(w);
}

static void spsa1_begin(fl_engine* e, const fl_batch* b) { e->model->vt->reserve(e->model, b->B, b->B); }

// Every direction is a difference against the clean loss.
static int spsa1_needs_clean(const fl_engine* e) { return 1; }

// One query per datum per direction.
static long spsa1_alloc_total(const fl_engine* e, long queries, int* n_min, int* even) {
    *n_min = 1;
    *even = 0;
    return queries;
}

// c[j] = (l(theta + mu z_k) - clean[idx[j]]) / mu for groups of the batch's data: group g is
// idx[goff[g]..goff[g+1]), one forward each (the data of one slice, dist.h), all at one
// perturbation of the weights.
static void eval_direction(fl_engine* e, spsa1_ws* w, const fl_batch* b, const int32_t* idx, const int* goff,
                           int G, uint32_t k, uint32_t stream, const float* clean, float* c) {
    float mu = e->o.mu;
    int m = goff[G];
    float* lk = fl_host_grow(&w->lk, (size_t)(m > 0 ? m : 1) * sizeof(float));
    float* theta = e->model->params.data;
    fl_dir_add(e, theta, mu, k, stream);
    fl_dir_group_losses(e, &w->sub, b, idx, goff, G, lk);
    fl_dir_add(e, theta, -mu, k, stream);
    for (int j = 0; j < m; j++) c[j] = (lk[j] - clean[idx[j]]) / mu;
}

// --proxy pilot: one direction of one query on every datum.
static long spsa1_pilot_queries(const fl_engine* e, int B) { return B; }

static int spsa1_pilot(fl_engine* e, const fl_batch* b, const float* clean, float* proxy, fl_step_stats* st,
                       fl_err* err) {
    fl_model* m = e->model;
    spsa1_ws* w = e->ws;
    int B = b->B;
    int32_t* idx = fl_host_grow(&w->idx, (size_t)B * sizeof(int32_t));
    float* c = fl_host_grow(&w->c, (size_t)B * sizeof(float));
    double P = (double)fl_params_trainable(&m->params);
    double t0 = fl_now();
    for (int i = 0; i < B; i++) idx[i] = i;
    int whole[2] = {0, B};  // the pilot runs whole on every rank
    eval_direction(e, w, b, idx, whole, 1, 0, STREAM_SPSA1_PILOT, clean, c);
    for (int i = 0; i < B; i++) proxy[i] = (float)(c[i] * c[i] * P);
    st->queries_pilot = B;
    st->flops += m->vt->forward_flops(m, B, B, 0);
    st->t_alloc += fl_now() - t0;
    return 0;
}

// Slices (dist.h): as mezo.c, direction k on the data with n_i > k of each of this process's
// slices, one forward per slice, each slice's scalars a row reduced by the engine.
static int spsa1_step(fl_engine* e, const fl_batch* b, const fl_step_plan* plan, fl_step_stats* st, fl_err* err) {
    fl_model* m = e->model;
    spsa1_ws* w = e->ws;
    int B = b->B;
    const int* n = plan->n;
    int32_t* idx = fl_host_grow(&w->idx, (size_t)B * sizeof(int32_t));
    float* c = fl_host_grow(&w->c, (size_t)B * sizeof(float));
    double* csq = fl_host_grow(&w->csq, (size_t)B * sizeof(double));
    int K = 0;
    for (int i = 0; i < B; i++) {
        K = n[i] > K ? n[i] : K;
        csq[i] = 0.0;
    }
    int G = plan->s_hi - plan->s_lo;
    float* parts = fl_engine_dir_parts(e, K);  // (G, K)
    int* goff = fl_host_grow(&w->goff, (size_t)(G + 1) * sizeof(int));
    double t0 = fl_now();
    FL_NVTX_PUSH("forward queries");
    for (int k = 0; k < K; k++) {
        fl_dir_slice_groups(plan, B, k, idx, goff);
        eval_direction(e, w, b, idx, goff, G, (uint32_t)k, STREAM_SPSA1, plan->clean, c);
        for (int g = 0; g < G; g++) {
            if (goff[g + 1] > goff[g]) st->flops += m->vt->forward_flops(m, goff[g + 1] - goff[g], goff[g + 1] - goff[g], 0);
            double s_k = 0.0;
            for (int j = goff[g]; j < goff[g + 1]; j++) {
                int i = idx[j];
                double wt = e->o.weighting == FL_WEIGHT_UNBIASED ? 1.0 / ((double)B * n[i]) : 1.0 / (double)plan->N;
                s_k += wt * c[j];
                csq[i] += (double)c[j] * c[j];
            }
            parts[(long)g * K + k] = (float)s_k;
        }
    }
    fl_engine_reduce_dirs(e, K, parts, STREAM_SPSA1);
    e->ops->sync();
    FL_NVTX_POP();
    st->t_forward += fl_now() - t0;
    // the proxy: the per-direction estimate c z has squared norm about c^2 P
    double P = (double)fl_params_trainable(&m->params);
    if (plan->fresh_proxy)
        for (int i = fl_slice_begin(B, plan->S, plan->s_lo); i < fl_slice_begin(B, plan->S, plan->s_hi); i++)
            plan->fresh_proxy[i] = (float)(csq[i] / n[i] * P);
    st->queries += plan->N;
    return 0;
}

// Oracle: a clean pass and `queries` - 1 extra directions on every datum, so v_i = P * mean c^2.
static int spsa1_oracle(fl_engine* e, const fl_batch* b, int queries, float* v_out, fl_step_stats* st,
                        fl_err* err) {
    int directions = queries - 1;
    if (directions < 1)
        return fl_fail(err, "--oracle-queries %d: spsa1's oracle needs at least 2 (a clean pass and a direction)", queries);
    fl_model* m = e->model;
    spsa1_ws* w = e->ws;
    int B = b->B;
    float* clean = fl_host_grow(&w->o_clean, (size_t)B * sizeof(float));
    const float* x;
    const int32_t* y;
    fl_dir_subset(e, &w->sub, b, NULL, B, &x, &y);
    fl_dir_losses(e, &w->sub, x, y, B, clean);
    int32_t* idx = fl_host_grow(&w->idx, (size_t)B * sizeof(int32_t));
    float* c = fl_host_grow(&w->c, (size_t)B * sizeof(float));
    double* acc = fl_host_grow(&w->o_acc, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) { idx[i] = i; acc[i] = 0.0; }
    int whole[2] = {0, B};  // the oracle runs whole on every rank
    for (int k = 0; k < directions; k++) {
        eval_direction(e, w, b, idx, whole, 1, (uint32_t)k, STREAM_SPSA1_ORACLE, clean, c);
        for (int i = 0; i < B; i++) acc[i] += (double)c[i] * c[i];
    }
    double P = (double)fl_params_trainable(&m->params);
    for (int i = 0; i < B; i++) v_out[i] = (float)(acc[i] / directions * P);
    st->queries_oracle += (long)queries * B;
    return 0;
}

const fl_estimator_vt fl_est_spsa1 = {
    .name = "spsa1", .help = "one-sided SPSA: forward differences against a shared clean pass (K + 1 queries for K directions)",
    .perturbs = FL_PERTURB_WEIGHTS, .unit = "direction", .unit_queries = 1, .directions = 1,
    .workspace_new = spsa1_ws_new, .workspace_free = spsa1_ws_free, .begin = spsa1_begin,
    .needs_clean = spsa1_needs_clean, .pilot_queries = spsa1_pilot_queries, .pilot = spsa1_pilot,
    .oracle = spsa1_oracle, .alloc_total = spsa1_alloc_total, .step = spsa1_step,
};
