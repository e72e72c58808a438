// report_plotdata.c: the plot data of `flbench report DIR` (report.h): DIR/plotdata/meta.gp
// (what the data files hold: panels, tasks, series, budgets) and per task the accuracy, cost,
// training-loss and allocation data files that plots/*.gp read. Query compression writes its
// own file (compress_K.dat, report_claims.c).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <sys/stat.h>
#include "report.h"
#include "../impl/estimators/estimator.h"

static void gp_string(FILE* f, const char* s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

FILE* rp_open_plot(const char* plotdir, const char* name, int k) {
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
            (*proxy)[*n_pts] = rp_num(fl_csv_get(&t, r, cp));
            (*n_out)[*n_pts] = atoi(fl_csv_get(&t, r, cn));
            (*n_pts)++;
        }
        fl_csv_free(&t);
    }
    return files;
}

int rp_write_plotdata(const rdata* d, const char* dir, const char* plotdir, int loss_budget_opt) {
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
    for (int k = 0; k < d->n_tasks; k++) n_panels += rp_task_forward_series(d, k) > 0;
    fprintf(meta, "npanels = %d\narray ptask[%d]\n", n_panels, n_panels ? n_panels : 1);
    for (int k = 0, i = 0; k < d->n_tasks; k++)
        if (rp_task_forward_series(d, k)) fprintf(meta, "ptask[%d] = %d\n", ++i, k + 1);
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
    }
    // the BP reference: the series that the exact method's name labels, else the first exact series
    for (int s = 0; s < d->n_series; s++)
        if (fl_method_is_exact(d->series[s].method) && !strcmp(d->global[d->series[s].global], d->series[s].method))
            bp_index = d->series[s].global;
    for (int s = 0; s < d->n_series; s++)
        if (fl_method_is_exact(d->series[s].method) && bp_index < 0) bp_index = d->series[s].global;
    fprintf(meta, "bp_index = %d   # 0-based block index of the BP reference (-1: none)\n", bp_index);
    for (int k = 0; k < d->n_tasks; k++) {
        const rtask* t = &d->tasks[k];
        fprintf(meta, "task_title[%d] = ", k + 1);
        gp_string(meta, t->short_title);
        fprintf(meta, "\ntask_series[%d] = \"", k + 1);
        for (int g = 0, first = 1; g < d->n_global; g++)
            if (rp_series_of(d, k, g) >= 0) {
                fprintf(meta, "%s%d", first ? "" : " ", g);
                first = 0;
            }
        fprintf(meta, "\"\n");
        int lo = t->n_budgets ? t->budgets[0] : 1, hi = t->n_budgets ? t->budgets[t->n_budgets - 1] : 1;
        int lb = loss_budget_opt > 0 ? loss_budget_opt : hi;
        // accuracy against budget; bp as a flat line across the task's budgets
        FILE* f = rp_open_plot(plotdir, "acc", k);
        FILE* fc = rp_open_plot(plotdir, "cost", k);
        FILE* fl = rp_open_plot(plotdir, "loss", k);
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
            int s = rp_series_of(d, k, g);
            const char* acols = "\"budget\" \"acc_mean\" \"acc_std\" \"seeds\"";
            const char* ccols = "\"budget\" \"step_ms_mean\" \"step_ms_std\" \"peak_mib_mean\" \"peak_mib_std\" \"queries_per_datum_step\"";
            const char* lcols = "\"epoch\" \"train_loss_mean\" \"train_loss_std\" \"seeds\"";
            if (s < 0) {
                empty_block(f, acols, 4);
                empty_block(fc, ccols, 6);
                empty_block(fl, lcols, 4);
                continue;
            }
            int is_bp = fl_method_is_exact(d->series[s].method);
            block_header(f, d->series[s].label, acols);
            block_header(fc, d->series[s].label, ccols);
            int rows = 0;
            for (int bi = 0; bi < (is_bp ? 2 : t->n_budgets); bi++) {
                int b = is_bp ? 1 : t->budgets[bi];
                int x = is_bp ? (bi ? hi : lo) : b;
                rpoint p = rp_point_stat(d, s, b, RF_ACC);
                if (!p.n_cells) continue;
                rpoint st = rp_point_stat(d, s, b, RF_STEP);
                rpoint mem = rp_point_stat(d, s, b, RF_DEV);
                if (!mem.s.n || !isfinite(mem.s.mean)) mem = rp_point_stat(d, s, b, RF_RSS);
                rpoint qpd = rp_point_stat(d, s, b, RF_QPD);
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
            int nc = rp_point_cells(d, s, b, idx, 256);
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
                    if (strcmp(c->status, "ok")) continue;  // a diverged run's epochs are no training curve
                    for (int j = 0; j < c->n_ep; j++)
                        if (c->ep[j].epoch == e) v[nv++] = c->ep[j].train_loss;
                }
                mstat st = rp_stats_of(v, nv);
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
        FILE* fh = rp_open_plot(plotdir, "alloc_hist", k);
        FILE* fs = rp_open_plot(plotdir, "alloc_scatter", k);
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
