// test_report.c: `flbench report` and the gnuplot scripts of plots/, on a small results CSV
// this test writes (three tasks, up to seven series, one diverged and one failed cell,
// allocation logs, a bp-ckpt CSV with a checkpoint column), with accuracies and spends chosen so
// that each verdict is known:
//  - FLOPS beats uniform LR by 5 points at b=4 and loses by 3 at b=8, both significant: the
//    family is "cannot decide" (opposite directions), counted once;
//  - every LR series beats MeZO at equal budget: one verdict, k of m after Holm;
//  - LR at b >= 4 spends more than MeZO at 2 queries: those rows are not evidence;
//  - spends 1 % apart are "matched spend", 3 % apart are not (and not evidence);
//  - the test's text follows each task's seed count (3 seeds: t 4.303, 2 seeds: t 12.706);
//  - query compression on a task whose uniform accuracy is linear in log2(budget): FLOPS at
//    b=8 equals uniform at 16 (b'/b = 2.00, resolved), Neyman at b=8 is "not resolved";
//  - bp-ckpt is its own method in the cost and memory tables;
//  - a method the paper does not name (spsa1, a second weight-perturbation estimator) is in the
//    memory table and has its own query-compression section, with no edit of the report;
//  - an older CSV without spend_per_datum and alloc_nonuniform_frac still loads, and the report
//    says the spends are unknown;
//  - the tables hold the means and sample stds of the written accuracies;
// then every figure script of the report (plots/*.gp that load plots/common.gp) must run and
// write its PNG and PDF.
#include <unistd.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "../test.h"
#include "../../bench/run/schema.h"
#include "../../bench/run/csvread.h"

#define FLBENCH t_flbench()

static char dir[600];

static int run(const char* cmd, char* out, size_t len) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE* p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out) out[0] = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        if (out && n + 1 < len) {
            size_t take = got < len - 1 - n ? got : len - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
            out[n] = 0;
        }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// One cell: epochs rows; final accuracy acc (NAN: none), status of the final row.
// Spend per datum per step of the next cells (NAN: the budget, or 1 for bp) and their
// fraction of non-uniform allocation steps (NAN: 0.5 for allocators that spread, else 0).
static double next_spend = NAN, next_nonuni = NAN;
static double next_rss = NAN;
static const char* next_checkpoint = NULL;  // the checkpoint column of the next cells, where the schema has it

static void cell(const char* csv, const char* task_dataset, const char* model, int shots, const char* series,
                 const char* method, const char* allocator, int budget, int seed, double acc, const char* status,
                 const char* message) {
    char key[256];
    // the hash part only has to be unique per cell in this file
    unsigned long h = 1469598103u;
    for (const char* p = series; *p; p++) h = h * 31 + (unsigned char)*p;
    for (const char* p = task_dataset; *p; p++) h = h * 37 + (unsigned char)*p;
    h = h * 31 + (unsigned long)budget * 7 + (unsigned long)seed + (unsigned long)shots * 1000;
    snprintf(key, sizeof key, "syn;seed=%d;budget=%d;method=%s;h=%016lx", seed, budget, series, h);
    for (int epoch = 1; epoch <= 2; epoch++) {
        int final = epoch == 2;
        const char* st = final ? status : "ok";
        if (!final && strcmp(status, "ok") && strcmp(status, "diverged")) continue;  // failed at once
        fl_row r;
        fl_row_init(&r);
        fl_row_set(&r, "schema", "%d", FL_SCHEMA_VERSION);
        fl_row_set(&r, "cell_key", "%s", key);
        fl_row_set(&r, "status", "%s", st);
        fl_row_set(&r, "git_rev", "test");
        fl_row_set(&r, "host", "testhost");
        fl_row_set(&r, "backend", "cpu");
        fl_row_set(&r, "device", "test cpu");
        fl_row_set(&r, "dataset", "%s", task_dataset);
        fl_row_set(&r, "model", "%s", model);
        fl_row_set(&r, "method", "%s", method);
        if (strcmp(allocator, "-")) fl_row_set(&r, "allocator", "%s", allocator);  // "-": none (empty)
        fl_row_set(&r, "budget", "%d", budget);
        fl_row_set(&r, "batch", "16");
        fl_row_set(&r, "shots", "%d", shots);
        fl_row_set(&r, "seed", "%d", seed);
        fl_row_set(&r, "epoch", "%d", strcmp(status, "ok") && strcmp(status, "diverged") ? 0 : epoch);
        fl_row_set(&r, "epochs", "2");
        fl_row_set(&r, "steps", "%d", 10 * epoch);
        fl_row_set(&r, "eval_split", "test");
        fl_row_set(&r, "config", "flbench train --epochs 2");
        if (strcmp(st, "failed")) {
            fl_row_set(&r, "train_loss", "%g", 2.0 - 0.3 * epoch - 0.01 * budget);
            fl_row_set(&r, "queries", "%d", 10 * epoch * 16 * (budget + 1));
            fl_row_set(&r, "wall_s", "%g", 0.5 * epoch * budget);
            fl_row_set(&r, "peak_rss_mb", "%g", isnan(next_rss) ? 100.0 + budget : next_rss);
            fl_row_set(&r, "spend_per_datum", "%.4f", isnan(next_spend) ? (double)budget : next_spend);
        }
        // allocation spread: flops and neyman leave the uniform allocation, except on task 2
        int spread = strcmp(allocator, "uniform") && strcmp(allocator, "-") && shots > 0;
        if (next_checkpoint) fl_row_set(&r, "checkpoint", "%s", next_checkpoint);
        fl_row_set(&r, "alloc_nonuniform_frac", "%g", !isnan(next_nonuni) ? next_nonuni : spread ? 0.5 : 0.0);
        fl_row_set(&r, "n_lo", "%d", spread ? 1 : budget);
        fl_row_set(&r, "n_hi", "%d", spread ? 2 * budget : budget);
        if (final && !isnan(acc)) fl_row_set(&r, "eval_acc", "%.6f", acc);
        if (final && message) fl_row_set(&r, "message", "%s", message);
        fl_err err;
        if (fl_row_append(&r, csv, &err)) printf("    append: %s\n", err.msg);
        fl_row_free(&r);
    }
    // allocation logs of seed 0 for flops and neyman
    if (seed == 0 && strcmp(method, "lr") == 0 && strcmp(allocator, "uniform")) {
        char path[800];
        snprintf(path, sizeof path, "%s/alloc", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/alloc/%016lx.csv", dir, h);
        FILE* f = fopen(path, "w");
        fprintf(f, "step,epoch,datum,n,proxy,loss,oracle\n");
        for (int step = 0; step < 5; step++)
            for (int i = 0; i < 16; i++) {
                double proxy = step == 0 ? NAN : 0.01 * (1 + i);
                fprintf(f, "%d,1,%d,%d,%g,%g,nan\n", step, i, 1 + i % (2 * budget), proxy, 1.0 + 0.1 * i);
            }
        fclose(f);
    }
}

// Copies CSV in to out, leaving out the columns named in drop (NULL-terminated) and appending
// a column add_col = add_val to every row (add_col NULL: none).
static void rewrite_csv(const char* in, const char* out, const char* const* drop, const char* add_col, const char* add_val) {
    fl_csv t;
    fl_err err;
    if (fl_csv_read(in, &t, &err)) {
        printf("    %s\n", err.msg);
        exit(2);
    }
    FILE* f = fopen(out, "w");
    if (!f) { perror(out); exit(2); }
    const char* fields[128];
    for (long r = -1; r < t.n_rows; r++) {
        int n = 0;
        for (int c = 0; c < t.n_cols && n < 127; c++) {
            int dropped = 0;
            for (int i = 0; drop && drop[i]; i++) dropped |= !strcmp(drop[i], t.header[c]);
            if (!dropped) fields[n++] = r < 0 ? t.header[c] : fl_csv_get(&t, r, c);
        }
        if (add_col) fields[n++] = r < 0 ? add_col : add_val;
        char* line = fl_csv_line(fields, n);
        fprintf(f, "%s\n", line);
        free(line);
    }
    fclose(f);
    fl_csv_free(&t);
}

static void write_fixture(void) {
    snprintf(dir, sizeof dir, "%s/res", t_tmpdir());
    mkdir(dir, 0755);
    char csv[700];
    snprintf(csv, sizeof csv, "%s/syn.csv", dir);
    unlink(csv);
    const char* T1 = "fashion-mnist[5-9]";
    for (int s = 0; s < 3; s++) {
        double u4 = 0.60 + 0.01 * s, u8 = 0.70 + 0.01 * s;
        cell(csv, T1, "vit-x", 16, "bp", "bp", "-", 1, s, 0.90, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "mezo-2q", "mezo", "uniform", 2, s, 0.20 + 0.02 * s, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "mezo", "mezo", "uniform", 4, s, 0.30 + 0.01 * s, "ok", NULL);
        if (s == 2) cell(csv, T1, "vit-x", 16, "mezo", "mezo", "uniform", 8, s, NAN, "diverged", "epoch 2 step 3: loss is nan");
        else cell(csv, T1, "vit-x", 16, "mezo", "mezo", "uniform", 8, s, 0.40 + 0.01 * s, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "lr-uniform", "lr", "uniform", 4, s, u4, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "lr-uniform", "lr", "uniform", 8, s, u8, "ok", NULL);
        next_spend = 4.04;  // 1 % above uniform's 4.00: matched spend
        cell(csv, T1, "vit-x", 16, "lr-flops", "lr", "flops", 4, s, u4 + 0.05, "ok", NULL);
        next_spend = NAN;
        cell(csv, T1, "vit-x", 16, "lr-flops", "lr", "flops", 8, s, u8 - 0.03, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "lr-neyman", "lr", "neyman", 4, s, u4 + 0.02 - (s == 1 ? 0.03 : 0.0), "ok", NULL);
        if (s == 1) cell(csv, T1, "vit-x", 16, "lr-neyman", "lr", "neyman", 8, s, NAN, "failed", "killed by signal 9 (out of memory?)");
        else cell(csv, T1, "vit-x", 16, "lr-neyman", "lr", "neyman", 8, s, u8 + 0.02, "ok", NULL);
    }
    for (int s = 0; s < 2; s++) {
        cell(csv, "fashion-mnist", "mlp:784-16-10", 0, "lr-uniform", "lr", "uniform", 4, s, 0.80 + 0.01 * s, "ok", NULL);
        cell(csv, "fashion-mnist", "mlp:784-16-10", 0, "lr-flops", "lr", "flops", 4, s, 0.81 + 0.01 * s, "ok", NULL);
        next_spend = 4.12;  // 3 % above uniform's 4.00: not matched, and not evidence for "neyman >= uniform"
        cell(csv, "fashion-mnist", "mlp:784-16-10", 0, "lr-neyman", "lr", "neyman", 4, s, 0.85 + 0.01 * s, "ok", NULL);
        next_spend = NAN;
    }
    // task 3, query compression: uniform accuracy exactly linear in log2(budget), plus a seed
    // offset common to every cell; flops at b=8 equals uniform at b=16 seed by seed (b' = 16);
    // neyman at b=8 is uniform at 8 plus seed noise of mean 0 (b'/b about 1, not resolved);
    // mezo at 8 is below every uniform accuracy (b' < 4), and so is spsa1 at 8
    const double noise[5] = {0.03, -0.03, 0.02, -0.02, 0.0};
    for (int s = 0; s < 5; s++) {
        const char* T3 = "syn-compress";
        for (int b = 4; b <= 32; b *= 2)
            cell(csv, T3, "mlp:784-8-10", 0, "lr-uniform", "lr", "uniform", b, s, 0.5 + 0.05 * log2(b) + 0.01 * s, "ok", NULL);
        cell(csv, T3, "mlp:784-8-10", 0, "lr-flops", "lr", "flops", 8, s, 0.5 + 0.05 * 4 + 0.01 * s, "ok", NULL);
        cell(csv, T3, "mlp:784-8-10", 0, "lr-neyman", "lr", "neyman", 8, s, 0.5 + 0.05 * 3 + 0.01 * s + noise[s], "ok", NULL);
        cell(csv, T3, "mlp:784-8-10", 0, "mezo", "mezo", "uniform", 8, s, 0.40 + 0.01 * s, "ok", NULL);
        cell(csv, T3, "mlp:784-8-10", 0, "spsa1", "spsa1", "uniform", 8, s, 0.41 + 0.01 * s, "ok", NULL);
    }
    // bp-ckpt on task 1 (method bp, checkpoint=block), with less memory: in the results CSV
    // where the schema has the checkpoint column, else in a CSV that adds it
    char tmp[700], ck[700];
    snprintf(tmp, sizeof tmp, "%s/ckpt.tmp", t_tmpdir());
    snprintf(ck, sizeof ck, "%s/ckpt.csv", dir);
    unlink(tmp);
    unlink(ck);
    int has_ckpt = fl_column_index("checkpoint") >= 0;
    next_rss = 60;
    next_checkpoint = has_ckpt ? "block" : NULL;
    for (int s = 0; s < 3; s++) cell(has_ckpt ? csv : tmp, T1, "vit-x", 16, "bp-ckpt", "bp", "-", 1, s, 0.90, "ok", NULL);
    next_rss = NAN;
    next_checkpoint = NULL;
    if (!has_ckpt) rewrite_csv(tmp, ck, NULL, "checkpoint", "block");
    // a file that is not a results CSV is skipped
    char other[700];
    snprintf(other, sizeof other, "%s/notes.csv", dir);
    FILE* f = fopen(other, "w");
    fprintf(f, "a,b\n1,2\n");
    fclose(f);
}

static char* slurp(const char* path) {
    FILE* f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char* s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

static int report_ok;

static void test_report_tables_and_claims(void) {
    if (access(FLBENCH, X_OK)) SKIP("no flbench binary (FLBENCH or build/flbench)");
    write_fixture();
    char cmd[2000], out[8192];
    snprintf(cmd, sizeof cmd, "%s report %s --figures %s/figs", FLBENCH, dir, dir);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "report: status %d: %s", rc, out);
    char path[700];
    snprintf(path, sizeof path, "%s/REPORT.md", dir);
    char* md = slurp(path);
    CHECK(md != NULL, "no REPORT.md");
    if (!md) return;
    report_ok = 1;
    // tables: means and sample stds of the written accuracies, in percent
    CHECK(strstr(md, "## 1. fashion-mnist[5-9], vit-x, 16-shot") != NULL, "task 1 heading");
    CHECK(strstr(md, "## 2. fashion-mnist, mlp:784-16-10, full training set") != NULL, "task 2 heading");
    CHECK(strstr(md, "| lr-uniform | | 61.0 ± 1.0 | 71.0 ± 1.0 |") != NULL, "lr-uniform row (budgets 2, 4, 8)");
    CHECK(strstr(md, "| lr-flops | | 66.0 ± 1.0 | 68.0 ± 1.0 |") != NULL, "lr-flops row");
    char* t1 = strstr(md, "## 1. ");
    char* t2 = strstr(md, "## 2. ");
    char* t3 = strstr(md, "## 3. ");
    char* app = strstr(md, "## Appendix");
    CHECK(t1 && t2 && t3 && app && t1 < t2 && t2 < t3 && t3 < app, "three task sections and the appendix");
    if (!(t1 && t2 && t3 && app)) {
        free(md);
        return;
    }
    t2[-1] = t3[-1] = app[-1] = 0;  // one string per task section
    // seeds of every task, and the test's text follows them
    CHECK(strstr(t1, "Seeds: 3 ") && strstr(t2, "Seeds: 2 ") && strstr(t3, "Seeds: 5 "), "seed counts per task");
    CHECK(strstr(t1, "df = 2 and t = 4.303") && strstr(t2, "df = 1 and t = 12.706") && strstr(t3, "df = 4 and t = 2.776"),
          "the t quantile of each task's seeds");
    CHECK(!strstr(md, "4.30 for 3 seeds") && !strstr(t2, "4.303"), "a fixed t value in the text");
    CHECK(strstr(t1, "indicative") != NULL, "fewer than 10 seeds: indicative");
    // one verdict per family, k of m after Holm
    CHECK(strstr(t1, "- **FLOPS ≥ uniform LR at equal budget**: cannot decide: significant in opposite directions "
                     "(1 for, 1 against, of 2 comparisons after Holm).") != NULL,
          "FLOPS family of task 1: opposite directions");
    CHECK(strstr(t1, "- **allocated and uniform LR ≥ MeZO at equal budget**: holds: 5 of 5 comparisons significant after "
                     "Holm, all in favour (1 more shown above is not evidence).") != NULL,
          "LR >= MeZO at equal budget: one verdict");
    CHECK(strstr(t1, "- **allocated and uniform LR ≥ MeZO at 2 queries per datum (the paper's MeZO setting)**: cannot decide: "
                     "no comparison counts as evidence (6 shown above, each with its reason).") != NULL,
          "LR >= MeZO at 2 queries: LR spends more, no evidence");
    CHECK(strstr(t1, "not evidence: A spends more than B (4.00 > 2.00 queries/datum/step)") != NULL, "the reason");
    CHECK(strstr(t1, "- **(supplementary) Neyman ≥ uniform LR at equal budget**: holds: 1 of 2 comparisons significant after "
                     "Holm, all in favour.") != NULL,
          "Neyman family of task 1");
    CHECK(strstr(md, "holds in 6 of 6") == NULL, "no tally per comparison");
    // rows: matched spend at 1 %, both spends at 3 %
    CHECK(strstr(t1, "| FLOPS ≥ uniform LR at equal budget | lr-flops (b=4): 66.0 ± 1.0 | lr-uniform (b=4): 61.0 ± 1.0 | "
                     "matched spend (4.04) | +5.00 [+5.00, +5.00], 3 seeds |") != NULL,
          "FLOPS row at b=4: matched spend 1 %% apart");
    char* ney2 = strstr(t2, "| (supplementary) Neyman ≥ uniform LR at equal budget | lr-neyman (b=4)");
    CHECK(ney2 && strstr(ney2, "| A 4.12, B 4.00 |") && strstr(ney2, "not evidence: A spends more than B (4.12 > 4.00"),
          "3 %% apart: both spends, not evidence");
    if (ney2) {
        char* eol = strchr(ney2, '\n');
        if (eol) *eol = 0;
        CHECK(!strstr(ney2, "matched spend"), "3 %% apart labelled matched: %s", ney2);
        if (eol) *eol = '\n';
    }
    CHECK(strstr(t2, "- **(supplementary) Neyman ≥ uniform LR at equal budget**: cannot decide: no comparison counts as "
                     "evidence") != NULL,
          "the 3 %% row is not evidence");
    CHECK(strstr(t2, "- **FLOPS ≥ uniform LR at equal budget**: holds: 1 of 1 comparisons significant after Holm") != NULL,
          "task 2: FLOPS holds");
    CHECK(strstr(t2, "holds, significant (the allocator never left the uniform allocation") != NULL,
          "task 2: the allocator never left uniform, and the report says so");
    // not significant, with the detectable difference: neyman at b=4, paired differences +2, -1,
    // +2 points: mean 1, sd sqrt(3), se 1, df 2, p 0.423 (scipy.stats.ttest_1samp([2, -1, 2], 0));
    // detectable 5.6535 sd / sqrt(3) = 5.65 points (test_report_stats.c's noncentrality at 3 seeds)
    CHECK(strstr(t1, "lr-neyman (b=4): 62.0 ± 2.0 | lr-uniform (b=4): 61.0 ± 1.0 | matched spend (4.00) | "
                     "+1.00 [-3.30, +5.30], 3 seeds | 0.423 (Holm 0.423) | holds, not significant (detectable: 5.65 points at 3 seeds)") != NULL,
          "neyman at b=4");
    // query compression (task 3)
    CHECK(strstr(t3, "| lr-flops | 8 | 72.0 | 16.00 | 2.00 [2.00, 2.00] | fewer queries than uniform LR |") != NULL,
          "flops at 8 = uniform at 16");
    char* nrow = strstr(t3, "| lr-neyman | 8 | 67.0 | 8.00 | 1.00 [");
    CHECK(nrow && !strncmp(strchr(nrow, '\n') - strlen("not resolved (the interval contains 1) |"), "not resolved (the interval contains 1) |",
                           strlen("not resolved (the interval contains 1) |")),
          "neyman at 8: not resolved");
    CHECK(strstr(t3, "| mezo | 8 | 42.0 | < min (4) | < 0.50 [< 0.50, < 0.50] | more queries than uniform LR |") != NULL,
          "mezo below the swept range");
    // bp-ckpt: its own method, memory at matched accuracy
    CHECK(strstr(t1, "| bp-ckpt | – | 3/3 |") != NULL, "bp-ckpt in the cost table");
    CHECK(strstr(t1, "| bp-ckpt | – | 90.0 ± 0.0 | 60 |") != NULL, "bp-ckpt in the memory table");
    CHECK(strstr(t1, "- lr-uniform (b=8, 71.0 %, 108 MiB): bp-ckpt reaches at least its accuracy (+19.0 points) with less memory (0.56x)") != NULL,
          "bp-ckpt against lr-uniform");
    CHECK(strstr(t1, "Reference, backpropagation (bp-ckpt)") != NULL, "bp-ckpt's reference line");
    t2[-1] = t3[-1] = app[-1] = '\n';
    CHECK(strstr(md, "| mezo-2q | 22.0 ± 2.0 | | |") != NULL, "mezo-2q row at budget 2");
    CHECK(strstr(md, "40.5 ± 0.7 (2/3 seeds, 1 diverged)") != NULL, "mezo at b=8: the diverged seed counted apart");
    CHECK(strstr(md, "(2/3 seeds, 1 failed)") != NULL, "neyman at b=8: the failed seed counted apart");
    CHECK(strstr(md, "Reference, backpropagation (bp): 90.0 ± 0.0 %") != NULL, "BP reference");
    // costs and the appendix
    CHECK(strstr(md, "| lr-uniform | 8 | 3/3 | 2.88e+03 | 9.00 | 8.00 |") != NULL, "cost row: 320 steps x 9 queries, spend 8");
    CHECK(strstr(md, "killed by signal 9 (out of memory?)") != NULL, "the failed cell's message");
    CHECK(strstr(md, "notes.csv") == NULL, "a non-results CSV is not an input");
    free(md);
    // plot data
    snprintf(path, sizeof path, "%s/plotdata/meta.gp", dir);
    char* meta = slurp(path);
    CHECK(meta && strstr(meta, "ntasks = 3") && strstr(meta, "alloc_budget[1] = 8") && strstr(meta, "alloc_budget[2] = 4"),
          "meta.gp: %s", meta ? meta : "(missing)");
    CHECK(meta && strstr(meta, "compress_n[3] = 4; compress_lo[3] = 4; compress_hi[3] = 32"), "meta.gp: compression of task 3");
    free(meta);
    snprintf(path, sizeof path, "%s/plotdata/compress_3.dat", dir);
    char* cd = slurp(path);
    CHECK(cd && strstr(cd, "\"lr-flops\" \"b\" \"b_equiv\" \"b_equiv_lo\" \"b_equiv_hi\"\n8 16 16 16\n"), "compress_3.dat: %s",
          cd ? cd : "(missing)");
    free(cd);
}

// A method that no claim of the paper names (spsa1 on task 3) is in every table of its task:
// the memory table and a query-compression section of its own, and the plot data.
static void test_report_new_estimator(void) {
    if (!report_ok) SKIP("no report (see the test before)");
    char path[700];
    snprintf(path, sizeof path, "%s/REPORT.md", dir);
    char* md = slurp(path);
    char* t3 = md ? strstr(md, "## 3. ") : NULL;
    char* app = t3 ? strstr(t3, "## Appendix") : NULL;
    CHECK(t3 && app, "task 3 and the appendix");
    if (!t3 || !app) {
        free(md);
        return;
    }
    app[-1] = 0;
    // 0.41 + 0.01 s over 5 seeds: 43.0 ± 1.6; peak RSS 100 + b; 0.5 s x 2 x 8 over 20 steps
    CHECK(strstr(t3, "| spsa1 | 8 | 43.0 ± 1.6 | 108 | 400.00 |") != NULL, "spsa1 in the memory table");
    CHECK(strstr(t3, "\nspsa1 against uniform LR (spsa1 at budget b, the uniform-LR budget with the same accuracy):\n") != NULL,
          "spsa1's query-compression section");
    CHECK(strstr(t3, "| spsa1 | 8 | 43.0 | < min (4) | < 0.50 [< 0.50, < 0.50] | more queries than uniform LR |") != NULL,
          "spsa1 below the swept range");
    CHECK(strstr(t3, "| mezo | 8 | 42.0 | < min (4) |") != NULL, "mezo's row as before");
    CHECK(!strstr(t3, "≥ spsa1") && !strstr(t3, "spsa1 ≥"), "no claim names spsa1");
    free(md);
    snprintf(path, sizeof path, "%s/plotdata/compress_3.dat", dir);
    char* cd = slurp(path);
    CHECK(cd && strstr(cd, "\"spsa1\" \"b\" \"b_equiv\" \"b_equiv_lo\" \"b_equiv_hi\"\n8 NaN NaN NaN\n"), "compress_3.dat: %s",
          cd ? cd : "(missing)");
    free(cd);
}

// A CSV of the older schema (no spend_per_datum, no alloc_nonuniform_frac) still loads; the
// report says the spends are unknown and no comparison from it is evidence.
static void test_report_reads_older_csv(void) {
    if (!report_ok) SKIP("no report (see the test before)");
    char old[700], csv[700], cmd[2000], out[8192];
    snprintf(old, sizeof old, "%s/old", t_tmpdir());
    mkdir(old, 0755);
    snprintf(csv, sizeof csv, "%s/syn.csv", dir);
    char oldcsv[800];
    snprintf(oldcsv, sizeof oldcsv, "%s/old.csv", old);
    const char* drop[] = {"spend_per_datum", "alloc_nonuniform_frac", NULL};
    rewrite_csv(csv, oldcsv, drop, NULL, NULL);
    snprintf(cmd, sizeof cmd, "%s report %s --figures %s/figs", FLBENCH, old, old);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "report on an older CSV: status %d: %s", rc, out);
    char path[900];
    snprintf(path, sizeof path, "%s/REPORT.md", old);
    char* md = slurp(path);
    CHECK(md && strstr(md, "1 input CSV has no `spend_per_datum` column"), "the note on unknown spends");
    CHECK(md && strstr(md, "not evidence: spend unknown (a CSV without spend_per_datum)"), "rows not evidence");
    CHECK(md && !strstr(md, "matched spend ("), "matched spend without spends");
    CHECK(md && strstr(md, "| lr-uniform | | 61.0 ± 1.0 | 71.0 ± 1.0 |"), "the accuracy tables still there");
    free(md);
}

static void test_every_figure_script_runs(void) {
    if (!report_ok) SKIP("no report (see the test before)");
    char out[8192];
    if (run("gnuplot --version", out, sizeof out) != 0) SKIP("gnuplot not installed");
    glob_t g;
    if (glob("plots/*.gp", 0, NULL, &g) != 0) {
        CHECK(0, "no plots/*.gp (run from the repository root)");
        return;
    }
    int scripts = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        // the report's figure scripts are those that load plots/common.gp (plots/common.gp)
        char grep[1200];
        snprintf(grep, sizeof grep, "grep -q 'load \"plots/common.gp\"' %s", g.gl_pathv[i]);
        if (run(grep, NULL, 0) != 0) continue;
        scripts++;
        char cmd[2000];
        snprintf(cmd, sizeof cmd, "gnuplot -e \"datadir='%s/plotdata'; figdir='%s/figs'\" %s", dir, dir, g.gl_pathv[i]);
        int rc = run(cmd, out, sizeof out);
        CHECK(rc == 0, "%s: status %d: %s", g.gl_pathv[i], rc, out);
    }
    globfree(&g);
    CHECK(scripts >= 4, "%d figure scripts", scripts);
    const char* figs[] = {"acc_budget", "loss_epoch", "cost_time", "cost_memory", "alloc_hist", "alloc_scatter", "compress"};
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < 2; k++) {
            char path[800];
            snprintf(path, sizeof path, "%s/figs/%s.%s", dir, figs[i], k ? "pdf" : "png");
            struct stat st;
            CHECK(stat(path, &st) == 0 && st.st_size > 1000, "%s missing or empty", path);
        }
}

// plots/loss_epoch.gp labels epochs with whole numbers only: its x tics are a series from 0
// by a whole step, printed with no decimals (gnuplot's own choice on 1..3 epochs is 0.5).
static void test_loss_epoch_integer_ticks(void) {
    if (!report_ok) SKIP("no report (see the test before)");
    char out[8192];
    if (run("gnuplot --version", out, sizeof out) != 0) SKIP("gnuplot not installed");
    char check[800];
    snprintf(check, sizeof check, "%s/ticks.gp", dir);
    FILE* f = fopen(check, "w");
    CHECK(f != NULL, "cannot write %s", check);
    if (!f) return;
    fprintf(f, "show xtics\ndo for [e in \"1 2 3 7 8 14 30 36 100 141 1000\"] { print sprintf(\"step %%g\", tick_step(int(e))) }\n");
    fclose(f);
    char cmd[4000];
    snprintf(cmd, sizeof cmd, "gnuplot -e \"datadir='%s/plotdata'; figdir='%s/figs'\" plots/loss_epoch.gp %s", dir, dir,
             check);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "loss_epoch.gp: status %d: %s", rc, out);
    CHECK(strstr(out, "format \"%.0f\""), "x tic labels without decimals: %s", out);
    const char* p = strstr(out, "series from 0.00000 by ");
    double step = p ? atof(p + strlen("series from 0.00000 by ")) : 0;
    CHECK(step >= 1 && step == (double)(long)step, "x tics from 0 by a whole step, found %g: %s", step, out);
    int steps = 0;
    for (const char* q = strstr(out, "step "); q; q = strstr(q + 1, "step ")) {
        double v = atof(q + 5);
        CHECK(v >= 1 && v == (double)(long)v, "tick_step gives %g, not a whole number", v);
        steps++;
    }
    CHECK(steps == 11, "%d tick_step values printed: %s", steps, out);
}

// plots/styles.gp: the named series (linetypes 1-9: bp ... lr-oracle) differ in colour and in
// marker, and the three LR allocators (5-7: lr-uniform, lr-flops, lr-neyman, whose curves often
// lie on one another) also in dash type; and no report figure picks its style by block
// position (lt int(s)+1), which gave the same series different styles in different figures.
static void test_series_styles_distinct(void) {
    FILE* f = fopen("plots/styles.gp", "r");
    CHECK(f != NULL, "no plots/styles.gp (run from the repository root)");
    if (!f) return;
    char line[400], lc[10][16] = {{0}};
    int pt[10] = {0}, dt[10] = {0}, seen = 0;
    while (fgets(line, sizeof line, f)) {
        int n, p, d;
        char c[16];
        if (sscanf(line, "set linetype %d lc rgb \"%15[^\"]\" pt %d dt %d", &n, c, &p, &d) == 4 && n >= 1 && n <= 9) {
            snprintf(lc[n], sizeof lc[n], "%s", c);
            pt[n] = p;
            dt[n] = d;
            seen++;
        }
    }
    fclose(f);
    CHECK(seen == 9, "%d of the 9 named linetypes in plots/styles.gp", seen);
    for (int a = 1; a <= 9; a++)
        for (int b = a + 1; b <= 9; b++) {
            CHECK(strcmp(lc[a], lc[b]), "linetypes %d and %d share the colour %s", a, b, lc[a]);
            CHECK(pt[a] != pt[b], "linetypes %d and %d share the marker pt %d", a, b, pt[a]);
            if (a >= 5 && b <= 7) CHECK(dt[a] != dt[b], "LR linetypes %d and %d share the dash type %d", a, b, dt[a]);
        }
    char out[4096];
    int rc = run("grep -l 'lt int(s) *+ *[0-9]' plots/*.gp", out, sizeof out);
    CHECK(rc != 0, "figure scripts that pick the style by block position: %s", out);
}

int main(void) {
    RUN(test_report_tables_and_claims);
    RUN(test_report_new_estimator);
    RUN(test_report_reads_older_csv);
    RUN(test_every_figure_script_runs);
    RUN(test_loss_epoch_integer_ticks);
    RUN(test_series_styles_distinct);
    TEST_EXIT();
}
