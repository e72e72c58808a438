// estimators_fx.h: fixtures of the estimator tests (test_estimators.c, test_spsa1.c): a CPU
// backend, small MLPs and batches of Philox data, the BP gradient, and the unbiasedness check
// (the mean of many estimates against the BP gradient, in units of its standard error).
#pragma once
#include "test.h"
#include "impl/backend/ops.h"
#include "impl/models/model.h"
#include "impl/estimators/estimator.h"
#include "impl/kernels/philox.h"

static const fl_ops* ops;

// ---------------------------------------------------------------------------------------
// fixtures

typedef struct {
    int B, in, classes;
    float* x;          // (B, in) host
    int32_t* y;        // (B) host
    int64_t* idx;
    float* x_d;
    int32_t* y_d;
    fl_batch b;
} batch_fx;

static float gauss(uint64_t seed, uint64_t i) {
    return fl_normal_at((uint32_t)seed, 77, i, 0, 0x7e57u, 0);
}

static void batch_make(batch_fx* f, int B, int in, int classes, uint64_t seed) {
    f->B = B; f->in = in; f->classes = classes;
    f->x = fl_malloc((size_t)B * in * sizeof(float));
    f->y = fl_malloc((size_t)B * sizeof(int32_t));
    f->idx = fl_malloc((size_t)B * sizeof(int64_t));
    for (long i = 0; i < (long)B * in; i++) f->x[i] = gauss(seed, (uint64_t)i);
    for (int i = 0; i < B; i++) { f->y[i] = (i * 7 + 3) % classes; f->idx[i] = i; }
    f->x_d = fl_ops_upload_new(ops, f->x, (size_t)B * in * sizeof(float));
    f->y_d = fl_ops_upload_new(ops, f->y, (size_t)B * sizeof(int32_t));
    f->b = (fl_batch){.B = B, .x = f->x_d, .y = f->y_d, .y_host = f->y, .index = f->idx};
}

static void batch_free(batch_fx* f) {
    ops->free(f->x_d); ops->free(f->y_d);
    free(f->x); free(f->y); free(f->idx);
}

static fl_model* mlp(const char* spec, const char* act, uint64_t seed) {
    fl_err err;
    fl_model* m = fl_mlp_new(ops, spec, act, &err);
    if (!m) { printf("    %s\n", err.msg); exit(2); }
    fl_model_init_weights(m, seed);
    fl_model_init_sigma(m, 1e-3f);
    return m;
}

// Gradient buffer (host copy) of the weight and bias tensors only, concatenated.
static int wb_grad(const fl_model* m, double* out) {
    const fl_params* p = &m->params;
    float* h = fl_malloc(p->total * sizeof(float));
    ops->download(h, p->grad, p->total * sizeof(float));
    int n = 0;
    for (int t = 0; t < p->n; t++) {
        if (p->t[t].kind == FL_KIND_LOGSIGMA) continue;
        for (size_t i = 0; i < p->t[t].numel; i++) out[n++] = h[p->t[t].offset + i];
    }
    free(h);
    return n;
}

static double dot(const double* a, const double* b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static fl_engine* engine(fl_model* m, const char* method, const char* alloc, int budget, uint64_t seed,
                         const fl_est_opts* eo_in) {
    fl_est_opts eo = eo_in ? *eo_in : fl_est_opts_default();
    eo.budget = budget;
    fl_alloc_opts ao = fl_alloc_opts_default();
    fl_err err;
    fl_engine* e = fl_engine_new(ops, m, method, alloc, &ao, &eo, 1000, seed, &err);
    if (!e) { printf("    %s\n", err.msg); exit(2); }
    return e;
}

// BP gradient of the batch-mean loss (weights and biases), into g; returns its length.
static int bp_gradient(fl_model* m, batch_fx* f, double* g) {
    fl_engine* e = engine(m, "bp", "uniform", 1, 1, NULL);
    fl_step_stats st;
    fl_err err;
    CHECK(fl_engine_grad(e, &f->b, &st, &err) == 0, "bp: %s", err.msg);
    int n = wb_grad(m, g);
    fl_engine_free(e);
    return n;
}

// ---------------------------------------------------------------------------------------
// unbiasedness

// Mean of M estimates against the BP gradient: ratio = |mean - g|^2 / (tr Cov / M).
// For an unbiased estimator, mean - g is (by the central limit theorem over M) Gaussian with
// covariance Cov / M, so the ratio is sum_j lambda_j chi2_1 / sum_j lambda_j over the
// eigenvalues lambda_j of Cov: mean 1, standard deviation sqrt(2 / d_eff), where
// d_eff = (tr Cov)^2 / tr(Cov^2) is the effective number of independent directions (the
// covariance of a forward-gradient estimate is dominated by few directions, so d_eff is far
// below the parameter count). A bias b adds about M |b|^2 / tr Cov, so the bias a check can
// see shrinks as 1/sqrt(M). d_eff is estimated from the sample covariance, less the
// (tr S)^2 / (M - 1) by which tr(S^2) overestimates tr(Cov^2).
// target_scale scales the BP gradient the mean is compared with: 1 for the real check, another
// value for a negative control that the check must reject.
typedef struct {
    double ratio;   // |mean - g|^2 / (tr Cov / M)
    double d_eff;   // (tr Cov)^2 / tr(Cov^2)
} unbiased_stat;

static unbiased_stat unbiased_stat_of(fl_model* m, batch_fx* f, const char* method, const char* alloc, int budget,
                                      int M, const fl_est_opts* eo, double target_scale) {
    double g[1024];
    int n = bp_gradient(m, f, g);
    for (int i = 0; i < n; i++) g[i] *= target_scale;
    fl_engine* e = engine(m, method, alloc, budget, 99, eo);
    double* sum = calloc((size_t)n, sizeof(double));
    double* outer = calloc((size_t)n * n, sizeof(double));  // (n, n) sum of est est^T
    double est[1024];
    for (int r = 0; r < M; r++) {
        fl_step_stats st;
        fl_err err;
        CHECK(fl_engine_grad(e, &f->b, &st, &err) == 0, "%s: %s", method, err.msg);
        wb_grad(m, est);
        for (int i = 0; i < n; i++) {
            sum[i] += est[i];
            for (int j = 0; j <= i; j++) outer[(size_t)i * n + j] += est[i] * est[j];
        }
    }
    double bias2 = 0, trace = 0, trace_sq = 0, g2 = dot(g, g, n);
    for (int i = 0; i < n; i++) {
        double mean = sum[i] / M;
        bias2 += (mean - g[i]) * (mean - g[i]);
        for (int j = 0; j <= i; j++) {
            double c = (outer[(size_t)i * n + j] / M - mean * (sum[j] / M)) * M / (M - 1);
            trace_sq += (i == j ? 1.0 : 2.0) * c * c;
            if (i == j) trace += c;
        }
    }
    double cov_sq = (trace_sq - trace * trace / (M - 1)) * (M - 1) / M;
    unbiased_stat s = {.ratio = bias2 / (trace / M), .d_eff = cov_sq > 0 ? trace * trace / cov_sq : 0};
    printf("    %s/%s budget %d, M %d: |mean-g|^2 = %.3g, tr(Cov)/M = %.3g, ratio %.3f, d_eff %.1f "
           "(sd of the ratio if unbiased %.3f), |g|^2 = %.3g\n",
           method, alloc, budget, M, bias2, trace / M, s.ratio, s.d_eff, s.d_eff > 0 ? sqrt(2 / s.d_eff) : 0, g2);
    free(sum);
    free(outer);
    fl_engine_free(e);
    return s;
}

static inline void check_unbiased_against(fl_model* m, batch_fx* f, const char* method, const char* alloc, int budget,
                                          int M, const fl_est_opts* eo, double target_scale, double* ratio_out) {
    *ratio_out = unbiased_stat_of(m, f, method, alloc, budget, M, eo, target_scale).ratio;
}

static inline void check_unbiased(fl_model* m, batch_fx* f, const char* method, const char* alloc, int budget, int M,
                                  const fl_est_opts* eo, double* ratio_out) {
    check_unbiased_against(m, f, method, alloc, budget, M, eo, 1.0, ratio_out);
}
