// bodies.h: the element-wise and row-wise kernel bodies, written once (docs/DESIGN.md,
// principle 2). The CPU backend calls them from OpenMP loops (impl/backend/cpu.c); the CUDA
// backend calls the same functions from thin __global__ wrappers (impl/backend/cuda/*.cu).
// Nothing here allocates, branches on the backend or touches global state.
//
// Conventions: matrices are row-major; a "row" is one token of one query, so a layer output
// is (rows, cols) with rows = queries * tokens.
#pragma once
#include <stdint.h>
#include <math.h>
#include "../core/common.h"
#include "philox.h"

// ---------------------------------------------------------------------------------------
// LR noise on layer outputs (docs/METHOD.md, "Estimators", LR).
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

// One element of a noisy linear output: y + b + sign * sigma * eps.
FL_HD float fl_elem_bias_noise(float y, float b, float sign, float sigma, float eps) {
    float v = y + b;
    return v + sign * sigma * eps;
}

// One element of the LR gradient factor: returns coef * sign * eps / sigma (feeds gW = G^T X
// and gb = column sums of G) and writes coef * (eps^2 - 1) (the log-sigma score) to *gs.
FL_HD float fl_elem_lr_grad(float coef, float sign, float eps, float sigma, float* gs) {
    float e = sign * eps;
    *gs = coef * (e * e - 1.0f);
    return coef * e / sigma;
}

// y[r, c0..c0+4) += bias + sign * sigma * eps for one group of four columns; with `set`, y's
// old value counts as 0 (y = bias + sign * sigma * eps: the fill before a GEMM with beta 1).
// sigma = exp(log sigma), per column, precomputed once per step; bias may be NULL.
// The same with the four normals given (eps NULL: bias only): a pair's two rows share them.
FL_HD void fl_body_bias_noise4_eps(float* y_row, const float* bias, const float* sigma, float sign,
                                   const float* eps, int c0, int cols, int set) {
    for (int l = 0; l < 4; l++) {
        int c = c0 + l;
        if (c >= cols) break;
        float b = bias ? bias[c] : 0.0f;
        float y = set ? 0.0f : y_row[c];
        y_row[c] = eps ? fl_elem_bias_noise(y, b, sign, sigma[c], eps[l]) : y + b;
    }
}

FL_HD void fl_body_bias_noise4(float* y_row, const float* bias, const float* sigma,
                               const fl_noise* nz, int r, int c0, int cols, int set) {
    float eps[4] = {0.f, 0.f, 0.f, 0.f};
    float sign = 1.0f;
    if (nz) {
        uint32_t row = fl_noise_row(nz, r, &sign);
        fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
    }
    fl_body_bias_noise4_eps(y_row, bias, sigma, sign, nz ? eps : NULL, c0, cols, set);
}

// LR gradient factor for one group of four columns of row r:
//   G[r, c] = coef[q] * sign * eps / sigma_c, and gs4[l] = coef[q] * (eps^2 - 1)
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
        G_row[c] = fl_elem_lr_grad(a, sign, eps[l], sigma[c], &gs4[l]);
    }
}

// LR gradient by units. A unit is a run of queries [uoff[u], uoff[u+1]) on one noise row
// (an antithetic pair, or a single query). Their terms sum_q coef[q] sign_q (eps / sigma) (x) x_q
// equal (eps / sigma) (x) Xf_u with Xf_u = sum_q coef[q] sign_q x_q, so gW += E^T Xf runs over
// units instead of queries: half the rows of the gradient GEMM with pairs. Per element:
//   E = eps / sigma;  gb += (sum_q coef sign) eps / sigma;  gs += (sum_q coef) (eps^2 - 1).
FL_HD float fl_elem_lr_unit(float wsum, float asum, float eps, float sigma, float* gb, float* gs) {
    float e = eps / sigma;
    *gb = wsum * e;
    *gs = asum * (eps * eps - 1.0f);
    return e;
}

// The unit's weights: *wsum = sum_q coef[q] sign_q, *asum = sum_q coef[q]; returns the unit's
// Philox row for token t.
FL_HD uint32_t fl_lr_unit_weights(const fl_noise* nz, const float* coef, const int32_t* uoff,
                                  int u, int t, float* wsum, float* asum) {
    float w = 0.f, a = 0.f, sign;
    uint32_t row = 0;
    for (int q = uoff[u]; q < uoff[u + 1]; q++) {
        row = fl_noise_row(nz, q * nz->tokens + t, &sign);
        w += coef[q] * sign;
        a += coef[q];
    }
    *wsum = w;
    *asum = a;
    return row;
}

// E[u*T + t, c0..c0+4) for one group of four columns, with gb4, gs4 its gb and gs terms.
FL_HD void fl_body_lr_unit4(float* E_row, float gb4[4], float gs4[4], float wsum, float asum,
                            uint32_t row, const float* sigma, const fl_noise* nz, int c0, int cols) {
    float eps[4];
    fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
    for (int l = 0; l < 4; l++) {
        int c = c0 + l;
        if (c >= cols) { gb4[l] = gs4[l] = 0.f; continue; }
        E_row[c] = fl_elem_lr_unit(wsum, asum, eps[l], sigma[c], &gb4[l], &gs4[l]);
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

// MeZO's gradient from its directions, for four parameters: g = sum_k s[k] z_k(first + i),
// k in order, exactly as accumulating s[k] z_k into a zeroed buffer would (so the fused
// update is bit-identical to materialising the gradient first). Direction k is Philox row k.
FL_HD void fl_body_dirs_grad4(float g[4], long n, long i0, uint64_t first, int K, const float* s,
                              uint32_t k0, uint32_t k1, uint32_t stream, uint32_t step) {
    for (int l = 0; l < 4; l++) g[l] = 0.0f;
    uint32_t group = (uint32_t)((first + (uint64_t)i0) >> 2);
    for (int k = 0; k < K; k++) {
        float z[4];
        fl_normal4(k0, k1, group, (uint32_t)k, stream, step, z);
        for (int l = 0; l < 4; l++) g[l] += s[k] * z[l];
    }
}

// ---------------------------------------------------------------------------------------
// Activations.

FL_HD float fl_body_relu(float x) { return x > 0.f ? x : 0.f; }
FL_HD float fl_body_relu_bwd(float dy, float y) { return y > 0.f ? dy : 0.f; }

// exp and erf from +, *, /, fmaf and bit operations only, so that loops calling them vectorise
// (libm's expf and erff are scalar calls: GELU alone was a quarter of a vit-tiny LR step's
// non-GEMM time) and both backends evaluate the same formula.
// exp, for x <= 88 (every caller passes x <= 0: softmax's x - max, GELU's -x^2/2): x = k ln 2
// + r with k = floor(x log2(e) + 1/2), |r| <= ln(2)/2 (ln 2 split in two for an exact
// reduction), Taylor polynomial of exp(r) to r^7, times 2^k. Relative error below 8e-8 down
// to x = -87.3; below, where exp(x) < 2^-126, the result is 0. The clamps work on the bits
// (negative floats order like unsigned integers, positive ones like signed integers): x is
// held in [-100, 89], -inf giving 0 and +inf (like every x above 89) +inf; floor goes through
// an int conversion, which the clamps keep defined. A NaN of either sign is clamped too and
// then given back as itself: it propagates, as on every backend, also the x86 default NaN,
// whose sign bit is set and which the clamp at -100 alone turned into exp(-100), a softmax
// probability of 0 (divergence detection relies on it, docs/METHOD.md "Divergence"). Float
// compares and floorf would stop gcc from vectorising the callers' loops.
FL_HD float fl_expf_poly(float x) {
    uint32_t bx = fl_float_to_bits(x);
    uint32_t bc = bx > 0xC2C80000u ? 0xC2C80000u : bx;           // max(x, -100): also -inf, -NaN
    bc = (int32_t)bc > (int32_t)0x42B20000 ? 0x42B20000u : bc;  // min(x, 89): also +inf, +NaN
    float xc = fl_bits_to_float(bc);
    float t = xc * 1.44269504f + 0.5f;
    int ki = (int)t;
    ki -= t < (float)ki;
    float k = (float)ki;
    float r = fmaf(k, -0.693145752f, xc);
    r = fmaf(k, -1.42860677e-6f, r);
    float p = fmaf(r, 1.98412698e-4f, 1.38888889e-3f);
    p = fmaf(p, r, 8.33333333e-3f);
    p = fmaf(p, r, 4.16666667e-2f);
    p = fmaf(p, r, 1.66666667e-1f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int kc = ki < -126 ? -126 : ki;
    float y = p * fl_bits_to_float((uint32_t)(kc + 127) << 23) * (float)(ki >= -126);
    return (int32_t)(bx & 0x7FFFFFFFu) > (int32_t)0x7F800000 ? x : y;  // NaN in, NaN out
}

// erf: Abramowitz and Stegun 7.1.26, erf(|x|) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-x^2),
// t = 1 / (1 + 0.3275911 |x|), odd in x; absolute error below 5e-7 in float.
FL_HD float fl_erff_poly(float x) {
    float ax = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, ax, 1.0f);
    float p = fmaf(t, 1.061405429f, -1.453152027f);
    p = fmaf(p, t, 1.421413741f);
    p = fmaf(p, t, -0.284496736f);
    p = fmaf(p, t, 0.254829592f);
    float y = 1.0f - p * t * fl_expf_poly(-ax * ax);
    return copysignf(y, x);
}

// GELU: 0.5 x (1 + erf(x / sqrt 2)) (the exact form, not the tanh approximation).
FL_HD float fl_body_gelu(float x) { return 0.5f * x * (1.0f + fl_erff_poly(x * 0.70710678f)); }
FL_HD float fl_body_gelu_bwd(float dy, float x) {
    float cdf = 0.5f * (1.0f + fl_erff_poly(x * 0.70710678f));
    float pdf = 0.39894228f * fl_expf_poly(-0.5f * x * x);
    return dy * (cdf + x * pdf);
}

// ---------------------------------------------------------------------------------------
// Row-wise bodies.

// Row-wise ops are a reduction (sum, max) followed by a per-element formula. The formulas are
// the small fl_body_*_elem / fl_body_*_finish functions below; the CPU row bodies and the CUDA
// warp-per-row kernels (impl/backend/cuda/cuda_kernels.cu) both call them, and differ only in
// the order in which they add up a row.

// LayerNorm pieces: mean from the row sum, rstd from the sum of squared deviations, output.
FL_HD float fl_body_ln_mean(float sum, int C) { return sum / (float)C; }
FL_HD float fl_body_ln_rstd(float sq_dev_sum, int C, float eps) {
    float v = sq_dev_sum / (float)C;
    return 1.0f / sqrtf(v + eps);
}
FL_HD float fl_body_ln_elem(float x, float m, float rs, float w, float b) { return (x - m) * rs * w + b; }
// LayerNorm backward pieces: per element g = dy w and xhat; then dx from the two row sums.
FL_HD float fl_body_ln_xhat(float x, float m, float rs) { return (x - m) * rs; }
FL_HD float fl_body_ln_bwd_elem(float g, float xh, float rs, float inv_c, float sum_g, float sum_gx) {
    return rs * (g - inv_c * sum_g - xh * inv_c * sum_gx);
}

// LayerNorm of one row x (C): y = (x - mean) * rstd * w + b. Two-pass mean/variance.
// Sums of a row in 8 lanes, then pairwise: the loop vectorises, where one running sum is a
// chain of C dependent adds (LayerNorm over 192 columns was 3.5% of a W2 step that way).
FL_HD float fl_row_sum8(const float* x, int C, float shift, int squared) {
    float s8[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    int C8 = C / 8 * 8;
    for (int c0 = 0; c0 < C8; c0 += 8)
        for (int l = 0; l < 8; l++) {
            float d = x[c0 + l] - shift;
            s8[l] += squared ? d * d : d;
        }
    float s = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
    for (int c = C8; c < C; c++) {
        float d = x[c] - shift;
        s += squared ? d * d : d;
    }
    return s;
}

FL_HD void fl_body_layernorm_row(float* y, float* mean_out, float* rstd_out, const float* x,
                                 const float* w, const float* b, int C, float eps) {
    float m = fl_body_ln_mean(fl_row_sum8(x, C, 0.f, 0), C);
    float rs = fl_body_ln_rstd(fl_row_sum8(x, C, m, 1), C, eps);
    for (int c = 0; c < C; c++) y[c] = fl_body_ln_elem(x[c], m, rs, w[c], b[c]);
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
        float xh = fl_body_ln_xhat(x[c], mean, rstd);
        sum_g += g;
        sum_gx += g * xh;
    }
    float inv_c = 1.0f / (float)C;
    for (int c = 0; c < C; c++) {
        float g = dy[c] * w[c];
        float xh = fl_body_ln_xhat(x[c], mean, rstd);
        dx[c] = fl_body_ln_bwd_elem(g, xh, rstd, inv_c, sum_g, sum_gx);
    }
}

// Softmax pieces: exp of one scaled element against the row max; backward element.
FL_HD float fl_body_softmax_exp(float x, float scale, float mx) { return fl_expf_poly(scale * x - mx); }
FL_HD float fl_body_softmax_bwd_elem(float dy, float y, float dot, float scale) {
    return scale * y * (dy - dot);
}

// Softmax of one row (C) of scale * x, in place allowed.
FL_HD void fl_body_softmax_row(float* y, const float* x, int C, float scale) {
    // max and sum in 8 lanes (vectorises; a single running max or sum is one long chain)
    int C8 = C / 8 * 8;
    float mx8[8];
    for (int l = 0; l < 8; l++) mx8[l] = -INFINITY;
    for (int c0 = 0; c0 < C8; c0 += 8)
        for (int l = 0; l < 8; l++) {  // fmaxf's NaN rule (a NaN is skipped), without libm's call
            float v = scale * x[c0 + l];
            mx8[l] = v > mx8[l] ? v : mx8[l];
        }
    float mx = -INFINITY;
    for (int l = 0; l < 8; l++) mx = mx8[l] > mx ? mx8[l] : mx;
    for (int c = C8; c < C; c++) {
        float v = scale * x[c];
        mx = v > mx ? v : mx;
    }
    for (int c = 0; c < C; c++) y[c] = fl_body_softmax_exp(x[c], scale, mx);  // vectorises
    float inv = 1.0f / fl_row_sum8(y, C, 0.f, 0);
    for (int c = 0; c < C; c++) y[c] *= inv;
}

// Backward of y = softmax(scale * x): dx = scale * y * (dy - <dy, y>).
FL_HD void fl_body_softmax_bwd_row(float* dx, const float* dy, const float* y, int C, float scale) {
    float d = 0.f;
    for (int c = 0; c < C; c++) d += dy[c] * y[c];
    for (int c = 0; c < C; c++) dx[c] = fl_body_softmax_bwd_elem(dy[c], y[c], d, scale);
}

// Cross-entropy pieces: the loss from the row max, the sum of exp(l - max) and the label's
// logit; one element of dscale * (softmax - onehot).
FL_HD float fl_body_xent_loss(float mx, float sum_exp, float logit_label) {
    float lse = mx + logf(sum_exp);
    return lse - logit_label;
}
FL_HD float fl_body_xent_dlogit(float logit, float mx, float inv_sum, int is_label, float dscale) {
    float p = expf(logit - mx) * inv_sum;
    return dscale * (p - (is_label ? 1.0f : 0.0f));
}

// Softmax cross-entropy of one row of logits (C) with label y.
// Returns the loss; writes argmax (the first maximum); if dlogits, writes dscale * (softmax - onehot).
FL_HD float fl_body_xent_row(float* dlogits, int* argmax, const float* logits, int label, int C,
                             float dscale) {
    float mx = -INFINITY;
    int am = 0;
    for (int c = 0; c < C; c++) if (logits[c] > mx) { mx = logits[c]; am = c; }
    float s = 0.f;
    for (int c = 0; c < C; c++) s += expf(logits[c] - mx);
    if (dlogits) {
        float inv = 1.0f / s;
        for (int c = 0; c < C; c++) dlogits[c] = fl_body_xent_dlogit(logits[c], mx, inv, c == label, dscale);
    }
    if (argmax) *argmax = am;
    return fl_body_xent_loss(mx, s, logits[label]);
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

// ---------------------------------------------------------------------------------------
// ViT bodies (impl/models/vit.c).

// Row t of one image's patch matrix (C*P*P floats): zero for t = 0 (the CLS slot), else
// patch p = t - 1 at patch-row p / gw, patch-column p % gw, in (C, P, P) order.
// img is one image (C, H, W); gw = W / P.
FL_HD void fl_body_vit_patch_row(float* out, const float* img, int C, int H, int W, int P, int t) {
    int K = C * P * P;
    if (t == 0) {
        for (int k = 0; k < K; k++) out[k] = 0.f;
        return;
    }
    int gw = W / P;
    int p = t - 1;
    int y0 = (p / gw) * P, x0 = (p % gw) * P;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < P; i++) {
            const float* src = img + ((long)c * H + y0 + i) * W + x0;
            float* dst = out + (c * P + i) * P;
            for (int j = 0; j < P; j++) dst[j] = src[j];
        }
}

// Token t of one sequence (D floats): t = 0 -> cls + pos[0] (0 without cls); else x + pos[t]
// (x alone without pos). y == x allowed.
FL_HD void fl_body_vit_token_row(float* y, const float* x, const float* cls, const float* pos,
                                 int t, int D) {
    if (t == 0) {
        for (int c = 0; c < D; c++) y[c] = cls ? cls[c] + pos[c] : 0.f;
    } else if (pos) {
        const float* pt = pos + (long)t * D;
        for (int c = 0; c < D; c++) y[c] = x[c] + pt[c];
    } else if (y != x) {
        for (int c = 0; c < D; c++) y[c] = x[c];
    }
}

// dst[c] += src[c] for one row.
FL_HD void fl_body_add_row(float* dst, const float* src, long cols) {
    for (long c = 0; c < cols; c++) dst[c] += src[c];
}
