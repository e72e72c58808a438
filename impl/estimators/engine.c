// engine.c: what the estimators share: the registry, the step's prelude (clean pass, proxy,
// oracle, allocation; docs/DESIGN.md, "The estimator seam"), grown buffers, chunk sizing and the
// previous-visit proxy table.
#include <stdio.h>
#include <string.h>
#include <math.h>
#include "estimator.h"
#include "directions.h"
#include "../core/nvtx.h"
#include "../optim/optim.h"

// The registry: ONE line per estimator. X(name) needs `const fl_estimator_vt fl_est_name`
// defined in impl/estimators/name.c (docs/DESIGN.md, "How to add an estimator").
#define FL_ESTIMATOR_LIST(X) \
    X(bp)                    \
    X(mezo)                  \
    X(lr)                    \
    X(spsa1)                 \
    /* the list ends here */

#define FL_DECLARE_VT(name) extern const fl_estimator_vt fl_est_##name;
FL_ESTIMATOR_LIST(FL_DECLARE_VT)
#undef FL_DECLARE_VT

#define FL_VT_POINTER(name) &fl_est_##name,
static const fl_estimator_vt* const estimators[] = {FL_ESTIMATOR_LIST(FL_VT_POINTER)};
#undef FL_VT_POINTER
#define N_ESTIMATORS (int)(sizeof estimators / sizeof estimators[0])

const fl_estimator_vt* fl_estimator_find(const char* name) {
    for (int i = 0; i < N_ESTIMATORS; i++)
        if (!strcmp(estimators[i]->name, name)) return estimators[i];
    return NULL;
}

int fl_estimator_count(void) { return N_ESTIMATORS; }

const fl_estimator_vt* fl_estimator_at(int i) { return i >= 0 && i < N_ESTIMATORS ? estimators[i] : NULL; }

const char* fl_estimator_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; i < N_ESTIMATORS; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", estimators[i]->name);
    return names;
}

const char* fl_estimator_names_forward(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; i < N_ESTIMATORS; i++)
            if (estimators[i]->perturbs != FL_PERTURB_NONE)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", estimators[i]->name);
    return names;
}

const char* fl_estimator_reference(void) {
    for (int i = 0; i < N_ESTIMATORS; i++)
        if (estimators[i]->perturbs == FL_PERTURB_NONE) return estimators[i]->name;
    FL_CHECK(0, "the estimator table has no exact estimator");
    return NULL;
}

static int perturbs(const char* name, fl_perturbation p) {
    const fl_estimator_vt* v = name ? fl_estimator_find(name) : NULL;
    return v && v->perturbs == p;
}
int fl_method_is_exact(const char* name) { return perturbs(name, FL_PERTURB_NONE); }
int fl_method_perturbs_layers(const char* name) { return perturbs(name, FL_PERTURB_LAYERS); }
int fl_method_perturbs_weights(const char* name) { return perturbs(name, FL_PERTURB_WEIGHTS); }

fl_est_opts fl_est_opts_default(void) {
    fl_est_opts o;
    memset(&o, 0, sizeof o);
    o.budget = 8;
    o.pairing = FL_PAIR_SAME;
    o.baseline = FL_BASE_CLEAN;
    o.weighting = FL_WEIGHT_UNBIASED;
    o.proxy = FL_PROXY_PREV;
    o.proxy_ema = 0.3f;
    o.mu = 1e-3f;
    o.sigma0 = 1e-3f;
    o.learn_sigma = 1;
    o.oracle_queries = 64;
    o.max_rows = 0;
    return o;
}

// ---------------------------------------------------------------------------------------
// buffers grown on demand (the fields of the estimators' workspaces)

void* fl_host_grow(fl_host_buf* b, size_t bytes) {
    if (bytes > b->bytes) {
        free(b->p);
        b->p = fl_malloc(bytes);
        b->bytes = bytes;
    }
    return b->p;
}

void* fl_dev_grow(const fl_ops* ops, fl_dev_buf* b, size_t bytes) {
    if (bytes > b->bytes) {
        if (b->p) ops->free(b->p);
        b->p = ops->alloc(bytes);
        b->bytes = bytes;
    }
    return b->p;
}

void fl_host_buf_free(fl_host_buf* b) {
    free(b->p);
    b->p = NULL;
    b->bytes = 0;
}

void fl_dev_buf_free(const fl_ops* ops, fl_dev_buf* b) {
    if (b->p) ops->free(b->p);
    b->p = NULL;
    b->bytes = 0;
}

// ---------------------------------------------------------------------------------------

fl_engine* fl_engine_new(const fl_ops* ops, fl_model* model, const char* method,
                         const char* allocator, const fl_alloc_opts* ao, const fl_est_opts* eo,
                         int64_t dataset_size, uint64_t seed, fl_err* err) {
    const fl_estimator_vt* est = fl_estimator_find(method);
    if (!est) {
        fl_fail(err, "--method: unknown method '%s' (expected %s)", method, fl_estimator_names());
        return NULL;
    }
    if (eo->budget < 1) {
        fl_fail(err, "--budget: expected a positive number of queries per datum, found %d", eo->budget);
        return NULL;
    }
    if (est->check && est->check(eo, err)) return NULL;
    fl_engine* e = fl_calloc(1, sizeof(fl_engine));
    e->ops = ops;
    e->model = model;
    e->o = *eo;
    e->est = est;
    e->key0 = (uint32_t)seed;
    e->key1 = (uint32_t)(seed >> 32);
    e->proxy_n = dataset_size;
    e->slices = 1;
    e->proxy_table = fl_malloc((size_t)(dataset_size > 0 ? dataset_size : 1) * sizeof(float));
    for (int64_t i = 0; i < dataset_size; i++) e->proxy_table[i] = NAN;
    // log sigma is a parameter only of estimators that perturb layer outputs
    fl_params_set_trainable_kind(&model->params, FL_KIND_LOGSIGMA,
                                 est->perturbs == FL_PERTURB_LAYERS && eo->learn_sigma);
    if (est->workspace_new) e->ws = est->workspace_new(e);
    if (est->perturbs != FL_PERTURB_NONE) {
        fl_alloc_opts a = *ao;
        int n_min, even;
        est->alloc_total(e, 0, &n_min, &even);
        a.n_min = n_min;
        a.even = even;
        // the allocator's draws (bernoulli's halvings, flops' samples) come from the run's
        // seed too, under the same key as the noise but in counter streams of their own
        // (bernoulli.c, flops.c), so the noise is the same as without them
        a.seed = seed;
        e->alloc = fl_allocator_new(allocator, &a, err);
        if (!e->alloc) {
            fl_engine_free(e);
            return NULL;
        }
        // the spend rule on the worst case, one datum on its first visit: what is left after
        // the clean pass and the pilot must buy the minimum allocation
        long over = fl_engine_overhead(e, 1, 1);
        long N = fl_engine_alloc_total(e, 1, over, &n_min, &even);
        if (N < n_min) {
            long need = over + (long)n_min * est->unit_queries;
            fl_fail(err, "--budget %d: %s needs at least %ld queries per datum per step here "
                    "(%ld before the allocation: clean pass and pilot; docs/METHOD.md, \"Spend\")",
                    eo->budget, method, need, over);
            fl_engine_free(e);
            return NULL;
        }
    }
    return e;
}

void fl_engine_free(fl_engine* e) {
    if (!e) return;
    if (e->alloc) fl_allocator_free(e->alloc);
    if (e->ws && e->est->workspace_free) e->est->workspace_free(e, e->ws);
    fl_host_buf_free(&e->clean);
    fl_host_buf_free(&e->proxy);
    fl_host_buf_free(&e->fresh);
    fl_host_buf_free(&e->oracle_v);
    fl_host_buf_free(&e->n);
    fl_dev_buf_free(e->ops, &e->clean_d);
    for (int j = 0; j < e->n_grad_parts; j++) fl_dev_buf_free(e->ops, &e->grad_parts[j]);
    free(e->grad_parts);
    fl_dev_buf_free(e->ops, &e->pack_d);
    fl_host_buf_free(&e->dir_parts);
    fl_host_buf_free(&e->qloss);
    free(e->proxy_table);
    free(e->last_n);
    free(e->last_proxy);
    free(e->last_loss);
    free(e->last_oracle);
    if (e->dir_s) e->ops->free(e->dir_s);
    free(e);
}

// ---------------------------------------------------------------------------------------
// the step's prelude

static int engine_allocate(fl_engine* e, const fl_alloc_input* in, int* n, fl_step_stats* st, fl_err* err);

void fl_clean_forward(fl_engine* e, const fl_batch* b, fl_dev_buf* loss_d, float* loss_host, int keep) {
    fl_model* m = e->model;
    float* loss = fl_dev_grow(e->ops, loss_d, (size_t)b->B * sizeof(float));
    m->vt->reserve(m, b->B, b->B);
    fl_fwd f = {.x = b->x, .B = b->B, .Q = b->B, .row_datum = NULL, .labels = b->y,
                .noise = NULL, .keep = keep, .loss = loss, .argmax = NULL};
    m->vt->forward(m, &f);
    e->ops->download(loss_host, loss, (size_t)b->B * sizeof(float));
}

// The clean pass, accounted: per-datum loss (host, B), its queries, FLOPs and time in st, and
// the losses recorded for logs.
static float* clean_pass(fl_engine* e, const fl_batch* b, fl_step_stats* st) {
    fl_model* m = e->model;
    float* clean = fl_host_grow(&e->clean, (size_t)b->B * sizeof(float));
    double t0 = fl_now();
    FL_NVTX_PUSH("clean pass");
    int s_lo, s_hi;
    fl_engine_own_slices(e, &s_lo, &s_hi);
    for (int s = s_lo; s < s_hi; s++) {  // one forward per slice (dist.h), the others' gathered
        int d0;
        fl_batch sb = fl_batch_slice(e, b, s, &d0);
        if (!sb.B) continue;
        fl_clean_forward(e, &sb, &e->clean_d, clean + d0, 0);
        st->flops += m->vt->forward_flops(m, sb.B, sb.B, 0);
    }
    FL_NVTX_POP();
    st->t_clean += fl_now() - t0;
    if (e->dist) fl_dist_gather_data(e->dist, clean, sizeof(float), b->B, e->slices);
    st->queries_clean = b->B;
    for (int i = 0; i < b->B; i++) e->last_loss[i] = clean[i];
    return clean;
}

// What the prelude runs before the allocation: a clean pass (the estimator's reason, the
// allocator's loss, a first-visit proxy) and a pilot (--proxy pilot).
static int prelude_clean(const fl_engine* e, int first_visit) {
    unsigned needs = fl_allocator_needs(e->alloc);
    int prev = (needs & FL_NEEDS_PROXY) && e->o.proxy == FL_PROXY_PREV;
    return (e->est->needs_clean && e->est->needs_clean(e)) || (needs & FL_NEEDS_LOSS) || (first_visit && prev);
}
static int prelude_pilot(const fl_engine* e) {
    return (fl_allocator_needs(e->alloc) & FL_NEEDS_PROXY) && e->o.proxy == FL_PROXY_PILOT && e->est->pilot;
}

long fl_engine_overhead(const fl_engine* e, int B, int first_visit) {
    if (e->est->perturbs == FL_PERTURB_NONE) return B;  // one clean query per datum, no allocation
    return (prelude_clean(e, first_visit) ? B : 0) + (prelude_pilot(e) ? e->est->pilot_queries(e, B) : 0);
}

int fl_engine_oracle(fl_engine* e, const fl_batch* b, int queries, float* v_out, fl_step_stats* st,
                     fl_err* err) {
    if (!e->est->oracle) return fl_fail(err, "--allocator oracle: method %s has no oracle", e->est->name);
    return e->est->oracle(e, b, queries, v_out, st, err);
}

// The plan's slices: this process's, and where the step writes query losses.
static void plan_slices(fl_engine* e, int B, fl_step_plan* plan) {
    plan->S = e->slices;
    fl_engine_own_slices(e, &plan->s_lo, &plan->s_hi);
    plan->query_loss = fl_host_grow(&e->qloss, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) plan->query_loss[i] = NAN;
}

// After the step: the gradient reduced over the slices (an estimate kept as directions was
// reduced by the step, fl_engine_reduce_dirs), the per-datum results of the other ranks
// gathered, the FLOPs of every rank's slices summed (own_flops: this process's part of st->flops,
// the clean pass's and the step's; a pilot and an oracle run whole on every rank), and the
// batch's loss: clean where there was a clean pass, else the query means, summed in datum order.
static void finish_step(fl_engine* e, const fl_batch* b, const fl_step_plan* plan, fl_step_stats* st, double own_flops) {
    int B = b->B;
    if (!e->est->directions) fl_engine_reduce_grad(e);
    if (e->dist && e->dist->size > 1) {
        if (plan->fresh_proxy) fl_dist_gather_data(e->dist, plan->fresh_proxy, sizeof(float), B, e->slices);
        if (!plan->clean) fl_dist_gather_data(e->dist, plan->query_loss, sizeof(double), B, e->slices);
        double v[2] = {e->est->perturbs == FL_PERTURB_NONE ? st->flops : own_flops, (double)st->no_baseline};
        double own = v[0];
        fl_dist_sum(e->dist, v, 2);
        st->flops += v[0] - own;
        st->no_baseline = (int)v[1];
    }
    double s = 0.0;
    if (plan->clean) {
        for (int i = 0; i < B; i++) s += plan->clean[i];
    } else {
        for (int i = 0; i < B; i++) {
            s += plan->query_loss[i];
            e->last_loss[i] = (float)plan->query_loss[i];
        }
    }
    st->loss = s / B;
}

int fl_engine_grad(fl_engine* e, const fl_batch* b, fl_step_stats* st, fl_err* err) {
    memset(st, 0, sizeof *st);
    fl_params_zero_grad(&e->model->params);
    int B = b->B;
    if (B > e->last_B) {
        e->last_n = fl_realloc(e->last_n, (size_t)B * sizeof(int));
        e->last_proxy = fl_realloc(e->last_proxy, (size_t)B * sizeof(float));
        e->last_loss = fl_realloc(e->last_loss, (size_t)B * sizeof(float));
        e->last_oracle = fl_realloc(e->last_oracle, (size_t)B * sizeof(float));
    }
    e->last_B = B;
    for (int i = 0; i < B; i++) {
        e->last_n[i] = 0;
        e->last_proxy[i] = e->last_loss[i] = e->last_oracle[i] = NAN;
    }
    const fl_estimator_vt* est = e->est;
    int rc = 0;
    if (est->begin) est->begin(e, b);
    if (est->perturbs == FL_PERTURB_NONE) {  // exact: no allocation, the step is the clean pass
        fl_step_plan plan = {0};
        plan_slices(e, B, &plan);
        if (!(rc = est->step(e, b, &plan, st, err))) finish_step(e, b, &plan, st, 0.0);
        e->step++;
        return rc;
    }
    unsigned needs = fl_allocator_needs(e->alloc);
    // 1. clean pass
    float* clean = NULL;
    int first_visit = fl_proxy_first_visit(e, b);
    if (prelude_clean(e, first_visit)) clean = clean_pass(e, b, st);
    double own_flops = st->flops;  // the clean pass's, of this process's slices
    // 2. proxy: previous visit (a first visit's from the clean loss), or a pilot
    float* proxy = NULL;
    if (needs & FL_NEEDS_PROXY) {
        proxy = fl_host_grow(&e->proxy, (size_t)B * sizeof(float));
        if (e->o.proxy == FL_PROXY_PILOT) {
            if (!est->pilot) { rc = fl_fail(err, "--proxy pilot: method %s has no pilot", est->name); goto done; }
            if ((rc = est->pilot(e, b, clean, proxy, st, err))) goto done;
        } else {
            fl_proxy_lookup(e, b, proxy);
            if (first_visit) fl_proxy_fill_from_loss(B, clean, proxy);
        }
        for (int i = 0; i < B; i++) e->last_proxy[i] = proxy[i];
    }
    // 3. oracle variances (benchmark-only upper bound)
    float* oracle = NULL;
    if (needs & FL_NEEDS_ORACLE) {
        oracle = fl_host_grow(&e->oracle_v, (size_t)B * sizeof(float));
        if ((rc = fl_engine_oracle(e, b, e->o.oracle_queries, oracle, st, err))) goto done;
        for (int i = 0; i < B; i++) e->last_oracle[i] = oracle[i];
    }
    // 4. allocation of what is left of the step's budget * B queries
    int n_min, even;
    long N = fl_engine_alloc_total(e, B, st->queries_clean + st->queries_pilot, &n_min, &even);
    int* n = fl_host_grow(&e->n, (size_t)B * sizeof(int));
    fl_alloc_input in = {.B = B, .N = N, .loss = clean, .proxy = proxy, .oracle_v = oracle,
                         .epoch = e->epoch, .step = e->step};
    FL_NVTX_PUSH("allocation");
    rc = engine_allocate(e, &in, n, st, err);
    FL_NVTX_POP();
    if (rc) goto done;
    // 5. the estimator's step, and the proxy of this visit
    int want_proxy = (needs & FL_NEEDS_PROXY) && e->o.proxy == FL_PROXY_PREV;
    long total = 0;
    for (int i = 0; i < B; i++) total += n[i];
    fl_step_plan plan = {.n = n, .N = total, .clean = clean,
                         .fresh_proxy = want_proxy ? fl_host_grow(&e->fresh, (size_t)B * sizeof(float)) : NULL};
    plan_slices(e, B, &plan);
    double flops_before = st->flops;
    if ((rc = est->step(e, b, &plan, st, err))) goto done;
    // 6. the reductions and the accounting (the clean loss where there is one)
    finish_step(e, b, &plan, st, own_flops + (st->flops - flops_before));
    if (want_proxy) fl_proxy_store(e, b, plan.fresh_proxy);
    st->queries += st->queries_clean + st->queries_pilot + st->queries_oracle;
done:
    e->step++;
    return rc;
}

// ---------------------------------------------------------------------------------------
// data parallelism (docs/SCALING.md): slices, their partial gradients, and the reductions

int fl_engine_distribute(fl_engine* e, fl_dist* dist, int slices, fl_err* err) {
    int N = dist ? dist->size : 1;
    if (slices < 1) return fl_fail(err, "--slices: expected a positive number of slices per batch, found %d", slices);
    if (slices < N)
        return fl_fail(err, "--slices %d: a run on %d ranks needs at least %d slices (each rank computes whole slices, "
                       "and the numbers depend on the slices, never on the ranks; docs/SCALING.md)", slices, N, N);
    e->dist = dist;
    e->slices = slices;
    return 0;
}

void fl_engine_own_slices(const fl_engine* e, int* s_lo, int* s_hi) {
    int N = e->dist ? e->dist->size : 1, r = e->dist ? e->dist->rank : 0;
    *s_lo = fl_dist_slice_lo(e->slices, N, r);
    *s_hi = fl_dist_slice_lo(e->slices, N, r + 1);
}

fl_batch fl_batch_slice(const fl_engine* e, const fl_batch* b, int s, int* d0) {
    int lo = fl_slice_begin(b->B, e->slices, s), hi = fl_slice_begin(b->B, e->slices, s + 1);
    *d0 = lo;
    fl_batch sb = {.B = hi - lo, .x = b->x + (long)lo * e->model->in_dim, .y = b->y + lo,
                   .y_host = b->y_host + lo, .index = b->index ? b->index + lo : NULL};
    return sb;
}

static int world_size(const fl_engine* e) { return e->dist ? e->dist->size : 1; }

void fl_engine_slice_grad_begin(fl_engine* e, int s) {
    fl_params* p = &e->model->params;
    int s_lo, s_hi;
    fl_engine_own_slices(e, &s_lo, &s_hi);
    if (e->slices == 1 || s == s_lo || !p->grad) return;  // the first slice writes params.grad itself
    int j = world_size(e) == 1 ? 1 : s - s_lo;           // one process: one scratch partial, added at once
    if (j >= e->n_grad_parts) {
        e->grad_parts = fl_realloc(e->grad_parts, (size_t)(j + 1) * sizeof(fl_dev_buf));
        for (int k = e->n_grad_parts; k <= j; k++) e->grad_parts[k] = (fl_dev_buf){0};
        e->n_grad_parts = j + 1;
    }
    float* part = fl_dev_grow(e->ops, &e->grad_parts[j], p->total * sizeof(float));
    e->ops->zero(part, p->total * sizeof(float));
    e->grad_main = p->grad;
    p->grad = part;
}

void fl_engine_slice_grad_end(fl_engine* e, int s) {
    fl_params* p = &e->model->params;
    int s_lo, s_hi;
    fl_engine_own_slices(e, &s_lo, &s_hi);
    if (e->slices == 1 || s == s_lo || !e->grad_main) return;
    float* part = p->grad;
    p->grad = e->grad_main;
    e->grad_main = NULL;
    // one process: p_0 + p_1 + ... in slice order, exactly the fold of dist.h
    if (world_size(e) == 1) e->ops->axpy(p->grad, 1.0f, part, (long)p->total);
}

// Packs (or unpacks) the trainable tensors of a gradient-shaped buffer into len floats.
static long pack_trainable(const fl_params* p, const fl_ops* ops, float* packed, float* full, int unpack) {
    long at = 0;
    for (int t = 0; t < p->n; t++) {
        if (!p->t[t].trainable) continue;
        size_t bytes = p->t[t].numel * sizeof(float);
        if (packed) {
            if (unpack) ops->copy(full + p->t[t].offset, packed + at, bytes);
            else ops->copy(packed + at, full + p->t[t].offset, bytes);
        }
        at += (long)p->t[t].numel;
    }
    return at;
}

void fl_engine_reduce_grad(fl_engine* e) {
    fl_params* p = &e->model->params;
    if (!p->grad || world_size(e) == 1) {
        // one process adds its slices as it goes (fl_engine_slice_grad_end); count the vector
        if (e->dist) e->dist->bytes_reduced += e->slices > 1 ? 4.0 * (double)fl_params_trainable(p) : 0.0;
        return;
    }
    int s_lo, s_hi;
    fl_engine_own_slices(e, &s_lo, &s_hi);
    int own = s_hi - s_lo;
    long len = pack_trainable(p, e->ops, NULL, NULL, 0);
    float* packed = fl_dev_grow(e->ops, &e->pack_d, (size_t)own * len * sizeof(float));
    float* parts[own > 0 ? own : 1];
    for (int j = 0; j < own; j++) {
        parts[j] = packed + (long)j * len;
        float* src = j == 0 ? p->grad : (float*)e->grad_parts[j].p;
        pack_trainable(p, e->ops, parts[j], src, 0);
    }
    fl_dist_fold(e->dist, e->ops, 1, parts, e->slices, len, parts[0]);
    pack_trainable(p, e->ops, parts[0], p->grad, 1);
}

float* fl_engine_dir_parts(fl_engine* e, int K) {
    int s_lo, s_hi;
    fl_engine_own_slices(e, &s_lo, &s_hi);
    size_t n = (size_t)(s_hi - s_lo) * (K > 0 ? K : 1);
    float* parts = fl_host_grow(&e->dir_parts, n * sizeof(float));
    memset(parts, 0, n * sizeof(float));
    return parts;
}

void fl_engine_reduce_dirs(fl_engine* e, int K, float* parts, uint32_t stream) {
    int s_lo, s_hi;
    fl_engine_own_slices(e, &s_lo, &s_hi);
    int own = s_hi - s_lo;
    float* s_dir = parts;  // the fold lands in the first row
    if (e->slices > 1 || world_size(e) > 1) {
        float* rows[own > 0 ? own : 1];
        for (int j = 0; j < own; j++) rows[j] = parts + (long)j * K;
        fl_dist one = {.size = 1};  // a world of one without a launcher
        fl_dist_fold(e->dist ? e->dist : &one, e->ops, 0, rows, e->slices, K, s_dir);
    }
    fl_dir_keep(e, K, s_dir, stream);
    fl_params* p = &e->model->params;
    if (p->grad)
        for (int k = 0; k < K; k++) fl_dir_add(e, p->grad, s_dir[k], (uint32_t)k, stream);
}

int fl_engine_chunk_rows(fl_engine* e, int B, size_t extra_bytes_per_query) {
    if (e->o.max_rows > 0) return e->o.max_rows;
    size_t per = e->model->vt->bytes_per_query(e->model) + extra_bytes_per_query;
    size_t avail = e->ops->mem_available();
    // keep half of what is free for the rest of the process and the allocator's slack
    size_t rows = per ? (avail / 2) / per : (size_t)1 << 20;
    if (per && e->ops->chunk_bytes && e->ops->chunk_bytes / per < rows) rows = e->ops->chunk_bytes / per;
    if (rows < (size_t)B) rows = (size_t)B;
    if (rows > (size_t)1 << 22) rows = (size_t)1 << 22;
    return (int)rows;
}

long fl_engine_alloc_total(const fl_engine* e, int B, long spent, int* n_min, int* even) {
    long left = (long)e->o.budget * B - spent;
    return e->est->alloc_total(e, left > 0 ? left : 0, n_min, even);
}

// 1 when n (B) differs from what the uniform rule (uniform.c) gives for the same input:
// the allocation then depended on the data. (With pairs at an odd per-datum share, uniform
// itself hands out two values, rotating with the step; an allocator choosing by data which
// datum gets which value is not uniform, although the multiset of counts is the same.)
static int allocation_is_nonuniform(const fl_allocator* a, const fl_alloc_input* in, const int* n) {
    extern const fl_allocator_vt fl_alloc_uniform;
    if (a->vt == &fl_alloc_uniform) return 0;
    int* u = fl_malloc((size_t)in->B * sizeof(int));
    fl_err err;
    int differs = fl_alloc_uniform.allocate(NULL, in, &a->opts, u, &err) != 0;
    for (int i = 0; i < in->B && !differs; i++) differs = n[i] != u[i];
    free(u);
    return differs;
}

// Runs the allocator and records the stats.
static int engine_allocate(fl_engine* e, const fl_alloc_input* in, int* n, fl_step_stats* st, fl_err* err) {
    double t0 = fl_now();
    int rc = fl_allocator_run(e->alloc, in, n, err);
    st->t_alloc += fl_now() - t0;
    if (rc) return rc;
    st->n_lo = st->n_hi = n[0];
    for (int i = 0; i < in->B; i++) {
        if (n[i] < st->n_lo) st->n_lo = n[i];
        if (n[i] > st->n_hi) st->n_hi = n[i];
        e->last_n[i] = n[i];
    }
    st->nonuniform = allocation_is_nonuniform(e->alloc, in, n);
    return 0;
}

void fl_proxy_lookup(fl_engine* e, const fl_batch* b, float* proxy) {
    for (int i = 0; i < b->B; i++) {
        int64_t k = b->index ? b->index[i] : -1;
        proxy[i] = (k >= 0 && k < e->proxy_n) ? e->proxy_table[k] : NAN;
    }
}

// One visit's proxy comes from as few as one antithetic pair: a chi-square with one degree of
// freedom, far too noisy to allocate by. The table keeps an exponential moving average over
// visits (weight proxy_ema on the newest), which settles on the datum's variance while the
// model moves slowly.
void fl_proxy_store(fl_engine* e, const fl_batch* b, const float* proxy) {
    float a = e->o.proxy_ema > 0.f && e->o.proxy_ema <= 1.f ? e->o.proxy_ema : 1.f;
    for (int i = 0; i < b->B; i++) {
        int64_t k = b->index ? b->index[i] : -1;
        if (k < 0 || k >= e->proxy_n || !isfinite(proxy[i])) continue;
        float old = e->proxy_table[k];
        e->proxy_table[k] = isfinite(old) ? (1.f - a) * old + a * proxy[i] : proxy[i];
    }
}

int fl_proxy_first_visit(const fl_engine* e, const fl_batch* b) {
    if (!(fl_allocator_needs(e->alloc) & FL_NEEDS_PROXY) || e->o.proxy != FL_PROXY_PREV) return 0;
    for (int i = 0; i < b->B; i++) {
        int64_t k = b->index ? b->index[i] : -1;
        if (k < 0 || k >= e->proxy_n || !isfinite(e->proxy_table[k])) return 1;
    }
    return 0;
}

// On a datum's first visit there is no previous-visit statistic. Its clean loss l_i is known
// (the clean pass is run, and counted, whenever some datum is new): with p = exp(-l_i) the
// probability of the true class, |softmax - onehot|^2 lies in [(1-p)^2, 2(1-p)^2], and that
// vector is the gradient of l_i with respect to the logits, which every perturbed layer's
// gradient passes through. So v_i is taken proportional to (1-p)^2. Where the batch also has
// known proxies, the new ones are put on their scale (same ratio of sums), so the two kinds
// are comparable; where none is known the scale does not matter (allocation is invariant to it).
void fl_proxy_fill_from_loss(int B, const float* clean, float* proxy) {
    double known = 0.0, known_q = 0.0;
    int n_known = 0;
    for (int i = 0; i < B; i++) {
        if (!isfinite(proxy[i]) || !isfinite(clean[i])) continue;
        double q = 1.0 - exp(-(double)clean[i]);
        known += proxy[i];
        known_q += q * q;
        n_known++;
    }
    double scale = n_known && known_q > 0.0 && known > 0.0 ? known / known_q : 1.0;
    for (int i = 0; i < B; i++) {
        if (isfinite(proxy[i]) || !isfinite(clean[i])) continue;  // a NaN loss stays unknown
        double q = 1.0 - exp(-(double)clean[i]);
        proxy[i] = (float)(scale * q * q);
    }
}

double fl_engine_apply(fl_engine* e, fl_optim* o, int epoch) {
    fl_params* p = &e->model->params;
    if (p->grad) return fl_optim_step(o, p, epoch);
    FL_CHECK(e->dir_K > 0, "fl_engine_apply: no gradient buffer and no directions");
    return fl_optim_step_dirs(o, p, epoch, e->dir_K, e->dir_s, e->key0, e->key1, e->dir_stream, e->dir_step);
}
