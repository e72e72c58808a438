// test_prompt.c: black-box prompt tuning (impl/models/prompt.c) with the engine's estimators:
//  - the prompt is A z: the model's clean loss is the box's loss at A z, and A has the
//    documented scale (entries N(0, 1/d): mean square near 1/d);
//  - the mean of many estimates of each estimator over z (lr, mezo, spsa1; uniform and an
//    allocator) is the true gradient within its standard error, on an analytic in-process box
//    (gradient known exactly) and on the numpy box across a process boundary (gradient by
//    central finite differences of its loss); the same check rejects a target 10% off;
//  - allocation is non-uniform from the first step when the data differ, and uniform when
//    they do not (the negative control);
//  - the box's counters: every query row is counted, and a box that fails makes the model
//    say why instead of returning numbers.
#include <unistd.h>
#include "../test.h"
#include "impl/backend/ops.h"
#include "impl/models/prompt.h"
#include "impl/estimators/estimator.h"
#include "impl/kernels/philox.h"

static const fl_ops* ops;

// ---------------------------------------------------------------------------------------
// an analytic black box: datum i's loss at prompt p (P*D) is s_i softplus(w_i . p + c_i), with
// w_i, c_i from Philox (datum, "ANLY") and s_i spread over [0.05, 4]; homogeneous: every datum
// is datum 0 (the same loss for all)

enum { AN_D = 3 };
typedef struct {
    int P;
    int heterogeneous;
    int fail_after;           // answer this many requests, then fail (-1: never)
    long requests;
} analytic_box;

static float an_draw(uint32_t i, uint32_t j) { return fl_normal_at(7, 11, j, i, 0x414e4c59u, 0); }

static double an_loss(const analytic_box* a, int i, const float* p, double* grad /* (P*D) nullable */) {
    int n = a->P * AN_D;
    if (!a->heterogeneous) i = 0;
    double u = 0.3 * an_draw((uint32_t)i, (uint32_t)n);
    for (int j = 0; j < n; j++) u += an_draw((uint32_t)i, (uint32_t)j) * p[j];
    double s = 0.05 + 3.95 * (double)(i % 7) / 6.0;
    double sp = u > 30 ? u : log1p(exp(u)), sig = 1.0 / (1.0 + exp(-u));
    if (grad)
        for (int j = 0; j < n; j++) grad[j] = s * sig * an_draw((uint32_t)i, (uint32_t)j);
    return s * sp;
}

static int an_setup(fl_blackbox* bb, const fl_bb_data* data, int P, int* D, double* flops, fl_err* err) {
    analytic_box* a = bb->impl;
    a->P = P;
    *D = AN_D;
    *flops = 0;
    return 0;
}

static int an_query(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax, double* compute_s,
                    fl_err* err) {
    analytic_box* a = bb->impl;
    if (a->fail_after >= 0 && a->requests >= a->fail_after) return fl_fail(err, "analytic box: gone after %ld requests", a->requests);
    a->requests++;
    for (int r = 0; r < req->n_rows; r++) {
        loss[r] = (float)an_loss(a, req->row_datum[r], req->prompts + (size_t)req->row_prompt[r] * a->P * AN_D, NULL);
        argmax[r] = 0;
    }
    *compute_s = 0;
    return 0;
}

static void an_destroy(fl_blackbox* bb) {
    free(bb->impl);
    free(bb);
}

static const fl_blackbox_vt analytic_vt = {"analytic", an_setup, an_query, an_destroy};

static fl_blackbox* analytic_new(int heterogeneous, int fail_after) {
    fl_blackbox* bb = calloc(1, sizeof *bb);
    analytic_box* a = calloc(1, sizeof *a);
    a->heterogeneous = heterogeneous;
    a->fail_after = fail_after;
    bb->vt = &analytic_vt;
    bb->impl = a;
    return bb;
}

// ---------------------------------------------------------------------------------------
// fixtures

typedef struct {
    int B;
    fl_batch b;
    float* x;                 // (B) datum ids
    int32_t* y;
    int64_t* index;
} id_batch;

static void batch_of_ids(id_batch* f, int B, int first) {
    f->B = B;
    f->x = malloc((size_t)B * sizeof(float));
    f->y = calloc((size_t)B, sizeof(int32_t));
    f->index = malloc((size_t)B * sizeof(int64_t));
    for (int i = 0; i < B; i++) {
        f->x[i] = (float)(first + i);
        f->index[i] = first + i;
    }
    f->b = (fl_batch){.B = B, .x = f->x, .y = f->y, .y_host = f->y, .index = f->index};
}

static void batch_free(id_batch* f) {
    free(f->x);
    free(f->y);
    free(f->index);
}

// A prompt model over box (P tokens, intrinsic dimension d, LR noise sigma), z set to a fixed
// non-zero point so that the gradient is not the one at the prompt 0.
static fl_model* prompt_model(fl_blackbox* box, int P, int d, float sigma, int n_data) {
    fl_err err = {{0}};
    float* x = calloc((size_t)n_data * 4, sizeof(float));
    int32_t* y = calloc((size_t)n_data, sizeof(int32_t));
    fl_bb_data data = {.n = n_data, .channels = 1, .height = 2, .width = 2, .n_classes = 2, .x = x, .y = y};
    int rc = fl_blackbox_setup(box, &data, P, &err);
    free(x);
    free(y);
    CHECK(rc == 0, "setup: %s", err.msg);
    if (rc) return NULL;
    fl_model* m = fl_prompt_model_new(ops, box, d, 1.0f, 2, 5, &err);
    CHECK(m != NULL, "prompt model: %s", err.msg);
    if (!m) return NULL;
    fl_model_init_sigma(m, sigma);
    CHECK(fl_model_set_scope(m, "all", &err) == 0, "scope: %s", err.msg);
    float* z = fl_param_data(&m->params, m->lin[0].w);
    for (int k = 0; k < d; k++) z[k] = 0.3f * fl_normal_at(3, 4, (uint64_t)k, 0, 0x5a5a5a5au, 0);
    return m;
}

static const float* projection(const fl_model* m) {
    return fl_param_data(&m->params, fl_params_find(&m->params, "prompt.projection"));
}

// The true gradient of the batch-mean loss over z, from the analytic box: A^T mean_i grad_p l_i.
static void analytic_gradient(fl_model* m, const analytic_box* a, const id_batch* f, int d, double* g) {
    int n = a->P * AN_D;
    const float* A = projection(m);
    const float* z = fl_param_data(&m->params, m->lin[0].w);
    float* p = calloc((size_t)n, sizeof(float));
    for (int j = 0; j < n; j++)
        for (int k = 0; k < d; k++) p[j] += A[(size_t)j * d + k] * z[k];
    double* gp = calloc((size_t)n, sizeof(double));
    double* gi = calloc((size_t)n, sizeof(double));
    for (int i = 0; i < f->B; i++) {
        an_loss(a, (int)f->index[i], p, gi);
        for (int j = 0; j < n; j++) gp[j] += gi[j] / f->B;
    }
    for (int k = 0; k < d; k++) {
        g[k] = 0;
        for (int j = 0; j < n; j++) g[k] += A[(size_t)j * d + k] * gp[j];
    }
    free(p);
    free(gp);
    free(gi);
}

// Mean clean loss of the batch through the model at its current z.
static double clean_loss(fl_model* m, const id_batch* f) {
    float* loss = malloc((size_t)f->B * sizeof(float));
    fl_fwd fw = {.x = f->x, .B = f->B, .Q = f->B, .labels = f->y, .loss = loss};
    m->vt->forward(m, &fw);
    double s = 0;
    for (int i = 0; i < f->B; i++) s += loss[i];
    free(loss);
    return s / f->B;
}

// The gradient over z by central differences of the model's clean loss, step h.
static void fd_gradient(fl_model* m, const id_batch* f, int d, float h, double* g) {
    float* z = fl_param_data(&m->params, m->lin[0].w);
    for (int k = 0; k < d; k++) {
        float z0 = z[k];
        z[k] = z0 + h;
        double lp = clean_loss(m, f);
        z[k] = z0 - h;
        double lm = clean_loss(m, f);
        z[k] = z0;
        g[k] = (lp - lm) / (2.0 * (double)h);
    }
}

// Mean of M estimates against target * scale: ratio = |mean - g|^2 / (tr Cov / M), about 1 for
// an unbiased estimator (docs of tests/estimators_fx.h: mean 1, sd sqrt(2 / d_eff)).
static double unbiased_ratio(fl_model* m, id_batch* f, const char* method, const char* alloc, int budget, int M,
                             const double* target, double scale, int d) {
    fl_est_opts eo = fl_est_opts_default();
    eo.budget = budget;
    eo.mu = 1e-2f;
    eo.learn_sigma = 0;
    fl_alloc_opts ao = fl_alloc_opts_default();
    fl_err err = {{0}};
    fl_engine* e = fl_engine_new(ops, m, method, alloc, &ao, &eo, 4096, 99, &err);
    CHECK(e != NULL, "%s/%s: %s", method, alloc, err.msg);
    if (!e) return INFINITY;
    double* sum = calloc((size_t)d, sizeof(double));
    double* sq = calloc((size_t)d, sizeof(double));
    const float* grad = fl_param_grad(&m->params, m->lin[0].w);
    for (int r = 0; r < M; r++) {
        fl_step_stats st;
        CHECK(fl_engine_grad(e, &f->b, &st, &err) == 0, "%s: %s", method, err.msg);
        for (int k = 0; k < d; k++) {
            sum[k] += grad[k];
            sq[k] += (double)grad[k] * grad[k];
        }
    }
    double bias2 = 0, trace = 0;
    for (int k = 0; k < d; k++) {
        double mean = sum[k] / M;
        bias2 += (mean - scale * target[k]) * (mean - scale * target[k]);
        trace += (sq[k] / M - mean * mean) * M / (M - 1);
    }
    double ratio = bias2 / (trace / M);
    printf("    %s/%s budget %d, M %d, target x%.2f: ratio %.3f\n", method, alloc, budget, M, scale, ratio);
    free(sum);
    free(sq);
    fl_engine_free(e);
    return ratio;
}

// Each estimator unbiased against `g`, and the same check rejecting 1.1 g. The acceptance bound
// 3 is beyond the ratio's spread for the d_eff of these estimates (sd sqrt(2 / d_eff) <= 1);
// the control's bias of 10% adds M |0.1 g|^2 / tr Cov, which M is chosen to make large.
static void check_estimators(fl_model* m, id_batch* f, const double* g, int d, int M) {
    const char* methods[][2] = {{"lr", "uniform"}, {"lr", "neyman"}, {"mezo", "uniform"}, {"mezo", "flops"},
                                {"spsa1", "uniform"}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        double ok = unbiased_ratio(m, f, methods[i][0], methods[i][1], 8, M, g, 1.0, d);
        CHECK(ok < 3.0, "%s/%s: mean deviates from the gradient by %.2f x its standard error^2", methods[i][0],
              methods[i][1], ok);
        double off = unbiased_ratio(m, f, methods[i][0], methods[i][1], 8, M, g, 1.1, d);
        CHECK(off > 3.0, "%s/%s: a target 10%% off passes (ratio %.2f): the check cannot see a bias", methods[i][0],
              methods[i][1], off);
    }
}

// ---------------------------------------------------------------------------------------
// tests

static void test_prompt_is_projection(void) {
    int P = 2, d = 64;
    fl_blackbox* box = analytic_new(0, -1);
    analytic_box* a = box->impl;
    fl_model* m = prompt_model(box, P, d, 1e-2f, 16);
    if (!m) return;
    id_batch f;
    batch_of_ids(&f, 5, 3);
    const float* A = projection(m);
    const float* z = fl_param_data(&m->params, m->lin[0].w);
    int n = P * AN_D;
    float p[64];
    double ms = 0;
    for (int j = 0; j < n; j++) {
        p[j] = 0;
        for (int k = 0; k < d; k++) {
            p[j] += A[(size_t)j * d + k] * z[k];
            ms += (double)A[(size_t)j * d + k] * A[(size_t)j * d + k] / ((double)n * d);
        }
    }
    double want = 0;
    for (int i = 0; i < f.B; i++) want += an_loss(a, (int)f.index[i], p, NULL) / f.B;
    double got = clean_loss(m, &f);
    CHECK(fabs(got - want) < 1e-5 * fabs(want), "clean loss %.8g, the box's loss at A z %.8g", got, want);
    // n d = 384 entries of variance 1/d: their mean square is 1/d within about 4 sqrt(2/384)
    CHECK(fabs(ms * d - 1.0) < 0.3, "mean square of A's entries %.4g, expected 1/d = %.4g", ms, 1.0 / d);
    CHECK(box->queries == f.B && box->requests == 1, "box counted %ld rows in %ld requests, expected %d in 1", box->queries,
          box->requests, f.B);
    batch_free(&f);
    fl_model_free(m);
}

static void test_prompt_unbiased_analytic(void) {
    int P = 2, d = 8;
    fl_blackbox* box = analytic_new(1, -1);
    fl_model* m = prompt_model(box, P, d, 1e-2f, 64);
    if (!m) return;
    id_batch f;
    batch_of_ids(&f, 8, 0);
    double g[64];
    analytic_gradient(m, box->impl, &f, d, g);
    double fd[64];  // the finite differences the numpy test relies on agree with the exact gradient
    fd_gradient(m, &f, d, 1e-2f, fd);
    double err2 = 0, g2 = 0;
    for (int k = 0; k < d; k++) {
        err2 += (fd[k] - g[k]) * (fd[k] - g[k]);
        g2 += g[k] * g[k];
    }
    CHECK(sqrt(err2 / g2) < 1e-3, "central differences off the exact gradient by %.3g relative", sqrt(err2 / g2));
    check_estimators(m, &f, g, d, 1500);
    batch_free(&f);
    fl_model_free(m);
}

// The numpy box across a real process boundary; the gradient by central differences.
static void test_prompt_unbiased_numpy(void) {
    if (system("python3 -c 'import numpy' 2>/dev/null") != 0) SKIP("python3 with numpy is not installed");
    if (access("bench/blackbox/blackbox_numpy.py", R_OK) != 0) SKIP("bench/blackbox/blackbox_numpy.py is missing");
    fl_err err = {{0}};
    fl_blackbox* box = fl_blackbox_process_new("python3 bench/blackbox/blackbox_numpy.py", 60.0, &err);
    CHECK(box != NULL, "process box: %s", err.msg);
    if (!box) return;
    int n = 16, P = 2, d = 8;
    float* x = malloc((size_t)n * 28 * 28 * sizeof(float));
    int32_t* y = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        y[i] = i % 10;
        for (int j = 0; j < 28 * 28; j++) x[(size_t)i * 784 + j] = fl_normal_at(1, 2, (uint64_t)j, (uint32_t)i, 0x494d4147u, 0);
    }
    fl_bb_data data = {.n = n, .channels = 1, .height = 28, .width = 28, .n_classes = 10, .x = x, .y = y};
    int rc = fl_blackbox_setup(box, &data, P, &err);
    free(x);
    free(y);
    CHECK(rc == 0, "setup: %s", err.msg);
    if (rc) {
        fl_blackbox_free(box);
        return;
    }
    fl_model* m = fl_prompt_model_new(ops, box, d, 1.0f, 10, 5, &err);
    CHECK(m != NULL, "prompt model: %s", err.msg);
    if (!m) return;
    fl_model_init_sigma(m, 1e-2f);
    CHECK(fl_model_set_scope(m, "all", &err) == 0, "scope: %s", err.msg);
    float* z = fl_param_data(&m->params, m->lin[0].w);
    for (int k = 0; k < d; k++) z[k] = 0.3f * fl_normal_at(3, 4, (uint64_t)k, 0, 0x5a5a5a5au, 0);
    id_batch f;
    batch_of_ids(&f, 8, 4);
    double g[64];
    fd_gradient(m, &f, d, 1e-2f, g);
    check_estimators(m, &f, g, d, 1200);
    CHECK(m->failure == NULL, "box failed: %s", m->failure ? m->failure : "");
    batch_free(&f);
    fl_model_free(m);
}

// The first step's allocation: non-uniform when the data's losses differ, uniform when not.
static void test_prompt_allocation_first_step(void) {
    const char* allocs[] = {"neyman", "flops", "loss"};
    for (int het = 0; het <= 1; het++)
        for (size_t a = 0; a < sizeof allocs / sizeof allocs[0]; a++) {
            fl_blackbox* box = analytic_new(het, -1);
            fl_model* m = prompt_model(box, 2, 8, 1e-2f, 64);
            if (!m) return;
            id_batch f;
            batch_of_ids(&f, 14, 0);
            fl_est_opts eo = fl_est_opts_default();
            eo.budget = 8;
            fl_alloc_opts ao = fl_alloc_opts_default();
            fl_err err = {{0}};
            fl_engine* e = fl_engine_new(ops, m, "lr", allocs[a], &ao, &eo, 64, 1, &err);
            CHECK(e != NULL, "%s: %s", allocs[a], err.msg);
            fl_step_stats st;
            CHECK(e && fl_engine_grad(e, &f.b, &st, &err) == 0, "%s: %s", allocs[a], err.msg);
            if (e) {
                printf("    %s, %s data: n_i from %d to %d\n", allocs[a], het ? "heterogeneous" : "identical", st.n_lo,
                       st.n_hi);
                if (het) CHECK(st.nonuniform == 1, "%s: uniform allocation at the first step on heterogeneous data", allocs[a]);
                else CHECK(st.nonuniform == 0, "%s: identical data got a non-uniform allocation (n %d..%d)", allocs[a],
                           st.n_lo, st.n_hi);
            }
            fl_engine_free(e);
            batch_free(&f);
            fl_model_free(m);
        }
}

static void test_prompt_box_failure(void) {
    fl_blackbox* box = analytic_new(0, 1);
    fl_model* m = prompt_model(box, 2, 8, 1e-2f, 16);
    if (!m) return;
    id_batch f;
    batch_of_ids(&f, 4, 0);
    double l1 = clean_loss(m, &f);
    CHECK(isfinite(l1) && m->failure == NULL, "first request: loss %g, failure %s", l1, m->failure ? m->failure : "none");
    double l2 = clean_loss(m, &f);
    CHECK(isnan(l2), "after the box failed the loss is %g, expected NaN", l2);
    CHECK(m->failure && strstr(m->failure, "gone after 1 requests"), "failure: %s", m->failure ? m->failure : "none");
    batch_free(&f);
    fl_model_free(m);
}

int main(void) {
    ops = fl_cpu_ops();
    RUN(test_prompt_is_projection);
    RUN(test_prompt_unbiased_analytic);
    RUN(test_prompt_allocation_first_step);
    RUN(test_prompt_box_failure);
    RUN(test_prompt_unbiased_numpy);
    TEST_EXIT();
}
