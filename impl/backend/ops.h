// ops.h: the ops table, the only way model, estimator and optimiser code touches numbers
// (docs/DESIGN.md, principle 1). A backend (cpu.c, cuda/*.cu) fills one fl_ops; pointers passed to
// these functions live in that backend's memory (host memory for the CPU, device memory for
// CUDA). Host code moves small arrays (per-row losses, allocations) with upload/download.
//
// Matrices are row-major. gemm computes C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C,
// with op(X) = X or X^T and leading dimensions in elements, as in cblas with CblasRowMajor.
#pragma once
#include <stdint.h>
#include <stddef.h>
#include "../core/common.h"
#include "../kernels/bodies.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_ops {
    const char* name;        // "cpu" or "cuda"
    const char* device_name; // "AMD EPYC ... (2 threads)" or "NVIDIA H100 80GB HBM3"

    // --- memory ---
    void* (*alloc)(size_t bytes);                 // zero-initialised
    void (*free)(void* p);
    void (*upload)(void* dst, const void* host_src, size_t bytes);
    void (*download)(void* host_dst, const void* src, size_t bytes);
    void (*copy)(void* dst, const void* src, size_t bytes);
    void (*zero)(void* dst, size_t bytes);
    void (*sync)(void);
    size_t (*mem_available)(void);                // bytes this backend may still allocate
    // Preferred bytes of saved activations per chunk of query rows (0: as many rows as fit in
    // memory). The CPU keeps a chunk near its caches: W2 lr runs 1.73 s per step in chunks of
    // 32 queries (176 MB) against 1.81 s in one chunk of 512 (1.9 GB), `flbench bench
    // --max-rows`. A GPU wants the largest GEMMs it can get.
    size_t chunk_bytes;
    double (*peak_mem_mb)(void);                  // peak memory used by this backend so far
    // Bytes held through alloc now, and their peak since the last alloc_peak_reset (which sets
    // the peak to the bytes held): parameters, gradients, optimiser state, activations and
    // scratch, never the dataset (the results column peak_model_mb, docs/METHOD.md).
    size_t (*alloc_held)(void);
    size_t (*alloc_peak)(void);
    void (*alloc_peak_reset)(void);

    // --- linear algebra ---
    void (*gemm)(int trans_a, int trans_b, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc);
    // batch independent products, matrices strided by sA, sB, sC elements
    void (*gemm_strided)(int trans_a, int trans_b, int M, int N, int K, float alpha,
                         const float* A, int lda, long sA, const float* B, int ldb, long sB,
                         float beta, float* C, int ldc, long sC, int batch);

    // --- data movement ---
    // dst[r, :] = src[idx[r], :] for rows of `cols` floats
    void (*gather_rows)(float* dst, const float* src, const int32_t* idx, int rows, long cols);
    // dst[s, :] = sum over r in [offsets[s], offsets[s+1]) of src[r, :] (rows of `cols` floats)
    void (*segment_sum)(float* dst, const float* src, const int32_t* offsets, int segments,
                        long cols);

    // --- element-wise ---
    void (*exp)(float* y, const float* x, long n);
    void (*scale)(float* x, float a, long n);
    void (*axpy)(float* y, float a, const float* x, long n);          // y += a x
    void (*relu)(float* y, const float* x, long n);
    void (*relu_bwd)(float* dx, const float* dy, const float* y, long n);
    void (*gelu)(float* y, const float* x, long n);
    void (*gelu_bwd)(float* dx, const float* dy, const float* x, long n);
    // y(rows, cols) += bias (cols, may be NULL) + sign * sigma * eps  (nz may be NULL: bias only)
    void (*bias_noise)(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                       int rows, int cols);
    // y(rows, cols) = bias + sign * sigma * eps, the same with y's old value taken as 0: the
    // fill of a linear output before its GEMM adds x W^T with beta 1 (model.c), so the output
    // is written once instead of zeroed, multiplied into, then read again for the noise.
    void (*bias_noise_set)(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                           int rows, int cols);
    // G(rows, cols) = coef[q] sign eps / sigma; gs(cols) += sum_rows coef[q] (eps^2 - 1)
    // (gs may be NULL)
    void (*lr_grad)(float* G, float* gs, const float* coef, const float* sigma, const fl_noise* nz,
                    int rows, int cols);
    // LR gradient by units (bodies.h, fl_elem_lr_unit): unit u is the queries
    // [uoff[u], uoff[u+1]) on one noise row (uoff in backend memory). E(units*T, cols) =
    // eps / sigma of each unit's row; gb(cols) += sum_q coef[q] sign eps / sigma and
    // gs(cols) += sum_q coef[q] (eps^2 - 1) (each nullable). Then gW += E^T Xf.
    void (*lr_unit_noise)(float* E, float* gb, float* gs, const float* coef, const float* sigma,
                          const fl_noise* nz, const int32_t* uoff, int units, int cols);
    // Keeping the normals from the forward for the gradient, instead of drawing them twice
    // (nullable both; CUDA draws twice). bias_noise_keep is bias_noise (set 0) or
    // bias_noise_set (set 1) that also writes the normals of each unit's row to keep
    // (units*T, cols), units being adjacent queries on one noise row paired two by two in
    // query order (lr.c's build_units). lr_unit_kept is lr_unit_noise with the normals read
    // from kept (E == kept allowed); with `weighted`, E = (sum_q coef sign) eps / sigma, the
    // unit's whole factor, for inputs saved per datum (then summed over each datum's units).
    void (*bias_noise_keep)(float* y, float* keep, const float* bias, const float* sigma,
                            const fl_noise* nz, int rows, int cols, int set);
    void (*lr_unit_kept)(float* E, const float* kept, float* gb, float* gs, const float* coef,
                         const float* sigma, const fl_noise* nz, const int32_t* uoff, int units,
                         int cols, int weighted);
    // Xf(units*T, din) = sum over unit u's queries q of coef[q] sign_q X(q*T + t, :)
    void (*lr_unit_fold)(float* Xf, const float* X, const float* coef, const fl_noise* nz,
                         const int32_t* uoff, int units, long din);
    // x[i] += scale * z(first + i), i < n; z = Philox normals of (row, stream, step) under key.
    // `first` must be a multiple of 4.
    void (*noise_axpy)(float* x, long n, uint64_t first, float scale, uint32_t key0,
                       uint32_t key1, uint32_t row, uint32_t stream, uint32_t step);

    // --- row-wise ---
    void (*layernorm)(float* y, float* mean, float* rstd, const float* x, const float* w,
                      const float* b, int rows, int cols, float eps);
    // dx = LN backward; dw, db (cols) are accumulated (+=)
    void (*layernorm_bwd)(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* mean, const float* rstd, const float* w, int rows,
                          int cols);
    void (*softmax)(float* y, const float* x, int rows, int cols, float scale);
    void (*softmax_bwd)(float* dx, const float* dy, const float* y, int rows, int cols,
                        float scale);
    // loss(rows) = cross-entropy of logits(rows, cols) against labels; argmax (nullable);
    // dlogits (nullable) = dscale[r] * (softmax - onehot)
    void (*xent)(float* loss, int32_t* argmax, float* dlogits, const float* logits,
                 const int32_t* labels, const float* dscale, int rows, int cols);
    // dst(cols) = beta * dst + sum over rows of src(rows, cols)
    void (*col_sum)(float* dst, const float* src, int rows, int cols, float beta);
    // out(rows) = sum of squares of each row of x(rows, cols)
    void (*row_sumsq)(float* out, const float* x, int rows, int cols);

    // --- reductions and optimisers ---
    double (*dot)(const float* x, const float* y, long n);
    void (*adam)(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
                 float b2, float eps, float bc1, float bc2, float wd);
    void (*sgd)(float* p, const float* g, float* mom, long n, float lr, float momentum,
                float wd);

    // --- MeZO updates without a gradient buffer: g = gscale * sum_k s[k] z_k(first + i), with
    // z_k the normals of Philox row k (stream, step) and s (K) in backend memory; `first` a
    // multiple of 4. Identical to materialising g with noise_axpy and calling adam/sgd. ---
    void (*dirs_adam)(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                      uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale,
                      float lr, float b1, float b2, float eps, float bc1, float bc2, float wd);
    void (*dirs_sgd)(float* p, float* mom, long n, uint64_t first, int K, const float* s,
                     uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale,
                     float lr, float momentum, float wd);
    // sum_i g_i^2 (gscale 1), in double
    double (*dirs_sumsq)(long n, uint64_t first, int K, const float* s, uint32_t key0,
                         uint32_t key1, uint32_t stream, uint32_t step);

    // --- ViT ops (impl/models/vit.c); bodies at the end of impl/kernels/bodies.h ---
    // Image (n, C, H, W) -> patches (n, T, C*P*P), T = (H/P)(W/P) + 1. Row 0 of each image is
    // zero (the CLS slot); row 1 + pi*(W/P) + pj holds patch (pi, pj) flattened in (C, P, P)
    // order, the layout of a Conv2d(C, D, P, stride P) weight seen as a (D, C*P*P) matrix.
    void (*vit_patchify)(float* patches, const float* img, int n, int C, int H, int W, int P);
    // y (n, T, D): row 0 = cls + pos[0] (zero when cls is NULL); row t > 0 = x[t] + pos[t]
    // (x[t] when pos is NULL). y == x allowed. With cls = pos = NULL it zeroes the CLS rows.
    void (*vit_tokens)(float* y, const float* x, const float* cls, const float* pos, int n,
                       int T, int D);
    // LayerNorm of token 0 (CLS) of each sequence of x (n, T, D) into y (n, T_out, D): row 0
    // of each sequence of y is the normalised CLS token, rows 1..T_out-1 are zeroed (T_out is
    // 1 for a compact output, or T). mean, rstd (n) nullable.
    void (*vit_cls_layernorm)(float* y, float* mean, float* rstd, const float* x, const float* w,
                              const float* b, int n, int T, int T_out, int D, float eps);
    // Its backward: dy row s at dy + s * ldy (D floats); dx (n, T, D) is overwritten (CLS rows
    // get the LayerNorm backward, all other rows zero); dw, db (D) are accumulated (+=).
    void (*vit_cls_layernorm_bwd)(float* dx, float* dw, float* db, const float* dy, long ldy,
                                  const float* x, const float* mean, const float* rstd,
                                  const float* w, int n, int T, int D);
    // Multi-head attention over S sequences, heads as contiguous slices of D (hd = D / H):
    // ctx_h (T, hd) = softmax(scale q_h k_h^T) v_h for q, k, v, ctx (S, T, D); the
    // probabilities (S, H, T, T) are written when probs is not NULL (BP). Returns 0 when done,
    // nonzero when the backend has no fused path for the shape (nothing written): the model
    // then uses gemm_strided and softmax. NULL: never fused.
    int (*attention)(float* ctx, float* probs, const float* q, const float* k, const float* v,
                     int S, int T, int H, int D, float scale);
    // dst[r, :] += src[idx[r], :] for rows of `cols` floats: a residual add that expands
    // per-datum rows to query rows.
    void (*gather_add_rows)(float* dst, const float* src, const int32_t* idx, int rows, long cols);
} fl_ops;

// The CPU backend (always present).
const fl_ops* fl_cpu_ops(void);
// The CUDA backend; NULL with err filled ("no CUDA device: ...") when unavailable or not built.
const fl_ops* fl_cuda_ops(fl_err* err);
// CUDA GEMM precision: 0 = fp32 (default), 1 = TF32 tensor cores (`--math tf32`). Does
// nothing in a build without CUDA.
void fl_cuda_set_math(int tf32);
// By name: "cpu" or "cuda".
const fl_ops* fl_ops_by_name(const char* name, fl_err* err);

// Device-side copy of a small host array, freed with ops->free.
void* fl_ops_upload_new(const fl_ops* ops, const void* host, size_t bytes);

#ifdef __cplusplus
}
#endif
