// test_cuda.c: the CUDA backend against the CPU backend, the reference (docs/DESIGN.md,
// principle 1).
//   - every op of the table on random inputs of odd sizes, outputs poisoned with NaN first so
//     that an element the GPU forgets to write fails;
//   - Philox integers, normals and every op that adds noise: bit-identical (the noise file is
//     compiled without contraction, like the CPU side);
//   - everything else within a tolerance derived from float rounding (u = 2^-24, the unit
//     roundoff): a sum of n terms taken in another order differs by at most about n u times the
//     sum of their magnitudes (Higham's gamma_n bound), doubled since both sides round;
//   - one full step of bp, mezo, lr uniform and lr flops on an MLP (and on vit-tiny), CPU
//     against GPU from the same parameters, then the parameters after an SGD step.
// Without a device (or in a build without CUDA) every test SKIPs and prints why, except the
// one that checks that message, test_table_check and test_step_cpu_failure_fails, which need
// no device. FL_TEST_CUDA_AS_CPU=1 runs every comparison with the CPU table in the GPU's
// place: that checks the fixtures, indexing and references, but no CUDA kernel runs, so it
// says nothing about the CUDA backend.
#include <stdint.h>
#include <string.h>
#include <math.h>
#include "../test.h"
#include "impl/backend/ops.h"
#include "impl/kernels/philox.h"
#include "impl/models/model.h"
#include "impl/estimators/estimator.h"
#include "impl/optim/optim.h"

#ifdef FL_WITH_CUDA
// test hook of impl/backend/cuda/cuda_noise.cu: raw Philox integers computed on the device
void fl_cuda_philox_dump(uint32_t* host_out, long groups, uint32_t k0, uint32_t k1, uint32_t row,
                         uint32_t stream, uint32_t step);
#endif

static const fl_ops* cpu;
static const fl_ops* gpu;
static char no_gpu_reason[1100];
#define NEED_GPU() do { if (!gpu) SKIP(no_gpu_reason); } while (0)

static const double U = 5.9604644775390625e-08;  // 2^-24

// ---------------------------------------------------------------------------------------
// helpers

static float randn(uint32_t seed, uint64_t i) { return fl_normal_at(seed, 0x7e57cdau, i, 1, 2, 3); }

static float* hrand(long n, uint32_t seed, float scale, float shift) {
    float* h = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (long i = 0; i < n; i++) h[i] = shift + scale * randn(seed, (uint64_t)i);
    return h;
}
static float* hcopy(const float* h, long n) {
    float* c = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    memcpy(c, h, (size_t)n * sizeof(float));
    return c;
}
static float* hnan(long n) {
    float* h = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (long i = 0; i < n; i++) h[i] = NAN;
    return h;
}
// device copy of host floats / ints
static float* dput(const float* h, long n) { return fl_ops_upload_new(gpu, h, (size_t)n * sizeof(float)); }
static int32_t* dputi(const int32_t* h, long n) { return fl_ops_upload_new(gpu, h, (size_t)n * sizeof(int32_t)); }
static float* dget(const float* d, long n) {
    float* h = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    gpu->download(h, d, (size_t)n * sizeof(float));
    return h;
}

// Counts elements with |got - ref| > tol[i] (NaN always counts); prints the first few.
static long cmp_tol(const char* what, const float* got, const float* ref, const double* tol, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= tol[i])) {
            if (bad < 4) printf("    %s[%ld]: gpu %.9g cpu %.9g |diff| %.3g > tol %.3g\n", what, i, got[i], ref[i], d, tol[i]);
            bad++;
        }
    }
    return bad;
}
// Counts elements whose bits differ.
static long cmp_bits(const char* what, const float* got, const float* ref, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float))) {
            if (bad < 4) printf("    %s[%ld]: gpu %.9g cpu %.9g (bits differ)\n", what, i, got[i], ref[i]);
            bad++;
        }
    return bad;
}
static double* dvec(long n) { return fl_calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

// ---------------------------------------------------------------------------------------
// the backend itself

static void test_no_device_message(void) {
    if (gpu) SKIP("a CUDA device is present; its absence is checked on machines without one");
    CHECK(!strncmp(no_gpu_reason, "no CUDA device:", 15), "message '%s'", no_gpu_reason);
    fl_err err = {{0}};
    CHECK(fl_ops_by_name("cuda", &err) == NULL, "fl_ops_by_name(cuda) without a device");
    CHECK(!strncmp(err.msg, "no CUDA device:", 15), "by name: '%s'", err.msg);
    CHECK(!strchr(err.msg, '\n'), "one line: '%s'", err.msg);
}

// The members of fl_ops (impl/backend/ops.h) by name. Besides the two names and chunk_bytes
// (a size, 0 allowed), every member is an op; each must be set, except those ops.h allows to
// be NULL: the normals kept from the forward (bias_noise_keep, lr_unit_kept: CUDA draws them
// twice) and a fused attention (attention: never fused).
#define OPS_REQUIRED(X)                                                                          \
    X(alloc) X(free) X(upload) X(download) X(copy) X(zero) X(sync) X(mem_available)              \
    X(peak_mem_mb) X(alloc_held) X(alloc_peak) X(alloc_peak_reset) X(gemm) X(gemm_strided)        \
    X(gather_rows) X(segment_sum) X(exp) X(scale) X(axpy) X(relu) X(relu_bwd) X(gelu) X(gelu_bwd) \
    X(bias_noise) X(bias_noise_set) X(lr_grad) X(lr_unit_noise) X(lr_unit_fold) X(noise_axpy)     \
    X(layernorm) X(layernorm_bwd) X(softmax) X(softmax_bwd) X(xent) X(col_sum) X(row_sumsq)       \
    X(dot) X(adam) X(sgd) X(dirs_adam) X(dirs_sgd) X(dirs_sumsq) X(vit_patchify) X(vit_tokens)    \
    X(vit_cls_layernorm) X(vit_cls_layernorm_bwd) X(gather_add_rows)
#define OPS_OPTIONAL(X) X(bias_noise_keep) X(lr_unit_kept) X(attention)
#define OPS_COUNT(name) +1
enum { N_OPS_REQUIRED = 0 OPS_REQUIRED(OPS_COUNT), N_OPS_OPTIONAL = 0 OPS_OPTIONAL(OPS_COUNT) };

// The required ops that table t lacks, as a count and a list of names in `missing`.
static int table_missing(const fl_ops* t, char* missing, size_t cap) {
    int n = 0;
    missing[0] = 0;
#define OPS_MISSING(name)                                                                      \
    if (!t->name) {                                                                           \
        n++;                                                                                  \
        snprintf(missing + strlen(missing), cap - strlen(missing), "%s%s", n > 1 ? ", " : "", #name); \
    }
    OPS_REQUIRED(OPS_MISSING)
#undef OPS_MISSING
    return n;
}

// The lists above are the whole table: an op added to ops.h must be named here (and so be
// checked in both backends). And the check itself, on copies of the CPU table (no device
// needed): the CUDA table's shape (chunk_bytes 0, the optional ops NULL) is complete; a table
// without gemm and gather_add_rows is not, and the check names both.
static void test_table_check(void) {
    size_t listed = 2 * sizeof(const char*) + sizeof(size_t) + (N_OPS_REQUIRED + N_OPS_OPTIONAL) * sizeof(void (*)(void));
    CHECK(sizeof(fl_ops) == listed, "fl_ops has %zu bytes, the members named here %zu: a member is not listed",
          sizeof(fl_ops), listed);
    char missing[1024];
    CHECK(table_missing(cpu, missing, sizeof missing) == 0, "the CPU table lacks %s", missing);
    fl_ops shaped = *cpu;
    shaped.chunk_bytes = 0;
    shaped.bias_noise_keep = NULL;
    shaped.lr_unit_kept = NULL;
    shaped.attention = NULL;
    CHECK(table_missing(&shaped, missing, sizeof missing) == 0, "a table shaped like CUDA's is refused: lacks %s", missing);
    fl_ops broken = *cpu;
    broken.gemm = NULL;
    broken.gather_add_rows = NULL;
    int n = table_missing(&broken, missing, sizeof missing);
    CHECK(n == 2 && !strcmp(missing, "gemm, gather_add_rows"), "a table without gemm and gather_add_rows: %d missing (%s)",
          n, missing);
}

static void test_table_complete(void) {
    NEED_GPU();
    CHECK(!strcmp(gpu->name, "cpu") || !strcmp(gpu->name, "cuda"), "name %s", gpu->name);
    CHECK(gpu->device_name && gpu->device_name[0], "device name empty");
    printf("    device: %s\n", gpu->device_name);
    char missing[1024];
    CHECK(table_missing(gpu, missing, sizeof missing) == 0, "the %s table lacks %s", gpu->name, missing);
}

static void test_memory(void) {
    NEED_GPU();
    // nothing was freed before this test, so current bytes == peak and new allocations raise it
    const long n = 100003;
    double peak0 = gpu->peak_mem_mb();
    float* d = gpu->alloc((size_t)n * sizeof(float));
    float* h = dget(d, n);
    long nonzero = 0;
    for (long i = 0; i < n; i++) nonzero += h[i] != 0.f;
    CHECK(nonzero == 0, "alloc not zeroed: %ld nonzero", nonzero);
    float* x = hrand(n, 1, 1.f, 0.f);
    gpu->upload(d, x, (size_t)n * sizeof(float));
    float* d2 = gpu->alloc((size_t)n * sizeof(float));
    gpu->copy(d2, d, (size_t)n * sizeof(float));
    float* back = dget(d2, n);
    CHECK(cmp_bits("copy", back, x, n) == 0, "upload/copy/download round trip");
    gpu->zero(d2 + 5, 7 * sizeof(float));
    free(back);
    back = dget(d2, n);
    long wrong = 0;
    for (long i = 0; i < n; i++) wrong += (i >= 5 && i < 12) ? back[i] != 0.f : back[i] != x[i];
    CHECK(wrong == 0, "zero(5..12) changed %ld wrong elements", wrong);
    gpu->sync();
    CHECK(gpu->mem_available() > (size_t)n * sizeof(float), "mem_available %zu", gpu->mem_available());
    CHECK(gpu->peak_mem_mb() >= peak0 + 2.0 * n * sizeof(float) / 1048576.0 - 1e-9,
          "peak %.3f MB did not grow by the %.3f MB allocated", gpu->peak_mem_mb(), 2.0 * n * sizeof(float) / 1048576.0);
    gpu->free(d);
    gpu->free(d2);
    gpu->free(NULL);
    free(h); free(x); free(back);
}

// ---------------------------------------------------------------------------------------
// noise: bit-identical

static void test_philox_integers(void) {
    NEED_GPU();
    if (!strcmp(gpu->name, "cpu")) SKIP("FL_TEST_CUDA_AS_CPU: no device hook");
#ifdef FL_WITH_CUDA
    const long groups = 4099;
    uint32_t* got = fl_malloc((size_t)groups * 4 * sizeof(uint32_t));
    fl_cuda_philox_dump(got, groups, 0xdeadbeefu, 0x12345678u, 77u, 0x01000003u, 9u);
    long bad = 0;
    for (long g = 0; g < groups; g++) {
        fl_u32x4 c = {{(uint32_t)g, 77u, 0x01000003u, 9u}};
        fl_u32x4 r = fl_philox4x32_10(c, 0xdeadbeefu, 0x12345678u);
        for (int l = 0; l < 4; l++) bad += got[4 * g + l] != r.v[l];
    }
    CHECK(bad == 0, "%ld of %ld Philox integers differ", bad, groups * 4);
    free(got);
#endif
}

static void test_noise_axpy(void) {
    NEED_GPU();
    // z itself (x = 0, scale 1) against the host body, then x += scale z on random x; n is
    // not a multiple of 4 and `first` is not 0, so tails and offsets are exercised
    const long n = 10007;
    const uint64_t first = 4 * 1234;
    float* zero = fl_calloc((size_t)n, sizeof(float));
    float* d = dput(zero, n);
    gpu->noise_axpy(d, n, first, 1.0f, 11u, 22u, 5u, FL_STREAM_MEZO, 3u);
    float* got = dget(d, n);
    float* ref = fl_malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) ref[i] = fl_normal_at(11u, 22u, first + (uint64_t)i, 5u, FL_STREAM_MEZO, 3u);
    CHECK(cmp_bits("z", got, ref, n) == 0, "normals differ from the host body");
    float* x = hrand(n, 2, 1.f, 0.f);
    float* xc = hcopy(x, n);
    gpu->upload(d, x, (size_t)n * sizeof(float));
    gpu->noise_axpy(d, n, first, -0.37f, 11u, 22u, 5u, FL_STREAM_MEZO, 3u);
    cpu->noise_axpy(xc, n, first, -0.37f, 11u, 22u, 5u, FL_STREAM_MEZO, 3u);
    free(got);
    got = dget(d, n);
    CHECK(cmp_bits("x + scale z", got, xc, n) == 0, "noise_axpy differs from the CPU");
    gpu->free(d);
    free(zero); free(got); free(ref); free(x); free(xc);
}

// MeZO's fused updates from directions (dirs_adam, dirs_sgd, dirs_sumsq): bit-identical to
// the CPU (the noise file is compiled without contraction), n not a multiple of 32 or 4.
static void test_dirs_ops(void) {
    NEED_GPU();
    const long n = 10007;
    const uint64_t first = 4 * 99;
    const int K = 3;
    float sh[3] = {0.7f, -1.3f, 0.05f};
    float* s_d = dput(sh, K);
    float* p = hrand(n, 21, 0.5f, 0.f);
    float* m = hrand(n, 22, 0.01f, 0.f);
    float* v = hrand(n, 23, 0.01f, 0.f);
    for (long i = 0; i < n; i++) v[i] = fabsf(v[i]);
    float *pc = hcopy(p, n), *mc = hcopy(m, n), *vc = hcopy(v, n);
    float *pd = dput(p, n), *md = dput(m, n), *vd = dput(v, n);
    gpu->dirs_adam(pd, md, vd, n, first, K, s_d, 5u, 6u, FL_STREAM_MEZO, 9u, 0.8f, 1e-3f, 0.9f, 0.999f, 1e-8f,
                   0.1f, 0.001f, 0.01f);
    cpu->dirs_adam(pc, mc, vc, n, first, K, sh, 5u, 6u, FL_STREAM_MEZO, 9u, 0.8f, 1e-3f, 0.9f, 0.999f, 1e-8f,
                   0.1f, 0.001f, 0.01f);
    float* got = dget(pd, n);
    CHECK(cmp_bits("p after dirs_adam", got, pc, n) == 0, "dirs_adam differs from the CPU");
    free(got);
    gpu->dirs_sgd(pd, md, n, first, K, s_d, 5u, 6u, FL_STREAM_MEZO, 10u, 1.0f, 1e-2f, 0.9f, 0.0f);
    cpu->dirs_sgd(pc, mc, n, first, K, sh, 5u, 6u, FL_STREAM_MEZO, 10u, 1.0f, 1e-2f, 0.9f, 0.0f);
    got = dget(pd, n);
    CHECK(cmp_bits("p after dirs_sgd", got, pc, n) == 0, "dirs_sgd differs from the CPU");
    // the same sum of squares in another order of double additions: 1e-12 relative
    double a = gpu->dirs_sumsq(n, first, K, s_d, 5u, 6u, FL_STREAM_MEZO, 9u);
    double b = cpu->dirs_sumsq(n, first, K, sh, 5u, 6u, FL_STREAM_MEZO, 9u);
    CHECK(fabs(a - b) <= 1e-12 * b, "dirs_sumsq %.15g vs %.15g", a, b);
    gpu->free(s_d); gpu->free(pd); gpu->free(md); gpu->free(vd);
    free(got); free(p); free(m); free(v); free(pc); free(mc); free(vc);
}

// qcodes of Q queries: noise rows shuffled, negate bit on odd queries
static int32_t* make_qcode(int Q) {
    int32_t* q = fl_malloc((size_t)Q * sizeof(int32_t));
    for (int i = 0; i < Q; i++) q[i] = (int32_t)((((i * 7) % Q) << 1) | (i & 1));
    return q;
}

static void test_bias_noise(void) {
    NEED_GPU();
    const int Q = 7, T = 3, rows = Q * T, cols = 37;
    const long n = (long)rows * cols;
    int32_t* qc = make_qcode(Q);
    int32_t* qc_d = dputi(qc, Q);
    float* bias = hrand(cols, 3, 1.f, 0.f);
    float* sigma = hrand(cols, 4, 0.01f, 0.05f);
    for (int c = 0; c < cols; c++) sigma[c] = fabsf(sigma[c]) + 1e-3f;
    float* bias_d = dput(bias, cols);
    float* sigma_d = dput(sigma, cols);
    fl_noise nz_c = {.key0 = 3, .key1 = 4, .stream = 17, .step = 2, .qcode = qc, .tokens = T};
    fl_noise nz_g = nz_c;
    nz_g.qcode = qc_d;
    for (int mode = 0; mode < 3; mode++) {  // bias + noise, noise only, bias only
        float* y = hrand(n, 5 + mode, 1.f, 0.f);
        float* yc = hcopy(y, n);
        float* y_d = dput(y, n);
        const float* bc = mode == 1 ? NULL : bias;
        const float* bg = mode == 1 ? NULL : bias_d;
        cpu->bias_noise(yc, bc, sigma, mode == 2 ? NULL : &nz_c, rows, cols);
        gpu->bias_noise(y_d, bg, sigma_d, mode == 2 ? NULL : &nz_g, rows, cols);
        float* got = dget(y_d, n);
        CHECK(cmp_bits("y", got, yc, n) == 0, "bias_noise mode %d differs from the CPU", mode);
        gpu->free(y_d);
        free(y); free(yc); free(got);
    }
    gpu->free(qc_d); gpu->free(bias_d); gpu->free(sigma_d);
    free(qc); free(bias); free(sigma);
}

// G bit-identical; gs (a sum over rows) within 2 rows u sum |terms|.
static void lr_grad_case(int Q, int T, int cols, int with_gs) {
    const int rows = Q * T;
    const long n = (long)rows * cols;
    int32_t* qc = make_qcode(Q);
    int32_t* qc_d = dputi(qc, Q);
    float* coef = hrand(Q, 6, 0.3f, 0.f);
    float* sigma = hrand(cols, 7, 0.01f, 0.f);
    for (int c = 0; c < cols; c++) sigma[c] = fabsf(sigma[c]) + 1e-3f;
    float* coef_d = dput(coef, Q);
    float* sigma_d = dput(sigma, cols);
    fl_noise nz_c = {.key0 = 8, .key1 = 9, .stream = 33, .step = 1, .qcode = qc, .tokens = T};
    fl_noise nz_g = nz_c;
    nz_g.qcode = qc_d;
    float* G = hnan(n);
    float* G_d = dput(G, n);
    float* gs = hrand(cols, 10, 1.f, 0.f);
    float* gs_d = dput(gs, cols);
    double* tol = dvec(cols);
    for (int c = 0; c < cols; c++) tol[c] = fabs(gs[c]) * U;
    // host magnitudes of the gs terms, from the same body
    float* row = fl_malloc((size_t)cols * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += 4) {
            float t4[4];
            fl_body_lr_grad4(row, t4, coef, sigma, &nz_c, r, c0, cols);
            for (int l = 0; l < 4 && c0 + l < cols; l++) tol[c0 + l] += 2.0 * (rows + 2) * U * fabs(t4[l]);
        }
    cpu->lr_grad(G, with_gs ? gs : NULL, coef, sigma, &nz_c, rows, cols);
    gpu->lr_grad(G_d, with_gs ? gs_d : NULL, coef_d, sigma_d, &nz_g, rows, cols);
    float* G_got = dget(G_d, n);
    float* gs_got = dget(gs_d, cols);
    CHECK(cmp_bits("G", G_got, G, n) == 0, "lr_grad G (Q %d, T %d, cols %d) differs from the CPU", Q, T, cols);
    CHECK(cmp_tol("gs", gs_got, gs, tol, cols) == 0, "lr_grad gs (rows %d, cols %d)", rows, cols);
    gpu->free(qc_d); gpu->free(coef_d); gpu->free(sigma_d); gpu->free(G_d); gpu->free(gs_d);
    free(qc); free(coef); free(sigma); free(G); free(gs); free(tol); free(row); free(G_got); free(gs_got);
}

static void test_lr_grad(void) {
    NEED_GPU();
    lr_grad_case(129, 5, 75, 1);
    lr_grad_case(4001, 3, 9, 1);  // many rows: several row chunks in the gs reduction
    lr_grad_case(13, 1, 6, 0);    // gs NULL
}

// bias_noise_set: y = bias + sign sigma eps with y's old value ignored (y poisoned with NaN,
// so an element that reads it or is not written fails); bit-identical like bias_noise.
static void test_bias_noise_set(void) {
    NEED_GPU();
    const int Q = 7, T = 3, rows = Q * T, cols = 37;
    const long n = (long)rows * cols;
    int32_t* qc = make_qcode(Q);
    int32_t* qc_d = dputi(qc, Q);
    float* bias = hrand(cols, 3, 1.f, 0.f);
    float* sigma = hrand(cols, 4, 0.01f, 0.05f);
    for (int c = 0; c < cols; c++) sigma[c] = fabsf(sigma[c]) + 1e-3f;
    float* bias_d = dput(bias, cols);
    float* sigma_d = dput(sigma, cols);
    fl_noise nz_c = {.key0 = 3, .key1 = 4, .stream = 17, .step = 2, .qcode = qc, .tokens = T};
    fl_noise nz_g = nz_c;
    nz_g.qcode = qc_d;
    for (int mode = 0; mode < 4; mode++) {  // bias + noise, noise only, bias only, neither (zeros)
        float* yc = hnan(n);
        float* y_d = dput(yc, n);
        int with_bias = mode == 0 || mode == 2, with_noise = mode < 2;
        cpu->bias_noise_set(yc, with_bias ? bias : NULL, sigma, with_noise ? &nz_c : NULL, rows, cols);
        gpu->bias_noise_set(y_d, with_bias ? bias_d : NULL, sigma_d, with_noise ? &nz_g : NULL, rows, cols);
        float* got = dget(y_d, n);
        CHECK(cmp_bits("y", got, yc, n) == 0, "bias_noise_set mode %d differs from the CPU", mode);
        long nonfinite = 0;
        for (long i = 0; i < n; i++) nonfinite += !isfinite(yc[i]);
        CHECK(nonfinite == 0, "bias_noise_set mode %d left %ld NaN of the old y on the CPU", mode, nonfinite);
        gpu->free(y_d);
        free(yc); free(got);
    }
    gpu->free(qc_d); gpu->free(bias_d); gpu->free(sigma_d);
    free(qc); free(bias); free(sigma);
}

// Units for the LR gradient by units: `units` units, unit u a pair when pair_of(u), else a
// lone query. Each unit gets its own noise row (in reverse order); a pair's two queries share it and
// differ in the negate bit (which one is negated alternates), a lone query's negate bit
// alternates too. Fills qcode (Q) and uoff (units + 1); returns Q.
static int pair_of(int u) { return u % 3 != 1; }  // pair, lone, pair, pair, lone, pair, ...
static int make_units(int units, int32_t* qcode, int32_t* uoff) {
    int Q = 0;
    uoff[0] = 0;
    for (int u = 0; u < units; u++) {
        int32_t row = (int32_t)(units - 1 - u);
        if (pair_of(u)) {
            qcode[Q++] = (row << 1) | (u & 1);
            qcode[Q++] = (row << 1) | !(u & 1);
        } else {
            qcode[Q++] = (row << 1) | ((u >> 1) & 1);
        }
        uoff[u + 1] = Q;
    }
    return Q;
}

// E bit-identical (the same body, compiled without contraction on both sides). gb and gs are
// sums over the units*T unit-rows of terms that are bit-identical on both sides (computed by
// fl_elem_lr_unit from the same weights and normals), added in another order (per OpenMP
// thread then thread order on the CPU, per row chunk then chunk order on the GPU) onto their
// old value: each side is within gamma_{n+1} (|old| + sum |terms|) of the exact sum, n the
// unit-rows, so they differ by at most 2 (n + 2) u (|old| + sum |terms|).
static void lr_unit_noise_case(int units, int T, int cols, int with_gb, int with_gs) {
    int32_t* qc = fl_malloc((size_t)2 * units * sizeof(int32_t));
    int32_t* uoff = fl_malloc((size_t)(units + 1) * sizeof(int32_t));
    int Q = make_units(units, qc, uoff);
    const int urows = units * T;
    const long n = (long)urows * cols;
    int32_t* qc_d = dputi(qc, Q);
    int32_t* uoff_d = dputi(uoff, units + 1);
    float* coef = hrand(Q, 40, 0.3f, 0.f);
    float* sigma = hrand(cols, 41, 0.01f, 0.f);
    for (int c = 0; c < cols; c++) sigma[c] = fabsf(sigma[c]) + 1e-3f;
    float* coef_d = dput(coef, Q);
    float* sigma_d = dput(sigma, cols);
    fl_noise nz_c = {.key0 = 12, .key1 = 13, .stream = 35, .step = 4, .qcode = qc, .tokens = T};
    fl_noise nz_g = nz_c;
    nz_g.qcode = qc_d;
    float* E = hnan(n);
    float* E_d = dput(E, n);
    float* gb = hrand(cols, 42, 1.f, 0.f);
    float* gs = hrand(cols, 43, 1.f, 0.f);
    float* gb_d = dput(gb, cols);
    float* gs_d = dput(gs, cols);
    // host magnitudes of the gb and gs terms, from the same bodies
    double* mag_b = dvec(cols);
    double* mag_s = dvec(cols);
    for (int c = 0; c < cols; c++) { mag_b[c] = fabs(gb[c]); mag_s[c] = fabs(gs[c]); }
    float* row = fl_malloc((size_t)cols * sizeof(float));
    for (int u = 0; u < units; u++)
        for (int t = 0; t < T; t++) {
            float wsum, asum;
            uint32_t prow = fl_lr_unit_weights(&nz_c, coef, uoff, u, t, &wsum, &asum);
            for (int c0 = 0; c0 < cols; c0 += 4) {
                float b4[4], s4[4];
                fl_body_lr_unit4(row, b4, s4, wsum, asum, prow, sigma, &nz_c, c0, cols);
                for (int l = 0; l < 4 && c0 + l < cols; l++) { mag_b[c0 + l] += fabs(b4[l]); mag_s[c0 + l] += fabs(s4[l]); }
            }
        }
    double* tol_b = dvec(cols);
    double* tol_s = dvec(cols);
    for (int c = 0; c < cols; c++) {
        tol_b[c] = 2.0 * (urows + 2) * U * mag_b[c];
        tol_s[c] = 2.0 * (urows + 2) * U * mag_s[c];
    }
    float* gb0 = hcopy(gb, cols);
    float* gs0 = hcopy(gs, cols);
    cpu->lr_unit_noise(E, with_gb ? gb : NULL, with_gs ? gs : NULL, coef, sigma, &nz_c, uoff, units, cols);
    gpu->lr_unit_noise(E_d, with_gb ? gb_d : NULL, with_gs ? gs_d : NULL, coef_d, sigma_d, &nz_g, uoff_d, units,
                       cols);
    float* E_got = dget(E_d, n);
    float* gb_got = dget(gb_d, cols);
    float* gs_got = dget(gs_d, cols);
    CHECK(cmp_bits("E", E_got, E, n) == 0, "lr_unit_noise E (units %d, T %d, cols %d) differs from the CPU", units, T,
          cols);
    CHECK(cmp_tol("gb", gb_got, gb, tol_b, cols) == 0, "lr_unit_noise gb (units %d, T %d, cols %d)", units, T, cols);
    CHECK(cmp_tol("gs", gs_got, gs, tol_s, cols) == 0, "lr_unit_noise gs (units %d, T %d, cols %d)", units, T, cols);
    // a NULL accumulator is left alone on both sides
    if (!with_gb) CHECK(cmp_bits("gb untouched", gb_got, gb0, cols) == 0 && cmp_bits("gb cpu", gb, gb0, cols) == 0,
                        "lr_unit_noise wrote gb = NULL's buffer");
    if (!with_gs) CHECK(cmp_bits("gs untouched", gs_got, gs0, cols) == 0 && cmp_bits("gs cpu", gs, gs0, cols) == 0,
                        "lr_unit_noise wrote gs = NULL's buffer");
    gpu->free(qc_d); gpu->free(uoff_d); gpu->free(coef_d); gpu->free(sigma_d); gpu->free(E_d); gpu->free(gb_d);
    gpu->free(gs_d);
    free(qc); free(uoff); free(coef); free(sigma); free(E); free(gb); free(gs); free(mag_b); free(mag_s); free(row);
    free(tol_b); free(tol_s); free(gb0); free(gs0); free(E_got); free(gb_got); free(gs_got);
}

static void test_lr_unit_noise(void) {
    NEED_GPU();
    // cols 75: two full blocks of 32 on the CPU and a tail of 11 (2 groups of 4 and one of 3)
    lr_unit_noise_case(11, 3, 75, 1, 1);
    lr_unit_noise_case(1501, 2, 9, 1, 1);  // many unit-rows: several row chunks in the reduction
    lr_unit_noise_case(5, 4, 37, 1, 0);    // gs NULL
    lr_unit_noise_case(4, 1, 6, 0, 1);     // gb NULL, one token
}

// Xf = sum over the unit's queries of coef sign x: one product for a lone query, a product
// plus a product for a pair, in query order on both sides. A sum of k products rounded k
// times is within gamma_k sum |coef x| of the exact value on each side, so the two differ by
// at most 2 k u sum |coef x| (k <= 2). The GPU kernel adds in the CPU's order without
// multiply-add, so in practice the results are equal.
static void lr_unit_fold_case(int units, int T, long din) {
    int32_t* qc = fl_malloc((size_t)2 * units * sizeof(int32_t));
    int32_t* uoff = fl_malloc((size_t)(units + 1) * sizeof(int32_t));
    int Q = make_units(units, qc, uoff);
    const long nx = (long)Q * T * din, nf = (long)units * T * din;
    int32_t* qc_d = dputi(qc, Q);
    int32_t* uoff_d = dputi(uoff, units + 1);
    float* coef = hrand(Q, 50, 0.3f, 0.f);
    float* coef_d = dput(coef, Q);
    float* X = hrand(nx, 51, 1.f, 0.f);
    float* X_d = dput(X, nx);
    fl_noise nz_c = {.key0 = 14, .key1 = 15, .stream = 36, .step = 5, .qcode = qc, .tokens = T};
    fl_noise nz_g = nz_c;
    nz_g.qcode = qc_d;
    float* Xf = hnan(nf);
    float* Xf_d = dput(Xf, nf);
    double* tol = dvec(nf);
    for (int u = 0; u < units; u++) {
        int k = uoff[u + 1] - uoff[u];
        for (int q = uoff[u]; q < uoff[u + 1]; q++)
            for (int t = 0; t < T; t++)
                for (long c = 0; c < din; c++)
                    tol[((long)u * T + t) * din + c] += 2.0 * k * U * fabs((double)coef[q] * X[((long)q * T + t) * din + c]);
    }
    cpu->lr_unit_fold(Xf, X, coef, &nz_c, uoff, units, din);
    gpu->lr_unit_fold(Xf_d, X_d, coef_d, &nz_g, uoff_d, units, din);
    float* got = dget(Xf_d, nf);
    CHECK(cmp_tol("Xf", got, Xf, tol, nf) == 0, "lr_unit_fold (units %d, T %d, din %ld)", units, T, din);
    // the signs matter: a pair's Xf is coef_a x_a - coef_b x_b (one of the two is negated)
    double a = Xf[0], b = (double)coef[0] * X[0] - (double)coef[1] * X[(long)T * din];
    if (qc[0] & 1) b = -b;
    CHECK(fabs(a - b) <= 4 * U * (fabs(coef[0] * X[0]) + fabs(coef[1] * X[(long)T * din])),
          "Xf[0] %.9g, expected coef sign x summed over the first pair: %.9g", a, b);
    gpu->free(qc_d); gpu->free(uoff_d); gpu->free(coef_d); gpu->free(X_d); gpu->free(Xf_d);
    free(qc); free(uoff); free(coef); free(X); free(Xf); free(tol); free(got);
}

static void test_lr_unit_fold(void) {
    NEED_GPU();
    lr_unit_fold_case(7, 3, 37);   // din not a multiple of 4: a partial group per row
    lr_unit_fold_case(10, 1, 64);
    lr_unit_fold_case(2, 5, 3);    // din below one group
}

// ---------------------------------------------------------------------------------------
// GEMM

// One gemm case against the CPU; C has ldc > N with its padding checked untouched.
static void gemm_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int tf32) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
    float* A = hrand(na, 20, 1.f, 0.f);
    float* B = hrand(nb, 21, 1.f, 0.f);
    float* C = beta == 0.f ? hnan(nc) : hrand(nc, 22, 1.f, 0.f);
    for (long i = 0; i < nc; i++) if (i % ldc >= N) C[i] = 12345.f;  // padding sentinel
    float* Cc = hcopy(C, nc);
    if (beta == 0.f) for (long i = 0; i < nc; i++) if (i % ldc < N) Cc[i] = 0.f;  // CPU ref needs no NaN
    float *A_d = dput(A, na), *B_d = dput(B, nb), *C_d = dput(C, nc);
    double* tol = dvec(nc);
    // |fl(AB) - AB| <= gamma |A||B|: gamma = K u (fp32), or 2^-9 + K u with both inputs
    // cut to TF32's 10-bit mantissa (2^-10 each, if truncated); doubled since both sides round
    double gamma = tf32 ? 1.0 / 512 + (K + 2) * U : (K + 2) * U;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            if (j >= N) { tol[(long)i * ldc + j] = 0.0; continue; }
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                float b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += fabs((double)a * b);
            }
            double c = beta == 0.f ? 0.0 : fabs((double)beta * C[(long)i * ldc + j]);
            tol[(long)i * ldc + j] = 2.0 * gamma * (fabs(alpha) * s + c) + 2.0 * U * c + 1e-30;
        }
    cpu->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cc, ldc);
    fl_cuda_set_math(tf32);
    gpu->gemm(ta, tb, M, N, K, alpha, A_d, lda, B_d, ldb, beta, C_d, ldc);
    fl_cuda_set_math(0);
    float* got = dget(C_d, nc);
    CHECK(cmp_tol("C", got, Cc, tol, nc) == 0, "gemm ta %d tb %d M %d N %d K %d beta %g tf32 %d", ta, tb, M, N, K,
          (double)beta, tf32);
    gpu->free(A_d); gpu->free(B_d); gpu->free(C_d);
    free(A); free(B); free(C); free(Cc); free(tol); free(got);
}

static void test_gemm(void) {
    NEED_GPU();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(ta, tb, 37, 29, 53, 0.7f, -0.4f, 0);
            gemm_case(ta, tb, 5, 67, 131, -1.3f, 0.f, 0);  // beta 0: C is NaN before, never read
        }
    gemm_case(0, 1, 9, 11, 0, 1.f, 0.5f, 0);  // K = 0: C = beta C
    gemm_case(0, 1, 9, 11, 0, 1.f, 0.f, 0);
    gemm_case(0, 0, 0, 11, 5, 1.f, 0.f, 0);   // M = 0: nothing
}

static void test_gemm_tf32(void) {
    NEED_GPU();
    gemm_case(0, 1, 257, 129, 263, 1.f, 0.f, 1);
    gemm_case(1, 0, 130, 67, 255, 0.5f, 1.f, 1);
    gemm_case(0, 1, 37, 29, 53, 0.7f, -0.4f, 0);  // and back to fp32 accuracy
}

static void test_gemm_strided(void) {
    NEED_GPU();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int M = 19, N = 23, K = 31, batch = 5;
            int lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
            long sA = (long)(ta ? K : M) * lda + 7, sB = (long)(tb ? N : K) * ldb + 5, sC = (long)M * ldc + 11;
            long na = sA * batch, nb = sB * batch, nc = sC * batch;
            float* A = hrand(na, 30, 1.f, 0.f);
            float* B = hrand(nb, 31, 1.f, 0.f);
            float* C = hrand(nc, 32, 1.f, 0.f);
            float* Cc = hcopy(C, nc);
            float *A_d = dput(A, na), *B_d = dput(B, nb), *C_d = dput(C, nc);
            cpu->gemm_strided(ta, tb, M, N, K, 0.9f, A, lda, sA, B, ldb, sB, 0.3f, Cc, ldc, sC, batch);
            gpu->gemm_strided(ta, tb, M, N, K, 0.9f, A_d, lda, sA, B_d, ldb, sB, 0.3f, C_d, ldc, sC, batch);
            float* got = dget(C_d, nc);
            double* tol = dvec(nc);
            for (long i = 0; i < nc; i++) {
                long b = i / sC, o = i - b * sC;
                int inside = o < (long)M * ldc && o % ldc < N;
                // entries of C: |a||b| <= about 4.5 per term for normal inputs, K terms
                tol[i] = inside ? 2.0 * (K + 2) * U * (0.9 * 4.5 * 4.5 * K + 0.3 * fabs(C[i])) + 2 * U * fabs(C[i]) : 0.0;
            }
            CHECK(cmp_tol("C", got, Cc, tol, nc) == 0, "gemm_strided ta %d tb %d", ta, tb);
            gpu->free(A_d); gpu->free(B_d); gpu->free(C_d);
            free(A); free(B); free(C); free(Cc); free(got); free(tol);
        }
}

// ---------------------------------------------------------------------------------------
// data movement: exact

static void test_gather_segment(void) {
    NEED_GPU();
    const int src_rows = 11, rows = 17;
    int32_t idx[17];
    for (int r = 0; r < rows; r++) idx[r] = (r * 5 + 3) % src_rows;  // repeats
    int32_t* idx_d = dputi(idx, rows);
    for (int pass = 0; pass < 2; pass++) {
        long cols = pass ? 16 : 13;  // 16: the four-at-a-time path
        float* src = hrand(src_rows * cols, 40, 1.f, 0.f);
        float* src_d = dput(src, src_rows * cols);
        float* dst = hnan(rows * cols);
        float* dst_d = dput(dst, rows * cols);
        cpu->gather_rows(dst, src, idx, rows, cols);
        gpu->gather_rows(dst_d, src_d, idx, 0, cols);  // rows 0: nothing, and idx is not read
        gpu->gather_rows(dst_d, src_d, idx_d, rows, cols);
        float* got = dget(dst_d, rows * cols);
        CHECK(cmp_bits("gather", got, dst, rows * cols) == 0, "gather_rows cols %ld", cols);
        // gather_add_rows: dst += src[idx]
        float* acc = hrand(rows * cols, 41, 1.f, 0.f);
        float* acc_d = dput(acc, rows * cols);
        cpu->gather_add_rows(acc, src, idx, rows, cols);
        gpu->gather_add_rows(acc_d, src_d, idx_d, rows, cols);
        float* got2 = dget(acc_d, rows * cols);
        CHECK(cmp_bits("gather_add", got2, acc, rows * cols) == 0, "gather_add_rows cols %ld", cols);
        gpu->free(src_d); gpu->free(dst_d); gpu->free(acc_d);
        free(src); free(dst); free(got); free(acc); free(got2);
    }
    gpu->free(idx_d);
    // segment_sum: rows added in order on both sides, so exact; one segment is empty
    const int segs = 6;
    int32_t off[7] = {0, 3, 3, 10, 11, 20, 29};
    const long cols = 37;
    int32_t* off_d = dputi(off, segs + 1);
    float* src = hrand(29 * cols, 42, 1.f, 0.f);
    float* src_d = dput(src, 29 * cols);
    float* dst = hnan(segs * cols);
    float* dst_d = dput(dst, segs * cols);
    cpu->segment_sum(dst, src, off, segs, cols);
    gpu->segment_sum(dst_d, src_d, off_d, segs, cols);
    float* got = dget(dst_d, segs * cols);
    CHECK(cmp_bits("segment_sum", got, dst, segs * cols) == 0, "segment_sum");
    gpu->free(off_d); gpu->free(src_d); gpu->free(dst_d);
    free(src); free(dst); free(got);
}

// ---------------------------------------------------------------------------------------
// element-wise

static void test_elementwise(void) {
    NEED_GPU();
    const long n = 10001;
    float* x = hrand(n, 50, 3.f, 0.f);
    float* dy = hrand(n, 51, 1.f, 0.f);
    float *x_d = dput(x, n), *dy_d = dput(dy, n);
    double* tol = dvec(n);
    float* out = hnan(n);
    float* out_d = dput(out, n);
    float* got;
#define EW_CASE(label, cpu_call, gpu_call, tol_expr)                          \
    do {                                                                    \
        for (long i = 0; i < n; i++) out[i] = NAN;                          \
        gpu->upload(out_d, out, (size_t)n * sizeof(float));                 \
        cpu_call;                                                           \
        gpu_call;                                                           \
        got = dget(out_d, n);                                               \
        for (long i = 0; i < n; i++) tol[i] = (tol_expr);                   \
        CHECK(cmp_tol(label, got, out, tol, n) == 0, "%s", label);          \
        free(got);                                                          \
    } while (0)
    // expf: at most 2 ulp on the GPU, 1 in glibc (an ulp is up to 2u relative)
    EW_CASE("exp", cpu->exp(out, x, n), gpu->exp(out_d, x_d, n), 16 * U * fabs(out[i]));
    EW_CASE("relu", cpu->relu(out, x, n), gpu->relu(out_d, x_d, n), 0.0);
    EW_CASE("relu_bwd", cpu->relu_bwd(out, dy, x, n), gpu->relu_bwd(out_d, dy_d, x_d, n), 0.0);
    // erff: at most 2 ulp of a value in (-1, 1) on both sides, times 0.5 |x|, plus rounding
    EW_CASE("gelu", cpu->gelu(out, x, n), gpu->gelu(out_d, x_d, n), 16 * U * (fabs(x[i]) + fabs(out[i])));
    EW_CASE("gelu_bwd", cpu->gelu_bwd(out, dy, x, n), gpu->gelu_bwd(out_d, dy_d, x_d, n),
            16 * U * fabs(dy[i]) * (1.0 + x[i] * x[i]));
    // in place: scale (one product: exact) and axpy (one multiply-add: the GPU may fuse it)
    memcpy(out, x, (size_t)n * sizeof(float));
    gpu->upload(out_d, x, (size_t)n * sizeof(float));
    cpu->scale(out, -0.3f, n);
    gpu->scale(out_d, -0.3f, n);
    got = dget(out_d, n);
    CHECK(cmp_bits("scale", got, out, n) == 0, "scale");
    free(got);
    cpu->axpy(out, 0.7f, dy, n);
    gpu->axpy(out_d, 0.7f, dy_d, n);
    got = dget(out_d, n);
    for (long i = 0; i < n; i++) tol[i] = 2 * U * (fabs(out[i]) + 0.7 * fabs(dy[i]));
    CHECK(cmp_tol("axpy", got, out, tol, n) == 0, "axpy");
    free(got);
    gpu->free(x_d); gpu->free(dy_d); gpu->free(out_d);
    free(x); free(dy); free(tol); free(out);
}

// ---------------------------------------------------------------------------------------
// row-wise

static void layernorm_case(int rows, int C) {
    long n = (long)rows * C;
    float* x = hrand(n, 60, 2.f, 3.f);
    float* w = hrand(C, 61, 1.f, 0.f);
    float* b = hrand(C, 62, 1.f, 0.f);
    float *y = hnan(n), *mean = hnan(rows), *rstd = hnan(rows);
    float *x_d = dput(x, n), *w_d = dput(w, C), *b_d = dput(b, C), *y_d = dput(y, n);
    float *mean_d = dput(mean, rows), *rstd_d = dput(rstd, rows);
    cpu->layernorm(y, mean, rstd, x, w, b, rows, C, 1e-6f);
    gpu->layernorm(y_d, mean_d, rstd_d, x_d, w_d, b_d, rows, C, 1e-6f);
    float *yg = dget(y_d, n), *mg = dget(mean_d, rows), *rg = dget(rstd_d, rows);
    // mean and variance are sums of C terms: relative error about C u each (x has mean 3,
    // so |x| <= about 3 + 9): tolerances from those bounds carried through
    double* tol = dvec(n);
    double* tolr = dvec(rows);
    for (int r = 0; r < rows; r++) tolr[r] = 4.0 * (C + 4) * U * (fabs(mean[r]) + 12.0);
    CHECK(cmp_tol("mean", mg, mean, tolr, rows) == 0, "layernorm mean rows %d C %d", rows, C);
    for (int r = 0; r < rows; r++) tolr[r] = 4.0 * (C + 4) * U * fabs(rstd[r]) * 12.0;
    CHECK(cmp_tol("rstd", rg, rstd, tolr, rows) == 0, "layernorm rstd");
    for (long i = 0; i < n; i++) {
        int r = (int)(i / C), c = (int)(i % C);
        tol[i] = 8.0 * (C + 4) * U * (fabs(w[c]) * (fabs(x[i]) + fabs(mean[r])) * rstd[r] * 12.0 + fabs(b[c]));
    }
    CHECK(cmp_tol("y", yg, y, tol, n) == 0, "layernorm y rows %d C %d", rows, C);
    // backward: dx (overwritten), dw and db (accumulated)
    float* dy = hrand(n, 63, 1.f, 0.f);
    float *dx = hnan(n), *dw = hrand(C, 64, 1.f, 0.f), *db = hrand(C, 65, 1.f, 0.f);
    float *dy_d = dput(dy, n), *dx_d = dput(dx, n), *dw_d = dput(dw, C), *db_d = dput(db, C);
    double* tolw = dvec(C);
    double* tolb = dvec(C);
    for (int c = 0; c < C; c++) { tolw[c] = 2 * U * fabs(dw[c]); tolb[c] = 2 * U * fabs(db[c]); }
    for (long i = 0; i < n; i++) {
        int r = (int)(i / C), c = (int)(i % C);
        double xh = fabs(((double)x[i] - mean[r]) * rstd[r]);
        tolw[c] += 4.0 * (rows + 4) * U * fabs(dy[i]) * (xh + 1.0);
        tolb[c] += 4.0 * (rows + 4) * U * fabs(dy[i]);
    }
    // dx = rstd (g - mean g - xhat mean(g xhat)) with g = dy w: the two row means carry C u
    double* sg = dvec(rows);
    for (long i = 0; i < n; i++) {
        int r = (int)(i / C), c = (int)(i % C);
        sg[r] += fabs((double)dy[i] * w[c]) * (1.0 + fabs(((double)x[i] - mean[r]) * rstd[r]));
    }
    for (long i = 0; i < n; i++) {
        int r = (int)(i / C), c = (int)(i % C);
        double xh = fabs(((double)x[i] - mean[r]) * rstd[r]);
        tol[i] = 8.0 * (C + 4) * U * rstd[r] * (fabs((double)dy[i] * w[c]) + (1.0 + xh) * sg[r] / C) * 12.0;
    }
    cpu->layernorm_bwd(dx, dw, db, dy, x, mean, rstd, w, rows, C);
    gpu->layernorm_bwd(dx_d, dw_d, db_d, dy_d, x_d, mean_d, rstd_d, w_d, rows, C);
    float *dxg = dget(dx_d, n), *dwg = dget(dw_d, C), *dbg = dget(db_d, C);
    CHECK(cmp_tol("dx", dxg, dx, tol, n) == 0, "layernorm_bwd dx rows %d C %d", rows, C);
    CHECK(cmp_tol("dw", dwg, dw, tolw, C) == 0, "layernorm_bwd dw");
    CHECK(cmp_tol("db", dbg, db, tolb, C) == 0, "layernorm_bwd db");
    gpu->free(x_d); gpu->free(w_d); gpu->free(b_d); gpu->free(y_d); gpu->free(mean_d); gpu->free(rstd_d);
    gpu->free(dy_d); gpu->free(dx_d); gpu->free(dw_d); gpu->free(db_d);
    free(x); free(w); free(b); free(y); free(mean); free(rstd); free(yg); free(mg); free(rg); free(tol); free(tolr);
    free(dy); free(dx); free(dw); free(db); free(tolw); free(tolb); free(sg); free(dxg); free(dwg); free(dbg);
}

static void test_layernorm(void) {
    NEED_GPU();
    layernorm_case(37, 771);
    layernorm_case(3001, 5);  // narrow rows, many row chunks in dw/db
}

static void softmax_case(int rows, int C, float scale) {
    long n = (long)rows * C;
    float* x = hrand(n, 70, 3.f, 0.f);
    float* y = hnan(n);
    float *x_d = dput(x, n), *y_d = dput(y, n);
    cpu->softmax(y, x, rows, C, scale);
    gpu->softmax(y_d, x_d, rows, C, scale);
    float* got = dget(y_d, n);
    // each y: one expf (2 ulp) over a sum of C terms (C u relative); the GPU may fuse
    // scale * x - max, which moves the exponent by up to u |scale x|
    double* tol = dvec(n);
    for (long i = 0; i < n; i++) tol[i] = ((2.0 * C + 16) * U + 4 * U * fabs(scale * x[i])) * fabs(y[i]) + 1e-37;
    CHECK(cmp_tol("y", got, y, tol, n) == 0, "softmax rows %d C %d", rows, C);
    // in place
    gpu->softmax(x_d, x_d, rows, C, scale);
    free(got);
    got = dget(x_d, n);
    CHECK(cmp_tol("y in place", got, y, tol, n) == 0, "softmax in place");
    // backward
    float* dy = hrand(n, 71, 1.f, 0.f);
    float* dx = hnan(n);
    float *dy_d = dput(dy, n), *dx_d = dput(dx, n);
    cpu->softmax_bwd(dx, dy, y, rows, C, scale);
    gpu->upload(y_d, y, (size_t)n * sizeof(float));  // the same y on both sides
    gpu->softmax_bwd(dx_d, dy_d, y_d, rows, C, scale);
    free(got);
    got = dget(dx_d, n);
    double* sdy = dvec(rows);
    for (long i = 0; i < n; i++) sdy[i / C] += fabs((double)dy[i] * y[i]);
    for (long i = 0; i < n; i++) tol[i] = (2.0 * C + 16) * U * fabs(scale) * fabs(y[i]) * (fabs(dy[i]) + sdy[i / C]) + 1e-37;
    CHECK(cmp_tol("dx", got, dx, tol, n) == 0, "softmax_bwd rows %d C %d", rows, C);
    gpu->free(x_d); gpu->free(y_d); gpu->free(dy_d); gpu->free(dx_d);
    free(x); free(y); free(got); free(tol); free(dy); free(dx); free(sdy);
}

static void test_softmax(void) {
    NEED_GPU();
    softmax_case(57, 197, 0.125f);
    softmax_case(5, 1031, 1.0f);
    softmax_case(301, 3, 2.0f);
}

static void xent_case(int rows, int C) {
    long n = (long)rows * C;
    float* logits = hrand(n, 80, 2.f, 0.f);
    int32_t* labels = fl_malloc((size_t)rows * sizeof(int32_t));
    for (int r = 0; r < rows; r++) labels[r] = (r * 13 + 1) % C;
    float* dscale = hrand(rows, 81, 1.f, 0.f);
    float *loss = hnan(rows), *dl = hnan(n);
    int32_t* am = fl_malloc((size_t)rows * sizeof(int32_t));
    int32_t* am_got = fl_malloc((size_t)rows * sizeof(int32_t));
    for (int r = 0; r < rows; r++) am[r] = am_got[r] = -7;
    float *l_d = dput(logits, n), *ds_d = dput(dscale, rows), *loss_d = dput(loss, rows), *dl_d = dput(dl, n);
    int32_t *lab_d = dputi(labels, rows), *am_d = dputi(am, rows);
    cpu->xent(loss, am, dl, logits, labels, dscale, rows, C);
    gpu->xent(loss_d, am_d, dl_d, l_d, lab_d, ds_d, rows, C);
    float *lg = dget(loss_d, rows), *dlg = dget(dl_d, n);
    gpu->download(am_got, am_d, (size_t)rows * sizeof(int32_t));
    double* tol = dvec(n);
    // loss = max + log(sum of C exps) - logit: the sum carries C u, logf and expf 2 ulp
    for (int r = 0; r < rows; r++) tol[r] = (2.0 * C + 16) * U * (1.0 + 2 * fabs(loss[r]) + 12.0);
    CHECK(cmp_tol("loss", lg, loss, tol, rows) == 0, "xent loss rows %d C %d", rows, C);
    long am_bad = 0;
    for (int r = 0; r < rows; r++) am_bad += am_got[r] != am[r];
    CHECK(am_bad == 0, "xent argmax: %ld rows differ", am_bad);
    for (long i = 0; i < n; i++) tol[i] = (2.0 * C + 16) * U * fabs(dscale[i / C]) * 2.0 + 1e-37;
    CHECK(cmp_tol("dlogits", dlg, dl, tol, n) == 0, "xent dlogits rows %d C %d", rows, C);
    // nullable outputs and dscale: loss only
    for (int r = 0; r < rows; r++) loss[r] = NAN;
    gpu->upload(loss_d, loss, (size_t)rows * sizeof(float));
    cpu->xent(loss, NULL, NULL, logits, labels, NULL, rows, C);
    gpu->xent(loss_d, NULL, NULL, l_d, lab_d, NULL, rows, C);
    free(lg);
    lg = dget(loss_d, rows);
    for (int r = 0; r < rows; r++) tol[r] = (2.0 * C + 16) * U * (1.0 + 2 * fabs(loss[r]) + 12.0);
    CHECK(cmp_tol("loss only", lg, loss, tol, rows) == 0, "xent loss only");
    gpu->free(l_d); gpu->free(ds_d); gpu->free(loss_d); gpu->free(dl_d); gpu->free(lab_d); gpu->free(am_d);
    free(logits); free(labels); free(dscale); free(loss); free(dl); free(am); free(am_got); free(lg); free(dlg); free(tol);
}

static void test_xent(void) {
    NEED_GPU();
    xent_case(67, 10);
    xent_case(9, 1000);
    xent_case(101, 37);
}

static void test_col_sum_row_sumsq(void) {
    NEED_GPU();
    const int rows = 5003, C = 37;
    long n = (long)rows * C;
    float* x = hrand(n, 90, 1.f, 0.f);
    float* x_d = dput(x, n);
    double* sabs = dvec(C);
    for (long i = 0; i < n; i++) sabs[i % C] += fabs(x[i]);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 0.5f : 0.f;
        float* dst = pass ? hrand(C, 91, 1.f, 0.f) : hnan(C);
        float* dst_d = dput(dst, C);
        double* tol = dvec(C);
        for (int c = 0; c < C; c++) tol[c] = 2.0 * (rows + 2) * U * sabs[c] + (pass ? 2 * U * fabs(dst[c]) : 0.0);
        cpu->col_sum(dst, x, rows, C, beta);
        gpu->col_sum(dst_d, x_d, rows, C, beta);
        float* got = dget(dst_d, C);
        CHECK(cmp_tol("col_sum", got, dst, tol, C) == 0, "col_sum beta %g", (double)beta);
        gpu->free(dst_d);
        free(dst); free(got); free(tol);
    }
    // row_sumsq
    const int R = 101, W = 777;
    float* y = hrand((long)R * W, 92, 1.f, 0.f);
    float* y_d = dput(y, (long)R * W);
    float* out = hnan(R);
    float* out_d = dput(out, R);
    cpu->row_sumsq(out, y, R, W);
    gpu->row_sumsq(out_d, y_d, R, W);
    float* got = dget(out_d, R);
    double* tol = dvec(R);
    for (int r = 0; r < R; r++) tol[r] = 2.0 * (W + 2) * U * out[r];
    CHECK(cmp_tol("row_sumsq", got, out, tol, R) == 0, "row_sumsq");
    gpu->free(x_d); gpu->free(y_d); gpu->free(out_d);
    free(x); free(sabs); free(y); free(out); free(got); free(tol);
}

static void test_dot(void) {
    NEED_GPU();
    const long n = 100003;
    float* x = hrand(n, 100, 1.f, 0.f);
    float* y = hrand(n, 101, 1.f, 0.5f);
    float *x_d = dput(x, n), *y_d = dput(y, n);
    double ref = cpu->dot(x, y, n), got = gpu->dot(x_d, y_d, n);
    double s = 0.0;
    for (long i = 0; i < n; i++) s += fabs((double)x[i] * y[i]);
    // products are exact in double; the sums carry n 2^-53 on each side
    CHECK(fabs(got - ref) <= 2.0 * n * 1.1102230246251565e-16 * s, "dot gpu %.17g cpu %.17g", got, ref);
    CHECK(gpu->dot(x_d, y_d, 0) == 0.0, "dot of nothing");
    CHECK(gpu->dot(x_d, y_d, 3) == cpu->dot(x, y, 3), "dot of 3 (exact in double)");
    gpu->free(x_d); gpu->free(y_d);
    free(x); free(y);
}

static void test_optimisers(void) {
    NEED_GPU();
    const long n = 10007;
    float* p = hrand(n, 110, 1.f, 0.f);
    float* g = hrand(n, 111, 0.1f, 0.f);
    float* m = hrand(n, 112, 0.05f, 0.f);
    float* v = hrand(n, 113, 0.01f, 0.f);
    for (long i = 0; i < n; i++) v[i] = v[i] * v[i];
    float *pc = hcopy(p, n), *mc = hcopy(m, n), *vc = hcopy(v, n);
    float *p_d = dput(p, n), *g_d = dput(g, n), *m_d = dput(m, n), *v_d = dput(v, n);
    const float lr = 1e-2f;
    cpu->adam(pc, g, mc, vc, n, lr, 0.9f, 0.999f, 1e-8f, 0.19f, 0.002f, 0.01f);
    gpu->adam(p_d, g_d, m_d, v_d, n, lr, 0.9f, 0.999f, 1e-8f, 0.19f, 0.002f, 0.01f);
    float *pg = dget(p_d, n), *mg = dget(m_d, n), *vg = dget(v_d, n);
    // a few correctly rounded operations per element; the GPU may fuse multiply-adds
    double* tol = dvec(n);
    for (long i = 0; i < n; i++) tol[i] = 8 * U * (fabs(m[i]) + fabs(g[i]));
    CHECK(cmp_tol("adam m", mg, mc, tol, n) == 0, "adam m");
    for (long i = 0; i < n; i++) tol[i] = 8 * U * (fabs(v[i]) + (double)g[i] * g[i]);
    CHECK(cmp_tol("adam v", vg, vc, tol, n) == 0, "adam v");
    // the update lr (mhat / (sqrt(vhat) + eps) + wd p) carries a few roundings of its own
    for (long i = 0; i < n; i++) {
        double upd = lr * (fabs(mc[i] / 0.19) / (sqrt(vc[i] / 0.002) + 1e-8) + 0.01 * fabs(p[i]));
        tol[i] = 8 * U * fabs(p[i]) + 16 * U * upd;
    }
    CHECK(cmp_tol("adam p", pg, pc, tol, n) == 0, "adam p");
    free(pg); free(mg);
    // sgd from the same state
    memcpy(pc, p, (size_t)n * sizeof(float));
    memcpy(mc, m, (size_t)n * sizeof(float));
    gpu->upload(p_d, p, (size_t)n * sizeof(float));
    gpu->upload(m_d, m, (size_t)n * sizeof(float));
    cpu->sgd(pc, g, mc, n, lr, 0.9f, 0.01f);
    gpu->sgd(p_d, g_d, m_d, n, lr, 0.9f, 0.01f);
    pg = dget(p_d, n);
    mg = dget(m_d, n);
    for (long i = 0; i < n; i++) tol[i] = 8 * U * (fabs(m[i]) + fabs(g[i]) + 0.01 * fabs(p[i]));
    CHECK(cmp_tol("sgd mom", mg, mc, tol, n) == 0, "sgd momentum");
    for (long i = 0; i < n; i++) tol[i] = 8 * U * (fabs(p[i]) + lr * (fabs(m[i]) + fabs(g[i]) + 0.01 * fabs(p[i])));
    CHECK(cmp_tol("sgd p", pg, pc, tol, n) == 0, "sgd p");
    gpu->free(p_d); gpu->free(g_d); gpu->free(m_d); gpu->free(v_d);
    free(p); free(g); free(m); free(v); free(pc); free(mc); free(vc); free(pg); free(mg); free(vg); free(tol);
}

// ---------------------------------------------------------------------------------------
// ViT ops

static void test_vit_ops(void) {
    NEED_GPU();
    // patchify and tokens move and add floats: exact
    const int nimg = 3, C = 3, H = 12, W = 8, P = 4, T = (H / P) * (W / P) + 1, K = C * P * P;
    float* img = hrand((long)nimg * C * H * W, 120, 1.f, 0.f);
    float* img_d = dput(img, (long)nimg * C * H * W);
    long np = (long)nimg * T * K;
    float* pt = hnan(np);
    float* pt_d = dput(pt, np);
    cpu->vit_patchify(pt, img, nimg, C, H, W, P);
    gpu->vit_patchify(pt_d, img_d, nimg, C, H, W, P);
    float* got = dget(pt_d, np);
    CHECK(cmp_bits("patches", got, pt, np) == 0, "vit_patchify");
    free(got);
    const int D = 21;
    long nt = (long)nimg * T * D;
    float* x = hrand(nt, 121, 1.f, 0.f);
    float* cls = hrand(D, 122, 1.f, 0.f);
    float* pos = hrand((long)T * D, 123, 1.f, 0.f);
    float *x_d = dput(x, nt), *cls_d = dput(cls, D), *pos_d = dput(pos, (long)T * D);
    for (int mode = 0; mode < 3; mode++) {  // cls and pos; pos only; in place with neither
        float* y = mode == 2 ? hcopy(x, nt) : hnan(nt);
        float* y_d = dput(y, nt);
        const float* xc = mode == 2 ? y : x;
        const float* xg = mode == 2 ? y_d : x_d;
        cpu->vit_tokens(y, xc, mode == 0 ? cls : NULL, mode < 2 ? pos : NULL, nimg, T, D);
        gpu->vit_tokens(y_d, xg, mode == 0 ? cls_d : NULL, mode < 2 ? pos_d : NULL, nimg, T, D);
        got = dget(y_d, nt);
        CHECK(cmp_bits("tokens", got, y, nt) == 0, "vit_tokens mode %d", mode);
        gpu->free(y_d);
        free(y); free(got);
    }
    // CLS LayerNorm: rows 1..T_out-1 zeroed; the CLS row within LayerNorm tolerance
    const int Dl = 197;
    long nl = (long)nimg * T * Dl;
    float* xl = hrand(nl, 124, 2.f, 1.f);
    float* w = hrand(Dl, 125, 1.f, 0.f);
    float* b = hrand(Dl, 126, 1.f, 0.f);
    float *xl_d = dput(xl, nl), *w_d = dput(w, Dl), *b_d = dput(b, Dl);
    for (int T_out = 1; T_out <= T; T_out += T - 1) {
        long ny = (long)nimg * T_out * Dl;
        float *y = hnan(ny), *mean = hnan(nimg), *rstd = hnan(nimg);
        float *y_d = dput(y, ny), *mean_d = dput(mean, nimg), *rstd_d = dput(rstd, nimg);
        cpu->vit_cls_layernorm(y, mean, rstd, xl, w, b, nimg, T, T_out, Dl, 1e-12f);
        gpu->vit_cls_layernorm(y_d, mean_d, rstd_d, xl_d, w_d, b_d, nimg, T, T_out, Dl, 1e-12f);
        got = dget(y_d, ny);
        double* tol = dvec(ny);
        for (long i = 0; i < ny; i++)
            tol[i] = (i / Dl) % T_out == 0 ? 8.0 * (Dl + 4) * U * (fabs(y[i]) + 12.0 * (fabs(w[i % Dl]) + fabs(b[i % Dl]))) : 0.0;
        CHECK(cmp_tol("cls ln", got, y, tol, ny) == 0, "vit_cls_layernorm T_out %d", T_out);
        // backward (dy rows strided by ldy = Dl + 3)
        long ldy = Dl + 3;
        float* dy = hrand(nimg * ldy, 127, 1.f, 0.f);
        float *dx = hnan(nl), *dw = hrand(Dl, 128, 1.f, 0.f), *db = hrand(Dl, 129, 1.f, 0.f);
        float *dy_d = dput(dy, nimg * ldy), *dx_d = dput(dx, nl), *dw_d = dput(dw, Dl), *db_d = dput(db, Dl);
        double* tolw = dvec(Dl);
        for (int c = 0; c < Dl; c++) tolw[c] = 2 * U * (fabs(dw[c]) + fabs(db[c])) + 4.0 * (nimg + 4) * U * 30.0;
        cpu->vit_cls_layernorm_bwd(dx, dw, db, dy, ldy, xl, mean, rstd, w, nimg, T, Dl);
        gpu->vit_cls_layernorm_bwd(dx_d, dw_d, db_d, dy_d, ldy, xl_d, mean_d, rstd_d, w_d, nimg, T, Dl);
        float *dxg = dget(dx_d, nl), *dwg = dget(dw_d, Dl), *dbg = dget(db_d, Dl);
        double* told = dvec(nl);
        for (long i = 0; i < nl; i++) told[i] = (i / Dl) % T == 0 ? 8.0 * (Dl + 4) * U * 40.0 * (fabs(dx[i]) + 1.0) : 0.0;
        CHECK(cmp_tol("cls ln dx", dxg, dx, told, nl) == 0, "vit_cls_layernorm_bwd dx");
        CHECK(cmp_tol("cls ln dw", dwg, dw, tolw, Dl) == 0, "vit_cls_layernorm_bwd dw");
        CHECK(cmp_tol("cls ln db", dbg, db, tolw, Dl) == 0, "vit_cls_layernorm_bwd db");
        gpu->free(y_d); gpu->free(mean_d); gpu->free(rstd_d); gpu->free(dy_d); gpu->free(dx_d); gpu->free(dw_d);
        gpu->free(db_d);
        free(y); free(mean); free(rstd); free(got); free(tol); free(dy); free(dx); free(dw); free(db); free(tolw);
        free(dxg); free(dwg); free(dbg); free(told);
    }
    gpu->free(img_d); gpu->free(pt_d); gpu->free(x_d); gpu->free(cls_d); gpu->free(pos_d);
    gpu->free(xl_d); gpu->free(w_d); gpu->free(b_d);
    free(img); free(pt); free(x); free(cls); free(pos); free(xl); free(w); free(b);
}

// ---------------------------------------------------------------------------------------
// one full step, CPU against GPU

typedef struct {
    const char* model;       // fl_model_create spec
    int C, H, W, classes, B;
    const char* method;
    const char* allocator;
    const char* scope;       // lr only
    int budget;
    fl_proxy_source proxy;
    double grad_tol;         // normwise relative tolerance on the gradient
} step_case;

typedef struct {
    fl_model* m;
    fl_engine* e;
    float* x_d;
    int32_t* y_d;
    fl_step_stats st;
    float* grad;             // host copies after the step
    float* param;
} side;

// Builds the model on `ops`, runs one gradient step from the seeded parameters, then one SGD
// update. Returns 0, or -1 (with *why) when the model cannot be built on this tree.
static int run_side(const fl_ops* ops, const step_case* sc, const float* x, const int32_t* y,
                    const int64_t* idx, side* s, char* why, size_t why_size) {
    memset(s, 0, sizeof *s);
    fl_err err = {{0}};
    s->m = fl_model_create(ops, sc->model, "gelu", sc->C, sc->H, sc->W, sc->classes, &err);
    if (!s->m) { snprintf(why, why_size, "%s", err.msg); return -1; }
    fl_model_init_weights(s->m, 1234);
    fl_model_init_sigma(s->m, 1e-2f);
    if (!strcmp(sc->method, "lr") && fl_model_set_scope(s->m, sc->scope, &err)) {
        snprintf(why, why_size, "%s", err.msg);
        return -1;
    }
    fl_est_opts eo = fl_est_opts_default();
    eo.budget = sc->budget;
    eo.mu = 1e-2f;
    eo.proxy = sc->proxy;
    fl_alloc_opts ao = fl_alloc_opts_default();
    s->e = fl_engine_new(ops, s->m, sc->method, sc->allocator, &ao, &eo, 100, 777, &err);
    if (!s->e) { snprintf(why, why_size, "%s", err.msg); return -1; }
    long in = (long)sc->C * sc->H * sc->W;
    s->x_d = fl_ops_upload_new(ops, x, (size_t)sc->B * in * sizeof(float));
    s->y_d = fl_ops_upload_new(ops, y, (size_t)sc->B * sizeof(int32_t));
    fl_batch b = {.B = sc->B, .x = s->x_d, .y = s->y_d, .y_host = y, .index = idx};
    if (fl_engine_grad(s->e, &b, &s->st, &err)) { snprintf(why, why_size, "step: %s", err.msg); return -1; }
    size_t total = s->m->params.total;
    s->grad = fl_malloc(total * sizeof(float));
    ops->download(s->grad, s->m->params.grad, total * sizeof(float));
    fl_optim opt;
    if (fl_optim_init(&opt, &s->m->params, "sgd", 0.05f, &err)) { snprintf(why, why_size, "%s", err.msg); return -1; }
    fl_optim_step(&opt, &s->m->params, 0);
    s->param = fl_malloc(total * sizeof(float));
    fl_params_download(&s->m->params, s->param);
    fl_optim_free(&opt, &s->m->params);
    return 0;
}

static void side_free(const fl_ops* ops, side* s) {
    if (s->x_d) ops->free(s->x_d);
    if (s->y_d) ops->free(s->y_d);
    fl_engine_free(s->e);
    fl_model_free(s->m);
    free(s->grad);
    free(s->param);
}

// Tolerances: float rounding differs between the backends (OpenBLAS and cuBLAS add in other
// orders), about 1e-6 relative on a loss. BP gradients inherit that: 1e-4 normwise leaves a
// wide margin. LR and MeZO divide loss differences by the perturbation size (sigma 1e-2
// here; mu 1e-2 for MeZO, so l+ - l- is about 2e-2 |g.z|): an error of 1e-6 on the losses
// becomes about 1e-4 of the estimate; we allow 2e-3. Parameters after SGD (lr 0.05) differ
// by lr times the gradient difference, plus a rounding of the parameter.
static void step_compare(const step_case* sc) {
    long in = (long)sc->C * sc->H * sc->W;
    float* x = hrand(sc->B * in, 130, 1.f, 0.f);
    int32_t* y = fl_malloc((size_t)sc->B * sizeof(int32_t));
    int64_t* idx = fl_malloc((size_t)sc->B * sizeof(int64_t));
    for (int i = 0; i < sc->B; i++) { y[i] = (i * 3 + 1) % sc->classes; idx[i] = i; }
    side c, g;
    static char why[1100];
    if (run_side(cpu, sc, x, y, idx, &c, why, sizeof why)) {  // the reference itself failed
        CHECK(0, "the CPU side failed: %s", why);
        side_free(cpu, &c);
        free(x); free(y); free(idx);
        return;
    }
    if (run_side(gpu, sc, x, y, idx, &g, why, sizeof why)) {
        CHECK(0, "the GPU side failed where the CPU side ran: %s", why);
        side_free(cpu, &c); side_free(gpu, &g);
        free(x); free(y); free(idx);
        return;
    }
    CHECK(c.st.queries == g.st.queries, "queries cpu %ld gpu %ld", c.st.queries, g.st.queries);
    long n_diff = 0;
    for (int i = 0; i < sc->B; i++) n_diff += c.e->last_n[i] != g.e->last_n[i];
    CHECK(n_diff == 0, "allocation differs on %ld data (the proxies differ beyond rounding)", n_diff);
    CHECK(fabs(c.st.loss - g.st.loss) <= 1e-5 * (1.0 + fabs(c.st.loss)), "loss cpu %.9g gpu %.9g", c.st.loss, g.st.loss);
    const fl_params* P = &c.m->params;
    double d2 = 0.0, r2 = 0.0;
    long pbad = 0;
    for (int t = 0; t < P->n; t++) {
        if (!P->t[t].trainable) continue;
        for (size_t k = 0; k < P->t[t].numel; k++) {
            size_t i = P->t[t].offset + k;
            double d = (double)g.grad[i] - c.grad[i];
            d2 += d * d;
            r2 += (double)c.grad[i] * c.grad[i];
            double dp = fabs((double)g.param[i] - c.param[i]);
            if (!(dp <= 0.05 * fabs(d) + 4 * U * (fabs(c.param[i]) + 0.05 * fabs(c.grad[i])) + 1e-30)) {
                if (pbad < 4) printf("    param %s[%zu]: gpu %.9g cpu %.9g\n", P->t[t].name, k, g.param[i], c.param[i]);
                pbad++;
            }
        }
    }
    double rel = sqrt(d2) / (sqrt(r2) + 1e-30);
    printf("    %s %s%s%s: |g_gpu - g_cpu| / |g_cpu| = %.3g (tolerance %.0e), |g| = %.4g\n", sc->model, sc->method,
           strcmp(sc->method, "bp") ? " " : "", strcmp(sc->method, "bp") ? sc->allocator : "", rel, sc->grad_tol, sqrt(r2));
    CHECK(r2 > 0.0, "zero gradient: the comparison would prove nothing");
    CHECK(rel <= sc->grad_tol, "gradient differs: %.3g > %.0e", rel, sc->grad_tol);
    CHECK(pbad == 0, "%ld parameters after the SGD step differ beyond lr |dg| + rounding", pbad);
    side_free(cpu, &c);
    side_free(gpu, &g);
    free(x); free(y); free(idx);
}

static const char* MLP = "mlp:37-29-23-7";
static void test_step_mlp_bp(void) {
    NEED_GPU();
    step_case sc = {MLP, 37, 1, 1, 7, 13, "bp", "uniform", "all", 1, FL_PROXY_PREV, 1e-4};
    step_compare(&sc);
}
static void test_step_mlp_mezo(void) {
    NEED_GPU();
    step_case sc = {MLP, 37, 1, 1, 7, 13, "mezo", "uniform", "all", 6, FL_PROXY_PREV, 2e-3};
    step_compare(&sc);
}
static void test_step_mlp_lr_uniform(void) {
    NEED_GPU();
    step_case sc = {MLP, 37, 1, 1, 7, 13, "lr", "uniform", "all", 6, FL_PROXY_PREV, 2e-3};
    step_compare(&sc);
}
static void test_step_mlp_lr_flops(void) {
    NEED_GPU();
    // a pilot gives the flops allocator proxies in the first step, so the allocation is not
    // uniform (with the previous-visit proxy, a first step has none)
    step_case sc = {MLP, 37, 1, 1, 7, 13, "lr", "flops", "all", 6, FL_PROXY_PILOT, 2e-3};
    step_compare(&sc);
}
// vit-tiny on 3x16x16 images (patch 4: 17 tokens); a deeper network: twice the tolerances
static void test_step_vit_bp(void) {
    NEED_GPU();
    step_case sc = {"vit-tiny", 3, 16, 16, 5, 5, "bp", "uniform", "all", 1, FL_PROXY_PREV, 2e-4};
    step_compare(&sc);
}
static void test_step_vit_mezo(void) {
    NEED_GPU();
    step_case sc = {"vit-tiny", 3, 16, 16, 5, 5, "mezo", "uniform", "all", 4, FL_PROXY_PREV, 4e-3};
    step_compare(&sc);
}
static void test_step_vit_lr_uniform(void) {
    NEED_GPU();
    step_case sc = {"vit-tiny", 3, 16, 16, 5, 5, "lr", "uniform", "all", 4, FL_PROXY_PREV, 4e-3};
    step_compare(&sc);
}
static void test_step_vit_lr_flops(void) {
    NEED_GPU();
    step_case sc = {"vit-tiny", 3, 16, 16, 5, 5, "lr", "flops", "attn:last:2", 6, FL_PROXY_PILOT, 4e-3};
    step_compare(&sc);
}

// A step case whose CPU side cannot run is a failure, never a skip: on a model specification
// that does not parse, step_compare must record a failure (no device needed: the CPU side
// runs first). The failure is taken back afterwards, so that this test passes.
static void test_step_cpu_failure_fails(void) {
    printf("    a case that cannot be built, on purpose (the check below must fail):\n");
    step_case sc = {"mlp:37-x-7", 37, 1, 1, 7, 13, "bp", "uniform", "all", 1, FL_PROXY_PREV, 1e-4};
    step_compare(&sc);
    int failed = t_failed_now, skipped = t_skip_reason != NULL;
    t_failed_now = 0;
    t_skip_reason = NULL;
    CHECK(failed && !skipped, "a CPU side that cannot run was %s", skipped ? "skipped" : "passed");
}

// FL_TEST_CUDA_AS_CPU=2: the CPU with every GEMM output moved by up to 2 ulp, a stand-in for
// another backend's summation order, to check that the step tolerances hold such differences.
static uint32_t wobble_state = 12345u;
static void wobble(float* C, int M, int N, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            wobble_state = wobble_state * 1664525u + 1013904223u;
            int e = (int)(wobble_state >> 29) - 4;  // -4..3
            C[(long)i * ldc + j] *= 1.0f + (float)e * 1.1920929e-07f * 0.5f;
        }
}
static void wobbly_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                        const float* B, int ldb, float beta, float* C, int ldc) {
    cpu->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    wobble(C, M, N, ldc);
}
static void wobbly_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                                long sA, const float* B, int ldb, long sB, float beta, float* C, int ldc,
                                long sC, int batch) {
    cpu->gemm_strided(ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch);
    for (int b = 0; b < batch; b++) wobble(C + b * sC, M, N, ldc);
}
static fl_ops wobbly;

int main(void) {
    cpu = fl_cpu_ops();
    fl_err err = {{0}};
    gpu = fl_cuda_ops(&err);
    if (!gpu) snprintf(no_gpu_reason, sizeof no_gpu_reason, "%s", err.msg);
    // FL_TEST_CUDA_AS_CPU=1 runs the comparisons CPU against CPU: a check of this file's own
    // fixtures, indexing and references on a machine without a GPU (every CHECK must pass).
    // The "GPU" is then the CPU table: no CUDA kernel runs.
    const char* as_cpu = getenv("FL_TEST_CUDA_AS_CPU");
    if (!gpu && as_cpu && !strcmp(as_cpu, "1")) gpu = cpu;
    if (!gpu && as_cpu && !strcmp(as_cpu, "2")) {
        wobbly = *cpu;
        wobbly.gemm = wobbly_gemm;
        wobbly.gemm_strided = wobbly_gemm_strided;
        gpu = &wobbly;
    }
    RUN(test_no_device_message);
    RUN(test_table_check);
    RUN(test_table_complete);
    RUN(test_memory);
    RUN(test_philox_integers);
    RUN(test_noise_axpy);
    RUN(test_dirs_ops);
    RUN(test_bias_noise);
    RUN(test_lr_grad);
    RUN(test_bias_noise_set);
    RUN(test_lr_unit_noise);
    RUN(test_lr_unit_fold);
    RUN(test_gemm);
    RUN(test_gemm_tf32);
    RUN(test_gemm_strided);
    RUN(test_gather_segment);
    RUN(test_elementwise);
    RUN(test_layernorm);
    RUN(test_softmax);
    RUN(test_xent);
    RUN(test_col_sum_row_sumsq);
    RUN(test_dot);
    RUN(test_optimisers);
    RUN(test_vit_ops);
    RUN(test_step_mlp_bp);
    RUN(test_step_mlp_mezo);
    RUN(test_step_mlp_lr_uniform);
    RUN(test_step_mlp_lr_flops);
    RUN(test_step_vit_bp);
    RUN(test_step_vit_mezo);
    RUN(test_step_vit_lr_uniform);
    RUN(test_step_vit_lr_flops);
    RUN(test_step_cpu_failure_fails);
    TEST_EXIT();
}
