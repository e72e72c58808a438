// cpu_linalg.c: the CPU backend's products, data movement and reductions (the ops table,
// ops.h): gemm and gemm_strided through OpenBLAS (OpenMP build), gather_rows, segment_sum,
// gather_add_rows, col_sum, row_sumsq and dot as OpenMP loops. Every sum and product runs in
// an order fixed by its size, never by the thread count (docs/DESIGN.md, principle 1).
#include <string.h>
#include <omp.h>
#include <cblas.h>
#include "cpu_internal.h"
#include "cpu_chunks.h"

// ---------------------------------------------------------------------------------------
// linear algebra

// Tiles of a product (cpu_gemm), by its shape alone: at least GEMM_TILE_M rows or
// GEMM_TILE_N columns of C per tile, at most GEMM_MAX_TILES tiles; when C is small, K is cut
// into chunks of at least GEMM_TILE_K. A row tile packs op(B) again, so row tiles are large:
// with 256 rows the W1 step (2048 query rows) packed its 512 x 512 weights 8 times, +0.9% of
// its instructions (ci/perf_check); with 1024, twice.
#define GEMM_TILE_M 1024
#define GEMM_TILE_N 256
#define GEMM_TILE_K 2048
#define GEMM_MAX_TILES 32
#define GEMM_MAX_K_CHUNKS 16
// Tile edges at multiples of 64 (of OpenBLAS's micro-kernel unrolls), the last at the end:
// an edge elsewhere gives each tile a ragged block that the slower edge kernels compute.
static inline int gemm_tile_edge(int n, int tiles, int t) {
    return t >= tiles ? n : (int)((long)n * t / tiles) / 64 * 64;
}

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
    // OpenBLAS's own threading cuts a product by the thread count, and its single- and
    // multi-threaded paths block K differently, so the same product rounds differently at 1
    // and 2 threads. Here the product is cut into tiles by its shape alone; OpenBLAS computes
    // each tile single-threaded (OpenBLAS-OpenMP is single-threaded inside a parallel region,
    // and at one thread), the threads take whole tiles: the same result on any thread count
    // (tests/cli/test_threads.sh). Three cuts:
    //  - M >= 2 GEMM_TILE_M: blocks of rows of C (each tile packs op(B) again);
    //  - else N >= 2 GEMM_TILE_N: blocks of columns of C (each packs op(A) again);
    //  - else K >= 2 GEMM_TILE_K (a weight gradient over many query rows): chunks of K, each
    //    product into its own partial C (M, N), the partials added in chunk order;
    //  - else one tile.
    int tiles_m = M / GEMM_TILE_M, tiles_n = N / GEMM_TILE_N, chunks_k = K / GEMM_TILE_K;
    if (tiles_m >= 2) {
        int tiles = tiles_m < GEMM_MAX_TILES ? tiles_m : GEMM_MAX_TILES;
#pragma omp parallel for schedule(static)
        for (int t = 0; t < tiles; t++) {
            int m0 = gemm_tile_edge(M, tiles, t), m1 = gemm_tile_edge(M, tiles, t + 1);
            const float* At = ta ? A + m0 : A + (long)m0 * lda;  // rows m0..m1 of op(A)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        m1 - m0, N, K, alpha, At, lda, B, ldb, beta, C + (long)m0 * ldc, ldc);
        }
    } else if (tiles_n >= 2) {
        int tiles = tiles_n < GEMM_MAX_TILES ? tiles_n : GEMM_MAX_TILES;
#pragma omp parallel for schedule(static)
        for (int t = 0; t < tiles; t++) {
            int n0 = gemm_tile_edge(N, tiles, t), n1 = gemm_tile_edge(N, tiles, t + 1);
            const float* Bt = tb ? B + (long)n0 * ldb : B + n0;  // columns n0..n1 of op(B)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, n1 - n0, K, alpha, A, lda, Bt, ldb, beta, C + n0, ldc);
        }
    } else if (chunks_k >= 2) {
        int chunks = chunks_k < GEMM_MAX_K_CHUNKS ? chunks_k : GEMM_MAX_K_CHUNKS;
        long MN = (long)M * N;
        float* part = (float*)malloc((size_t)chunks * MN * sizeof(float));  // (chunks, M, N)
        if (!part) FL_FATAL("out of host memory in gemm (%d x %d partials)", chunks, (int)MN);
#pragma omp parallel for schedule(static)
        for (int c = 0; c < chunks; c++) {
            int k0 = gemm_tile_edge(K, chunks, c), k1 = gemm_tile_edge(K, chunks, c + 1);
            const float* Ac = ta ? A + (long)k0 * lda : A + k0;  // columns k0..k1 of op(A)
            const float* Bc = tb ? B + k0 : B + (long)k0 * ldb;  // rows k0..k1 of op(B)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, N, k1 - k0, 1.0f, Ac, lda, Bc, ldb, 0.0f, part + c * MN, N);
        }
#pragma omp parallel for schedule(static)
        for (int i = 0; i < M; i++) {
            float* Ci = C + (long)i * ldc;
            for (int j = 0; j < N; j++) {
                float s = part[(long)i * N + j];
                for (int c = 1; c < chunks; c++) s += part[c * MN + (long)i * N + j];
                Ci[j] = alpha * s + (beta == 0.f ? 0.f : beta * Ci[j]);
            }
        }
        free(part);
    } else if (omp_in_parallel() || omp_get_max_threads() == 1) {
        // one tile where OpenBLAS is single-threaded already (gemm_strided's heads)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
        // one tile, in a parallel region so that OpenBLAS runs it single-threaded
#pragma omp parallel
#pragma omp single
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
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

// Column sums: each chunk of rows (cpu_chunks.h) is added into its own partial row
// (unit-stride, vectorised), then the partials are added in chunk order: the same result on
// any thread count. Fewer than 128 rows: one pass, in row order (fixed by the size alone).
void cpu_col_sum(float* dst, const float* src, int rows, int cols, float beta) {
    if (rows < 128) {
        for (int c = 0; c < cols; c++) dst[c] = beta == 0.f ? 0.f : beta * dst[c];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[c] += src[(long)r * cols + c];
        return;
    }
    int chunks = cpu_chunks(rows, 64);  // 64 rows at least per partial row
    float* part = (float*)calloc((size_t)chunks * cols, sizeof(float));
    if (!part) FL_FATAL("out of host memory in col_sum");
#pragma omp parallel for schedule(static)
    for (int k = 0; k < chunks; k++) {
        float* acc = part + (long)k * cols;
        for (long r = cpu_chunk_begin(rows, chunks, k); r < cpu_chunk_begin(rows, chunks, k + 1); r++) {
            const float* x = src + r * cols;
            for (int c = 0; c < cols; c++) acc[c] += x[c];
        }
    }
    for (int c = 0; c < cols; c++) dst[c] = beta == 0.f ? 0.f : beta * dst[c];
    for (int k = 0; k < chunks; k++)
        for (int c = 0; c < cols; c++) dst[c] += part[(long)k * cols + c];
    free(part);
}

void cpu_row_sumsq(float* out, const float* x, int rows, int cols) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) out[r] = fl_row_sum8(x + (long)r * cols, cols, 0.f, 1);  // 8 lanes
}

double cpu_dot(const float* x, const float* y, long n) {
    // Blocks of 8 elements in chunks (cpu_chunks.h); 8 double lanes per chunk (vectorises:
    // one running double sum is a chain of n dependent adds), the chunks' sums added in order.
    long blocks = n / 8;
    int chunks = cpu_chunks(blocks, 512);  // 4096 elements at least per chunk
    double sums[CPU_REDUCE_CHUNKS];
#pragma omp parallel for schedule(static) if (n > 4096)
    for (int k = 0; k < chunks; k++) {
        double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (long b = cpu_chunk_begin(blocks, chunks, k); b < cpu_chunk_begin(blocks, chunks, k + 1); b++)
            for (int l = 0; l < 8; l++) lane[l] += (double)x[b * 8 + l] * (double)y[b * 8 + l];
        sums[k] = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    }
    double s = 0.0;
    for (int k = 0; k < chunks; k++) s += sums[k];
    for (long i = blocks * 8; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}
