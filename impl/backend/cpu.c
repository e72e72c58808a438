// cpu.c: the CPU backend, the reference implementation of the ops table.
// GEMMs go to OpenBLAS (OpenMP build); every other op is an OpenMP loop over the shared
// bodies of impl/kernels/bodies.h. Memory is plain host memory.
#include <string.h>
#include <stdio.h>
#include <omp.h>
#include <cblas.h>
#include <xmmintrin.h>
#include "ops.h"
#include "cpu_noise.h"
#include "cpu_attention.h"

// ---------------------------------------------------------------------------------------
// memory

// Every block carries a 64-byte header in front of it (the alignment is kept) with its size,
// so that free can count the bytes held; the counts are the bytes asked for.
#define CPU_HEADER 64
#define CPU_MAGIC 0x666c6d656d6f7279ull  // "flmemory"
static size_t g_held, g_peak;             // bytes held through cpu_alloc; peak since reset

static void* cpu_alloc(size_t bytes) {
    void* base = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&base, 64, CPU_HEADER + (rounded ? rounded : 64)) != 0)
        FL_FATAL("out of host memory allocating %zu bytes", bytes);
    uint64_t* h = (uint64_t*)base;
    h[0] = CPU_MAGIC;
    h[1] = (uint64_t)bytes;
    char* p = (char*)base + CPU_HEADER;
    memset(p, 0, rounded);
    size_t held = __atomic_add_fetch(&g_held, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&g_peak, __ATOMIC_RELAXED);
    while (held > peak && !__atomic_compare_exchange_n(&g_peak, &peak, held, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return p;
}
static void cpu_free(void* p) {
    if (!p) return;
    uint64_t* h = (uint64_t*)((char*)p - CPU_HEADER);
    FL_CHECK(h[0] == CPU_MAGIC, "cpu free: %p was not allocated by the CPU backend", p);
    h[0] = 0;
    __atomic_sub_fetch(&g_held, (size_t)h[1], __ATOMIC_RELAXED);
    free(h);
}
static size_t cpu_alloc_held(void) { return __atomic_load_n(&g_held, __ATOMIC_RELAXED); }
static size_t cpu_alloc_peak(void) { return __atomic_load_n(&g_peak, __ATOMIC_RELAXED); }
static void cpu_alloc_peak_reset(void) { __atomic_store_n(&g_peak, cpu_alloc_held(), __ATOMIC_RELAXED); }
static void cpu_memcpy(void* dst, const void* src, size_t bytes) { if (bytes) memcpy(dst, src, bytes); }
static void cpu_zero(void* dst, size_t bytes) { if (bytes) memset(dst, 0, bytes); }
static void cpu_sync(void) {}

static size_t cpu_mem_available(void) {
    FILE* f = fopen("/proc/meminfo", "r");
    if (!f) return (size_t)4 << 30;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb ? kb * 1024 : (size_t)4 << 30;
}

// ---------------------------------------------------------------------------------------
// linear algebra

// Row split of tall, narrow products (cpu_gemm): at least this many rows per thread, at most
// this many columns.
#define SPLIT_M_MIN_ROWS 4096
#define SPLIT_M_MAX_COLS 256

static void cpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc) {
#ifdef FL_NAIVE_GEMM
    // Deliberately slow reference loop: used only to prove that ci/perf_check catches a
    // slower build. Never the default.
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.f;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                float b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += a * b;
            }
            C[(long)i * ldc + j] = alpha * s + (beta == 0.f ? 0.f : beta * C[(long)i * ldc + j]);
        }
#else
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // C = beta C
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(long)i * ldc + j];
        return;
    }
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (!ta && threads > 1 && M >= SPLIT_M_MIN_ROWS * threads && N <= SPLIT_M_MAX_COLS) {
        // Tall and narrow (a linear layer over query rows, N = 192 in W2): one single-threaded
        // product per thread on its own block of rows. OpenBLAS's own split of this shape
        // runs at 135 GFLOP/s here against 160 this way (25600x192x192; 147 against 169 for
        // K = 768); wider N gains nothing. OpenBLAS-OpenMP is single-threaded inside the region.
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num();
            int m0 = (int)((long)M * t / threads), m1 = (int)((long)M * (t + 1) / threads);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m1 - m0, N, K,
                        alpha, A + (long)m0 * lda, lda, B, ldb, beta, C + (long)m0 * ldc, ldc);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

static void cpu_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A,
                             int lda, long sA, const float* B, int ldb, long sB, float beta,
                             float* C, int ldc, long sC, int batch) {
    // Many small products (attention heads): one product per OpenMP thread, with OpenBLAS
    // itself single-threaded inside the parallel region (OpenBLAS-OpenMP does this).
#pragma omp parallel for schedule(static) if (batch > 1)
    for (int b = 0; b < batch; b++)
        cpu_gemm(ta, tb, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}

// ---------------------------------------------------------------------------------------
// data movement

static void cpu_gather_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        memcpy(dst + (long)r * cols, src + (long)idx[r] * cols, (size_t)cols * sizeof(float));
}

static void cpu_segment_sum(float* dst, const float* src, const int32_t* offsets, int segments,
                            long cols) {
#pragma omp parallel for schedule(static)
    for (int s = 0; s < segments; s++) {
        float* d = dst + (long)s * cols;
        memset(d, 0, (size_t)cols * sizeof(float));
        for (int r = offsets[s]; r < offsets[s + 1]; r++) {
            const float* x = src + (long)r * cols;
            for (long c = 0; c < cols; c++) d[c] += x[c];
        }
    }
}

// ---------------------------------------------------------------------------------------
// element-wise

static void cpu_exp(float* y, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] = expf(x[i]);
}
static void cpu_scale(float* x, float a, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) x[i] *= a;
}
static void cpu_axpy(float* y, float a, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] += a * x[i];
}
static void cpu_relu(float* y, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] = fl_body_relu(x[i]);
}
static void cpu_relu_bwd(float* dx, const float* dy, const float* y, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) dx[i] = fl_body_relu_bwd(dy[i], y[i]);
}
static void cpu_gelu(float* y, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] = fl_body_gelu(x[i]);
}
static void cpu_gelu_bwd(float* dx, const float* dy, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) dx[i] = fl_body_gelu_bwd(dy[i], x[i]);
}

// Noise ops. Whole blocks of 32 columns draw their normals 32 at a time (cpu_noise.h,
// bit-identical to the shared body); the last partial block uses the shared group body.
// The two queries of an antithetic pair share their normals (opposite signs), so a pair is
// handled by one iteration that draws each block once for both rows: half the noise work.
// Roles, found by one scan: 1 = first of a pair (the next query has the same noise row),
// 2 = second of that pair (done by the first), 0 = alone. Any qcode is handled correctly,
// also three or more queries on one noise row (then they pair up two by two).
static int8_t* pair_roles(const fl_noise* nz, int Q) {
    int8_t* role = (int8_t*)calloc((size_t)Q + 1, 1);
    if (!role) FL_FATAL("out of host memory in a noise op");
    for (int q = 0; q + 1 < Q; q++) {
        if (role[q]) continue;
        if ((nz->qcode[q] >> 1) == (nz->qcode[q + 1] >> 1)) { role[q] = 1; role[q + 1] = 2; }
    }
    return role;
}

// y = (set ? 0 : y) + bias + sign sigma eps: bias_noise, bias_noise_set and
// bias_noise_set_keep (ops.h); with keep, the normals of unit u (a pair, or a lone query:
// pair_roles' units, numbered in query order) also go to keep (units*T, cols).
static void bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                       int rows, int cols, int set, float* keep) {
    if (!nz) {
        if (!bias && !set) return;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            float* yr = y + (long)r * cols;
            for (int c = 0; c < cols; c++) yr[c] = (set ? 0.0f : yr[c]) + (bias ? bias[c] : 0.0f);
        }
        return;
    }
    int full = cols / 32 * 32;
    int T = nz->tokens, Q = rows / T;
    int8_t* role = pair_roles(nz, Q);
    int32_t* unit = NULL;  // unit index of each query that starts a unit
    if (keep) {
        unit = (int32_t*)malloc((size_t)(Q + 1) * sizeof(int32_t));
        if (!unit) FL_FATAL("out of host memory in bias_noise");
        for (int q = 0, u = 0; q < Q; q++) unit[q] = role[q] == 2 ? -1 : u++;
    }
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        if (role[q] == 2) continue;
        int pair = role[q] == 1;
        for (int t = 0; t < T; t++) {
            int r = q * T + t, r2 = r + T;
            float sign, sign2 = 1.0f;
            uint32_t row = fl_noise_row(nz, r, &sign);
            if (pair) fl_noise_row(nz, r2, &sign2);
            float* y1 = y + (long)r * cols;
            float* y2 = y + (long)r2 * cols;
            float* kept = keep ? keep + ((long)unit[q] * T + t) * cols : NULL;
            float eps[32];
            for (int c0 = 0; c0 < full; c0 += 32) {
                fl_cpu_normal32(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
                if (kept) memcpy(kept + c0, eps, sizeof eps);
                for (int l = 0; l < 32; l++)
                    y1[c0 + l] = fl_elem_bias_noise(set ? 0.0f : y1[c0 + l], bias ? bias[c0 + l] : 0.0f, sign,
                                                    sigma[c0 + l], eps[l]);
                if (pair)
                    for (int l = 0; l < 32; l++)
                        y2[c0 + l] = fl_elem_bias_noise(set ? 0.0f : y2[c0 + l], bias ? bias[c0 + l] : 0.0f,
                                                        sign2, sigma[c0 + l], eps[l]);
            }
            for (int c0 = full; c0 < cols; c0 += 4) {  // the tail: four normals drawn once per pair
                float eps4[4];
                fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps4);
                fl_body_bias_noise4_eps(y1, bias, sigma, sign, eps4, c0, cols, set);
                if (pair) fl_body_bias_noise4_eps(y2, bias, sigma, sign2, eps4, c0, cols, set);
                if (kept) for (int l = 0; l < 4 && c0 + l < cols; l++) kept[c0 + l] = eps4[l];
            }
        }
    }
    free(unit);
    free(role);
}

static void cpu_bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                           int rows, int cols) {
    bias_noise(y, bias, sigma, nz, rows, cols, 0, NULL);
}
static void cpu_bias_noise_set(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                               int rows, int cols) {
    bias_noise(y, bias, sigma, nz, rows, cols, 1, NULL);
}
static void cpu_bias_noise_keep(float* y, float* keep, const float* bias, const float* sigma,
                                const fl_noise* nz, int rows, int cols, int set) {
    bias_noise(y, bias, sigma, nz, rows, cols, set, keep);
}

static void cpu_lr_grad(float* G, float* gs, const float* coef, const float* sigma,
                        const fl_noise* nz, int rows, int cols) {
    int full = cols / 32 * 32;
    int padded = (cols + 3) / 4 * 4;
    int T = nz->tokens, Q = rows / T;
    int8_t* role = pair_roles(nz, Q);
    int nthreads = omp_get_max_threads();
    // per-thread partial sums of the log-sigma score, reduced at the end (fixed order)
    float* part = gs ? (float*)calloc((size_t)nthreads * padded, sizeof(float)) : NULL;
    if (gs && !part) FL_FATAL("out of host memory in lr_grad");
#pragma omp parallel
    {
        int tid = omp_get_thread_num();
        float* acc = part ? part + (long)tid * padded : NULL;
#pragma omp for schedule(static)
        for (int q = 0; q < Q; q++) {
            if (role[q] == 2) continue;
            int pair = role[q] == 1;
            for (int t = 0; t < T; t++) {
                int r = q * T + t, r2 = r + T;
                float sign, sign2 = 1.0f;
                uint32_t row = fl_noise_row(nz, r, &sign);
                if (pair) fl_noise_row(nz, r2, &sign2);
                float a = coef[q], a2 = pair ? coef[q + 1] : 0.0f;
                float* G1 = G + (long)r * cols;
                float* G2 = G + (long)r2 * cols;
                float eps[32], g[32];
                for (int c0 = 0; c0 < full; c0 += 32) {
                    fl_cpu_normal32(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
                    for (int l = 0; l < 32; l++) G1[c0 + l] = fl_elem_lr_grad(a, sign, eps[l], sigma[c0 + l], &g[l]);
                    if (acc) for (int l = 0; l < 32; l++) acc[c0 + l] += g[l];
                    if (pair) {
                        for (int l = 0; l < 32; l++) G2[c0 + l] = fl_elem_lr_grad(a2, sign2, eps[l], sigma[c0 + l], &g[l]);
                        if (acc) for (int l = 0; l < 32; l++) acc[c0 + l] += g[l];
                    }
                }
                for (int c0 = full; c0 < cols; c0 += 4) {
                    float gs4[4];
                    fl_body_lr_grad4(G1, gs4, coef, sigma, nz, r, c0, cols);
                    if (acc) for (int l = 0; l < 4; l++) acc[c0 + l] += gs4[l];
                    if (pair) {
                        fl_body_lr_grad4(G2, gs4, coef, sigma, nz, r2, c0, cols);
                        if (acc) for (int l = 0; l < 4; l++) acc[c0 + l] += gs4[l];
                    }
                }
            }
        }
    }
    if (gs) {
        for (int t = 0; t < nthreads; t++)
            for (int c = 0; c < cols; c++) gs[c] += part[(long)t * padded + c];
        free(part);
    }
    free(role);
}

// LR gradient by units (ops.h): a unit's queries share one noise row, so each unit draws its
// normals once. gb and gs are reduced through per-thread partials in a fixed order.
// lr_unit_noise and lr_unit_kept (ops.h): the normals drawn, or read from kept (E may be kept).
static void lr_unit(float* E, const float* kept, float* gb, float* gs, const float* coef,
                    const float* sigma, const fl_noise* nz, const int32_t* uoff, int units, int cols,
                    int weighted) {
    int full = cols / 32 * 32;
    int padded = (cols + 3) / 4 * 4;
    int T = nz->tokens;
    int nthreads = omp_get_max_threads();
    // per-thread partials: gb in [0, padded), gs in [padded, 2 padded)
    float* part = (float*)calloc((size_t)nthreads * 2 * padded, sizeof(float));
    if (!part) FL_FATAL("out of host memory in lr_unit_noise");
#pragma omp parallel
    {
        float* acc_b = part + (long)omp_get_thread_num() * 2 * padded;
        float* acc_s = acc_b + padded;
#pragma omp for schedule(static)
        for (int u = 0; u < units; u++) {
            for (int t = 0; t < T; t++) {
                float wsum, asum, sign;
                uint32_t row = fl_lr_unit_weights(nz, coef, uoff, u, t, &wsum, &asum);
                FL_CHECK(fl_noise_row(nz, uoff[u] * T + t, &sign) == row,
                         "lr_unit_noise: unit %d's queries are not on one noise row", u);
                float* E_row = E + ((long)u * T + t) * cols;
                if (kept) {  // every column, from the normals the forward kept
                    const float* k_row = kept + ((long)u * T + t) * cols;
                    for (int c = 0; c < cols; c++) {
                        float gbv, gsv;
                        E_row[c] = fl_elem_lr_unit(wsum, asum, k_row[c], sigma[c], &gbv, &gsv);
                        if (weighted) E_row[c] = gbv;  // wsum eps / sigma
                        acc_b[c] += gbv;
                        acc_s[c] += gsv;
                    }
                    continue;
                }
                float eps[32], gb32[32], gs32[32];
                for (int c0 = 0; c0 < full; c0 += 32) {
                    fl_cpu_normal32(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
                    for (int l = 0; l < 32; l++)
                        E_row[c0 + l] = fl_elem_lr_unit(wsum, asum, eps[l], sigma[c0 + l], &gb32[l], &gs32[l]);
                    for (int l = 0; l < 32; l++) { acc_b[c0 + l] += gb32[l]; acc_s[c0 + l] += gs32[l]; }
                }
                for (int c0 = full; c0 < cols; c0 += 4) {
                    float gb4[4], gs4[4];
                    fl_body_lr_unit4(E_row, gb4, gs4, wsum, asum, row, sigma, nz, c0, cols);
                    for (int l = 0; l < 4; l++) { acc_b[c0 + l] += gb4[l]; acc_s[c0 + l] += gs4[l]; }
                }
            }
        }
    }
    for (int t = 0; t < nthreads; t++)
        for (int c = 0; c < cols; c++) {
            if (gb) gb[c] += part[(long)t * 2 * padded + c];
            if (gs) gs[c] += part[(long)t * 2 * padded + padded + c];
        }
    free(part);
}

static void cpu_lr_unit_noise(float* E, float* gb, float* gs, const float* coef, const float* sigma,
                              const fl_noise* nz, const int32_t* uoff, int units, int cols) {
    lr_unit(E, NULL, gb, gs, coef, sigma, nz, uoff, units, cols, 0);
}
static void cpu_lr_unit_kept(float* E, const float* kept, float* gb, float* gs, const float* coef,
                             const float* sigma, const fl_noise* nz, const int32_t* uoff, int units,
                             int cols, int weighted) {
    lr_unit(E, kept, gb, gs, coef, sigma, nz, uoff, units, cols, weighted);
}

static void cpu_lr_unit_fold(float* Xf, const float* X, const float* coef, const fl_noise* nz,
                             const int32_t* uoff, int units, long din) {
    int T = nz->tokens;
#pragma omp parallel for schedule(static)
    for (int u = 0; u < units; u++) {
        int q0 = uoff[u], q1 = uoff[u + 1];
        float w[8];  // coef sign of each query of the unit (a pair: 2)
        FL_CHECK(q1 - q0 >= 1 && q1 - q0 <= 8, "lr_unit_fold: unit %d has %d queries (1 to 8 allowed)", u, q1 - q0);
        for (int q = q0; q < q1; q++) {
            float sign;
            fl_noise_row(nz, q * T, &sign);
            w[q - q0] = coef[q] * sign;
        }
        for (int t = 0; t < T; t++) {
            float* xf = Xf + ((long)u * T + t) * din;
            const float* x0 = X + ((long)q0 * T + t) * din;
            for (long c = 0; c < din; c++) xf[c] = w[0] * x0[c];
            for (int q = q0 + 1; q < q1; q++) {
                const float* xq = X + ((long)q * T + t) * din;
                float wq = w[q - q0];
                for (long c = 0; c < din; c++) xf[c] += wq * xq[c];
            }
        }
    }
}

static void cpu_noise_axpy(float* x, long n, uint64_t first, float scale, uint32_t key0,
                           uint32_t key1, uint32_t row, uint32_t stream, uint32_t step) {
    if (first % 4 != 0) FL_FATAL("noise_axpy: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
#pragma omp parallel for schedule(static) if (blocks > 256)
    for (long k = 0; k < blocks; k++) {
        float z[32];
        fl_cpu_normal32(key0, key1, (uint32_t)((first + (uint64_t)k * 32) >> 2), row, stream, step, z);
        float* xb = x + k * 32;
        for (int l = 0; l < 32; l++) xb[l] += scale * z[l];
    }
    for (long i0 = blocks * 32; i0 < n; i0 += 4)
        fl_body_noise_axpy4(x, n, i0, first, scale, key0, key1, row, stream, step);
}

// MeZO directions: blocks of 32 parameters regenerate the K directions with the 32-wide
// generator (bit-identical to fl_body_dirs_grad4), then apply the update; the tail uses the
// body. `fn` receives g for 32 (or 4) consecutive parameters starting at i.
static inline void dirs_block32(float* g, long i, uint64_t first, int K, const float* s, uint32_t k0,
                                uint32_t k1, uint32_t stream, uint32_t step) {
    for (int l = 0; l < 32; l++) g[l] = 0.0f;
    for (int k = 0; k < K; k++) {
        float z[32];
        fl_cpu_normal32(k0, k1, (uint32_t)((first + (uint64_t)i) >> 2), (uint32_t)k, stream, step, z);
        for (int l = 0; l < 32; l++) g[l] += s[k] * z[l];
    }
}

static void cpu_dirs_adam(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                          uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale,
                          float lr, float b1, float b2, float eps, float bc1, float bc2, float wd) {
    if (first % 4 != 0) FL_FATAL("dirs_adam: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
#pragma omp parallel for schedule(static) if (blocks > 64)
    for (long b = 0; b < blocks; b++) {
        float g[32];
        long i = b * 32;
        dirs_block32(g, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 32; l++)
            fl_body_adam(&p[i + l], g[l] * gscale, &m[i + l], &v[i + l], lr, b1, b2, eps, bc1, bc2, wd);
    }
    for (long i = blocks * 32; i < n; i += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 4 && i + l < n; l++)
            fl_body_adam(&p[i + l], g[l] * gscale, &m[i + l], &v[i + l], lr, b1, b2, eps, bc1, bc2, wd);
    }
}

static void cpu_dirs_sgd(float* p, float* mom, long n, uint64_t first, int K, const float* s, uint32_t key0,
                         uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr, float momentum,
                         float wd) {
    if (first % 4 != 0) FL_FATAL("dirs_sgd: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
#pragma omp parallel for schedule(static) if (blocks > 64)
    for (long b = 0; b < blocks; b++) {
        float g[32];
        long i = b * 32;
        dirs_block32(g, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 32; l++) fl_body_sgd(&p[i + l], g[l] * gscale, &mom[i + l], lr, momentum, wd);
    }
    for (long i = blocks * 32; i < n; i += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 4 && i + l < n; l++) fl_body_sgd(&p[i + l], g[l] * gscale, &mom[i + l], lr, momentum, wd);
    }
}

static double cpu_dirs_sumsq(long n, uint64_t first, int K, const float* s, uint32_t key0, uint32_t key1,
                             uint32_t stream, uint32_t step) {
    if (first % 4 != 0) FL_FATAL("dirs_sumsq: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
    double acc = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (blocks > 64)
    for (long b = 0; b < blocks; b++) {
        float g[32];
        dirs_block32(g, b * 32, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 32; l++) acc += (double)g[l] * g[l];
    }
    for (long i = blocks * 32; i < n; i += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 4 && i + l < n; l++) acc += (double)g[l] * g[l];
    }
    return acc;
}

// ---------------------------------------------------------------------------------------
// row-wise

static void cpu_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                          const float* b, int rows, int cols, float eps) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        fl_body_layernorm_row(y + (long)r * cols, mean ? mean + r : NULL, rstd ? rstd + r : NULL,
                              x + (long)r * cols, w, b, cols, eps);
}

static void cpu_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
                              const float* mean, const float* rstd, const float* w, int rows,
                              int cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        fl_body_layernorm_bwd_row(dx + (long)r * cols, dy + (long)r * cols, x + (long)r * cols,
                                  mean[r], rstd[r], w, cols);
    // dw[c] += sum_r dy * xhat, db[c] += sum_r dy: parallel over columns, rows in order
#pragma omp parallel for schedule(static)
    for (int c = 0; c < cols; c++) {
        float sw = 0.f, sb = 0.f;
        for (int r = 0; r < rows; r++) {
            float g = dy[(long)r * cols + c];
            sw += g * (x[(long)r * cols + c] - mean[r]) * rstd[r];
            sb += g;
        }
        if (dw) dw[c] += sw;
        if (db) db[c] += sb;
    }
}

static void cpu_softmax(float* y, const float* x, int rows, int cols, float scale) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) fl_body_softmax_row(y + (long)r * cols, x + (long)r * cols, cols, scale);
}

static void cpu_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, float scale) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        fl_body_softmax_bwd_row(dx + (long)r * cols, dy + (long)r * cols, y + (long)r * cols, cols, scale);
}

static void cpu_xent(float* loss, int32_t* argmax, float* dlogits, const float* logits,
                     const int32_t* labels, const float* dscale, int rows, int cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        int am;
        float l = fl_body_xent_row(dlogits ? dlogits + (long)r * cols : NULL, &am,
                                   logits + (long)r * cols, labels[r], cols, dscale ? dscale[r] : 1.0f);
        if (loss) loss[r] = l;
        if (argmax) argmax[r] = am;
    }
}

// Column sums: each thread adds a contiguous block of rows into its own partial row
// (unit-stride, vectorized), then the partials are added in thread order (deterministic).
static void cpu_col_sum(float* dst, const float* src, int rows, int cols, float beta) {
    int nthreads = omp_get_max_threads();
    if (rows < 64 || nthreads == 1) {
        for (int c = 0; c < cols; c++) dst[c] = beta == 0.f ? 0.f : beta * dst[c];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[c] += src[(long)r * cols + c];
        return;
    }
    float* part = (float*)calloc((size_t)nthreads * cols, sizeof(float));
    if (!part) FL_FATAL("out of host memory in col_sum");
#pragma omp parallel
    {
        float* acc = part + (long)omp_get_thread_num() * cols;
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            const float* x = src + (long)r * cols;
            for (int c = 0; c < cols; c++) acc[c] += x[c];
        }
    }
    for (int c = 0; c < cols; c++) dst[c] = beta == 0.f ? 0.f : beta * dst[c];
    for (int t = 0; t < nthreads; t++)
        for (int c = 0; c < cols; c++) dst[c] += part[(long)t * cols + c];
    free(part);
}

static void cpu_row_sumsq(float* out, const float* x, int rows, int cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) out[r] = fl_row_sum8(x + (long)r * cols, cols, 0.f, 1);  // 8 lanes
}

// ---------------------------------------------------------------------------------------
// reductions and optimisers

static double cpu_dot(const float* x, const float* y, long n) {
    // 8 lanes per thread (vectorises: one running double sum is a chain of n dependent adds)
    double s = 0.0;
    long n8 = n / 8 * 8;
#pragma omp parallel reduction(+ : s) if (n > 4096)
    {
        double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma omp for schedule(static)
        for (long i = 0; i < n8; i += 8)
            for (int l = 0; l < 8; l++) lane[l] += (double)x[i + l] * (double)y[i + l];
        s += ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    }
    for (long i = n8; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}

static void cpu_adam(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
                     float b2, float eps, float bc1, float bc2, float wd) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) fl_body_adam(&p[i], g[i], &m[i], &v[i], lr, b1, b2, eps, bc1, bc2, wd);
}

static void cpu_sgd(float* p, const float* g, float* mom, long n, float lr, float momentum, float wd) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) fl_body_sgd(&p[i], g[i], &mom[i], lr, momentum, wd);
}

// ---------------------------------------------------------------------------------------

static char cpu_device_name[256];

static const char* cpu_model_name(void) {
    if (cpu_device_name[0]) return cpu_device_name;
    char model[200] = "unknown CPU";
    FILE* f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char* colon = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        }
        fclose(f);
    }
    snprintf(cpu_device_name, sizeof cpu_device_name, "%s (%d threads)", model, omp_get_max_threads());
    return cpu_device_name;
}

// ---------------------------------------------------------------------------------------
// ViT ops

static void cpu_vit_patchify(float* patches, const float* img, int n, int C, int H, int W, int P) {
    int T = (H / P) * (W / P) + 1;
    long K = (long)C * P * P;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)n * T; r++) {
        long i = r / T;
        fl_body_vit_patch_row(patches + r * K, img + i * C * H * W, C, H, W, P, (int)(r - i * T));
    }
}

static void cpu_vit_tokens(float* y, const float* x, const float* cls, const float* pos, int n,
                           int T, int D) {
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)n * T; r++)
        fl_body_vit_token_row(y + r * D, x + r * D, cls, pos, (int)(r % T), D);
}

static void cpu_vit_cls_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                                  const float* b, int n, int T, int T_out, int D, float eps) {
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float* ys = y + (long)s * T_out * D;
        fl_body_layernorm_row(ys, mean ? mean + s : NULL, rstd ? rstd + s : NULL,
                              x + (long)s * T * D, w, b, D, eps);
        memset(ys + D, 0, (size_t)(T_out - 1) * D * sizeof(float));
    }
}

static void cpu_vit_cls_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, long ldy,
                                      const float* x, const float* mean, const float* rstd,
                                      const float* w, int n, int T, int D) {
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float* dxs = dx + (long)s * T * D;
        fl_body_layernorm_bwd_row(dxs, dy + s * ldy, x + (long)s * T * D, mean[s], rstd[s], w, D);
        memset(dxs + D, 0, (size_t)(T - 1) * D * sizeof(float));
    }
    // dw[c] += sum_s dy * xhat, db[c] += sum_s dy (sequences in order)
#pragma omp parallel for schedule(static)
    for (int c = 0; c < D; c++) {
        float sw = 0.f, sb = 0.f;
        for (int s = 0; s < n; s++) {
            float g = dy[s * ldy + c];
            sw += g * (x[(long)s * T * D + c] - mean[s]) * rstd[s];
            sb += g;
        }
        if (dw) dw[c] += sw;
        if (db) db[c] += sb;
    }
}

static void cpu_gather_add_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) fl_body_add_row(dst + (long)r * cols, src + (long)idx[r] * cols, cols);
}

static fl_ops cpu_ops = {
    .name = "cpu", .chunk_bytes = (size_t)128 << 20,
    .alloc = cpu_alloc, .free = cpu_free, .upload = cpu_memcpy, .download = cpu_memcpy,
    .copy = cpu_memcpy, .zero = cpu_zero, .sync = cpu_sync, .mem_available = cpu_mem_available,
    .peak_mem_mb = fl_peak_rss_mb, .alloc_held = cpu_alloc_held, .alloc_peak = cpu_alloc_peak,
    .alloc_peak_reset = cpu_alloc_peak_reset,
    .gemm = cpu_gemm, .gemm_strided = cpu_gemm_strided,
    .gather_rows = cpu_gather_rows, .segment_sum = cpu_segment_sum,
    .exp = cpu_exp, .scale = cpu_scale, .axpy = cpu_axpy, .relu = cpu_relu, .relu_bwd = cpu_relu_bwd,
    .gelu = cpu_gelu, .gelu_bwd = cpu_gelu_bwd, .bias_noise = cpu_bias_noise,
    .bias_noise_set = cpu_bias_noise_set, .bias_noise_keep = cpu_bias_noise_keep,
    .lr_unit_kept = cpu_lr_unit_kept, .lr_grad = cpu_lr_grad, .lr_unit_noise = cpu_lr_unit_noise,
    .lr_unit_fold = cpu_lr_unit_fold,
    .noise_axpy = cpu_noise_axpy,
    .layernorm = cpu_layernorm, .layernorm_bwd = cpu_layernorm_bwd, .softmax = cpu_softmax,
    .softmax_bwd = cpu_softmax_bwd, .xent = cpu_xent, .col_sum = cpu_col_sum, .row_sumsq = cpu_row_sumsq,
    .dot = cpu_dot, .adam = cpu_adam, .sgd = cpu_sgd,
    .dirs_adam = cpu_dirs_adam, .dirs_sgd = cpu_dirs_sgd, .dirs_sumsq = cpu_dirs_sumsq,
    // ViT ops
    .vit_patchify = cpu_vit_patchify, .vit_tokens = cpu_vit_tokens,
    .vit_cls_layernorm = cpu_vit_cls_layernorm, .vit_cls_layernorm_bwd = cpu_vit_cls_layernorm_bwd,
    .gather_add_rows = cpu_gather_add_rows, .attention = fl_cpu_attention,
};

// Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) on every OpenMP
// thread. Without it, Adam moments and dead-ReLU gradients decaying through the denormal
// range made a Fashion-MNIST epoch 13x slower here. Values below 1.2e-38 carry no signal.
static void cpu_flush_denormals(void) {
#pragma omp parallel
    _mm_setcsr(_mm_getcsr() | 0x8040);
}

const fl_ops* fl_cpu_ops(void) {
    static int init;
    if (!init) {
        cpu_flush_denormals();
        init = 1;
    }
    cpu_ops.device_name = cpu_model_name();
    return &cpu_ops;
}

#ifndef FL_WITH_CUDA
const fl_ops* fl_cuda_ops(fl_err* err) {
    fl_fail(err, "no CUDA device: this flbench was built without CUDA (build with `make cuda`)");
    return NULL;
}
void fl_cuda_set_math(int tf32) { (void)tf32; }
#endif

const fl_ops* fl_ops_by_name(const char* name, fl_err* err) {
    if (!strcmp(name, "cpu")) return fl_cpu_ops();
    if (!strcmp(name, "cuda")) return fl_cuda_ops(err);
    fl_fail(err, "--backend: unknown backend '%s' (expected cpu or cuda)", name);
    return NULL;
}

void* fl_ops_upload_new(const fl_ops* ops, const void* host, size_t bytes) {
    void* p = ops->alloc(bytes);
    ops->upload(p, host, bytes);
    return p;
}
