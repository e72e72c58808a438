// gradcmp.h: comparing gradient estimates with the exact BP gradient, shared by the
// estimator-quality study (variance.c) and the tracking of variance during training (track.c).
//   - the compared part of the parameter buffer (weights and biases the estimator perturbs);
//   - reading params.grad over it as doubles;
//   - the per-datum variances v_i measured with the oracle (fl_engine_oracle);
//   - the variance ratio against uniform that Neyman allocation can reach, continuous and for
//     the integer allocation with its floors (docs/METHOD.md, "The allocation problem").
#pragma once
#include <stddef.h>
#include "../../impl/estimators/estimator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_GRAD_MASK_MAX 512

// (offset, length) ranges of the parameter buffer; total = their summed length D.
typedef struct fl_grad_mask {
    size_t off[FL_GRAD_MASK_MAX], len[FL_GRAD_MASK_MAX];
    int n;
    size_t total;
} fl_grad_mask;

// The compared tensors of `method`: the scoped layers' weights and biases for lr, every
// trainable tensor but log sigma for mezo (log sigma has no BP gradient).
void fl_grad_mask_build(const fl_model* m, const char* method, fl_grad_mask* mk);
// params.grad over the mask into out (D doubles); host is scratch of params.total floats.
void fl_grad_mask_read(const fl_model* m, const fl_grad_mask* mk, float* host, double* out);
double fl_dot(const double* a, const double* b, size_t n);

// v_out (B): per-datum variance of one query's contribution, measured by the engine's oracle
// with `queries` extra queries per datum (mezo: queries / 2 directions).
int fl_measure_v(fl_engine* oracle, const char* method, const fl_batch* b, int queries, float* v_out,
                 fl_err* err);
// (sum_i sqrt v_i)^2 / (B sum_i v_i): Neyman's variance against uniform's (1 when all v_i = 0).
double fl_predicted_gain(const float* v, int B);
// The same for integer allocations of N units with floors n_min (even if asked):
// J(Neyman, rounded) / J(uniform), J(n) = sum_i v_i / n_i. 1 when it cannot be formed.
double fl_predicted_gain_int(const float* v, int B, long N, int n_min, int even);

#ifdef __cplusplus
}
#endif
