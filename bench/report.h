// report.h: what the files of `flbench report DIR` share: the results read from the CSVs,
// organised into cells, tasks and series, the queries over them, and each file's entry point.
//
//   report_load.c      reads the results CSVs of DIR into cells (one per cell key)
//   report_organise.c  fills the cells' fields, groups them into tasks and series, orders the
//                      series; the points (a series at a budget) and their means and stds
//   report_claims.c    the paper's comparisons as data: the directional claims with their
//                      verdicts, and query compression against uniform LR
//   report_markdown.c  REPORT.md: the header, one section per task, the appendix
//   report_plotdata.c  the data files of DIR/plotdata/ that plots/*.gp read
//   report_variance.c  the estimator-quality section, from DIR/variance/ and DIR/track/
//   cmd_report.c       the command: options, paths, calling the rest
//
// Terms:
//  - a cell: one run (one cell key), summarised by its final row;
//  - a task: the rows' (dataset, model, shots, evaluation split), one table and panel each;
//  - a series: one line of a figure: within a task, the cell key's axes other than seed,
//    budget and the task's own (for sweep keys, e.g. "lr-flops"), else method-allocator;
//  - a point: (task, series, budget), aggregated over seeds (mean and sample std).
#pragma once
#include <stdio.h>
#include "run/csvread.h"

#define RP_MAX_EPOCHS 4096

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
    int ckpt;            // the exact method (bp) with checkpoint=block: activation checkpointing ("bp-ckpt")
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

// ---------------------------------------------------------------------------------------
// reading (report_load.c)

// A number of a CSV field; NAN when empty or not a number.
double rp_num(const char* s);
// Reads DIR/*.csv and the extra CSV paths: the results CSVs among them into files (*n_files),
// and one cell per cell key with a final row (the first file holding a key wins) into d, with
// its per-epoch rows and peaks. Files that are not results CSVs are skipped (with a note for
// the extra ones).
int rp_load(const char* dir, char** extra, int n_extra, fl_csv** files, int* n_files, rdata* d);

// ---------------------------------------------------------------------------------------
// organising, and the points (report_organise.c)

// Fills each cell's fields, the tasks (with their budgets), the series and their global order.
void rp_organise(rdata* d);
// Frees what rp_load and rp_organise allocated in d.
void rp_free(rdata* d);

typedef struct {
    double mean, std;   // std: sample standard deviation (NAN when n < 2)
    int n;
} mstat;

// Mean and sample std of the finite values among v (n).
mstat rp_stats_of(const double* v, int n);

// A point's values of one field over its ok cells.
typedef enum { RF_ACC, RF_QUERIES, RF_QPD, RF_WALL, RF_STEP, RF_RSS, RF_DEV, RF_MODEL, RF_SPEND } rfield;

typedef struct {
    mstat s;
    int n_cells, n_ok, n_diverged, n_failed;
} rpoint;

// Cells of a point: indices into d->cells (at most max).
int rp_point_cells(const rdata* d, int series, int budget, long* out, int max);
rpoint rp_point_stat(const rdata* d, int series, int budget, rfield f);
// The series of task k with global index g, or -1.
int rp_series_of(const rdata* d, int k, int g);
// The one series of task k with this method and allocator (NULL: any) that has cells at
// budget b, or -1 (-2 when several do: ambiguous).
int rp_series_by_method(const rdata* d, int k, const char* method, const char* allocator, int b);
// Distinct seeds among the task's ok cells.
int rp_task_seeds(const rdata* d, int k);
// Series of task k of a forward (not exact) method: 0 for a BP-only task, which has no
// comparison, table or figure panel.
int rp_task_forward_series(const rdata* d, int k);
// The budget of series s with the highest mean accuracy (BP: its one budget), or -1.
int rp_best_budget(const rdata* d, int k, int s);
// Allocators as the report orders and names them: the rank (unknown ones after the known,
// by name) and the title ("FLOPS"; an unknown allocator's is its name).
int rp_alloc_rank(const char* allocator);
const char* rp_alloc_title(const char* allocator);

// ---------------------------------------------------------------------------------------
// the paper's comparisons (report_claims.c)

// The directional claims on task k: the table of comparisons, then one verdict per claim.
void rp_write_claims(FILE* md, const rdata* d, int k);
// Query compression on task k: the Markdown table and plotdata/compress_K.dat.
void rp_write_compression(FILE* md, rdata* d, int k, const char* plotdir);

// ---------------------------------------------------------------------------------------
// Markdown (report_markdown.c)

// "mean ± std" of s times scale ("–" without values).
void rp_fmt_pm(char* out, size_t len, mstat s, double scale, int decimals);
// " (2/3 seeds, 1 diverged)" where some of the point's cells are not ok, else "".
void rp_point_note(char* out, size_t len, const rpoint* p);
// REPORT.md into md: the header on the inputs, a section per task, the estimator-quality
// section (report_variance.c) and the appendix of every cell. figrel: the figures' folder
// relative to the report's.
void rp_write_markdown(FILE* md, rdata* d, const fl_csv* files, int n_files, const char* dir, const char* figrel,
                       const char* plotdir);

// ---------------------------------------------------------------------------------------
// plot data (report_plotdata.c)

// plotdir/NAME_K.dat of task k (0-based), opened for writing; NULL (with a message) on failure.
FILE* rp_open_plot(const char* plotdir, const char* name, int k);
// meta.gp and the data files of every task; loss_budget > 0: the training-loss figure's budget.
int rp_write_plotdata(const rdata* d, const char* dir, const char* plotdir, int loss_budget);

// ---------------------------------------------------------------------------------------
// the estimator-quality section (report_variance.c)

// Appends a Markdown section for DIR to md and may write plot data into plotdir; returns 0,
// or -1 when it has nothing to say.
int fl_report_variance(FILE* md, const char* dir, const char* plotdir);

// ---------------------------------------------------------------------------------------
// prompt tuning (report_prompt.c)

// 1 when task k's model is a prompt over a black box (its rows' model "prompt:...").
int rp_task_is_prompt(const rdata* d, int k);
// The prompt-tuning table of task k: validation loss, stop epoch, epochs run, black-box share.
void rp_write_prompt(FILE* md, const rdata* d, int k);
// A folder of `flbench variance` results only: REPORT.md with that section alone. Returns 0,
// 1 when DIR/variance holds no variance CSV (the caller reports that), -1 on error.
int fl_report_variance_only(const char* dir);
