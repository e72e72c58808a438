// report_stats.c: the statistics of report_stats.h: exact Student's t quantiles and the
// noncentral t (GSL), the paired t-test over seeds, Holm–Bonferroni, the minimum detectable
// difference, the spend rule's 2 % match, splitmix64 and percentile quantiles.
// docs/SWEEPS.md ("The report's statistics") says how the report uses them.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_roots.h>
#include "report_stats.h"
#include "../impl/core/common.h"

double rs_t_quantile(double p, double df) {
    if (!(df > 0) || !(p > 0 && p < 1)) return NAN;
    return gsl_cdf_tdist_Pinv(p, df);
}

// ---------------------------------------------------------------------------------------
// noncentral t: T = (Z + delta) / sqrt(V / df), Z ~ N(0, 1), V ~ chi2(df), so
//   P(T <= t) = E_V[ Phi(t sqrt(V / df) - delta) ] = int_0^inf Phi(t sqrt(x/df) - delta) f_df(x) dx

typedef struct {
    double t, df, delta;
} nct_args;

static double nct_integrand(double x, void* p) {
    const nct_args* a = p;
    return gsl_cdf_ugaussian_P(a->t * sqrt(x / a->df) - a->delta) * gsl_ran_chisq_pdf(x, a->df);
}

double rs_nct_cdf(double t, double df, double delta) {
    if (!(df > 0) || !isfinite(t) || !isfinite(delta)) return NAN;
    gsl_error_handler_t* old = gsl_set_error_handler_off();
    gsl_integration_workspace* w = gsl_integration_workspace_alloc(1000);
    if (!w) {
        gsl_set_error_handler(old);
        return NAN;
    }
    nct_args a = {t, df, delta};
    gsl_function f = {nct_integrand, &a};
    double result = NAN, abserr = 0;
    int status = gsl_integration_qagiu(&f, 0.0, 1e-13, 1e-10, 1000, w, &result, &abserr);
    gsl_integration_workspace_free(w);
    gsl_set_error_handler(old);
    // GSL_EROUND: the requested tolerance was not reached to the last digit, the value is kept
    if (status != GSL_SUCCESS && status != GSL_EROUND) return NAN;
    return result < 0 ? 0 : result > 1 ? 1 : result;
}

double rs_t_power(double delta, double df, double alpha) {
    double tc = rs_t_quantile(1 - alpha / 2, df);
    return 1 - rs_nct_cdf(tc, df, delta) + rs_nct_cdf(-tc, df, delta);
}

typedef struct {
    double df, alpha, power;
} power_args;

static double power_gap(double delta, void* p) {
    const power_args* a = p;
    return rs_t_power(delta, a->df, a->alpha) - a->power;
}

double rs_t_detectable_delta(double df, double alpha, double power) {
    if (!(df > 0) || !(alpha > 0 && alpha < 1) || !(power > alpha && power < 1)) return NAN;
    power_args a = {df, alpha, power};
    gsl_function f = {power_gap, &a};
    double lo = 0, hi = 1;
    while (power_gap(hi, &a) < 0 && hi < 1e4) hi *= 2;  // power rises with delta
    if (!(power_gap(hi, &a) >= 0)) return NAN;
    gsl_error_handler_t* old = gsl_set_error_handler_off();
    gsl_root_fsolver* s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
    double root = NAN;
    if (s && gsl_root_fsolver_set(s, &f, lo, hi) == GSL_SUCCESS) {
        for (int it = 0; it < 200; it++) {
            if (gsl_root_fsolver_iterate(s) != GSL_SUCCESS) break;
            double a_lo = gsl_root_fsolver_x_lower(s), a_hi = gsl_root_fsolver_x_upper(s);
            root = gsl_root_fsolver_root(s);
            if (gsl_root_test_interval(a_lo, a_hi, 1e-12, 1e-12) == GSL_SUCCESS) break;
        }
    }
    if (s) gsl_root_fsolver_free(s);
    gsl_set_error_handler(old);
    return root;
}

// ---------------------------------------------------------------------------------------
// the paired test

rs_paired rs_paired_test(const double* d, int n) {
    rs_paired r = {0};
    r.n = n;
    r.df = n - 1;
    r.mean = r.sd = r.se = r.t = r.p = r.lo = r.hi = r.mdd = NAN;
    if (n < 1) return r;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += d[i];
    r.mean = sum / n;
    if (n < 2) return r;
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (d[i] - r.mean) * (d[i] - r.mean);
    r.sd = sqrt(ss / (n - 1));
    r.se = r.sd / sqrt((double)n);
    double tq = rs_t_quantile(0.975, r.df);
    r.lo = r.mean - tq * r.se;
    r.hi = r.mean + tq * r.se;
    if (r.se > 0) {
        r.t = r.mean / r.se;
        r.p = 2 * gsl_cdf_tdist_Q(fabs(r.t), r.df);
    } else {  // every seed gave the same difference: no noise to test against
        r.t = r.mean == 0 ? 0 : copysign(INFINITY, r.mean);
        r.p = r.mean == 0 ? 1 : 0;
    }
    // the smallest true mean difference the test detects with probability 0.8: delta sd / sqrt(n)
    r.mdd = rs_t_detectable_delta(r.df, 0.05, 0.8) * r.sd / sqrt((double)n);
    return r;
}

// ---------------------------------------------------------------------------------------
// Holm–Bonferroni

void rs_holm(const double* p, int m, double* adj) {
    int* order = malloc((size_t)(m > 0 ? m : 1) * sizeof(int));
    int k = 0;
    for (int i = 0; i < m; i++) {
        adj[i] = NAN;
        if (!isnan(p[i])) order[k++] = i;
    }
    // ascending p (insertion sort: families have a few dozen comparisons at most)
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && p[order[j - 1]] > p[order[j]]; j--) {
            int t = order[j - 1];
            order[j - 1] = order[j];
            order[j] = t;
        }
    double running = 0;
    for (int i = 0; i < k; i++) {
        double a = (double)(k - i) * p[order[i]];
        if (a > 1) a = 1;
        if (a < running) a = running;  // adjusted p-values never decrease along the order
        running = a;
        adj[order[i]] = a;
    }
    free(order);
}

// ---------------------------------------------------------------------------------------
// the spend rule

int rs_spend_matched(double a, double b) {
    if (!isfinite(a) || !isfinite(b)) return 0;
    return fabs(a - b) <= RS_SPEND_TOLERANCE * fmax(fabs(a), fabs(b));
}

int rs_spend_not_more(double a, double b) {
    if (!isfinite(a) || !isfinite(b)) return 0;
    return a <= b || rs_spend_matched(a, b);
}

// ---------------------------------------------------------------------------------------
// the bootstrap's PRNG and quantiles

uint64_t rs_splitmix64(uint64_t* state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int rs_draw_index(uint64_t* state, int n) { return (int)(rs_splitmix64(state) % (uint64_t)n); }

void rs_sort(double* x, int n) { fl_sort_doubles(x, n); }

double rs_quantile_sorted(const double* x, int n, double p) {
    if (n < 1) return NAN;
    double h = (n - 1) * p;
    int lo = (int)floor(h);
    if (lo >= n - 1) return x[n - 1];
    double frac = h - lo;
    double a = x[lo], b = x[lo + 1];
    if (frac == 0 || a == b) return a;
    if (isinf(a)) return a;
    if (isinf(b)) return b;
    return a + frac * (b - a);
}
