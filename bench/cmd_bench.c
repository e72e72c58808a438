// cmd_bench.c: `flbench bench`: time one training step of each estimator on fixed workloads
// and compare it with the floor measured in the same run: the time the backend's own GEMM
// library needs for exactly the GEMMs that step issued (recorded, then replayed alone).
//
//   W1  mlp:784-512-512-10, batch 64, 32 queries/datum, LR noise on all layers
//   W2  vit-tiny (28x28x1, patch 4, dim 192, 6 layers, 3 heads, MLP 768), batch 32,
//       16 queries/datum, LR noise on all linear layers
//   W3  vit-b16 (224x224x3), batch 4, 8 queries/datum, LR with the authors' scope
//
// Each measurement is the median of --reps steps after --warmup steps, with min and max; the
// floor is the median of as many replays, each right after a timed step.
// Data are synthetic (seeded normals), so no dataset is needed.
// Lists (--workload W1,W2, --budgets 4,8,16, --threads 1,2) give one measurement per
// combination: the thread-scaling and cost-vs-budget figures (plots/bench_*.gp) use them.
// --count-only runs one untimed step, then one step inside fl_bench_counted_step(), so that
// `valgrind --tool=callgrind --toggle-collect=fl_bench_counted_step` counts exactly one
// step's instructions (ci/perf_check, the CI regression gate).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>
#include <omp.h>
#include <cblas.h>
#include "../impl/backend/dist.h"
#include "args.h"
#include "../impl/backend/ops.h"
#include "../impl/models/model.h"
#include "../impl/estimators/estimator.h"
#include "../impl/optim/optim.h"
#include "run/schema.h"
#include "../impl/kernels/philox.h"

// ---------------------------------------------------------------------------------------
// GEMM recording: a copy of the ops table whose gemm calls are logged, then replayed.

typedef struct { int ta, tb, M, N, K, batch; float beta; } gemm_call;  // beta 0 costs a pass over C
static gemm_call* rec;
static int rec_n, rec_cap, recording;
static const fl_ops* base_ops;
static fl_ops rec_ops;

static void rec_push(int ta, int tb, int M, int N, int K, int batch, float beta) {
    if (!recording) return;
    if (rec_n == rec_cap) {
        rec_cap = rec_cap ? 2 * rec_cap : 256;
        rec = fl_realloc(rec, (size_t)rec_cap * sizeof(gemm_call));
    }
    rec[rec_n++] = (gemm_call){ta, tb, M, N, K, batch, beta};
}

static void rec_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc) {
    rec_push(ta, tb, M, N, K, 1, beta);
    base_ops->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void rec_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A,
                             int lda, long sA, const float* B, int ldb, long sB, float beta,
                             float* C, int ldc, long sC, int batch) {
    rec_push(ta, tb, M, N, K, batch, beta);
    base_ops->gemm_strided(ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch);
}

// The fused attention op counts as the GEMMs it replaces (vit.c's path without it): per head,
// scores (T, T) = q_h k_h^T and ctx_h (T, hd) = P v_h, each batched over the S sequences. The
// floor thus replays the same products through OpenBLAS, and GFLOP/s counts them.
static int rec_attention(float* ctx, float* probs, const float* q, const float* k, const float* v,
                         int S, int T, int H, int D, float scale) {
    int rc = base_ops->attention(ctx, probs, q, k, v, S, T, H, D, scale);
    if (rc == 0)
        for (int h = 0; h < H; h++) {
            rec_push(0, 1, T, T, D / H, S, 0.0f);
            rec_push(0, 0, T, D / H, T, S, 0.0f);
        }
    return rc;
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
            base_ops->gemm(g->ta, g->tb, g->M, g->N, g->K, 1.0f, A, lda, B, ldb, g->beta, C, g->N);
        else
            base_ops->gemm_strided(g->ta, g->tb, g->M, g->N, g->K, 1.0f, A, lda, (long)g->M * g->K, B, ldb,
                                   (long)g->K * g->N, g->beta, C, g->N, (long)g->M * g->N, g->batch);
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
    int reps, warmup;  // defaults when --reps / --warmup are not given
} workload;

static const workload workloads[] = {
    {"W1", "mlp:784-512-512-10", 1, 28, 28, 10, 64, 32, "all", 7, 2},
    {"W2", "vit-tiny", 1, 28, 28, 10, 32, 16, "all", 7, 2},
    {"W3", "vit-b16", 3, 224, 224, 10, 4, 8, "attn:last:4", 5, 1},  // minutes per step set on 2 cores
};

// Peak resident memory of one measurement: the kernel's high-water mark (VmHWM) is reset by
// writing 5 to /proc/self/clear_refs before it. Where that fails, the process-wide peak.
static int hwm_reset_ok;
static void peak_rss_reset(void) {
    FILE* f = fopen("/proc/self/clear_refs", "w");
    hwm_reset_ok = f && fputs("5", f) >= 0;
    if (f && fclose(f) != 0) hwm_reset_ok = 0;
}
static double peak_rss_since_reset(void) {
    if (!hwm_reset_ok) return fl_peak_rss_mb();
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb >= 0 ? kb / 1024.0 : fl_peak_rss_mb();
}

typedef struct {
    double step_med, step_min, step_max, floor_med, gflop;
    double share[5];  // clean, alloc, forward, grad, update
    double rss;
    double comm_ms, comm_bytes, reduce_bytes;  // per timed step (data parallelism, dist.h)
} result;

typedef struct {
    int reps, warmup;
    int floor;       // replay the recorded GEMMs (the floor)
    int count_only;  // one warm-up, then one step inside fl_bench_counted_step
    int max_rows;    // query rows per chunk (0: sized from free memory, as train does)
    int slices;      // slices per batch; under mpirun each rank steps its own (docs/SCALING.md)
} protocol;

// Everything one timed step needs.
typedef struct {
    fl_engine* e;
    fl_model* m;
    fl_optim* opt;
    fl_batch* b;
    const fl_ops* ops;
    double t[3];  // start, after the gradient, after the update
    fl_step_stats st;
} step_ctx;

// One full training step: gradient estimate, Adam update, sigma refresh.
static int bench_step(step_ctx* c, fl_err* err) {
    c->ops->sync();
    c->t[0] = fl_now();
    int rc = fl_engine_grad(c->e, c->b, &c->st, err);
    c->t[1] = fl_now();
    if (rc) return rc;
    fl_engine_apply(c->e, c->opt, 0);
    c->ops->sync();
    c->t[2] = fl_now();
    return 0;
}

// The step whose instructions ci/perf_check counts (callgrind --toggle-collect=this name):
// not inlined, not static, so that the symbol is there by this name.
__attribute__((noinline)) int fl_bench_counted_step(step_ctx* c, fl_err* err);
__attribute__((noinline)) int fl_bench_counted_step(step_ctx* c, fl_err* err) {
    return bench_step(c, err);
}

// A benchmark method is an estimator of the registry, or ESTIMATOR-ALLOCATOR (lr-flops): the
// estimator with that allocator (uniform otherwise).
static void bench_method_split(const char* method, char est[32], char alloc[32]) {
    const char* dash = strchr(method, '-');
    size_t n = dash ? (size_t)(dash - method) : strlen(method);
    snprintf(est, 32, "%.*s", (int)(n < 31 ? n : 31), method);
    snprintf(alloc, 32, "%s", dash ? dash + 1 : "uniform");
}

static int bench_method_ok(const char* method) {
    char est[32], alloc[32];
    bench_method_split(method, est, alloc);
    const fl_estimator_vt* v = fl_estimator_find(est);
    if (!v) return 0;
    if (!strchr(method, '-')) return 1;
    return v->perturbs != FL_PERTURB_NONE && fl_allocator_find(alloc) != NULL;
}

// Perturbed queries per datum of a step: the workload's budget q for estimators that perturb
// layer outputs, one unit (MeZO: a direction, 2 queries; the paper's MeZO setting) for those
// that perturb weights, one clean pass for the exact one.
static long bench_perturbed_queries(const fl_estimator_vt* v, int q) {
    switch (v->perturbs) {
    case FL_PERTURB_LAYERS: return q;
    case FL_PERTURB_WEIGHTS: return v->unit_queries;
    case FL_PERTURB_NONE: break;
    }
    return 1;
}

// One (workload, method) measurement. method: bp, mezo (2 queries/datum), lr, lr-flops.
static int measure(const workload* w, const char* method, int budget, int B, const protocol* pr,
                   result* r, fl_err* err) {
    int reps = pr->reps, warmup = pr->warmup;
    rec_ops = *base_ops;
    rec_ops.gemm = rec_gemm;
    rec_ops.gemm_strided = rec_gemm_strided;
    if (base_ops->attention) rec_ops.attention = rec_attention;
    const fl_ops* ops = &rec_ops;
    peak_rss_reset();
    fl_model* m = fl_model_create(ops, w->model, "relu", w->c, w->h, w->w, w->classes, err);
    if (!m) return -1;
    fl_model_init_weights(m, 1);
    fl_model_init_sigma(m, 1e-3f);
    char est[32], alloc[32];
    bench_method_split(method, est, alloc);
    const fl_estimator_vt* v = fl_estimator_find(est);
    if (v->perturbs == FL_PERTURB_LAYERS && fl_model_set_scope(m, w->scope, err)) { fl_model_free(m); return -1; }
    fl_est_opts eo = fl_est_opts_default();
    eo.budget = 1 << 20;  // set below, once the engine knows its prelude's queries
    eo.max_rows = pr->max_rows;
    fl_alloc_opts ao = fl_alloc_opts_default();
    fl_engine* e = fl_engine_new(ops, m, est, alloc, &ao, &eo, B, 7, err);
    if (!e) { fl_model_free(m); return -1; }
    fl_dist* dist = fl_dist_world();
    if (fl_engine_distribute(e, dist, pr->slices, err)) { fl_engine_free(e); fl_model_free(m); return -1; }
    // a workload is defined by its perturbed queries per datum (W1: 32); the spend rule
    // (docs/METHOD.md, "Spend") counts the prelude's queries (the LR baseline's clean pass) in
    // the budget too
    e->o.budget = (int)(bench_perturbed_queries(v, budget) + fl_engine_overhead(e, B, 0) / B);
    if (v->directions) fl_params_drop_grad(&m->params);  // as train does
    fl_optim opt;
    if (fl_optim_init(&opt, &m->params, "adam", 1e-4f, err)) { fl_engine_free(e); fl_model_free(m); return -1; }
    opt.step_size = 0;
    // synthetic batch (fixed seed: the same data on every machine)
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
    step_ctx c = {.e = e, .m = m, .opt = &opt, .b = &b, .ops = ops};
    int rc = 0;
    for (int k = 0; k < warmup + reps && !rc; k++) {
        recording = k == warmup;  // record the GEMMs of the first timed step
        if (recording) rec_n = 0;
        fl_dist_barrier(dist);  // the ranks start each step together
        fl_dist_reset(dist);
        rc = pr->count_only && k == warmup ? fl_bench_counted_step(&c, err) : bench_step(&c, err);
        recording = 0;
        if (!rc && k >= warmup) {
            r->comm_ms += 1e3 * dist->t_comm / reps;
            r->comm_bytes += dist->bytes_sent / reps;
            r->reduce_bytes += dist->bytes_reduced / reps;
            t[k - warmup] = c.t[2] - c.t[0];
            phase[0] += c.st.t_clean; phase[1] += c.st.t_alloc; phase[2] += c.st.t_forward;
            phase[3] += c.st.t_grad; phase[4] += c.t[2] - c.t[1];
            // the floor right after each timed step: on a shared machine both see the same load
            if (pr->floor) fl[k - warmup] = replay_seconds();
        }
    }
    if (!rc) {
        double tot = 0;
        for (int k = 0; k < reps; k++) tot += t[k];
        r->step_med = fl_median(t, reps);
        r->step_min = t[0];
        r->step_max = t[reps - 1];
        r->floor_med = pr->floor ? fl_median(fl, reps) : NAN;
        r->gflop = rec_flops() * 1e-9;
        for (int p = 0; p < 5; p++) r->share[p] = tot > 0 ? phase[p] / tot : 0;
        r->rss = peak_rss_since_reset();
    }
    free(t); free(fl); free(xh); free(yh); free(idx);
    ops->free(xd); ops->free(yd);
    fl_optim_free(&opt, &m->params);
    fl_engine_free(e);
    fl_model_free(m);
    return rc;
}

// Whether `name` is an element of the comma list `list` ("all" matches everything).
static int in_list(const char* list, const char* name) {
    if (!strcmp(list, "all")) return 1;
    size_t n = strlen(name);
    for (const char* p = list; *p;) {
        const char* e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p += len + (e != NULL);
    }
    return 0;
}

#define CSV_HEADER "git_rev,timestamp,backend,device,threads,blas,workload,method,budget,batch,reps,warmup,step_ms_median,step_ms_min,step_ms_max,floor_ms_median,ratio_to_floor,gemm_gflop,gflops_achieved,share_clean,share_alloc,share_forward,share_grad,share_update,peak_rss_mb,load_avg_1min,world_size,slices,comm_ms,comm_bytes,reduce_bytes\n"

// Creates the folders above `path` (like mkdir -p of its dirname).
static void make_parent_dirs(const char* path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char* p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);  // failures show when the file is opened
            *p = '/';
        }
}

// Opens --out for appending; a new file gets the header, an existing one must have it.
static FILE* open_csv(const char* out) {
    make_parent_dirs(out);
    FILE* f = fopen(out, "r");
    if (f) {
        char line[1024] = "";
        int ok = fgets(line, sizeof line, f) != NULL && !strcmp(line, CSV_HEADER);
        int empty = line[0] == 0;
        fclose(f);
        if (!ok && !empty) {
            fprintf(stderr, "flbench bench: --out %s: its header is not this version's columns (an older flbench?); move it away or pick another file\n", out);
            return NULL;
        }
        if (ok && (f = fopen(out, "a")) != NULL) return f;
        if (ok) {
            fprintf(stderr, "flbench bench: --out %s: cannot open for appending (%s)\n", out, strerror(errno));
            return NULL;
        }
    }
    f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "flbench bench: --out %s: cannot open for writing (%s)\n", out, strerror(errno));
        return NULL;
    }
    fputs(CSV_HEADER, f);
    return f;
}

int fl_bench_ops(int argc, char** argv);  // bench_ops.c: `bench --ops`, with its own options

int fl_cmd_bench(int argc, char** argv) {
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--ops")) return fl_bench_ops(argc, argv);
    char wl[64] = "W1", methods[256] = "", out[512] = "results/bench/bench.csv";
    char backend[8] = "cpu", budgets_s[128] = "", threads_s[64] = "";
    int reps = -1, warmup = -1, budget = 0, batch = 0, no_floor = 0, count_only = 0, max_rows = 0, slices = 1;
    fl_opt opts[] = {
        {"workload", FL_OPT_STR, wl, sizeof wl, NULL, "W1, W2, W3, a comma list, or all (default W1)"},
        {"methods", FL_OPT_STR, methods, sizeof methods, NULL, "comma list of estimators and ESTIMATOR-ALLOCATOR (default: every estimator, and lr-flops for those perturbing layers)"},
        {"budget", FL_OPT_INT, &budget, 0, NULL, "queries per datum for lr (default: the workload's)"},
        {"budgets", FL_OPT_STR, budgets_s, sizeof budgets_s, NULL, "comma list of lr budgets, one measurement each (cost against budget)"},
        {"batch", FL_OPT_INT, &batch, 0, NULL, "batch size (default: the workload's; smaller for the CI gate)"},
        {"reps", FL_OPT_INT, &reps, 0, NULL, "timed steps, median reported (default 7, W3 5; at least 5)"},
        {"warmup", FL_OPT_INT, &warmup, 0, NULL, "untimed steps first (default 2, W3 1)"},
        {"threads", FL_OPT_STR, threads_s, sizeof threads_s, NULL, "CPU threads, or a comma list for thread scaling (default: all)"},
        {"max-rows", FL_OPT_INT, &max_rows, 0, NULL, "query rows per chunk, as in train (default 0: sized from free memory); less memory, same estimate"},
        {"slices", FL_OPT_INT, &slices, 0, "1..", "slices per batch (train --slices); under mpirun -np N, N >= S ranks step together, rank 0 reports (docs/SCALING.md)"},
        {"no-floor", FL_OPT_FLAG, &no_floor, 0, NULL, "skip the GEMM replay (no floor, no ratio)"},
        {"count-only", FL_OPT_FLAG, &count_only, 0, NULL, "one warm-up and one step in fl_bench_counted_step, for callgrind (ci/perf_check); no floor, no CSV"},
        {"backend", FL_OPT_STR, backend, sizeof backend, NULL, "cpu (default) or cuda"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "append results here (default results/bench/bench.csv; '' = none)"},
        {"ops", FL_OPT_FLAG, NULL, 0, NULL, "per-op kernel benchmark, each op checked first (bench_ops.c; bench --ops --help)"},
    };
    int rc = fl_parse_opts("bench", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!count_only && reps >= 0 && reps < 5) { fprintf(stderr, "flbench bench: --reps: at least 5 timed steps, found %d\n", reps); return 2; }
    if (warmup < 0 && warmup != -1) { fprintf(stderr, "flbench bench: --warmup: expected 0 or more, found %d\n", warmup); return 2; }
    if (batch < 0) { fprintf(stderr, "flbench bench: --batch: expected a positive integer, found %d\n", batch); return 2; }
    if (max_rows < 0) { fprintf(stderr, "flbench bench: --max-rows: expected 0 or a positive integer, found %d\n", max_rows); return 2; }
    int budgets[32], n_budgets = 1, threads[16], n_threads = 1;
    budgets[0] = budget;
    threads[0] = 0;
    fl_err lerr = {{0}};
    if ((budgets_s[0] && (n_budgets = fl_parse_int_list("--budgets", budgets_s, 1, 1 << 20, budgets, 32, &lerr)) < 0) ||
        (threads_s[0] && (n_threads = fl_parse_int_list("--threads", threads_s, 1, 1024, threads, 16, &lerr)) < 0)) {
        fprintf(stderr, "flbench bench: %s\n", lerr.msg);
        return 2;
    }
    if (!methods[0])  // every estimator of the registry, and with the FLOPS allocator where it perturbs layers
        for (int i = 0; i < fl_estimator_count(); i++) {
            const fl_estimator_vt* v = fl_estimator_at(i);
            size_t len = strlen(methods);
            snprintf(methods + len, sizeof methods - len, "%s%s", len ? "," : "", v->name);
            len = strlen(methods);
            if (v->perturbs == FL_PERTURB_LAYERS) snprintf(methods + len, sizeof methods - len, ",%s-flops", v->name);
        }
    int known = 0;
    for (int wi = 0; wi < 3; wi++) known += in_list(wl, workloads[wi].name);
    if (!known) { fprintf(stderr, "flbench bench: --workload: expected W1, W2, W3, a comma list of them, or all, found '%s'\n", wl); return 2; }
    {
        char list[256];
        snprintf(list, sizeof list, "%s", methods);
        for (char* meth = strtok(list, ","); meth; meth = strtok(NULL, ","))
            if (!bench_method_ok(meth)) {
                fprintf(stderr, "flbench bench: --methods: expected an estimator (%s) or ESTIMATOR-ALLOCATOR "
                        "(lr-flops), found '%s'\n", fl_estimator_names(), meth);
                return 2;
            }
    }
    if (count_only) out[0] = 0;
    // under mpirun every rank steps, rank 0 alone prints and writes (docs/SCALING.md)
    fl_dist* dist = fl_dist_world();
    if (dist->rank > 0) {
        out[0] = 0;
        if (!freopen("/dev/null", "w", stdout)) fprintf(stderr, "flbench bench: rank %d: cannot silence stdout\n", dist->rank);
    }
    fl_err err = {{0}};
    base_ops = fl_ops_by_name(backend, &err);
    if (!base_ops) { fprintf(stderr, "flbench bench: %s\n", err.msg); return 2; }
    FILE* csv = NULL;
    if (out[0] && !(csv = open_csv(out))) return 2;
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const char* blas = !strcmp(backend, "cpu") ? openblas_get_config() : "cuBLAS";
    printf("flbench bench  %s  %s  threads %d  %s\n", fl_git_rev(), base_ops->device_name, omp_get_max_threads(), blas);
    if (!count_only)
        printf("%-4s %-9s %3s %6s %5s %10s %10s %10s %7s %8s %8s  %-34s %8s\n", "wl", "method", "thr", "budget", "batch",
               "step ms", "min", "max", "floor", "ratio", "GFLOP/s", "share: clean/alloc/fwd/grad/upd", "RSS MiB");
    int failures = 0;
    // Thread counts are the innermost loop: the measurements compared in the thread-scaling
    // figure are taken next to each other in time, under the same load of a shared machine.
    for (int wi = 0; wi < 3; wi++) {
        const workload* w = &workloads[wi];
        if (!in_list(wl, w->name)) continue;
        protocol pr = {.reps = reps > 0 ? reps : w->reps, .warmup = warmup >= 0 ? warmup : w->warmup,
                       .floor = !no_floor && !count_only, .count_only = count_only, .max_rows = max_rows,
                       .slices = slices};
        if (count_only) { pr.reps = 1; pr.warmup = warmup >= 0 ? warmup : 1; }
        int B = batch > 0 ? batch : w->batch;
        char list[256];
        snprintf(list, sizeof list, "%s", methods);
        char* save = NULL;
        int skipped = 0;
        for (char* meth = strtok_r(list, ",", &save); meth && !skipped; meth = strtok_r(NULL, ",", &save)) {
            char est[32], alloc[32];
            bench_method_split(meth, est, alloc);
            const fl_estimator_vt* v = fl_estimator_find(est);
            int sweeps_budgets = v->perturbs == FL_PERTURB_LAYERS;
            for (int bi = 0; bi < (sweeps_budgets ? n_budgets : 1) && !skipped; bi++) {
                for (int ti = 0; ti < n_threads; ti++) {
                    if (threads[ti] > 0) { omp_set_num_threads(threads[ti]); openblas_set_num_threads(threads[ti]); }
                    int nthr = omp_get_max_threads();
                    int q = budgets[bi] > 0 ? budgets[bi] : w->budget;
                    result r;
                    memset(&r, 0, sizeof r);
                    int qq = bench_perturbed_queries(v, q);
                    double load = -1;  // the machine's load when the measurement starts (shared machines)
                    if (getloadavg(&load, 1) != 1) load = -1;
                    if (measure(w, meth, q, B, &pr, &r, &err)) {
                        // a model this build does not have (e.g. the ViT while it is being written)
                        if (strstr(err.msg, "unknown model") || strstr(err.msg, "unknown ViT")) {
                            printf("%-4s skipped: %s (%s)\n", w->name, w->model, err.msg);
                            skipped = 1;
                            break;
                        }
                        printf("%-4s %-9s  failed: %s\n", w->name, meth, err.msg);
                        failures++;
                        continue;
                    }
                    if (count_only) {
                        printf("count %s %s budget %d batch %d threads %d gemm_gflop %.6f step_ms %.2f\n", w->name, meth, qq,
                               B, nthr, r.gflop, 1e3 * r.step_med);
                        fflush(stdout);
                        continue;
                    }
                    char floor_s[16] = "-", ratio_s[16] = "-";  // "-" without a floor (--no-floor)
                    if (r.floor_med > 0) {
                        snprintf(floor_s, sizeof floor_s, "%.2f", 1e3 * r.floor_med);
                        snprintf(ratio_s, sizeof ratio_s, "%.2f", r.step_med / r.floor_med);
                    }
                    printf("%-4s %-9s %3d %6d %5d %10.2f %10.2f %10.2f %7s %8s %8.1f  %5.1f%% %5.1f%% %5.1f%% %5.1f%% %5.1f%% %8.0f\n",
                           w->name, meth, nthr, qq, B, 1e3 * r.step_med, 1e3 * r.step_min, 1e3 * r.step_max,
                           floor_s, ratio_s, r.gflop / r.step_med, 100 * r.share[0],
                           100 * r.share[1], 100 * r.share[2], 100 * r.share[3], 100 * r.share[4], r.rss);
                    fflush(stdout);
                    if (csv) {
                        char fl_ms[32] = "", ratio[32] = "";
                        if (pr.floor) {
                            snprintf(fl_ms, sizeof fl_ms, "%.4f", 1e3 * r.floor_med);
                            snprintf(ratio, sizeof ratio, "%.4f", r.step_med / r.floor_med);
                        }
                        fprintf(csv, "%s,%s,%s,\"%s\",%d,\"%s\",%s,%s,%d,%d,%d,%d,%.4f,%.4f,%.4f,%s,%s,%.4f,%.3f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f,%.2f,%d,%d,%.4f,%.0f,%.0f\n",
                                fl_git_rev(), ts, backend, base_ops->device_name, nthr, blas, w->name, meth, qq, B,
                                pr.reps, pr.warmup, 1e3 * r.step_med, 1e3 * r.step_min, 1e3 * r.step_max, fl_ms, ratio,
                                r.gflop, r.gflop / r.step_med, r.share[0], r.share[1], r.share[2], r.share[3],
                                r.share[4], r.rss, load, dist->size, slices, r.comm_ms, r.comm_bytes, r.reduce_bytes);
                        fflush(csv);
                    }
                }
            }
        }
    }
    if (csv && fclose(csv) != 0) { fprintf(stderr, "flbench bench: --out %s: write failed\n", out); failures++; }
    if (!count_only)
        printf("floor = the same GEMMs replayed alone through %s in this run; ratio = step / floor\n",
               !strcmp(backend, "cpu") ? "OpenBLAS" : "cuBLAS");
    fl_dist_finalize();
    return failures ? 1 : 0;
}
