// cuda_common.h: what the CUDA backend's translation units share: checked-call macros that
// print file:line, launch geometry, the backend's own device scratch, and the op functions
// each file defines for the table assembled in cuda_ops.cu.
//
// Everything runs on the legacy default stream, so kernels, cuBLAS calls and copies are
// ordered; download() and sync() are the points where the host waits.
#pragma once
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include "../ops.h"

// Every CUDA runtime call: on failure, "flbench: FILE:LINE: CUDA error NAME (text) in CALL"
// and exit 1 (ops cannot return errors; a failed device call leaves nothing to recover).
#define FL_CUDA_CHECK(call) fl_cuda_check_at((call), #call, __FILE__, __LINE__)
#define FL_CUBLAS_CHECK(call) fl_cublas_check_at((call), #call, __FILE__, __LINE__)
// After every kernel launch: catches bad launch configurations at the launch site.
#define FL_CUDA_LAUNCHED() fl_cuda_check_at(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

void fl_cuda_check_at(cudaError_t e, const char* what, const char* file, int line);
void fl_cublas_check_at(cublasStatus_t s, const char* what, const char* file, int line);

// Launch geometry.
#define FL_CUDA_THREADS 256
int fl_cuda_sm_count(void);
// Blocks for a grid-stride loop over n items with `threads` per block: enough to fill the
// device several times over, never more than the items need (at least 1).
int fl_cuda_blocks(long n, int threads);

// Backend-owned device scratch (partial sums and the like), grown on demand and kept.
// Slots are private to the op that uses them; contents do not survive the next op call.
enum { FL_CUDA_SCRATCH_PART = 0, FL_CUDA_SCRATCH_PART2, FL_CUDA_SCRATCH_DOT, FL_CUDA_SCRATCH_N };
void* fl_cuda_scratch(int slot, size_t bytes);

// Grid-stride loop over i in [0, n).
#define FL_GRID_STRIDE(i, n) \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

// --- ops defined in cuda_kernels.cu (element-wise, data movement, row-wise, reductions) ---
void fl_cuda_gather_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols);
void fl_cuda_segment_sum(float* dst, const float* src, const int32_t* offsets, int segments, long cols);
void fl_cuda_exp(float* y, const float* x, long n);
void fl_cuda_scale(float* x, float a, long n);
void fl_cuda_axpy(float* y, float a, const float* x, long n);
void fl_cuda_relu(float* y, const float* x, long n);
void fl_cuda_relu_bwd(float* dx, const float* dy, const float* y, long n);
void fl_cuda_gelu(float* y, const float* x, long n);
void fl_cuda_gelu_bwd(float* dx, const float* dy, const float* x, long n);
void fl_cuda_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                       const float* b, int rows, int cols, float eps);
void fl_cuda_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
                           const float* mean, const float* rstd, const float* w, int rows, int cols);
void fl_cuda_softmax(float* y, const float* x, int rows, int cols, float scale);
void fl_cuda_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, float scale);
void fl_cuda_xent(float* loss, int32_t* argmax, float* dlogits, const float* logits,
                  const int32_t* labels, const float* dscale, int rows, int cols);
void fl_cuda_col_sum(float* dst, const float* src, int rows, int cols, float beta);
void fl_cuda_row_sumsq(float* out, const float* x, int rows, int cols);
double fl_cuda_dot(const float* x, const float* y, long n);
void fl_cuda_adam(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
                  float b2, float eps, float bc1, float bc2, float wd);
void fl_cuda_sgd(float* p, const float* g, float* mom, long n, float lr, float momentum, float wd);
// ViT ops
void fl_cuda_vit_patchify(float* patches, const float* img, int n, int C, int H, int W, int P);
void fl_cuda_vit_tokens(float* y, const float* x, const float* cls, const float* pos, int n, int T, int D);
void fl_cuda_vit_cls_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                               const float* b, int n, int T, int T_out, int D, float eps);
void fl_cuda_vit_cls_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, long ldy,
                                   const float* x, const float* mean, const float* rstd,
                                   const float* w, int n, int T, int D);
void fl_cuda_gather_add_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols);

// --- ops defined in cuda_noise.cu (compiled with -fmad=false: bit-identical noise) ---
void fl_cuda_bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                        int rows, int cols);
void fl_cuda_bias_noise_set(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                            int rows, int cols);
void fl_cuda_lr_grad(float* G, float* gs, const float* coef, const float* sigma, const fl_noise* nz,
                     int rows, int cols);
void fl_cuda_lr_unit_noise(float* E, float* gb, float* gs, const float* coef, const float* sigma,
                           const fl_noise* nz, const int32_t* uoff, int units, int cols);
void fl_cuda_lr_unit_fold(float* Xf, const float* X, const float* coef, const fl_noise* nz,
                          const int32_t* uoff, int units, long din);
void fl_cuda_noise_axpy(float* x, long n, uint64_t first, float scale, uint32_t key0, uint32_t key1,
                        uint32_t row, uint32_t stream, uint32_t step);
void fl_cuda_dirs_adam(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                       uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr,
                       float b1, float b2, float eps, float bc1, float bc2, float wd);
void fl_cuda_dirs_sgd(float* p, float* mom, long n, uint64_t first, int K, const float* s, uint32_t key0,
                      uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr, float momentum,
                      float wd);
double fl_cuda_dirs_sumsq(long n, uint64_t first, int K, const float* s, uint32_t key0, uint32_t key1,
                          uint32_t stream, uint32_t step);
