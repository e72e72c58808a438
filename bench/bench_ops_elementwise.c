// bench_ops_elementwise.c: the cases of `flbench bench --ops` (bench_ops.c) for the
// element-wise ops (exp, scale, axpy, relu, gelu and their backwards), the column and row sums
// (col_sum, row_sumsq), and the reductions and optimisers on W1's layer-2 weight (dot, adam,
// sgd, and MeZO's fused updates dirs_adam, dirs_sgd, dirs_sumsq).
#include <math.h>
#include "bench_ops.h"
#include "../impl/estimators/estimator.h"

// ---------------------------------------------------------------------------------------
// element-wise

// exp: the sigma refresh of W2's fc1 (768 columns, model.c); expf is within 1 ulp in glibc
// and 2 in CUDA, an ulp being up to 2u relative: 16 u |y|
static void call_exp(opcase* c, const fl_ops* o) { o->exp(F(1), F(0), c->b[0].n); }
void mk_exp(opcase* c) {
    int x = NEW(B_IN, "log_sigma", W2_M), y = NEW(B_OUT, "sigma", W2_M);
    case_randn(X(x), W2_M, 0.3f, logf(1e-3f));
    float* ref = case_ref(c, y);
    double* tol = case_tol(c, y);
    for (int i = 0; i < W2_M; i++) { ref[i] = expf(X(x)[i]); tol[i] = 16 * U * fabs(ref[i]); }
    c->wl = "W2";
    c->rule = "16u|y|";
    case_set_shape(c, "%d", W2_M);
    c->call = call_exp;
}

// scale: gradient clipping of W1's layer-2 weight gradient (262144); one product: exact
static void call_scale(opcase* c, const fl_ops* o) { o->scale(F(0), c->f[0], c->b[0].n); }
void mk_scale(opcase* c) {
    int x = NEW(B_INOUT, "g", W1_NP);
    case_randn(X(x), W1_NP, 1e-3f, 0.f);
    c->f[0] = 0.73f;
    float* ref = case_ref(c, x);
    for (long i = 0; i < W1_NP; i++) ref[i] = X(x)[i] * c->f[0];
    c->wl = "W1";
    c->rule = "exact";
    case_set_shape(c, "%ld", W1_NP);
    c->call = call_scale;
}

// axpy: W2's residual gradient dres += 1 dtmp over a chunk (3200 x 192, vit.c); y + a x, where
// a multiply-add may round once instead of twice: 4u (|y| + |a x|)
static void call_axpy(opcase* c, const fl_ops* o) { o->axpy(F(0), c->f[0], F(1), c->b[0].n); }
void mk_axpy(opcase* c) {
    const long n = (long)W2_ROWS * W2_D;
    int y = NEW(B_INOUT, "y", n), x = NEW(B_IN, "x", n);
    case_randn(X(y), n, 1.f, 0.f);
    case_randn(X(x), n, 1.f, 0.f);
    c->f[0] = 1.0f;
    float* ref = case_ref(c, y);
    double* tol = case_tol(c, y);
    for (long i = 0; i < n; i++) {
        float ax = c->f[0] * X(x)[i];
        ref[i] = X(y)[i] + ax;
        tol[i] = 4 * U * (fabs(X(y)[i]) + fabs(ax));
    }
    c->wl = "W2";
    c->rule = "4u(|y|+|ax|)";
    case_set_shape(c, "%dx%d a=1", W2_ROWS, W2_D);
    c->call = call_axpy;
}

// relu, relu_bwd: W1's hidden layers on the 2048 query rows (512 wide); comparisons: exact
static void call_relu(opcase* c, const fl_ops* o) { o->relu(F(1), F(0), c->b[0].n); }
void mk_relu(opcase* c) {
    const long n = (long)W1_Q * W1_H;
    int x = NEW(B_IN, "x", n), y = NEW(B_OUT, "y", n);
    case_randn(X(x), n, 1.f, 0.f);
    float* ref = case_ref(c, y);
    for (long i = 0; i < n; i++) ref[i] = fl_body_relu(X(x)[i]);
    c->wl = "W1";
    c->rule = "exact";
    case_set_shape(c, "%dx%d", W1_Q, W1_H);
    c->call = call_relu;
}
// in place, as mlp.c calls it: dx = dy where y > 0
static void call_relu_bwd(opcase* c, const fl_ops* o) { o->relu_bwd(F(0), F(0), F(1), c->b[0].n); }
void mk_relu_bwd(opcase* c) {
    const long n = (long)W1_Q * W1_H;
    int dx = NEW(B_INOUT, "dx", n), y = NEW(B_IN, "y", n);
    case_randn(X(dx), n, 1.f, 0.f);
    case_randn(X(y), n, 1.f, 0.f);
    for (long i = 0; i < n; i++) X(y)[i] = fl_body_relu(X(y)[i]);
    float* ref = case_ref(c, dx);
    for (long i = 0; i < n; i++) ref[i] = fl_body_relu_bwd(X(dx)[i], X(y)[i]);
    c->wl = "W1";
    c->rule = "exact";
    case_set_shape(c, "%dx%d in place", W1_Q, W1_H);
    c->call = call_relu_bwd;
}

// gelu, gelu_bwd: W2's fc1 output over a chunk (3200 x 768). The body's erf and exp are within
// 2 ulp of a value below 1; a multiply-add contracted by one compiler and not the other moves
// a few more: 16u (|x| + |y|), and 16u |dy| (1 + x^2) for the derivative (test_cuda.c's bounds)
static void call_gelu(opcase* c, const fl_ops* o) { o->gelu(F(1), F(0), c->b[0].n); }
void mk_gelu(opcase* c) {
    const long n = (long)W2_ROWS * W2_M;
    int x = NEW(B_IN, "x", n), y = NEW(B_OUT, "y", n);
    case_randn(X(x), n, 1.5f, 0.f);
    float* ref = case_ref(c, y);
    double* tol = case_tol(c, y);
    for (long i = 0; i < n; i++) { ref[i] = fl_body_gelu(X(x)[i]); tol[i] = 16 * U * (fabs(X(x)[i]) + fabs(ref[i])); }
    c->wl = "W2";
    c->rule = "16u(|x|+|y|)";
    case_set_shape(c, "%dx%d", W2_ROWS, W2_M);
    c->call = call_gelu;
}
// in place, as vit.c calls it
static void call_gelu_bwd(opcase* c, const fl_ops* o) { o->gelu_bwd(F(0), F(0), F(1), c->b[0].n); }
void mk_gelu_bwd(opcase* c) {
    const long n = (long)W2_ROWS * W2_M;
    int dx = NEW(B_INOUT, "dx", n), x = NEW(B_IN, "x", n);
    case_randn(X(dx), n, 1.f, 0.f);
    case_randn(X(x), n, 1.5f, 0.f);
    float* ref = case_ref(c, dx);
    double* tol = case_tol(c, dx);
    for (long i = 0; i < n; i++) {
        ref[i] = fl_body_gelu_bwd(X(dx)[i], X(x)[i]);
        tol[i] = 16 * U * fabs(X(dx)[i]) * (1.0 + (double)X(x)[i] * X(x)[i]);
    }
    c->wl = "W2";
    c->rule = "16u|dy|(1+x^2)";
    case_set_shape(c, "%dx%d in place", W2_ROWS, W2_M);
    c->call = call_gelu_bwd;
}

// ---------------------------------------------------------------------------------------
// column and row sums

// col_sum: W1 layer 2's bias gradient, the column sums of its LR factor (2048, 512), beta 1
// (lr.c); reference in double: 2 (rows+2) u (sum|x| + |dst|)
static void call_col_sum(opcase* c, const fl_ops* o) { o->col_sum(F(0), F(1), W1_Q, W1_H, 1.0f); }
void mk_col_sum(opcase* c) {
    int dst = NEW(B_INOUT, "dst", W1_H), src = NEW(B_IN, "src", (long)W1_Q * W1_H);
    case_randn(X(dst), W1_H, 1.f, 0.f);
    case_randn(X(src), (long)W1_Q * W1_H, 1.f, 0.f);
    float* ref = case_ref(c, dst);
    double* tol = case_tol(c, dst);
    for (int j = 0; j < W1_H; j++) {
        double s = X(dst)[j], a = fabs(X(dst)[j]);
        for (int r = 0; r < W1_Q; r++) { s += X(src)[(long)r * W1_H + j]; a += fabs(X(src)[(long)r * W1_H + j]); }
        ref[j] = (float)s;
        tol[j] = 2.0 * (W1_Q + 2) * U * a;
    }
    c->wl = "W1";
    c->rule = "2(n+2)u sum|x|";
    case_set_shape(c, "%dx%d beta 1", W1_Q, W1_H);
    c->call = call_col_sum;
}

// row_sumsq: the squared norms of W2 fc1's input rows over a chunk (3200, 192; the FLOPS
// allocator's input, lr.c): 2 (C+2) u out
static void call_row_sumsq(opcase* c, const fl_ops* o) { o->row_sumsq(F(0), F(1), W2_ROWS, W2_D); }
void mk_row_sumsq(opcase* c) {
    int out = NEW(B_OUT, "out", W2_ROWS), x = NEW(B_IN, "x", (long)W2_ROWS * W2_D);
    case_randn(X(x), (long)W2_ROWS * W2_D, 1.f, 0.f);
    float* ref = case_ref(c, out);
    double* tol = case_tol(c, out);
    for (int r = 0; r < W2_ROWS; r++) {
        double s = 0;
        for (int j = 0; j < W2_D; j++) s += (double)X(x)[(long)r * W2_D + j] * X(x)[(long)r * W2_D + j];
        ref[r] = (float)s;
        tol[r] = 2.0 * (W2_D + 2) * U * s;
    }
    c->wl = "W2";
    c->rule = "2(C+2)u out";
    case_set_shape(c, "%dx%d", W2_ROWS, W2_D);
    c->call = call_row_sumsq;
}

// ---------------------------------------------------------------------------------------
// reductions and optimisers, on W1's layer-2 weight (262144 parameters)

// dot: its gradient's squared norm (optim.c, x = y); products exact in double, the sums
// carry n 2^-53 on each side: 2 (n+2) 2^-53 sum|x y|
static void call_dot(opcase* c, const fl_ops* o) { c->ret = o->dot(F(0), F(0), W1_NP); }
void mk_dot(opcase* c) {
    NEW(B_IN, "g", W1_NP);
    case_randn(X(0), W1_NP, 1e-3f, 0.f);
    double s = 0;
    for (long i = 0; i < W1_NP; i++) s += (double)X(0)[i] * X(0)[i];
    c->has_ret = 1;
    c->ret_ref = s;
    c->ret_tol = 2.0 * (W1_NP + 2) * UD * s;
    c->wl = "W1";
    c->rule = "2(n+2)2^-53 sum|xy|";
    case_set_shape(c, "%ld x.x", W1_NP);
    c->call = call_dot;
}

// adam, sgd: a few correctly rounded operations per element, which a multiply-add may fuse
// (test_cuda.c's bounds): m 8u (|m| + |g|), v 8u (|v| + g^2), p 8u |p| + 16u |update|;
// sgd: mom 8u (|mom| + |g| + wd |p|), p 8u (|p| + lr (|mom| + |g| + wd |p|)).
// Hyperparameters of step 10: lr 1e-4, b1 0.9, b2 0.999, eps 1e-8, weight decay 0.01.
static void call_adam(opcase* c, const fl_ops* o) {
    const float* f = c->f;
    o->adam(F(0), F(1), F(2), F(3), W1_NP, f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
}
static void set_adam_hp(opcase* c) {
    c->f[0] = 1e-4f; c->f[1] = 0.9f; c->f[2] = 0.999f; c->f[3] = 1e-8f;
    c->f[4] = 1.0f - powf(0.9f, 10.f); c->f[5] = 1.0f - powf(0.999f, 10.f); c->f[6] = 0.01f;
}
void mk_adam(opcase* c) {
    const long n = W1_NP;
    int p = NEW(B_INOUT, "p", n), g = NEW(B_IN, "g", n), m = NEW(B_INOUT, "m", n), v = NEW(B_INOUT, "v", n);
    case_randn(X(p), n, 0.05f, 0.f);
    case_randn(X(g), n, 1e-3f, 0.f);
    case_randn(X(m), n, 1e-3f, 0.f);
    case_randn(X(v), n, 1e-3f, 0.f);
    for (long i = 0; i < n; i++) X(v)[i] *= X(v)[i];
    set_adam_hp(c);
    const float* f = c->f;
    float *pr = case_ref(c, p), *mr = case_ref(c, m), *vr = case_ref(c, v);
    double *tp = case_tol(c, p), *tm = case_tol(c, m), *tv = case_tol(c, v);
    for (long i = 0; i < n; i++) {
        fl_body_adam(&pr[i], X(g)[i], &mr[i], &vr[i], f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        double upd = f[0] * (fabs(mr[i] / f[4]) / (sqrt(vr[i] / f[5]) + f[3]) + f[6] * fabs(X(p)[i]));
        tm[i] = 8 * U * (fabs(X(m)[i]) + fabs(X(g)[i]));
        tv[i] = 8 * U * (fabs(X(v)[i]) + (double)X(g)[i] * X(g)[i]);
        tp[i] = 8 * U * fabs(X(p)[i]) + 16 * U * upd;
    }
    c->wl = "W1";
    c->rule = "8u|p|+16u|upd|";
    case_set_shape(c, "%ld", n);
    c->call = call_adam;
}
static void call_sgd(opcase* c, const fl_ops* o) { o->sgd(F(0), F(1), F(2), W1_NP, c->f[0], c->f[1], c->f[2]); }
void mk_sgd(opcase* c) {
    const long n = W1_NP;
    int p = NEW(B_INOUT, "p", n), g = NEW(B_IN, "g", n), mom = NEW(B_INOUT, "mom", n);
    case_randn(X(p), n, 0.05f, 0.f);
    case_randn(X(g), n, 1e-3f, 0.f);
    case_randn(X(mom), n, 1e-3f, 0.f);
    c->f[0] = 1e-2f; c->f[1] = 0.9f; c->f[2] = 0.01f;
    float *pr = case_ref(c, p), *mr = case_ref(c, mom);
    double *tp = case_tol(c, p), *tm = case_tol(c, mom);
    for (long i = 0; i < n; i++) {
        fl_body_sgd(&pr[i], X(g)[i], &mr[i], c->f[0], c->f[1], c->f[2]);
        double a = fabs(X(mom)[i]) + fabs(X(g)[i]) + c->f[2] * fabs(X(p)[i]);
        tm[i] = 8 * U * a;
        tp[i] = 8 * U * (fabs(X(p)[i]) + c->f[0] * a);
    }
    c->wl = "W1";
    c->rule = "8u(|p|+lr|..|)";
    case_set_shape(c, "%ld", n);
    c->call = call_sgd;
}

// dirs_adam, dirs_sgd: MeZO's fused updates from one direction (W1 MeZO: 2 queries per
// datum), bit-exact; dirs_sumsq: their gradient's squared norm, a double sum of positive
// terms: 2 (n+2) 2^-53 of it. Buffers p, m, v (or mom), s.
static void call_dirs_adam(opcase* c, const fl_ops* o) {
    const float* f = c->f;
    o->dirs_adam(F(0), F(1), F(2), W1_NP, W1_POFF, 1, F(3), 7, 0, FL_STREAM_MEZO, 11, f[7], f[0], f[1], f[2], f[3], f[4],
                 f[5], f[6]);
}
static void call_dirs_sgd(opcase* c, const fl_ops* o) {
    o->dirs_sgd(F(0), F(1), W1_NP, W1_POFF, 1, F(2), 7, 0, FL_STREAM_MEZO, 11, c->f[7], c->f[0], c->f[1], c->f[2]);
}
static void call_dirs_sumsq(opcase* c, const fl_ops* o) {
    c->ret = o->dirs_sumsq(W1_NP, W1_POFF, 1, F(0), 7, 0, FL_STREAM_MEZO, 11);
}
static void mk_dirs(opcase* c, int kind) {  // 0 adam, 1 sgd, 2 sumsq
    const long n = W1_NP;
    int p = -1, m = -1, v = -1;
    if (kind < 2) { p = NEW(B_INOUT, "p", n); m = NEW(B_INOUT, kind ? "mom" : "m", n); }
    if (kind == 0) v = NEW(B_INOUT, "v", n);
    int s = NEW(B_IN, "s", 1);
    X(s)[0] = 0.37f;  // the direction's coefficient, (loss+ - loss-) / (2 eps) scaled
    if (kind < 2) { case_randn(X(p), n, 0.05f, 0.f); case_randn(X(m), n, 1e-3f, 0.f); }
    if (kind == 0) { case_randn(X(v), n, 1e-3f, 0.f); for (long i = 0; i < n; i++) X(v)[i] *= X(v)[i]; }
    if (kind == 0) set_adam_hp(c);
    else { c->f[0] = 1e-2f; c->f[1] = 0.9f; c->f[2] = 0.0f; }
    c->f[7] = 1.0f;  // gscale
    double sq = 0;
    float *pr = kind < 2 ? case_ref(c, p) : NULL, *mr = kind < 2 ? case_ref(c, m) : NULL, *vr = kind == 0 ? case_ref(c, v) : NULL;
    for (long i0 = 0; i0 < n; i0 += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i0, W1_POFF, 1, X(s), 7, 0, FL_STREAM_MEZO, 11);
        for (int l = 0; l < 4 && i0 + l < n; l++) {
            long i = i0 + l;
            if (kind == 0) fl_body_adam(&pr[i], g[l] * c->f[7], &mr[i], &vr[i], c->f[0], c->f[1], c->f[2], c->f[3], c->f[4], c->f[5], c->f[6]);
            else if (kind == 1) fl_body_sgd(&pr[i], g[l] * c->f[7], &mr[i], c->f[0], c->f[1], c->f[2]);
            else sq += (double)g[l] * g[l];
        }
    }
    if (kind == 2) {
        c->has_ret = 1;
        c->ret_ref = sq;
        c->ret_tol = 2.0 * (n + 2) * UD * sq;
    }
    c->wl = "W1";
    c->rule = kind == 2 ? "2(n+2)2^-53 sum" : "exact";
    c->normals = (double)n;  // one direction
    case_set_shape(c, "%ld at %llu K1", n, (unsigned long long)W1_POFF);
    c->call = kind == 0 ? call_dirs_adam : kind == 1 ? call_dirs_sgd : call_dirs_sumsq;
}
void mk_dirs_adam(opcase* c) { mk_dirs(c, 0); }
void mk_dirs_sgd(opcase* c) { mk_dirs(c, 1); }
void mk_dirs_sumsq(opcase* c) { mk_dirs(c, 2); }
