// bench_gpu.c: the timing program of bench/gpu_check.sh (one run on a machine with a GPU).
//   bench_gpu gemm --csv F          cuBLAS rates through the CUDA ops table: fp32 and TF32, on a
//                                   square product and on the shapes of a ViT-B/16 LR step
//   bench_gpu step --model SPEC --method bp|mezo|lr [--scope S] [--budget N] [--batch B]
//                  [--image H] [--classes C] [--steps K] [--math fp32|tf32] [--what LABEL]
//                  [--ref-gflops R] --csv F
//                                   median wall time of K training steps (gradient estimate,
//                                   Adam update, sigma refresh, device sync) after one warm-up
//                                   step, on a random batch of random images (no dataset).
// Each row appended to the CSV: device,what,ms,gflop,gflops,ratio_to_cublas,peak_mem_mb,detail
// GFLOP counts the GEMM work of the step: forward products (clean pass included), plus, for
// lr, the weight-gradient products G^T X of the perturbed layers, and for bp the two backward
// products of every linear layer (about twice the forward). ratio_to_cublas = the step's
// GFLOP/s over R, the best fp32 cuBLAS rate measured in the same run (gemm mode prints it).
// Validation of the kernels themselves is tests/unit/test_cuda.c; this program only times.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "impl/backend/ops.h"
#include "impl/models/model.h"
#include "impl/estimators/estimator.h"
#include "impl/optim/optim.h"
#include "impl/kernels/philox.h"

// The value of option `name` (the last one given wins), or def.
static const char* arg(int argc, char** argv, const char* name, const char* def) {
    const char* v = def;
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) v = argv[++i];
    return v;
}

// n floats of backend memory filled with scale * normals, drawn where the memory is (the
// backend's own Philox noise op: no host loop over gigabytes).
static float* dev_randn(const fl_ops* ops, long n, uint32_t seed, float scale) {
    float* d = ops->alloc((size_t)n * sizeof(float));  // zeroed
    ops->noise_axpy(d, n, 0, scale, seed, 0xbe4c4u, 0, 5, 0);
    return d;
}

// ---------------------------------------------------------------------------------------

typedef struct { const char* name; int ta, tb, M, N, K; } gemm_shape;

static int cmd_gemm(const fl_ops* ops, const char* csv) {
    // 1280 query rows x 197 tokens: a ViT-B/16 batch of 64 with 20 queries per datum
    const int R = 1280 * 197;
    const gemm_shape shapes[] = {
        {"square 8192", 0, 0, 8192, 8192, 8192},
        {"vit qkv/proj x W^T (R x 768 x 768)", 0, 1, R, 768, 768},
        {"vit fc1 x W^T (R x 3072 x 768)", 0, 1, R, 3072, 768},
        {"vit fc2 x W^T (R x 768 x 3072)", 0, 1, R, 768, 3072},
        {"vit LR grad G^T X (768 x 768 x R)", 1, 0, 768, 768, R},
    };
    double best_fp32 = 0.0;
    printf("%-40s %6s %10s %10s\n", "GEMM", "math", "ms", "GFLOP/s");
    for (int tf32 = 0; tf32 < 2; tf32++) {
        fl_cuda_set_math(tf32);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const gemm_shape* g = &shapes[s];
            long na = (long)g->M * g->K, nb = (long)g->K * g->N, nc = (long)g->M * g->N;
            float* A = dev_randn(ops, na, 1, 1.f);
            float* B = dev_randn(ops, nb, 2, 1.f);
            float* C = ops->alloc((size_t)nc * sizeof(float));
            int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
            double flop = 2.0 * g->M * g->N * (double)g->K;
            int reps = flop > 1e12 ? 5 : 10;
            for (int w = 0; w < 2; w++)
                ops->gemm(g->ta, g->tb, g->M, g->N, g->K, 1.f, A, lda, B, ldb, 0.f, C, g->N);
            ops->sync();
            double t[16];
            for (int r = 0; r < reps; r++) {
                double t0 = fl_now();
                ops->gemm(g->ta, g->tb, g->M, g->N, g->K, 1.f, A, lda, B, ldb, 0.f, C, g->N);
                ops->sync();
                t[r] = fl_now() - t0;
            }
            double ms = 1e3 * fl_median(t, reps);
            double rate = flop / (ms * 1e-3) * 1e-9;
            if (!tf32 && rate > best_fp32) best_fp32 = rate;
            printf("%-40s %6s %10.3f %10.1f\n", g->name, tf32 ? "tf32" : "fp32", ms, rate);
            char what[96];
            snprintf(what, sizeof what, "cublas %s %s", tf32 ? "tf32" : "fp32", g->name);
            FILE* f = fopen(csv, "a");
            if (!f) { fprintf(stderr, "bench_gpu: cannot append to %s\n", csv); return 2; }
            fprintf(f, "\"%s\",\"%s\",%.3f,%.3f,%.1f,,%.1f,\"median of %d after 2 warm-ups\"\n", ops->device_name, what,
                    ms, flop * 1e-9, rate, ops->peak_mem_mb(), reps);
            fclose(f);
            ops->free(A);
            ops->free(B);
            ops->free(C);
        }
    }
    fl_cuda_set_math(0);
    printf("CUBLAS_FP32_BEST_GFLOPS %.1f\n", best_fp32);
    return 0;
}

// ---------------------------------------------------------------------------------------

static int cmd_step(const fl_ops* ops, int argc, char** argv) {
    const char* spec = arg(argc, argv, "--model", "vit-b16");
    const char* method = arg(argc, argv, "--method", "lr");
    const char* scope = arg(argc, argv, "--scope", "all");
    const char* csv = arg(argc, argv, "--csv", "bench_gpu.csv");
    const char* what = arg(argc, argv, "--what", method);
    int budget = atoi(arg(argc, argv, "--budget", "20"));
    int B = atoi(arg(argc, argv, "--batch", "64"));
    int H = atoi(arg(argc, argv, "--image", "224"));
    int C = atoi(arg(argc, argv, "--channels", "3"));
    int classes = atoi(arg(argc, argv, "--classes", "10"));
    int steps = atoi(arg(argc, argv, "--steps", "3"));
    int tf32 = !strcmp(arg(argc, argv, "--math", "fp32"), "tf32");
    double ref = atof(arg(argc, argv, "--ref-gflops", "0"));
    if (B < 1 || steps < 1 || steps > 50 || budget < 1) { fprintf(stderr, "bench_gpu step: bad --batch/--steps/--budget\n"); return 2; }
    fl_cuda_set_math(tf32);
    fl_err err = {{0}};
    fl_model* m = fl_model_create(ops, spec, "gelu", C, H, H, classes, &err);
    if (!m) { printf("SKIP %s: %s\n", what, err.msg); return 3; }  // 3: this model cannot be built here
    if (strncmp(spec, "vit", 3)) fl_model_init_weights(m, 1);  // a ViT is initialised when built
    fl_model_init_sigma(m, 1e-3f);
    // "infer" (this benchmark's mode, not an estimator): clean forwards only, with the optimizer
    // state allocated and no gradient buffer: the memory MeZO must stay within 1.1x of
    int infer = !strcmp(method, "infer");
    const char* est = infer ? fl_estimator_reference() : method;
    const fl_estimator_vt* v = fl_estimator_find(est);
    if (!v) { fprintf(stderr, "bench_gpu step: --method: expected infer or %s, found '%s'\n", fl_estimator_names(), method); return 2; }
    int layers = v->perturbs == FL_PERTURB_LAYERS;
    if (layers && fl_model_set_scope(m, scope, &err)) { printf("SKIP %s: %s\n", what, err.msg); return 3; }
    fl_est_opts eo = fl_est_opts_default();
    eo.budget = 1 << 20;  // set below, once the engine knows its prelude's queries
    fl_alloc_opts ao = fl_alloc_opts_default();
    fl_engine* e = fl_engine_new(ops, m, est, "uniform", &ao, &eo, B, 7, &err);
    if (!e) { printf("SKIP %s: %s\n", what, err.msg); return 3; }
    // --budget is the perturbed queries per datum of the workload (the paper's 20); the spend
    // rule (docs/METHOD.md, "Spend") counts the prelude's queries (LR's clean pass) in the
    // engine's budget too
    e->o.budget = (int)(budget + fl_engine_overhead(e, B, 0) / B);
    if (v->directions || infer) fl_params_drop_grad(&m->params);  // as train does
    fl_optim opt;
    if (fl_optim_init(&opt, &m->params, "adam", 1e-4f, &err)) { printf("SKIP %s: %s\n", what, err.msg); return 3; }
    long in = (long)C * H * H;
    float* x = dev_randn(ops, (long)B * in, 9, 1.f);
    int32_t* yh = fl_malloc((size_t)B * sizeof(int32_t));
    int64_t* idx = fl_malloc((size_t)B * sizeof(int64_t));
    for (int i = 0; i < B; i++) { yh[i] = (i * 7) % classes; idx[i] = i; }
    int32_t* y = fl_ops_upload_new(ops, yh, (size_t)B * sizeof(int32_t));
    fl_batch b = {.B = B, .x = x, .y = y, .y_host = yh, .index = idx};
    double t[64], ph[4] = {0, 0, 0, 0}, flop = 0.0;
    float* infer_loss = NULL;  // (B) the inference mode's losses
    for (int s = 0; s <= steps; s++) {  // step 0 is the warm-up
        ops->sync();
        double t0 = fl_now();
        fl_step_stats st;
        memset(&st, 0, sizeof st);
        if (infer) {
            if (!infer_loss) infer_loss = ops->alloc((size_t)B * sizeof(float));
            float* loss = infer_loss;
            m->vt->reserve(m, B, B);
            fl_fwd fw = {.x = x, .B = B, .Q = B, .labels = y, .loss = loss};
            m->vt->forward(m, &fw);
            st.flops = m->vt->forward_flops(m, B, B, 0);
        } else {
            if (fl_engine_grad(e, &b, &st, &err)) { printf("FAIL %s: %s\n", what, err.msg); return 1; }
            fl_engine_apply(e, &opt, 0);
        }
        ops->sync();
        double dt = fl_now() - t0;
        if (s == 0) continue;
        t[s - 1] = dt;
        ph[0] += st.t_clean; ph[1] += st.t_alloc; ph[2] += st.t_forward; ph[3] += st.t_grad;
        double f = st.flops;
        if (v->perturbs == FL_PERTURB_NONE && !infer) f *= 3.0;  // forward + two backward products per layer
        if (layers)
            for (int l = 0; l < m->n_lin; l++) {
                const fl_linear* L = &m->lin[l];
                if (!L->perturbed) continue;
                double rows = (double)(L->saved.per_datum ? B : (long)budget * B) * m->tokens;
                f += 2.0 * rows * L->din * L->dout;
            }
        flop = f;  // the same every step (uniform allocation)
    }
    double ms = 1e3 * fl_median(t, steps);
    double rate = flop / (ms * 1e-3) * 1e-9;
    char detail[512];
    snprintf(detail, sizeof detail,
             "%s %s scope %s budget %d batch %d image %d math %s; median of %d steps after 1 warm-up; per step: clean %.1f ms alloc %.1f forward %.1f grad %.1f",
             spec, method, layers ? scope : "-", budget, B, H, tf32 ? "tf32" : "fp32", steps,
             1e3 * ph[0] / steps, 1e3 * ph[1] / steps, 1e3 * ph[2] / steps, 1e3 * ph[3] / steps);
    printf("%-28s %10.2f ms %10.1f GFLOP/s  ratio %s%.3f  peak %.0f MB  (%s)\n", what, ms, rate, ref > 0 ? "" : "n/a ",
           ref > 0 ? rate / ref : 0.0, ops->peak_mem_mb(), detail);
    FILE* f = fopen(csv, "a");
    if (!f) { fprintf(stderr, "bench_gpu: cannot append to %s\n", csv); return 2; }
    fprintf(f, "\"%s\",\"%s\",%.3f,%.3f,%.1f,", ops->device_name, what, ms, flop * 1e-9, rate);
    if (ref > 0) fprintf(f, "%.4f", rate / ref);
    fprintf(f, ",%.1f,\"%s\"\n", ops->peak_mem_mb(), detail);
    fclose(f);
    fl_optim_free(&opt, &m->params);
    fl_engine_free(e);
    if (infer_loss) ops->free(infer_loss);
    ops->free(x);
    ops->free(y);
    fl_model_free(m);
    free(yh);
    free(idx);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2 || (strcmp(argv[1], "gemm") && strcmp(argv[1], "step"))) {
        fprintf(stderr, "usage: bench_gpu gemm --csv F | bench_gpu step --model SPEC --method M [...] --csv F\n");
        return 2;
    }
    fl_err err = {{0}};
    const fl_ops* ops = fl_cuda_ops(&err);
    const char* as_cpu = getenv("FL_BENCH_GPU_AS_CPU");  // dry run of this program on the CPU
    if (!ops && as_cpu && !strcmp(as_cpu, "1")) ops = fl_cpu_ops();
    if (!ops) { printf("SKIP bench_gpu: %s\n", err.msg); return 3; }
    if (!strcmp(argv[1], "gemm")) return cmd_gemm(ops, arg(argc, argv, "--csv", "bench_gpu.csv"));
    return cmd_step(ops, argc, argv);
}
