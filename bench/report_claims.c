// report_claims.c: the paper's comparisons in REPORT.md (`flbench report DIR`, report.h): the
// directional claims, each a family of paired comparisons with one verdict (docs/SWEEPS.md,
// "The report's statistics"; report_stats.c), and query compression, the equivalent uniform-LR
// budget of each series (report_compress.c), with its plot data (plotdata/compress_K.dat).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "report.h"
#include "report_stats.h"
#include "../impl/estimators/estimator.h"

// ---------------------------------------------------------------------------------------
// the paper's comparisons, as data
//
// Each claim compares series A with series B, both named by estimator (method) and allocator:
// A at budget b against B at the same b, or, where the claim fixes B's budget, A at every other
// budget against B at that one. A NULL allocator on the B side: the one series of that method at
// the budget, whatever its allocator. The verdicts follow this table's order. Everything else in
// the report comes from what the CSVs hold; only these tables name the paper's estimators.

#define MAX_CLAIM_ALLOCS 4
#define MAX_FAMILIES 16

typedef struct {
    const char* name;               // the verdict's title; with each_allocator, a format of the allocator's title
    const char* a_method;
    const char* a_allocs[MAX_CLAIM_ALLOCS];  // A: these allocators of a_method, one series each
    int each_allocator;             // instead: one claim per other allocator of a_method in the task (no
                                    // other claim against the same B names it), listed only where present
    const char* b_method;
    const char* b_alloc;
    int b_budget;                   // 0: B at A's budget
} claim;

static const claim claims[] = {
    {"FLOPS ≥ uniform LR at equal budget", "lr", {"flops"}, 0, "lr", "uniform", 0},
    {"allocated and uniform LR ≥ MeZO at equal budget", "lr", {"uniform", "flops", "neyman"}, 0, "mezo", NULL, 0},
    {"allocated and uniform LR ≥ MeZO at 2 queries per datum (the paper's MeZO setting)", "lr", {"uniform", "flops", "neyman"},
     0, "mezo", NULL, 2},
    {"(supplementary) %s ≥ uniform LR at equal budget", "lr", {NULL}, 1, "lr", "uniform", 0},
};
#define N_CLAIMS (int)(sizeof claims / sizeof claims[0])

// Query compression: every forward series against the uniform allocation of one estimator
// (uniform LR), in sections: those of this table first, each always written, then one for each
// other forward method the task holds (a new estimator gets its own without an edit here).
static const struct {
    const char* method;
    const char* allocator;
} compress_reference = {"lr", "uniform"};

typedef struct {
    const char* method;
    int other_allocators;   // 1: the series of method with an allocator other than the reference's; 0: all of them
    const char* heading;    // a format; %s: the reference series' label, where the heading names it
} compress_section;

static const compress_section compress_sections[] = {
    {"lr", 1, "LR allocators against uniform LR (%s):\n\n"},
    {"mezo", 0, "\nMeZO against uniform LR (MeZO at budget b, the uniform-LR budget with the same accuracy):\n\n"},
};
#define N_COMPRESS_SECTIONS (int)(sizeof compress_sections / sizeof compress_sections[0])
#define MAX_SECTIONS 32

// ---------------------------------------------------------------------------------------
// claims (docs/SWEEPS.md, "The report's statistics")
//
// A claim "A >= B" on one task is a family of comparisons (e.g. FLOPS >= uniform LR at every
// budget). Each comparison is a paired t-test over the seeds both sides have; it counts as
// evidence only where A spends no more than B (docs/METHOD.md, "Spend"). Holm's adjustment runs
// over the family's evidence, and the family gets one verdict.

#define MAX_FAMILY 256
#define ALPHA 0.05

// The differences A - B (fractions of accuracy) paired by seed over both sides' ok cells.
static int paired_diffs(const rdata* d, int sa, int ba, int sb, int bb, double* diffs, int max) {
    long ia[256], ib[256];
    int na = rp_point_cells(d, sa, ba, ia, 256), nb = rp_point_cells(d, sb, bb, ib, 256);
    int k = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb && k < max; j++) {
            const rcell* x = &d->cells[ia[i]];
            const rcell* y = &d->cells[ib[j]];
            if (x->seed == y->seed && !strcmp(x->status, "ok") && !strcmp(y->status, "ok") && isfinite(x->acc) && isfinite(y->acc))
                diffs[k++] = x->acc - y->acc;
        }
    return k;
}

typedef struct {
    int sa, ba, sb, bb;
    int has_acc;                // both sides have accuracy
    rs_paired test;             // over the paired seeds
    double spend_a, spend_b;    // queries/datum/step, mean over ok seeds (NAN: unknown)
    int evidence;               // counts towards the family's verdict
    char why_not[160];          // when not evidence
    double p_holm;
} comparison;

typedef struct {
    char name[200];
    comparison rows[MAX_FAMILY];
    int n;
} family;

static void family_add(family* f, int sa, int ba, int sb, int bb) {
    if (f->n < MAX_FAMILY) f->rows[f->n++] = (comparison){.sa = sa, .ba = ba, .sb = sb, .bb = bb};
}

static void evaluate(const rdata* d, comparison* c) {
    rpoint pa = rp_point_stat(d, c->sa, c->ba, RF_ACC), pb = rp_point_stat(d, c->sb, c->bb, RF_ACC);
    c->has_acc = pa.s.n > 0 && pb.s.n > 0;
    double diffs[1024];
    int n = paired_diffs(d, c->sa, c->ba, c->sb, c->bb, diffs, 1024);
    c->test = rs_paired_test(diffs, n);
    c->spend_a = rp_point_stat(d, c->sa, c->ba, RF_SPEND).s.mean;
    c->spend_b = rp_point_stat(d, c->sb, c->bb, RF_SPEND).s.mean;
    c->p_holm = NAN;
    c->evidence = 0;
    if (!c->has_acc) snprintf(c->why_not, sizeof c->why_not, "no accuracy on one side");
    else if (n < 2) snprintf(c->why_not, sizeof c->why_not, "%s", n ? "one paired seed: no test" : "no seed in common: no paired test");
    else if (!isfinite(c->spend_a) || !isfinite(c->spend_b))
        snprintf(c->why_not, sizeof c->why_not, "spend unknown (a CSV without spend_per_datum)");
    else if (!rs_spend_not_more(c->spend_a, c->spend_b))
        snprintf(c->why_not, sizeof c->why_not, "A spends more than B (%.2f > %.2f queries/datum/step)", c->spend_a, c->spend_b);
    else c->evidence = 1;
}

// Whether an allocated series' cells left the uniform allocation (the text beside its rows).
static void allocation_note(const rdata* d, int s, int b, char* out, size_t len) {
    out[0] = 0;
    const rseries* A = &d->series[s];
    if (!strcmp(A->allocator, "uniform") || !A->allocator[0]) return;
    long idx[256];
    int n = rp_point_cells(d, s, b, idx, 256);
    double frac = 0;
    int known = 0, nonuni = 0;
    for (int i = 0; i < n; i++) {
        const rcell* c = &d->cells[idx[i]];
        nonuni |= c->nonuniform;
        if (isfinite(c->nonuni_frac)) {
            frac += c->nonuni_frac;
            known++;
        }
    }
    if (!n) return;
    if (known) {
        frac /= known;
        if (frac == 0) snprintf(out, len, " (the allocator never left the uniform allocation: n_i = b for every datum)");
        else snprintf(out, len, " (allocation not uniform in %.0f %% of steps)", 100 * frac);
    } else if (!nonuni) snprintf(out, len, " (the allocator never left the uniform allocation: n_i = b for every datum)");
}

static void spend_text(char* out, size_t len, const comparison* c) {
    if (!isfinite(c->spend_a) || !isfinite(c->spend_b))
        snprintf(out, len, "unknown (A %s, B %s)", isfinite(c->spend_a) ? "known" : "?", isfinite(c->spend_b) ? "known" : "?");
    else if (rs_spend_matched(c->spend_a, c->spend_b)) snprintf(out, len, "matched spend (%.2f)", c->spend_a);
    else snprintf(out, len, "A %.2f, B %.2f", c->spend_a, c->spend_b);
}

typedef struct {
    int k_pos, k_neg, m;      // significant after Holm in favour, against; evidence comparisons
    int shown_not_evidence;
} verdict_count;

// Rows of one family, then its one verdict line into summary.
static void write_family(FILE* md, FILE* summary, const rdata* d, family* f) {
    if (!f->n) {
        fprintf(summary, "- **%s**: no comparison possible (a side is missing from the data).\n", f->name);
        return;
    }
    double p[MAX_FAMILY], adj[MAX_FAMILY];
    for (int i = 0; i < f->n; i++) {
        evaluate(d, &f->rows[i]);
        p[i] = f->rows[i].evidence ? f->rows[i].test.p : NAN;
    }
    rs_holm(p, f->n, adj);
    verdict_count v = {0};
    for (int i = 0; i < f->n; i++) {
        comparison* c = &f->rows[i];
        c->p_holm = adj[i];
        rpoint pa = rp_point_stat(d, c->sa, c->ba, RF_ACC), pb = rp_point_stat(d, c->sb, c->bb, RF_ACC);
        char A[64], B[64], na[64], nb[64], sp[96], note[160];
        rp_fmt_pm(A, sizeof A, pa.s, 100, 1);
        rp_fmt_pm(B, sizeof B, pb.s, 100, 1);
        rp_point_note(na, sizeof na, &pa);
        rp_point_note(nb, sizeof nb, &pb);
        spend_text(sp, sizeof sp, c);
        allocation_note(d, c->sa, c->ba, note, sizeof note);
        fprintf(md, "| %s | %s (b=%d): %s%s | %s (b=%d): %s%s | %s | ", f->name, d->series[c->sa].label, c->ba, A, na,
                d->series[c->sb].label, c->bb, B, nb, sp);
        const rs_paired* t = &c->test;
        if (t->n >= 2) fprintf(md, "%+.2f [%+.2f, %+.2f], %d seeds | ", 100 * t->mean, 100 * t->lo, 100 * t->hi, t->n);
        else if (t->n == 1) fprintf(md, "%+.2f, 1 seed | ", 100 * t->mean);
        else fprintf(md, "– | ");
        if (c->evidence) fprintf(md, "%.3g (Holm %.3g) | ", t->p, c->p_holm);
        else if (t->n >= 2) fprintf(md, "%.3g | ", t->p);
        else fprintf(md, "– | ");
        if (!c->evidence) {
            fprintf(md, "not evidence: %s%s |\n", c->why_not, note);
            v.shown_not_evidence++;
            continue;
        }
        v.m++;
        int holds = t->mean >= 0, sig = c->p_holm < ALPHA;
        v.k_pos += sig && t->mean > 0;
        v.k_neg += sig && t->mean < 0;
        if (sig) fprintf(md, "%s, significant%s |\n", holds ? "holds" : "**fails**", note);
        else fprintf(md, "%s, not significant (detectable: %.2f points at %d seeds)%s |\n", holds ? "holds" : "fails",
                     100 * t->mdd, t->n, note);
    }
    fprintf(summary, "- **%s**: ", f->name);
    int k = v.k_pos + v.k_neg;
    if (!v.m) fprintf(summary, "cannot decide: no comparison counts as evidence");
    else if (v.k_pos && v.k_neg)
        fprintf(summary, "cannot decide: significant in opposite directions (%d for, %d against, of %d comparisons after Holm)",
                v.k_pos, v.k_neg, v.m);
    else if (!k) fprintf(summary, "cannot decide: significant in none of %d comparisons after Holm", v.m);
    else if (v.k_pos) fprintf(summary, "holds: %d of %d comparisons significant after Holm, all in favour", k, v.m);
    else fprintf(summary, "**fails**: %d of %d comparisons significant after Holm, all against", k, v.m);
    if (v.shown_not_evidence && v.m)
        fprintf(summary, " (%d more shown above %s not evidence)", v.shown_not_evidence, v.shown_not_evidence == 1 ? "is" : "are");
    else if (v.shown_not_evidence) fprintf(summary, " (%d shown above, each with its reason)", v.shown_not_evidence);
    fprintf(summary, ".\n");
}

// ---------------------------------------------------------------------------------------
// a claim's families from the table

static int same_name(const char* a, const char* b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

// Whether allocator a of c's A side is B's own, or a claim with fixed allocators against the
// same B names it.
static int named_elsewhere(const claim* c, const char* a) {
    if (c->b_alloc && !strcmp(c->b_method, c->a_method) && !strcmp(a, c->b_alloc)) return 1;
    for (int i = 0; i < N_CLAIMS; i++) {
        const claim* o = &claims[i];
        if (o->each_allocator || strcmp(o->a_method, c->a_method) || strcmp(o->b_method, c->b_method) ||
            !same_name(o->b_alloc, c->b_alloc) || o->b_budget != c->b_budget)
            continue;
        for (int j = 0; j < MAX_CLAIM_ALLOCS && o->a_allocs[j]; j++)
            if (!strcmp(o->a_allocs[j], a)) return 1;
    }
    return 0;
}

static int cmp_alloc(const void* x, const void* y) {
    const char* a = *(const char* const*)x;
    const char* b = *(const char* const*)y;
    int ra = rp_alloc_rank(a), rb = rp_alloc_rank(b);
    return ra != rb ? ra - rb : strcmp(a, b);
}

// The allocators of claim c's A side on task k, in the tables' order: its own, or for an
// each-allocator claim those of a_method that have a series at one of the task's budgets.
static int claim_allocators(const rdata* d, int k, const claim* c, const char** out, int max) {
    int n = 0;
    if (!c->each_allocator) {
        for (int j = 0; j < MAX_CLAIM_ALLOCS && c->a_allocs[j] && n < max; j++) out[n++] = c->a_allocs[j];
        return n;
    }
    const rtask* t = &d->tasks[k];
    for (int s = 0; s < d->n_series && n < max; s++) {
        const rseries* x = &d->series[s];
        if (x->task != k || strcmp(x->method, c->a_method) || named_elsewhere(c, x->allocator)) continue;
        int have = 0;
        for (int j = 0; j < n; j++) have |= !strcmp(out[j], x->allocator);
        int any = 0;
        for (int bi = 0; bi < t->n_budgets && !have; bi++) any |= rp_series_by_method(d, k, c->a_method, x->allocator, t->budgets[bi]) >= 0;
        if (any) out[n++] = x->allocator;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_alloc);
    return n;
}

// The comparisons of claim c on task k with A's allocators allocs (n_allocs) into f.
static void claim_rows(const rdata* d, int k, const claim* c, const char* const* allocs, int n_allocs, family* f) {
    const rtask* t = &d->tasks[k];
    int fixed = c->b_budget ? rp_series_by_method(d, k, c->b_method, c->b_alloc, c->b_budget) : -1;
    if (c->b_budget && fixed < 0) return;
    for (int bi = 0; bi < t->n_budgets; bi++) {
        int b = t->budgets[bi];
        if (c->b_budget && b == c->b_budget) continue;
        int sb = c->b_budget ? fixed : rp_series_by_method(d, k, c->b_method, c->b_alloc, b);
        int bb = c->b_budget ? c->b_budget : b;
        for (int a = 0; a < n_allocs; a++) {
            int s = rp_series_by_method(d, k, c->a_method, allocs[a], b);
            if (s >= 0 && sb >= 0) family_add(f, s, b, sb, bb);
        }
    }
}

void rp_write_claims(FILE* md, const rdata* d, int k) {
    int seeds = rp_task_seeds(d, k);
    fprintf(md, "\n**The paper's directional claims on this task.** A − B is in accuracy points: the mean of the "
                "differences paired by seed, with its 95 %% confidence interval (t quantile of the pairs' degrees of "
                "freedom; with this task's %d seeds, df = %d and t = %.3f). p is the two-sided paired t-test's; "
                "\"significant\" means significant at 5 %% after Holm–Bonferroni within the claim (one claim on one "
                "task is one family). Beside \"not significant\" is the smallest true difference the test would detect "
                "with power 0.8 at those seeds (noncentral t). A row counts as evidence only where A spends no more "
                "than B (spend per datum per step, within 2 %%; \"matched spend\" when they differ by at most 2 %%). "
                "Each claim gets one verdict: holds or **fails** when its significant comparisons all point one way, "
                "\"cannot decide\" when they point both ways or none is significant; a difference whose verdict would "
                "change with float rounding is noise.%s\n\n",
            seeds, seeds - 1, seeds >= 2 ? rs_t_quantile(0.975, seeds - 1) : NAN,
            seeds < 10 ? " With fewer than 10 seeds these verdicts are indicative." : "");
    fprintf(md, "| claim | A | B | spend/datum/step | A − B [95 %% CI] | p | verdict |\n|---|---|---|---|---|---|---|\n");
    // the families, in the table's order: one per claim, or per allocator of an each-allocator claim
    static family fam[MAX_FAMILIES];
    int n_fam = 0;
    for (int i = 0; i < N_CLAIMS; i++) {
        const claim* c = &claims[i];
        const char* allocs[64];
        int n_allocs = claim_allocators(d, k, c, allocs, 64);
        for (int f = 0; f < (c->each_allocator ? n_allocs : 1) && n_fam < MAX_FAMILIES; f++) {
            family* fm = &fam[n_fam++];
            memset(fm, 0, sizeof *fm);
            if (c->each_allocator) {
                snprintf(fm->name, sizeof fm->name, c->name, rp_alloc_title(allocs[f]));
                claim_rows(d, k, c, allocs + f, 1, fm);
            } else {
                snprintf(fm->name, sizeof fm->name, "%s", c->name);
                claim_rows(d, k, c, allocs, n_allocs, fm);
            }
        }
    }
    // rows go to md as they are evaluated; the verdict lines are gathered and follow the table
    char* sum_buf = NULL;
    size_t sum_len = 0;
    FILE* summary = open_memstream(&sum_buf, &sum_len);
    if (!summary) {
        fprintf(stderr, "flbench report: out of memory\n");
        exit(2);
    }
    for (int f = 0; f < n_fam; f++) write_family(md, summary, d, &fam[f]);
    fclose(summary);
    fprintf(md, "\nVerdicts (one per claim on this task, %d seed%s):\n\n%s", seeds, seeds == 1 ? "" : "s", sum_buf ? sum_buf : "");
    free(sum_buf);
}

// ---------------------------------------------------------------------------------------
// query compression (report_compress.c)

void rp_write_compression(FILE* md, rdata* d, int k, const char* plotdir) {
    rtask* t = &d->tasks[k];
    t->n_compress = 0;
    t->compress_lo = t->n_budgets ? t->budgets[0] : 1;
    t->compress_hi = t->n_budgets ? t->budgets[t->n_budgets - 1] : 2;
    FILE* dat = rp_open_plot(plotdir, "compress", k);
    if (!dat) exit(2);
    fprintf(dat, "# %s: equivalent uniform-LR budget b' of each series at budget b, with its bootstrap 95 %% interval "
                 "(NaN outside the swept uniform budgets); one block per series\n",
            t->title);
    fprintf(md, "\n**Query compression.** For a series A at budget b, the equivalent uniform budget b' is the uniform-LR "
                "budget whose mean final accuracy equals A's, interpolated linearly in log2(budget) between the swept "
                "uniform budgets (\"< min\" or \"> max\" outside them: never extrapolated). b'/b > 1: A reaches that "
                "accuracy with fewer queries than uniform LR. Intervals: percentile bootstrap 95 %%, %d resamples of the "
                "seeds (the same drawn seeds for every cell, so the pairing by seed is kept; splitmix64 from seed %llu); "
                "\"not resolved\" where the interval contains 1. Budgets are nominal (the spends are in the cost table).\n\n",
            RC_RESAMPLES, (unsigned long long)RC_BOOT_SEED);
    // uniform LR: the reference's series with the most finished cells
    int uni = -1, best = 0;
    for (int s = 0; s < d->n_series; s++) {
        if (d->series[s].task != k || strcmp(d->series[s].method, compress_reference.method) ||
            strcmp(d->series[s].allocator, compress_reference.allocator))
            continue;
        int n = 0;
        for (long i = 0; i < d->n_cells; i++) n += d->cells[i].series == s && !strcmp(d->cells[i].status, "ok");
        if (n > best) {
            best = n;
            uni = s;
        }
    }
    // the seeds: every seed with an ok cell in the task (index i of the matrices is seeds[i])
    long seeds[1024];
    int n_seeds = 0;
    for (long i = 0; i < d->n_cells; i++) {
        const rcell* c = &d->cells[i];
        if (c->task != k || strcmp(c->status, "ok")) continue;
        int have = 0;
        for (int j = 0; j < n_seeds; j++) have |= seeds[j] == c->seed;
        if (!have && n_seeds < 1024) seeds[n_seeds++] = c->seed;
    }
    // accuracies of series s at budget b, by seed (NAN: no ok cell); a repeated seed keeps the first
    double* mat = fl_malloc((size_t)(d->n_series + 1) * 64 * (size_t)(n_seeds ? n_seeds : 1) * sizeof(double));
    double ub[64];
    int m = 0;
    if (uni >= 0)
        for (int bi = 0; bi < t->n_budgets; bi++) {
            double* row = mat + (size_t)m * n_seeds;
            int any = 0;
            for (int i = 0; i < n_seeds; i++) row[i] = NAN;
            for (long c = 0; c < d->n_cells; c++) {
                const rcell* x = &d->cells[c];
                if (x->series != uni || x->budget != t->budgets[bi] || strcmp(x->status, "ok") || !isfinite(x->acc)) continue;
                for (int i = 0; i < n_seeds; i++)
                    if (seeds[i] == x->seed && isnan(row[i])) row[i] = x->acc, any = 1;
            }
            if (any) ub[m++] = t->budgets[bi];
        }
    if (m < 2) {
        fprintf(md, "Not computed: it needs uniform LR at two or more budgets (this task has %d).\n", m);
        fprintf(dat, "\"\" \"b\" \"b_equiv\" \"b_equiv_lo\" \"b_equiv_hi\"\nNaN NaN NaN NaN\n\n\n");
        fclose(dat);
        free(mat);
        return;
    }
    t->compress_lo = ub[0];
    t->compress_hi = ub[m - 1];
    // the sections: the table's, then each other forward method of the task in the global series order
    compress_section sections[MAX_SECTIONS];
    char headings[MAX_SECTIONS][160];
    int n_sec = 0;
    for (int i = 0; i < N_COMPRESS_SECTIONS; i++) sections[n_sec++] = compress_sections[i];
    for (int g = 0; g < d->n_global && n_sec < MAX_SECTIONS; g++) {
        int s = rp_series_of(d, k, g);
        if (s < 0 || fl_method_is_exact(d->series[s].method)) continue;
        const char* m = d->series[s].method;
        int have = 0;
        for (int i = 0; i < n_sec; i++) have |= !strcmp(sections[i].method, m);
        if (have) continue;
        snprintf(headings[n_sec], sizeof headings[n_sec],
                 "\n%s against uniform LR (%s at budget b, the uniform-LR budget with the same accuracy):\n\n", m, m);
        sections[n_sec] = (compress_section){m, 0, headings[n_sec]};
        n_sec++;
    }
    // the targets of each section, in the global series order
    for (int sec = 0; sec < n_sec; sec++) {
        const compress_section* cs = &sections[sec];
        rc_series targets[64];
        double* tb = fl_malloc(64 * 64 * sizeof(double));
        int n_t = 0;
        size_t used = (size_t)m * n_seeds;
        for (int g = 0; g < d->n_global && n_t < 64; g++) {
            int s = rp_series_of(d, k, g);
            if (s < 0) continue;
            const rseries* x = &d->series[s];
            if (strcmp(x->method, cs->method) || (cs->other_allocators && !strcmp(x->allocator, compress_reference.allocator)))
                continue;
            double* budgets = tb + 64 * n_t;
            double* acc = mat + used;
            int nb = 0;
            for (int bi = 0; bi < t->n_budgets; bi++) {
                double* row = acc + (size_t)nb * n_seeds;
                int any = 0;
                for (int i = 0; i < n_seeds; i++) row[i] = NAN;
                for (long c = 0; c < d->n_cells; c++) {
                    const rcell* y = &d->cells[c];
                    if (y->series != s || y->budget != t->budgets[bi] || strcmp(y->status, "ok") || !isfinite(y->acc)) continue;
                    for (int i = 0; i < n_seeds; i++)
                        if (seeds[i] == y->seed && isnan(row[i])) row[i] = y->acc, any = 1;
                }
                if (any) budgets[nb++] = t->budgets[bi];
            }
            if (!nb) continue;
            used += (size_t)nb * n_seeds;
            targets[n_t++] = (rc_series){x->label, nb, budgets, acc};
        }
        if (sec < N_COMPRESS_SECTIONS) fprintf(md, cs->heading, d->series[uni].label);
        else fputs(cs->heading, md);
        if (n_t) rc_write_task(md, dat, ub, mat, m, targets, n_t, n_seeds);
        else fprintf(md, "No such series on this task.\n");
        t->n_compress += n_t;
        free(tb);
    }
    if (!t->n_compress) fprintf(dat, "\"\" \"b\" \"b_equiv\" \"b_equiv_lo\" \"b_equiv_hi\"\nNaN NaN NaN NaN\n\n\n");
    fclose(dat);
    free(mat);
}
