// report_organise.c: organising for `flbench report DIR` (report.h): each cell's fields from
// its final row, the tasks (with their budgets) and series the cells belong to, the series'
// labels and their global order (one plot style per label); then the queries the sections ask
// of that organisation: the cells of a point and their mean and std, a task's series, seeds
// and budgets.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "report.h"
#include "sweep.h"
#include "run/series.h"
#include "run/schema_upgrade.h"
#include "../impl/estimators/estimator.h"

// ---------------------------------------------------------------------------------------
// series labels and order

// Methods in the registry's order (bp, mezo, lr), a method the registry does not know after them.
static int method_rank(const char* m) {
    int n = fl_estimator_count();
    for (int i = 0; i < n; i++)
        if (!strcmp(fl_estimator_at(i)->name, m)) return i;
    return n;
}

// Allocators in the order of the tables, with the name the text gives them.
static const struct {
    const char* name;
    const char* title;  // NULL: the name
} allocators[] = {
    {"", NULL}, {"uniform", NULL}, {"flops", "FLOPS"}, {"neyman", "Neyman"}, {"oracle", "Oracle"},
    {"bernoulli", "Bernoulli"}, {"loss", "Loss-proportional"},
};
#define N_ALLOCATORS (int)(sizeof allocators / sizeof allocators[0])

int rp_alloc_rank(const char* a) {
    for (int i = 0; i < N_ALLOCATORS; i++)
        if (!strcmp(allocators[i].name, a)) return i;
    return 9;  // after the known ones
}

const char* rp_alloc_title(const char* a) {
    for (int i = 0; i < N_ALLOCATORS; i++)
        if (!strcmp(allocators[i].name, a)) return allocators[i].title ? allocators[i].title : a;
    return a;
}

static int cmp_int(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

// ---------------------------------------------------------------------------------------
// tasks and series

// Fills each cell's fields, tasks and series.
void rp_organise(rdata* d) {
    sw_table tasks = {0}, series = {0};
    for (long i = 0; i < d->n_cells; i++) {
        rcell* c = &d->cells[i];
        const fl_csv* t = c->t;
        long r = c->final_row;
        // the dataset as the tasks name it: NAME[CLASSES] REST (e.g. fashion-mnist[5-9] label-noise=0.3)
        char desc[128];
        fl_results_dataset_desc(t, r, desc, sizeof desc);
        const char* dataset = desc;
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
            char vpc[16];  // --val-per-class V holds V of the K shots out: K - V train
            fl_config_option(fl_csv_field(t, r, "config"), "val-per-class", vpc, sizeof vpc);
            int v = atoi(vpc);
            if (sh > 0 && v > 0 && v < sh) snprintf(shot_txt, sizeof shot_txt, "%d-shot (+%d held out)", sh - v, v);
            else if (sh > 0) snprintf(shot_txt, sizeof shot_txt, "%d-shot", sh);
            else snprintf(shot_txt, sizeof shot_txt, "full training set");
            snprintf(k->title, sizeof k->title, "%s, %s, %s%s", dataset[0] ? dataset : "?", model[0] ? model : "?", shot_txt,
                     !strcmp(split, "val") ? " (validation split)" : "");
            char ms[128];
            snprintf(ms, sizeof ms, "%s", model[0] ? model : "?");
            char* colon = strchr(ms, ':');
            if (colon && strncmp(ms, "mlp", 3)) *colon = 0;
            snprintf(k->short_title, sizeof k->short_title, "%.80s, %.60s, %s%s", dataset[0] ? dataset : "?", ms, shot_txt,
                     !strcmp(split, "val") ? " (val)" : "");
            *tv = d->n_tasks++;
        }
        c->task = (int)*tv;
        snprintf(c->method, sizeof c->method, "%s", fl_csv_field(t, r, "method"));
        snprintf(c->allocator, sizeof c->allocator, "%s", fl_csv_field(t, r, "allocator"));
        c->budget = atoi(fl_csv_field(t, r, "budget"));
        c->seed = atol(fl_csv_field(t, r, "seed"));
        c->acc = rp_num(fl_csv_field(t, r, "eval_acc"));
        c->queries = rp_num(fl_csv_field(t, r, "queries"));
        double steps = rp_num(fl_csv_field(t, r, "steps")), batch = rp_num(fl_csv_field(t, r, "batch"));
        c->qpd = steps > 0 && batch > 0 ? c->queries / (steps * batch) : NAN;
        c->wall = rp_num(fl_csv_field(t, r, "wall_s"));
        c->gflop = rp_num(fl_csv_field(t, r, "fwd_gflop"));
        // mean time per step over the run: wall time / steps
        c->step_ms = steps > 0 ? 1e3 * c->wall / steps : NAN;
        if (!(c->peak_rss > 0)) c->peak_rss = NAN;
        // on the cpu backend the host is the device: peak_dev_mb is empty there (schema 4; schema 3
        // repeated peak_rss_mb), and the report's device memory is the host's
        if (!strcmp(fl_csv_field(t, r, "backend"), "cpu")) c->peak_dev = c->peak_rss;
        if (!(c->peak_dev > 0)) c->peak_dev = NAN;
        if (!(c->peak_model > 0)) c->peak_model = NAN;
        // spend_per_datum is cumulative: the final row holds the run's spend (docs/METHOD.md, "Spend")
        c->spend = rp_num(fl_csv_field(t, r, "spend_per_datum"));
        c->nonuni_frac = c->nonuni_rows ? c->nonuni_sum / c->nonuni_rows : NAN;
        c->ckpt = fl_method_is_exact(c->method) && !strcmp(fl_csv_field(t, r, "checkpoint"), "block");
        char label[200];
        fl_series_label(c->key, c->method, c->allocator, c->ckpt, label, sizeof label);
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
            s->rank = method_rank(c->method) * 16 + rp_alloc_rank(c->allocator) + c->ckpt;
            *sv = d->n_series++;
        }
        c->series = (int)*sv;
        // the task's budgets (the exact method has none)
        rtask* k = &d->tasks[c->task];
        if (!fl_method_is_exact(c->method) && strcmp(c->status, "failed") && strncmp(c->status, "missing", 7)) {
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


void rp_free(rdata* d) {
    for (long i = 0; i < d->n_cells; i++) free(d->cells[i].ep);
    free(d->cells);
    free(d->tasks);
    free(d->series);
    for (int g = 0; g < d->n_global; g++) free(d->global[g]);
    free(d->global);
}

// ---------------------------------------------------------------------------------------
// points: a series at a budget, over its seeds

mstat rp_stats_of(const double* v, int n) {
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
int rp_point_cells(const rdata* d, int series, int budget, long* out, int max) {
    int n = 0;
    for (long c = 0; c < d->n_cells && n < max; c++)
        if (d->cells[c].series == series && d->cells[c].budget == budget) out[n++] = c;
    return n;
}

// One field of a cell.
static double field_of(const rcell* c, rfield f) {
    switch (f) {
    case RF_ACC: return c->acc;
    case RF_QUERIES: return c->queries;
    case RF_QPD: return c->qpd;
    case RF_WALL: return c->wall;
    case RF_STEP: return c->step_ms;
    case RF_RSS: return c->peak_rss;
    case RF_DEV: return c->peak_dev;
    case RF_MODEL: return c->peak_model;
    case RF_SPEND: return c->spend;
    }
    return NAN;
}

// The point's cells by status, and the mean and std of field f over the ok ones.
rpoint rp_point_stat(const rdata* d, int series, int budget, rfield f) {
    long idx[1024];
    int n = rp_point_cells(d, series, budget, idx, 1024);
    double v[1024];
    rpoint p = {{NAN, NAN, 0}, n, 0, 0, 0};
    int k = 0;
    for (int i = 0; i < n; i++) {
        const rcell* c = &d->cells[idx[i]];
        if (!strcmp(c->status, "ok")) {
            p.n_ok++;
            v[k++] = field_of(c, f);
        } else if (!strcmp(c->status, "diverged")) p.n_diverged++;
        else p.n_failed++;
    }
    p.s = rp_stats_of(v, k);
    return p;
}

// ---------------------------------------------------------------------------------------
// what the sections ask

// The series of task k with global index g, or -1.
int rp_series_of(const rdata* d, int k, int g) {
    for (int s = 0; s < d->n_series; s++)
        if (d->series[s].task == k && d->series[s].global == g) return s;
    return -1;
}

// The one series of task k with this method and allocator that has cells at budget b, or -1
// (-2 when several do: ambiguous).
int rp_series_by_method(const rdata* d, int k, const char* method, const char* allocator, int b) {
    int found = -1;
    for (int s = 0; s < d->n_series; s++) {
        const rseries* x = &d->series[s];
        if (x->task != k || strcmp(x->method, method) || (allocator && strcmp(x->allocator, allocator))) continue;
        long idx[4];
        if (rp_point_cells(d, s, b, idx, 4) == 0) continue;
        if (found >= 0) return -2;
        found = s;
    }
    return found;
}

// Distinct seeds among the task's ok cells.
int rp_task_seeds(const rdata* d, int k) {
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

int rp_task_forward_series(const rdata* d, int k) {
    int n = 0;
    for (int s = 0; s < d->n_series; s++) n += d->series[s].task == k && !fl_method_is_exact(d->series[s].method);
    return n;
}

// The budget of series s with the highest mean accuracy (BP: its one budget), or -1.
int rp_best_budget(const rdata* d, int k, int s) {
    if (fl_method_is_exact(d->series[s].method)) return rp_point_stat(d, s, 1, RF_ACC).s.n ? 1 : -1;
    const rtask* t = &d->tasks[k];
    int best = -1;
    double acc = -INFINITY;
    for (int bi = 0; bi < t->n_budgets; bi++) {
        rpoint p = rp_point_stat(d, s, t->budgets[bi], RF_ACC);
        if (p.s.n && p.s.mean > acc) {
            acc = p.s.mean;
            best = t->budgets[bi];
        }
    }
    return best;
}

