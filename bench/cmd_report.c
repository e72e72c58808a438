// cmd_report.c: `flbench report DIR`: reads the results CSVs in DIR and writes DIR/REPORT.md
// (accuracy tables, costs, the paper's directional claims checked on the data) and the small
// derived tables the gnuplot scripts of plots/ read (DIR/plotdata/).
//
// Terms used below:
//  - a cell: one run (one cell key), summarised by its final row;
//  - a task: the rows' (dataset, model, shots, evaluation split), one table and panel each;
//  - a series: one line of a figure: within a task, the cell key's axes other than seed,
//    budget and the task's own (for sweep keys, e.g. "lr-flops"), else method-allocator;
//  - a point: (task, series, budget), aggregated over seeds (mean and sample std).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <sys/stat.h>
#include "args.h"
#include "sweep.h"

// The estimator-quality section (issue 7) lives in its own file when built; weak so that the
// report works without it. It appends a Markdown section for DIR to md and may write plot data
// into plotdir; returns 0, or -1 when it has nothing to say.
int fl_report_variance(FILE* md, const char* dir, const char* plotdir) __attribute__((weak));
int fl_report_variance_only(const char* dir);  // report_variance.c

#define MAX_EPOCHS 4096

typedef struct {
    int epoch;
    double train_loss;
} epoch_pt;

typedef struct {
    char key[256], id[17];
    const fl_csv* t;
    long final_row;
    char status[24];
    int task, series, budget;
    long seed;
    char method[16], allocator[32];
    double acc, queries, qpd, wall, step_ms, peak_rss, peak_dev, gflop;
    int nonuniform;      // some epoch had n_lo != n_hi: the allocator departed from uniform
    epoch_pt* ep;        // (n_ep) per-epoch training loss
    int n_ep;
} rcell;

typedef struct {
    char title[300];
    char short_title[200];   // for figure panels: the model without its ':' options
    char key[400];
    int budgets[64];
    int n_budgets;
} rtask;

typedef struct {
    int task;
    char label[200];
    char method[16], allocator[32];
    int rank;
    int global;          // index in the global series list (plot styles)
} rseries;

typedef struct {
    rcell* cells;
    long n_cells;
    rtask* tasks;
    int n_tasks;
    rseries* series;
    int n_series;
    char** global;       // labels of all series, in plot order
    int n_global;
    long n_clashes;      // cells that share (series, budget, seed) with another
} rdata;

static double num(const char* s) {
    if (!s || !*s) return NAN;
    char* end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

static int is_number(const char* s) {
    char* end;
    if (!*s) return 0;
    strtod(s, &end);
    return *end == 0;
}

// Axes of a sweep key that are not part of a series' name.
static int axis_not_in_label(const char* axis) {
    static const char* drop[] = {"seed", "budget", "dataset", "model", "shots", "classes", "val-per-class", "data-root", NULL};
    for (int i = 0; drop[i]; i++)
        if (!strcmp(drop[i], axis)) return 1;
    return 0;
}

// The series label of a cell: from its sweep key when it has one, else method-allocator.
static void series_label(const char* key, const char* method, const char* allocator, char* out, size_t len) {
    out[0] = 0;
    const char* h = strstr(key, ";h=");
    const char* semi = strchr(key, ';');
    if (h && semi && semi < h) {
        size_t n = 0;
        const char* p = semi + 1;
        while (p < h + 1) {
            const char* e = strchr(p, ';');
            if (!e || e > h) e = h;
            char part[256];
            size_t pl = (size_t)(e - p);
            if (pl >= sizeof part) pl = sizeof part - 1;
            memcpy(part, p, pl);
            part[pl] = 0;
            char* eq = strchr(part, '=');
            if (eq) {
                *eq = 0;
                const char* v = eq + 1;
                if (!axis_not_in_label(part)) {
                    if (is_number(v)) n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s=%s", n ? " " : "", part, v);
                    else n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? " " : "", v);
                }
            }
            p = e + 1;
            if (e == h) break;
        }
        if (n >= len) out[len - 1] = 0;
        // words (e.g. "lr-flops") before axis=value parts (e.g. "lr=1e-3")
        char words[512] = "", pairs[512] = "";
        char copy[512];
        snprintf(copy, sizeof copy, "%s", out);
        for (char* tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
            char* dst = strchr(tok, '=') ? pairs : words;
            size_t dl = strlen(dst);
            snprintf(dst + dl, 512 - dl, "%s%s", dl ? " " : "", tok);
        }
        snprintf(out, len, "%s%s%s", words, words[0] && pairs[0] ? " " : "", pairs);
    }
    if (!out[0]) {
        if (!strcmp(method, "bp")) snprintf(out, len, "bp");
        else snprintf(out, len, "%s-%s", method, allocator);
    }
}

static int method_rank(const char* m) {
    return !strcmp(m, "bp") ? 0 : !strcmp(m, "mezo") ? 1 : !strcmp(m, "lr") ? 2 : 3;
}
static int alloc_rank(const char* a) {
    static const char* order[] = {"-", "uniform", "flops", "neyman", "oracle", "bernoulli", "loss", NULL};
    for (int i = 0; order[i]; i++)
        if (!strcmp(order[i], a)) return i;
    return 9;
}

static int cmp_int(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

// ---------------------------------------------------------------------------------------
// statistics

typedef struct {
    double mean, std;   // std: sample standard deviation (NAN when n < 2)
    int n;
} mstat;

static mstat stats_of(const double* v, int n) {
    mstat s = {NAN, NAN, 0};
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) { sum += v[i]; k++; }
    s.n = k;
    if (!k) return s;
    s.mean = sum / k;
    if (k > 1) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            if (isfinite(v[i])) ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.std = sqrt(ss / (k - 1));
    }
    return s;
}

// Cells of a point: indices into d->cells.
static int point_cells(const rdata* d, int series, int budget, long* out, int max) {
    int n = 0;
    for (long c = 0; c < d->n_cells && n < max; c++)
        if (d->cells[c].series == series && d->cells[c].budget == budget) out[n++] = c;
    return n;
}

// A point's values of one field over its ok cells.
typedef enum { F_ACC, F_QUERIES, F_QPD, F_WALL, F_STEP, F_RSS, F_DEV } field;
static double field_of(const rcell* c, field f) {
    switch (f) {
    case F_ACC: return c->acc;
    case F_QUERIES: return c->queries;
    case F_QPD: return c->qpd;
    case F_WALL: return c->wall;
    case F_STEP: return c->step_ms;
    case F_RSS: return c->peak_rss;
    case F_DEV: return c->peak_dev;
    }
    return NAN;
}

typedef struct {
    mstat s;
    int n_cells, n_ok, n_diverged, n_failed;
} point;

static point point_stat(const rdata* d, int series, int budget, field f) {
    long idx[1024];
    int n = point_cells(d, series, budget, idx, 1024);
    double v[1024];
    point p = {{NAN, NAN, 0}, n, 0, 0, 0};
    int k = 0;
    for (int i = 0; i < n; i++) {
        const rcell* c = &d->cells[idx[i]];
        if (!strcmp(c->status, "ok")) {
            p.n_ok++;
            v[k++] = field_of(c, f);
        } else if (!strcmp(c->status, "diverged")) p.n_diverged++;
        else p.n_failed++;
    }
    p.s = stats_of(v, k);
    return p;
}

// ---------------------------------------------------------------------------------------
// reading

static int load(const char* dir, char** extra, int n_extra, fl_csv** files_out, int* n_files_out, rdata* d) {
    glob_t g;
    char pat[1100];
    snprintf(pat, sizeof pat, "%s/*.csv", dir);
    int grc = glob(pat, 0, NULL, &g);
    int n_paths = (grc == 0 ? (int)g.gl_pathc : 0) + n_extra;
    fl_csv* files = fl_calloc((size_t)(n_paths ? n_paths : 1), sizeof(fl_csv));
    int n_files = 0;
    for (int i = 0; i < n_paths; i++) {
        int n_glob = n_paths - n_extra;
        int is_extra = i >= n_glob;
        const char* path = is_extra ? extra[i - n_glob] : g.gl_pathv[i];
        fl_err err = {{0}};
        fl_csv t;
        if (fl_csv_read(path, &t, &err)) {
            fprintf(stderr, "flbench report: skipping %s\n", err.msg);
            continue;
        }
        if (fl_csv_check_results_header(&t, &err)) {
            if (is_extra) fprintf(stderr, "flbench report: skipping %s\n", err.msg);
            fl_csv_free(&t);
            continue;
        }
        if (t.torn_tail)
            fprintf(stderr, "flbench report: %s:%ld: ignoring an incomplete last line (a killed writer)\n", path, t.torn_line);
        files[n_files++] = t;
    }
    if (grc == 0) globfree(&g);
    // cells: the final row of each key; the first file holding a key wins
    sw_table keys = {0};
    long cap = 0;
    long dups = 0, incomplete = 0;
    for (int f = 0; f < n_files; f++) {
        const fl_csv* t = &files[f];
        int kc = fl_csv_col(t, "cell_key");
        for (long r = 0; r < t->n_rows; r++) {
            if (!sw_row_is_final(t, r)) continue;
            int created;
            long* v = sw_table_slot(&keys, fl_csv_get(t, r, kc), &created);
            if (!created) {
                dups++;
                continue;
            }
            if (d->n_cells == cap) {
                cap = cap ? 2 * cap : 256;
                d->cells = fl_realloc(d->cells, (size_t)cap * sizeof(rcell));
            }
            *v = d->n_cells;
            rcell* c = &d->cells[d->n_cells++];
            memset(c, 0, sizeof *c);
            snprintf(c->key, sizeof c->key, "%s", fl_csv_get(t, r, kc));
            const char* h = strstr(c->key, ";h=");
            snprintf(c->id, sizeof c->id, "%s", h ? h + 3 : "");
            c->t = t;
            c->final_row = r;
            snprintf(c->status, sizeof c->status, "%s", fl_csv_field(t, r, "status"));
        }
    }
    // per-epoch rows and costs of each cell (rows from the file its final row came from)
    for (int f = 0; f < n_files; f++) {
        const fl_csv* t = &files[f];
        int kc = fl_csv_col(t, "cell_key");
        for (long r = 0; r < t->n_rows; r++) {
            long ci = sw_table_get(&keys, fl_csv_get(t, r, kc));
            if (ci < 0) {
                incomplete++;
                continue;
            }
            rcell* c = &d->cells[ci];
            if (c->t != t) continue;
            int epoch = atoi(fl_csv_field(t, r, "epoch"));
            double tl = num(fl_csv_field(t, r, "train_loss"));
            if (epoch >= 1 && isfinite(tl) && c->n_ep < MAX_EPOCHS) {
                c->ep = fl_realloc(c->ep, (size_t)(c->n_ep + 1) * sizeof(epoch_pt));
                c->ep[c->n_ep++] = (epoch_pt){epoch, tl};
            }
            const char* nlo = fl_csv_field(t, r, "n_lo");
            const char* nhi = fl_csv_field(t, r, "n_hi");
            if (*nlo && *nhi && strcmp(nlo, nhi)) c->nonuniform = 1;
            double rss = num(fl_csv_field(t, r, "peak_rss_mb")), dev = num(fl_csv_field(t, r, "peak_dev_mb"));
            if (isfinite(rss) && !(rss <= c->peak_rss)) c->peak_rss = rss;
            if (isfinite(dev) && !(dev <= c->peak_dev)) c->peak_dev = dev;
        }
    }
    if (dups) fprintf(stderr, "flbench report: note: %ld cells appear in more than one file (shards and their merge?); the first file's rows are used\n", dups);
    if (incomplete) fprintf(stderr, "flbench report: note: %ld rows belong to cells without a final row (still running?); ignored\n", incomplete);
    sw_table_free(&keys);
    *files_out = files;
    *n_files_out = n_files;
    return 0;
}

// Fills each cell's fields, tasks and series.
static void organise(rdata* d) {
    sw_table tasks = {0}, series = {0};
    for (long i = 0; i < d->n_cells; i++) {
        rcell* c = &d->cells[i];
        const fl_csv* t = c->t;
        long r = c->final_row;
        const char* dataset = fl_csv_field(t, r, "dataset");
        const char* model = fl_csv_field(t, r, "model");
        const char* shots = fl_csv_field(t, r, "shots");
        const char* split = fl_csv_field(t, r, "eval_split");
        char tkey[400];
        snprintf(tkey, sizeof tkey, "%s|%s|%s|%s", dataset, model, shots, split);
        int created;
        long* tv = sw_table_slot(&tasks, tkey, &created);
        if (created) {
            d->tasks = fl_realloc(d->tasks, (size_t)(d->n_tasks + 1) * sizeof(rtask));
            rtask* k = &d->tasks[d->n_tasks];
            memset(k, 0, sizeof *k);
            snprintf(k->key, sizeof k->key, "%s", tkey);
            int sh = atoi(shots);
            char shot_txt[48];
            if (sh > 0) snprintf(shot_txt, sizeof shot_txt, "%d-shot", sh);
            else snprintf(shot_txt, sizeof shot_txt, "full training set");
            snprintf(k->title, sizeof k->title, "%s, %s, %s%s", dataset[0] ? dataset : "?", model[0] ? model : "?", shot_txt,
                     !strcmp(split, "val") ? " (validation split)" : "");
            char ms[128];
            snprintf(ms, sizeof ms, "%s", model[0] ? model : "?");
            char* colon = strchr(ms, ':');
            if (colon && strncmp(ms, "mlp", 3)) *colon = 0;
            snprintf(k->short_title, sizeof k->short_title, "%s, %s, %s%s", dataset[0] ? dataset : "?", ms, shot_txt,
                     !strcmp(split, "val") ? " (val)" : "");
            *tv = d->n_tasks++;
        }
        c->task = (int)*tv;
        snprintf(c->method, sizeof c->method, "%s", fl_csv_field(t, r, "method"));
        snprintf(c->allocator, sizeof c->allocator, "%s", fl_csv_field(t, r, "allocator"));
        c->budget = atoi(fl_csv_field(t, r, "budget"));
        c->seed = atol(fl_csv_field(t, r, "seed"));
        c->acc = num(fl_csv_field(t, r, "test_acc"));
        c->queries = num(fl_csv_field(t, r, "queries"));
        double steps = num(fl_csv_field(t, r, "steps")), batch = num(fl_csv_field(t, r, "batch"));
        c->qpd = steps > 0 && batch > 0 ? c->queries / (steps * batch) : NAN;
        c->wall = num(fl_csv_field(t, r, "wall_s"));
        c->gflop = num(fl_csv_field(t, r, "fwd_gflop"));
        // mean time per step over the run: wall time / steps
        c->step_ms = steps > 0 ? 1e3 * c->wall / steps : NAN;
        if (!(c->peak_rss > 0)) c->peak_rss = NAN;
        if (!(c->peak_dev > 0)) c->peak_dev = NAN;
        char label[200];
        series_label(c->key, c->method, c->allocator, label, sizeof label);
        char skey[700];
        snprintf(skey, sizeof skey, "%d|%s", c->task, label);
        long* sv = sw_table_slot(&series, skey, &created);
        if (created) {
            d->series = fl_realloc(d->series, (size_t)(d->n_series + 1) * sizeof(rseries));
            rseries* s = &d->series[d->n_series];
            memset(s, 0, sizeof *s);
            s->task = c->task;
            snprintf(s->label, sizeof s->label, "%s", label);
            snprintf(s->method, sizeof s->method, "%s", c->method);
            snprintf(s->allocator, sizeof s->allocator, "%s", c->allocator);
            s->rank = method_rank(c->method) * 16 + alloc_rank(c->allocator);
            *sv = d->n_series++;
        }
        c->series = (int)*sv;
        // the task's budgets (bp has none)
        rtask* k = &d->tasks[c->task];
        if (strcmp(c->method, "bp") && strcmp(c->status, "failed") && strncmp(c->status, "missing", 7)) {
            int have = 0;
            for (int b = 0; b < k->n_budgets; b++) have |= k->budgets[b] == c->budget;
            if (!have && k->n_budgets < 64) k->budgets[k->n_budgets++] = c->budget;
        }
    }
    for (int i = 0; i < d->n_tasks; i++) qsort(d->tasks[i].budgets, (size_t)d->tasks[i].n_budgets, sizeof(int), cmp_int);
    // two cells as the same seed of the same point (an edited configuration whose old rows
    // are still in the CSV, or two sweeps with the same names): both are counted; say so
    sw_table points = {0};
    for (long i = 0; i < d->n_cells; i++) {
        rcell* c = &d->cells[i];
        char pk[400];
        snprintf(pk, sizeof pk, "%d|%d|%ld", c->series, c->budget, c->seed);
        int created;
        long* v = sw_table_slot(&points, pk, &created);
        if (created) *v = i;
        else {
            d->n_clashes++;
            if (d->n_clashes <= 5)
                fprintf(stderr, "flbench report: note: cells %s and %s are both seed %ld of series '%s' at budget %d; both are counted\n",
                        d->cells[*v].key, c->key, c->seed, d->series[c->series].label, c->budget);
        }
    }
    sw_table_free(&points);
    // global series order: by rank, then label; the same label shares a style in every task
    d->global = fl_calloc((size_t)(d->n_series ? d->n_series : 1), sizeof(char*));
    int* order = fl_malloc((size_t)(d->n_series ? d->n_series : 1) * sizeof(int));
    for (int i = 0; i < d->n_series; i++) order[i] = i;
    for (int i = 1; i < d->n_series; i++)
        for (int j = i; j > 0; j--) {
            rseries* a = &d->series[order[j - 1]];
            rseries* b = &d->series[order[j]];
            if (a->rank < b->rank || (a->rank == b->rank && strcmp(a->label, b->label) <= 0)) break;
            int tmp = order[j - 1];
            order[j - 1] = order[j];
            order[j] = tmp;
        }
    for (int i = 0; i < d->n_series; i++) {
        rseries* s = &d->series[order[i]];
        int g = -1;
        for (int k = 0; k < d->n_global; k++)
            if (!strcmp(d->global[k], s->label)) g = k;
        if (g < 0) {
            g = d->n_global;
            d->global[d->n_global++] = sw_strdup(s->label);
        }
        s->global = g;
    }
    free(order);
    sw_table_free(&tasks);
    sw_table_free(&series);
}

// The series of task k with global index g, or -1.
static int series_of(const rdata* d, int k, int g) {
    for (int s = 0; s < d->n_series; s++)
        if (d->series[s].task == k && d->series[s].global == g) return s;
    return -1;
}

// The one series of task k with this method and allocator that has cells at budget b, or -1
// (-2 when several do: ambiguous).
static int series_by_method(const rdata* d, int k, const char* method, const char* allocator, int b) {
    int found = -1;
    for (int s = 0; s < d->n_series; s++) {
        const rseries* x = &d->series[s];
        if (x->task != k || strcmp(x->method, method) || (allocator && strcmp(x->allocator, allocator))) continue;
        long idx[4];
        if (point_cells(d, s, b, idx, 4) == 0) continue;
        if (found >= 0) return -2;
        found = s;
    }
    return found;
}

// ---------------------------------------------------------------------------------------
// Markdown

static void fmt_pm(char* out, size_t len, mstat s, double scale, int decimals) {
    if (s.n == 0) snprintf(out, len, "–");
    else if (s.n == 1) snprintf(out, len, "%.*f", decimals, s.mean * scale);
    else snprintf(out, len, "%.*f ± %.*f", decimals, s.mean * scale, decimals, s.std * scale);
}

static void point_note(char* out, size_t len, const point* p) {
    out[0] = 0;
    if (!p->n_diverged && !p->n_failed) return;
    size_t n = (size_t)snprintf(out, len, " (%d/%d seeds", p->n_ok, p->n_cells);
    if (p->n_diverged && n < len) n += (size_t)snprintf(out + n, len - n, ", %d diverged", p->n_diverged);
    if (p->n_failed && n < len) n += (size_t)snprintf(out + n, len - n, ", %d failed", p->n_failed);
    if (n < len) snprintf(out + n, len - n, ")");
}

// The comparison "A >= B" at one point of each: paired over common seeds where there are
// some, else the difference of the means.
typedef struct {
    int ok;              // both sides have accuracy
    double a, b, diff, se;
    int n_pairs, na, nb;
} comparison;

static comparison compare(const rdata* d, int sa, int ba, int sb, int bb) {
    comparison c = {0};
    long ia[256], ib[256];
    int na = point_cells(d, sa, ba, ia, 256), nb = point_cells(d, sb, bb, ib, 256);
    double va[256], vb[256], diffs[256];
    int ka = 0, kb = 0, kd = 0;
    for (int i = 0; i < na; i++)
        if (!strcmp(d->cells[ia[i]].status, "ok")) va[ka++] = d->cells[ia[i]].acc;
    for (int i = 0; i < nb; i++)
        if (!strcmp(d->cells[ib[i]].status, "ok")) vb[kb++] = d->cells[ib[i]].acc;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) {
            const rcell* x = &d->cells[ia[i]];
            const rcell* y = &d->cells[ib[j]];
            if (x->seed == y->seed && !strcmp(x->status, "ok") && !strcmp(y->status, "ok") && isfinite(x->acc) && isfinite(y->acc))
                diffs[kd++] = x->acc - y->acc;
        }
    mstat A = stats_of(va, ka), B = stats_of(vb, kb);
    c.na = A.n;
    c.nb = B.n;
    if (!A.n || !B.n) return c;
    c.ok = 1;
    c.a = A.mean;
    c.b = B.mean;
    if (kd >= 1) {
        mstat D = stats_of(diffs, kd);
        c.diff = D.mean;
        c.se = kd > 1 ? D.std / sqrt((double)kd) : NAN;
        c.n_pairs = kd;
    } else {
        c.diff = A.mean - B.mean;
        c.se = A.n > 1 && B.n > 1 ? sqrt(A.std * A.std / A.n + B.std * B.std / B.n) : NAN;
    }
    return c;
}

// Two-sided 95 % quantile of Student's t with dof degrees of freedom: a paired difference is
// "significant" when |mean| > t * (its standard error).
static double t95(int dof) {
    static const double t[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
    if (dof < 1) return INFINITY;
    if (dof <= 20) return t[dof];
    return dof <= 30 ? 2.042 : dof <= 60 ? 2.000 : 1.960;
}

typedef struct {
    int n, holds, clear_holds, clear_fails;
    char fails[2048];
} claim_tally;

static void claim_row(FILE* md, const rdata* d, const char* claim, int sa, int ba, int sb, int bb, claim_tally* tally) {
    comparison c = compare(d, sa, ba, sb, bb);
    point pa = point_stat(d, sa, ba, F_ACC), pb = point_stat(d, sb, bb, F_ACC);
    char A[64], B[64], na[64], nb[64];
    fmt_pm(A, sizeof A, pa.s, 100, 1);
    fmt_pm(B, sizeof B, pb.s, 100, 1);
    point_note(na, sizeof na, &pa);
    point_note(nb, sizeof nb, &pb);
    fprintf(md, "| %s | %s (b=%d): %s%s | %s (b=%d): %s%s | ", claim, d->series[sa].label, ba, A, na, d->series[sb].label,
            bb, B, nb);
    if (!c.ok) {
        fprintf(md, "– | no accuracy on one side |\n");
        return;
    }
    int holds = c.diff >= 0;
    int dof = c.n_pairs ? c.n_pairs - 1 : (c.na < c.nb ? c.na : c.nb) - 1;
    int clear = isfinite(c.se) && fabs(c.diff) > t95(dof) * c.se;
    if (isfinite(c.se)) fprintf(md, "%+.2f ± %.2f%s | ", 100 * c.diff, 100 * c.se, c.n_pairs ? "" : " (unpaired)");
    else fprintf(md, "%+.2f%s | ", 100 * c.diff, c.n_pairs ? "" : " (unpaired)");
    // an allocator that never left the uniform allocation cannot differ from it
    const rseries* A_s = &d->series[sa];
    int nonuni = 0, cells_a = 0;
    if (strcmp(A_s->allocator, "uniform") && strcmp(A_s->allocator, "-")) {
        long idx[256];
        int na2 = point_cells(d, sa, ba, idx, 256);
        for (int i = 0; i < na2; i++) {
            nonuni |= d->cells[idx[i]].nonuniform;
            cells_a++;
        }
    }
    const char* uni_note = cells_a && !nonuni ? " (the allocator never left the uniform allocation: n_i = b for every datum)" : "";
    fprintf(md, "%s%s%s |\n", holds ? "holds" : "**fails**",
            clear ? ", significant" : isfinite(c.se) ? ", not significant" : " (one seed: no error estimate)", uni_note);
    tally->n++;
    tally->holds += holds;
    tally->clear_holds += holds && clear;
    tally->clear_fails += !holds && clear;
    if (!holds) {
        size_t n = strlen(tally->fails);
        snprintf(tally->fails + n, sizeof tally->fails - n, "%s%s at b=%d (%+.2f points)", n ? "; " : "", d->series[sa].label, ba,
                 100 * c.diff);
    }
}

static void tally_line(FILE* md, const char* claim, const claim_tally* t) {
    if (!t->n) {
        fprintf(md, "- **%s**: no comparison possible (a side is missing from the data).\n", claim);
        return;
    }
    fprintf(md, "- **%s**: holds in %d of %d comparisons (%d significant)", claim, t->holds, t->n, t->clear_holds);
    if (t->holds < t->n)
        fprintf(md, "; **fails** in %d (%d significant): %s", t->n - t->holds, t->clear_fails, t->fails);
    fprintf(md, ".\n");
}

static void write_claims(FILE* md, const rdata* d, int k) {
    const rtask* t = &d->tasks[k];
    static const char* lr_allocs[] = {"uniform", "flops", "neyman"};
    fprintf(md, "\n**The paper's directional claims on this task.** Differences are in accuracy points, A − B, "
                "paired over seeds (mean ± standard error of the paired differences); \"holds\" means A ≥ B on the mean; "
                "\"significant\" means the difference is outside the 95 %% confidence interval of a paired t-test "
                "(t with seeds − 1 degrees of freedom: 4.30 for 3 seeds), \"not significant\" that these seeds "
                "cannot tell the two apart.\n\n");
    fprintf(md, "| claim | A | B | A − B | verdict |\n|---|---|---|---|---|\n");
    claim_tally t_flops = {0}, t_neyman = {0}, t_mezo = {0}, t_mezo2 = {0};
    for (int bi = 0; bi < t->n_budgets; bi++) {
        int b = t->budgets[bi];
        int uni = series_by_method(d, k, "lr", "uniform", b);
        int flops = series_by_method(d, k, "lr", "flops", b);
        int ney = series_by_method(d, k, "lr", "neyman", b);
        if (flops >= 0 && uni >= 0) claim_row(md, d, "FLOPS ≥ uniform LR", flops, b, uni, b, &t_flops);
        if (ney >= 0 && uni >= 0) claim_row(md, d, "Neyman ≥ uniform LR", ney, b, uni, b, &t_neyman);
    }
    for (int bi = 0; bi < t->n_budgets; bi++) {
        int b = t->budgets[bi];
        int mezo = series_by_method(d, k, "mezo", NULL, b);
        for (int a = 0; a < 3; a++) {
            int s = series_by_method(d, k, "lr", lr_allocs[a], b);
            if (s >= 0 && mezo >= 0) claim_row(md, d, "LR ≥ MeZO, equal budget", s, b, mezo, b, &t_mezo);
        }
    }
    int mezo2 = series_by_method(d, k, "mezo", NULL, 2);
    if (mezo2 >= 0)
        for (int bi = 0; bi < t->n_budgets; bi++) {
            int b = t->budgets[bi];
            if (b == 2) continue;
            for (int a = 0; a < 3; a++) {
                int s = series_by_method(d, k, "lr", lr_allocs[a], b);
                if (s >= 0) claim_row(md, d, "LR ≥ MeZO at 2 queries/datum", s, b, mezo2, 2, &t_mezo2);
            }
        }
    fprintf(md, "\nSummary:\n\n");
    tally_line(md, "FLOPS ≥ uniform LR at equal budget", &t_flops);
    tally_line(md, "allocated and uniform LR ≥ MeZO at equal budget", &t_mezo);
    tally_line(md, "allocated and uniform LR ≥ MeZO at 2 queries per datum (the paper's MeZO setting)", &t_mezo2);
    tally_line(md, "(supplementary) Neyman ≥ uniform LR at equal budget", &t_neyman);
}

static void write_task(FILE* md, const rdata* d, int k, const char* figrel) {
    const rtask* t = &d->tasks[k];
    fprintf(md, "\n## %d. %s\n\n", k + 1, t->title);
    // BP reference
    for (int s = 0; s < d->n_series; s++) {
        if (d->series[s].task != k || strcmp(d->series[s].method, "bp")) continue;
        point p = point_stat(d, s, 1, F_ACC);
        char v[64], note[64];
        fmt_pm(v, sizeof v, p.s, 100, 1);
        point_note(note, sizeof note, &p);
        fprintf(md, "Reference, backpropagation (%s): %s %% %s accuracy over %d seed%s%s.\n\n", d->series[s].label, v,
                strstr(t->title, "(validation split)") ? "validation" : "test", p.s.n, p.s.n == 1 ? "" : "s", note);
    }
    int forward_series = 0;
    for (int s = 0; s < d->n_series; s++) forward_series += d->series[s].task == k && strcmp(d->series[s].method, "bp");
    if (!forward_series) fprintf(md, "Only BP ran on this task (a pretraining run, for instance): no comparison to make.\n");
    else fprintf(md, "Accuracy on the %s split (%%, mean ± sample std over seeds), by query budget "
                "(perturbed queries per datum per step):\n\n| series |",
            strstr(t->title, "(validation split)") ? "validation" : "test");
    for (int b = 0; forward_series && b < t->n_budgets; b++) fprintf(md, " b=%d |", t->budgets[b]);
    if (forward_series) fprintf(md, "\n|---|");
    for (int b = 0; forward_series && b < t->n_budgets; b++) fprintf(md, "---|");
    if (forward_series) fprintf(md, "\n");
    for (int g = 0; forward_series && g < d->n_global; g++) {
        int s = series_of(d, k, g);
        if (s < 0 || !strcmp(d->series[s].method, "bp")) continue;
        fprintf(md, "| %s |", d->series[s].label);
        for (int b = 0; b < t->n_budgets; b++) {
            point p = point_stat(d, s, t->budgets[b], F_ACC);
            char v[64], note[64];
            if (!p.n_cells) {
                fprintf(md, " |");
                continue;
            }
            fmt_pm(v, sizeof v, p.s, 100, 1);
            point_note(note, sizeof note, &p);
            fprintf(md, " %s%s |", v, note);
        }
        fprintf(md, "\n");
    }
    // costs
    fprintf(md, "\nCost per run (mean over seeds): network queries in all (perturbed, clean, pilot and oracle passes), "
                "the same per datum per step, training wall time (evaluation excluded), time per step, and peak memory "
                "(host resident set; device memory on GPU runs):\n\n"
                "| series | b | seeds | queries | queries/datum/step | wall (s) | ms/step | peak RSS (MiB) | peak device (MiB) |\n"
                "|---|---|---|---|---|---|---|---|---|\n");
    for (int g = 0; g < d->n_global; g++) {
        int s = series_of(d, k, g);
        if (s < 0) continue;
        int bs[65], nb = 0;
        if (!strcmp(d->series[s].method, "bp")) bs[nb++] = 1;
        else
            for (int b = 0; b < t->n_budgets; b++) bs[nb++] = t->budgets[b];
        for (int b = 0; b < nb; b++) {
            point q = point_stat(d, s, bs[b], F_QUERIES);
            if (!q.n_cells) continue;
            point qpd = point_stat(d, s, bs[b], F_QPD), w = point_stat(d, s, bs[b], F_WALL);
            point st = point_stat(d, s, bs[b], F_STEP), rss = point_stat(d, s, bs[b], F_RSS), dev = point_stat(d, s, bs[b], F_DEV);
            char bt[16];
            if (strcmp(d->series[s].method, "bp")) snprintf(bt, sizeof bt, "%d", bs[b]);
            else snprintf(bt, sizeof bt, "–");
            fprintf(md, "| %s | %s | %d/%d | %.3g | %.2f | %.1f | %.2f | %.0f | %.0f |\n", d->series[s].label, bt, q.n_ok,
                    q.n_cells, q.s.mean, qpd.s.mean, w.s.mean, st.s.mean, rss.s.mean, dev.s.mean);
        }
    }
    if (forward_series) write_claims(md, d, k);
    if (!forward_series) return;
    int panel = 0;  // figure panels are the tasks with forward methods (write_plotdata)
    for (int j = 0; j <= k; j++) {
        int fwd = 0;
        for (int s = 0; s < d->n_series; s++) fwd += d->series[s].task == j && strcmp(d->series[s].method, "bp");
        panel += fwd > 0;
    }
    fprintf(md, "\nFigures: [accuracy against budget](%s/acc_budget.png), [training loss](%s/loss_epoch.png), "
                "[time per step](%s/cost_time.png), [peak memory](%s/cost_memory.png), "
                "[allocations](%s/alloc_hist.png), [n_i against proxy](%s/alloc_scatter.png) (panel %d; PDF next to each).\n",
            figrel, figrel, figrel, figrel, figrel, figrel, panel);
}

// Every cell: status, accuracy and costs, and the message of cells that are not ok.
static void write_cells(FILE* md, const rdata* d) {
    fprintf(md, "\n## Appendix: every cell\n\n"
                "| task | series | b | seed | status | accuracy (%%) | queries | wall (s) | ms/step | peak (MiB) | cell key / message |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < d->n_tasks; k++)
        for (int g = 0; g < d->n_global; g++) {
            int s = series_of(d, k, g);
            if (s < 0) continue;
            for (long i = 0; i < d->n_cells; i++) {
                const rcell* c = &d->cells[i];
                if (c->series != s) continue;
                const char* msg = fl_csv_field(c->t, c->final_row, "message");
                char acc[32];
                if (isfinite(c->acc)) snprintf(acc, sizeof acc, "%.2f", 100 * c->acc);
                else snprintf(acc, sizeof acc, "–");
                fprintf(md, "| %d | %s | %d | %ld | %s | %s | %.3g | %.1f | %.2f | %.0f | `%s`", k + 1, d->series[s].label, c->budget,
                        c->seed, c->status, acc, c->queries, c->wall, c->step_ms, isfinite(c->peak_dev) ? c->peak_dev : c->peak_rss,
                        c->key);
                if (strcmp(c->status, "ok") && *msg) {
                    fprintf(md, " ");
                    for (const char* p = msg; *p; p++) fputc(*p == '|' ? '/' : *p == '\n' ? ' ' : *p, md);
                }
                fprintf(md, " |\n");
            }
        }
}

// ---------------------------------------------------------------------------------------
// plot data (read by plots/*.gp)

static void gp_string(FILE* f, const char* s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static FILE* open_plot(const char* plotdir, const char* name, int k) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s_%d.dat", plotdir, name, k + 1);
    FILE* f = fopen(path, "w");
    if (!f) fprintf(stderr, "flbench report: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

// A block: header line (label; "" hides it from the key), then rows; two blank lines end it.
static void block_header(FILE* f, const char* label, const char* cols) {
    gp_string(f, label);
    fprintf(f, " %s\n", cols);
}
static void block_end(FILE* f) { fprintf(f, "\n\n"); }
static void empty_block(FILE* f, const char* cols, int n_cols) {
    block_header(f, "", cols);
    for (int i = 0; i < n_cols; i++) fprintf(f, "%sNaN", i ? " " : "");
    fprintf(f, "\n");
    block_end(f);
}

static int series_budget_near(const rdata* d, int s, int b) {
    // the budget of series s closest to b from below (else its smallest), for the loss figure
    int best = -1, smallest = -1;
    for (long i = 0; i < d->n_cells; i++) {
        const rcell* c = &d->cells[i];
        if (c->series != s) continue;
        if (c->budget <= b && c->budget > best) best = c->budget;
        if (smallest < 0 || c->budget < smallest) smallest = c->budget;
    }
    return best >= 0 ? best : smallest;
}

// Allocation logs of task k (DIR/alloc/ID.csv of lr/mezo cells with the allocator): the
// histogram of n_i and a sample of (proxy, n_i) for each allocator in alloc_names.
static const char* alloc_names[] = {"flops", "neyman"};
#define N_ALLOC_PLOTS 2

static int read_alloc_logs(const rdata* d, const char* dir, int k, int budget, const char* allocator, double** proxy,
                           int** n_out, long* n_pts) {
    *proxy = NULL;
    *n_out = NULL;
    *n_pts = 0;
    long cap = 0;
    int files = 0;
    for (long i = 0; i < d->n_cells; i++) {
        const rcell* c = &d->cells[i];
        if (c->task != k || c->budget != budget || strcmp(c->allocator, allocator) || !c->id[0] || strcmp(c->status, "ok")) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/alloc/%s.csv", dir, c->id);
        fl_csv t;
        fl_err err;
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (fl_csv_read(path, &t, &err)) {
            fprintf(stderr, "flbench report: skipping %s\n", err.msg);
            continue;
        }
        int cn = fl_csv_col(&t, "n"), cp = fl_csv_col(&t, "proxy");
        if (cn < 0 || cp < 0) {
            fprintf(stderr, "flbench report: %s:1: expected columns n and proxy (an --alloc-log file)\n", path);
            fl_csv_free(&t);
            continue;
        }
        files++;
        for (long r = 0; r < t.n_rows; r++) {
            if (*n_pts == cap) {
                cap = cap ? 2 * cap : 4096;
                *proxy = fl_realloc(*proxy, (size_t)cap * sizeof(double));
                *n_out = fl_realloc(*n_out, (size_t)cap * sizeof(int));
            }
            (*proxy)[*n_pts] = num(fl_csv_get(&t, r, cp));
            (*n_out)[*n_pts] = atoi(fl_csv_get(&t, r, cn));
            (*n_pts)++;
        }
        fl_csv_free(&t);
    }
    return files;
}

static int write_plotdata(const rdata* d, const char* dir, const char* plotdir, int loss_budget_opt) {
    char path[1400];
    snprintf(path, sizeof path, "%s/meta.gp", plotdir);
    FILE* meta = fopen(path, "w");
    if (!meta) {
        fprintf(stderr, "flbench report: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(meta, "# written by flbench report: what the data files of this folder hold\n");
    // panels: the tasks where a forward-gradient method ran (a BP-only pretraining task has
    // nothing to compare); ptask[i] is the task (data file number) of panel i
    int n_panels = 0;
    for (int k = 0; k < d->n_tasks; k++) {
        int fwd = 0;
        for (int s = 0; s < d->n_series; s++) fwd += d->series[s].task == k && strcmp(d->series[s].method, "bp");
        if (fwd) n_panels++;
    }
    fprintf(meta, "npanels = %d\narray ptask[%d]\n", n_panels, n_panels ? n_panels : 1);
    for (int k = 0, i = 0; k < d->n_tasks; k++) {
        int fwd = 0;
        for (int s = 0; s < d->n_series; s++) fwd += d->series[s].task == k && strcmp(d->series[s].method, "bp");
        if (fwd) fprintf(meta, "ptask[%d] = %d\n", ++i, k + 1);
    }
    fprintf(meta, "ntasks = %d\nnseries = %d\n", d->n_tasks, d->n_global);
    fprintf(meta, "array task_title[%d]\narray series_name[%d]\n", d->n_tasks ? d->n_tasks : 1, d->n_global ? d->n_global : 1);
    fprintf(meta, "array loss_budget[%d]\narray alloc_budget[%d]\n", d->n_tasks ? d->n_tasks : 1, d->n_tasks ? d->n_tasks : 1);
    fprintf(meta, "array task_series[%d]   # the 0-based block indices holding data, per task\n", d->n_tasks ? d->n_tasks : 1);
    fprintf(meta, "array task_allocs[%d]   # the same for the allocation histograms\n", d->n_tasks ? d->n_tasks : 1);
    fprintf(meta, "array task_scatter[%d]  # and the scatter plots (only data with a proxy value)\n", d->n_tasks ? d->n_tasks : 1);
    fprintf(meta, "nalloc = %d\narray alloc_name[%d]\n", N_ALLOC_PLOTS, N_ALLOC_PLOTS);
    for (int a = 0; a < N_ALLOC_PLOTS; a++) fprintf(meta, "alloc_name[%d] = \"%s\"\n", a + 1, alloc_names[a]);
    int bp_index = -1;
    for (int g = 0; g < d->n_global; g++) {
        fprintf(meta, "series_name[%d] = ", g + 1);
        gp_string(meta, d->global[g]);
        fprintf(meta, "\n");
        if (!strcmp(d->global[g], "bp")) bp_index = g;
    }
    for (int s = 0; s < d->n_series; s++)
        if (!strcmp(d->series[s].method, "bp") && bp_index < 0) bp_index = d->series[s].global;
    fprintf(meta, "bp_index = %d   # 0-based block index of the BP reference (-1: none)\n", bp_index);
    for (int k = 0; k < d->n_tasks; k++) {
        const rtask* t = &d->tasks[k];
        fprintf(meta, "task_title[%d] = ", k + 1);
        gp_string(meta, t->short_title);
        fprintf(meta, "\ntask_series[%d] = \"", k + 1);
        for (int g = 0, first = 1; g < d->n_global; g++)
            if (series_of(d, k, g) >= 0) {
                fprintf(meta, "%s%d", first ? "" : " ", g);
                first = 0;
            }
        fprintf(meta, "\"\n");
        int lo = t->n_budgets ? t->budgets[0] : 1, hi = t->n_budgets ? t->budgets[t->n_budgets - 1] : 1;
        int lb = loss_budget_opt > 0 ? loss_budget_opt : hi;
        // accuracy against budget; bp as a flat line across the task's budgets
        FILE* f = open_plot(plotdir, "acc", k);
        FILE* fc = open_plot(plotdir, "cost", k);
        FILE* fl = open_plot(plotdir, "loss", k);
        if (!f || !fc || !fl) {
            if (f) fclose(f);
            if (fc) fclose(fc);
            if (fl) fclose(fl);
            fclose(meta);
            return -1;
        }
        fprintf(f, "# %s: test accuracy (%%) against budget; one block per series (global order of meta.gp)\n", t->title);
        fprintf(fc, "# %s: cost against budget; one block per series\n", t->title);
        fprintf(fl, "# %s: mean training loss against epoch at budget %d (or the series' nearest); one block per series\n",
                t->title, lb);
        for (int g = 0; g < d->n_global; g++) {
            int s = series_of(d, k, g);
            const char* acols = "\"budget\" \"acc_mean\" \"acc_std\" \"seeds\"";
            const char* ccols = "\"budget\" \"step_ms_mean\" \"step_ms_std\" \"peak_mib_mean\" \"peak_mib_std\" \"queries_per_datum_step\"";
            const char* lcols = "\"epoch\" \"train_loss_mean\" \"train_loss_std\" \"seeds\"";
            if (s < 0) {
                empty_block(f, acols, 4);
                empty_block(fc, ccols, 6);
                empty_block(fl, lcols, 4);
                continue;
            }
            int is_bp = !strcmp(d->series[s].method, "bp");
            block_header(f, d->series[s].label, acols);
            block_header(fc, d->series[s].label, ccols);
            int rows = 0;
            for (int bi = 0; bi < (is_bp ? 2 : t->n_budgets); bi++) {
                int b = is_bp ? 1 : t->budgets[bi];
                int x = is_bp ? (bi ? hi : lo) : b;
                point p = point_stat(d, s, b, F_ACC);
                if (!p.n_cells) continue;
                point st = point_stat(d, s, b, F_STEP);
                point mem = point_stat(d, s, b, F_DEV);
                if (!mem.s.n || !isfinite(mem.s.mean)) mem = point_stat(d, s, b, F_RSS);
                point qpd = point_stat(d, s, b, F_QPD);
                fprintf(f, "%d %.6g %.6g %d\n", x, 100 * p.s.mean, isfinite(p.s.std) ? 100 * p.s.std : 0.0, p.s.n);
                fprintf(fc, "%d %.6g %.6g %.6g %.6g %.6g\n", x, st.s.mean, isfinite(st.s.std) ? st.s.std : 0.0, mem.s.mean,
                        isfinite(mem.s.std) ? mem.s.std : 0.0, qpd.s.mean);
                rows++;
            }
            if (!rows) {
                fprintf(f, "NaN NaN NaN NaN\n");
                fprintf(fc, "NaN NaN NaN NaN NaN NaN\n");
            }
            block_end(f);
            block_end(fc);
            // training loss by epoch, mean over ok seeds
            int b = is_bp ? 1 : series_budget_near(d, s, lb);
            char lab[260];
            if (is_bp || b == lb) snprintf(lab, sizeof lab, "%s", d->series[s].label);
            else snprintf(lab, sizeof lab, "%s (b=%d)", d->series[s].label, b);
            block_header(fl, lab, lcols);
            long idx[256];
            int nc = point_cells(d, s, b, idx, 256);
            int max_ep = 0;
            for (int i = 0; i < nc; i++)
                for (int e = 0; e < d->cells[idx[i]].n_ep; e++)
                    if (d->cells[idx[i]].ep[e].epoch > max_ep) max_ep = d->cells[idx[i]].ep[e].epoch;
            int lrows = 0;
            for (int e = 1; e <= max_ep; e++) {
                double v[256];
                int nv = 0;
                for (int i = 0; i < nc; i++) {
                    const rcell* c = &d->cells[idx[i]];
                    for (int j = 0; j < c->n_ep; j++)
                        if (c->ep[j].epoch == e) v[nv++] = c->ep[j].train_loss;
                }
                mstat st = stats_of(v, nv);
                if (!st.n) continue;
                fprintf(fl, "%d %.6g %.6g %d\n", e, st.mean, isfinite(st.std) ? st.std : 0.0, st.n);
                lrows++;
            }
            if (!lrows) fprintf(fl, "NaN NaN NaN NaN\n");
            block_end(fl);
        }
        fclose(f);
        fclose(fc);
        fclose(fl);
        fprintf(meta, "loss_budget[%d] = %d\n", k + 1, lb);
        // allocations: the largest budget with logs
        int ab = -1;
        for (int bi = t->n_budgets - 1; bi >= 0 && ab < 0; bi--)
            for (int a = 0; a < N_ALLOC_PLOTS && ab < 0; a++) {
                double* px;
                int* nn;
                long np;
                if (read_alloc_logs(d, dir, k, t->budgets[bi], alloc_names[a], &px, &nn, &np) && np) ab = t->budgets[bi];
                free(px);
                free(nn);
            }
        fprintf(meta, "alloc_budget[%d] = %d   # -1: no allocation logs for this task\n", k + 1, ab);
        FILE* fh = open_plot(plotdir, "alloc_hist", k);
        FILE* fs = open_plot(plotdir, "alloc_scatter", k);
        if (!fh || !fs) {
            if (fh) fclose(fh);
            if (fs) fclose(fs);
            fclose(meta);
            return -1;
        }
        fprintf(fh, "# %s: fraction of data given n_i queries (binned), budget %d, all logged steps and seeds, data with a proxy value\n", t->title, ab);
        fprintf(fs, "# %s: proxy variance and n_i of each logged datum-step (a deterministic sample), budget %d\n", t->title, ab);
        char present[64] = "", present_scatter[64] = "";
        for (int a = 0; a < N_ALLOC_PLOTS; a++) {
            double* px = NULL;
            int* nn = NULL;
            long np = 0;
            if (ab >= 0) read_alloc_logs(d, dir, k, ab, alloc_names[a], &px, &nn, &np);
            if (!np) {
                empty_block(fh, "\"n\" \"fraction\" \"bin_width\"", 3);
                empty_block(fs, "\"proxy\" \"n\"", 2);
                free(px);
                free(nn);
                continue;
            }
            // only the allocations made with a proxy value (a first visit gets the uniform n_i)
            long kept = 0;
            for (long i = 0; i < np; i++)
                if (isfinite(px[i])) {
                    px[kept] = px[i];
                    nn[kept++] = nn[i];
                }
            np = kept;
            if (!np) {
                empty_block(fh, "\"n\" \"fraction\" \"bin_width\"", 3);
                empty_block(fs, "\"proxy\" \"n\"", 2);
                free(px);
                free(nn);
                continue;
            }
            int lo_n = nn[0], hi_n = nn[0];
            for (long i = 0; i < np; i++) {
                if (nn[i] < lo_n) lo_n = nn[i];
                if (nn[i] > hi_n) hi_n = nn[i];
            }
            int width = (hi_n - lo_n + 1 + 39) / 40;  // at most 40 bins
            if (width < 1) width = 1;
            int nbins = (hi_n - lo_n) / width + 1;
            long* cnt = fl_calloc((size_t)nbins, sizeof(long));
            for (long i = 0; i < np; i++) cnt[(nn[i] - lo_n) / width]++;
            snprintf(present + strlen(present), sizeof present - strlen(present), "%s%d", present[0] ? " " : "", a);
            block_header(fh, alloc_names[a], "\"n\" \"fraction\" \"bin_width\"");
            for (int bi = 0; bi < nbins; bi++)
                fprintf(fh, "%.6g %.6g %d\n", lo_n + bi * width + (width - 1) / 2.0, (double)cnt[bi] / (double)np, width);
            block_end(fh);
            free(cnt);
            block_header(fs, alloc_names[a], "\"proxy\" \"n\"");
            long stride = np / 4000 + 1, rows = 0;
            for (long i = 0; i < np; i += stride)
                if (isfinite(px[i]) && px[i] > 0) {
                    fprintf(fs, "%.6g %d\n", px[i], nn[i]);
                    rows++;
                }
            if (!rows) fprintf(fs, "NaN NaN\n");
            else snprintf(present_scatter + strlen(present_scatter), sizeof present_scatter - strlen(present_scatter), "%s%d",
                          present_scatter[0] ? " " : "", a);
            block_end(fs);
            free(px);
            free(nn);
        }
        fclose(fh);
        fclose(fs);
        fprintf(meta, "task_allocs[%d] = \"%s\"\ntask_scatter[%d] = \"%s\"\n", k + 1, present, k + 1, present_scatter);
        if (!present[0] && ab >= 0) fprintf(meta, "alloc_budget[%d] = -1\n", k + 1);
    }
    fclose(meta);
    return 0;
}

// ---------------------------------------------------------------------------------------
// the command

static int mkdir_p(const char* path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char* p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

// The path of `to` relative to the folder `from` (both existing).
static void relative_path(const char* from, const char* to, char* out, size_t len) {
    char a[4096], b[4096];
    if (!realpath(from, a) || !realpath(to, b)) {
        snprintf(out, len, "%s", to);
        return;
    }
    size_t common = 0, i = 0;
    while (a[i] && a[i] == b[i]) {
        if (a[i] == '/') common = i;
        i++;
    }
    if (!a[i] && (b[i] == '/' || !b[i])) common = i;
    size_t n = 0;
    out[0] = 0;
    for (const char* p = a + common; *p; p++)
        if (*p == '/') n += (size_t)snprintf(out + n, n < len ? len - n : 0, "../");
    const char* rest = b + common + (b[common] == '/');
    if (*rest) snprintf(out + n, n < len ? len - n : 0, "%s", rest);
    else if (n) out[n - 1] = 0;
    else snprintf(out, len, ".");
}

int fl_cmd_report(int argc, char** argv) {
    char figdir[1024] = "results/figures", out[1100] = "";
    int loss_budget = 0;
    fl_opt opts[] = {
        {"figures", FL_OPT_STR, figdir, sizeof figdir, NULL, "folder of the figures the report links to (default results/figures)"},
        {"loss-budget", FL_OPT_INT, &loss_budget, 0, NULL, "budget of the training-loss figure (default: each task's largest)"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "write the report here (default DIR/REPORT.md)"},
    };
    char* pos[1024];
    int n_pos = 0;
    int rc = fl_parse_opts("report", opts, 3, argc, argv, 2, pos, 1024, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos < 1) {
        fprintf(stderr, "flbench report: expected DIR (flbench report DIR [CSV...] [--figures DIR])\n");
        return 2;
    }
    const char* dir = pos[0];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "flbench report: %s: not a folder of results\n", dir);
        return 2;
    }
    rdata d;
    memset(&d, 0, sizeof d);
    fl_csv* files = NULL;
    int n_files = 0;
    load(dir, pos + 1, n_pos - 1, &files, &n_files, &d);
    if (!d.n_cells) {
        int vrc = fl_report_variance_only(dir);  // a folder of `flbench variance` results only
        if (vrc <= 0) {
            for (int i = 0; i < n_files; i++) fl_csv_free(&files[i]);
            free(files);
            return vrc == 0 ? 0 : 2;
        }
        fprintf(stderr, "flbench report: %s: no results CSV with finished cells (expected DIR/*.csv written by flbench sweep or train --out)\n", dir);
        for (int i = 0; i < n_files; i++) fl_csv_free(&files[i]);
        free(files);
        return 2;
    }
    organise(&d);
    char plotdir[1200];
    snprintf(plotdir, sizeof plotdir, "%s/plotdata", dir);
    if (mkdir_p(plotdir) || mkdir_p(figdir)) {
        fprintf(stderr, "flbench report: cannot create %s or %s: %s\n", plotdir, figdir, strerror(errno));
        return 2;
    }
    if (!out[0]) snprintf(out, sizeof out, "%s/REPORT.md", dir);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE* md = fopen(tmp, "w");
    if (!md) {
        fprintf(stderr, "flbench report: cannot write %s: %s\n", tmp, strerror(errno));
        return 2;
    }
    char figrel[2048];
    char outdir[1100];
    snprintf(outdir, sizeof outdir, "%s", out);
    char* slash = strrchr(outdir, '/');
    if (slash) *slash = 0;
    else snprintf(outdir, sizeof outdir, ".");
    relative_path(outdir, figdir, figrel, sizeof figrel);
    // header: what was read
    long n_status[5] = {0};
    const char* status_names[] = {"ok", "diverged", "failed", "missing-*", "other"};
    sw_table revs = {0}, devs = {0};
    for (long i = 0; i < d.n_cells; i++) {
        const char* s = d.cells[i].status;
        n_status[!strcmp(s, "ok") ? 0 : !strcmp(s, "diverged") ? 1 : !strcmp(s, "failed") ? 2 : !strncmp(s, "missing", 7) ? 3 : 4]++;
        sw_table_slot(&revs, fl_csv_field(d.cells[i].t, d.cells[i].final_row, "git_rev"), NULL);
        char dv[600];
        snprintf(dv, sizeof dv, "%s %s on host %s", fl_csv_field(d.cells[i].t, d.cells[i].final_row, "backend"),
                 fl_csv_field(d.cells[i].t, d.cells[i].final_row, "device"), fl_csv_field(d.cells[i].t, d.cells[i].final_row, "host"));
        sw_table_slot(&devs, dv, NULL);
    }
    fprintf(md, "# flbench report: %s\n\n", dir);
    fprintf(md, "Generated by `flbench report` from the results CSV listed below; every number here is computed from "
                "their rows (schema: results/SCHEMA.md). Accuracy is the final evaluation of each run; means and sample "
                "standard deviations are over seeds; runs that diverged or failed are counted apart and left out of the means.\n\n");
    fprintf(md, "- inputs:");
    for (int i = 0; i < n_files; i++) fprintf(md, " `%s` (%ld rows)%s", files[i].path, files[i].n_rows, i + 1 < n_files ? "," : "");
    fprintf(md, "\n- cells: %ld finished:", d.n_cells);
    for (int i = 0; i < 5; i++)
        if (n_status[i]) fprintf(md, " %ld %s", n_status[i], status_names[i]);
    fprintf(md, "\n- git revisions:");
    for (long i = 0; i < revs.cap; i++)
        if (revs.keys[i]) fprintf(md, " `%s`", revs.keys[i][0] ? revs.keys[i] : "?");
    fprintf(md, "\n- machines:");
    int first = 1;
    for (long i = 0; i < devs.cap; i++)
        if (devs.keys[i]) {
            fprintf(md, "%s %s", first ? "" : ";", devs.keys[i]);
            first = 0;
        }
    if (d.n_clashes)
        fprintf(md, "\n- **note**: %ld cells share series, budget and seed with another cell (old rows of an edited "
                    "configuration?); they are all counted as seeds",
                d.n_clashes);
    fprintf(md, "\n- tasks:");
    for (int k = 0; k < d.n_tasks; k++) fprintf(md, " %d. %s%s", k + 1, d.tasks[k].title, k + 1 < d.n_tasks ? ";" : "");
    fprintf(md, "\n");
    sw_table_free(&revs);
    sw_table_free(&devs);
    for (int k = 0; k < d.n_tasks; k++) write_task(md, &d, k, figrel);
    fprintf(md, "\n## Estimator quality (variance, bias and cost against the true gradient)\n\n");
    if (!fl_report_variance || fl_report_variance(md, dir, plotdir) != 0)
        fprintf(md, "No estimator-quality results in this folder (they come from `flbench variance`).\n");
    write_cells(md, &d);
    int werr = ferror(md);
    if (fclose(md) || werr || rename(tmp, out)) {
        fprintf(stderr, "flbench report: cannot write %s: %s\n", out, strerror(errno));
        return 2;
    }
    int prc = write_plotdata(&d, dir, plotdir, loss_budget);
    fprintf(stderr, "flbench report: wrote %s (%d task%s, %ld cells) and plot data in %s/\n", out, d.n_tasks,
            d.n_tasks == 1 ? "" : "s", d.n_cells, plotdir);
    for (long i = 0; i < d.n_cells; i++) free(d.cells[i].ep);
    free(d.cells);
    free(d.tasks);
    free(d.series);
    for (int g = 0; g < d.n_global; g++) free(d.global[g]);
    free(d.global);
    for (int i = 0; i < n_files; i++) fl_csv_free(&files[i]);
    free(files);
    return prc ? 2 : 0;
}
