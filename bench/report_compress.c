// report_compress.c: query compression, the paper's headline claim checked on the data
// (docs/SWEEPS.md, "The report's statistics"): for a series A at budget b, the equivalent
// uniform budget b' is the uniform-LR budget whose mean final accuracy equals A's, by linear
// interpolation in log2(budget) across the swept uniform budgets (never extrapolated); b'/b > 1
// means A needs fewer queries than uniform LR for the same accuracy. Its 95 % interval is a
// percentile bootstrap over seeds: each resample draws n seed indices with splitmix64 from a
// fixed seed and uses the same drawn seeds for every cell, so the seed pairing is kept.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report_stats.h"

double rc_equivalent_budget(const double* budgets, const double* acc, int m, double y, int* where) {
    *where = RC_UNKNOWN;
    if (m < 1 || !isfinite(y)) return NAN;
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < m; j++) {
        if (!isfinite(acc[j]) || !(budgets[j] > 0)) return NAN;
        lo = fmin(lo, acc[j]);
        hi = fmax(hi, acc[j]);
    }
    if (y < lo) {
        *where = RC_BELOW;
        return -INFINITY;
    }
    if (y > hi) {
        *where = RC_ABOVE;
        return INFINITY;
    }
    *where = RC_INSIDE;
    if (m == 1) return budgets[0];  // y equals the one accuracy
    for (int j = 0; j + 1 < m; j++) {
        double a0 = acc[j], a1 = acc[j + 1];
        if (y < fmin(a0, a1) || y > fmax(a0, a1)) continue;
        double l0 = log2(budgets[j]), l1 = log2(budgets[j + 1]);
        double w = a1 == a0 ? 0 : (y - a0) / (a1 - a0);  // a flat segment: its first end
        return exp2(l0 + w * (l1 - l0));
    }
    return budgets[0];  // unreachable: a piecewise-linear curve takes every value between its extremes
}

// Mean of the row of n values at the drawn seed indices (NAN where none of them has a value).
static double mean_at(const double* row, const int* drawn, int n) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(row[drawn[i]])) {
            s += row[drawn[i]];
            k++;
        }
    return k ? s / k : NAN;
}

// b' of one set of drawn seeds; NAN when some cell has no value at them.
static double equiv_at(const double* budgets, const double* acc_u, int m, const double* acc_t, int n, const int* drawn,
                       double* means, int* where) {
    for (int j = 0; j < m; j++) means[j] = mean_at(acc_u + (size_t)j * n, drawn, n);
    return rc_equivalent_budget(budgets, means, m, mean_at(acc_t, drawn, n), where);
}

rc_estimate rc_compress(const double* budgets, const double* acc_u, int m, const double* acc_t, double b, int n_seeds,
                        int n_resamples, uint64_t boot_seed) {
    rc_estimate e = {b, NAN, RC_UNKNOWN, NAN, NAN, NAN, 0, 0};
    if (m < 1 || n_seeds < 1 || !(b > 0)) return e;
    int* drawn = malloc((size_t)n_seeds * sizeof(int));
    double* means = malloc((size_t)m * sizeof(double));
    double* ratios = malloc((size_t)(n_resamples > 0 ? n_resamples : 1) * sizeof(double));
    for (int i = 0; i < n_seeds; i++) drawn[i] = i;
    e.equiv = equiv_at(budgets, acc_u, m, acc_t, n_seeds, drawn, means, &e.where);
    e.ratio = e.equiv / b;
    uint64_t state = boot_seed;
    for (int r = 0; r < n_resamples; r++) {
        for (int i = 0; i < n_seeds; i++) drawn[i] = rs_draw_index(&state, n_seeds);
        int where;
        double q = equiv_at(budgets, acc_u, m, acc_t, n_seeds, drawn, means, &where);
        if (where != RC_UNKNOWN) ratios[e.n_valid++] = q / b;
    }
    if (e.n_valid > 0) {
        rs_sort(ratios, e.n_valid);
        e.lo = rs_quantile_sorted(ratios, e.n_valid, 0.025);
        e.hi = rs_quantile_sorted(ratios, e.n_valid, 0.975);
        // an end outside the swept range bounds the ratio only on one side: -inf means below
        // budgets[0] / b, +inf above budgets[m-1] / b
        double lo_min = e.lo == INFINITY ? budgets[m - 1] / b : e.lo;   // the interval's smallest possible value
        double hi_max = e.hi == -INFINITY ? budgets[0] / b : e.hi;      // and its largest
        if (e.where != RC_UNKNOWN) e.resolved = lo_min > 1 || (e.lo == INFINITY && lo_min >= 1) ? 1
                                              : hi_max < 1 || (e.hi == -INFINITY && hi_max <= 1) ? -1 : 0;
    }
    free(drawn);
    free(means);
    free(ratios);
    return e;
}

static void fmt_end(char* out, size_t len, double v, double b_min, double b_max, double b) {
    if (v == -INFINITY) snprintf(out, len, "< %.2f", b_min / b);
    else if (v == INFINITY) snprintf(out, len, "> %.2f", b_max / b);
    else snprintf(out, len, "%.2f", v);
}

void rc_format(char* out, size_t len, const rc_estimate* e, double b_min, double b_max) {
    if (e->where == RC_UNKNOWN) {
        snprintf(out, len, "–");
        return;
    }
    char point[32], lo[32], hi[32];
    fmt_end(point, sizeof point, e->ratio, b_min, b_max, e->b);
    if (!e->n_valid) {
        snprintf(out, len, "%s", point);
        return;
    }
    fmt_end(lo, sizeof lo, e->lo, b_min, b_max, e->b);
    fmt_end(hi, sizeof hi, e->hi, b_min, b_max, e->b);
    snprintf(out, len, "%s [%s, %s]", point, lo, hi);
}

// ---------------------------------------------------------------------------------------
// the task's table and plot data

void rc_write_task(FILE* md, FILE* dat, const double* ubudgets, const double* acc_u, int m, const rc_series* targets,
                   int n_targets, int n_seeds) {
    double b_min = ubudgets[0], b_max = ubudgets[m - 1];
    fprintf(md, "| series | b | accuracy (%%) | equivalent uniform budget b' | b'/b [95 %% CI] | verdict |\n"
                "|---|---|---|---|---|---|\n");
    for (int s = 0; s < n_targets; s++) {
        const rc_series* t = &targets[s];
        fprintf(dat, "\"%s\" \"b\" \"b_equiv\" \"b_equiv_lo\" \"b_equiv_hi\"\n", t->label);
        int rows = 0;
        for (int j = 0; j < t->n_budgets; j++) {
            const double* acc_t = t->acc + (size_t)j * n_seeds;
            double b = t->budgets[j];
            rc_estimate e = rc_compress(ubudgets, acc_u, m, acc_t, b, n_seeds, RC_RESAMPLES, RC_BOOT_SEED);
            if (e.where == RC_UNKNOWN) continue;
            double sum = 0;
            int k = 0;
            for (int i = 0; i < n_seeds; i++)
                if (isfinite(acc_t[i])) {
                    sum += acc_t[i];
                    k++;
                }
            char ratio[128], equiv[48];
            rc_format(ratio, sizeof ratio, &e, b_min, b_max);
            if (e.where == RC_BELOW) snprintf(equiv, sizeof equiv, "< min (%g)", b_min);
            else if (e.where == RC_ABOVE) snprintf(equiv, sizeof equiv, "> max (%g)", b_max);
            else snprintf(equiv, sizeof equiv, "%.2f", e.equiv);
            const char* verdict = !e.n_valid ? "not resolved (no resample)"
                                  : !e.resolved && (isinf(e.lo) || isinf(e.hi))
                                      ? "not resolved (the interval may contain 1: it reaches outside the swept budgets)"
                                  : !e.resolved ? "not resolved (the interval contains 1)"
                                  : e.resolved > 0 ? "fewer queries than uniform LR"
                                             : "more queries than uniform LR";
            fprintf(md, "| %s | %g | %.1f | %s | %s | %s |\n", t->label, b, 100 * sum / k, equiv, ratio, verdict);
            // plot data: b' and its interval in budget units; outside the swept range: NaN
            double pt = isfinite(e.equiv) ? e.equiv : NAN;
            double lo = isfinite(e.lo) ? e.lo * b : NAN, hi = isfinite(e.hi) ? e.hi * b : NAN;
            fprintf(dat, "%g", b);
            double cols[3] = {pt, lo, hi};
            for (int c = 0; c < 3; c++)
                if (isfinite(cols[c])) fprintf(dat, " %.6g", cols[c]);
                else fprintf(dat, " NaN");
            fprintf(dat, "\n");
            rows++;
        }
        if (!rows) fprintf(dat, "NaN NaN NaN NaN\n");
        fprintf(dat, "\n\n");
    }
}
