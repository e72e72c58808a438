// cmd_bench.c: `flbench bench`: time one training step of each estimator on fixed workloads
// and compare it with the floor measured in the same run: the time the backend's own GEMM
// library needs for exactly the GEMMs that step issued (recorded, then replayed alone).
//
//   W1  mlp:784-512-512-10, batch 64, 32 queries/datum, LR noise on all layers
//   W2  vit-tiny (28x28x1, patch 4, dim 192, 6 layers, 3 heads, MLP 768), batch 32,
//       16 queries/datum, LR noise on all linear layers
//   W3  vit-b16 (224x224x3), batch 4, 8 queries/datum, LR with the authors' scope
//
// Each measurement is the median of --reps steps after --warmup steps, with min and max.
// Data are synthetic (seeded normals), so no dataset is needed.
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>
#include <cblas.h>
#include "args.h"
#include "../impl/backend/ops.h"
#include "../impl/models/model.h"
#include "../impl/estimators/estimator.h"
#include "../impl/optim/optim.h"
#include "../impl/run/schema.h"
#include "../impl/kernels/philox.h"

// ---------------------------------------------------------------------------------------
// GEMM recording: a copy of the ops table whose gemm calls are logged, then replayed.

typedef struct { int ta, tb, M, N, K, batch; } gemm_call;
static gemm_call* rec;
static int rec_n, rec_cap, recording;
static const fl_ops* base_ops;
static fl_ops rec_ops;

static void rec_push(int ta, int tb, int M, int N, int K, int batch) {
    if (!recording) return;
    if (rec_n == rec_cap) {
        rec_cap = rec_cap ? 2 * rec_cap : 256;
        rec = fl_realloc(rec, (size_t)rec_cap * sizeof(gemm_call));
    }
    rec[rec_n++] = (gemm_call){ta, tb, M, N, K, batch};
}

static void rec_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc) {
    rec_push(ta, tb, M, N, K, 1);
    base_ops->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void rec_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A,
                             int lda, long sA, const float* B, int ldb, long sB, float beta,
                             float* C, int ldc, long sC, int batch) {
    rec_push(ta, tb, M, N, K, batch);
    base_ops->gemm_strided(ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch);
}

static double rec_flops(void) {
    double f = 0;
    for (int i = 0; i < rec_n; i++) f += 2.0 * rec[i].M * rec[i].N * rec[i].K * rec[i].batch;
    return f;
}

// Replays the recorded GEMMs on scratch operands (random data, as the step had).
static double replay_seconds(void) {
    size_t maxA = 0, maxB = 0, maxC = 0;
    for (int i = 0; i < rec_n; i++) {
        gemm_call* g = &rec[i];
        size_t a = (size_t)g->M * g->K * g->batch, b = (size_t)g->K * g->N * g->batch, c = (size_t)g->M * g->N * g->batch;
        maxA = a > maxA ? a : maxA;
        maxB = b > maxB ? b : maxB;
        maxC = c > maxC ? c : maxC;
    }
    static float *A, *B, *C;
    static size_t capA, capB, capC;
    if (maxA > capA) { if (A) base_ops->free(A); A = base_ops->alloc(maxA * 4); capA = maxA; }
    if (maxB > capB) { if (B) base_ops->free(B); B = base_ops->alloc(maxB * 4); capB = maxB; }
    if (maxC > capC) { if (C) base_ops->free(C); C = base_ops->alloc(maxC * 4); capC = maxC; }
    base_ops->sync();
    double t0 = fl_now();
    for (int i = 0; i < rec_n; i++) {
        gemm_call* g = &rec[i];
        int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
        if (g->batch == 1)
            base_ops->gemm(g->ta, g->tb, g->M, g->N, g->K, 1.0f, A, lda, B, ldb, 1.0f, C, g->N);
        else
            base_ops->gemm_strided(g->ta, g->tb, g->M, g->N, g->K, 1.0f, A, lda, (long)g->M * g->K, B, ldb,
                                   (long)g->K * g->N, 1.0f, C, g->N, (long)g->M * g->N, g->batch);
    }
    base_ops->sync();
    return fl_now() - t0;
}

// ---------------------------------------------------------------------------------------

typedef struct {
    const char* name;
    const char* model;
    int c, h, w, classes;
    int batch, budget;
    const char* scope;
} workload;

static const workload workloads[] = {
    {"W1", "mlp:784-512-512-10", 1, 28, 28, 10, 64, 32, "all"},
    {"W2", "vit-tiny", 1, 28, 28, 10, 32, 16, "all"},
    {"W3", "vit-b16", 3, 224, 224, 10, 4, 8, "attn:last:4"},
};

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}
static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    double step_med, step_min, step_max, floor_med, gflop;
    double share[5];  // clean, alloc, forward, grad, update
    double rss;
} result;

// One (workload, method) measurement. method: bp, mezo (2 queries/datum), lr, lr-flops.
static int measure(const workload* w, const char* method, int budget, int reps, int warmup,
                   result* r, fl_err* err) {
    rec_ops = *base_ops;
    rec_ops.gemm = rec_gemm;
    rec_ops.gemm_strided = rec_gemm_strided;
    const fl_ops* ops = &rec_ops;
    fl_model* m = fl_model_create(ops, w->model, "relu", w->c, w->h, w->w, w->classes, err);
    if (!m) return -1;
    fl_model_init_weights(m, 1);
    fl_model_init_sigma(m, 1e-3f);
    const char* est = !strncmp(method, "lr", 2) ? "lr" : method;
    const char* alloc = !strcmp(method, "lr-flops") ? "flops" : "uniform";
    if (!strcmp(est, "lr") && fl_model_set_scope(m, w->scope, err)) { fl_model_free(m); return -1; }
    fl_est_opts eo = fl_est_opts_default();
    eo.budget = !strcmp(method, "mezo") ? 2 : budget;
    fl_alloc_opts ao = fl_alloc_opts_default();
    int B = w->batch;
    fl_engine* e = fl_engine_new(ops, m, est, alloc, &ao, &eo, B, 7, err);
    if (!e) { fl_model_free(m); return -1; }
    fl_optim opt;
    fl_optim_init(&opt, &m->params, "adam", 1e-4f, err);
    opt.step_size = 0;
    // synthetic batch
    size_t dim = (size_t)m->in_dim;
    float* xh = fl_malloc((size_t)B * dim * sizeof(float));
    int32_t* yh = fl_malloc((size_t)B * sizeof(int32_t));
    int64_t* idx = fl_malloc((size_t)B * sizeof(int64_t));
    for (size_t i = 0; i < (size_t)B * dim; i++) xh[i] = fl_normal_at(3, 4, i, 0, 0xbe4c, 0);
    for (int i = 0; i < B; i++) { yh[i] = i % w->classes; idx[i] = i; }
    float* xd = fl_ops_upload_new(ops, xh, (size_t)B * dim * sizeof(float));
    int32_t* yd = fl_ops_upload_new(ops, yh, (size_t)B * sizeof(int32_t));
    fl_batch b = {.B = B, .x = xd, .y = yd, .y_host = yh, .index = idx};
    double* t = fl_malloc((size_t)reps * sizeof(double));
    double* fl = fl_malloc((size_t)reps * sizeof(double));
    double phase[5] = {0};
    int rc = 0;
    for (int k = 0; k < warmup + reps && !rc; k++) {
        recording = k == warmup;  // record the GEMMs of the first timed step
        if (recording) rec_n = 0;
        ops->sync();
        double t0 = fl_now();
        fl_step_stats st;
        rc = fl_engine_grad(e, &b, &st, err);
        double t1 = fl_now();
        fl_optim_step(&opt, &m->params, 0);
        fl_model_refresh_sigma(m);
        ops->sync();
        double t2 = fl_now();
        recording = 0;
        if (k >= warmup) {
            t[k - warmup] = t2 - t0;
            phase[0] += st.t_clean; phase[1] += st.t_alloc; phase[2] += st.t_forward;
            phase[3] += st.t_grad; phase[4] += t2 - t1;
        }
    }
    if (!rc) {
        for (int k = 0; k < reps; k++) fl[k] = replay_seconds();
        double tot = 0;
        for (int k = 0; k < reps; k++) tot += t[k];
        r->step_med = median(t, reps);
        r->step_min = t[0];
        r->step_max = t[reps - 1];
        r->floor_med = median(fl, reps);
        r->gflop = rec_flops() * 1e-9;
        for (int p = 0; p < 5; p++) r->share[p] = phase[p] / tot;
        r->rss = fl_peak_rss_mb();
    }
    free(t); free(fl); free(xh); free(yh); free(idx);
    ops->free(xd); ops->free(yd);
    fl_optim_free(&opt, &m->params);
    fl_engine_free(e);
    fl_model_free(m);
    return rc;
}

int fl_cmd_bench(int argc, char** argv) {
    char wl[16] = "W1", methods[64] = "bp,mezo,lr,lr-flops", out[512] = "results/bench/bench.csv";
    char backend[8] = "cpu";
    int reps = 7, warmup = 2, budget = 0, threads = 0;
    fl_opt opts[] = {
        {"workload", FL_OPT_STR, wl, sizeof wl, NULL, "W1, W2, W3 or all (default W1)"},
        {"methods", FL_OPT_STR, methods, sizeof methods, NULL, "comma list of bp, mezo, lr, lr-flops (default all four)"},
        {"budget", FL_OPT_INT, &budget, 0, NULL, "queries per datum for lr (default: the workload's)"},
        {"reps", FL_OPT_INT, &reps, 0, NULL, "timed steps, median reported (default 7, at least 5)"},
        {"warmup", FL_OPT_INT, &warmup, 0, NULL, "untimed steps first (default 2)"},
        {"threads", FL_OPT_INT, &threads, 0, NULL, "CPU threads (default: all)"},
        {"backend", FL_OPT_STR, backend, sizeof backend, NULL, "cpu (default) or cuda"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "append results here (default results/bench/bench.csv; '' = none)"},
    };
    int rc = fl_parse_opts("bench", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (reps < 5) { fprintf(stderr, "flbench bench: --reps: at least 5 timed steps, found %d\n", reps); return 2; }
    if (threads > 0) { omp_set_num_threads(threads); openblas_set_num_threads(threads); }
    fl_err err = {{0}};
    base_ops = fl_ops_by_name(backend, &err);
    if (!base_ops) { fprintf(stderr, "flbench bench: %s\n", err.msg); return 2; }
    FILE* csv = NULL;
    if (out[0]) {
        int fresh = access(out, F_OK) != 0;
        csv = fopen(out, "a");
        if (!csv) { fprintf(stderr, "flbench bench: --out %s: cannot open for appending\n", out); return 2; }
        if (fresh)
            fprintf(csv, "git_rev,timestamp,backend,device,threads,blas,workload,method,budget,reps,step_ms_median,step_ms_min,step_ms_max,floor_ms_median,ratio_to_floor,gemm_gflop,gflops_achieved,share_clean,share_alloc,share_forward,share_grad,share_update,peak_rss_mb\n");
    }
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const char* blas = !strcmp(backend, "cpu") ? openblas_get_config() : "cuBLAS";
    printf("flbench bench  %s  %s  threads %d  %s\n", fl_git_rev(), base_ops->device_name, omp_get_max_threads(), blas);
    printf("%-4s %-9s %6s %10s %10s %10s %7s %8s %8s  %-34s %8s\n", "wl", "method", "budget", "step ms", "min", "max",
           "floor", "ratio", "GFLOP/s", "share: clean/alloc/fwd/grad/upd", "RSS MiB");
    int failures = 0;
    for (int wi = 0; wi < 3; wi++) {
        const workload* w = &workloads[wi];
        if (strcmp(wl, "all") && strcmp(wl, w->name)) continue;
        char list[64];
        snprintf(list, sizeof list, "%s", methods);
        for (char* meth = strtok(list, ","); meth; meth = strtok(NULL, ",")) {
            int q = budget > 0 ? budget : w->budget;
            result r;
            memset(&r, 0, sizeof r);
            if (measure(w, meth, q, reps, warmup, &r, &err)) {
                printf("%-4s %-9s  failed: %s\n", w->name, meth, err.msg);
                failures++;
                continue;
            }
            int qq = !strcmp(meth, "mezo") ? 2 : !strcmp(meth, "bp") ? 1 : q;
            printf("%-4s %-9s %6d %10.2f %10.2f %10.2f %7.2f %8.2f %8.1f  %5.1f%% %5.1f%% %5.1f%% %5.1f%% %5.1f%% %8.0f\n",
                   w->name, meth, qq, 1e3 * r.step_med, 1e3 * r.step_min, 1e3 * r.step_max, 1e3 * r.floor_med,
                   r.step_med / r.floor_med, r.gflop / r.step_med, 100 * r.share[0], 100 * r.share[1],
                   100 * r.share[2], 100 * r.share[3], 100 * r.share[4], r.rss);
            fflush(stdout);
            if (csv) {
                fprintf(csv, "%s,%s,%s,\"%s\",%d,\"%s\",%s,%s,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f\n",
                        fl_git_rev(), ts, backend, base_ops->device_name, omp_get_max_threads(), blas, w->name, meth, qq,
                        reps, 1e3 * r.step_med, 1e3 * r.step_min, 1e3 * r.step_max, 1e3 * r.floor_med,
                        r.step_med / r.floor_med, r.gflop, r.gflop / r.step_med, r.share[0], r.share[1], r.share[2],
                        r.share[3], r.share[4], r.rss);
                fflush(csv);
            }
        }
    }
    if (csv) fclose(csv);
    printf("floor = the same GEMMs replayed alone through %s in this run; ratio = step / floor\n",
           !strcmp(backend, "cpu") ? "OpenBLAS" : "cuBLAS");
    return failures ? 1 : 0;
}
