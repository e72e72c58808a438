// flops.c: the learned Gaussian allocator, FLOPS as docs/METHOD.md, "The allocation problem",
// states it (flops).
//
// Model. Per datum a feature f_i: the standardised log proxy variance (default), or the
// standardised clean loss (opts.flops_feature_loss). Standardised = minus the batch mean,
// divided by the batch standard deviation (f = 0 when the feature is constant), so that l and
// the slope a mean the same thing whatever the units of the proxy. Log-proportions
//     u ~ N(m, K),   m_i = a*f_i + c,   K = v * (R + JITTER*I),   R_ij = exp(-(f_i-f_j)^2/(2 l^2))
// with phi = (a, c, log l, log v). Budgets: n = water-fill(exp(u)) -- proportional to exp(u_i),
// never below n_min, summing to N (the continuous step of fl_alloc_proportional). The allocation
// itself takes u = m (or one sample when opts.flops_sample) and rounds with the shared
// fl_alloc_proportional.
//
// Objective. J(n) = sum_i v_hat_i / n_i on the continuous n, divided by its value at the uniform
// allocation, J_unif = (B/N) sum_i v_hat_i. The division changes no minimiser, but makes the
// objective dimensionless, so its gradient has the same scale whatever the units of the proxy
// (and Adam's epsilon never swamps a gradient made tiny by small variances).
//
// Training (each call, opts.flops_iters Adam steps with lr opts.flops_lr). Score function:
//     grad_phi E[J] = E[(J - b) grad_phi log N(u; m, K)]
// estimated with S = opts.flops_mc samples u_s = m + L z_s (K = L L^T, z_s ~ N(0, I) from
// Philox), b_s = leave-one-out mean (sum_{t != s} J_t)/(S-1), grad = (1/S) sum_s (J_s-b_s) g_s.
//
// Gradient of log N(u; m, K) = -B/2 log 2pi - 1/2 log det K - 1/2 r^T K^-1 r, with r = u - m (B):
//     d/dm = alpha := K^-1 r                                      (B)
//     d/dK = 1/2 (alpha alpha^T - K^-1)                           (B, B)
// chained through m = a f + c and K(l, v):
//     d/da     = f . alpha
//     d/dc     = sum_i alpha_i
//     d/dlog l = 1/2 (alpha^T D alpha - tr(K^-1 D)),  D = dK/dlog l, D_ij = v R_ij (f_i-f_j)^2/l^2
//     d/dlog v = 1/2 (alpha^T K alpha - B)  since dK/dlog v = K (the jitter scales with v too)
// With r = L z: alpha = L^-T z (one triangular solve) and alpha^T K alpha = z.z.
// The terms -1/2 tr(K^-1 D) and -B/2 do not depend on the sample, and with the leave-one-out
// baseline sum_s (J_s - b_s) = 0 exactly, so they cancel from the estimate: the training path
// skips them (saving the O(B^3) inverse); fl_flops_log_density computes them for the tests.
//
// Cost per training step: one Cholesky of the (B, B) K, O(B^3/3), plus O(B^2) per sample.
// No network queries.
//
// Jitter. R is positive semi-definite but numerically singular whenever features tie (unknown
// proxies all filled with the same mean, equal losses) or sit much closer than l. JITTER = 1e-6
// lifts its smallest eigenvalue to 1e-6, so the condition number of R + JITTER*I is at most
// (B + 1e-6)/1e-6 ~ 1e9 for B = 1024, and the double Cholesky keeps ~7 of its 16 digits. As a
// change of model it is negligible: independent noise of standard deviation sqrt(1e-6 v) =
// 3e-4 at v = 0.1 on the log-proportions, beside the exploration sqrt(v) = 0.3. It is relative
// to v so that dK/dlog v = K holds exactly and the ratio survives any learned v.
//
// Initial values. a = 0: the mean allocation is uniform, the conventional scheme, until the data
// say otherwise. c = 0: c shifts every u_i alike and cancels in the normalisation, so its value
// never matters (its expected gradient is zero; Adam only jitters it). l = 1: one standard
// deviation of the standardised feature, so data with similar features get correlated
// perturbations and the samples explore smooth reallocations along the feature. v = 0.1: samples
// move each budget by about +-30% (sqrt(0.1) = 0.32 in log) -- enough spread in J for the score
// function to see a slope, while sampled allocations stay close to the mean (J inflated by
// roughly v = 10%).
//
// Bounds. After each Adam step log l is kept in [log 0.01, log 100] (beyond that R is the
// identity or all ones to double precision on standardised features) and log v in [-20, 3]
// (v = 2e-9 keeps J differences far above double round-off; v = 20 already allows 100-fold
// random reallocations).
//
// Random numbers: fl_normal4 with key opts.seed and counter (element/4, row, FLOPS_STREAM,
// step), row = iteration * S + sample; the allocation sample (flops_sample) uses row iters * S.
// A call is a pure function of (seed, step, inputs, state).
#include "allocator.h"
#include "flops.h"
#include "../kernels/philox.h"
#include <math.h>
#include <string.h>

extern const fl_allocator_vt fl_alloc_flops;  // defined at the end of this file

#define FLOPS_STREAM 0xA110C0F1u
#define JITTER 1e-6
#define LOG_L_MIN (-4.605170185988091)  // log 0.01
#define LOG_L_MAX 4.605170185988091     // log 100
#define LOG_V_MIN (-20.0)
#define LOG_V_MAX 3.0
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8
#define LOG_2PI 1.8378770664093453

// Scratch memory, grown on demand.
typedef struct {
    int cap_b, cap_s;
    double* L;      // (B, B) row-major: K, then its lower Cholesky factor
    double* D;      // (B, B) dK/dlog l
    double* m;      // (B) mean
    double* z;      // (B) standard normals
    double* r;      // (B) L z
    double* w;      // (B) exp(u - max u)
    double* x;      // (B) continuous budgets
    double* alpha;  // (B) K^-1 r
    double* J;      // (S) objective per sample
    double* score;  // (S, 4) sample part of grad_phi log N
} flops_ws;

typedef struct {
    double phi[FL_PHI_N];
    double adam_m[FL_PHI_N], adam_v[FL_PHI_N];
    long adam_t;
    long calls;
    double feature_mean, feature_sd, objective;
    flops_ws ws;
    double* f;     // (B) standardised feature
    double* vhat;  // (B) proxy with unknowns filled
    int cap_f;
} flops_state;

static void ws_reserve(flops_ws* ws, int B, int S) {
    if (B > ws->cap_b) {
        size_t bb = (size_t)B * (size_t)B;
        ws->L = (double*)fl_realloc(ws->L, bb * sizeof(double));
        ws->D = (double*)fl_realloc(ws->D, bb * sizeof(double));
        ws->m = (double*)fl_realloc(ws->m, (size_t)B * sizeof(double));
        ws->z = (double*)fl_realloc(ws->z, ((size_t)B + 3) * sizeof(double));
        ws->r = (double*)fl_realloc(ws->r, (size_t)B * sizeof(double));
        ws->w = (double*)fl_realloc(ws->w, (size_t)B * sizeof(double));
        ws->x = (double*)fl_realloc(ws->x, (size_t)B * sizeof(double));
        ws->alpha = (double*)fl_realloc(ws->alpha, (size_t)B * sizeof(double));
        ws->cap_b = B;
    }
    if (S > ws->cap_s) {
        ws->J = (double*)fl_realloc(ws->J, (size_t)S * sizeof(double));
        ws->score = (double*)fl_realloc(ws->score, (size_t)S * FL_PHI_N * sizeof(double));
        ws->cap_s = S;
    }
}

static void ws_free(flops_ws* ws) {
    free(ws->L); free(ws->D); free(ws->m); free(ws->z); free(ws->r); free(ws->w); free(ws->x);
    free(ws->alpha); free(ws->J); free(ws->score);
    memset(ws, 0, sizeof *ws);
}

// sum_k a[k] b[k], k < len, with eight independent partial sums so that the compiler can keep
// them in vector lanes (a plain double reduction stays serial without -ffast-math). The order of
// summation is fixed, so results are still reproducible run to run.
static double dot(const double* a, const double* b, int len) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= len; k += 8)
        for (int q = 0; q < 8; q++) s[q] += a[k + q] * b[k + q];
    double t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; k < len; k++) t += a[k] * b[k];
    return t;
}

// K = v (R + JITTER I) into L and D = dK/dlog l, then L <- chol(K) in place (lower triangle;
// the strict upper triangle is left as garbage and never read). Returns 0 or -1.
static int build_and_factor(const double* f, int B, double l, double v, double* L, double* D,
                            fl_err* err) {
    const double inv_2l2 = 1.0 / (2.0 * l * l), inv_l2 = 1.0 / (l * l);
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < B; j++) {
            double d = f[i] - f[j];
            double Rij = exp(-d * d * inv_2l2);
            L[(size_t)i * B + j] = v * Rij + (i == j ? v * JITTER : 0.0);
            D[(size_t)i * B + j] = v * Rij * d * d * inv_l2;
        }
    }
    // Cholesky-Banachiewicz, row-major: L_jj = sqrt(K_jj - sum_k L_jk^2),
    // L_ij = (K_ij - sum_{k<j} L_ik L_jk) / L_jj for i > j. The inner sums run over contiguous rows.
    for (int j = 0; j < B; j++) {
        double* Lj = L + (size_t)j * B;
        double d = Lj[j] - dot(Lj, Lj, j);
        if (!(d > 0.0) || !isfinite(d))
            return fl_fail(err, "flops: covariance not positive definite at pivot %d of %d "
                           "(l = %g, v = %g)", j, B, l, v);
        d = sqrt(d);
        Lj[j] = d;
        for (int i = j + 1; i < B; i++) {
            double* Li = L + (size_t)i * B;
            Li[j] = (Li[j] - dot(Li, Lj, j)) / d;
        }
    }
    return 0;
}

// r = L z (lower-triangular matrix-vector product). L: (B, B), z, r: (B).
static void lower_matvec(const double* L, int B, const double* z, double* r) {
    for (int i = 0; i < B; i++) {
        r[i] = dot(L + (size_t)i * B, z, i + 1);
    }
}

// Solves L^T alpha = z (back substitution, row-oriented). alpha may not alias z.
static void lower_t_solve(const double* L, int B, const double* z, double* alpha) {
    memcpy(alpha, z, (size_t)B * sizeof(double));
    for (int i = B - 1; i >= 0; i--) {
        const double* Li = L + (size_t)i * B;
        alpha[i] /= Li[i];
        double ai = alpha[i];
        for (int k = 0; k < i; k++) alpha[k] -= Li[k] * ai;
    }
}

// Solves L y = b (forward substitution). y may alias b.
static void lower_solve(const double* L, int B, const double* b, double* y) {
    for (int i = 0; i < B; i++) {
        const double* Li = L + (size_t)i * B;
        double s = b[i];
        for (int k = 0; k < i; k++) s -= Li[k] * y[k];
        y[i] = s / Li[i];
    }
}

// B standard normals for (row, step) of the allocator's stream.
static void draw_normals(uint64_t seed, long step, uint32_t row, int B, double* z) {
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    float q[4];
    for (int g = 0; 4 * g < B; g++) {
        fl_normal4(k0, k1, (uint32_t)g, row, FLOPS_STREAM, (uint32_t)step, q);
        for (int e = 0; e < 4 && 4 * g + e < B; e++) z[4 * g + e] = (double)q[e];
    }
}

// Continuous budgets x (B) from log-proportions u (B): exp(u - max u), water-filled.
static int budgets_from_u(const double* u, int B, double N, double floor_q, double* w, double* x,
                          fl_err* err) {
    double umax = -INFINITY;
    for (int i = 0; i < B; i++) umax = u[i] > umax ? u[i] : umax;
    if (!isfinite(umax)) return fl_fail(err, "flops: non-finite log-proportion (max %g)", umax);
    for (int i = 0; i < B; i++) w[i] = exp(u[i] - umax);
    return fl_alloc_waterfill(w, B, N, floor_q, x, err);
}

// The training-step estimate (see the header comment). ws must hold B and S.
static int objective_grad_ws(flops_ws* ws, const double* f, const double* vhat, int B, long N,
                             double floor_q, const double phi[FL_PHI_N], int S, uint64_t seed,
                             long step, uint32_t row0, double* objective, double grad[FL_PHI_N],
                             fl_err* err) {
    const double a = phi[FL_PHI_A], c = phi[FL_PHI_C];
    const double l = exp(phi[FL_PHI_LOG_L]), v = exp(phi[FL_PHI_LOG_V]);
    if (build_and_factor(f, B, l, v, ws->L, ws->D, err) != 0) return -1;
    double vsum = 0.0;
    for (int i = 0; i < B; i++) {
        ws->m[i] = a * f[i] + c;
        vsum += vhat[i];
    }
    double j_unif = vsum * (double)B / (double)N;
    if (!(j_unif > 0.0) || !isfinite(j_unif)) j_unif = 1.0;  // all-zero proxy: J == 0 anyway
    double jsum = 0.0;
    for (int s = 0; s < S; s++) {
        draw_normals(seed, step, row0 + (uint32_t)s, B, ws->z);
        lower_matvec(ws->L, B, ws->z, ws->r);
        for (int i = 0; i < B; i++) ws->alpha[i] = ws->m[i] + ws->r[i];  // u, borrowed
        if (budgets_from_u(ws->alpha, B, (double)N, floor_q, ws->w, ws->x, err) != 0) return -1;
        double J = 0.0;
        for (int i = 0; i < B; i++) J += vhat[i] / ws->x[i];
        J /= j_unif;
        ws->J[s] = J;
        jsum += J;
        // Sample part of the score (constants dropped, see the header comment).
        lower_t_solve(ws->L, B, ws->z, ws->alpha);
        double ga = 0.0, gc = 0.0, zz = 0.0, aDa = 0.0;
        for (int i = 0; i < B; i++) {
            ga += f[i] * ws->alpha[i];
            gc += ws->alpha[i];
            zz += ws->z[i] * ws->z[i];
            aDa += ws->alpha[i] * dot(ws->D + (size_t)i * B, ws->alpha, B);
        }
        double* g = ws->score + (size_t)s * FL_PHI_N;
        g[FL_PHI_A] = ga;
        g[FL_PHI_C] = gc;
        g[FL_PHI_LOG_L] = 0.5 * aDa;
        g[FL_PHI_LOG_V] = 0.5 * zz;
    }
    for (int p = 0; p < FL_PHI_N; p++) grad[p] = 0.0;
    for (int s = 0; s < S; s++) {
        double baseline = (jsum - ws->J[s]) / (double)(S - 1);
        double adv = ws->J[s] - baseline;
        for (int p = 0; p < FL_PHI_N; p++) grad[p] += adv * ws->score[(size_t)s * FL_PHI_N + p];
    }
    for (int p = 0; p < FL_PHI_N; p++) {
        grad[p] /= (double)S;
        if (!isfinite(grad[p]))
            return fl_fail(err, "flops: non-finite gradient for parameter %d at step %ld", p,
                           step);
    }
    *objective = jsum / (double)S;
    return 0;
}

static double floor_queries(int n_min, int even) {
    return even ? 2.0 * (double)((n_min + 1) / 2) : (double)n_min;
}

int fl_flops_objective_grad(const double* f, const double* vhat, int B, long N, int n_min,
                            int even, const double phi[FL_PHI_N], int mc, uint64_t seed,
                            long step, uint32_t row0, double* objective, double grad[FL_PHI_N],
                            fl_err* err) {
    if (B < 1 || !f || !vhat || !phi || !objective || !grad)
        return fl_fail(err, "fl_flops_objective_grad: B = %d or a NULL argument", B);
    if (mc < 2) return fl_fail(err, "fl_flops_objective_grad: mc = %d, expected >= 2", mc);
    if (n_min < 1) return fl_fail(err, "fl_flops_objective_grad: n_min = %d, expected >= 1",
                                  n_min);
    double floor_q = floor_queries(n_min, even);
    if ((double)N < (double)B * floor_q)
        return fl_fail(err, "fl_flops_objective_grad: N = %ld below B*n_min = %d*%g", N, B,
                       floor_q);
    flops_ws ws;
    memset(&ws, 0, sizeof ws);
    ws_reserve(&ws, B, mc);
    int rc = objective_grad_ws(&ws, f, vhat, B, N, floor_q, phi, mc, seed, step, row0, objective,
                               grad, err);
    ws_free(&ws);
    return rc;
}

int fl_flops_log_density(const double* f, int B, const double phi[FL_PHI_N], const double* u,
                         double* logp, double grad[FL_PHI_N], fl_err* err) {
    if (B < 1 || !f || !phi || !u || !logp)
        return fl_fail(err, "fl_flops_log_density: B = %d or a NULL argument", B);
    const double a = phi[FL_PHI_A], c = phi[FL_PHI_C];
    const double l = exp(phi[FL_PHI_LOG_L]), v = exp(phi[FL_PHI_LOG_V]);
    const size_t bb = (size_t)B * (size_t)B;
    double* L = (double*)fl_malloc(bb * sizeof(double));     // (B, B)
    double* D = (double*)fl_malloc(bb * sizeof(double));     // (B, B)
    double* Linv = (double*)fl_calloc(bb, sizeof(double));   // (B, B) L^-1, lower
    double* y = (double*)fl_malloc((size_t)B * sizeof(double));
    double* alpha = (double*)fl_malloc((size_t)B * sizeof(double));
    int rc = build_and_factor(f, B, l, v, L, D, err);
    if (rc == 0) {
        // y = L^-1 r, alpha = L^-T y = K^-1 r.
        for (int i = 0; i < B; i++) y[i] = u[i] - (a * f[i] + c);
        lower_solve(L, B, y, y);
        lower_t_solve(L, B, y, alpha);
        double logdet = 0.0, quad = 0.0;
        for (int i = 0; i < B; i++) {
            logdet += 2.0 * log(L[(size_t)i * B + i]);
            quad += y[i] * y[i];
        }
        *logp = -0.5 * (double)B * LOG_2PI - 0.5 * logdet - 0.5 * quad;
        if (grad) {
            // Columns of L^-1: solve L x = e_j. Then (K^-1)_ij = sum_k Linv_ki Linv_kj and
            // tr(K^-1 D) = sum_ij (K^-1)_ij D_ij.
            double* e = (double*)fl_malloc((size_t)B * sizeof(double));
            for (int j = 0; j < B; j++) {
                for (int i = 0; i < B; i++) e[i] = (i == j) ? 1.0 : 0.0;
                lower_solve(L, B, e, e);
                for (int i = 0; i < B; i++) Linv[(size_t)i * B + j] = e[i];
            }
            free(e);
            double tr = 0.0, aDa = 0.0, ga = 0.0, gc = 0.0;
            for (int i = 0; i < B; i++) {
                for (int j = 0; j < B; j++) {
                    double kinv = 0.0;
                    for (int k = (i > j ? i : j); k < B; k++)
                        kinv += Linv[(size_t)k * B + i] * Linv[(size_t)k * B + j];
                    tr += kinv * D[(size_t)i * B + j];
                    aDa += alpha[i] * D[(size_t)i * B + j] * alpha[j];
                }
                ga += f[i] * alpha[i];
                gc += alpha[i];
            }
            grad[FL_PHI_A] = ga;
            grad[FL_PHI_C] = gc;
            grad[FL_PHI_LOG_L] = 0.5 * (aDa - tr);
            grad[FL_PHI_LOG_V] = 0.5 * (quad - (double)B);
        }
    }
    free(alpha);
    free(y);
    free(Linv);
    free(D);
    free(L);
    return rc;
}

static void* flops_create(const fl_alloc_opts* o) {
    flops_state* st = (flops_state*)fl_calloc(1, sizeof *st);
    st->phi[FL_PHI_A] = 0.0;              // uniform mean allocation
    st->phi[FL_PHI_C] = 0.0;              // irrelevant to proportions
    st->phi[FL_PHI_LOG_L] = 0.0;          // l = 1 feature standard deviation
    st->phi[FL_PHI_LOG_V] = log(0.1);     // v = 0.1, +-30% exploration
    st->objective = NAN;
    return st;
}

static void flops_destroy(void* state) {
    flops_state* st = (flops_state*)state;
    if (!st) return;
    ws_free(&st->ws);
    free(st->f);
    free(st->vhat);
    free(st);
}

static int flops_allocate(void* state, const fl_alloc_input* in, const fl_alloc_opts* o, int* n,
                          fl_err* err) {
    flops_state* st = (flops_state*)state;
    const int B = in->B;
    if (!st) return fl_fail(err, "flops: no state (created without create())");
    if (B < 1) return fl_fail(err, "flops: batch size B = %d, expected >= 1", B);
    if (o->flops_mc < 2)
        return fl_fail(err, "flops: option flops_mc = %d, expected >= 2 (leave-one-out baseline)",
                       o->flops_mc);
    if (o->flops_iters < 0)
        return fl_fail(err, "flops: option flops_iters = %d, expected >= 0", o->flops_iters);
    if (!(o->flops_lr >= 0.0f) || !isfinite(o->flops_lr))
        return fl_fail(err, "flops: option flops_lr = %g, expected a finite number >= 0",
                       (double)o->flops_lr);
    if (o->flops_feature_loss && !in->loss)
        return fl_fail(err, "flops: flops_feature_loss = 1 needs the clean loss, but input.loss "
                       "is NULL");
    if (!in->proxy)
        return fl_fail(err, "flops: input.proxy is NULL (pass NaN for unknown entries)");
    const double floor_q = floor_queries(o->n_min, o->even);
    if (o->n_min < 1 || (double)in->N < (double)B * floor_q || (o->even && in->N % 2 != 0))
        return fl_fail(err, "flops: budget N = %ld does not fit B = %d data at n_min = %d%s", in->N,
                       B, o->n_min, o->even ? " with even counts" : "");
    if (B > st->cap_f) {
        st->f = (double*)fl_realloc(st->f, (size_t)B * sizeof(double));
        st->vhat = (double*)fl_realloc(st->vhat, (size_t)B * sizeof(double));
        st->cap_f = B;
    }
    double* f = st->f;
    double* vhat = st->vhat;
    const int known = fl_alloc_fill_proxy(in->proxy, B, vhat);

    // Raw feature, then standardised.
    if (o->flops_feature_loss) {
        for (int i = 0; i < B; i++) {
            f[i] = (double)in->loss[i];
            if (!isfinite(f[i]))
                return fl_fail(err, "flops: loss[%d] = %g at step %ld, expected a finite number",
                               i, f[i], in->step);
        }
    } else {
        // Proxies below 1e-12 of the largest are "zero" for allocation purposes; the floor keeps
        // log finite and stops an exact zero from becoming a wild outlier of the feature.
        double vmax = 0.0;
        for (int i = 0; i < B; i++) vmax = vhat[i] > vmax ? vhat[i] : vmax;
        double vfloor = vmax > 0.0 ? vmax * 1e-12 : 1e-300;
        for (int i = 0; i < B; i++) f[i] = log(vhat[i] > vfloor ? vhat[i] : vfloor);
    }
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < B; i++) mean += f[i];
    mean /= B;
    for (int i = 0; i < B; i++) var += (f[i] - mean) * (f[i] - mean);
    double sd = sqrt(var / B);
    if (!(sd > 1e-12 * (1.0 + fabs(mean))) || !isfinite(sd)) sd = 0.0;
    for (int i = 0; i < B; i++) f[i] = sd > 0.0 ? (f[i] - mean) / sd : 0.0;
    st->feature_mean = mean;
    st->feature_sd = sd;

    const int S = o->flops_mc;
    ws_reserve(&st->ws, B, S);
    // Train, unless the proxy objective carries no information (no proxy known yet: every
    // v_hat is the same fill value) or every parameter is frozen.
    const unsigned all_frozen = FL_FLOPS_SLOPE | FL_FLOPS_INTERCEPT | FL_FLOPS_LENGTH |
                                FL_FLOPS_AMPLITUDE;
    const unsigned freeze_bit[FL_PHI_N] = {FL_FLOPS_SLOPE, FL_FLOPS_INTERCEPT, FL_FLOPS_LENGTH,
                                           FL_FLOPS_AMPLITUDE};
    if (known > 0 && (o->flops_freeze & all_frozen) != all_frozen) {
        for (int it = 0; it < o->flops_iters; it++) {
            double grad[FL_PHI_N], obj;
            if (objective_grad_ws(&st->ws, f, vhat, B, in->N, floor_q, st->phi, S, o->seed,
                                  in->step, (uint32_t)(it * S), &obj, grad, err) != 0)
                return -1;
            st->objective = obj;
            st->adam_t++;
            const double bc1 = 1.0 - pow(ADAM_B1, (double)st->adam_t);
            const double bc2 = 1.0 - pow(ADAM_B2, (double)st->adam_t);
            for (int p = 0; p < FL_PHI_N; p++) {
                if (o->flops_freeze & freeze_bit[p]) continue;
                st->adam_m[p] = ADAM_B1 * st->adam_m[p] + (1.0 - ADAM_B1) * grad[p];
                st->adam_v[p] = ADAM_B2 * st->adam_v[p] + (1.0 - ADAM_B2) * grad[p] * grad[p];
                double mh = st->adam_m[p] / bc1, vh = st->adam_v[p] / bc2;
                st->phi[p] -= (double)o->flops_lr * mh / (sqrt(vh) + ADAM_EPS);
            }
            if (st->phi[FL_PHI_LOG_L] < LOG_L_MIN) st->phi[FL_PHI_LOG_L] = LOG_L_MIN;
            if (st->phi[FL_PHI_LOG_L] > LOG_L_MAX) st->phi[FL_PHI_LOG_L] = LOG_L_MAX;
            if (st->phi[FL_PHI_LOG_V] < LOG_V_MIN) st->phi[FL_PHI_LOG_V] = LOG_V_MIN;
            if (st->phi[FL_PHI_LOG_V] > LOG_V_MAX) st->phi[FL_PHI_LOG_V] = LOG_V_MAX;
        }
    }

    // Allocate from the mean, or from one sample of the trained Gaussian.
    flops_ws* ws = &st->ws;
    for (int i = 0; i < B; i++) ws->m[i] = st->phi[FL_PHI_A] * f[i] + st->phi[FL_PHI_C];
    if (o->flops_sample) {
        const double l = exp(st->phi[FL_PHI_LOG_L]), v = exp(st->phi[FL_PHI_LOG_V]);
        if (build_and_factor(f, B, l, v, ws->L, ws->D, err) != 0) return -1;
        draw_normals(o->seed, in->step, (uint32_t)(o->flops_iters * S), B, ws->z);
        lower_matvec(ws->L, B, ws->z, ws->r);
        for (int i = 0; i < B; i++) ws->m[i] += ws->r[i];
    }
    double umax = -INFINITY;
    for (int i = 0; i < B; i++) umax = ws->m[i] > umax ? ws->m[i] : umax;
    if (!isfinite(umax)) return fl_fail(err, "flops: non-finite allocation mean at step %ld",
                                        in->step);
    for (int i = 0; i < B; i++) ws->w[i] = exp(ws->m[i] - umax);
    st->calls++;
    return fl_alloc_proportional(ws->w, B, in->N, o->n_min, o->even, n, err);
}

int fl_flops_get_info(const fl_allocator* a, fl_flops_info* out, fl_err* err) {
    if (!a || !out) return fl_fail(err, "fl_flops_get_info: NULL argument");
    if (a->vt != &fl_alloc_flops || !a->state)
        return fl_fail(err, "fl_flops_get_info: allocator '%s' is not flops",
                       a->vt && a->vt->name ? a->vt->name : "(null)");
    const flops_state* st = (const flops_state*)a->state;
    for (int p = 0; p < FL_PHI_N; p++) out->phi[p] = st->phi[p];
    out->feature_mean = st->feature_mean;
    out->feature_sd = st->feature_sd;
    out->objective = st->objective;
    out->adam_steps = st->adam_t;
    out->calls = st->calls;
    return 0;
}

// The learned part: phi, its Adam moments and counters, the last feature statistics (the
// scratch arrays are not state).
static void flops_copy_state(void* dst, const void* src) {
    flops_state* d = (flops_state*)dst;
    const flops_state* s = (const flops_state*)src;
    memcpy(d->phi, s->phi, sizeof d->phi);
    memcpy(d->adam_m, s->adam_m, sizeof d->adam_m);
    memcpy(d->adam_v, s->adam_v, sizeof d->adam_v);
    d->adam_t = s->adam_t;
    d->calls = s->calls;
    d->feature_mean = s->feature_mean;
    d->feature_sd = s->feature_sd;
    d->objective = s->objective;
}

const fl_allocator_vt fl_alloc_flops = {
    .name = "flops",
    .help = "learned Gaussian allocator (4 parameters, score-function trained on the proxy)",
    .needs = FL_NEEDS_PROXY,  // plus FL_NEEDS_LOSS when opts.flops_feature_loss (checked)
    .create = flops_create,
    .allocate = flops_allocate,
    .destroy = flops_destroy,
    .copy_state = flops_copy_state,
};
