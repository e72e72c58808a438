// cpu_nn.c: the CPU backend's row-wise network ops and ViT ops (the ops table, ops.h):
// LayerNorm, softmax and cross-entropy with their backwards, patchify, tokens, and the CLS
// LayerNorm and its backward; OpenMP loops over the shared bodies of impl/kernels/bodies.h,
// the parameter gradients summed over rows in order.
#include <string.h>
#include "cpu_internal.h"

// ---------------------------------------------------------------------------------------
// row-wise

void cpu_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                   const float* b, int rows, int cols, float eps) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        fl_body_layernorm_row(y + (long)r * cols, mean ? mean + r : NULL, rstd ? rstd + r : NULL,
                              x + (long)r * cols, w, b, cols, eps);
}

void cpu_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
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

void cpu_softmax(float* y, const float* x, int rows, int cols, float scale) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) fl_body_softmax_row(y + (long)r * cols, x + (long)r * cols, cols, scale);
}

void cpu_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, float scale) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        fl_body_softmax_bwd_row(dx + (long)r * cols, dy + (long)r * cols, y + (long)r * cols, cols, scale);
}

void cpu_xent(float* loss, int32_t* argmax, float* dlogits, const float* logits,
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

// ---------------------------------------------------------------------------------------
// ViT ops

void cpu_vit_patchify(float* patches, const float* img, int n, int C, int H, int W, int P) {
    int T = (H / P) * (W / P) + 1;
    long K = (long)C * P * P;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)n * T; r++) {
        long i = r / T;
        fl_body_vit_patch_row(patches + r * K, img + i * C * H * W, C, H, W, P, (int)(r - i * T));
    }
}

void cpu_vit_tokens(float* y, const float* x, const float* cls, const float* pos, int n,
                    int T, int D) {
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)n * T; r++)
        fl_body_vit_token_row(y + r * D, x + r * D, cls, pos, (int)(r % T), D);
}

void cpu_vit_cls_layernorm(float* y, float* mean, float* rstd, const float* x, const float* w,
                           const float* b, int n, int T, int T_out, int D, float eps) {
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float* ys = y + (long)s * T_out * D;
        fl_body_layernorm_row(ys, mean ? mean + s : NULL, rstd ? rstd + s : NULL,
                              x + (long)s * T * D, w, b, D, eps);
        memset(ys + D, 0, (size_t)(T_out - 1) * D * sizeof(float));
    }
}

void cpu_vit_cls_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, long ldy,
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
