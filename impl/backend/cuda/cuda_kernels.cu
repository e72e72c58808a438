// cuda_kernels.cu: the CUDA backend's element-wise, data-movement, row-wise, reduction and
// optimiser ops: thin __global__ wrappers around the FL_HD bodies of impl/kernels/bodies.h,
// the same bodies the CPU backend runs in OpenMP loops (docs/DESIGN.md, principle 2).
//
// Shapes: element-wise ops take n floats; row-wise ops take (rows, cols) row-major.
//   - element-wise: one grid-stride loop, one body call per element;
//   - row-wise (layernorm, softmax, xent, row_sumsq): one warp per row, lanes stride the row,
//     shuffles add up the row, then the per-element body formula;
//   - column sums (col_sum, the dw/db of layernorm_bwd): per-block partial sums over a chunk
//     of rows, then one pass that adds the partials in block order: deterministic, no atomics;
//   - dot: double partials per block, summed in block order by one more block.
#include <math.h>
#include "cuda_common.h"

#define WARPS_PER_BLOCK (FL_CUDA_THREADS / 32)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Blocks of one warp per row.
static int row_blocks(int rows) { return (rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK; }

// ---------------------------------------------------------------------------------------
// data movement

// dst[r, :] = src[idx[r], :], four floats at a time when rows are 16-byte aligned.
__global__ void k_gather_rows4(float4* dst, const float4* src, const int32_t* idx, int rows, long cols4) {
    FL_GRID_STRIDE(i, (long)rows * cols4) {
        long r = i / cols4, c = i - r * cols4;
        dst[i] = src[(long)idx[r] * cols4 + c];
    }
}
__global__ void k_gather_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
    FL_GRID_STRIDE(i, (long)rows * cols) {
        long r = i / cols, c = i - r * cols;
        dst[i] = src[(long)idx[r] * cols + c];
    }
}

static int aligned16(const void* p) { return ((uintptr_t)p & 15u) == 0; }

void fl_cuda_gather_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
    if (rows <= 0 || cols <= 0) return;
    if (cols % 4 == 0 && aligned16(dst) && aligned16(src)) {
        long n4 = (long)rows * (cols / 4);
        k_gather_rows4<<<fl_cuda_blocks(n4, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(
            (float4*)dst, (const float4*)src, idx, rows, cols / 4);
    } else {
        k_gather_rows<<<fl_cuda_blocks((long)rows * cols, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(dst, src, idx, rows, cols);
    }
    FL_CUDA_LAUNCHED();
}

// dst[r, c] += src[idx[r], c], four columns per thread through the shared row body.
__global__ void k_gather_add_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
    long groups = (cols + 3) / 4;
    FL_GRID_STRIDE(i, (long)rows * groups) {
        long r = i / groups, c0 = 4 * (i - r * groups);
        long len = cols - c0 < 4 ? cols - c0 : 4;
        fl_body_add_row(dst + r * cols + c0, src + (long)idx[r] * cols + c0, len);
    }
}

void fl_cuda_gather_add_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols) {
    if (rows <= 0 || cols <= 0) return;
    long n = (long)rows * ((cols + 3) / 4);
    k_gather_add_rows<<<fl_cuda_blocks(n, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(dst, src, idx, rows, cols);
    FL_CUDA_LAUNCHED();
}

// dst[s, c] = sum over r in [off[s], off[s+1]) of src[r, c], rows added in order (as the CPU).
__global__ void k_segment_sum(float* dst, const float* src, const int32_t* off, int segments, long cols) {
    FL_GRID_STRIDE(i, (long)segments * cols) {
        long s = i / cols, c = i - s * cols;
        float acc = 0.f;
        for (long r = off[s]; r < off[s + 1]; r++) acc += src[r * cols + c];
        dst[i] = acc;
    }
}

void fl_cuda_segment_sum(float* dst, const float* src, const int32_t* offsets, int segments, long cols) {
    if (segments <= 0 || cols <= 0) return;
    k_segment_sum<<<fl_cuda_blocks((long)segments * cols, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(
        dst, src, offsets, segments, cols);
    FL_CUDA_LAUNCHED();
}

// ---------------------------------------------------------------------------------------
// element-wise

__global__ void k_exp(float* y, const float* x, long n) { FL_GRID_STRIDE(i, n) y[i] = expf(x[i]); }
__global__ void k_scale(float* x, float a, long n) { FL_GRID_STRIDE(i, n) x[i] *= a; }
__global__ void k_axpy(float* y, float a, const float* x, long n) { FL_GRID_STRIDE(i, n) y[i] += a * x[i]; }
__global__ void k_relu(float* y, const float* x, long n) { FL_GRID_STRIDE(i, n) y[i] = fl_body_relu(x[i]); }
__global__ void k_relu_bwd(float* dx, const float* dy, const float* y, long n) {
    FL_GRID_STRIDE(i, n) dx[i] = fl_body_relu_bwd(dy[i], y[i]);
}
__global__ void k_gelu(float* y, const float* x, long n) { FL_GRID_STRIDE(i, n) y[i] = fl_body_gelu(x[i]); }
__global__ void k_gelu_bwd(float* dx, const float* dy, const float* x, long n) {
    FL_GRID_STRIDE(i, n) dx[i] = fl_body_gelu_bwd(dy[i], x[i]);
}

#define LAUNCH_N(kernel, n, ...)                                                             \
    do {                                                                                     \
        if ((n) <= 0) return;                                                                \
        kernel<<<fl_cuda_blocks((n), FL_CUDA_THREADS), FL_CUDA_THREADS>>>(__VA_ARGS__);      \
        FL_CUDA_LAUNCHED();                                                                  \
    } while (0)

void fl_cuda_exp(float* y, const float* x, long n) { LAUNCH_N(k_exp, n, y, x, n); }
void fl_cuda_scale(float* x, float a, long n) { LAUNCH_N(k_scale, n, x, a, n); }
void fl_cuda_axpy(float* y, float a, const float* x, long n) { LAUNCH_N(k_axpy, n, y, a, x, n); }
void fl_cuda_relu(float* y, const float* x, long n) { LAUNCH_N(k_relu, n, y, x, n); }
void fl_cuda_relu_bwd(float* dx, const float* dy, const float* y, long n) { LAUNCH_N(k_relu_bwd, n, dx, dy, y, n); }
void fl_cuda_gelu(float* y, const float* x, long n) { LAUNCH_N(k_gelu, n, y, x, n); }
void fl_cuda_gelu_bwd(float* dx, const float* dy, const float* x, long n) { LAUNCH_N(k_gelu_bwd, n, dx, dy, x, n); }

// ---------------------------------------------------------------------------------------
// row-wise: one warp per row

// y, mean, rstd of row r (LayerNorm, two-pass like the CPU body). In place (y == x) is safe:
// each lane reads x[c] before writing y[c] for the same c.
__device__ __forceinline__ void ln_row_warp(float* y, float* mean, float* rstd, const float* x,
                                            const float* w, const float* b, int C, float eps, int lane) {
    float s = 0.f;
    for (int c = lane; c < C; c += 32) s += x[c];
    float m = fl_body_ln_mean(warp_sum(s), C);
    float v = 0.f;
    for (int c = lane; c < C; c += 32) { float d = x[c] - m; v += d * d; }
    float rs = fl_body_ln_rstd(warp_sum(v), C, eps);
    for (int c = lane; c < C; c += 32) y[c] = fl_body_ln_elem(x[c], m, rs, w[c], b[c]);
    if (lane == 0) {
        if (mean) *mean = m;
        if (rstd) *rstd = rs;
    }
}

__global__ void k_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                            const float* b, int rows, int C, float eps) {
    int r = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    ln_row_warp(y + (long)r * C, mean ? mean + r : NULL, rstd ? rstd + r : NULL, x + (long)r * C, w, b, C, eps, lane);
}

void fl_cuda_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                       const float* b, int rows, int cols, float eps) {
    if (rows <= 0 || cols <= 0) return;
    k_layernorm<<<row_blocks(rows), FL_CUDA_THREADS>>>(y, mean, rstd, x, w, b, rows, cols, eps);
    FL_CUDA_LAUNCHED();
}

// dx of one row (LayerNorm backward body, warp-wide sums).
__device__ __forceinline__ void ln_bwd_row_warp(float* dx, const float* dy, const float* x, float m,
                                                float rs, const float* w, int C, int lane) {
    float sg = 0.f, sgx = 0.f;
    for (int c = lane; c < C; c += 32) {
        float g = dy[c] * w[c];
        sg += g;
        sgx += g * fl_body_ln_xhat(x[c], m, rs);
    }
    sg = warp_sum(sg);
    sgx = warp_sum(sgx);
    float inv_c = 1.0f / (float)C;
    for (int c = lane; c < C; c += 32)
        dx[c] = fl_body_ln_bwd_elem(dy[c] * w[c], fl_body_ln_xhat(x[c], m, rs), rs, inv_c, sg, sgx);
}

__global__ void k_layernorm_bwd_dx(float* dx, const float* dy, const float* x, const float* mean,
                                   const float* rstd, const float* w, int rows, int C) {
    int r = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    long o = (long)r * C;
    ln_bwd_row_warp(dx + o, dy + o, x + o, mean[r], rstd[r], w, C, lane);
}

// Column partial sums over chunks of rows: part_w[chunk, c] = sum of dy * xhat, part_b of dy,
// rows r of chunk blockIdx.y. Row r of dy is at dy + r * ldy, of x at x + r * ldx.
__global__ void k_ln_dwdb_partial(float* part_w, float* part_b, const float* dy, long ldy, const float* x,
                                  long ldx, const float* mean, const float* rstd, int rows, int C,
                                  int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
    float sw = 0.f, sb = 0.f;
    for (int r = r0; r < r1; r++) {
        float g = dy[(long)r * ldy + c];
        sw += g * fl_body_ln_xhat(x[(long)r * ldx + c], mean[r], rstd[r]);
        sb += g;
    }
    part_w[(long)blockIdx.y * C + c] = sw;
    part_b[(long)blockIdx.y * C + c] = sb;
}

// dst[c] = (beta == 0 ? 0 : beta dst[c]) + sum over chunks of part[chunk, c], chunks in order.
__global__ void k_finish_col_sum(float* dst, const float* part, int chunks, int C, float beta) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.f;
    for (int k = 0; k < chunks; k++) s += part[(long)k * C + c];
    dst[c] = (beta == 0.f ? 0.f : beta * dst[c]) + s;
}

// How to split `rows` into chunks for column partial sums over `cols` columns: enough blocks
// to fill the device, each chunk at least 32 rows, at most 65535 chunks (grid y limit).
static void col_chunks(int rows, int cols, int* chunks, int* rows_per_chunk) {
    int col_blocks = (cols + 127) / 128;
    long want = (long)fl_cuda_sm_count() * 8 / col_blocks;
    long by_rows = (rows + 31) / 32;
    long k = want < by_rows ? want : by_rows;
    if (k < 1) k = 1;
    if (k > 65535) k = 65535;
    *rows_per_chunk = (int)((rows + k - 1) / k);
    *chunks = (rows + *rows_per_chunk - 1) / *rows_per_chunk;
}

// dw, db (+=) for rows whose dy and x rows are strided by ldy and ldx.
static void ln_dwdb(float* dw, float* db, const float* dy, long ldy, const float* x, long ldx,
                    const float* mean, const float* rstd, int rows, int C) {
    if (!dw && !db) return;
    int chunks, rpc;
    col_chunks(rows, C, &chunks, &rpc);
    float* pw = (float*)fl_cuda_scratch(FL_CUDA_SCRATCH_PART, (size_t)chunks * C * sizeof(float));
    float* pb = (float*)fl_cuda_scratch(FL_CUDA_SCRATCH_PART2, (size_t)chunks * C * sizeof(float));
    dim3 grid((C + 127) / 128, chunks);
    k_ln_dwdb_partial<<<grid, 128>>>(pw, pb, dy, ldy, x, ldx, mean, rstd, rows, C, rpc);
    FL_CUDA_LAUNCHED();
    if (dw) {
        k_finish_col_sum<<<(C + 127) / 128, 128>>>(dw, pw, chunks, C, 1.0f);
        FL_CUDA_LAUNCHED();
    }
    if (db) {
        k_finish_col_sum<<<(C + 127) / 128, 128>>>(db, pb, chunks, C, 1.0f);
        FL_CUDA_LAUNCHED();
    }
}

void fl_cuda_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
                           const float* mean, const float* rstd, const float* w, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
    k_layernorm_bwd_dx<<<row_blocks(rows), FL_CUDA_THREADS>>>(dx, dy, x, mean, rstd, w, rows, cols);
    FL_CUDA_LAUNCHED();
    ln_dwdb(dw, db, dy, cols, x, cols, mean, rstd, rows, cols);
}

// Softmax of scale * x, one warp per row; y == x allowed.
__global__ void k_softmax(float* y, const float* x, int rows, int C, float scale) {
    int r = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float* xr = x + (long)r * C;
    float* yr = y + (long)r * C;
    float mx = -INFINITY;
    for (int c = lane; c < C; c += 32) mx = fmaxf(mx, scale * xr[c]);
    mx = warp_max(mx);
    float s = 0.f;
    for (int c = lane; c < C; c += 32) {
        float e = fl_body_softmax_exp(xr[c], scale, mx);
        yr[c] = e;
        s += e;
    }
    float inv = 1.0f / warp_sum(s);
    for (int c = lane; c < C; c += 32) yr[c] *= inv;
}

void fl_cuda_softmax(float* y, const float* x, int rows, int cols, float scale) {
    if (rows <= 0 || cols <= 0) return;
    k_softmax<<<row_blocks(rows), FL_CUDA_THREADS>>>(y, x, rows, cols, scale);
    FL_CUDA_LAUNCHED();
}

__global__ void k_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int C, float scale) {
    int r = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    long o = (long)r * C;
    float d = 0.f;
    for (int c = lane; c < C; c += 32) d += dy[o + c] * y[o + c];
    d = warp_sum(d);
    for (int c = lane; c < C; c += 32) dx[o + c] = fl_body_softmax_bwd_elem(dy[o + c], y[o + c], d, scale);
}

void fl_cuda_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, float scale) {
    if (rows <= 0 || cols <= 0) return;
    k_softmax_bwd<<<row_blocks(rows), FL_CUDA_THREADS>>>(dx, dy, y, rows, cols, scale);
    FL_CUDA_LAUNCHED();
}

// Cross-entropy, one warp per row. argmax is the first maximum, as in the CPU body: each lane
// keeps its first maximum, and ties between lanes go to the smaller column.
__global__ void k_xent(float* loss, int32_t* argmax, float* dlogits, const float* logits,
                       const int32_t* labels, const float* dscale, int rows, int C) {
    int r = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float* l = logits + (long)r * C;
    float mx = -INFINITY;
    int am = 0;
    for (int c = lane; c < C; c += 32)
        if (l[c] > mx) { mx = l[c]; am = c; }
    for (int o = 16; o > 0; o >>= 1) {
        float omx = __shfl_xor_sync(0xffffffffu, mx, o);
        int oam = __shfl_xor_sync(0xffffffffu, am, o);
        if (omx > mx || (omx == mx && oam < am)) { mx = omx; am = oam; }
    }
    float s = 0.f;
    for (int c = lane; c < C; c += 32) s += expf(l[c] - mx);
    s = warp_sum(s);
    int label = labels[r];
    if (lane == 0) {
        // a label outside [0, C) reads nothing and gives a NaN loss
        if (loss) loss[r] = (label >= 0 && label < C) ? fl_body_xent_loss(mx, s, l[label]) : NAN;
        if (argmax) argmax[r] = am;
    }
    if (dlogits) {
        float inv = 1.0f / s;
        float ds = dscale ? dscale[r] : 1.0f;
        float* d = dlogits + (long)r * C;
        for (int c = lane; c < C; c += 32) d[c] = fl_body_xent_dlogit(l[c], mx, inv, c == label, ds);
    }
}

void fl_cuda_xent(float* loss, int32_t* argmax, float* dlogits, const float* logits,
                  const int32_t* labels, const float* dscale, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
    k_xent<<<row_blocks(rows), FL_CUDA_THREADS>>>(loss, argmax, dlogits, logits, labels, dscale, rows, cols);
    FL_CUDA_LAUNCHED();
}

// Column partial sums of src (rows, C) over chunks of rows.
__global__ void k_col_sum_partial(float* part, const float* src, int rows, int C, int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
    float s = 0.f;
    for (int r = r0; r < r1; r++) s += src[(long)r * C + c];
    part[(long)blockIdx.y * C + c] = s;
}

void fl_cuda_col_sum(float* dst, const float* src, int rows, int cols, float beta) {
    if (cols <= 0) return;
    if (rows <= 0) {  // dst = beta dst
        k_finish_col_sum<<<(cols + 127) / 128, 128>>>(dst, dst, 0, cols, beta);
        FL_CUDA_LAUNCHED();
        return;
    }
    int chunks, rpc;
    col_chunks(rows, cols, &chunks, &rpc);
    float* part = (float*)fl_cuda_scratch(FL_CUDA_SCRATCH_PART, (size_t)chunks * cols * sizeof(float));
    dim3 grid((cols + 127) / 128, chunks);
    k_col_sum_partial<<<grid, 128>>>(part, src, rows, cols, rpc);
    FL_CUDA_LAUNCHED();
    k_finish_col_sum<<<(cols + 127) / 128, 128>>>(dst, part, chunks, cols, beta);
    FL_CUDA_LAUNCHED();
}

__global__ void k_row_sumsq(float* out, const float* x, int rows, int C) {
    int r = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float* xr = x + (long)r * C;
    float s = 0.f;
    for (int c = lane; c < C; c += 32) s += xr[c] * xr[c];
    s = warp_sum(s);
    if (lane == 0) out[r] = s;
}

void fl_cuda_row_sumsq(float* out, const float* x, int rows, int cols) {
    if (rows <= 0) return;
    if (cols <= 0) {
        FL_CUDA_CHECK(cudaMemsetAsync(out, 0, (size_t)rows * sizeof(float), 0));
        return;
    }
    k_row_sumsq<<<row_blocks(rows), FL_CUDA_THREADS>>>(out, x, rows, cols);
    FL_CUDA_LAUNCHED();
}

// ---------------------------------------------------------------------------------------
// reductions and optimisers

#define DOT_BLOCKS 1024  // fixed, so the order of the sum depends on n only

__global__ void k_dot_partial(double* part, const float* x, const float* y, long n) {
    __shared__ double sh[FL_CUDA_THREADS];
    double s = 0.0;
    FL_GRID_STRIDE(i, n) s += (double)x[i] * (double)y[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

__global__ void k_dot_finish(double* out, const double* part, int blocks) {
    __shared__ double sh[FL_CUDA_THREADS];
    double s = 0.0;
    for (int i = threadIdx.x; i < blocks; i += blockDim.x) s += part[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = sh[0];
}

double fl_cuda_dot(const float* x, const float* y, long n) {
    if (n <= 0) return 0.0;
    long want = (n + FL_CUDA_THREADS - 1) / FL_CUDA_THREADS;
    int blocks = want < DOT_BLOCKS ? (int)want : DOT_BLOCKS;
    double* buf = (double*)fl_cuda_scratch(FL_CUDA_SCRATCH_DOT, (DOT_BLOCKS + 1) * sizeof(double));
    k_dot_partial<<<blocks, FL_CUDA_THREADS>>>(buf + 1, x, y, n);
    FL_CUDA_LAUNCHED();
    k_dot_finish<<<1, FL_CUDA_THREADS>>>(buf, buf + 1, blocks);
    FL_CUDA_LAUNCHED();
    double r = 0.0;
    FL_CUDA_CHECK(cudaMemcpy(&r, buf, sizeof r, cudaMemcpyDeviceToHost));
    return r;
}

__global__ void k_adam(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
                       float b2, float eps, float bc1, float bc2, float wd) {
    FL_GRID_STRIDE(i, n) fl_body_adam(&p[i], g[i], &m[i], &v[i], lr, b1, b2, eps, bc1, bc2, wd);
}

void fl_cuda_adam(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
                  float b2, float eps, float bc1, float bc2, float wd) {
    LAUNCH_N(k_adam, n, p, g, m, v, n, lr, b1, b2, eps, bc1, bc2, wd);
}

__global__ void k_sgd(float* p, const float* g, float* mom, long n, float lr, float momentum, float wd) {
    FL_GRID_STRIDE(i, n) fl_body_sgd(&p[i], g[i], &mom[i], lr, momentum, wd);
}

void fl_cuda_sgd(float* p, const float* g, float* mom, long n, float lr, float momentum, float wd) {
    LAUNCH_N(k_sgd, n, p, g, mom, n, lr, momentum, wd);
}

// ---------------------------------------------------------------------------------------
// ViT ops (bodies at the end of impl/kernels/bodies.h)

// One patch row (C*P*P floats) per thread; runs once per forward on the B images.
__global__ void k_vit_patchify(float* patches, const float* img, int n, int C, int H, int W, int P, int T) {
    long K = (long)C * P * P;
    FL_GRID_STRIDE(r, (long)n * T) {
        long i = r / T;
        fl_body_vit_patch_row(patches + r * K, img + i * C * H * W, C, H, W, P, (int)(r - i * T));
    }
}

void fl_cuda_vit_patchify(float* patches, const float* img, int n, int C, int H, int W, int P) {
    int T = (H / P) * (W / P) + 1;
    long rows = (long)n * T;
    if (rows <= 0) return;
    k_vit_patchify<<<fl_cuda_blocks(rows, 128), 128>>>(patches, img, n, C, H, W, P, T);
    FL_CUDA_LAUNCHED();
}

__global__ void k_vit_tokens(float* y, const float* x, const float* cls, const float* pos, int n, int T, int D) {
    FL_GRID_STRIDE(r, (long)n * T) fl_body_vit_token_row(y + r * D, x + r * D, cls, pos, (int)(r % T), D);
}

void fl_cuda_vit_tokens(float* y, const float* x, const float* cls, const float* pos, int n, int T, int D) {
    long rows = (long)n * T;
    if (rows <= 0) return;
    k_vit_tokens<<<fl_cuda_blocks(rows, 128), 128>>>(y, x, cls, pos, n, T, D);
    FL_CUDA_LAUNCHED();
}

// LayerNorm of the CLS row of each sequence (one warp per sequence) into row 0 of y's
// sequence; rows 1..T_out-1 of y's sequence are zeroed.
__global__ void k_vit_cls_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                                    const float* b, int n, int T, int T_out, int D, float eps) {
    int s = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (s >= n) return;
    float* ys = y + (long)s * T_out * D;
    ln_row_warp(ys, mean ? mean + s : NULL, rstd ? rstd + s : NULL, x + (long)s * T * D, w, b, D, eps, lane);
    for (long k = D + lane; k < (long)T_out * D; k += 32) ys[k] = 0.f;
}

void fl_cuda_vit_cls_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                               const float* b, int n, int T, int T_out, int D, float eps) {
    if (n <= 0 || D <= 0) return;
    k_vit_cls_layernorm<<<row_blocks(n), FL_CUDA_THREADS>>>(y, mean, rstd, x, w, b, n, T, T_out, D, eps);
    FL_CUDA_LAUNCHED();
}

// dx of the CLS rows (one warp per sequence); the other rows of dx are zeroed before.
__global__ void k_vit_cls_layernorm_bwd_dx(float* dx, const float* dy, long ldy, const float* x,
                                           const float* mean, const float* rstd, const float* w, int n,
                                           int T, int D) {
    int s = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (s >= n) return;
    long o = (long)s * T * D;
    ln_bwd_row_warp(dx + o, dy + s * ldy, x + o, mean[s], rstd[s], w, D, lane);
}

void fl_cuda_vit_cls_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, long ldy,
                                   const float* x, const float* mean, const float* rstd,
                                   const float* w, int n, int T, int D) {
    if (n <= 0 || D <= 0) return;
    FL_CUDA_CHECK(cudaMemsetAsync(dx, 0, (size_t)n * T * D * sizeof(float), 0));
    k_vit_cls_layernorm_bwd_dx<<<row_blocks(n), FL_CUDA_THREADS>>>(dx, dy, ldy, x, mean, rstd, w, n, T, D);
    FL_CUDA_LAUNCHED();
    ln_dwdb(dw, db, dy, ldy, x, (long)T * D, mean, rstd, n, D);
}
