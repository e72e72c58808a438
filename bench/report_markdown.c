// report_markdown.c: REPORT.md of `flbench report DIR` (report.h): the header on what was read,
// one section per task (the BP reference, accuracy by budget, costs, memory at matched accuracy,
// then the claims and query compression of report_claims.c and the figures' links), the
// estimator-quality section (report_variance.c) and the appendix of every cell.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "report.h"
#include "sweep.h"
#include "../impl/estimators/estimator.h"

void rp_fmt_pm(char* out, size_t len, mstat s, double scale, int decimals) {
    if (s.n == 0) snprintf(out, len, "–");
    else if (s.n == 1) snprintf(out, len, "%.*f", decimals, s.mean * scale);
    else snprintf(out, len, "%.*f ± %.*f", decimals, s.mean * scale, decimals, s.std * scale);
}

void rp_point_note(char* out, size_t len, const rpoint* p) {
    out[0] = 0;
    if (!p->n_diverged && !p->n_failed) return;
    size_t n = (size_t)snprintf(out, len, " (%d/%d seeds", p->n_ok, p->n_cells);
    if (p->n_diverged && n < len) n += (size_t)snprintf(out + n, len - n, ", %d diverged", p->n_diverged);
    if (p->n_failed && n < len) n += (size_t)snprintf(out + n, len - n, ", %d failed", p->n_failed);
    if (n < len) snprintf(out + n, len - n, ")");
}

// The memory a task's comparison reads: the model's own peak (peak_model_mb) where every
// series has it, else peak device memory on GPU runs, else peak host RSS.
static rfield memory_field(const rdata* d, int k, const char** name) {
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
        return RF_MODEL;
    }
    if (cuda) {
        *name = "peak device memory (peak_dev_mb)";
        return RF_DEV;
    }
    *name = "peak host memory (peak_rss_mb; the model's own peak is not in this CSV)";
    return RF_RSS;
}

static void write_memory(FILE* md, const rdata* d, int k) {
    const char* mname;
    rfield mf = memory_field(d, k, &mname);
    fprintf(md, "\n**Memory at matched accuracy.** Each series at its most accurate budget: accuracy (mean ± std over "
                "seeds), %s and time per step. bp-ckpt is BP with activation checkpointing (method bp, checkpoint=block).\n\n"
                "| series | b | accuracy (%%) | peak memory (MiB) | ms/step |\n|---|---|---|---|---|\n",
            mname);
    int ckpt = -1;
    for (int g = 0; g < d->n_global; g++) {
        int s = rp_series_of(d, k, g);
        if (s < 0) continue;
        const rseries* x = &d->series[s];
        int b = rp_best_budget(d, k, s);
        if (b < 0) continue;
        if (x->ckpt && ckpt < 0) ckpt = s;
        rpoint a = rp_point_stat(d, s, b, RF_ACC), m = rp_point_stat(d, s, b, mf), st = rp_point_stat(d, s, b, RF_STEP);
        char acc[64], bt[16];
        rp_fmt_pm(acc, sizeof acc, a.s, 100, 1);
        if (!fl_method_is_exact(x->method)) snprintf(bt, sizeof bt, "%d", b);
        else snprintf(bt, sizeof bt, "–");
        fprintf(md, "| %s | %s | %s | %.0f | %.2f |\n", x->label, bt, acc, m.s.mean, st.s.mean);
    }
    if (ckpt < 0) {
        fprintf(md, "\nNo bp-ckpt run on this task (method bp with checkpoint=block%s): no checkpointing comparison.\n",
                d->files_without_ckpt ? "; some CSVs have no checkpoint column, read as none" : "");
        return;
    }
    rpoint ca = rp_point_stat(d, ckpt, 1, RF_ACC), cm = rp_point_stat(d, ckpt, 1, mf);
    fprintf(md, "\nbp-ckpt (%.1f %%, %.0f MiB) against each forward method at its most accurate budget:\n\n", 100 * ca.s.mean,
            cm.s.mean);
    for (int g = 0; g < d->n_global; g++) {
        int s = rp_series_of(d, k, g);
        if (s < 0 || fl_method_is_exact(d->series[s].method)) continue;
        int b = rp_best_budget(d, k, s);
        if (b < 0) continue;
        rpoint a = rp_point_stat(d, s, b, RF_ACC), m = rp_point_stat(d, s, b, mf);
        int reaches = ca.s.mean >= a.s.mean;
        double ratio = cm.s.mean / m.s.mean;
        fprintf(md, "- %s (b=%d, %.1f %%, %.0f MiB): bp-ckpt %s its accuracy (%+.1f points) with %s memory (%.2fx)\n",
                d->series[s].label, b, 100 * a.s.mean, m.s.mean, reaches ? "reaches at least" : "does not reach",
                100 * (ca.s.mean - a.s.mean), !isfinite(ratio) ? "unknown" : ratio <= 1 ? "less" : "more", ratio);
    }
}

static void write_task(FILE* md, rdata* d, int k, const char* figrel, const char* plotdir) {
    const rtask* t = &d->tasks[k];
    fprintf(md, "\n## %d. %s\n\n", k + 1, t->title);
    int seeds = rp_task_seeds(d, k);
    fprintf(md, "Seeds: %d (distinct seeds among this task's finished runs)%s.\n\n", seeds,
            seeds < 10 ? "; with fewer than 10 seeds every verdict below is indicative" : "");
    // BP reference
    for (int s = 0; s < d->n_series; s++) {
        if (d->series[s].task != k || !fl_method_is_exact(d->series[s].method)) continue;
        rpoint p = rp_point_stat(d, s, 1, RF_ACC);
        char v[64], note[64];
        rp_fmt_pm(v, sizeof v, p.s, 100, 1);
        rp_point_note(note, sizeof note, &p);
        fprintf(md, "Reference, backpropagation (%s): %s %% %s accuracy over %d seed%s%s.\n\n", d->series[s].label, v,
                strstr(t->title, "(validation split)") ? "validation" : "test", p.s.n, p.s.n == 1 ? "" : "s", note);
    }
    int forward_series = rp_task_forward_series(d, k);
    if (!forward_series) fprintf(md, "Only BP ran on this task (a pretraining run, for instance): no comparison to make.\n");
    else fprintf(md, "Accuracy on the %s split (%%, mean ± sample std over seeds), by query budget "
                "(network queries per datum per step that the run may spend, clean pass and pilot included: docs/METHOD.md, \"Spend\"):\n\n| series |",
            strstr(t->title, "(validation split)") ? "validation" : "test");
    for (int b = 0; forward_series && b < t->n_budgets; b++) fprintf(md, " b=%d |", t->budgets[b]);
    if (forward_series) fprintf(md, "\n|---|");
    for (int b = 0; forward_series && b < t->n_budgets; b++) fprintf(md, "---|");
    if (forward_series) fprintf(md, "\n");
    for (int g = 0; forward_series && g < d->n_global; g++) {
        int s = rp_series_of(d, k, g);
        if (s < 0 || fl_method_is_exact(d->series[s].method)) continue;
        fprintf(md, "| %s |", d->series[s].label);
        for (int b = 0; b < t->n_budgets; b++) {
            rpoint p = rp_point_stat(d, s, t->budgets[b], RF_ACC);
            char v[64], note[64];
            if (!p.n_cells) {
                fprintf(md, " |");
                continue;
            }
            rp_fmt_pm(v, sizeof v, p.s, 100, 1);
            rp_point_note(note, sizeof note, &p);
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
        int s = rp_series_of(d, k, g);
        if (s < 0) continue;
        int bs[65], nb = 0;
        if (fl_method_is_exact(d->series[s].method)) bs[nb++] = 1;
        else
            for (int b = 0; b < t->n_budgets; b++) bs[nb++] = t->budgets[b];
        for (int b = 0; b < nb; b++) {
            rpoint q = rp_point_stat(d, s, bs[b], RF_QUERIES);
            if (!q.n_cells) continue;
            rpoint qpd = rp_point_stat(d, s, bs[b], RF_QPD), w = rp_point_stat(d, s, bs[b], RF_WALL);
            rpoint st = rp_point_stat(d, s, bs[b], RF_STEP), rss = rp_point_stat(d, s, bs[b], RF_RSS), dev = rp_point_stat(d, s, bs[b], RF_DEV);
            rpoint sp = rp_point_stat(d, s, bs[b], RF_SPEND), mod = rp_point_stat(d, s, bs[b], RF_MODEL);
            char bt[16], spt[32], modt[32];
            if (!fl_method_is_exact(d->series[s].method)) snprintf(bt, sizeof bt, "%d", bs[b]);
            else snprintf(bt, sizeof bt, "–");
            if (sp.s.n) snprintf(spt, sizeof spt, "%.2f", sp.s.mean);
            else snprintf(spt, sizeof spt, "unknown");
            if (mod.s.n) snprintf(modt, sizeof modt, "%.0f", mod.s.mean);
            else snprintf(modt, sizeof modt, "–");
            fprintf(md, "| %s | %s | %d/%d | %.3g | %.2f | %s | %.1f | %.2f | %.0f | %.0f | %s |\n", d->series[s].label, bt, q.n_ok,
                    q.n_cells, q.s.mean, qpd.s.mean, spt, w.s.mean, st.s.mean, rss.s.mean, dev.s.mean, modt);
        }
    }
    if (forward_series && rp_task_is_prompt(d, k)) rp_write_prompt(md, d, k);
    if (forward_series) {
        write_memory(md, d, k);
        rp_write_claims(md, d, k);
        rp_write_compression(md, d, k, plotdir);
    }
    if (!forward_series) return;
    int panel = 0;  // figure panels are the tasks with forward methods (rp_write_plotdata)
    for (int j = 0; j <= k; j++) panel += rp_task_forward_series(d, j) > 0;
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
            int s = rp_series_of(d, k, g);
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

void rp_write_markdown(FILE* md, rdata* d, const fl_csv* files, int n_files, const char* dir, const char* figrel,
                       const char* plotdir) {
    long n_status[5] = {0};
    const char* status_names[] = {"ok", "diverged", "failed", "missing-*", "other"};
    sw_table revs = {0}, devs = {0};
    for (long i = 0; i < d->n_cells; i++) {
        const char* s = d->cells[i].status;
        n_status[!strcmp(s, "ok") ? 0 : !strcmp(s, "diverged") ? 1 : !strcmp(s, "failed") ? 2 : !strncmp(s, "missing", 7) ? 3 : 4]++;
        sw_table_slot(&revs, fl_csv_field(d->cells[i].t, d->cells[i].final_row, "git_rev"), NULL);
        char dv[600];
        snprintf(dv, sizeof dv, "%s %s on host %s", fl_csv_field(d->cells[i].t, d->cells[i].final_row, "backend"),
                 fl_csv_field(d->cells[i].t, d->cells[i].final_row, "device"), fl_csv_field(d->cells[i].t, d->cells[i].final_row, "host"));
        sw_table_slot(&devs, dv, NULL);
    }
    fprintf(md, "# flbench report: %s\n\n", dir);
    fprintf(md, "Generated by `flbench report` from the results CSV listed below; every number here is computed from "
                "their rows (schema: results/SCHEMA.md). Accuracy is the final evaluation of each run; means and sample "
                "standard deviations are over seeds; runs that diverged or failed are counted apart and left out of the means.\n\n");
    fprintf(md, "- inputs:");
    for (int i = 0; i < n_files; i++) fprintf(md, " `%s` (%ld rows)%s", files[i].path, files[i].n_rows, i + 1 < n_files ? "," : "");
    fprintf(md, "\n- cells: %ld finished:", d->n_cells);
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
    if (d->n_clashes)
        fprintf(md, "\n- **note**: %ld cells share series, budget and seed with another cell (old rows of an edited "
                    "configuration?); they are all counted as seeds",
                d->n_clashes);
    if (d->files_without_spend)
        fprintf(md, "\n- **note**: %d input CSV%s no `spend_per_datum` column (an older schema): their spends are unknown, "
                    "and no comparison resting on them counts as evidence",
                d->files_without_spend, d->files_without_spend == 1 ? " has" : "s have");
    if (d->files_without_nonuni)
        fprintf(md, "\n- **note**: %d input CSV%s no `alloc_nonuniform_frac` column: whether an allocator left the uniform "
                    "allocation is read from n_lo and n_hi there",
                d->files_without_nonuni, d->files_without_nonuni == 1 ? " has" : "s have");
    if (d->files_without_ckpt)
        fprintf(md, "\n- **note**: %d input CSV%s no `checkpoint` column: their BP runs are read as without checkpointing",
                d->files_without_ckpt, d->files_without_ckpt == 1 ? " has" : "s have");
    fprintf(md, "\n- tasks:");
    for (int k = 0; k < d->n_tasks; k++) fprintf(md, " %d. %s%s", k + 1, d->tasks[k].title, k + 1 < d->n_tasks ? ";" : "");
    fprintf(md, "\n");
    sw_table_free(&revs);
    sw_table_free(&devs);
    for (int k = 0; k < d->n_tasks; k++) write_task(md, d, k, figrel, plotdir);
    fprintf(md, "\n## Estimator quality (variance, bias and cost against the true gradient)\n\n");
    if (fl_report_variance(md, dir, plotdir) != 0)
        fprintf(md, "No estimator-quality results in this folder (they come from `flbench variance`).\n");
    write_cells(md, d);
}
