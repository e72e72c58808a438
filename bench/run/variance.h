// variance.h: the estimator-quality study (`flbench variance`): for fixed batches at a fixed
// model state, the true batch gradient g by BP, then M independent estimates from every
// allocator and budget, and their relative MSE, cosine, bias and cost against g.
#pragma once
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_variance_cfg {
    fl_train_cfg t;           // data, model, weights, method (lr|mezo), scope, variants, seed
    char allocators[256];     // comma list, e.g. "uniform,neyman,flops,oracle"
    char budgets[128];        // comma list of queries per datum, e.g. "4,8,16,32,64"
    int reps;                 // M estimates per cell (>= 2)
    int batches;              // NB fixed batches
    int warmup;               // estimates per batch before measuring (fills the proxy table
                              // and trains flops on the stream of batches)
    int oracle_queries;       // extra queries per datum behind the measured v_i (predicted ratio)
    char out[512];            // one row per (allocator, budget, batch) and per (allocator, budget)
    char alloc_out[512];      // per-datum allocations of the last estimate ("" = none)
    char variant[64];         // label written in the variant column ("" = derived from options)
} fl_variance_cfg;

void fl_variance_cfg_default(fl_variance_cfg* c);
int fl_variance_run(const fl_variance_cfg* c, fl_err* err);

// One cell's numbers, also used by the tests.
typedef struct fl_variance_cell {
    double rel_mse, rel_mse_se;   // E|g_hat - g|^2 / |g|^2 and its standard error
    double cos_mean, cos_std;
    double bias_rel;              // |mean g_hat - g| / |g|
    double bias_se_rel;           // sqrt(tr Cov / M) / |g|: the standard error of that mean
    double bias_z;                // |mean - g|^2 / (tr Cov / M): about 1 when unbiased; with
                                  // tr Cov = 0, +inf if mean != g, 0 if mean == g
    double var_rel;               // tr Cov / |g|^2 of one estimate
    double queries, queries_oracle, alloc_ms;  // per estimate
    int n_lo, n_hi;
    double no_baseline;           // data per estimate left without a baseline (lr --baseline mean)
} fl_variance_cell;

// A cell's estimates accumulated one at a time: per coordinate the running mean and the sum
// of squared deviations from it (Welford's update), so that M identical estimates give a
// covariance trace of exactly 0, not the rounding left by E|x|^2 - |E x|^2.
typedef struct fl_variance_moments {
    size_t D;
    int M;             // estimates added
    double* mean;      // (D)
    double* m2;        // (D) sums of squared deviations from the running mean
} fl_variance_moments;

void fl_variance_moments_init(fl_variance_moments* a, size_t D);
void fl_variance_moments_reset(fl_variance_moments* a);
void fl_variance_moments_add(fl_variance_moments* a, const double* est);
void fl_variance_moments_free(fl_variance_moments* a);
// bias_rel, bias_se_rel, bias_z and var_rel of a cell from its M >= 2 estimates against the
// true gradient g (D); g2 = |g|^2 > 0.
void fl_variance_bias(const fl_variance_moments* a, const double* g, double g2, fl_variance_cell* cell);

#ifdef __cplusplus
}
#endif
