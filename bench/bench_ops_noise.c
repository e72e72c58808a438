// bench_ops_noise.c: the cases of `flbench bench --ops` (bench_ops.c) for the ops that draw
// LR's noise or use it: bias_noise, bias_noise_set, bias_noise_keep, lr_grad, lr_unit_noise,
// lr_unit_kept, lr_unit_fold, and MeZO's noise_axpy. Their references run the shared bodies of
// impl/kernels/bodies.h serially; the noise must match bit for bit.
#include <stdlib.h>
#include <math.h>
#include "bench_ops.h"
#include "../impl/estimators/estimator.h"

// ---------------------------------------------------------------------------------------
// noise ops: bit-exact (the CPU's 32-wide generator and the CUDA kernels must reproduce the
// shared body); their sums over rows (gs, gb) within 2 (n+2) u sum|terms| of a double sum

// the host reference of bias_noise and bias_noise_set, one group of four at a time
static void ref_bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz, int rows,
                           int cols, int set) {
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += 4) fl_body_bias_noise4(y + (long)r * cols, bias, sigma, nz, r, c0, cols, set);
}

// bias_noise: W1 layer 1's per-datum output expanded to the 2048 query rows, then bias and
// noise added (model.c); buffers y, bias, sigma, qcode
static void call_bias_noise(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->bias_noise(F(0), F(1), F(2), &nz, W1_Q, W1_H);
}
void mk_bias_noise(opcase* c) {
    int y = NEW(B_INOUT, "y", (long)W1_Q * W1_H), b = NEW(B_IN, "bias", W1_H), s = NEW(B_IN, "sigma", W1_H);
    c->qc = NEWI(B_IN, "qcode", W1_Q);
    case_randn(X(y), (long)W1_Q * W1_H, 1.f, 0.f);
    case_randn(X(b), W1_H, 0.1f, 0.f);
    case_rand_sigma(X(s), W1_H);
    case_pair_codes(XI(c->qc), W1_Q);
    c->nz = case_noise_template(XI(c->qc), 1);
    ref_bias_noise(case_ref(c, y), X(b), X(s), &c->nz, W1_Q, W1_H, 0);
    c->wl = "W1";
    c->rule = "exact";
    c->normals = (double)W1_Q / 2 * W1_H;  // a pair's two rows share theirs
    case_set_shape(c, "%dx%d T1 pairs", W1_Q, W1_H);
    c->call = call_bias_noise;
}

// bias_noise_set: W2 fc1's output filled before its GEMM, a chunk of 64 queries x 50 tokens
static void call_bias_noise_set(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->bias_noise_set(F(0), F(1), F(2), &nz, W2_ROWS, W2_M);
}
void mk_bias_noise_set(opcase* c) {
    int y = NEW(B_OUT, "y", (long)W2_ROWS * W2_M), b = NEW(B_IN, "bias", W2_M), s = NEW(B_IN, "sigma", W2_M);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    case_randn(X(b), W2_M, 0.1f, 0.f);
    case_rand_sigma(X(s), W2_M);
    case_pair_codes(XI(c->qc), W2_Q);
    c->nz = case_noise_template(XI(c->qc), W2_T);
    ref_bias_noise(case_ref(c, y), X(b), X(s), &c->nz, W2_ROWS, W2_M, 1);
    c->wl = "W2";
    c->rule = "exact";
    c->normals = (double)W2_UNITS * W2_T * W2_M;
    case_set_shape(c, "%dx%d T%d pairs", W2_ROWS, W2_M, W2_T);
    c->call = call_bias_noise_set;
}

// bias_noise_keep: the same fill keeping each pair's normals for the gradient, (32 x 50, 768)
static void call_bias_noise_keep(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->bias_noise_keep(F(0), F(1), F(2), F(3), &nz, W2_ROWS, W2_M, 1);
}
void mk_bias_noise_keep(opcase* c) {
    int y = NEW(B_OUT, "y", (long)W2_ROWS * W2_M), keep = NEW(B_OUT, "keep", (long)W2_UNITS * W2_T * W2_M);
    int b = NEW(B_IN, "bias", W2_M), s = NEW(B_IN, "sigma", W2_M);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    case_randn(X(b), W2_M, 0.1f, 0.f);
    case_rand_sigma(X(s), W2_M);
    case_pair_codes(XI(c->qc), W2_Q);
    c->nz = case_noise_template(XI(c->qc), W2_T);
    ref_bias_noise(case_ref(c, y), X(b), X(s), &c->nz, W2_ROWS, W2_M, 1);
    float* kref = case_ref(c, keep);
    for (int u = 0; u < W2_UNITS; u++)  // unit u: the pair (2u, 2u+1), its first query's rows
        for (int t = 0; t < W2_T; t++) {
            float sign;
            uint32_t row = fl_noise_row(&c->nz, 2 * u * W2_T + t, &sign);
            for (int c0 = 0; c0 < W2_M; c0 += 4)
                fl_normal4(c->nz.key0, c->nz.key1, (uint32_t)(c0 >> 2), row, c->nz.stream, c->nz.step,
                           kref + ((long)u * W2_T + t) * W2_M + c0);
        }
    c->wl = "W2";
    c->rule = "exact";
    c->normals = (double)W2_UNITS * W2_T * W2_M;
    case_set_shape(c, "%dx%d T%d keep %dx%d", W2_ROWS, W2_M, W2_T, W2_UNITS * W2_T, W2_M);
    c->call = call_bias_noise_keep;
}

// lr_grad: W1 layer 1's LR factor (per datum, so by query: lr.c), G (2048, 512) and gs (512) +=
static void call_lr_grad(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->lr_grad(F(0), F(1), F(2), F(3), &nz, W1_Q, W1_H);
}
void mk_lr_grad(opcase* c) {
    const int rows = W1_Q, cols = W1_H;
    int G = NEW(B_OUT, "G", (long)rows * cols), gs = NEW(B_INOUT, "gs", cols), coef = NEW(B_IN, "coef", W1_Q);
    int s = NEW(B_IN, "sigma", cols);
    c->qc = NEWI(B_IN, "qcode", W1_Q);
    case_randn(X(gs), cols, 1.f, 0.f);
    case_randn(X(coef), W1_Q, 0.1f, 0.f);
    case_rand_sigma(X(s), cols);
    case_pair_codes(XI(c->qc), W1_Q);
    c->nz = case_noise_template(XI(c->qc), 1);
    float* Gr = case_ref(c, G);
    double *sum = fl_calloc(cols, sizeof(double)), *mag = fl_calloc(cols, sizeof(double));
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += 4) {
            float t4[4];
            fl_body_lr_grad4(Gr + (long)r * cols, t4, X(coef), X(s), &c->nz, r, c0, cols);
            for (int l = 0; l < 4 && c0 + l < cols; l++) { sum[c0 + l] += t4[l]; mag[c0 + l] += fabs(t4[l]); }
        }
    float* gr = case_ref(c, gs);
    double* tol = case_tol(c, gs);
    for (int j = 0; j < cols; j++) {
        gr[j] = (float)(X(gs)[j] + sum[j]);
        tol[j] = 2.0 * (rows + 2) * U * (mag[j] + fabs(X(gs)[j]));
    }
    free(sum);
    free(mag);
    c->wl = "W1";
    c->rule = "G exact, gs 2(n+2)u";
    c->normals = (double)rows / 2 * cols;
    case_set_shape(c, "%dx%d T1 pairs", rows, cols);
    c->call = call_lr_grad;
}

// lr_unit_noise and lr_unit_kept: W2 fc1's LR factor by pairs over a chunk: E (32 x 50, 768),
// gb and gs (768) +=; lr_unit_kept (E = kept, in place, as lr.c calls it) reads the normals
// bias_noise_keep kept. Buffers E, gb, gs, coef, sigma, uoff, qcode.
static void call_lr_unit_noise(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->lr_unit_noise(F(0), F(1), F(2), F(3), F(4), &nz, FI(5), W2_UNITS, W2_M);
}
static void call_lr_unit_kept(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->lr_unit_kept(F(0), F(0), F(1), F(2), F(3), F(4), &nz, FI(5), W2_UNITS, W2_M, 0);
}
static void mk_lr_unit(opcase* c, int kept) {
    const int units = W2_UNITS, T = W2_T, cols = W2_M;
    const long urows = (long)units * T;
    int E = NEW(kept ? B_INOUT : B_OUT, "E", urows * cols), gb = NEW(B_INOUT, "gb", cols), gs = NEW(B_INOUT, "gs", cols);
    int coef = NEW(B_IN, "coef", W2_Q), s = NEW(B_IN, "sigma", cols), uoff = NEWI(B_IN, "uoff", units + 1);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    case_randn(X(gb), cols, 1.f, 0.f);
    case_randn(X(gs), cols, 1.f, 0.f);
    case_randn(X(coef), W2_Q, 0.1f, 0.f);
    case_rand_sigma(X(s), cols);
    case_pair_offsets(XI(uoff), units);
    case_pair_codes(XI(c->qc), W2_Q);
    c->nz = case_noise_template(XI(c->qc), T);
    const fl_noise* nz = &c->nz;
    if (kept)  // the kept normals of each pair's rows, as bias_noise_keep writes them
        for (int u = 0; u < units; u++)
            for (int t = 0; t < T; t++) {
                float sign;
                uint32_t row = fl_noise_row(nz, 2 * u * T + t, &sign);
                for (int c0 = 0; c0 < cols; c0 += 4)
                    fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, X(E) + ((long)u * T + t) * cols + c0);
            }
    float* Er = case_ref(c, E);
    double* sb = fl_calloc(cols, sizeof(double));
    double* ss = fl_calloc(cols, sizeof(double));
    double* mb = fl_calloc(cols, sizeof(double));
    double* ms = fl_calloc(cols, sizeof(double));
    for (int u = 0; u < units; u++)
        for (int t = 0; t < T; t++) {
            float wsum, asum, gb4[4], gs4[4];
            uint32_t row = fl_lr_unit_weights(nz, X(coef), XI(uoff), u, t, &wsum, &asum);
            float* Erow = Er + ((long)u * T + t) * cols;
            for (int c0 = 0; c0 < cols; c0 += 4) {
                if (kept)
                    for (int l = 0; l < 4; l++) Erow[c0 + l] = fl_elem_lr_unit(wsum, asum, Erow[c0 + l], X(s)[c0 + l], &gb4[l], &gs4[l]);
                else
                    fl_body_lr_unit4(Erow, gb4, gs4, wsum, asum, row, X(s), nz, c0, cols);
                for (int l = 0; l < 4; l++) {
                    sb[c0 + l] += gb4[l]; mb[c0 + l] += fabs(gb4[l]);
                    ss[c0 + l] += gs4[l]; ms[c0 + l] += fabs(gs4[l]);
                }
            }
        }
    float *gbr = case_ref(c, gb), *gsr = case_ref(c, gs);
    double *tb = case_tol(c, gb), *ts = case_tol(c, gs);
    for (int j = 0; j < cols; j++) {
        gbr[j] = (float)(X(gb)[j] + sb[j]);
        gsr[j] = (float)(X(gs)[j] + ss[j]);
        tb[j] = 2.0 * (urows + 2) * U * (mb[j] + fabs(X(gb)[j]));
        ts[j] = 2.0 * (urows + 2) * U * (ms[j] + fabs(X(gs)[j]));
    }
    free(sb); free(ss); free(mb); free(ms);
    c->wl = "W2";
    c->rule = "E exact, gb gs 2(n+2)u";
    if (!kept) c->normals = (double)urows * cols;  // lr_unit_kept reads them: GB/s
    case_set_shape(c, "%d pairs T%d x%d%s", units, T, cols, kept ? " in place" : "");
    c->call = kept ? call_lr_unit_kept : call_lr_unit_noise;
}
void mk_lr_unit_noise(opcase* c) { mk_lr_unit(c, 0); }
void mk_lr_unit_kept(opcase* c) { mk_lr_unit(c, 1); }

// lr_unit_fold: W2 fc1's input (192 wide) folded by pairs, Xf (32 x 50, 192) from X (3200, 192):
// xf = w0 x0 + w1 x1, where a multiply-add may round once instead of twice: 4u sum|w x|
static void call_lr_unit_fold(opcase* c, const fl_ops* o) {
    fl_noise nz = case_dev_noise(c);
    o->lr_unit_fold(F(0), F(1), F(2), &nz, FI(3), W2_UNITS, W2_D);
}
void mk_lr_unit_fold(opcase* c) {
    const int units = W2_UNITS, T = W2_T, din = W2_D;
    int Xf = NEW(B_OUT, "Xf", (long)units * T * din), Xi = NEW(B_IN, "X", (long)W2_ROWS * din);
    int coef = NEW(B_IN, "coef", W2_Q), uoff = NEWI(B_IN, "uoff", units + 1);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    case_randn(X(Xi), (long)W2_ROWS * din, 1.f, 0.f);
    case_randn(X(coef), W2_Q, 0.1f, 0.f);
    case_pair_offsets(XI(uoff), units);
    case_pair_codes(XI(c->qc), W2_Q);
    c->nz = case_noise_template(XI(c->qc), T);
    float* ref = case_ref(c, Xf);
    double* tol = case_tol(c, Xf);
    for (int u = 0; u < units; u++) {
        int q0 = XI(uoff)[u], q1 = XI(uoff)[u + 1];
        for (int t = 0; t < T; t++) {
            float* xf = ref + ((long)u * T + t) * din;
            double* tf = tol + ((long)u * T + t) * din;
            for (int q = q0; q < q1; q++) {
                float sign;
                fl_noise_row(&c->nz, q * T, &sign);
                float w = X(coef)[q] * sign;
                const float* xq = X(Xi) + ((long)q * T + t) * din;
                for (int j = 0; j < din; j++) {
                    xf[j] = q == q0 ? w * xq[j] : xf[j] + w * xq[j];
                    tf[j] += 2.0 * (q1 - q0) * U * fabs((double)w * xq[j]);
                }
            }
        }
    }
    c->wl = "W2";
    c->rule = "4u sum|wx|";
    case_set_shape(c, "%d pairs T%d x%d", units, T, din);
    c->call = call_lr_unit_fold;
}

// noise_axpy: a MeZO perturbation of W1's layer-2 weight, x += 1e-3 z (first = its offset)
static void call_noise_axpy(opcase* c, const fl_ops* o) {
    o->noise_axpy(F(0), W1_NP, W1_POFF, c->f[0], 7, 0, 0, FL_STREAM_MEZO, 11);
}
void mk_noise_axpy(opcase* c) {
    int x = NEW(B_INOUT, "x", W1_NP);
    case_randn(X(x), W1_NP, 0.05f, 0.f);
    c->f[0] = 1e-3f;
    float* ref = case_ref(c, x);
    for (long i0 = 0; i0 < W1_NP; i0 += 4) fl_body_noise_axpy4(ref, W1_NP, i0, W1_POFF, c->f[0], 7, 0, 0, FL_STREAM_MEZO, 11);
    c->wl = "W1";
    c->rule = "exact";
    c->normals = (double)W1_NP;
    case_set_shape(c, "%ld at %llu", W1_NP, (unsigned long long)W1_POFF);
    c->call = call_noise_axpy;
}
