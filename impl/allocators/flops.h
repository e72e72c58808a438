// flops.h: extra entry points of the learned Gaussian allocator (flops.c), for logs and tests.
// The allocator itself is used through the registry like any other ("flops"); this header
// reads its learned parameters and exposes the two pieces of its training that tests check:
// the log-density of the allocation Gaussian with its exact gradient, and the score-function
// estimate of the gradient of the (normalised) proxy objective.
//
// phi = (a, c, log l, log v): slope and intercept of the mean m_i = a*f_i + c over the
// standardised feature f, log length-scale and log amplitude of the RBF covariance.
#pragma once
#include <stdint.h>
#include "allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { FL_PHI_A = 0, FL_PHI_C = 1, FL_PHI_LOG_L = 2, FL_PHI_LOG_V = 3, FL_PHI_N = 4 };

typedef struct fl_flops_info {
    double phi[FL_PHI_N];   // a, c, log l, log v
    double feature_mean;    // mean and standard deviation of the raw feature (log proxy, or
    double feature_sd;      // clean loss) in the last call; 0 sd: constant feature, f = 0.
                            // Slope per unit of raw feature: a / feature_sd.
    double objective;       // mean of J(n)/J(uniform) over the last training iteration's
                            // samples (NaN before any training)
    long adam_steps;        // Adam updates taken so far
    long calls;             // allocate() calls so far
} fl_flops_info;

// Copies the state of a live "flops" allocator into out. Error if a is not a flops allocator.
int fl_flops_get_info(const fl_allocator* a, fl_flops_info* out, fl_err* err);

// log N(u; m, K) for m_i = a*f_i + c, K = v*(R + jitter*I), R_ij = exp(-(f_i-f_j)^2/(2 l^2)),
// and its exact gradient with respect to phi (grad may be NULL). f, u: (B). phi: (4).
int fl_flops_log_density(const double* f, int B, const double phi[FL_PHI_N], const double* u,
                         double* logp, double grad[FL_PHI_N], fl_err* err);

// The training step's estimate, exactly as the allocator computes it: draws mc samples
// u_s ~ N(m, K) with Philox (key seed, rows row0..row0+mc-1 of the allocator's stream at step),
// turns each into continuous budgets n_s (exp(u_s), water-filled at n_min, summing to N) and
// returns objective = mean_s J(n_s)/J(uniform) and grad = the score-function estimate of
// grad_phi E[J/J(uniform)] with the leave-one-out baseline. f, vhat: (B); mc >= 2.
int fl_flops_objective_grad(const double* f, const double* vhat, int B, long N, int n_min,
                            int even, const double phi[FL_PHI_N], int mc, uint64_t seed,
                            long step, uint32_t row0, double* objective, double grad[FL_PHI_N],
                            fl_err* err);

// The continuous step of fl_alloc_proportional (defined in round.c): x_i = max(floor,
// lambda*w_i) with sum_i x_i = total. weight, x: (B). Needs total >= B*floor, weights >= 0.
int fl_alloc_waterfill(const double* weight, int B, double total, double floor_, double* x,
                       fl_err* err);

#ifdef __cplusplus
}
#endif
