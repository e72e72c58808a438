// report_load.c: reading for `flbench report DIR` (report.h): the results CSVs of DIR (and
// those named on the command line) into cells, one per cell key with a final row, each with
// its per-epoch training loss, peaks and allocation counts from the rows of its file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <glob.h>
#include "report.h"
#include "sweep.h"
#include "run/schema_upgrade.h"

double rp_num(const char* s) {
    if (!s || !*s) return NAN;
    char* end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

// A results CSV of this or an older schema (eval_acc may be its older name test_acc): the
// columns the report reads must be there; the
// newer ones (spend_per_datum, alloc_nonuniform_frac, checkpoint, peak_model_mb) may be absent,
// and are then unknown (the report says so).
static int results_header_check(const fl_csv* t, fl_err* err) {
    static const char* need[] = {"schema", "cell_key", "status", "dataset", "model", "method", "allocator", "budget", "batch",
                                 "shots", "seed", "epoch", "epochs", "steps", "eval_split", "eval_acc", "queries", "wall_s", NULL};
    if (t->n_cols < 2 || strcmp(t->header[0], "schema") || strcmp(t->header[1], "cell_key"))
        return fl_fail(err, "%s:1: not a results CSV: it does not start with the columns schema,cell_key", t->path);
    for (int i = 0; need[i]; i++)
        if (fl_csv_col(t, need[i]) < 0 && !(!strcmp(need[i], "eval_acc") && fl_csv_col(t, "test_acc") >= 0)) return fl_fail(err, "%s:1: not a results CSV: no column '%s'", t->path, need[i]);
    return 0;
}

int rp_load(const char* dir, char** extra, int n_extra, fl_csv** files_out, int* n_files_out, rdata* d) {
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
        fl_results_upgrade(&t);  // an older schema read as this one (results/SCHEMA.md, "Older schemas")
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
            double tl = rp_num(fl_csv_field(t, r, "train_loss"));
            if (epoch >= 1 && isfinite(tl) && c->n_ep < RP_MAX_EPOCHS) {
                c->ep = fl_realloc(c->ep, (size_t)(c->n_ep + 1) * sizeof(epoch_pt));
                c->ep[c->n_ep++] = (epoch_pt){epoch, tl};
            }
            const char* nlo = fl_csv_field(t, r, "n_lo");
            const char* nhi = fl_csv_field(t, r, "n_hi");
            if (*nlo && *nhi && strcmp(nlo, nhi)) c->nonuniform = 1;
            double rss = rp_num(fl_csv_field(t, r, "peak_rss_mb")), dev = rp_num(fl_csv_field(t, r, "peak_dev_mb"));
            double model = rp_num(fl_csv_field(t, r, "peak_model_mb"));
            if (isfinite(rss) && !(rss <= c->peak_rss)) c->peak_rss = rss;
            if (isfinite(dev) && !(dev <= c->peak_dev)) c->peak_dev = dev;
            if (isfinite(model) && !(model <= c->peak_model)) c->peak_model = model;
            double frac = rp_num(fl_csv_field(t, r, "alloc_nonuniform_frac"));
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
