// cpu_internal.h: what the files of the CPU backend share and nothing outside needs: the ops
// that cpu.c puts in its table (cpu_ops) and the other files define. The public entry is
// fl_cpu_ops (ops.h); fused attention is cpu_attention.h.
#pragma once
#include "ops.h"

// cpu_linalg.c
void cpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc);
void cpu_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A,
                      int lda, long sA, const float* B, int ldb, long sB, float beta,
                      float* C, int ldc, long sC, int batch);
void cpu_gather_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols);
void cpu_segment_sum(float* dst, const float* src, const int32_t* offsets, int segments,
                     long cols);
void cpu_gather_add_rows(float* dst, const float* src, const int32_t* idx, int rows, long cols);
void cpu_col_sum(float* dst, const float* src, int rows, int cols, float beta);
void cpu_row_sumsq(float* out, const float* x, int rows, int cols);
double cpu_dot(const float* x, const float* y, long n);

// cpu_elementwise.c
void cpu_exp(float* y, const float* x, long n);
void cpu_scale(float* x, float a, long n);
void cpu_axpy(float* y, float a, const float* x, long n);
void cpu_relu(float* y, const float* x, long n);
void cpu_relu_bwd(float* dx, const float* dy, const float* y, long n);
void cpu_gelu(float* y, const float* x, long n);
void cpu_gelu_bwd(float* dx, const float* dy, const float* x, long n);
void cpu_adam(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
              float b2, float eps, float bc1, float bc2, float wd);
void cpu_sgd(float* p, const float* g, float* mom, long n, float lr, float momentum, float wd);

// cpu_noise_ops.c
void cpu_bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                    int rows, int cols);
void cpu_bias_noise_set(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                        int rows, int cols);
void cpu_bias_noise_keep(float* y, float* keep, const float* bias, const float* sigma,
                         const fl_noise* nz, int rows, int cols, int set);
void cpu_lr_grad(float* G, float* gs, const float* coef, const float* sigma,
                 const fl_noise* nz, int rows, int cols);
void cpu_lr_unit_noise(float* E, float* gb, float* gs, const float* coef, const float* sigma,
                       const fl_noise* nz, const int32_t* uoff, int units, int cols);
void cpu_lr_unit_kept(float* E, const float* kept, float* gb, float* gs, const float* coef,
                      const float* sigma, const fl_noise* nz, const int32_t* uoff, int units,
                      int cols, int weighted);
void cpu_lr_unit_fold(float* Xf, const float* X, const float* coef, const fl_noise* nz,
                      const int32_t* uoff, int units, long din);
void cpu_noise_axpy(float* x, long n, uint64_t first, float scale, uint32_t key0,
                    uint32_t key1, uint32_t row, uint32_t stream, uint32_t step);
void cpu_dirs_adam(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                   uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale,
                   float lr, float b1, float b2, float eps, float bc1, float bc2, float wd);
void cpu_dirs_sgd(float* p, float* mom, long n, uint64_t first, int K, const float* s, uint32_t key0,
                  uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr, float momentum,
                  float wd);
double cpu_dirs_sumsq(long n, uint64_t first, int K, const float* s, uint32_t key0, uint32_t key1,
                      uint32_t stream, uint32_t step);

// cpu_nn.c
void cpu_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                   const float* b, int rows, int cols, float eps);
void cpu_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
                       const float* mean, const float* rstd, const float* w, int rows,
                       int cols);
void cpu_softmax(float* y, const float* x, int rows, int cols, float scale);
void cpu_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, float scale);
void cpu_xent(float* loss, int32_t* argmax, float* dlogits, const float* logits,
              const int32_t* labels, const float* dscale, int rows, int cols);
void cpu_vit_patchify(float* patches, const float* img, int n, int C, int H, int W, int P);
void cpu_vit_tokens(float* y, const float* x, const float* cls, const float* pos, int n,
                    int T, int D);
void cpu_vit_cls_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                           const float* b, int n, int T, int T_out, int D, float eps);
void cpu_vit_cls_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, long ldy,
                               const float* x, const float* mean, const float* rstd,
                               const float* w, int n, int T, int D);
