// report_prompt.c: the prompt-tuning part of a task's section in REPORT.md (report.h), for the
// tasks whose model is a prompt over a black box (docs/METHOD.md, "Prompt tuning"): per series,
// the validation loss the runs end with, where early stopping stopped them, and how the step's
// time splits between the black box and flbench.
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "report.h"
#include "../impl/core/common.h"

int rp_task_is_prompt(const rdata* d, int k) { return strstr(d->tasks[k].key, "|prompt:") != NULL; }

// "median (min–max)" of v (n > 0; sorts it), or "–" when n is 0.
static void median_range(char* out, size_t len, double* v, int n) {
    if (!n) {
        snprintf(out, len, "–");
        return;
    }
    double med = fl_median(v, n);  // sorts v
    snprintf(out, len, "%.0f (%.0f–%.0f)", med, v[0], v[n - 1]);
}

void rp_write_prompt(FILE* md, const rdata* d, int k) {
    fprintf(md, "\nBlack-box prompt tuning: the model is frozen behind a black box, only the prompt's z trains, and a "
                "query is one loss the box answers (docs/METHOD.md, \"Prompt tuning\"). Per series, over its ok runs: "
                "the final validation loss (mean ± sample std), the epoch whose parameters each run ended with "
                "(`stop_epoch`, early stopping; median and range), the epochs run, and the share of the training step "
                "spent inside the black box (t_blackbox_ms / step_ms of the last epoch, mean):\n\n"
                "| series | b | runs | validation loss | stop epoch | epochs run | black-box share of a step |\n"
                "|---|---|---|---|---|---|---|\n");
    for (int g = 0; g < d->n_global; g++) {
        int s = rp_series_of(d, k, g);
        if (s < 0) continue;
        const rtask* t = &d->tasks[k];
        for (int b = 0; b < t->n_budgets; b++) {
            long cells[4096];
            int n = rp_point_cells(d, s, t->budgets[b], cells, 4096);
            double loss[4096], stop[4096], ran[4096], share = 0;
            int n_ok = 0, n_stop = 0, n_share = 0;
            for (int i = 0; i < n; i++) {
                const rcell* c = &d->cells[cells[i]];
                if (strcmp(c->status, "ok")) continue;
                loss[n_ok] = rp_num(fl_csv_field(c->t, c->final_row, "eval_loss"));
                ran[n_ok++] = rp_num(fl_csv_field(c->t, c->final_row, "epoch"));
                double se = rp_num(fl_csv_field(c->t, c->final_row, "stop_epoch"));
                if (isfinite(se)) stop[n_stop++] = se;
                double tb = rp_num(fl_csv_field(c->t, c->final_row, "t_blackbox_ms"));
                double sm = rp_num(fl_csv_field(c->t, c->final_row, "step_ms"));
                if (tb >= 0 && sm > 0) {
                    share += tb / sm;
                    n_share++;
                }
            }
            if (!n) continue;
            char lt[64] = "–", st[64], rt[64], sh[32] = "–";
            mstat ls = rp_stats_of(loss, n_ok);
            if (ls.n) rp_fmt_pm(lt, sizeof lt, ls, 1, 3);
            median_range(st, sizeof st, stop, n_stop);
            median_range(rt, sizeof rt, ran, n_ok);
            if (n_share) snprintf(sh, sizeof sh, "%.2f", share / n_share);
            fprintf(md, "| %s | %d | %d/%d | %s | %s | %s | %s |\n", d->series[s].label, t->budgets[b], n_ok, n, lt, st, rt, sh);
        }
    }
}
