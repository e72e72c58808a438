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
#include "report_stats.h"
#include "sweep.h"

// The estimator-quality section (report_variance.c). It appends a Markdown section for DIR to
// md and may write plot data into plotdir; returns 0, or -1 when it has nothing to say.
int fl_report_variance(FILE* md, const char* dir, const char* plotdir);
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
    double acc, queries, qpd, wall, step_ms, peak_rss, peak_dev, peak_model, gflop;
    double spend;        // spend_per_datum of the final row: queries/datum/step, oracle excluded (NAN: unknown, an older CSV)
    double nonuni_frac;  // mean over epochs of alloc_nonuniform_frac (NAN: unknown, an older CSV)
    double nonuni_sum;
    int nonuni_rows;
    int nonuniform;      // some epoch had n_lo != n_hi: the allocator departed from uniform
    int ckpt;            // method bp with checkpoint=block: BP with activation checkpointing ("bp-ckpt")
    epoch_pt* ep;        // (n_ep) per-epoch training loss
    int n_ep;
} rcell;

typedef struct {
    char title[300];
    char short_title[200];   // for figure panels: the model without its ':' options
    char key[400];
    int budgets[64];
    int n_budgets;
    int n_compress;              // blocks in plotdata/compress_K.dat (report_compress.c)
    double compress_lo, compress_hi;  // the swept uniform budgets' range (the figure's axes)
} rtask;

typedef struct {
    int task;
    char label[200];
    char method[16], allocator[32];
    int ckpt;            // bp-ckpt: BP with activation checkpointing, its own method
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
    int files_without_spend, files_without_nonuni, files_without_ckpt;  // older CSVs: those columns unknown
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

// BP with activation checkpointing is its own method, "bp-ckpt", in every table: a label "bp"
// becomes "bp-ckpt"; another label without "ckpt" in it gets "bp-ckpt" in front.
static void ckpt_label(char* label, size_t len) {
    if (strstr(label, "ckpt")) return;
    char rest[200];
    if (!strncmp(label, "bp", 2) && (label[2] == 0 || label[2] == ' ')) snprintf(rest, sizeof rest, "%s", label + 2);
    else snprintf(rest, sizeof rest, " %s", label);
    snprintf(label, len, "bp-ckpt%.180s", rest);
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
typedef enum { F_ACC, F_QUERIES, F_QPD, F_WALL, F_STEP, F_RSS, F_DEV, F_MODEL, F_SPEND } field;
static double field_of(const rcell* c, field f) {
    switch (f) {
    case F_ACC: return c->acc;
    case F_QUERIES: return c->queries;
    case F_QPD: return c->qpd;
    case F_WALL: return c->wall;
    case F_STEP: return c->step_ms;
    case F_RSS: return c->peak_rss;
    case F_DEV: return c->peak_dev;
    case F_MODEL: return c->peak_model;
    case F_SPEND: return c->spend;
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

// A results CSV of this or an older schema: the columns the report reads must be there; the
// newer ones (spend_per_datum, alloc_nonuniform_frac, checkpoint, peak_model_mb) may be absent,
// and are then unknown (the report says so).
static int results_header_check(const fl_csv* t, fl_err* err) {
    static const char* need[] = {"schema", "cell_key", "status", "dataset", "model", "method", "allocator", "budget", "batch",
                                 "shots", "seed", "epoch", "epochs", "steps", "eval_split", "test_acc", "queries", "wall_s", NULL};
    if (t->n_cols < 2 || strcmp(t->header[0], "schema") || strcmp(t->header[1], "cell_key"))
        return fl_fail(err, "%s:1: not a results CSV: it does not start with the columns schema,cell_key", t->path);
    for (int i = 0; need[i]; i++)
        if (fl_csv_col(t, need[i]) < 0) return fl_fail(err, "%s:1: not a results CSV: no column '%s'", t->path, need[i]);
    return 0;
}

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
        if (results_header_check(&t, &err)) {
            if (is_extra) fprintf(stderr, "flbench report: skipping %s\n", err.msg);
            fl_csv_free(&t);
            continue;
        }
        d->files_without_spend += fl_csv_col(&t, "spend_per_datum") < 0;
        d->files_without_nonuni += fl_csv_col(&t, "alloc_nonuniform_frac") < 0;
        d->files_without_ckpt += fl_csv_col(&t, "checkpoint") < 0;
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
            double model = num(fl_csv_field(t, r, "peak_model_mb"));
            if (isfinite(rss) && !(rss <= c->peak_rss)) c->peak_rss = rss;
            if (isfinite(dev) && !(dev <= c->peak_dev)) c->peak_dev = dev;
            if (isfinite(model) && !(model <= c->peak_model)) c->peak_model = model;
            double frac = num(fl_csv_field(t, r, "alloc_nonuniform_frac"));
            if (epoch >= 1 && isfinite(frac)) {
                c->nonuni_sum += frac;
                c->nonuni_rows++;
            }
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
        if (!(c->peak_model > 0)) c->peak_model = NAN;
        // spend_per_datum is cumulative: the final row holds the run's spend (docs/METHOD.md, "Spend")
        c->spend = num(fl_csv_field(t, r, "spend_per_datum"));
        c->nonuni_frac = c->nonuni_rows ? c->nonuni_sum / c->nonuni_rows : NAN;
        c->ckpt = !strcmp(c->method, "bp") && !strcmp(fl_csv_field(t, r, "checkpoint"), "block");
        char label[200];
        series_label(c->key, c->method, c->allocator, label, sizeof label);
        if (c->ckpt) ckpt_label(label, sizeof label);
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
            s->ckpt = c->ckpt;
            s->rank = method_rank(c->method) * 16 + alloc_rank(c->allocator) + c->ckpt;
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
    int na = point_cells(d, sa, ba, ia, 256), nb = point_cells(d, sb, bb, ib, 256);
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
    point pa = point_stat(d, c->sa, c->ba, F_ACC), pb = point_stat(d, c->sb, c->bb, F_ACC);
    c->has_acc = pa.s.n > 0 && pb.s.n > 0;
    double diffs[1024];
    int n = paired_diffs(d, c->sa, c->ba, c->sb, c->bb, diffs, 1024);
    c->test = rs_paired_test(diffs, n);
    c->spend_a = point_stat(d, c->sa, c->ba, F_SPEND).s.mean;
    c->spend_b = point_stat(d, c->sb, c->bb, F_SPEND).s.mean;
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
    if (!strcmp(A->allocator, "uniform") || !strcmp(A->allocator, "-")) return;
    long idx[256];
    int n = point_cells(d, s, b, idx, 256);
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
        point pa = point_stat(d, c->sa, c->ba, F_ACC), pb = point_stat(d, c->sb, c->bb, F_ACC);
        char A[64], B[64], na[64], nb[64], sp[96], note[160];
        fmt_pm(A, sizeof A, pa.s, 100, 1);
        fmt_pm(B, sizeof B, pb.s, 100, 1);
        point_note(na, sizeof na, &pa);
        point_note(nb, sizeof nb, &pb);
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

// Distinct seeds among the task's ok cells.
static int task_seeds(const rdata* d, int k) {
    long seen[1024];
    int n = 0;
    for (long i = 0; i < d->n_cells; i++) {
        const rcell* c = &d->cells[i];
        if (c->task != k || strcmp(c->status, "ok")) continue;
        int have = 0;
        for (int j = 0; j < n; j++) have |= seen[j] == c->seed;
        if (!have && n < 1024) seen[n++] = c->seed;
    }
    return n;
}

static const char* alloc_title(const char* a) {
    return !strcmp(a, "flops") ? "FLOPS" : !strcmp(a, "neyman") ? "Neyman" : !strcmp(a, "oracle") ? "Oracle"
         : !strcmp(a, "bernoulli") ? "Bernoulli" : !strcmp(a, "loss") ? "Loss-proportional" : a;
}

static void write_claims(FILE* md, const rdata* d, int k) {
    const rtask* t = &d->tasks[k];
    int seeds = task_seeds(d, k);
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
    // the families; allocators in the order of alloc_rank
    static family fam[16];
    int n_fam = 0;
    static const char* allocs[] = {"flops", "neyman", "oracle", "bernoulli", "loss"};
    int alloc_fam[5];
    for (int a = 0; a < 5; a++) {
        alloc_fam[a] = -1;
        int any = 0;
        for (int bi = 0; bi < t->n_budgets; bi++) any |= series_by_method(d, k, "lr", allocs[a], t->budgets[bi]) >= 0;
        if (!any && a >= 1) continue;  // FLOPS always has its line (the paper's claim); the others when present
        alloc_fam[a] = n_fam;
        memset(&fam[n_fam], 0, sizeof fam[n_fam]);
        snprintf(fam[n_fam].name, sizeof fam[n_fam].name, "%s%s ≥ uniform LR at equal budget", a == 0 ? "" : "(supplementary) ",
                 alloc_title(allocs[a]));
        n_fam++;
    }
    family* f_mezo = &fam[n_fam++];
    memset(f_mezo, 0, sizeof *f_mezo);
    snprintf(f_mezo->name, sizeof f_mezo->name, "allocated and uniform LR ≥ MeZO at equal budget");
    family* f_mezo2 = &fam[n_fam++];
    memset(f_mezo2, 0, sizeof *f_mezo2);
    snprintf(f_mezo2->name, sizeof f_mezo2->name, "allocated and uniform LR ≥ MeZO at 2 queries per datum (the paper's MeZO setting)");
    static const char* lr_allocs[] = {"uniform", "flops", "neyman"};
    for (int bi = 0; bi < t->n_budgets; bi++) {
        int b = t->budgets[bi];
        int uni = series_by_method(d, k, "lr", "uniform", b);
        for (int a = 0; a < 5; a++) {
            int s = series_by_method(d, k, "lr", allocs[a], b);
            if (alloc_fam[a] >= 0 && s >= 0 && uni >= 0) family_add(&fam[alloc_fam[a]], s, b, uni, b);
        }
        int mezo = series_by_method(d, k, "mezo", NULL, b);
        for (int a = 0; a < 3; a++) {
            int s = series_by_method(d, k, "lr", lr_allocs[a], b);
            if (s >= 0 && mezo >= 0) family_add(f_mezo, s, b, mezo, b);
        }
    }
    int mezo2 = series_by_method(d, k, "mezo", NULL, 2);
    if (mezo2 >= 0)
        for (int bi = 0; bi < t->n_budgets; bi++) {
            int b = t->budgets[bi];
            if (b == 2) continue;
            for (int a = 0; a < 3; a++) {
                int s = series_by_method(d, k, "lr", lr_allocs[a], b);
                if (s >= 0) family_add(f_mezo2, s, b, mezo2, 2);
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
    // the paper's order: FLOPS, LR vs MeZO (both), then the supplementary allocators
    write_family(md, summary, d, &fam[alloc_fam[0]]);
    write_family(md, summary, d, f_mezo);
    write_family(md, summary, d, f_mezo2);
    for (int a = 1; a < 5; a++)
        if (alloc_fam[a] >= 0) write_family(md, summary, d, &fam[alloc_fam[a]]);
    fclose(summary);
    fprintf(md, "\nVerdicts (one per claim on this task, %d seed%s):\n\n%s", seeds, seeds == 1 ? "" : "s", sum_buf ? sum_buf : "");
    free(sum_buf);
}

// ---------------------------------------------------------------------------------------
// memory at matched accuracy, and query compression

static FILE* open_plot(const char* plotdir, const char* name, int k);

// The memory a task's comparison reads: the model's own peak (peak_model_mb) where every
// series has it, else peak device memory on GPU runs, else peak host RSS.
static field memory_field(const rdata* d, int k, const char** name) {
    int model = 1, cuda = 0, any = 0;
    for (long i = 0; i < d->n_cells; i++) {
        const rcell* c = &d->cells[i];
        if (c->task != k || strcmp(c->status, "ok")) continue;
        any = 1;
        model &= isfinite(c->peak_model);
        cuda |= !strcmp(fl_csv_field(c->t, c->final_row, "backend"), "cuda") && isfinite(c->peak_dev);
    }
    if (any && model) {
        *name = "peak model memory (peak_model_mb)";
        return F_MODEL;
    }
    if (cuda) {
        *name = "peak device memory (peak_dev_mb)";
        return F_DEV;
    }
    *name = "peak host memory (peak_rss_mb; the model's own peak is not in this CSV)";
    return F_RSS;
}

// The budget of series s with the highest mean accuracy (BP: its one budget), or -1.
static int best_budget(const rdata* d, int k, int s) {
    if (!strcmp(d->series[s].method, "bp")) return point_stat(d, s, 1, F_ACC).s.n ? 1 : -1;
    const rtask* t = &d->tasks[k];
    int best = -1;
    double acc = -INFINITY;
    for (int bi = 0; bi < t->n_budgets; bi++) {
        point p = point_stat(d, s, t->budgets[bi], F_ACC);
        if (p.s.n && p.s.mean > acc) {
            acc = p.s.mean;
            best = t->budgets[bi];
        }
    }
    return best;
}

static void write_memory(FILE* md, const rdata* d, int k) {
    const char* mname;
    field mf = memory_field(d, k, &mname);
    fprintf(md, "\n**Memory at matched accuracy.** Each series at its most accurate budget: accuracy (mean ± std over "
                "seeds), %s and time per step. bp-ckpt is BP with activation checkpointing (method bp, checkpoint=block).\n\n"
                "| series | b | accuracy (%%) | peak memory (MiB) | ms/step |\n|---|---|---|---|---|\n",
            mname);
    int ckpt = -1;
    for (int g = 0; g < d->n_global; g++) {
        int s = series_of(d, k, g);
        if (s < 0) continue;
        const rseries* x = &d->series[s];
        if (strcmp(x->method, "bp") && strcmp(x->method, "mezo") && strcmp(x->method, "lr")) continue;
        int b = best_budget(d, k, s);
        if (b < 0) continue;
        if (x->ckpt && ckpt < 0) ckpt = s;
        point a = point_stat(d, s, b, F_ACC), m = point_stat(d, s, b, mf), st = point_stat(d, s, b, F_STEP);
        char acc[64], bt[16];
        fmt_pm(acc, sizeof acc, a.s, 100, 1);
        if (strcmp(x->method, "bp")) snprintf(bt, sizeof bt, "%d", b);
        else snprintf(bt, sizeof bt, "–");
        fprintf(md, "| %s | %s | %s | %.0f | %.2f |\n", x->label, bt, acc, m.s.mean, st.s.mean);
    }
    if (ckpt < 0) {
        fprintf(md, "\nNo bp-ckpt run on this task (method bp with checkpoint=block%s): no checkpointing comparison.\n",
                d->files_without_ckpt ? "; some CSVs have no checkpoint column, read as none" : "");
        return;
    }
    point ca = point_stat(d, ckpt, 1, F_ACC), cm = point_stat(d, ckpt, 1, mf);
    fprintf(md, "\nbp-ckpt (%.1f %%, %.0f MiB) against each forward method at its most accurate budget:\n\n", 100 * ca.s.mean,
            cm.s.mean);
    for (int g = 0; g < d->n_global; g++) {
        int s = series_of(d, k, g);
        if (s < 0 || (strcmp(d->series[s].method, "mezo") && strcmp(d->series[s].method, "lr"))) continue;
        int b = best_budget(d, k, s);
        if (b < 0) continue;
        point a = point_stat(d, s, b, F_ACC), m = point_stat(d, s, b, mf);
        int reaches = ca.s.mean >= a.s.mean;
        double ratio = cm.s.mean / m.s.mean;
        fprintf(md, "- %s (b=%d, %.1f %%, %.0f MiB): bp-ckpt %s its accuracy (%+.1f points) with %s memory (%.2fx)\n",
                d->series[s].label, b, 100 * a.s.mean, m.s.mean, reaches ? "reaches at least" : "does not reach",
                100 * (ca.s.mean - a.s.mean), !isfinite(ratio) ? "unknown" : ratio <= 1 ? "less" : "more", ratio);
    }
}

static void write_compression(FILE* md, rdata* d, int k, const char* plotdir) {
    rtask* t = &d->tasks[k];
    t->n_compress = 0;
    t->compress_lo = t->n_budgets ? t->budgets[0] : 1;
    t->compress_hi = t->n_budgets ? t->budgets[t->n_budgets - 1] : 2;
    FILE* dat = open_plot(plotdir, "compress", k);
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
    // uniform LR: the lr-uniform series with the most finished cells
    int uni = -1, best = 0;
    for (int s = 0; s < d->n_series; s++) {
        if (d->series[s].task != k || strcmp(d->series[s].method, "lr") || strcmp(d->series[s].allocator, "uniform")) continue;
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
    // the targets: LR allocators, then MeZO, in the global series order
    for (int pass = 0; pass < 2; pass++) {
        rc_series targets[64];
        double* tb = fl_malloc(64 * 64 * sizeof(double));
        int n_t = 0;
        size_t used = (size_t)m * n_seeds;
        for (int g = 0; g < d->n_global && n_t < 64; g++) {
            int s = series_of(d, k, g);
            if (s < 0) continue;
            const rseries* x = &d->series[s];
            int want = pass == 0 ? !strcmp(x->method, "lr") && strcmp(x->allocator, "uniform") : !strcmp(x->method, "mezo");
            if (!want) continue;
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
        if (pass == 0) fprintf(md, "LR allocators against uniform LR (%s):\n\n", d->series[uni].label);
        else fprintf(md, "\nMeZO against uniform LR (MeZO at budget b, the uniform-LR budget with the same accuracy):\n\n");
        if (n_t) rc_write_task(md, dat, ub, mat, m, targets, n_t, n_seeds);
        else fprintf(md, "No such series on this task.\n");
        t->n_compress += n_t;
        free(tb);
    }
    if (!t->n_compress) fprintf(dat, "\"\" \"b\" \"b_equiv\" \"b_equiv_lo\" \"b_equiv_hi\"\nNaN NaN NaN NaN\n\n\n");
    fclose(dat);
    free(mat);
}

static void write_task(FILE* md, rdata* d, int k, const char* figrel, const char* plotdir) {
    const rtask* t = &d->tasks[k];
    fprintf(md, "\n## %d. %s\n\n", k + 1, t->title);
    int seeds = task_seeds(d, k);
    fprintf(md, "Seeds: %d (distinct seeds among this task's finished runs)%s.\n\n", seeds,
            seeds < 10 ? "; with fewer than 10 seeds every verdict below is indicative" : "");
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
                "(network queries per datum per step that the run may spend, clean pass and pilot included: docs/METHOD.md, \"Spend\"):\n\n| series |",
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
                "(host resident set; device memory on GPU runs; the model's own peak where the CSV has peak_model_mb). "
                "Spend is spend_per_datum, the queries per datum per step that count against the budget (oracle "
                "excluded; docs/METHOD.md, \"Spend\"):\n\n"
                "| series | b | seeds | queries | queries/datum/step | spend/datum/step | wall (s) | ms/step | peak RSS (MiB) | peak device (MiB) | peak model (MiB) |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n");
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
            point sp = point_stat(d, s, bs[b], F_SPEND), mod = point_stat(d, s, bs[b], F_MODEL);
            char bt[16], spt[32], modt[32];
            if (strcmp(d->series[s].method, "bp")) snprintf(bt, sizeof bt, "%d", bs[b]);
            else snprintf(bt, sizeof bt, "–");
            if (sp.s.n) snprintf(spt, sizeof spt, "%.2f", sp.s.mean);
            else snprintf(spt, sizeof spt, "unknown");
            if (mod.s.n) snprintf(modt, sizeof modt, "%.0f", mod.s.mean);
            else snprintf(modt, sizeof modt, "–");
            fprintf(md, "| %s | %s | %d/%d | %.3g | %.2f | %s | %.1f | %.2f | %.0f | %.0f | %s |\n", d->series[s].label, bt, q.n_ok,
                    q.n_cells, q.s.mean, qpd.s.mean, spt, w.s.mean, st.s.mean, rss.s.mean, dev.s.mean, modt);
        }
    }
    if (forward_series) {
        write_memory(md, d, k);
        write_claims(md, d, k);
        write_compression(md, d, k, plotdir);
    }
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
    // query compression (compress_K.dat, report_compress.c): blocks and the swept uniform budgets
    fprintf(meta, "array compress_n[%d]\narray compress_lo[%d]\narray compress_hi[%d]\n", d->n_tasks ? d->n_tasks : 1,
            d->n_tasks ? d->n_tasks : 1, d->n_tasks ? d->n_tasks : 1);
    for (int k = 0; k < d->n_tasks; k++)
        fprintf(meta, "compress_n[%d] = %d; compress_lo[%d] = %g; compress_hi[%d] = %g\n", k + 1, d->tasks[k].n_compress, k + 1,
                d->tasks[k].compress_lo > 0 ? d->tasks[k].compress_lo : 1, k + 1,
                d->tasks[k].compress_hi > d->tasks[k].compress_lo ? d->tasks[k].compress_hi : 2 * (d->tasks[k].compress_lo > 0 ? d->tasks[k].compress_lo : 1));
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
    if (fl_mkdirs(plotdir, NULL) || fl_mkdirs(figdir, NULL)) {
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
    if (d.files_without_spend)
        fprintf(md, "\n- **note**: %d input CSV%s no `spend_per_datum` column (an older schema): their spends are unknown, "
                    "and no comparison resting on them counts as evidence",
                d.files_without_spend, d.files_without_spend == 1 ? " has" : "s have");
    if (d.files_without_nonuni)
        fprintf(md, "\n- **note**: %d input CSV%s no `alloc_nonuniform_frac` column: whether an allocator left the uniform "
                    "allocation is read from n_lo and n_hi there",
                d.files_without_nonuni, d.files_without_nonuni == 1 ? " has" : "s have");
    if (d.files_without_ckpt)
        fprintf(md, "\n- **note**: %d input CSV%s no `checkpoint` column: their BP runs are read as without checkpointing",
                d.files_without_ckpt, d.files_without_ckpt == 1 ? " has" : "s have");
    fprintf(md, "\n- tasks:");
    for (int k = 0; k < d.n_tasks; k++) fprintf(md, " %d. %s%s", k + 1, d.tasks[k].title, k + 1 < d.n_tasks ? ";" : "");
    fprintf(md, "\n");
    sw_table_free(&revs);
    sw_table_free(&devs);
    for (int k = 0; k < d.n_tasks; k++) write_task(md, &d, k, figrel, plotdir);
    fprintf(md, "\n## Estimator quality (variance, bias and cost against the true gradient)\n\n");
    if (fl_report_variance(md, dir, plotdir) != 0)
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
