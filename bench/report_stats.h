// report_stats.h: the statistics behind the verdicts of `flbench report` (docs/SWEEPS.md,
// "The report's statistics"): paired t-tests over seeds with exact t quantiles (GSL), Holm's
// step-down adjustment within a claim family, the minimum detectable difference of a paired
// t-test (noncentral t), the spend rule's 2 % match (docs/METHOD.md, "Spend"), a small
// reproducible PRNG (splitmix64), percentile bootstrap intervals, and the equivalent uniform
// budget of query compression (report_compress.c).
#pragma once
#include <stdint.h>
#include <stdio.h>

// ---------------------------------------------------------------------------------------
// Student's t and the paired test (report_stats.c)

// Quantile of Student's t with df degrees of freedom: P(T <= q) = p (gsl_cdf_tdist_Pinv).
double rs_t_quantile(double p, double df);
// Distribution function of the noncentral t with df degrees of freedom and noncentrality
// delta, by numerical integration over the chi-square variable (GSL QAGIU); NAN on failure.
double rs_nct_cdf(double t, double df, double delta);
// Power of the two-sided level-alpha t-test with df degrees of freedom when the true
// standardised noncentrality is delta: P(|T| > t_{1-alpha/2}).
double rs_t_power(double delta, double df, double alpha);
// The noncentrality delta at which that power equals `power` (Brent's method); NAN if none.
double rs_t_detectable_delta(double df, double alpha, double power);

typedef struct {
    int n;               // pairs (seeds common to both sides)
    int df;              // n - 1
    double mean, sd, se; // of the paired differences (sd: sample std; se = sd / sqrt(n))
    double t, p;         // t statistic and two-sided p-value (NAN when n < 2)
    double lo, hi;       // 95 % confidence interval of the mean difference (t quantile of df)
    double mdd;          // minimum detectable difference: power 0.8, alpha 0.05 two-sided (NAN when n < 2)
} rs_paired;

// The paired t-test of the n differences d (A - B, one per seed).
rs_paired rs_paired_test(const double* d, int n);

// Holm–Bonferroni: adjusted p-values adj[i] of the m p-values p[i] (step-down, monotone,
// capped at 1). NAN p-values are left out of m and get NAN.
void rs_holm(const double* p, int m, double* adj);

// ---------------------------------------------------------------------------------------
// the spend rule (docs/METHOD.md, "Spend")

#define RS_SPEND_TOLERANCE 0.02
// 1 when two spends per datum per step differ by at most 2 % of the larger; 0 otherwise or
// when either is unknown (NAN).
int rs_spend_matched(double spend_a, double spend_b);
// 1 when A spends no more than B, within the same 2 %; 0 otherwise or when unknown.
int rs_spend_not_more(double spend_a, double spend_b);

// ---------------------------------------------------------------------------------------
// the bootstrap

// splitmix64: state += 0x9e3779b97f4a7c15, then the usual two multiply-xorshift rounds.
uint64_t rs_splitmix64(uint64_t* state);
// A seed index in [0, n): next value modulo n.
int rs_draw_index(uint64_t* state, int n);
// The p-quantile of the n sorted values x (linear interpolation between order statistics,
// h = (n - 1) p: numpy's default rule); infinite ends are kept as such.
double rs_quantile_sorted(const double* x, int n, double p);
// Sorts x (ascending; -inf and +inf at the ends; NAN not allowed).
void rs_sort(double* x, int n);

// ---------------------------------------------------------------------------------------
// query compression (report_compress.c)

#define RC_RESAMPLES 2000
#define RC_BOOT_SEED 20250101ull

// Where a target accuracy lies among the uniform budgets.
enum { RC_INSIDE = 0, RC_BELOW = -1, RC_ABOVE = 1, RC_UNKNOWN = 2 };

// The equivalent uniform budget of the target accuracy y: budgets (m, ascending) and the
// uniform accuracies acc (m) at them. Linear interpolation of acc in log2(budget) on the first
// segment (in budget order) whose end accuracies bracket y. *where says RC_BELOW (y below every
// uniform accuracy: b' < budgets[0]) or RC_ABOVE (b' > budgets[m-1]); then the return is -inf or
// +inf; never extrapolated. NAN inputs give NAN and RC_UNKNOWN.
double rc_equivalent_budget(const double* budgets, const double* acc, int m, double y, int* where);

// One compression estimate: the target series at budget b against the uniform series.
// acc_u: (m, n_seeds) row-major uniform accuracies; acc_t: (n_seeds) the target's; NAN where a
// seed is missing. Seeds are resampled jointly (the same drawn seed indices for every cell).
typedef struct {
    double b;                 // the target's budget
    double equiv;             // b' from the means over seeds (+-inf outside, NAN unknown)
    int where;                // RC_INSIDE, RC_BELOW, RC_ABOVE, RC_UNKNOWN
    double ratio, lo, hi;     // b'/b and its percentile bootstrap 95 % interval (may be +-inf)
    int resolved;             // 1: the interval lies above 1 (A needs fewer queries), -1: below 1, 0: not resolved
    int n_valid;              // resamples with a defined b' (a resample with no seed of some cell is dropped)
} rc_estimate;

rc_estimate rc_compress(const double* budgets, const double* acc_u, int m, const double* acc_t, double b, int n_seeds,
                        int n_resamples, uint64_t boot_seed);

// Writes the ratio and its interval as Markdown-ready text ("2.00 [1.50, 2.60]", "< 0.50",
// "> 4.00"); budgets bound the out-of-range text.
void rc_format(char* out, size_t len, const rc_estimate* e, double b_min, double b_max);

// A series compared with uniform LR: its budgets (n_budgets) and accuracies (n_budgets,
// n_seeds) row-major, NAN where a seed is missing; seed i is the same seed in every series.
typedef struct {
    const char* label;
    int n_budgets;
    const double* budgets;
    const double* acc;
} rc_series;

// Writes the Markdown table of b' and b'/b (with intervals and verdicts) of every target
// against uniform LR (ubudgets (m) ascending, acc_u (m, n_seeds)), and one plot-data block per
// target to dat ("label" then rows: b, b', interval of b'; NaN outside the swept range).
void rc_write_task(FILE* md, FILE* dat, const double* ubudgets, const double* acc_u, int m, const rc_series* targets,
                   int n_targets, int n_seeds);
