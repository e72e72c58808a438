// cuda_noise.cu: the CUDA backend's noise ops: LR noise on layer outputs (bias_noise,
// bias_noise_set), the LR gradient factor (lr_grad, and by units: lr_unit_noise, lr_unit_fold)
// and MeZO's in-place perturbation (noise_axpy). Each thread draws one Philox call (four
// normals) in-kernel through the shared bodies of impl/kernels/bodies.h and philox.h, so
// nothing is stored and the numbers are the CPU's.
//
// This file is compiled with -fmad=false (Makefile): no multiply-add contraction, exactly as
// gcc compiles the CPU side (-ffp-contract=off), so the normals, y + bias + sign sigma eps,
// coef eps / sigma and x + scale z are bit-identical to the CPU backend's. Only explicit
// fmaf() calls in philox.h fuse, on both sides.
#include "cuda_common.h"

// ---------------------------------------------------------------------------------------
// bias_noise: y(rows, cols) += bias + sign sigma eps; with `set` (bias_noise_set) y's old value
// counts as 0, so y is only written (the fill before a beta-1 GEMM). One thread per group of
// four columns of one row (consecutive threads take consecutive groups of a row: coalesced).

__global__ void k_bias_noise(float* y, const float* bias, const float* sigma, fl_noise nz, int has_noise,
                             int rows, int cols, int set) {
    long groups = (cols + 3) / 4;
    FL_GRID_STRIDE(i, (long)rows * groups) {
        long r = i / groups;
        int g = (int)(i - r * groups);
        // two calls rather than one with (has_noise ? &nz : NULL): a pointer that may be NULL
        // would force the 32-byte fl_noise out of parameter space into local memory
        if (has_noise) fl_body_bias_noise4(y + r * cols, bias, sigma, &nz, (int)r, 4 * g, cols, set);
        else fl_body_bias_noise4(y + r * cols, bias, sigma, NULL, (int)r, 4 * g, cols, set);
    }
}

static void bias_noise_launch(float* y, const float* bias, const float* sigma, const fl_noise* nz, int rows,
                              int cols, int set) {
    fl_noise none = {0, 0, 0, 0, NULL, 1};
    long n = (long)rows * ((cols + 3) / 4);
    k_bias_noise<<<fl_cuda_blocks(n, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(y, bias, sigma, nz ? *nz : none,
                                                                         nz != NULL, rows, cols, set);
    FL_CUDA_LAUNCHED();
}

void fl_cuda_bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz, int rows, int cols) {
    if (rows <= 0 || cols <= 0 || (!bias && !nz)) return;
    bias_noise_launch(y, bias, sigma, nz, rows, cols, 0);
}

// y(rows, cols) = bias + sign sigma eps (bias and nz nullable; with neither, y = 0)
void fl_cuda_bias_noise_set(float* y, const float* bias, const float* sigma, const fl_noise* nz, int rows,
                            int cols) {
    if (rows <= 0 || cols <= 0) return;
    bias_noise_launch(y, bias, sigma, nz, rows, cols, 1);
}

// ---------------------------------------------------------------------------------------
// lr_grad: G(rows, cols) = coef[q] sign eps / sigma, and gs(cols) += sum over rows of
// coef[q] (eps^2 - 1). Blocks are (column groups) x (chunks of rows): a thread walks its group
// of four columns down the rows of its chunk, writing G and keeping the four gs sums in
// registers; the chunk sums go to a scratch array part(chunks, cols), then one more kernel
// adds them up in chunk order. Deterministic: no atomics, a fixed order for a given shape.

#define LR_THREADS 128

__global__ void k_lr_grad(float* G, float* part, const float* coef, const float* sigma, fl_noise nz, int rows,
                          int cols, int rows_per_chunk) {
    int groups = (cols + 3) / 4;
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int r = r0; r < r1; r++) {
        float gs4[4];
        fl_body_lr_grad4(G + (long)r * cols, gs4, coef, sigma, &nz, r, 4 * g, cols);
#pragma unroll
        for (int l = 0; l < 4; l++) acc[l] += gs4[l];
    }
    if (part) {
        float* p = part + (long)blockIdx.y * cols;
#pragma unroll
        for (int l = 0; l < 4; l++)
            if (4 * g + l < cols) p[4 * g + l] = acc[l];
    }
}

__global__ void k_lr_gs_finish(float* gs, const float* part, int chunks, int cols) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.f;
    for (int k = 0; k < chunks; k++) s += part[(long)k * cols + c];
    gs[c] += s;
}

// The (column blocks) x (row chunks) grid of k_lr_grad and k_lr_unit_noise for `rows` rows:
// enough blocks to fill the device a few times over, each chunk at least 16 rows. Returns the
// chunk count; *rows_per_chunk gets its height.
static long lr_row_chunks(int rows, int col_blocks, int* rows_per_chunk) {
    long want = (long)fl_cuda_sm_count() * 16 / col_blocks;
    long by_rows = (rows + 15) / 16;
    long chunks = want < by_rows ? want : by_rows;
    if (chunks < 1) chunks = 1;
    if (chunks > 65535) chunks = 65535;
    int rpc = (int)((rows + chunks - 1) / chunks);
    *rows_per_chunk = rpc;
    return (rows + rpc - 1) / rpc;
}

void fl_cuda_lr_grad(float* G, float* gs, const float* coef, const float* sigma, const fl_noise* nz,
                     int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
    int groups = (cols + 3) / 4;
    int col_blocks = (groups + LR_THREADS - 1) / LR_THREADS;
    int rpc;
    long chunks = lr_row_chunks(rows, col_blocks, &rpc);
    float* part = gs ? (float*)fl_cuda_scratch(FL_CUDA_SCRATCH_PART, (size_t)chunks * cols * sizeof(float)) : NULL;
    dim3 grid(col_blocks, (unsigned)chunks);
    k_lr_grad<<<grid, LR_THREADS>>>(G, part, coef, sigma, *nz, rows, cols, rpc);
    FL_CUDA_LAUNCHED();
    if (gs) {
        k_lr_gs_finish<<<(cols + 127) / 128, 128>>>(gs, part, (int)chunks, cols);
        FL_CUDA_LAUNCHED();
    }
}

// ---------------------------------------------------------------------------------------
// lr_unit_noise: the LR gradient factor by units (ops.h; bodies.h, fl_elem_lr_unit). Unit u is
// the queries [uoff[u], uoff[u+1]) on one noise row; its unit-rows are u*T + t, t < T.
//   E(units*T, cols) = eps / sigma of the unit's Philox row
//   gb(cols) += sum over unit-rows of wsum eps / sigma, gs(cols) += sum of asum (eps^2 - 1)
// with wsum = sum_q coef[q] sign_q and asum = sum_q coef[q] (fl_lr_unit_weights). The grid and
// the reduction are lr_grad's: a thread walks its group of four columns down the unit-rows of
// its chunk, keeping gb and gs in registers; the chunk sums go to part(2, chunks, cols) (gb
// sums, then gs sums), added up in chunk order by k_lr_gs_finish. Deterministic, no atomics.
// uoff, coef, qcode and sigma are device memory. Unlike the CPU, units whose queries are not
// on one noise row are not detected here (the last query's row is used): lr.c builds units
// from adjacent queries with equal noise rows only.

__global__ void k_lr_unit_noise(float* E, float* part_b, float* part_s, const float* coef, const float* sigma,
                                fl_noise nz, const int32_t* uoff, int unit_rows, int cols, int rows_per_chunk) {
    int groups = (cols + 3) / 4;
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(unit_rows, r0 + rows_per_chunk);
    float acc_b[4] = {0.f, 0.f, 0.f, 0.f}, acc_s[4] = {0.f, 0.f, 0.f, 0.f};
    for (int r = r0; r < r1; r++) {
        int u = r / nz.tokens, t = r - u * nz.tokens;
        float wsum, asum, gb4[4], gs4[4];
        uint32_t row = fl_lr_unit_weights(&nz, coef, uoff, u, t, &wsum, &asum);
        fl_body_lr_unit4(E + (long)r * cols, gb4, gs4, wsum, asum, row, sigma, &nz, 4 * g, cols);
#pragma unroll
        for (int l = 0; l < 4; l++) {
            acc_b[l] += gb4[l];
            acc_s[l] += gs4[l];
        }
    }
    long off = (long)blockIdx.y * cols;
#pragma unroll
    for (int l = 0; l < 4; l++) {
        if (4 * g + l >= cols) break;
        if (part_b) part_b[off + 4 * g + l] = acc_b[l];
        if (part_s) part_s[off + 4 * g + l] = acc_s[l];
    }
}

void fl_cuda_lr_unit_noise(float* E, float* gb, float* gs, const float* coef, const float* sigma,
                           const fl_noise* nz, const int32_t* uoff, int units, int cols) {
    if (units <= 0 || cols <= 0 || nz->tokens <= 0) return;
    int unit_rows = units * nz->tokens;  // at most the layer's rows Q*T, an int like lr_grad's rows
    int groups = (cols + 3) / 4;
    int col_blocks = (groups + LR_THREADS - 1) / LR_THREADS;
    int rpc;
    long chunks = lr_row_chunks(unit_rows, col_blocks, &rpc);
    // one scratch slot: the gb sums in [0, chunks cols), the gs sums after them
    float* part = (gb || gs) ? (float*)fl_cuda_scratch(FL_CUDA_SCRATCH_PART, (size_t)2 * chunks * cols * sizeof(float))
                             : NULL;
    float* part_b = gb ? part : NULL;
    float* part_s = gs ? part + chunks * cols : NULL;
    dim3 grid(col_blocks, (unsigned)chunks);
    k_lr_unit_noise<<<grid, LR_THREADS>>>(E, part_b, part_s, coef, sigma, *nz, uoff, unit_rows, cols, rpc);
    FL_CUDA_LAUNCHED();
    if (gb) {
        k_lr_gs_finish<<<(cols + 127) / 128, 128>>>(gb, part_b, (int)chunks, cols);
        FL_CUDA_LAUNCHED();
    }
    if (gs) {
        k_lr_gs_finish<<<(cols + 127) / 128, 128>>>(gs, part_s, (int)chunks, cols);
        FL_CUDA_LAUNCHED();
    }
}

// ---------------------------------------------------------------------------------------
// lr_unit_fold: Xf(units*T, din) = sum over unit u's queries q of coef[q] sign_q X(q*T + t, :),
// one thread per group of four columns of one unit-row (consecutive threads: consecutive
// groups of a row). The queries are added in order, first product then +=, as the CPU does,
// so with -fmad=false the result is the CPU's bit for bit. uoff, coef, qcode are device memory;
// an empty unit gives a zero row.

__global__ void k_lr_unit_fold(float* Xf, const float* X, const float* coef, fl_noise nz, const int32_t* uoff,
                               long unit_rows, long din) {
    long groups = (din + 3) / 4;
    int T = nz.tokens;
    FL_GRID_STRIDE(i, unit_rows * groups) {
        long ur = i / groups;
        long c0 = 4 * (i - ur * groups);
        int u = (int)(ur / T), t = (int)(ur - (long)u * T);
        int q0 = uoff[u], q1 = uoff[u + 1];
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int q = q0; q < q1; q++) {
            float sign;
            fl_noise_row(&nz, q * T, &sign);
            float w = coef[q] * sign;
            const float* xq = X + ((long)q * T + t) * din;
#pragma unroll
            for (int l = 0; l < 4; l++)
                if (c0 + l < din) acc[l] = q == q0 ? w * xq[c0 + l] : acc[l] + w * xq[c0 + l];
        }
        float* xf = Xf + ur * din;
#pragma unroll
        for (int l = 0; l < 4; l++)
            if (c0 + l < din) xf[c0 + l] = acc[l];
    }
}

void fl_cuda_lr_unit_fold(float* Xf, const float* X, const float* coef, const fl_noise* nz, const int32_t* uoff,
                          int units, long din) {
    if (units <= 0 || din <= 0 || nz->tokens <= 0) return;
    long unit_rows = (long)units * nz->tokens;
    long n = unit_rows * ((din + 3) / 4);
    k_lr_unit_fold<<<fl_cuda_blocks(n, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(Xf, X, coef, *nz, uoff, unit_rows, din);
    FL_CUDA_LAUNCHED();
}

// ---------------------------------------------------------------------------------------
// noise_axpy: x[i] += scale z(first + i), one thread per group of four parameters.

__global__ void k_noise_axpy(float* x, long n, uint64_t first, float scale, uint32_t k0, uint32_t k1,
                             uint32_t row, uint32_t stream, uint32_t step) {
    FL_GRID_STRIDE(g, (n + 3) / 4) fl_body_noise_axpy4(x, n, 4 * g, first, scale, k0, k1, row, stream, step);
}

void fl_cuda_noise_axpy(float* x, long n, uint64_t first, float scale, uint32_t key0, uint32_t key1,
                        uint32_t row, uint32_t stream, uint32_t step) {
    if (first % 4 != 0) FL_FATAL("noise_axpy: first element %llu is not a multiple of 4", (unsigned long long)first);
    if (n <= 0) return;
    k_noise_axpy<<<fl_cuda_blocks((n + 3) / 4, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(x, n, first, scale, key0, key1,
                                                                                    row, stream, step);
    FL_CUDA_LAUNCHED();
}

// ---------------------------------------------------------------------------------------
// MeZO directions without a gradient buffer: one thread per group of four parameters
// regenerates the K directions (fl_body_dirs_grad4) and applies the update. s (K) is in
// device memory.

__global__ void k_dirs_adam(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                            uint32_t k0, uint32_t k1, uint32_t stream, uint32_t step, float gscale, float lr,
                            float b1, float b2, float eps, float bc1, float bc2, float wd) {
    FL_GRID_STRIDE(gi, (n + 3) / 4) {
        float g[4];
        long i0 = 4 * gi;
        fl_body_dirs_grad4(g, n, i0, first, K, s, k0, k1, stream, step);
        for (int l = 0; l < 4 && i0 + l < n; l++)
            fl_body_adam(&p[i0 + l], g[l] * gscale, &m[i0 + l], &v[i0 + l], lr, b1, b2, eps, bc1, bc2, wd);
    }
}

void fl_cuda_dirs_adam(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                       uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr,
                       float b1, float b2, float eps, float bc1, float bc2, float wd) {
    if (first % 4 != 0) FL_FATAL("dirs_adam: first element %llu is not a multiple of 4", (unsigned long long)first);
    if (n <= 0) return;
    k_dirs_adam<<<fl_cuda_blocks((n + 3) / 4, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(
        p, m, v, n, first, K, s, key0, key1, stream, step, gscale, lr, b1, b2, eps, bc1, bc2, wd);
    FL_CUDA_LAUNCHED();
}

__global__ void k_dirs_sgd(float* p, float* mom, long n, uint64_t first, int K, const float* s, uint32_t k0,
                           uint32_t k1, uint32_t stream, uint32_t step, float gscale, float lr, float momentum,
                           float wd) {
    FL_GRID_STRIDE(gi, (n + 3) / 4) {
        float g[4];
        long i0 = 4 * gi;
        fl_body_dirs_grad4(g, n, i0, first, K, s, k0, k1, stream, step);
        for (int l = 0; l < 4 && i0 + l < n; l++) fl_body_sgd(&p[i0 + l], g[l] * gscale, &mom[i0 + l], lr, momentum, wd);
    }
}

void fl_cuda_dirs_sgd(float* p, float* mom, long n, uint64_t first, int K, const float* s, uint32_t key0,
                      uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr, float momentum,
                      float wd) {
    if (first % 4 != 0) FL_FATAL("dirs_sgd: first element %llu is not a multiple of 4", (unsigned long long)first);
    if (n <= 0) return;
    k_dirs_sgd<<<fl_cuda_blocks((n + 3) / 4, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(
        p, mom, n, first, K, s, key0, key1, stream, step, gscale, lr, momentum, wd);
    FL_CUDA_LAUNCHED();
}

#define DIRS_BLOCKS 1024  // fixed, so the order of the sum depends on n only
__global__ void k_dirs_sumsq(double* part, long n, uint64_t first, int K, const float* s, uint32_t k0,
                             uint32_t k1, uint32_t stream, uint32_t step) {
    __shared__ double sh[FL_CUDA_THREADS];
    double acc = 0.0;
    FL_GRID_STRIDE(gi, (n + 3) / 4) {
        float g[4];
        long i0 = 4 * gi;
        fl_body_dirs_grad4(g, n, i0, first, K, s, k0, k1, stream, step);
        for (int l = 0; l < 4 && i0 + l < n; l++) acc += (double)g[l] * g[l];
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

double fl_cuda_dirs_sumsq(long n, uint64_t first, int K, const float* s, uint32_t key0, uint32_t key1,
                          uint32_t stream, uint32_t step) {
    if (first % 4 != 0) FL_FATAL("dirs_sumsq: first element %llu is not a multiple of 4", (unsigned long long)first);
    if (n <= 0) return 0.0;
    long want = ((n + 3) / 4 + FL_CUDA_THREADS - 1) / FL_CUDA_THREADS;
    int blocks = want < DIRS_BLOCKS ? (int)want : DIRS_BLOCKS;
    double* part = (double*)fl_cuda_scratch(FL_CUDA_SCRATCH_DOT, DIRS_BLOCKS * sizeof(double));
    k_dirs_sumsq<<<blocks, FL_CUDA_THREADS>>>(part, n, first, K, s, key0, key1, stream, step);
    FL_CUDA_LAUNCHED();
    double h[DIRS_BLOCKS];
    FL_CUDA_CHECK(cudaMemcpy(h, part, (size_t)blocks * sizeof(double), cudaMemcpyDeviceToHost));
    double r = 0.0;
    for (int b = 0; b < blocks; b++) r += h[b];
    return r;
}

// ---------------------------------------------------------------------------------------
// Test hook (tests/unit/test_cuda.c): the raw Philox4x32-10 integers of counters
// (g, row, stream, step) for g in [0, groups), computed on the device, into host out (4 groups).

__global__ void k_philox_dump(uint32_t* out, long groups, uint32_t k0, uint32_t k1, uint32_t row,
                              uint32_t stream, uint32_t step) {
    FL_GRID_STRIDE(g, groups) {
        fl_u32x4 c;
        c.v[0] = (uint32_t)g; c.v[1] = row; c.v[2] = stream; c.v[3] = step;
        fl_u32x4 r = fl_philox4x32_10(c, k0, k1);
        for (int l = 0; l < 4; l++) out[4 * g + l] = r.v[l];
    }
}

extern "C" void fl_cuda_philox_dump(uint32_t* host_out, long groups, uint32_t k0, uint32_t k1, uint32_t row,
                                    uint32_t stream, uint32_t step) {
    if (groups <= 0) return;
    uint32_t* d = NULL;
    FL_CUDA_CHECK(cudaMalloc(&d, (size_t)groups * 4 * sizeof(uint32_t)));
    k_philox_dump<<<fl_cuda_blocks(groups, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(d, groups, k0, k1, row, stream, step);
    FL_CUDA_LAUNCHED();
    FL_CUDA_CHECK(cudaMemcpy(host_out, d, (size_t)groups * 4 * sizeof(uint32_t), cudaMemcpyDeviceToHost));
    FL_CUDA_CHECK(cudaFree(d));
}
