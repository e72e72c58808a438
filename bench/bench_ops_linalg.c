// bench_ops_linalg.c: the cases of `flbench bench --ops` (bench_ops.c) for memory (copy,
// zero), the products (gemm at W1's and W2's shapes, gemm_strided as the attention of a W2
// block without the fused path) and data movement (gather_rows, segment_sum,
// gather_add_rows). The products are checked against a loop in double.
#include <string.h>
#include <math.h>
#include "bench_ops.h"

// ---------------------------------------------------------------------------------------
// memory

// copy: fc1's output of a W2 chunk (3200 x 768), y = x; exact
static void call_copy(opcase* c, const fl_ops* o) { o->copy(F(1), F(0), (size_t)c->b[0].n * 4); }
void mk_copy(opcase* c) {
    long n = (long)W2_ROWS * W2_M;
    int x = NEW(B_IN, "x", n), y = NEW(B_OUT, "y", n);
    case_randn(X(x), n, 1.f, 0.f);
    case_ref(c, y);
    memcpy(c->b[y].ref, X(x), (size_t)n * 4);
    c->wl = "W2";
    c->rule = "exact";
    case_set_shape(c, "%dx%d", W2_ROWS, W2_M);
    c->call = call_copy;
}

// zero: the same buffer set to 0; exact
static void call_zero(opcase* c, const fl_ops* o) { o->zero(F(0), (size_t)c->b[0].n * 4); }
void mk_zero(opcase* c) {
    long n = (long)W2_ROWS * W2_M;
    int y = NEW(B_OUT, "y", n);
    memset(case_ref(c, y), 0, (size_t)n * 4);
    c->wl = "W2";
    c->rule = "exact";
    case_set_shape(c, "%dx%d", W2_ROWS, W2_M);
    c->call = call_zero;
}

// ---------------------------------------------------------------------------------------
// linear algebra: references in double, tolerance 2 ((K+2) u (|alpha| sum_k |a b| + |beta c|))
// plus the rounding of the reference to float (u |ref|)

static void call_gemm(opcase* c, const fl_ops* o) {
    int ta = c->i[0], tb = c->i[1], M = c->i[2], N = c->i[3], K = c->i[4];
    o->gemm(ta, tb, M, N, K, c->f[0], F(0), ta ? M : K, F(1), tb ? K : N, c->f[1], F(2), N);
}
// C (M, N) = alpha op(A) op(B) + beta C. The reference covers 64 rows (the first 8, the last
// 8 and every (M/48)-th: all columns and the whole sum over K of each), the others are not
// checked: a product's rows are independent, and a double loop over all of them would take
// longer than the benchmark.
static void mk_gemm(opcase* c, const char* wl, int ta, int tb, int M, int N, int K, float alpha, float beta,
                    const char* what) {
    int a = NEW(B_IN, "A", (long)M * K), b = NEW(B_IN, "B", (long)K * N), cc = NEW(B_INOUT, "C", (long)M * N);
    case_randn(X(a), (long)M * K, 1.f, 0.f);
    case_randn(X(b), (long)K * N, 0.05f, 0.f);
    case_randn(X(cc), (long)M * N, 1.f, 0.f);
    float* ref = case_ref(c, cc);
    double* tol = case_tol(c, cc);
    const float *A = X(a), *B = X(b), *C0 = X(cc);
    int lda = ta ? M : K, ldb = tb ? K : N, stride = M / 48 > 1 ? M / 48 : 1;
    for (int i = 0; i < M; i++) {
        int checked = i < 8 || i >= M - 8 || i % stride == 0;
        for (int j = 0; j < N; j++) {
            long ij = (long)i * N + j;
            if (!checked) { tol[ij] = -1; continue; }
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)(ta ? A[(long)k * lda + i] : A[(long)i * lda + k]) *
                           (tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j]);
                s += p;
                mag += fabs(p);
            }
            double bc = (double)beta * C0[ij];
            ref[ij] = (float)(alpha * s + bc);
            tol[ij] = 2.0 * (K + 2) * U * (fabs(alpha) * mag + fabs(bc)) + U * fabs(ref[ij]);
        }
    }
    c->i[0] = ta; c->i[1] = tb; c->i[2] = M; c->i[3] = N; c->i[4] = K;
    c->f[0] = alpha; c->f[1] = beta;
    c->wl = wl;
    c->flops = 2.0 * M * N * K;
    c->rule = "2(K+2)u sum|ab|";
    case_set_shape(c, "%dx%dx%d %c%c %s", M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N', what);
    c->call = call_gemm;
}
// W1 layer 2 on the query rows: Y (2048, 512) = X W^T + Y, Y filled by bias_noise_set first
void mk_gemm_w1(opcase* c) { mk_gemm(c, "W1", 0, 1, W1_Q, W1_H, W1_H, 1.f, 1.f, "fwd"); }
// W2 fc1's LR weight gradient over a chunk's 32 pairs: gW (768, 192) += E^T Xf, K = 32 x 50
void mk_gemm_w2(opcase* c) { mk_gemm(c, "W2", 1, 0, W2_M, W2_D, W2_UNITS * W2_T, 1.f, 1.f, "LR grad"); }

// gemm_strided: the attention products of one W2 block, as vit.c issues them without a fused
// attention: per head h, batch 64 sequences; q, k, v, ctx (64, 50, 192), P (64, 3, 50, 50).
static void call_scores(opcase* c, const fl_ops* o) {
    const int T = W2_T, D = W2_D, hd = W2_HD;
    const long TD = (long)T * D, TT = (long)T * T, HTT = (long)W2_H * TT;
    for (int h = 0; h < W2_H; h++)  // scores_h (T, T) = scale q_h k_h^T
        o->gemm_strided(0, 1, T, T, hd, c->f[0], F(0) + h * hd, D, TD, F(1) + h * hd, D, TD, 0.0f,
                        F(2) + h * TT, T, HTT, W2_Q);
}
static void call_context(opcase* c, const fl_ops* o) {
    const int T = W2_T, D = W2_D, hd = W2_HD;
    const long TD = (long)T * D, TT = (long)T * T, HTT = (long)W2_H * TT;
    for (int h = 0; h < W2_H; h++)  // ctx_h (T, hd) = P_h v_h
        o->gemm_strided(0, 0, T, hd, T, 1.0f, F(0) + h * TT, T, HTT, F(1) + h * hd, D, TD, 0.0f,
                        F(2) + h * hd, D, TD, W2_Q);
}
static void mk_gemm_strided(opcase* c, int context) {
    const int S = W2_Q, T = W2_T, D = W2_D, H = W2_H, hd = W2_HD;
    const long nqkv = (long)S * T * D, np = (long)S * H * T * T;
    const float scale = 0.125f;  // 1 / sqrt(64)
    int a = NEW(B_IN, context ? "P" : "q", context ? np : nqkv), b = NEW(B_IN, context ? "v" : "k", nqkv);
    int out = NEW(B_OUT, context ? "ctx" : "scores", context ? nqkv : np);
    if (context) {  // probabilities: positive, rows of about 1
        case_randn(X(a), np, 1.f, 0.f);
        for (long i = 0; i < np; i++) X(a)[i] = fabsf(X(a)[i]) * (1.25f / T);
    } else {
        case_randn(X(a), nqkv, 1.f, 0.f);
    }
    case_randn(X(b), nqkv, 1.f, 0.f);
    float* ref = case_ref(c, out);
    double* tol = case_tol(c, out);
    const float *A = X(a), *B = X(b);
    for (int s = 0; s < S; s++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                int ncol = context ? hd : T;
                for (int j = 0; j < ncol; j++) {
                    double sum = 0, mag = 0;
                    int K = context ? T : hd;
                    for (int k = 0; k < K; k++) {
                        double p = context ? (double)A[(((long)s * H + h) * T + i) * T + k] * B[((long)s * T + k) * D + h * hd + j]
                                           : (double)A[((long)s * T + i) * D + h * hd + k] * B[((long)s * T + j) * D + h * hd + k];
                        sum += p;
                        mag += fabs(p);
                    }
                    double alpha = context ? 1.0 : scale;
                    long o = context ? ((long)s * T + i) * D + h * hd + j : (((long)s * H + h) * T + i) * T + j;
                    ref[o] = (float)(alpha * sum);
                    tol[o] = 2.0 * (K + 2) * U * alpha * mag + U * fabs(ref[o]);
                }
            }
    c->f[0] = scale;
    c->wl = "W2";
    c->flops = 2.0 * S * H * T * T * hd;
    c->rule = "2(K+2)u sum|ab|";
    if (context) case_set_shape(c, "%dx%dx%d NN x%d x%d heads ctx", T, hd, T, S, H);
    else case_set_shape(c, "%dx%dx%d NT x%d x%d heads scores", T, T, hd, S, H);
    c->call = context ? call_context : call_scores;
}
void mk_gemm_strided_scores(opcase* c) { mk_gemm_strided(c, 0); }
void mk_gemm_strided_ctx(opcase* c) { mk_gemm_strided(c, 1); }

// ---------------------------------------------------------------------------------------
// data movement

// gather_rows: W1's first layer runs once per datum; its output (64, 512) is expanded to the
// 2048 query rows (idx = the query's datum); exact
static void call_gather_rows(opcase* c, const fl_ops* o) { o->gather_rows(F(2), F(0), FI(1), W1_Q, W1_H); }
void mk_gather_rows(opcase* c) {
    int src = NEW(B_IN, "src", (long)W1_B * W1_H), idx = NEWI(B_IN, "idx", W1_Q), dst = NEW(B_OUT, "dst", (long)W1_Q * W1_H);
    case_randn(X(src), (long)W1_B * W1_H, 1.f, 0.f);
    for (int r = 0; r < W1_Q; r++) XI(idx)[r] = r / W1_QPD;
    float* ref = case_ref(c, dst);
    for (int r = 0; r < W1_Q; r++) memcpy(ref + (long)r * W1_H, X(src) + (long)XI(idx)[r] * W1_H, W1_H * 4);
    c->wl = "W1";
    c->rule = "exact";
    case_set_shape(c, "%dx%d from %d rows", W1_Q, W1_H, W1_B);
    c->call = call_gather_rows;
}

// segment_sum: W1 layer 1's LR factor summed over each datum's 32 queries, (2048, 512) ->
// (64, 512); reference in double, tolerance 2 (L+2) u sum|x| for segments of L rows
static void call_segment_sum(opcase* c, const fl_ops* o) { o->segment_sum(F(2), F(0), FI(1), W1_B, W1_H); }
void mk_segment_sum(opcase* c) {
    int src = NEW(B_IN, "src", (long)W1_Q * W1_H), off = NEWI(B_IN, "offsets", W1_B + 1), dst = NEW(B_OUT, "dst", (long)W1_B * W1_H);
    case_randn(X(src), (long)W1_Q * W1_H, 1.f, 0.f);
    for (int s = 0; s <= W1_B; s++) XI(off)[s] = s * W1_QPD;
    float* ref = case_ref(c, dst);
    double* tol = case_tol(c, dst);
    for (int s = 0; s < W1_B; s++)
        for (int j = 0; j < W1_H; j++) {
            double sum = 0, mag = 0;
            for (int r = XI(off)[s]; r < XI(off)[s + 1]; r++) { sum += X(src)[(long)r * W1_H + j]; mag += fabs(X(src)[(long)r * W1_H + j]); }
            ref[(long)s * W1_H + j] = (float)sum;
            tol[(long)s * W1_H + j] = 2.0 * (W1_QPD + 2) * U * mag;
        }
    c->wl = "W1";
    c->rule = "2(L+2)u sum|x|";
    case_set_shape(c, "%d segs of %d rows x%d", W1_B, W1_QPD, W1_H);
    c->call = call_segment_sum;
}

// gather_add_rows: a W2 residual from a per-datum branch onto the chunk's 64 query streams,
// rows of 50 x 192 (vit.c residual); one addition per element: exact
static void call_gather_add_rows(opcase* c, const fl_ops* o) {
    o->gather_add_rows(F(0), F(1), FI(2), W2_Q, (long)W2_T * W2_D);
}
void mk_gather_add_rows(opcase* c) {
    const long row = (long)W2_T * W2_D, nd = W2_Q / W2_QPD;
    int dst = NEW(B_INOUT, "dst", W2_Q * row), src = NEW(B_IN, "src", nd * row), idx = NEWI(B_IN, "idx", W2_Q);
    case_randn(X(dst), W2_Q * row, 1.f, 0.f);
    case_randn(X(src), nd * row, 1.f, 0.f);
    for (int r = 0; r < W2_Q; r++) XI(idx)[r] = r / W2_QPD;
    float* ref = case_ref(c, dst);
    for (int r = 0; r < W2_Q; r++) fl_body_add_row(ref + r * row, X(src) + XI(idx)[r] * row, row);
    c->wl = "W2";
    c->rule = "exact";
    case_set_shape(c, "%dx%ld from %ld rows", W2_Q, row, nd);
    c->call = call_gather_add_rows;
}
