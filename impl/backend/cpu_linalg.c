// cpu_linalg.c: the CPU backend's products, data movement and reductions (the ops table,
// ops.h): gemm and gemm_strided through OpenBLAS (OpenMP build), gather_rows, segment_sum,
// gather_add_rows, col_sum, row_sumsq and dot as OpenMP loops. Sums run in a fixed order.
#include <string.h>
#include <omp.h>
#include <cblas.h>
#include "cpu_internal.h"

// ---------------------------------------------------------------------------------------
// linear algebra

// Row split of tall, narrow products (cpu_gemm): at least this many rows per thread, at most
// this many columns.
#define SPLIT_M_MIN_ROWS 4096
#define SPLIT_M_MAX_COLS 256

void cpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
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

void cpu_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A,
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

void cpu_gather_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        memcpy(dst + (long)r * cols, src + (long)idx[r] * cols, (size_t)cols * sizeof(float));
}

void cpu_segment_sum(float* dst, const float* src, const int32_t* offsets, int segments,
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

void cpu_gather_add_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) fl_body_add_row(dst + (long)r * cols, src + (long)idx[r] * cols, cols);
}

// ---------------------------------------------------------------------------------------
// reductions

// Column sums: each thread adds a contiguous block of rows into its own partial row
// (unit-stride, vectorized), then the partials are added in thread order (deterministic).
void cpu_col_sum(float* dst, const float* src, int rows, int cols, float beta) {
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

void cpu_row_sumsq(float* out, const float* x, int rows, int cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) out[r] = fl_row_sum8(x + (long)r * cols, cols, 0.f, 1);  // 8 lanes
}

double cpu_dot(const float* x, const float* y, long n) {
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
