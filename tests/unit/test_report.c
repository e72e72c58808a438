// test_report.c: `flbench report` and the gnuplot scripts of plots/, on a small results CSV
// this test writes (two tasks, six series, two budgets, three seeds, one diverged and one
// failed cell, allocation logs), with accuracies chosen so that each claim's verdict is known:
//  - FLOPS beats uniform LR by 5 points at b=4 and loses by 3 at b=8 (both beyond noise);
//  - every LR series beats MeZO;
//  - the tables hold the means and sample stds of the written accuracies;
// then every figure script of the report (plots/*.gp that load plots/common.gp) must run and
// write its PNG and PDF.
#include <unistd.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "../test.h"
#include "../../impl/run/schema.h"

#define FLBENCH "build/flbench"

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
static void cell(const char* csv, const char* task_dataset, const char* model, int shots, const char* series,
                 const char* method, const char* allocator, int budget, int seed, double acc, const char* status,
                 const char* message) {
    char key[256];
    // the hash part only has to be unique per cell in this file
    unsigned long h = 1469598103u;
    for (const char* p = series; *p; p++) h = h * 31 + (unsigned char)*p;
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
        fl_row_set(&r, "allocator", "%s", allocator);
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
            fl_row_set(&r, "peak_rss_mb", "%g", 100.0 + budget);
            fl_row_set(&r, "peak_dev_mb", "%g", 100.0 + budget);
        }
        // allocation spread: flops and neyman leave the uniform allocation, except on task 2
        int spread = strcmp(allocator, "uniform") && strcmp(allocator, "-") && shots > 0;
        fl_row_set(&r, "n_lo", "%d", spread ? 1 : budget);
        fl_row_set(&r, "n_hi", "%d", spread ? 2 * budget : budget);
        if (final && !isnan(acc)) fl_row_set(&r, "test_acc", "%.6f", acc);
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
        cell(csv, T1, "vit-x", 16, "lr-flops", "lr", "flops", 4, s, u4 + 0.05, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "lr-flops", "lr", "flops", 8, s, u8 - 0.03, "ok", NULL);
        cell(csv, T1, "vit-x", 16, "lr-neyman", "lr", "neyman", 4, s, u4 + 0.02 - (s == 1 ? 0.03 : 0.0), "ok", NULL);
        if (s == 1) cell(csv, T1, "vit-x", 16, "lr-neyman", "lr", "neyman", 8, s, NAN, "failed", "killed by signal 9 (out of memory?)");
        else cell(csv, T1, "vit-x", 16, "lr-neyman", "lr", "neyman", 8, s, u8 + 0.02, "ok", NULL);
    }
    for (int s = 0; s < 2; s++) {
        cell(csv, "fashion-mnist", "mlp:784-16-10", 0, "lr-uniform", "lr", "uniform", 4, s, 0.80 + 0.01 * s, "ok", NULL);
        cell(csv, "fashion-mnist", "mlp:784-16-10", 0, "lr-flops", "lr", "flops", 4, s, 0.81 + 0.01 * s, "ok", NULL);
    }
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
    if (access(FLBENCH, X_OK)) SKIP("build/flbench not built");
    write_fixture();
    char cmd[2000], out[8192];
    snprintf(cmd, sizeof cmd, FLBENCH " report %s --figures %s/figs", dir, dir);
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
    CHECK(strstr(md, "| mezo-2q | 22.0 ± 2.0 | | |") != NULL, "mezo-2q row at budget 2");
    CHECK(strstr(md, "40.5 ± 0.7 (2/3 seeds, 1 diverged)") != NULL, "mezo at b=8: the diverged seed counted apart");
    CHECK(strstr(md, "(2/3 seeds, 1 failed)") != NULL, "neyman at b=8: the failed seed counted apart");
    CHECK(strstr(md, "Reference, backpropagation (bp): 90.0 ± 0.0 %") != NULL, "BP reference");
    // claims, with numbers
    CHECK(strstr(md, "**FLOPS ≥ uniform LR at equal budget**: holds in 1 of 2 comparisons (1 significant); "
                     "**fails** in 1 (1 significant): lr-flops at b=8 (-3.00 points)") != NULL,
          "FLOPS claim summary of task 1");
    CHECK(strstr(md, "| FLOPS ≥ uniform LR | lr-flops (b=4): 66.0 ± 1.0 | lr-uniform (b=4): 61.0 ± 1.0 | +5.00 ± 0.00 | holds, significant |") != NULL,
          "FLOPS row at b=4");
    CHECK(strstr(md, "**allocated and uniform LR ≥ MeZO at equal budget**: holds in 6 of 6") != NULL, "LR >= MeZO (matched)");
    CHECK(strstr(md, "**allocated and uniform LR ≥ MeZO at 2 queries per datum (the paper's MeZO setting)**: holds in 6 of 6") != NULL,
          "LR >= MeZO (2 queries)");
    CHECK(strstr(md, "holds in 1 of 1 comparisons (1 significant).") != NULL, "task 2: FLOPS holds once");
    CHECK(strstr(md, "| +1.00 ± 0.00 | holds, significant (the allocator never left the uniform allocation") != NULL,
          "task 2: the allocator never left uniform, and the report says so");
    // a difference these seeds cannot resolve: neyman at b=4, paired differences +2, -1, +2
    // points: mean +1, standard error 1, t = 1 < 4.30
    CHECK(strstr(md, "lr-neyman (b=4): 62.0 ± 2.0 | lr-uniform (b=4): 61.0 ± 1.0 | +1.00 ± 1.00 | holds, not significant |") != NULL,
          "neyman at b=4");
    // costs and the appendix
    CHECK(strstr(md, "| lr-uniform | 8 | 3/3 | 2.88e+03 | 9.00 |") != NULL, "cost row: 320 steps x 9 queries");
    CHECK(strstr(md, "killed by signal 9 (out of memory?)") != NULL, "the failed cell's message");
    CHECK(strstr(md, "notes.csv") == NULL, "a non-results CSV is not an input");
    free(md);
    // plot data
    snprintf(path, sizeof path, "%s/plotdata/meta.gp", dir);
    char* meta = slurp(path);
    CHECK(meta && strstr(meta, "ntasks = 2") && strstr(meta, "alloc_budget[1] = 8") && strstr(meta, "alloc_budget[2] = 4"),
          "meta.gp: %s", meta ? meta : "(missing)");
    free(meta);
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
    const char* figs[] = {"acc_budget", "loss_epoch", "cost_time", "cost_memory", "alloc_hist", "alloc_scatter"};
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 2; k++) {
            char path[800];
            snprintf(path, sizeof path, "%s/figs/%s.%s", dir, figs[i], k ? "pdf" : "png");
            struct stat st;
            CHECK(stat(path, &st) == 0 && st.st_size > 1000, "%s missing or empty", path);
        }
}

int main(void) {
    RUN(test_report_tables_and_claims);
    RUN(test_every_figure_script_runs);
    TEST_EXIT();
}
