// test_report_stats.c: the statistics of the report's verdicts (bench/report_stats.c,
// bench/report_compress.c) against reference values computed once with SciPy 1.10.1 and
// committed here as literals (the test needs no SciPy). Every check has a negative control: a
// value the check must reject (the old hand table's t, a Bonferroni adjustment, the normal
// approximation of power, a bootstrap that loses the seed pairing, a 3 % spend difference).
//
// The bootstrap literals come from a re-implementation in Python of splitmix64, the joint seed
// resampling and the percentile rule of bench/report_stats.h (h = (n - 1) p, linear
// interpolation), run on the same data with the same resample seed.
#include "../test.h"
// the report's statistics are compiled into the flbench binary, not into libfl.a
#include "../../bench/report_stats.c"
#include "../../bench/report_compress.c"

static int close_rel(double got, double want, double rel) {
    if (isinf(want)) return got == want;
    return fabs(got - want) <= rel * fmax(1.0, fabs(want));
}

// scipy.stats.t.ppf(p, df)
static void test_t_quantiles_exact(void) {
    static const struct {
        double df, p, q;
    } ref[] = {
        {1, 0.975, 12.706204736432095},  {1, 0.995, 63.65674116287399},   {1, 0.9, 3.0776835372078066},
        {1, 0.025, -12.706204736432102}, {2, 0.975, 4.302652729911275},   {2, 0.995, 9.92484320091807},
        {2, 0.9, 1.8856180831641507},    {2, 0.025, -4.3026527299112765}, {9, 0.975, 2.2621571627409915},
        {9, 0.995, 3.2498355440153697},  {9, 0.9, 1.3830287383964925},    {9, 0.025, -2.262157162740992},
        {30, 0.975, 2.0422724563012373}, {30, 0.995, 2.7499956535670305}, {30, 0.9, 1.3104150225671307},
        {30, 0.025, -2.042272456301238}, {100, 0.975, 1.9839715184496334}, {100, 0.995, 2.6258905205863337},
        {100, 0.9, 1.2900747613398769},  {100, 0.025, -1.983971518449634},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double q = rs_t_quantile(ref[i].p, ref[i].df);
        // GSL's inversion is accurate to a few 1e-9 relative (2.2e-9 at df 30, p 0.9)
        CHECK(close_rel(q, ref[i].q, 1e-8), "t quantile p=%g df=%g: %.15g, scipy %.15g", ref[i].p, ref[i].df, q, ref[i].q);
    }
    // negative controls: the old hand table's 4.303 (df 2) and the normal quantile 1.96 (df 100)
    // are not the exact quantiles, and the check above tells them apart
    CHECK(!close_rel(4.303, rs_t_quantile(0.975, 2), 1e-8), "the rounded table value passes the exact check");
    CHECK(!close_rel(1.96, rs_t_quantile(0.975, 100), 1e-8), "the normal quantile passes for df 100");
    CHECK(isnan(rs_t_quantile(0.975, 0)) && isnan(rs_t_quantile(1.0, 3)), "df 0 or p 1 must give NAN");
}

// scipy.stats.ttest_1samp([0.01, 0.02, 0.035, 0.04], 0) and
// scipy.stats.t.interval(0.95, 3, loc=mean, scale=scipy.stats.sem(d))
static void test_paired_test(void) {
    const double d[] = {0.01, 0.02, 0.035, 0.04};
    rs_paired r = rs_paired_test(d, 4);
    CHECK(r.n == 4 && r.df == 3, "n %d df %d", r.n, r.df);
    CHECK(close_rel(r.t, 3.812933455813456, 1e-10), "t %.15g", r.t);
    CHECK(close_rel(r.p, 0.03172483912802602, 1e-9), "p %.15g", r.p);
    CHECK(close_rel(r.lo, 0.0043405655758711505, 1e-9) && close_rel(r.hi, 0.04815943442412886, 1e-9), "CI [%.15g, %.15g]", r.lo,
          r.hi);
    // negative control: the same differences unpaired of their sign are not significant
    const double mixed[] = {0.01, -0.02, 0.035, -0.04};
    rs_paired m = rs_paired_test(mixed, 4);
    CHECK(m.p > 0.5 && m.lo < 0 && m.hi > 0, "mixed signs: p %g, CI [%g, %g]", m.p, m.lo, m.hi);
    rs_paired one = rs_paired_test(d, 1);
    CHECK(isnan(one.p) && isnan(one.se) && isnan(one.mdd), "one pair: no test");
}

// Holm on a worked example: p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted: 0.005, 0.01, 0.03,
// 0.04; times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running maximum 0.02, 0.03, 0.06, 0.06.
static void test_holm_worked_example(void) {
    const double p[] = {0.01, 0.04, 0.03, 0.005};
    const double want[] = {0.03, 0.06, 0.06, 0.02};
    double adj[4];
    rs_holm(p, 4, adj);
    for (int i = 0; i < 4; i++) CHECK(close_rel(adj[i], want[i], 1e-12), "adj[%d] = %.15g, want %g", i, adj[i], want[i]);
    int sig = 0;
    for (int i = 0; i < 4; i++) sig += adj[i] < 0.05;
    CHECK(sig == 2, "%d of 4 significant after Holm, want 2 (all 4 are below 0.05 unadjusted)", sig);
    // negative control: Bonferroni (m p) and unadjusted p are not Holm
    CHECK(!close_rel(adj[1], 4 * p[1], 1e-12) && !close_rel(adj[2], p[2], 1e-12), "Holm equals Bonferroni or no adjustment");
    // a NAN p-value (one seed, no test) is left out of m: (0.02, NAN, 0.04) -> m = 2
    const double q[] = {0.02, NAN, 0.04};
    double adjq[3];
    rs_holm(q, 3, adjq);
    CHECK(close_rel(adjq[0], 0.04, 1e-12) && isnan(adjq[1]) && close_rel(adjq[2], 0.04, 1e-12), "with NAN: %g %g %g", adjq[0],
          adjq[1], adjq[2]);
    const double big[] = {0.6, 0.7};
    double adjb[2];
    rs_holm(big, 2, adjb);
    CHECK(adjb[0] == 1 && adjb[1] == 1, "capped at 1: %g %g", adjb[0], adjb[1]);
}

// scipy.stats.nct.cdf(t, df, nc)
static void test_noncentral_t(void) {
    static const struct {
        double t, df, nc, cdf;
    } ref[] = {
        {12.706204736174698, 1, 16.0, 0.20935335307888786}, {1.5, 2, 1.0, 0.5994772928872952},
        {2.2621571628, 9, 3.0, 0.23884473899605868},        {-2.0, 9, 0.5, 0.012863974976965328},
        {2.0422724563, 30, 2.5, 0.322974325483474},         {0.0, 100, 0.0, 0.5},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double c = rs_nct_cdf(ref[i].t, ref[i].df, ref[i].nc);
        CHECK(fabs(c - ref[i].cdf) < 1e-8, "nct cdf(%g; %g, %g) = %.15g, scipy %.15g", ref[i].t, ref[i].df, ref[i].nc, c, ref[i].cdf);
    }
    // negative control: the central t (nc = 0) is not the noncentral one
    CHECK(fabs(rs_nct_cdf(1.5, 2, 0.0) - 0.5994772928872952) > 0.1, "nc ignored");
}

// The noncentrality at which the two-sided paired t-test at alpha 0.05 has power 0.8:
// scipy.optimize.brentq(lambda d: scipy.stats.nct.sf(tc, n-1, d) + scipy.stats.nct.cdf(-tc, n-1, d) - 0.8,
//                       0.01, 1000, xtol=1e-14), tc = scipy.stats.t.ppf(0.975, n-1)
static void test_minimum_detectable_difference(void) {
    static const struct {
        int n;
        double delta;
    } ref[] = {{2, 16.33400887024982}, {3, 5.6534892663956615}, {5, 3.7610595538250258}, {10, 3.149632886389852},
               {30, 2.8987428463248626}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double dl = rs_t_detectable_delta(ref[i].n - 1, 0.05, 0.8);
        CHECK(close_rel(dl, ref[i].delta, 1e-7), "n %d: delta %.12g, scipy %.12g", ref[i].n, dl, ref[i].delta);
    }
    // the paired test's MDD is delta * sd / sqrt(n): differences with sd 0.01 at 10 seeds
    double d[10];
    for (int i = 0; i < 10; i++) d[i] = (i % 2 ? 0.01 : -0.01) * sqrt(0.9);  // sample sd exactly 0.01
    rs_paired r = rs_paired_test(d, 10);
    CHECK(close_rel(r.sd, 0.01, 1e-12), "sd %.15g", r.sd);
    CHECK(close_rel(r.mdd, 3.149632886389852 * 0.01 / sqrt(10.0), 1e-7), "mdd %.15g", r.mdd);
    // negative control: the normal approximation z_0.975 + z_0.8 = 2.8016 is not the exact answer at 10 seeds
    CHECK(!close_rel(2.8015852, ref[3].delta, 1e-3), "normal approximation accepted");
    CHECK(fabs(rs_t_power(ref[3].delta, 9, 0.05) - 0.8) < 1e-9, "power at the solution %.12g", rs_t_power(ref[3].delta, 9, 0.05));
}

// splitmix64 from state 0: the generator's published first outputs
static void test_splitmix64(void) {
    uint64_t s = 0;
    uint64_t a = rs_splitmix64(&s), b = rs_splitmix64(&s), c = rs_splitmix64(&s);
    CHECK(a == 0xe220a8397b1dcdafull && b == 0x6e789e6aa1b965f4ull && c == 0x06c45d188009454full, "%016llx %016llx %016llx",
          (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
}

static void test_equivalent_budget(void) {
    // uniform accuracy exactly linear in log2(budget): 0.5 + 0.05 log2 b
    const double bud[] = {4, 8, 16, 32};
    double acc[4];
    for (int j = 0; j < 4; j++) acc[j] = 0.5 + 0.05 * log2(bud[j]);
    int where;
    double b = rc_equivalent_budget(bud, acc, 4, 0.5 + 0.05 * log2(12.0), &where);
    CHECK(where == RC_INSIDE && close_rel(b, 12.0, 1e-12), "b' %.15g (where %d), want 12", b, where);
    b = rc_equivalent_budget(bud, acc, 4, acc[2], &where);
    CHECK(where == RC_INSIDE && close_rel(b, 16.0, 1e-12), "at a swept budget: %.15g", b);
    // outside the swept range: said, not extrapolated
    b = rc_equivalent_budget(bud, acc, 4, 0.5 + 0.05 * log2(2.0), &where);
    CHECK(where == RC_BELOW && b == -INFINITY, "below: %g (where %d)", b, where);
    b = rc_equivalent_budget(bud, acc, 4, 0.5 + 0.05 * log2(64.0), &where);
    CHECK(where == RC_ABOVE && b == INFINITY, "above: %g (where %d)", b, where);
    // negative control: linear interpolation in budget (not log budget) would give 12 -> 12.0 too
    // at the midpoint only in log space: the log-midpoint of 8 and 16 is 11.31, not 12
    b = rc_equivalent_budget(bud, acc, 4, 0.5 * (acc[1] + acc[2]), &where);
    CHECK(close_rel(b, sqrt(8.0 * 16.0), 1e-12) && !close_rel(b, 12.0, 1e-3), "midpoint %.15g", b);
}

// Bootstrap intervals of b'/b, 2000 resamples from seed 20250101 (RC_BOOT_SEED). Reference:
// the Python re-implementation described at the top of this file.
static const double bud[] = {4, 8, 16, 32};
static const double acc_u[4 * 5] = {0.60, 0.62, 0.61, 0.63, 0.59, 0.65, 0.66, 0.67, 0.64, 0.66,
                                    0.70, 0.69, 0.72, 0.71, 0.70, 0.74, 0.73, 0.76, 0.75, 0.72};

static void test_bootstrap_compression(void) {
    CHECK(RC_RESAMPLES == 2000 && RC_BOOT_SEED == 20250101ull, "the reference values assume 2000 resamples from 20250101");
    const double acc_t[5] = {0.68, 0.66, 0.70, 0.69, 0.67};
    rc_estimate e = rc_compress(bud, acc_u, 4, acc_t, 8, 5, 2000, 20250101ull);
    CHECK(e.where == RC_INSIDE && close_rel(e.ratio, 1.4142135623730938, 1e-12), "ratio %.15g", e.ratio);
    CHECK(close_rel(e.lo, 1.1665290395761196, 1e-12) && close_rel(e.hi, 1.5748041437985802, 1e-12), "CI [%.15g, %.15g]", e.lo,
          e.hi);
    CHECK(e.n_valid == 2000 && e.resolved, "resolved %d, valid %d", e.resolved, e.n_valid);
    // not resolved: the interval [0.794, 1.198] contains 1
    const double acc_t2[5] = {0.66, 0.64, 0.69, 0.63, 0.665};
    rc_estimate e2 = rc_compress(bud, acc_u, 4, acc_t2, 8, 5, 2000, 20250101ull);
    CHECK(close_rel(e2.ratio, 1.0145453349375237, 1e-12) && close_rel(e2.lo, 0.7937005259840997, 1e-12) &&
              close_rel(e2.hi, 1.1982006865168506, 1e-12),
          "case 2: %.15g [%.15g, %.15g]", e2.ratio, e2.lo, e2.hi);
    CHECK(!e2.resolved, "an interval containing 1 must be 'not resolved'");
    // above every uniform accuracy: b' > 32, ratio > 4, resolved with an infinite interval
    const double acc_t3[5] = {0.75, 0.745, 0.77, 0.76, 0.74};
    rc_estimate e3 = rc_compress(bud, acc_u, 4, acc_t3, 8, 5, 2000, 20250101ull);
    char txt[96];
    rc_format(txt, sizeof txt, &e3, 4, 32);
    CHECK(e3.where == RC_ABOVE && e3.resolved && !strcmp(txt, "> 4.00 [> 4.00, > 4.00]"), "case 3: %s", txt);
    // below every uniform accuracy at b = 2 < 4: b'/b < 2 says nothing about 1 (not resolved);
    // at b = 8 the same accuracies give b'/b < 0.5, resolved below 1
    const double low[5] = {0.50, 0.51, 0.49, 0.50, 0.52};
    rc_estimate el = rc_compress(bud, acc_u, 4, low, 2, 5, 2000, 20250101ull);
    rc_format(txt, sizeof txt, &el, 4, 32);
    CHECK(el.where == RC_BELOW && el.resolved == 0 && !strcmp(txt, "< 2.00 [< 2.00, < 2.00]"), "below at b=2: %s, resolved %d", txt,
          el.resolved);
    el = rc_compress(bud, acc_u, 4, low, 8, 5, 2000, 20250101ull);
    CHECK(el.resolved == -1, "below at b=8: resolved %d, want -1", el.resolved);
    CHECK(e.resolved == 1 && e3.resolved == 1, "resolved above 1: %d %d", e.resolved, e3.resolved);
    // negative control: the same target accuracies in another seed order (the pairing with the
    // uniform cells broken) give another interval, which the check above rejects:
    // Python reference 1.2348602892430653, 1.80250092522166
    const double perm[5] = {0.66, 0.70, 0.69, 0.67, 0.68};
    rc_estimate ep = rc_compress(bud, acc_u, 4, perm, 8, 5, 2000, 20250101ull);
    CHECK(close_rel(ep.lo, 1.2348602892430653, 1e-12) && close_rel(ep.hi, 1.80250092522166, 1e-12), "permuted: [%.15g, %.15g]",
          ep.lo, ep.hi);
    CHECK(!close_rel(ep.lo, 1.1665290395761196, 1e-6), "pairing has no effect on the interval");
    // a seed missing from the target is skipped in every resample that draws only it
    const double gap[5] = {0.68, NAN, 0.70, 0.69, 0.67};
    rc_estimate eg = rc_compress(bud, acc_u, 4, gap, 8, 5, 2000, 20250101ull);
    CHECK(eg.where == RC_INSIDE && eg.n_valid > 1900, "with a missing seed: valid %d", eg.n_valid);
}

static void test_quantile_rule(void) {
    double x[] = {3, 1, 2, 4};
    rs_sort(x, 4);
    // numpy.quantile([1, 2, 3, 4], 0.25) = 1.75 (h = 0.75)
    CHECK(close_rel(rs_quantile_sorted(x, 4, 0.25), 1.75, 1e-15), "q25 %.15g", rs_quantile_sorted(x, 4, 0.25));
    CHECK(rs_quantile_sorted(x, 4, 1.0) == 4 && rs_quantile_sorted(x, 4, 0.0) == 1, "ends");
    double y[] = {1, INFINITY, INFINITY};
    CHECK(rs_quantile_sorted(y, 3, 0.975) == INFINITY && close_rel(rs_quantile_sorted(y, 3, 0.0), 1, 0), "infinite ends kept");
    CHECK(!close_rel(rs_quantile_sorted(x, 4, 0.25), 2.0, 1e-3), "nearest-rank accepted");
}

static void test_spend_rule(void) {
    CHECK(rs_spend_matched(8.0, 8.0 * 1.01), "1 %% apart must match");
    CHECK(rs_spend_matched(8.0 * 1.019, 8.0), "1.9 %% apart must match");
    CHECK(!rs_spend_matched(8.0, 8.0 * 1.03), "3 %% apart must not match");
    CHECK(!rs_spend_matched(8.0 * 1.03, 8.0), "3 %% apart must not match (either order)");
    CHECK(!rs_spend_matched(NAN, 8.0), "unknown spend must not match");
    CHECK(rs_spend_not_more(7.0, 8.0) && rs_spend_not_more(8.1, 8.0) && !rs_spend_not_more(8.4, 8.0),
          "A spends no more than B within 2 %%");
    CHECK(!rs_spend_not_more(NAN, 8.0), "unknown spend is not evidence");
}

int main(void) {
    RUN(test_t_quantiles_exact);
    RUN(test_paired_test);
    RUN(test_holm_worked_example);
    RUN(test_noncentral_t);
    RUN(test_minimum_detectable_difference);
    RUN(test_splitmix64);
    RUN(test_equivalent_budget);
    RUN(test_bootstrap_compression);
    RUN(test_quantile_rule);
    RUN(test_spend_rule);
    TEST_EXIT();
}
