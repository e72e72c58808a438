// mezo.c: MeZO / SPSA weight perturbation (PAPER.md section 3.2), with per-datum allocation
// of directions.
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
#include "estimator.h"
#include "../core/nvtx.h"

// scratch slots (engine.c)
enum { S_CLEAN = 3, S_PROXY, S_N, S_IDX, S_LAB, S_XSUB, S_LP, S_LM, S_C, S_CSQ, S_ORACLE_V, S_DIRS, S_MID,
       S_O_IDX, S_O_C, S_O_ACC };

// Before the allocation: the clean pass when the allocator needs the loss, or a proxy for data
// on their first visit (engine.c, fl_proxy_fill_from_loss); the pilot's direction (2 queries).
static long mezo_overhead(const fl_engine* e, int B, int first_visit) {
    unsigned needs = fl_allocator_needs(e->alloc);
    int prev = (needs & FL_NEEDS_PROXY) && e->o.proxy == FL_PROXY_PREV;
    int clean = (needs & FL_NEEDS_LOSS) || (first_visit && prev);
    int pilot = (needs & FL_NEEDS_PROXY) && e->o.proxy == FL_PROXY_PILOT;
    return (clean ? B : 0) + (pilot ? 2L * B : 0);
}

// Each direction costs 2 queries (l(+) and l(-)).
static long mezo_alloc_total(const fl_engine* e, long queries, int* n_min, int* even) {
    *n_min = 1;
    *even = 0;
    return queries / 2;
}

// x += scale * z_k over every trainable tensor (z indexed by the global parameter index).
static void add_direction(fl_engine* e, float* buf, float scale, uint32_t k, uint32_t stream) {
    fl_params* p = &e->model->params;
    for (int t = 0; t < p->n; t++) {
        if (!p->t[t].trainable) continue;
        e->ops->noise_axpy(buf + p->t[t].offset, (long)p->t[t].numel, p->t[t].offset, scale,
                           e->key0, e->key1, k, stream, e->step);
    }
}

// Evaluates direction k on the data idx[0..m) of the batch: c[j] for idx[j], and the mean
// of l(+) and l(-) per datum into mid (nullable).
static void eval_direction(fl_engine* e, const fl_batch* b, const int32_t* idx, int m, uint32_t k,
                           uint32_t stream, float* c, float* mid) {
    fl_model* mod = e->model;
    const fl_ops* ops = e->ops;
    float mu = e->o.mu;
    const float* x = b->x;
    const int32_t* y = b->y;
    if (m < b->B) {  // a subset: gather its inputs and labels
        int32_t* idx_d = fl_scratch_dev(e, S_IDX, (size_t)m * sizeof(int32_t));
        ops->upload(idx_d, idx, (size_t)m * sizeof(int32_t));
        float* xs = fl_scratch_dev(e, S_XSUB, (size_t)m * mod->in_dim * sizeof(float));
        ops->gather_rows(xs, b->x, idx_d, m, mod->in_dim);
        int32_t* lab_h = fl_scratch_host(e, S_LAB, (size_t)m * sizeof(int32_t));
        for (int j = 0; j < m; j++) lab_h[j] = b->y_host[idx[j]];
        int32_t* lab_d = fl_scratch_dev(e, S_LAB, (size_t)m * sizeof(int32_t));
        ops->upload(lab_d, lab_h, (size_t)m * sizeof(int32_t));
        x = xs;
        y = lab_d;
    }
    float* loss_d = fl_scratch_dev(e, S_LP, (size_t)m * sizeof(float));
    float* lp = fl_scratch_host(e, S_LP, (size_t)m * sizeof(float));
    float* lm = fl_scratch_host(e, S_LM, (size_t)m * sizeof(float));
    fl_fwd f = {.x = x, .B = m, .Q = m, .row_datum = NULL, .labels = y, .noise = NULL,
                .keep = 0, .loss = loss_d, .argmax = NULL};
    float* theta = mod->params.data;
    add_direction(e, theta, mu, k, stream);
    mod->vt->forward(mod, &f);
    ops->download(lp, loss_d, (size_t)m * sizeof(float));
    add_direction(e, theta, -2.0f * mu, k, stream);
    mod->vt->forward(mod, &f);
    ops->download(lm, loss_d, (size_t)m * sizeof(float));
    add_direction(e, theta, mu, k, stream);
    for (int j = 0; j < m; j++) {
        c[j] = (lp[j] - lm[j]) / (2.0f * mu);
        if (mid) mid[j] = 0.5f * (lp[j] + lm[j]);
    }
}

static int mezo_grad(fl_engine* e, const fl_batch* b, fl_step_stats* st, fl_err* err) {
    fl_model* m = e->model;
    int B = b->B;
    unsigned needs = fl_allocator_needs(e->alloc);
    m->vt->reserve(m, B, B);
    float* clean = NULL;
    int first_visit = fl_proxy_first_visit(e, b);
    if ((needs & FL_NEEDS_LOSS) || first_visit) {
        clean = fl_clean_pass(e, b, st);
    }
    int32_t* idx = fl_scratch_host(e, S_IDX, (size_t)B * sizeof(int32_t));
    float* c = fl_scratch_host(e, S_C, (size_t)B * sizeof(float));
    float* proxy = fl_scratch_host(e, S_PROXY, (size_t)B * sizeof(float));
    double P = (double)fl_params_trainable(&m->params);
    if (needs & FL_NEEDS_PROXY) {
        if (e->o.proxy == FL_PROXY_PILOT) {
            // one direction on every datum, with its own noise stream
            double t0 = fl_now();
            for (int i = 0; i < B; i++) idx[i] = i;
            eval_direction(e, b, idx, B, 0, FL_STREAM_MEZO + 1, c, NULL);
            for (int i = 0; i < B; i++) proxy[i] = (float)(c[i] * c[i] * P);
            st->queries_pilot = 2L * B;
            st->flops += 2 * m->vt->forward_flops(m, B, B, 0);
            st->t_alloc += fl_now() - t0;
        } else {
            fl_proxy_lookup(e, b, proxy);
            if (first_visit) fl_proxy_fill_from_loss(B, clean, proxy);
        }
        for (int i = 0; i < B; i++) e->last_proxy[i] = proxy[i];
    }
    float* oracle = NULL;
    if (needs & FL_NEEDS_ORACLE) {
        oracle = fl_scratch_host(e, S_ORACLE_V, (size_t)B * sizeof(float));
        if (fl_mezo_oracle(e, b, e->o.oracle_queries / 2, oracle, st, err)) return -1;
        for (int i = 0; i < B; i++) e->last_oracle[i] = oracle[i];
    }
    int n_min, even;
    long N = fl_engine_alloc_total(e, B, st->queries_clean + st->queries_pilot, &n_min, &even);
    int* n = fl_scratch_host(e, S_N, (size_t)B * sizeof(int));
    fl_alloc_input in = {.B = B, .N = N, .loss = clean, .proxy = (needs & FL_NEEDS_PROXY) ? proxy : NULL,
                         .oracle_v = oracle, .epoch = e->epoch, .step = e->step};
    FL_NVTX_PUSH("allocation");
    int arc = fl_engine_allocate(e, &in, n, st, err);
    FL_NVTX_POP();
    if (arc) return -1;
    int K = 0;
    long total_dirs = 0;
    for (int i = 0; i < B; i++) { K = n[i] > K ? n[i] : K; total_dirs += n[i]; }
    float* s_dir = fl_scratch_host(e, S_DIRS, (size_t)(K > 0 ? K : 1) * sizeof(float));
    double* csq = fl_scratch_host(e, S_CSQ, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) csq[i] = 0.0;
    float* mid = fl_scratch_host(e, S_MID, (size_t)B * sizeof(float));
    double loss_sum = 0.0;
    double t0 = fl_now();
    FL_NVTX_PUSH("forward queries");  // +mu/-mu forwards of every direction, and the update of grad
    for (int k = 0; k < K; k++) {
        int cnt = 0;
        for (int i = 0; i < B; i++)
            if (n[i] > k) idx[cnt++] = i;
        eval_direction(e, b, idx, cnt, (uint32_t)k, FL_STREAM_MEZO, c, k == 0 ? mid : NULL);
        st->flops += 2 * m->vt->forward_flops(m, cnt, cnt, 0);
        double s_k = 0.0;
        for (int j = 0; j < cnt; j++) {
            int i = idx[j];
            double w = e->o.weighting == FL_WEIGHT_UNBIASED ? 1.0 / ((double)B * n[i]) : 1.0 / (double)total_dirs;
            s_k += w * c[j];
            csq[i] += (double)c[j] * c[j];
            if (k == 0) loss_sum += mid[j];
        }
        s_dir[k] = (float)s_k;
        if (m->params.grad) add_direction(e, m->params.grad, (float)s_k, (uint32_t)k, FL_STREAM_MEZO);
    }
    // the estimate as K scalars and the seed (the MeZO memory property; fl_engine_apply)
    if (K > e->dir_K || !e->dir_s) {
        if (e->dir_s) e->ops->free(e->dir_s);
        e->dir_s = e->ops->alloc((size_t)(K > 0 ? K : 1) * sizeof(float));
    }
    e->dir_K = K;
    e->dir_step = e->step;
    e->ops->upload(e->dir_s, s_dir, (size_t)K * sizeof(float));
    e->ops->sync();
    FL_NVTX_POP();
    st->t_forward += fl_now() - t0;
    if ((needs & FL_NEEDS_PROXY) && e->o.proxy == FL_PROXY_PREV) {
        for (int i = 0; i < B; i++) proxy[i] = (float)(csq[i] / n[i] * P);
        fl_proxy_store(e, b, proxy);
    }
    if (!clean)
        for (int j = 0; j < B; j++) e->last_loss[j] = mid[j];
    st->loss = clean ? 0.0 : loss_sum / B;
    if (clean) {
        double s = 0.0;
        for (int i = 0; i < B; i++) s += clean[i];
        st->loss = s / B;
    }
    st->queries = 2 * total_dirs + st->queries_clean + st->queries_pilot + st->queries_oracle;
    return 0;
}

// Oracle for MeZO: `directions` extra directions on every datum (stream FL_STREAM_MEZO_ORACLE).
// The per-direction estimate c z has squared norm about c^2 * P, so v_i = P * mean_k c_ik^2.
int fl_mezo_oracle(fl_engine* e, const fl_batch* b, int directions, float* v_out,
                   fl_step_stats* st, fl_err* err) {
    if (directions < 1) return fl_fail(err, "--oracle-queries: mezo's oracle needs at least one direction (2 queries)");
    int B = b->B;
    fl_model* m = e->model;
    m->vt->reserve(m, B, B);
    int32_t* idx = fl_scratch_host(e, S_O_IDX, (size_t)B * sizeof(int32_t));
    float* c = fl_scratch_host(e, S_O_C, (size_t)B * sizeof(float));
    double* acc = fl_scratch_host(e, S_O_ACC, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) { idx[i] = i; acc[i] = 0.0; }
    for (int k = 0; k < directions; k++) {
        eval_direction(e, b, idx, B, (uint32_t)k, FL_STREAM_MEZO_ORACLE, c, NULL);
        for (int i = 0; i < B; i++) acc[i] += (double)c[i] * c[i];
    }
    double P = (double)fl_params_trainable(&m->params);
    for (int i = 0; i < B; i++) v_out[i] = (float)(acc[i] / directions * P);
    st->queries_oracle += 2L * directions * B;
    return 0;
}

const fl_estimator_vt fl_est_mezo = {.name = "mezo", .help = "MeZO: SPSA weight perturbation, two-sided (2 queries per direction)",
                                     .perturbs = FL_PERTURB_WEIGHTS, .unit = "direction", .unit_queries = 2,
                                     .overhead = mezo_overhead, .alloc_total = mezo_alloc_total, .grad = mezo_grad};
