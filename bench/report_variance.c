// report_variance.c: the estimator-quality section of REPORT.md (`flbench report DIR`) and
// its plot data, from the CSVs that `flbench variance` wrote under DIR/variance/.
//
// One subsection per study (dataset, model, model state, method):
//   - relative MSE by allocator and budget, with the log-log slope of uniform (expected -1);
//   - the variance ratio against uniform, measured next to the ratio predicted from the
//     measured per-datum variances (docs/METHOD.md, "The allocation problem");
//   - the estimator variants (pairs, baselines, weightings) at one budget: bias against its
//     standard error, so a biased variant shows it;
//   - the flops ablation (frozen parameter subsets).
// Then, from DIR/track/*.track.csv (`train --track-variance`), the variance ratio along
// training beside the accuracy difference of the sweeps in DIR, and which of three causes
// explains a variance reduction that does not show in accuracy (track_section below).
// Plot data (DIR/plotdata/var_*.dat, track_ratio.dat) feeds plots/var_*.gp, plots/track_ratio.gp.
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include "run/csvread.h"
#include "run/schema_upgrade.h"
#include "../impl/estimators/estimator.h"

#define MAX_ROWS 20000

typedef struct {
    char study[400], variant[64], alloc[32], freeze[64];
    int budget;
    double rel_mse, rel_mse_se, cos_mean, cos_std, bias_rel, bias_se, bias_z, ratio, pred, pred_c, queries, alloc_ms;
    int n_lo, n_hi;
} vrow;

// The default variant of a study: LR's defaults (pairs/baseline/weighting), or a method that
// perturbs weights with unbiased weighting ("METHOD/unbiased", bench/run/variance.c).
static int default_variant(const char* v) {
    if (!strcmp(v, "same/clean/unbiased")) return 1;
    const char* slash = strchr(v, '/');
    if (!slash || strcmp(slash, "/unbiased")) return 0;
    char method[64];
    snprintf(method, sizeof method, "%.*s", (int)(slash - v), v);
    return fl_method_perturbs_weights(method);
}

// The standard error of v's ratio to uniform (rel MSE over uniform's at the same budget, same
// study and variant), from the two rel_mse_se by the delta method with the two estimates taken
// as independent; 0 for uniform itself, NaN when uniform's row is missing.
static double ratio_se(const vrow* rows, int n, const vrow* v) {
    if (!strcmp(v->alloc, "uniform")) return 0;
    for (int i = 0; i < n; i++) {
        const vrow* u = &rows[i];
        if (!strcmp(u->study, v->study) && !strcmp(u->variant, v->variant) && !u->freeze[0] &&
            !strcmp(u->alloc, "uniform") && u->budget == v->budget && u->rel_mse > 0 && v->rel_mse > 0) {
            double a = v->rel_mse_se / v->rel_mse, b = u->rel_mse_se / u->rel_mse;
            return v->ratio * sqrt(a * a + b * b);
        }
    }
    return NAN;
}

static int load_dir(const char* dir, vrow* rows, int* n) {
    DIR* d = opendir(dir);
    if (!d) return 0;
    struct dirent* de;
    int files = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".csv")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        fl_csv t;
        fl_err err;
        if (fl_csv_read(path, &t, &err)) { fprintf(stderr, "flbench report: %s\n", err.msg); continue; }
        if (fl_csv_col(&t, "rel_mse") < 0 || fl_csv_col(&t, "batch_index") < 0) { fl_csv_free(&t); continue; }
        files++;
        for (long r = 0; r < t.n_rows && *n < MAX_ROWS; r++) {
            if (strcmp(fl_csv_field(&t, r, "batch_index"), "all")) continue;
            vrow* v = &rows[(*n)++];
            memset(v, 0, sizeof *v);
            snprintf(v->study, sizeof v->study, "%s, %s, %s, %s", fl_csv_field(&t, r, "dataset"),
                     fl_csv_field(&t, r, "model"), fl_csv_field(&t, r, "weights"), fl_csv_field(&t, r, "method"));
            snprintf(v->variant, sizeof v->variant, "%s", fl_csv_field(&t, r, "variant"));
            snprintf(v->alloc, sizeof v->alloc, "%s", fl_csv_field(&t, r, "allocator"));
            snprintf(v->freeze, sizeof v->freeze, "%s", fl_csv_field(&t, r, "freeze"));
            v->budget = atoi(fl_csv_field(&t, r, "budget"));
#define F(field, col) v->field = atof(fl_csv_field(&t, r, col))
            F(rel_mse, "rel_mse"); F(rel_mse_se, "rel_mse_se"); F(cos_mean, "cos_mean"); F(cos_std, "cos_std");
            F(bias_rel, "bias_rel"); F(bias_se, "bias_se_rel"); F(bias_z, "bias_z"); F(ratio, "var_ratio_vs_uniform");
            F(pred, "predicted_ratio"); F(pred_c, "predicted_ratio_constrained"); F(queries, "queries");
            F(alloc_ms, "alloc_ms");
#undef F
            v->n_lo = atoi(fl_csv_field(&t, r, "n_lo"));
            v->n_hi = atoi(fl_csv_field(&t, r, "n_hi"));
            // several studies measure the same reference cell (uniform, default variant):
            // keep the first of each (study, variant, allocator, frozen set, budget)
            for (int j = 0; j < *n - 1; j++) {
                const vrow* u = &rows[j];
                if (!strcmp(u->study, v->study) && !strcmp(u->variant, v->variant) && !strcmp(u->alloc, v->alloc) &&
                    !strcmp(u->freeze, v->freeze) && u->budget == v->budget) {
                    (*n)--;
                    break;
                }
            }
        }
        fl_csv_free(&t);
    }
    closedir(d);
    return files;
}

// Least-squares slope of log rel_mse on log budget for one allocator of a study (main variant).
static double slope(const vrow* rows, int n, const char* study, const char* alloc, int* points) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const vrow* v = &rows[i];
        if (strcmp(v->study, study) || strcmp(v->alloc, alloc) || !default_variant(v->variant) || v->freeze[0] ||
            v->rel_mse <= 0)
            continue;
        double x = log(v->budget), y = log(v->rel_mse);
        sx += x; sy += y; sxx += x * x; sxy += x * y;
        k++;
    }
    *points = k;
    return k >= 2 ? (k * sxy - sx * sy) / (k * sxx - sx * sx) : NAN;
}

static int cmp_int(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

static int variance_section(FILE* md, const char* dir, const char* plotdir) {
    char vdir[1100];
    snprintf(vdir, sizeof vdir, "%s/variance", dir);
    vrow* rows = fl_calloc(MAX_ROWS, sizeof(vrow));
    int n = 0;
    if (!load_dir(vdir, rows, &n) || n == 0) { free(rows); return -1; }
    fprintf(md, "From `flbench variance` (CSV in `variance/`, schema results/SCHEMA_VARIANCE.md). At a fixed model\n"
                "state, every estimate is compared with the BP gradient g of the same batch: relative MSE\n"
                "E|g_hat - g|^2 / |g|^2 (mean over the fixed batches), cosine, and the bias |mean g_hat - g| / |g|\n"
                "against its standard error (bias_z = squared bias over squared standard error: about 1 when\n"
                "unbiased). `ratio` is rel MSE / rel MSE of uniform at the same budget; `predicted` is\n"
                "(sum sqrt v_i)^2 / (B sum v_i) from per-datum variances measured with many extra queries, and\n"
                "`pred. int.` the same for the best integer allocation with n_i >= 2 (what an allocator can reach).\n");
    // studies in order of appearance
    static char studies[32][400];
    int ns = 0;
    for (int i = 0; i < n && ns < 32; i++) {
        int seen = 0;
        for (int s = 0; s < ns; s++) seen |= !strcmp(studies[s], rows[i].study);
        if (!seen) memcpy(studies[ns++], rows[i].study, sizeof rows[i].study);
    }
    char path[1300];
    snprintf(path, sizeof path, "%s/var_meta.gp", plotdir);
    FILE* meta = fopen(path, "w");
    if (meta) fprintf(meta, "# studies of the estimator-quality section (plots/var_*.gp)\nnvar = %d\n", ns);
    for (int s = 0; s < ns; s++) {
        const char* st = studies[s];
        fprintf(md, "\n### %s\n\n", st);
        int budgets[64], nb = 0;
        char allocs[16][32];
        int na = 0;
        for (int i = 0; i < n; i++) {
            const vrow* v = &rows[i];
            if (strcmp(v->study, st) || !default_variant(v->variant) || v->freeze[0]) continue;
            int have = 0;
            for (int b = 0; b < nb; b++) have |= budgets[b] == v->budget;
            if (!have && nb < 64) budgets[nb++] = v->budget;
            have = 0;
            for (int a = 0; a < na; a++) have |= !strcmp(allocs[a], v->alloc);
            if (!have && na < 16) snprintf(allocs[na++], 32, "%s", v->alloc);
        }
        qsort(budgets, (size_t)nb, sizeof(int), cmp_int);
        if (meta) {
            // a short panel title: "method, model" with the model cut at its first comma
            char title[400], model[128] = "", method[32] = "";
            const char* c1 = strchr(st, ',');                       // after the dataset
            const char* mstart = c1 ? c1 + 2 : st;
            size_t ml = strcspn(mstart, ",");
            snprintf(model, sizeof model, "%.*s", (int)(ml < 100 ? ml : 100), mstart);
            const char* last = strrchr(st, ',');
            snprintf(method, sizeof method, "%s", last ? last + 2 : "");
            snprintf(title, sizeof title, "%s, %s%s", method, model, strchr(st, '[') ? " (few-shot)" : "");
            for (char* c = title; *c; c++) if (*c == '"' || *c == '_') *c = ' ';
            fprintf(meta, "vtitle%d = \"%s\"\nnalloc%d = %d\n", s + 1, title, s + 1, na);
            for (int a = 0; a < na; a++) fprintf(meta, "valloc%d_%d = \"%s\"\n", s + 1, a, allocs[a]);
        }
        // main table
        if (nb && na) {
            fprintf(md, "| allocator |");
            for (int b = 0; b < nb; b++) fprintf(md, " budget %d |", budgets[b]);
            fprintf(md, "\n|---|");
            for (int b = 0; b < nb; b++) fprintf(md, "---|");
            fprintf(md, "\n");
            for (int a = 0; a < na; a++) {
                fprintf(md, "| %s |", allocs[a]);
                for (int b = 0; b < nb; b++) {
                    const vrow* hit = NULL;
                    for (int i = 0; i < n; i++) {
                        const vrow* v = &rows[i];
                        if (!strcmp(v->study, st) && default_variant(v->variant) && !v->freeze[0] &&
                            !strcmp(v->alloc, allocs[a]) && v->budget == budgets[b])
                            hit = v;
                    }
                    if (!hit) fprintf(md, " |");
                    else if (!strcmp(allocs[a], "uniform"))
                        fprintf(md, " %.3g (cos %.2f) |", hit->rel_mse, hit->cos_mean);
                    else
                        fprintf(md, " %.3g (ratio %.2f, predicted %.2f, pred. int. %.2f) |", hit->rel_mse, hit->ratio,
                                hit->pred, hit->pred_c);
                }
                fprintf(md, "\n");
            }
            int pts;
            double sl = slope(rows, n, st, "uniform", &pts);
            if (pts >= 2)
                fprintf(md, "\nUniform: relative MSE against budget has log-log slope %.3f over %d budgets "
                            "(independent queries give -1: variance falls as 1/N). %s\n",
                        sl, pts, fabs(sl + 1) <= 0.15 ? "It does." : "It does not, within 0.15.");
            // what the data says about allocation, at the largest budget
            int bmax = budgets[nb - 1];
            for (int a = 0; a < na; a++) {
                if (!strcmp(allocs[a], "uniform")) continue;
                for (int i = 0; i < n; i++) {
                    const vrow* v = &rows[i];
                    if (strcmp(v->study, st) || !default_variant(v->variant) || v->freeze[0] ||
                        strcmp(v->alloc, allocs[a]) || v->budget != bmax)
                        continue;
                    fprintf(md, "- %s at budget %d: variance %s uniform's by a factor %.2f (measured), %.2f predicted "
                                "for the best integer allocation; %.2f ms of allocator time per estimate.\n",
                            allocs[a], bmax, v->ratio <= 1 ? "below" : "ABOVE", v->ratio, v->pred_c, v->alloc_ms);
                }
            }
        }
        // variants
        {
            int header = 0;
            for (int i = 0; i < n; i++) {
                const vrow* v = &rows[i];
                if (strcmp(v->study, st) || v->freeze[0]) continue;
                // all variants at the budgets they were run at, main variant included for reference
                int is_variant_run = !default_variant(v->variant);
                int ref_budget = 0;
                for (int j = 0; j < n && !is_variant_run; j++)
                    if (!strcmp(rows[j].study, st) && !default_variant(rows[j].variant) && rows[j].budget == v->budget)
                        ref_budget = 1;
                if (!is_variant_run && !ref_budget) continue;
                if (!header) {
                    fprintf(md, "\nEstimator variants (pairs/baseline/weighting):\n\n| variant | allocator | budget | rel MSE | bias / |g| | its std. error | bias_z | verdict |\n|---|---|---|---|---|---|---|---|\n");
                    header = 1;
                }
                fprintf(md, "| %s | %s | %d | %.3g | %.3g | %.3g | %.2f | %s |\n", v->variant, v->alloc, v->budget,
                        v->rel_mse, v->bias_rel, v->bias_se, v->bias_z,
                        v->bias_z < 3 ? "no bias detected" : "BIASED (bias beyond its standard error)");
            }
        }
        // flops ablation
        int header = 0;
        for (int i = 0; i < n; i++) {
            const vrow* v = &rows[i];
            if (strcmp(v->study, st) || strcmp(v->alloc, "flops") || !default_variant(v->variant)) continue;
            int has_ablation = 0;
            for (int j = 0; j < n; j++) has_ablation |= !strcmp(rows[j].study, st) && rows[j].freeze[0];
            if (!has_ablation) break;
            if (!header) {
                fprintf(md, "\nflops ablation (parameters kept at their initial values):\n\n| frozen | budget | rel MSE | ratio to uniform |\n|---|---|---|---|\n");
                header = 1;
            }
            fprintf(md, "| %s | %d | %.3g | %.3f |\n", v->freeze[0] ? v->freeze : "none (all four learned)", v->budget,
                    v->rel_mse, v->ratio);
        }
        // plot data: rel MSE and cosine per allocator (one block each), measured vs predicted
        snprintf(path, sizeof path, "%s/var_%d.dat", plotdir, s + 1);
        FILE* f = fopen(path, "w");
        if (f) {
            fprintf(f, "# %s\n# blocks: one per allocator (order below); columns: budget rel_mse rel_mse_se cos_mean cos_std ratio predicted predicted_int ratio_se\n"
                       "# ratio_se: standard error of ratio, from the two rel_mse_se (delta method, the two MSEs taken as independent)\n", st);
            for (int a = 0; a < na; a++) fprintf(f, "# %d %s\n", a, allocs[a]);
            for (int a = 0; a < na; a++) {
                fprintf(f, "\n\n");
                for (int b = 0; b < nb; b++)
                    for (int i = 0; i < n; i++) {
                        const vrow* v = &rows[i];
                        if (!strcmp(v->study, st) && default_variant(v->variant) && !v->freeze[0] &&
                            !strcmp(v->alloc, allocs[a]) && v->budget == budgets[b])
                            fprintf(f, "%d %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g\n", v->budget, v->rel_mse, v->rel_mse_se,
                                    v->cos_mean, v->cos_std, v->ratio, v->pred, v->pred_c, ratio_se(rows, n, v));
                    }
            }
            fclose(f);
        }
    }
    if (meta) fclose(meta);
    free(rows);
    return 0;
}

// ---------------------------------------------------------------------------------------
// Variance during training (docs/METHOD.md): DIR/track/*.track.csv beside the sweeps' accuracy.

#define MAX_TRACK 20000
#define MAX_SERIES 64

typedef struct {
    char task[400], method[16], alloc[32], key[300];
    int budget, epoch, epochs, shots;
    long step;
    unsigned long long seed;
    double ratio, ratio_se, gain;
    char dataset[128], model[128];
} trow;

static int load_track(const char* dir, trow* rows, int* n) {
    DIR* d = opendir(dir);
    if (!d) return 0;
    struct dirent* de;
    int files = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 11 || strcmp(de->d_name + l - 10, ".track.csv")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        fl_csv t;
        fl_err err;
        if (fl_csv_read(path, &t, &err)) { fprintf(stderr, "flbench report: %s\n", err.msg); continue; }
        if (fl_csv_col(&t, "ratio_se") < 0 || fl_csv_col(&t, "predicted_gain") < 0) { fl_csv_free(&t); continue; }
        files++;
        for (long r = 0; r < t.n_rows && *n < MAX_TRACK; r++) {
            trow v;
            memset(&v, 0, sizeof v);
            snprintf(v.dataset, sizeof v.dataset, "%s", fl_csv_field(&t, r, "dataset"));
            snprintf(v.model, sizeof v.model, "%s", fl_csv_field(&t, r, "model"));
            v.shots = atoi(fl_csv_field(&t, r, "shots"));
            v.epochs = atoi(fl_csv_field(&t, r, "epochs"));
            if (v.shots) snprintf(v.task, sizeof v.task, "%s, %s, %d shots, %d epochs", v.dataset, v.model, v.shots, v.epochs);
            else snprintf(v.task, sizeof v.task, "%s, %s, full training set, %d epochs", v.dataset, v.model, v.epochs);
            snprintf(v.method, sizeof v.method, "%s", fl_csv_field(&t, r, "method"));
            snprintf(v.alloc, sizeof v.alloc, "%s", fl_csv_field(&t, r, "allocator"));
            snprintf(v.key, sizeof v.key, "%s", fl_csv_field(&t, r, "cell_key"));
            v.budget = atoi(fl_csv_field(&t, r, "budget"));
            v.epoch = atoi(fl_csv_field(&t, r, "epoch"));
            v.step = atol(fl_csv_field(&t, r, "step"));
            v.seed = strtoull(fl_csv_field(&t, r, "seed"), NULL, 10);
            v.ratio = atof(fl_csv_field(&t, r, "ratio"));
            v.ratio_se = atof(fl_csv_field(&t, r, "ratio_se"));
            v.gain = atof(fl_csv_field(&t, r, "predicted_gain"));
            if (!isfinite(v.ratio) || !isfinite(v.gain)) continue;
            if (atoi(fl_csv_field(&t, r, "budget_alloc")) != v.budget) continue;  // controls
            // a rerun appends again: the last row of each (cell, seed, step) counts
            int j = 0;
            for (; j < *n; j++)
                if (rows[j].step == v.step && rows[j].seed == v.seed && !strcmp(rows[j].key, v.key)) break;
            rows[j] = v;
            if (j == *n) (*n)++;
        }
        fl_csv_free(&t);
    }
    closedir(d);
    return files;
}

// Final test accuracy per seed of (task, method, allocator, budget), from the results CSVs in
// dir (last-epoch rows with status ok). Fills acc[seed] (NaN where absent) for seeds < max_seed.
static void final_accuracy(const fl_csv* tabs, int nt, const trow* like, const char* alloc, double* acc, int max_seed) {
    for (int s = 0; s < max_seed; s++) acc[s] = NAN;
    for (int k = 0; k < nt; k++) {
        const fl_csv* t = &tabs[k];
        for (long r = 0; r < t->n_rows; r++) {
            char desc[300];
            fl_results_dataset_desc(t, r, desc, sizeof desc);
            if (strcmp(fl_csv_field(t, r, "status"), "ok") || strcmp(fl_csv_field(t, r, "method"), like->method) ||
                strcmp(fl_csv_field(t, r, "allocator"), alloc) || strcmp(desc, like->dataset) ||
                strcmp(fl_csv_field(t, r, "model"), like->model) || atoi(fl_csv_field(t, r, "shots")) != like->shots ||
                atoi(fl_csv_field(t, r, "budget")) != like->budget)
                continue;
            int epochs = atoi(fl_csv_field(t, r, "epochs"));
            if (epochs != like->epochs || atoi(fl_csv_field(t, r, "epoch")) != epochs) continue;
            const char* a = fl_csv_field(t, r, "eval_acc");
            long seed = atol(fl_csv_field(t, r, "seed"));
            if (a[0] && seed >= 0 && seed < max_seed) acc[seed] = atof(a);
        }
    }
}

static void mean_se(const double* x, int n, double* mean, double* se) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) { s += x[i]; s2 += x[i] * x[i]; }
    *mean = n ? s / n : NAN;
    *se = n > 1 ? sqrt(fmax(s2 / n - *mean * *mean, 0) * n / (n - 1) / n) : NAN;
}

static int track_section(FILE* md, const char* dir, const char* plotdir) {
    char tdir[1100];
    snprintf(tdir, sizeof tdir, "%s/track", dir);
    trow* rows = fl_calloc(MAX_TRACK, sizeof(trow));
    int n = 0;
    if (!load_track(tdir, rows, &n) || n == 0) { free(rows); return -1; }
    // the sweeps' results CSVs in dir
    fl_csv tabs[64];
    int nt = 0;
    DIR* d = opendir(dir);
    struct dirent* de;
    while (d && (de = readdir(d)) && nt < 64) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".csv")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        fl_err err;
        if (fl_csv_read(path, &tabs[nt], &err)) continue;
        // an older schema's file read as this one's (results/SCHEMA.md, "Older schemas")
        const fl_csv* h = &tabs[nt];
        if (h->n_cols >= 2 && !strcmp(h->header[0], "schema") && !strcmp(h->header[1], "cell_key")) fl_results_upgrade(&tabs[nt]);
        if (fl_csv_check_results_header(&tabs[nt], &err)) { fl_csv_free(&tabs[nt]); continue; }
        nt++;
    }
    if (d) closedir(d);
    fprintf(md, "\n### Variance during training\n\n"
                "From `flbench train --track-variance` (CSV in `track/`, schema results/SCHEMA_TRACK.md): every few\n"
                "steps, on the step's own batch at the parameters before its update, the relative MSE of the run's\n"
                "allocator against uniform's at the same budget (`ratio`, below 1: less variance), and the gain\n"
                "(sum sqrt v_i)^2 / (B sum v_i) predicted from per-datum variances measured on that batch. Mean and\n"
                "standard error over the tracked steps of each epoch (and over seeds). Accuracy: final test accuracy\n"
                "of the same allocator minus uniform's at the same budget in the sweeps of this folder, mean over\n"
                "the seeds both have (standard error of the paired differences).\n");
    // series: (task, method, allocator, budget)
    int series[MAX_SERIES], ns = 0;
    for (int i = 0; i < n && ns < MAX_SERIES; i++) {
        int seen = 0;
        for (int k = 0; k < ns && !seen; k++) {
            const trow* u = &rows[series[k]];
            seen = !strcmp(u->task, rows[i].task) && !strcmp(u->method, rows[i].method) &&
                   !strcmp(u->alloc, rows[i].alloc) && u->budget == rows[i].budget;
        }
        if (!seen) series[ns++] = i;
    }
    char path[1300];
    snprintf(path, sizeof path, "%s/track_ratio.dat", plotdir);
    FILE* pf = fopen(path, "w");
    snprintf(path, sizeof path, "%s/track_meta.gp", plotdir);
    FILE* meta = fopen(path, "w");
    if (pf) fprintf(pf, "# ratio to uniform against epoch; one block per series (track_meta.gp); columns: epoch mean se steps epochs\n");
    if (meta) fprintf(meta, "# series of plots/track_ratio.gp\nntrack = %d\n", ns);
    double* x = fl_malloc((size_t)n * sizeof(double));
    for (int k = 0; k < ns; k++) {
        const trow* s0 = &rows[series[k]];
        fprintf(md, "\n**%s: %s-%s, budget %d.**\n\n| epoch | ratio to uniform | tracked steps |\n|---|---|---|\n",
                s0->task, s0->method, s0->alloc, s0->budget);
        if (meta) {
            char title[500];
            // the task's dataset (label noise included: two series can differ only there), the
            // model's name and first option, the method and budget
            snprintf(title, sizeof title, "%.*s, %.*s %s-%s b=%d", (int)strcspn(s0->task, ","), s0->task,
                     (int)strcspn(s0->model, ","), s0->model, s0->method, s0->alloc, s0->budget);
            for (char* c = title; *c; c++) if (*c == '"' || *c == '_') *c = ' ';
            fprintf(meta, "ttitle%d = \"%s\"\n", k + 1, title);
        }
        if (pf) fprintf(pf, "\n\n# %d %s-%s budget %d %s\n", k + 1, s0->method, s0->alloc, s0->budget, s0->task);
        long max_step = 0, min_step = -1;
        int max_epoch = 0;
        double all_s = 0;
        int all_n = 0;
        for (int i = 0; i < n; i++) {
            const trow* v = &rows[i];
            if (strcmp(v->task, s0->task) || strcmp(v->method, s0->method) || strcmp(v->alloc, s0->alloc) || v->budget != s0->budget) continue;
            if (v->step > max_step) max_step = v->step;
            if (min_step < 0 || v->step < min_step) min_step = v->step;
            if (v->epoch > max_epoch) max_epoch = v->epoch;
            all_s += v->ratio;
            all_n++;
        }
        for (int ep = 1; ep <= max_epoch; ep++) {
            int m = 0;
            for (int i = 0; i < n; i++) {
                const trow* v = &rows[i];
                if (!strcmp(v->task, s0->task) && !strcmp(v->method, s0->method) && !strcmp(v->alloc, s0->alloc) &&
                    v->budget == s0->budget && v->epoch == ep)
                    x[m++] = v->ratio;
            }
            if (!m) continue;
            double mu, se;
            mean_se(x, m, &mu, &se);
            if (isfinite(se)) fprintf(md, "| %d | %.3f +- %.3f | %d |\n", ep, mu, se, m);
            else fprintf(md, "| %d | %.3f | %d |\n", ep, mu, m);
            if (pf) fprintf(pf, "%d %.6g %.6g %d %d\n", ep, mu, isfinite(se) ? se : 0.0, m, s0->epochs);
        }
        // predicted gain at the start (first tracked step) and the middle (the step nearest half way)
        long mid_target = max_step / 2, mid_step = min_step;
        for (int i = 0; i < n; i++) {
            const trow* v = &rows[i];
            if (!strcmp(v->task, s0->task) && !strcmp(v->alloc, s0->alloc) && v->budget == s0->budget &&
                labs(v->step - mid_target) < labs(mid_step - mid_target))
                mid_step = v->step;
        }
        double g_start = 0, g_mid = 0;
        int n_start = 0, n_mid = 0;
        for (int i = 0; i < n; i++) {
            const trow* v = &rows[i];
            if (strcmp(v->task, s0->task) || strcmp(v->method, s0->method) || strcmp(v->alloc, s0->alloc) || v->budget != s0->budget) continue;
            if (v->step == min_step) { g_start += v->gain; n_start++; }
            if (v->step == mid_step) { g_mid += v->gain; n_mid++; }
        }
        g_start /= n_start > 0 ? n_start : 1;
        g_mid /= n_mid > 0 ? n_mid : 1;
        double r_all = all_s / (all_n ? all_n : 1);
        double r_se;
        {
            int m = 0;
            for (int i = 0; i < n; i++) {
                const trow* v = &rows[i];
                if (!strcmp(v->task, s0->task) && !strcmp(v->method, s0->method) && !strcmp(v->alloc, s0->alloc) && v->budget == s0->budget)
                    x[m++] = v->ratio;
            }
            double mu;
            mean_se(x, m, &mu, &r_se);
        }
        // accuracy: allocator minus uniform, paired by seed
        enum { MAX_SEED = 256 };
        double acc_a[MAX_SEED], acc_u[MAX_SEED], diff[MAX_SEED];
        final_accuracy(tabs, nt, s0, s0->alloc, acc_a, MAX_SEED);
        final_accuracy(tabs, nt, s0, "uniform", acc_u, MAX_SEED);
        int nd = 0;
        for (int sd = 0; sd < MAX_SEED; sd++)
            if (isfinite(acc_a[sd]) && isfinite(acc_u[sd])) diff[nd++] = 100.0 * (acc_a[sd] - acc_u[sd]);
        double dm = NAN, dse = NAN;
        if (nd) mean_se(diff, nd, &dm, &dse);
        fprintf(md, "\nPredicted gain at the first tracked step (%ld): %.3f; at the middle of training (step %ld): %.3f. "
                    "Ratio over all %d tracked steps: %.3f +- %.3f.",
                min_step, g_start, mid_step, g_mid, all_n, r_all, isfinite(r_se) ? r_se : 0.0);
        int acc_flat = 0;
        if (nd >= 2 && isfinite(dse)) {
            fprintf(md, " Final accuracy %s minus uniform at budget %d: %+.2f +- %.2f points (%d seeds).", s0->alloc,
                    s0->budget, dm, dse, nd);
            acc_flat = fabs(dm) <= 2 * dse;
        } else if (nd == 1) {
            fprintf(md, " Final accuracy %s minus uniform at budget %d: %+.2f points (1 seed).", s0->alloc, s0->budget, dm);
        } else {
            fprintf(md, " No matching accuracy of %s and uniform at budget %d in this folder's sweeps.", s0->alloc, s0->budget);
        }
        // which cause: thresholds are a 10% variance change (docs/METHOD.md, "Variance during training")
        const double near1 = 0.9;
        fprintf(md, "\n\n- ");
        if (g_mid >= near1 && g_start >= near1)
            fprintf(md, "**No headroom**: the predicted gain stays near 1 (%.2f at the start, %.2f half way): the per-datum "
                        "variances are too similar for any allocation to reduce the variance much on this task.\n", g_start, g_mid);
        else if (r_all >= near1 || (isfinite(r_se) && r_all + 2 * r_se >= 1))
            fprintf(md, "**The reduction does not hold along training**: there is headroom (predicted gain %.2f half way) "
                        "but the ratio during training is %.2f +- %.2f, near 1: a reduction measured at one checkpoint is not "
                        "what this allocator delivers on the real trajectory.\n", g_mid, r_all, isfinite(r_se) ? r_se : 0.0);
        else if (nd >= 2 && acc_flat)
            fprintf(md, "**Not sensitive to gradient variance**: the ratio stays well below 1 (%.2f) along training, and "
                        "accuracy does not move beyond seed noise (%+.2f +- %.2f points): less variance does not buy "
                        "accuracy on this task at this budget.\n", r_all, dm, dse);
        else if (nd >= 2)
            fprintf(md, "The variance reduction holds along training (ratio %.2f) and accuracy moves with it "
                        "(%+.2f +- %.2f points): none of the three causes applies.\n", r_all, dm, dse);
        else
            fprintf(md, "The variance reduction holds along training (ratio %.2f); without the accuracy of both "
                        "allocators in this folder, the three causes cannot be told apart.\n", r_all);
    }
    free(x);
    if (pf) fclose(pf);
    if (meta) fclose(meta);
    for (int k = 0; k < nt; k++) fl_csv_free(&tabs[k]);
    free(rows);
    return 0;
}

int fl_report_variance(FILE* md, const char* dir, const char* plotdir) {
    int vrc = variance_section(md, dir, plotdir);
    int trc = track_section(md, dir, plotdir);
    return vrc == 0 || trc == 0 ? 0 : -1;
}

// A folder with estimator-quality results only: REPORT.md with that section alone.
// Returns 0, 1 when DIR/variance holds no variance CSV (the caller reports that), -1 on error.
int fl_report_variance_only(const char* dir) {
    char plotdir[1100], path[1200], tmp[1300];
    snprintf(plotdir, sizeof plotdir, "%s/plotdata", dir);
    mkdir(plotdir, 0755);
    snprintf(path, sizeof path, "%s/REPORT.md", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE* md = fopen(tmp, "w");
    if (!md) { fprintf(stderr, "flbench report: cannot write %s: %s\n", tmp, strerror(errno)); return -1; }
    fprintf(md, "# flbench report: %s\n\nNo training results here; estimator-quality results only.\n\n"
                "## Estimator quality (variance, bias and cost against the true gradient)\n\n", dir);
    int rc = fl_report_variance(md, dir, plotdir);
    if (fclose(md) || rc) { remove(tmp); return rc ? 1 : -1; }
    if (rename(tmp, path)) { fprintf(stderr, "flbench report: cannot write %s: %s\n", path, strerror(errno)); return -1; }
    fprintf(stderr, "flbench report: wrote %s (estimator quality only) and plot data in %s/\n", path, plotdir);
    return 0;
}
