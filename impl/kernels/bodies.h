// bodies.h: the element-wise and row-wise kernel bodies, written once (DESIGN.md principle 2).
// The CPU backend calls them from OpenMP loops (impl/backend/cpu.c); the CUDA backend calls
// the same functions from thin __global__ wrappers (impl/backend/cuda/*.cu). Nothing here
// allocates, branches on the backend or touches global state.
//
// Conventions: matrices are row-major; a "row" is one token of one query, so a layer output
// is (rows, cols) with rows = queries * tokens.
#pragma once
#include <stdint.h>
#include <math.h>
#include "../core/common.h"
#include "philox.h"

// ---------------------------------------------------------------------------------------
// LR noise on layer outputs (PAPER.md section 3.3).
// Query q carries a code (noise_row << 1) | negate: rows of a same-datum antithetic pair
// share noise_row and differ in the negate bit. Token t of query q draws its normals from
// Philox row noise_row * tokens + t, stream = the layer's stream id, step = the step.

typedef struct fl_noise {
    uint32_t key0, key1;   // the run's seed
    uint32_t stream;       // layer stream id (set per layer)
    uint32_t step;         // optimisation step
    const int32_t* qcode;  // (Q) per query: (noise_row << 1) | negate (backend memory)
    int tokens;            // rows per query
} fl_noise;

// The Philox row and sign of matrix row r.
FL_HD uint32_t fl_noise_row(const fl_noise* nz, int r, float* sign) {
    int q = r / nz->tokens;
    int t = r - q * nz->tokens;
    int32_t code = nz->qcode[q];
    *sign = (code & 1) ? -1.0f : 1.0f;
    return (uint32_t)(code >> 1) * (uint32_t)nz->tokens + (uint32_t)t;
}

// y[r, c0..c0+4) += bias + sign * sigma * eps for one group of four columns.
// sigma = exp(log sigma), per column, precomputed once per step; bias may be NULL.
FL_HD void fl_body_bias_noise4(float* y_row, const float* bias, const float* sigma,
                               const fl_noise* nz, int r, int c0, int cols) {
    float eps[4] = {0.f, 0.f, 0.f, 0.f};
    float sign = 1.0f;
    if (nz) {
        uint32_t row = fl_noise_row(nz, r, &sign);
        fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
    }
    for (int l = 0; l < 4; l++) {
        int c = c0 + l;
        if (c >= cols) break;
        float v = y_row[c];
        if (bias) v += bias[c];
        if (nz) v += sign * sigma[c] * eps[l];
        y_row[c] = v;
    }
}

// LR gradient factor for one group of four columns of row r:
//   G[r, c] = coef[q] * sign * eps / sigma_c        (feeds gW = G^T X and gb = colsum G)
//   returns coef[q] * (eps^2 - 1) in gs4            (the log-sigma score, summed over rows)
FL_HD void fl_body_lr_grad4(float* G_row, float gs4[4], const float* coef, const float* sigma,
                            const fl_noise* nz, int r, int c0, int cols) {
    float sign;
    uint32_t row = fl_noise_row(nz, r, &sign);
    float eps[4];
    fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
    float a = coef[r / nz->tokens];
    for (int l = 0; l < 4; l++) {
        int c = c0 + l;
        if (c >= cols) { gs4[l] = 0.f; continue; }
        float e = sign * eps[l];
        G_row[c] = a * e / sigma[c];
        gs4[l] = a * (e * e - 1.0f);
    }
}

// MeZO: x[i] += scale * z_i for one group of four parameters. z is indexed by the global
// parameter index (first + i), so every range and every backend regenerates the same z.
FL_HD void fl_body_noise_axpy4(float* x, long n, long i0, uint64_t first, float scale,
                               uint32_t k0, uint32_t k1, uint32_t row, uint32_t stream,
                               uint32_t step) {
    // i0 is a multiple of 4 in global index space: (first + i0) % 4 == 0
    float z[4];
    fl_normal4(k0, k1, (uint32_t)((first + (uint64_t)i0) >> 2), row, stream, step, z);
    for (int l = 0; l < 4; l++) {
        long i = i0 + l;
        if (i >= 0 && i < n) x[i] += scale * z[l];
    }
}

// ---------------------------------------------------------------------------------------
// Activations.

FL_HD float fl_body_relu(float x) { return x > 0.f ? x : 0.f; }
FL_HD float fl_body_relu_bwd(float dy, float y) { return y > 0.f ? dy : 0.f; }

// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
FL_HD float fl_body_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678f)); }
FL_HD float fl_body_gelu_bwd(float dy, float x) {
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678f));
    float pdf = 0.39894228f * expf(-0.5f * x * x);
    return dy * (cdf + x * pdf);
}

// ---------------------------------------------------------------------------------------
// Row-wise bodies.

// LayerNorm of one row x (C): y = (x - mean) * rstd * w + b. Two-pass mean/variance.
FL_HD void fl_body_layernorm_row(float* y, float* mean_out, float* rstd_out, const float* x,
                                 const float* w, const float* b, int C, float eps) {
    float m = 0.f;
    for (int c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    float v = 0.f;
    for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
    v /= (float)C;
    float rs = 1.0f / sqrtf(v + eps);
    for (int c = 0; c < C; c++) y[c] = (x[c] - m) * rs * w[c] + b[c];
    if (mean_out) *mean_out = m;
    if (rstd_out) *rstd_out = rs;
}

// LayerNorm backward for one row: dx (C) from dy, x, the saved mean and rstd, and w.
// (dw and db are column sums over rows, done by the backend.)
FL_HD void fl_body_layernorm_bwd_row(float* dx, const float* dy, const float* x, float mean,
                                     float rstd, const float* w, int C) {
    float sum_g = 0.f, sum_gx = 0.f;
    for (int c = 0; c < C; c++) {
        float g = dy[c] * w[c];
        float xh = (x[c] - mean) * rstd;
        sum_g += g;
        sum_gx += g * xh;
    }
    float inv_c = 1.0f / (float)C;
    for (int c = 0; c < C; c++) {
        float g = dy[c] * w[c];
        float xh = (x[c] - mean) * rstd;
        dx[c] = rstd * (g - inv_c * sum_g - xh * inv_c * sum_gx);
    }
}

// Softmax of one row (C) of scale * x, in place allowed.
FL_HD void fl_body_softmax_row(float* y, const float* x, int C, float scale) {
    float mx = -INFINITY;
    for (int c = 0; c < C; c++) mx = fmaxf(mx, scale * x[c]);
    float s = 0.f;
    for (int c = 0; c < C; c++) { float e = expf(scale * x[c] - mx); y[c] = e; s += e; }
    float inv = 1.0f / s;
    for (int c = 0; c < C; c++) y[c] *= inv;
}

// Backward of y = softmax(scale * x): dx = scale * y * (dy - <dy, y>).
FL_HD void fl_body_softmax_bwd_row(float* dx, const float* dy, const float* y, int C, float scale) {
    float d = 0.f;
    for (int c = 0; c < C; c++) d += dy[c] * y[c];
    for (int c = 0; c < C; c++) dx[c] = scale * y[c] * (dy[c] - d);
}

// Softmax cross-entropy of one row of logits (C) with label y.
// Returns the loss; writes argmax; if dlogits, writes dscale * (softmax - onehot).
FL_HD float fl_body_xent_row(float* dlogits, int* argmax, const float* logits, int label, int C,
                             float dscale) {
    float mx = -INFINITY;
    int am = 0;
    for (int c = 0; c < C; c++) if (logits[c] > mx) { mx = logits[c]; am = c; }
    float s = 0.f;
    for (int c = 0; c < C; c++) s += expf(logits[c] - mx);
    float lse = mx + logf(s);
    if (dlogits) {
        float inv = 1.0f / s;
        for (int c = 0; c < C; c++) {
            float p = expf(logits[c] - mx) * inv;
            dlogits[c] = dscale * (p - (c == label ? 1.0f : 0.0f));
        }
    }
    if (argmax) *argmax = am;
    return lse - logits[label];
}

// ---------------------------------------------------------------------------------------
// Optimisers (one parameter each).

// Adam with bias correction; bc1 = 1 - b1^t, bc2 = 1 - b2^t; decoupled weight decay wd.
FL_HD void fl_body_adam(float* p, float g, float* m, float* v, float lr, float b1, float b2,
                        float eps, float bc1, float bc2, float wd) {
    float mm = b1 * *m + (1.0f - b1) * g;
    float vv = b2 * *v + (1.0f - b2) * g * g;
    *m = mm;
    *v = vv;
    float mhat = mm / bc1;
    float vhat = vv / bc2;
    *p -= lr * (mhat / (sqrtf(vhat) + eps) + wd * *p);
}

// SGD with momentum (heavy ball) and weight decay added to the gradient.
FL_HD void fl_body_sgd(float* p, float g, float* mom, float lr, float momentum, float wd) {
    float gg = g + wd * *p;
    float b = momentum * *mom + gg;
    *mom = b;
    *p -= lr * b;
}
