// bench_ops.c: `flbench bench --ops`, the per-op kernel benchmark. Every op of the ops table
// (impl/backend/ops.h) runs at one or two shapes of the workloads of cmd_bench.c (W1, W2), on
// the CPU backend and, where a device is present, on CUDA. Before an op is timed, one call is
// checked against a host reference on the same inputs: the shared bodies of
// impl/kernels/bodies.h run serially, one row at a time (so the backends' threads, vector paths
// and kernels are compared with the body they must reproduce), or a plain loop in double (the
// products and the sums). The noise ops, and the ops that round at most once per element
// (copies, gathers, relu, scale), must match bit for bit; every other op within a bound stated
// at its case, from float rounding: u = 2^-24, and a sum of n terms in any order is within
// (n+2) u sum|terms| of the exact sum (Higham's gamma_n bound), doubled to cover both sides.
// An op that fails its check is reported FAIL and not timed, and the command exits 1.
//
// Timing: a repetition restores the op's in/out buffers (untimed), then times `calls`
// back-to-back calls between two syncs (as many as take about 2 ms, at least one). Reported:
// the median over --reps repetitions after --warmup ones, per call (fl_median). Rates: GFLOP/s
// for the products (attention: the two products it replaces), GB/s otherwise: the bytes of the
// buffers the op reads or writes, each counted once (twice when both read and written).
//
// Test hook: FLBENCH_OPS_PERTURB=OP moves the first element of OP's first checked output one
// ulp up after its checked call (a kernel one ulp off); tests/cli/test_bench_cli.sh uses it to
// see the check fail.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdarg.h>
#include <math.h>
#include <time.h>
#include <errno.h>
#include <omp.h>
#include <cblas.h>
#include "args.h"
#include "run/schema.h"
#include "../impl/backend/ops.h"
#include "../impl/kernels/bodies.h"
#include "../impl/estimators/estimator.h"

int fl_bench_ops(int argc, char** argv);

#define U 5.9604644775390625e-08    // 2^-24, the unit roundoff of float
#define UD 1.1102230246251565e-16   // 2^-53, of double

// ---------------------------------------------------------------------------------------
// The shapes.
// W1: mlp:784-512-512-10, batch 64, 32 queries per datum: 2048 query rows of one token.
enum { W1_B = 64, W1_QPD = 32, W1_Q = 2048, W1_IN = 784, W1_H = 512, W1_C = 10 };
// W1's layer-2 weight (512 x 512), the tensor of the optimiser and MeZO ops; it starts at
// element 401920 of the parameter buffer (after layer 1's 512 x 784 weight and 512 biases).
#define W1_NP 262144L
#define W1_POFF 401920ull
// W2: vit-tiny (28x28x1, patch 4: 50 tokens; dim 192, 3 heads of 64, MLP 768), batch 32, 16
// queries per datum. Ops on query rows take one chunk of 64 queries (4 data): 3200 token rows,
// 32 antithetic pairs (the CPU backend's chunk, 128 MB of activations, holds 56 queries).
enum {
    W2_B = 32, W2_QPD = 16, W2_Q = 64, W2_T = 50, W2_D = 192, W2_H = 3, W2_HD = 64, W2_M = 768,
    W2_ROWS = W2_Q * W2_T, W2_UNITS = W2_Q / 2, W2_IMG = 28, W2_P = 4
};

// ---------------------------------------------------------------------------------------
// A case: one op at one shape, its buffers, the reference and the tolerances.

enum { B_IN, B_OUT, B_INOUT };
#define MAXBUF 10

typedef struct {
    const char* name;
    int role, isint;
    long n;          // elements (4 bytes each)
    void* init;      // host contents before the call (IN, INOUT); OUT buffers start as NaN
    void* ref;       // expected contents after the call (NULL: not checked)
    double* tol;     // per element |got - ref| allowed (NULL: bit-exact; < 0: not checked)
    void* dev;       // the backend's copy
} obuf;

typedef struct opcase opcase;
struct opcase {
    const char* op;       // the fl_ops member
    size_t off;           // its offset in fl_ops (NULL there: absent from that backend)
    const char* wl;       // W1 or W2
    char shape[64];
    const char* rule;     // the tolerance, printed
    double flops;         // per call: the rate is in GFLOP/s
    double normals;       // else normals drawn per call (noise ops): in G normals/s
    double bytes;         // else bytes moved per call (0: the buffers' bytes): in GB/s
    int nb;
    obuf b[MAXBUF];
    fl_noise nz;          // noise template (host); qc: index of the qcode buffer
    int qc;
    int i[8];
    float f[12];
    int has_ret;          // a returned double (dot, dirs_sumsq)
    double ret, ret_ref, ret_tol;
    int rc;               // attention's return (nonzero: no fused path for the shape)
    void (*call)(opcase*, const fl_ops*);
};

#define F(k) ((float*)c->b[k].dev)
#define FI(k) ((int32_t*)c->b[k].dev)
#define X(k) ((float*)c->b[k].init)
#define XI(k) ((int32_t*)c->b[k].init)

static int add_buf(opcase* c, const char* name, int role, long n, int isint) {
    FL_CHECK(c->nb < MAXBUF, "bench --ops: too many buffers in %s", c->op);
    obuf* b = &c->b[c->nb];
    memset(b, 0, sizeof *b);
    b->name = name;
    b->role = role;
    b->isint = isint;
    b->n = n;
    if (role != B_OUT) b->init = fl_calloc((size_t)(n > 0 ? n : 1), 4);
    return c->nb++;
}
#define NEW(role, name, n) add_buf(c, name, role, n, 0)
#define NEWI(role, name, n) add_buf(c, name, role, n, 1)

// The reference of buffer k (starts as a copy of its contents before the call).
static float* R(opcase* c, int k) {
    obuf* b = &c->b[k];
    if (!b->ref) {
        b->ref = fl_calloc((size_t)(b->n > 0 ? b->n : 1), 4);
        if (b->init) memcpy(b->ref, b->init, (size_t)b->n * 4);
    }
    return (float*)b->ref;
}
static int32_t* RI(opcase* c, int k) { return (int32_t*)R(c, k); }
static double* TOL(opcase* c, int k) {
    obuf* b = &c->b[k];
    if (!b->tol) b->tol = fl_calloc((size_t)(b->n > 0 ? b->n : 1), sizeof(double));
    return b->tol;
}

static void set_shape(opcase* c, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_shape(opcase* c, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->shape, sizeof c->shape, fmt, ap);
    va_end(ap);
}

// Deterministic inputs: normals of the shared Philox generator, scale * z + shift.
static uint32_t g_seed = 1;
static void randn(float* x, long n, float scale, float shift) {
    uint32_t seed = g_seed++;
    for (long i = 0; i < n; i += 4) {
        float z[4];
        fl_normal4(0x0b5eedu, seed, (uint32_t)(i >> 2), 0, 0, 0, z);
        for (long l = 0; l < 4 && i + l < n; l++) x[i + l] = shift + scale * z[l];
    }
}
// Noise scales sigma = exp(log sigma), per column: 1e-3 and a little more.
static void rand_sigma(float* s, long n) {
    randn(s, n, 1e-4f, 0.f);
    for (long i = 0; i < n; i++) s[i] = 1e-3f + fabsf(s[i]);
}

// Queries 2j and 2j+1 are an antithetic pair on one noise row (the second negated), as the
// LR estimator lays them out; uoff (units + 1) marks the pairs.
static void pair_codes(int32_t* qcode, int Q) {
    for (int q = 0; q < Q; q++) qcode[q] = (int32_t)((((uint32_t)(1000 + q / 2)) << 1) | (uint32_t)(q & 1));
}
static void pair_offsets(int32_t* uoff, int units) {
    for (int u = 0; u <= units; u++) uoff[u] = 2 * u;
}
static fl_noise noise_template(const int32_t* qcode_host, int tokens) {
    fl_noise nz = {.key0 = 7, .key1 = 0, .stream = FL_STREAM_MAIN + 5 /* a layer's stream */, .step = 11, .qcode = qcode_host,
                   .tokens = tokens};
    return nz;
}
// The template with its qcode in backend memory.
static fl_noise dev_noise(const opcase* c) {
    fl_noise nz = c->nz;
    nz.qcode = (const int32_t*)c->b[c->qc].dev;
    return nz;
}

// ---------------------------------------------------------------------------------------
// memory

// copy: fc1's output of a W2 chunk (3200 x 768), y = x; exact
static void call_copy(opcase* c, const fl_ops* o) { o->copy(F(1), F(0), (size_t)c->b[0].n * 4); }
static void mk_copy(opcase* c) {
    long n = (long)W2_ROWS * W2_M;
    int x = NEW(B_IN, "x", n), y = NEW(B_OUT, "y", n);
    randn(X(x), n, 1.f, 0.f);
    R(c, y);
    memcpy(c->b[y].ref, X(x), (size_t)n * 4);
    c->wl = "W2";
    c->rule = "exact";
    set_shape(c, "%dx%d", W2_ROWS, W2_M);
    c->call = call_copy;
}

// zero: the same buffer set to 0; exact
static void call_zero(opcase* c, const fl_ops* o) { o->zero(F(0), (size_t)c->b[0].n * 4); }
static void mk_zero(opcase* c) {
    long n = (long)W2_ROWS * W2_M;
    int y = NEW(B_OUT, "y", n);
    memset(R(c, y), 0, (size_t)n * 4);
    c->wl = "W2";
    c->rule = "exact";
    set_shape(c, "%dx%d", W2_ROWS, W2_M);
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
    randn(X(a), (long)M * K, 1.f, 0.f);
    randn(X(b), (long)K * N, 0.05f, 0.f);
    randn(X(cc), (long)M * N, 1.f, 0.f);
    float* ref = R(c, cc);
    double* tol = TOL(c, cc);
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
    set_shape(c, "%dx%dx%d %c%c %s", M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N', what);
    c->call = call_gemm;
}
// W1 layer 2 on the query rows: Y (2048, 512) = X W^T + Y, Y filled by bias_noise_set first
static void mk_gemm_w1(opcase* c) { mk_gemm(c, "W1", 0, 1, W1_Q, W1_H, W1_H, 1.f, 1.f, "fwd"); }
// W2 fc1's LR weight gradient over a chunk's 32 pairs: gW (768, 192) += E^T Xf, K = 32 x 50
static void mk_gemm_w2(opcase* c) { mk_gemm(c, "W2", 1, 0, W2_M, W2_D, W2_UNITS * W2_T, 1.f, 1.f, "LR grad"); }

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
        randn(X(a), np, 1.f, 0.f);
        for (long i = 0; i < np; i++) X(a)[i] = fabsf(X(a)[i]) * (1.25f / T);
    } else {
        randn(X(a), nqkv, 1.f, 0.f);
    }
    randn(X(b), nqkv, 1.f, 0.f);
    float* ref = R(c, out);
    double* tol = TOL(c, out);
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
    if (context) set_shape(c, "%dx%dx%d NN x%d x%d heads ctx", T, hd, T, S, H);
    else set_shape(c, "%dx%dx%d NT x%d x%d heads scores", T, T, hd, S, H);
    c->call = context ? call_context : call_scores;
}
static void mk_gemm_strided_scores(opcase* c) { mk_gemm_strided(c, 0); }
static void mk_gemm_strided_ctx(opcase* c) { mk_gemm_strided(c, 1); }

// attention: one W2 block over a chunk, S = 64 sequences of 50 tokens, 3 heads of 64, the LR
// forward (no probabilities kept). Reference in double. The backend's error, per output: the
// scores carry ds = (hd+2) u scale sum|q k| each (and u |score| in the exponent), the softmax
// turns them into a relative error of at most 2 max ds + 2u (|z| + |max z|) + (T+8) u per
// probability (the sum of T exps and a few roundings), and ctx = sum_t p_t v_t adds (T+2) u;
// so |err| <= (2 max ds + 2u (|z| + |max z|) + (2T + 10) u) sum_t p_t |v_t|, doubled.
static void call_attention(opcase* c, const fl_ops* o) {
    c->rc = o->attention(F(3), NULL, F(0), F(1), F(2), W2_Q, W2_T, W2_H, W2_D, c->f[0]);
}
static void mk_attention(opcase* c) {
    const int S = W2_Q, T = W2_T, D = W2_D, H = W2_H, hd = W2_HD;
    const long n = (long)S * T * D;
    const double scale = 0.125;
    int q = NEW(B_IN, "q", n), k = NEW(B_IN, "k", n), v = NEW(B_IN, "v", n), ctx = NEW(B_OUT, "ctx", n);
    randn(X(q), n, 1.f, 0.f);
    randn(X(k), n, 1.f, 0.f);
    randn(X(v), n, 1.f, 0.f);
    float* ref = R(c, ctx);
    double* tol = TOL(c, ctx);
    double z[W2_T], p[W2_T];
    for (int s = 0; s < S; s++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float* qi = X(q) + ((long)s * T + i) * D + h * hd;
                double mx = -INFINITY, ds = 0, zmax = 0, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float* kj = X(k) + ((long)s * T + j) * D + h * hd;
                    double d = 0, mag = 0;
                    for (int e = 0; e < hd; e++) { d += (double)qi[e] * kj[e]; mag += fabs((double)qi[e] * kj[e]); }
                    z[j] = scale * d;
                    double dsj = (hd + 2) * U * scale * mag;
                    ds = dsj > ds ? dsj : ds;
                    zmax = fabs(z[j]) > zmax ? fabs(z[j]) : zmax;
                    mx = z[j] > mx ? z[j] : mx;
                }
                for (int j = 0; j < T; j++) { p[j] = exp(z[j] - mx); sum += p[j]; }
                double rel = 2 * ds + 2 * U * (zmax + fabs(mx)) + (2.0 * T + 10) * U;
                for (int e = 0; e < hd; e++) {
                    double a = 0, mag = 0;
                    for (int j = 0; j < T; j++) {
                        double vj = X(v)[((long)s * T + j) * D + h * hd + e];
                        a += p[j] / sum * vj;
                        mag += p[j] / sum * fabs(vj);
                    }
                    long o = ((long)s * T + i) * D + h * hd + e;
                    ref[o] = (float)a;
                    tol[o] = 2 * rel * mag + U * fabs(a);
                }
            }
    c->f[0] = (float)scale;
    c->wl = "W2";
    c->flops = 4.0 * S * H * T * T * hd;
    c->rule = "attention bound";
    set_shape(c, "S%d T%d H%d D%d LR (no probs)", S, T, H, D);
    c->call = call_attention;
}

// ---------------------------------------------------------------------------------------
// data movement

// gather_rows: W1's first layer runs once per datum; its output (64, 512) is expanded to the
// 2048 query rows (idx = the query's datum); exact
static void call_gather_rows(opcase* c, const fl_ops* o) { o->gather_rows(F(2), F(0), FI(1), W1_Q, W1_H); }
static void mk_gather_rows(opcase* c) {
    int src = NEW(B_IN, "src", (long)W1_B * W1_H), idx = NEWI(B_IN, "idx", W1_Q), dst = NEW(B_OUT, "dst", (long)W1_Q * W1_H);
    randn(X(src), (long)W1_B * W1_H, 1.f, 0.f);
    for (int r = 0; r < W1_Q; r++) XI(idx)[r] = r / W1_QPD;
    float* ref = R(c, dst);
    for (int r = 0; r < W1_Q; r++) memcpy(ref + (long)r * W1_H, X(src) + (long)XI(idx)[r] * W1_H, W1_H * 4);
    c->wl = "W1";
    c->rule = "exact";
    set_shape(c, "%dx%d from %d rows", W1_Q, W1_H, W1_B);
    c->call = call_gather_rows;
}

// segment_sum: W1 layer 1's LR factor summed over each datum's 32 queries, (2048, 512) ->
// (64, 512); reference in double, tolerance 2 (L+2) u sum|x| for segments of L rows
static void call_segment_sum(opcase* c, const fl_ops* o) { o->segment_sum(F(2), F(0), FI(1), W1_B, W1_H); }
static void mk_segment_sum(opcase* c) {
    int src = NEW(B_IN, "src", (long)W1_Q * W1_H), off = NEWI(B_IN, "offsets", W1_B + 1), dst = NEW(B_OUT, "dst", (long)W1_B * W1_H);
    randn(X(src), (long)W1_Q * W1_H, 1.f, 0.f);
    for (int s = 0; s <= W1_B; s++) XI(off)[s] = s * W1_QPD;
    float* ref = R(c, dst);
    double* tol = TOL(c, dst);
    for (int s = 0; s < W1_B; s++)
        for (int j = 0; j < W1_H; j++) {
            double sum = 0, mag = 0;
            for (int r = XI(off)[s]; r < XI(off)[s + 1]; r++) { sum += X(src)[(long)r * W1_H + j]; mag += fabs(X(src)[(long)r * W1_H + j]); }
            ref[(long)s * W1_H + j] = (float)sum;
            tol[(long)s * W1_H + j] = 2.0 * (W1_QPD + 2) * U * mag;
        }
    c->wl = "W1";
    c->rule = "2(L+2)u sum|x|";
    set_shape(c, "%d segs of %d rows x%d", W1_B, W1_QPD, W1_H);
    c->call = call_segment_sum;
}

// gather_add_rows: a W2 residual from a per-datum branch onto the chunk's 64 query streams,
// rows of 50 x 192 (vit.c residual); one addition per element: exact
static void call_gather_add_rows(opcase* c, const fl_ops* o) {
    o->gather_add_rows(F(0), F(1), FI(2), W2_Q, (long)W2_T * W2_D);
}
static void mk_gather_add_rows(opcase* c) {
    const long row = (long)W2_T * W2_D, nd = W2_Q / W2_QPD;
    int dst = NEW(B_INOUT, "dst", W2_Q * row), src = NEW(B_IN, "src", nd * row), idx = NEWI(B_IN, "idx", W2_Q);
    randn(X(dst), W2_Q * row, 1.f, 0.f);
    randn(X(src), nd * row, 1.f, 0.f);
    for (int r = 0; r < W2_Q; r++) XI(idx)[r] = r / W2_QPD;
    float* ref = R(c, dst);
    for (int r = 0; r < W2_Q; r++) fl_body_add_row(ref + r * row, X(src) + XI(idx)[r] * row, row);
    c->wl = "W2";
    c->rule = "exact";
    set_shape(c, "%dx%ld from %ld rows", W2_Q, row, nd);
    c->call = call_gather_add_rows;
}

// ---------------------------------------------------------------------------------------
// element-wise

// exp: the sigma refresh of W2's fc1 (768 columns, model.c); expf is within 1 ulp in glibc
// and 2 in CUDA, an ulp being up to 2u relative: 16 u |y|
static void call_exp(opcase* c, const fl_ops* o) { o->exp(F(1), F(0), c->b[0].n); }
static void mk_exp(opcase* c) {
    int x = NEW(B_IN, "log_sigma", W2_M), y = NEW(B_OUT, "sigma", W2_M);
    randn(X(x), W2_M, 0.3f, logf(1e-3f));
    float* ref = R(c, y);
    double* tol = TOL(c, y);
    for (int i = 0; i < W2_M; i++) { ref[i] = expf(X(x)[i]); tol[i] = 16 * U * fabs(ref[i]); }
    c->wl = "W2";
    c->rule = "16u|y|";
    set_shape(c, "%d", W2_M);
    c->call = call_exp;
}

// scale: gradient clipping of W1's layer-2 weight gradient (262144); one product: exact
static void call_scale(opcase* c, const fl_ops* o) { o->scale(F(0), c->f[0], c->b[0].n); }
static void mk_scale(opcase* c) {
    int x = NEW(B_INOUT, "g", W1_NP);
    randn(X(x), W1_NP, 1e-3f, 0.f);
    c->f[0] = 0.73f;
    float* ref = R(c, x);
    for (long i = 0; i < W1_NP; i++) ref[i] = X(x)[i] * c->f[0];
    c->wl = "W1";
    c->rule = "exact";
    set_shape(c, "%ld", W1_NP);
    c->call = call_scale;
}

// axpy: W2's residual gradient dres += 1 dtmp over a chunk (3200 x 192, vit.c); y + a x, where
// a multiply-add may round once instead of twice: 4u (|y| + |a x|)
static void call_axpy(opcase* c, const fl_ops* o) { o->axpy(F(0), c->f[0], F(1), c->b[0].n); }
static void mk_axpy(opcase* c) {
    const long n = (long)W2_ROWS * W2_D;
    int y = NEW(B_INOUT, "y", n), x = NEW(B_IN, "x", n);
    randn(X(y), n, 1.f, 0.f);
    randn(X(x), n, 1.f, 0.f);
    c->f[0] = 1.0f;
    float* ref = R(c, y);
    double* tol = TOL(c, y);
    for (long i = 0; i < n; i++) {
        float ax = c->f[0] * X(x)[i];
        ref[i] = X(y)[i] + ax;
        tol[i] = 4 * U * (fabs(X(y)[i]) + fabs(ax));
    }
    c->wl = "W2";
    c->rule = "4u(|y|+|ax|)";
    set_shape(c, "%dx%d a=1", W2_ROWS, W2_D);
    c->call = call_axpy;
}

// relu, relu_bwd: W1's hidden layers on the 2048 query rows (512 wide); comparisons: exact
static void call_relu(opcase* c, const fl_ops* o) { o->relu(F(1), F(0), c->b[0].n); }
static void mk_relu(opcase* c) {
    const long n = (long)W1_Q * W1_H;
    int x = NEW(B_IN, "x", n), y = NEW(B_OUT, "y", n);
    randn(X(x), n, 1.f, 0.f);
    float* ref = R(c, y);
    for (long i = 0; i < n; i++) ref[i] = fl_body_relu(X(x)[i]);
    c->wl = "W1";
    c->rule = "exact";
    set_shape(c, "%dx%d", W1_Q, W1_H);
    c->call = call_relu;
}
// in place, as mlp.c calls it: dx = dy where y > 0
static void call_relu_bwd(opcase* c, const fl_ops* o) { o->relu_bwd(F(0), F(0), F(1), c->b[0].n); }
static void mk_relu_bwd(opcase* c) {
    const long n = (long)W1_Q * W1_H;
    int dx = NEW(B_INOUT, "dx", n), y = NEW(B_IN, "y", n);
    randn(X(dx), n, 1.f, 0.f);
    randn(X(y), n, 1.f, 0.f);
    for (long i = 0; i < n; i++) X(y)[i] = fl_body_relu(X(y)[i]);
    float* ref = R(c, dx);
    for (long i = 0; i < n; i++) ref[i] = fl_body_relu_bwd(X(dx)[i], X(y)[i]);
    c->wl = "W1";
    c->rule = "exact";
    set_shape(c, "%dx%d in place", W1_Q, W1_H);
    c->call = call_relu_bwd;
}

// gelu, gelu_bwd: W2's fc1 output over a chunk (3200 x 768). The body's erf and exp are within
// 2 ulp of a value below 1; a multiply-add contracted by one compiler and not the other moves
// a few more: 16u (|x| + |y|), and 16u |dy| (1 + x^2) for the derivative (test_cuda.c's bounds)
static void call_gelu(opcase* c, const fl_ops* o) { o->gelu(F(1), F(0), c->b[0].n); }
static void mk_gelu(opcase* c) {
    const long n = (long)W2_ROWS * W2_M;
    int x = NEW(B_IN, "x", n), y = NEW(B_OUT, "y", n);
    randn(X(x), n, 1.5f, 0.f);
    float* ref = R(c, y);
    double* tol = TOL(c, y);
    for (long i = 0; i < n; i++) { ref[i] = fl_body_gelu(X(x)[i]); tol[i] = 16 * U * (fabs(X(x)[i]) + fabs(ref[i])); }
    c->wl = "W2";
    c->rule = "16u(|x|+|y|)";
    set_shape(c, "%dx%d", W2_ROWS, W2_M);
    c->call = call_gelu;
}
// in place, as vit.c calls it
static void call_gelu_bwd(opcase* c, const fl_ops* o) { o->gelu_bwd(F(0), F(0), F(1), c->b[0].n); }
static void mk_gelu_bwd(opcase* c) {
    const long n = (long)W2_ROWS * W2_M;
    int dx = NEW(B_INOUT, "dx", n), x = NEW(B_IN, "x", n);
    randn(X(dx), n, 1.f, 0.f);
    randn(X(x), n, 1.5f, 0.f);
    float* ref = R(c, dx);
    double* tol = TOL(c, dx);
    for (long i = 0; i < n; i++) {
        ref[i] = fl_body_gelu_bwd(X(dx)[i], X(x)[i]);
        tol[i] = 16 * U * fabs(X(dx)[i]) * (1.0 + (double)X(x)[i] * X(x)[i]);
    }
    c->wl = "W2";
    c->rule = "16u|dy|(1+x^2)";
    set_shape(c, "%dx%d in place", W2_ROWS, W2_M);
    c->call = call_gelu_bwd;
}

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
    fl_noise nz = dev_noise(c);
    o->bias_noise(F(0), F(1), F(2), &nz, W1_Q, W1_H);
}
static void mk_bias_noise(opcase* c) {
    int y = NEW(B_INOUT, "y", (long)W1_Q * W1_H), b = NEW(B_IN, "bias", W1_H), s = NEW(B_IN, "sigma", W1_H);
    c->qc = NEWI(B_IN, "qcode", W1_Q);
    randn(X(y), (long)W1_Q * W1_H, 1.f, 0.f);
    randn(X(b), W1_H, 0.1f, 0.f);
    rand_sigma(X(s), W1_H);
    pair_codes(XI(c->qc), W1_Q);
    c->nz = noise_template(XI(c->qc), 1);
    ref_bias_noise(R(c, y), X(b), X(s), &c->nz, W1_Q, W1_H, 0);
    c->wl = "W1";
    c->rule = "exact";
    c->normals = (double)W1_Q / 2 * W1_H;  // a pair's two rows share theirs
    set_shape(c, "%dx%d T1 pairs", W1_Q, W1_H);
    c->call = call_bias_noise;
}

// bias_noise_set: W2 fc1's output filled before its GEMM, a chunk of 64 queries x 50 tokens
static void call_bias_noise_set(opcase* c, const fl_ops* o) {
    fl_noise nz = dev_noise(c);
    o->bias_noise_set(F(0), F(1), F(2), &nz, W2_ROWS, W2_M);
}
static void mk_bias_noise_set(opcase* c) {
    int y = NEW(B_OUT, "y", (long)W2_ROWS * W2_M), b = NEW(B_IN, "bias", W2_M), s = NEW(B_IN, "sigma", W2_M);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    randn(X(b), W2_M, 0.1f, 0.f);
    rand_sigma(X(s), W2_M);
    pair_codes(XI(c->qc), W2_Q);
    c->nz = noise_template(XI(c->qc), W2_T);
    ref_bias_noise(R(c, y), X(b), X(s), &c->nz, W2_ROWS, W2_M, 1);
    c->wl = "W2";
    c->rule = "exact";
    c->normals = (double)W2_UNITS * W2_T * W2_M;
    set_shape(c, "%dx%d T%d pairs", W2_ROWS, W2_M, W2_T);
    c->call = call_bias_noise_set;
}

// bias_noise_keep: the same fill keeping each pair's normals for the gradient, (32 x 50, 768)
static void call_bias_noise_keep(opcase* c, const fl_ops* o) {
    fl_noise nz = dev_noise(c);
    o->bias_noise_keep(F(0), F(1), F(2), F(3), &nz, W2_ROWS, W2_M, 1);
}
static void mk_bias_noise_keep(opcase* c) {
    int y = NEW(B_OUT, "y", (long)W2_ROWS * W2_M), keep = NEW(B_OUT, "keep", (long)W2_UNITS * W2_T * W2_M);
    int b = NEW(B_IN, "bias", W2_M), s = NEW(B_IN, "sigma", W2_M);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    randn(X(b), W2_M, 0.1f, 0.f);
    rand_sigma(X(s), W2_M);
    pair_codes(XI(c->qc), W2_Q);
    c->nz = noise_template(XI(c->qc), W2_T);
    ref_bias_noise(R(c, y), X(b), X(s), &c->nz, W2_ROWS, W2_M, 1);
    float* kref = R(c, keep);
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
    set_shape(c, "%dx%d T%d keep %dx%d", W2_ROWS, W2_M, W2_T, W2_UNITS * W2_T, W2_M);
    c->call = call_bias_noise_keep;
}

// lr_grad: W1 layer 1's LR factor (per datum, so by query: lr.c), G (2048, 512) and gs (512) +=
static void call_lr_grad(opcase* c, const fl_ops* o) {
    fl_noise nz = dev_noise(c);
    o->lr_grad(F(0), F(1), F(2), F(3), &nz, W1_Q, W1_H);
}
static void mk_lr_grad(opcase* c) {
    const int rows = W1_Q, cols = W1_H;
    int G = NEW(B_OUT, "G", (long)rows * cols), gs = NEW(B_INOUT, "gs", cols), coef = NEW(B_IN, "coef", W1_Q);
    int s = NEW(B_IN, "sigma", cols);
    c->qc = NEWI(B_IN, "qcode", W1_Q);
    randn(X(gs), cols, 1.f, 0.f);
    randn(X(coef), W1_Q, 0.1f, 0.f);
    rand_sigma(X(s), cols);
    pair_codes(XI(c->qc), W1_Q);
    c->nz = noise_template(XI(c->qc), 1);
    float* Gr = R(c, G);
    double *sum = fl_calloc(cols, sizeof(double)), *mag = fl_calloc(cols, sizeof(double));
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += 4) {
            float t4[4];
            fl_body_lr_grad4(Gr + (long)r * cols, t4, X(coef), X(s), &c->nz, r, c0, cols);
            for (int l = 0; l < 4 && c0 + l < cols; l++) { sum[c0 + l] += t4[l]; mag[c0 + l] += fabs(t4[l]); }
        }
    float* gr = R(c, gs);
    double* tol = TOL(c, gs);
    for (int j = 0; j < cols; j++) {
        gr[j] = (float)(X(gs)[j] + sum[j]);
        tol[j] = 2.0 * (rows + 2) * U * (mag[j] + fabs(X(gs)[j]));
    }
    free(sum);
    free(mag);
    c->wl = "W1";
    c->rule = "G exact, gs 2(n+2)u";
    c->normals = (double)rows / 2 * cols;
    set_shape(c, "%dx%d T1 pairs", rows, cols);
    c->call = call_lr_grad;
}

// lr_unit_noise and lr_unit_kept: W2 fc1's LR factor by pairs over a chunk: E (32 x 50, 768),
// gb and gs (768) +=; lr_unit_kept (E = kept, in place, as lr.c calls it) reads the normals
// bias_noise_keep kept. Buffers E, gb, gs, coef, sigma, uoff, qcode.
static void call_lr_unit_noise(opcase* c, const fl_ops* o) {
    fl_noise nz = dev_noise(c);
    o->lr_unit_noise(F(0), F(1), F(2), F(3), F(4), &nz, FI(5), W2_UNITS, W2_M);
}
static void call_lr_unit_kept(opcase* c, const fl_ops* o) {
    fl_noise nz = dev_noise(c);
    o->lr_unit_kept(F(0), F(0), F(1), F(2), F(3), F(4), &nz, FI(5), W2_UNITS, W2_M, 0);
}
static void mk_lr_unit(opcase* c, int kept) {
    const int units = W2_UNITS, T = W2_T, cols = W2_M;
    const long urows = (long)units * T;
    int E = NEW(kept ? B_INOUT : B_OUT, "E", urows * cols), gb = NEW(B_INOUT, "gb", cols), gs = NEW(B_INOUT, "gs", cols);
    int coef = NEW(B_IN, "coef", W2_Q), s = NEW(B_IN, "sigma", cols), uoff = NEWI(B_IN, "uoff", units + 1);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    randn(X(gb), cols, 1.f, 0.f);
    randn(X(gs), cols, 1.f, 0.f);
    randn(X(coef), W2_Q, 0.1f, 0.f);
    rand_sigma(X(s), cols);
    pair_offsets(XI(uoff), units);
    pair_codes(XI(c->qc), W2_Q);
    c->nz = noise_template(XI(c->qc), T);
    const fl_noise* nz = &c->nz;
    if (kept)  // the kept normals of each pair's rows, as bias_noise_keep writes them
        for (int u = 0; u < units; u++)
            for (int t = 0; t < T; t++) {
                float sign;
                uint32_t row = fl_noise_row(nz, 2 * u * T + t, &sign);
                for (int c0 = 0; c0 < cols; c0 += 4)
                    fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, X(E) + ((long)u * T + t) * cols + c0);
            }
    float* Er = R(c, E);
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
    float *gbr = R(c, gb), *gsr = R(c, gs);
    double *tb = TOL(c, gb), *ts = TOL(c, gs);
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
    set_shape(c, "%d pairs T%d x%d%s", units, T, cols, kept ? " in place" : "");
    c->call = kept ? call_lr_unit_kept : call_lr_unit_noise;
}
static void mk_lr_unit_noise(opcase* c) { mk_lr_unit(c, 0); }
static void mk_lr_unit_kept(opcase* c) { mk_lr_unit(c, 1); }

// lr_unit_fold: W2 fc1's input (192 wide) folded by pairs, Xf (32 x 50, 192) from X (3200, 192):
// xf = w0 x0 + w1 x1, where a multiply-add may round once instead of twice: 4u sum|w x|
static void call_lr_unit_fold(opcase* c, const fl_ops* o) {
    fl_noise nz = dev_noise(c);
    o->lr_unit_fold(F(0), F(1), F(2), &nz, FI(3), W2_UNITS, W2_D);
}
static void mk_lr_unit_fold(opcase* c) {
    const int units = W2_UNITS, T = W2_T, din = W2_D;
    int Xf = NEW(B_OUT, "Xf", (long)units * T * din), Xi = NEW(B_IN, "X", (long)W2_ROWS * din);
    int coef = NEW(B_IN, "coef", W2_Q), uoff = NEWI(B_IN, "uoff", units + 1);
    c->qc = NEWI(B_IN, "qcode", W2_Q);
    randn(X(Xi), (long)W2_ROWS * din, 1.f, 0.f);
    randn(X(coef), W2_Q, 0.1f, 0.f);
    pair_offsets(XI(uoff), units);
    pair_codes(XI(c->qc), W2_Q);
    c->nz = noise_template(XI(c->qc), T);
    float* ref = R(c, Xf);
    double* tol = TOL(c, Xf);
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
    set_shape(c, "%d pairs T%d x%d", units, T, din);
    c->call = call_lr_unit_fold;
}

// noise_axpy: a MeZO perturbation of W1's layer-2 weight, x += 1e-3 z (first = its offset)
static void call_noise_axpy(opcase* c, const fl_ops* o) {
    o->noise_axpy(F(0), W1_NP, W1_POFF, c->f[0], 7, 0, 0, FL_STREAM_MEZO, 11);
}
static void mk_noise_axpy(opcase* c) {
    int x = NEW(B_INOUT, "x", W1_NP);
    randn(X(x), W1_NP, 0.05f, 0.f);
    c->f[0] = 1e-3f;
    float* ref = R(c, x);
    for (long i0 = 0; i0 < W1_NP; i0 += 4) fl_body_noise_axpy4(ref, W1_NP, i0, W1_POFF, c->f[0], 7, 0, 0, FL_STREAM_MEZO, 11);
    c->wl = "W1";
    c->rule = "exact";
    c->normals = (double)W1_NP;
    set_shape(c, "%ld at %llu", W1_NP, (unsigned long long)W1_POFF);
    c->call = call_noise_axpy;
}

// ---------------------------------------------------------------------------------------
// row-wise

// LayerNorm tolerances of one row (C columns) against the body's own float result: the mean
// carries (C+2) u mean|x|, rstd (C/2 + 8) u rstd (a sum of C positive squares, a square root
// and a few roundings), y = (x - mean) rstd w + b both; each doubled.
static void ln_row_tol(double* ty, double* tm, double* tr, const float* x, const float* w, const float* b,
                       const float* y, float mean, float rstd, int C) {
    double mabs = 0;
    for (int j = 0; j < C; j++) mabs += fabs(x[j]);
    mabs /= C;
    for (int j = 0; j < C; j++)
        ty[j] = 2.0 * (fabs(w[j]) * rstd * ((C + 2) * U * mabs + (C / 2.0 + 8) * U * fabs(x[j] - mean)) +
                       U * (fabs(y[j]) + fabs(b[j])));
    if (tm) *tm = 2.0 * (C + 2) * U * mabs;
    if (tr) *tr = (C + 16) * U * rstd;
}

// layernorm: W2's ln1 over a chunk, (3200, 192), eps 1e-12 (vit.c); buffers y, mean, rstd, x, w, b
static void call_layernorm(opcase* c, const fl_ops* o) {
    o->layernorm(F(0), F(1), F(2), F(3), F(4), F(5), W2_ROWS, W2_D, c->f[0]);
}
static void mk_layernorm(opcase* c) {
    const int rows = W2_ROWS, C = W2_D;
    int y = NEW(B_OUT, "y", (long)rows * C), m = NEW(B_OUT, "mean", rows), rs = NEW(B_OUT, "rstd", rows);
    int x = NEW(B_IN, "x", (long)rows * C), w = NEW(B_IN, "w", C), b = NEW(B_IN, "b", C);
    randn(X(x), (long)rows * C, 1.5f, 0.3f);
    randn(X(w), C, 0.1f, 1.f);
    randn(X(b), C, 0.1f, 0.f);
    c->f[0] = 1e-12f;
    float *yr = R(c, y), *mr = R(c, m), *rr = R(c, rs);
    double *ty = TOL(c, y), *tm = TOL(c, m), *tr = TOL(c, rs);
    for (int r = 0; r < rows; r++) {
        const float* xr = X(x) + (long)r * C;
        fl_body_layernorm_row(yr + (long)r * C, &mr[r], &rr[r], xr, X(w), X(b), C, c->f[0]);
        ln_row_tol(ty + (long)r * C, &tm[r], &tr[r], xr, X(w), X(b), yr + (long)r * C, mr[r], rr[r], C);
    }
    c->wl = "W2";
    c->rule = "layernorm bound";
    set_shape(c, "%dx%d", rows, C);
    c->call = call_layernorm;
}

// LayerNorm backward tolerance of one row: the two sums of C terms (of g = dy w and g xhat)
// carry (C+4) u of their magnitudes each, dx = rstd (g - sum_g / C - xhat sum_gx / C) a few
// roundings more; doubled.
static void ln_bwd_row_tol(double* t, const float* dy, const float* x, const float* w, float mean, float rstd,
                           const float* dx, int C) {
    double sg = 0, sgx = 0, ag = 0, agx = 0;
    for (int j = 0; j < C; j++) {
        double g = (double)dy[j] * w[j], xh = ((double)x[j] - mean) * rstd;
        sg += g; sgx += g * xh; ag += fabs(g); agx += fabs(g * xh);
    }
    for (int j = 0; j < C; j++) {
        double g = (double)dy[j] * w[j], xh = ((double)x[j] - mean) * rstd;
        t[j] = 2.0 * (rstd * ((C + 4) * U * (ag + fabs(xh) * agx) / C + 4 * U * (fabs(g) + fabs(sg) / C + fabs(xh * sgx) / C)) +
                      U * fabs(dx[j]));
    }
}

// layernorm_bwd: W2's ln1 backward over the batch's 32 x 50 rows (BP); dw, db += over the
// rows: 2 (rows+4) u sum|terms|. Buffers dx, dw, db, dy, x, mean, rstd, w.
static void call_layernorm_bwd(opcase* c, const fl_ops* o) {
    o->layernorm_bwd(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), c->i[0], W2_D);
}
static void mk_layernorm_bwd(opcase* c) {
    const int rows = W2_B * W2_T, C = W2_D;
    int dx = NEW(B_OUT, "dx", (long)rows * C), dw = NEW(B_INOUT, "dw", C), db = NEW(B_INOUT, "db", C);
    int dy = NEW(B_IN, "dy", (long)rows * C), x = NEW(B_IN, "x", (long)rows * C), m = NEW(B_IN, "mean", rows);
    int rs = NEW(B_IN, "rstd", rows), w = NEW(B_IN, "w", C);
    randn(X(dy), (long)rows * C, 1.f, 0.f);
    randn(X(x), (long)rows * C, 1.5f, 0.3f);
    randn(X(w), C, 0.1f, 1.f);
    randn(X(dw), C, 1.f, 0.f);
    randn(X(db), C, 1.f, 0.f);
    float* yscratch = fl_malloc((size_t)C * 4);
    for (int r = 0; r < rows; r++)  // the statistics the forward saved
        fl_body_layernorm_row(yscratch, &X(m)[r], &X(rs)[r], X(x) + (long)r * C, X(w), X(w), C, 1e-12f);
    free(yscratch);
    float* dxr = R(c, dx);
    double* tdx = TOL(c, dx);
    for (int r = 0; r < rows; r++) {
        long o = (long)r * C;
        fl_body_layernorm_bwd_row(dxr + o, X(dy) + o, X(x) + o, X(m)[r], X(rs)[r], X(w), C);
        ln_bwd_row_tol(tdx + o, X(dy) + o, X(x) + o, X(w), X(m)[r], X(rs)[r], dxr + o, C);
    }
    float *dwr = R(c, dw), *dbr = R(c, db);
    double *tw = TOL(c, dw), *tb = TOL(c, db);
    for (int j = 0; j < C; j++) {
        double sw = 0, sb = 0, aw = 0, ab = 0;
        for (int r = 0; r < rows; r++) {
            double g = X(dy)[(long)r * C + j], xh = ((double)X(x)[(long)r * C + j] - X(m)[r]) * X(rs)[r];
            sw += g * xh; aw += fabs(g * xh); sb += g; ab += fabs(g);
        }
        dwr[j] = (float)(X(dw)[j] + sw);
        dbr[j] = (float)(X(db)[j] + sb);
        tw[j] = 2.0 * (rows + 4) * U * (aw + fabs(X(dw)[j]));
        tb[j] = 2.0 * (rows + 2) * U * (ab + fabs(X(db)[j]));
    }
    c->i[0] = rows;
    c->wl = "W2";
    c->rule = "layernorm bound";
    set_shape(c, "%dx%d", rows, C);
    c->call = call_layernorm_bwd;
}

// softmax: W2's attention probabilities of a chunk, (64 x 3 x 50 rows, 50), in place (vit.c).
// The sum of C exps carries (C+1) u on each side, the exps a few ulp (the same polynomial; a
// contracted multiply-add moves its argument by u |x| + u |max|): ((2C+16) u + 4u (|x| + |max|)) |y|
static void call_softmax(opcase* c, const fl_ops* o) { o->softmax(F(0), F(0), c->i[0], W2_T, c->f[0]); }
static void mk_softmax(opcase* c) {
    const int rows = W2_Q * W2_H * W2_T, C = W2_T;
    int y = NEW(B_INOUT, "y", (long)rows * C);
    randn(X(y), (long)rows * C, 2.f, 0.f);
    c->f[0] = 1.0f;
    float* ref = R(c, y);
    double* tol = TOL(c, y);
    for (int r = 0; r < rows; r++) {
        const float* x = X(y) + (long)r * C;
        double mx = -INFINITY;
        for (int j = 0; j < C; j++) mx = x[j] > mx ? x[j] : mx;
        fl_body_softmax_row(ref + (long)r * C, x, C, c->f[0]);
        for (int j = 0; j < C; j++)
            tol[(long)r * C + j] = ((2.0 * C + 16) * U + 4 * U * (fabs(x[j]) + fabs(mx))) * fabs(ref[(long)r * C + j]) + 1e-37;
    }
    c->i[0] = rows;
    c->wl = "W2";
    c->rule = "(2C+16)u|y|";
    set_shape(c, "%dx%d in place", rows, C);
    c->call = call_softmax;
}

// softmax_bwd: its backward, dx = scale y (dy - <dy, y>), in place on dy (vit.c, BP): the sum
// carries (C+2) u sum|dy y|; doubled
static void call_softmax_bwd(opcase* c, const fl_ops* o) { o->softmax_bwd(F(0), F(0), F(1), c->i[0], W2_T, c->f[0]); }
static void mk_softmax_bwd(opcase* c) {
    const int rows = W2_B * W2_H * W2_T, C = W2_T;
    int dx = NEW(B_INOUT, "dx", (long)rows * C), y = NEW(B_IN, "y", (long)rows * C);
    randn(X(dx), (long)rows * C, 1.f, 0.f);
    randn(X(y), (long)rows * C, 2.f, 0.f);
    for (int r = 0; r < rows; r++) fl_body_softmax_row(X(y) + (long)r * C, X(y) + (long)r * C, C, 1.0f);
    c->f[0] = 1.0f;
    float* ref = R(c, dx);
    double* tol = TOL(c, dx);
    for (int r = 0; r < rows; r++) {
        const float *dy = X(dx) + (long)r * C, *yr = X(y) + (long)r * C;
        double d = 0, a = 0;
        for (int j = 0; j < C; j++) { d += (double)dy[j] * yr[j]; a += fabs((double)dy[j] * yr[j]); }
        fl_body_softmax_bwd_row(ref + (long)r * C, dy, yr, C, c->f[0]);
        for (int j = 0; j < C; j++)
            tol[(long)r * C + j] = 2.0 * (fabs(c->f[0] * yr[j]) * ((C + 2) * U * a + 2 * U * (fabs(dy[j]) + fabs(d))) +
                                          U * fabs(ref[(long)r * C + j])) + 1e-37;
    }
    c->i[0] = rows;
    c->wl = "W2";
    c->rule = "2(C+2)u|y|sum|dy y|";
    set_shape(c, "%dx%d in place", rows, C);
    c->call = call_softmax_bwd;
}

// xent: cross-entropy of W1's logits (10 classes). The loss, mx + log(sum of C exps) - the
// label's logit: the sum carries (C+1) u, expf and logf (glibc against CUDA) a few ulp:
// 2 ((C+8) u + 2u (|lse - mx| + |lse| + |loss|)); argmax exact; dlogits = dscale (p - onehot),
// p = an expf over the sum: 2 |dscale| ((C+16) u p + 2u |p - onehot|).
// Forward on the 2048 query rows (loss, argmax; mlp.c): buffers loss, argmax, logits, labels.
static void call_xent_fwd(opcase* c, const fl_ops* o) { o->xent(F(0), FI(1), NULL, F(2), FI(3), NULL, W1_Q, W1_C); }
// BP on the batch's 64 rows (dlogits with the per-datum loss scale): dlogits, logits, labels, dscale.
static void call_xent_bwd(opcase* c, const fl_ops* o) { o->xent(NULL, NULL, F(0), F(1), FI(2), F(3), W1_B, W1_C); }
static void mk_xent(opcase* c, int bwd) {
    const int rows = bwd ? W1_B : W1_Q, C = W1_C;
    int loss = -1, am = -1, dl = -1, ds = -1;
    if (bwd) dl = NEW(B_OUT, "dlogits", (long)rows * C);
    else { loss = NEW(B_OUT, "loss", rows); am = NEWI(B_OUT, "argmax", rows); }
    int lg = NEW(B_IN, "logits", (long)rows * C), lab = NEWI(B_IN, "labels", rows);
    if (bwd) ds = NEW(B_IN, "dscale", rows);
    randn(X(lg), (long)rows * C, 3.f, 0.f);
    for (int r = 0; r < rows; r++) XI(lab)[r] = (r * 7) % C;
    if (bwd) { randn(X(ds), rows, 1.f / rows, 0.f); }
    float* dlr = bwd ? R(c, dl) : NULL;
    double* tdl = bwd ? TOL(c, dl) : NULL;
    float* lr = bwd ? NULL : R(c, loss);
    double* tl = bwd ? NULL : TOL(c, loss);
    int32_t* amr = bwd ? NULL : RI(c, am);
    for (int r = 0; r < rows; r++) {
        const float* l = X(lg) + (long)r * C;
        int a;
        float dscale = bwd ? X(ds)[r] : 1.0f;
        float v = fl_body_xent_row(dlr ? dlr + (long)r * C : NULL, &a, l, XI(lab)[r], C, dscale);
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < C; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < C; j++) s += exp(l[j] - mx);
        double lse = mx + log(s);
        if (!bwd) {
            lr[r] = v;
            amr[r] = a;
            tl[r] = 2.0 * ((C + 8) * U + 2 * U * (fabs(lse - mx) + fabs(lse) + fabs(v)));
        } else {
            for (int j = 0; j < C; j++) {
                double p = exp(l[j] - lse), oh = j == XI(lab)[r] ? 1.0 : 0.0;
                tdl[(long)r * C + j] = 2.0 * fabs(dscale) * ((C + 16) * U * p + 2 * U * fabs(p - oh)) + 1e-37;
            }
        }
    }
    c->wl = "W1";
    c->rule = bwd ? "2|ds|(C+16)u p" : "2(C+8)u+4u|loss|";
    set_shape(c, "%dx%d %s", rows, C, bwd ? "BP dlogits" : "loss argmax");
    c->call = bwd ? call_xent_bwd : call_xent_fwd;
}
static void mk_xent_fwd(opcase* c) { mk_xent(c, 0); }
static void mk_xent_bwd(opcase* c) { mk_xent(c, 1); }

// col_sum: W1 layer 2's bias gradient, the column sums of its LR factor (2048, 512), beta 1
// (lr.c); reference in double: 2 (rows+2) u (sum|x| + |dst|)
static void call_col_sum(opcase* c, const fl_ops* o) { o->col_sum(F(0), F(1), W1_Q, W1_H, 1.0f); }
static void mk_col_sum(opcase* c) {
    int dst = NEW(B_INOUT, "dst", W1_H), src = NEW(B_IN, "src", (long)W1_Q * W1_H);
    randn(X(dst), W1_H, 1.f, 0.f);
    randn(X(src), (long)W1_Q * W1_H, 1.f, 0.f);
    float* ref = R(c, dst);
    double* tol = TOL(c, dst);
    for (int j = 0; j < W1_H; j++) {
        double s = X(dst)[j], a = fabs(X(dst)[j]);
        for (int r = 0; r < W1_Q; r++) { s += X(src)[(long)r * W1_H + j]; a += fabs(X(src)[(long)r * W1_H + j]); }
        ref[j] = (float)s;
        tol[j] = 2.0 * (W1_Q + 2) * U * a;
    }
    c->wl = "W1";
    c->rule = "2(n+2)u sum|x|";
    set_shape(c, "%dx%d beta 1", W1_Q, W1_H);
    c->call = call_col_sum;
}

// row_sumsq: the squared norms of W2 fc1's input rows over a chunk (3200, 192; the FLOPS
// allocator's input, lr.c): 2 (C+2) u out
static void call_row_sumsq(opcase* c, const fl_ops* o) { o->row_sumsq(F(0), F(1), W2_ROWS, W2_D); }
static void mk_row_sumsq(opcase* c) {
    int out = NEW(B_OUT, "out", W2_ROWS), x = NEW(B_IN, "x", (long)W2_ROWS * W2_D);
    randn(X(x), (long)W2_ROWS * W2_D, 1.f, 0.f);
    float* ref = R(c, out);
    double* tol = TOL(c, out);
    for (int r = 0; r < W2_ROWS; r++) {
        double s = 0;
        for (int j = 0; j < W2_D; j++) s += (double)X(x)[(long)r * W2_D + j] * X(x)[(long)r * W2_D + j];
        ref[r] = (float)s;
        tol[r] = 2.0 * (W2_D + 2) * U * s;
    }
    c->wl = "W2";
    c->rule = "2(C+2)u out";
    set_shape(c, "%dx%d", W2_ROWS, W2_D);
    c->call = call_row_sumsq;
}

// ---------------------------------------------------------------------------------------
// reductions and optimisers, on W1's layer-2 weight (262144 parameters)

// dot: its gradient's squared norm (optim.c, x = y); products exact in double, the sums
// carry n 2^-53 on each side: 2 (n+2) 2^-53 sum|x y|
static void call_dot(opcase* c, const fl_ops* o) { c->ret = o->dot(F(0), F(0), W1_NP); }
static void mk_dot(opcase* c) {
    NEW(B_IN, "g", W1_NP);
    randn(X(0), W1_NP, 1e-3f, 0.f);
    double s = 0;
    for (long i = 0; i < W1_NP; i++) s += (double)X(0)[i] * X(0)[i];
    c->has_ret = 1;
    c->ret_ref = s;
    c->ret_tol = 2.0 * (W1_NP + 2) * UD * s;
    c->wl = "W1";
    c->rule = "2(n+2)2^-53 sum|xy|";
    set_shape(c, "%ld x.x", W1_NP);
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
static void mk_adam(opcase* c) {
    const long n = W1_NP;
    int p = NEW(B_INOUT, "p", n), g = NEW(B_IN, "g", n), m = NEW(B_INOUT, "m", n), v = NEW(B_INOUT, "v", n);
    randn(X(p), n, 0.05f, 0.f);
    randn(X(g), n, 1e-3f, 0.f);
    randn(X(m), n, 1e-3f, 0.f);
    randn(X(v), n, 1e-3f, 0.f);
    for (long i = 0; i < n; i++) X(v)[i] *= X(v)[i];
    set_adam_hp(c);
    const float* f = c->f;
    float *pr = R(c, p), *mr = R(c, m), *vr = R(c, v);
    double *tp = TOL(c, p), *tm = TOL(c, m), *tv = TOL(c, v);
    for (long i = 0; i < n; i++) {
        fl_body_adam(&pr[i], X(g)[i], &mr[i], &vr[i], f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        double upd = f[0] * (fabs(mr[i] / f[4]) / (sqrt(vr[i] / f[5]) + f[3]) + f[6] * fabs(X(p)[i]));
        tm[i] = 8 * U * (fabs(X(m)[i]) + fabs(X(g)[i]));
        tv[i] = 8 * U * (fabs(X(v)[i]) + (double)X(g)[i] * X(g)[i]);
        tp[i] = 8 * U * fabs(X(p)[i]) + 16 * U * upd;
    }
    c->wl = "W1";
    c->rule = "8u|p|+16u|upd|";
    set_shape(c, "%ld", n);
    c->call = call_adam;
}
static void call_sgd(opcase* c, const fl_ops* o) { o->sgd(F(0), F(1), F(2), W1_NP, c->f[0], c->f[1], c->f[2]); }
static void mk_sgd(opcase* c) {
    const long n = W1_NP;
    int p = NEW(B_INOUT, "p", n), g = NEW(B_IN, "g", n), mom = NEW(B_INOUT, "mom", n);
    randn(X(p), n, 0.05f, 0.f);
    randn(X(g), n, 1e-3f, 0.f);
    randn(X(mom), n, 1e-3f, 0.f);
    c->f[0] = 1e-2f; c->f[1] = 0.9f; c->f[2] = 0.01f;
    float *pr = R(c, p), *mr = R(c, mom);
    double *tp = TOL(c, p), *tm = TOL(c, mom);
    for (long i = 0; i < n; i++) {
        fl_body_sgd(&pr[i], X(g)[i], &mr[i], c->f[0], c->f[1], c->f[2]);
        double a = fabs(X(mom)[i]) + fabs(X(g)[i]) + c->f[2] * fabs(X(p)[i]);
        tm[i] = 8 * U * a;
        tp[i] = 8 * U * (fabs(X(p)[i]) + c->f[0] * a);
    }
    c->wl = "W1";
    c->rule = "8u(|p|+lr|..|)";
    set_shape(c, "%ld", n);
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
    if (kind < 2) { randn(X(p), n, 0.05f, 0.f); randn(X(m), n, 1e-3f, 0.f); }
    if (kind == 0) { randn(X(v), n, 1e-3f, 0.f); for (long i = 0; i < n; i++) X(v)[i] *= X(v)[i]; }
    if (kind == 0) set_adam_hp(c);
    else { c->f[0] = 1e-2f; c->f[1] = 0.9f; c->f[2] = 0.0f; }
    c->f[7] = 1.0f;  // gscale
    double sq = 0;
    float *pr = kind < 2 ? R(c, p) : NULL, *mr = kind < 2 ? R(c, m) : NULL, *vr = kind == 0 ? R(c, v) : NULL;
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
    set_shape(c, "%ld at %llu K1", n, (unsigned long long)W1_POFF);
    c->call = kind == 0 ? call_dirs_adam : kind == 1 ? call_dirs_sgd : call_dirs_sumsq;
}
static void mk_dirs_adam(opcase* c) { mk_dirs(c, 0); }
static void mk_dirs_sgd(opcase* c) { mk_dirs(c, 1); }
static void mk_dirs_sumsq(opcase* c) { mk_dirs(c, 2); }

// ---------------------------------------------------------------------------------------
// ViT ops

// vit_patchify: W2's batch of 32 images (1x28x28) into (32, 50, 16) patches; copies: exact
static void call_vit_patchify(opcase* c, const fl_ops* o) { o->vit_patchify(F(1), F(0), W2_B, 1, W2_IMG, W2_IMG, W2_P); }
static void mk_vit_patchify(opcase* c) {
    const long img = (long)W2_IMG * W2_IMG, K = W2_P * W2_P;
    int x = NEW(B_IN, "img", W2_B * img), pt = NEW(B_OUT, "patches", (long)W2_B * W2_T * K);
    randn(X(x), W2_B * img, 1.f, 0.f);
    float* ref = R(c, pt);
    for (int i = 0; i < W2_B; i++)
        for (int t = 0; t < W2_T; t++) fl_body_vit_patch_row(ref + ((long)i * W2_T + t) * K, X(x) + i * img, 1, W2_IMG, W2_IMG, W2_P, t);
    c->wl = "W2";
    c->rule = "exact";
    set_shape(c, "%dx1x%dx%d P%d", W2_B, W2_IMG, W2_IMG, W2_P);
    c->call = call_vit_patchify;
}

// vit_tokens: CLS token and position embeddings onto the batch's patch embeddings, in place
// (32, 50, 192), as vit.c calls it; one addition per element: exact. Buffers y, cls, pos.
static void call_vit_tokens(opcase* c, const fl_ops* o) { o->vit_tokens(F(0), F(0), F(1), F(2), W2_B, W2_T, W2_D); }
static void mk_vit_tokens(opcase* c) {
    const long n = (long)W2_B * W2_T * W2_D;
    int y = NEW(B_INOUT, "y", n), cls = NEW(B_IN, "cls", W2_D), pos = NEW(B_IN, "pos", (long)W2_T * W2_D);
    randn(X(y), n, 1.f, 0.f);
    randn(X(cls), W2_D, 0.02f, 0.f);
    randn(X(pos), (long)W2_T * W2_D, 0.02f, 0.f);
    float* ref = R(c, y);
    for (long r = 0; r < (long)W2_B * W2_T; r++) fl_body_vit_token_row(ref + r * W2_D, ref + r * W2_D, X(cls), X(pos), (int)(r % W2_T), W2_D);
    c->wl = "W2";
    c->rule = "exact";
    set_shape(c, "%dx%dx%d in place", W2_B, W2_T, W2_D);
    c->call = call_vit_tokens;
}

// vit_cls_layernorm: the final LayerNorm of the CLS tokens of a chunk's 64 sequences into the
// head's input (64, 1, 192); layernorm's bound. Buffers y, mean, rstd, x, w, b.
static void call_vit_cls_layernorm(opcase* c, const fl_ops* o) {
    o->vit_cls_layernorm(F(0), F(1), F(2), F(3), F(4), F(5), W2_Q, W2_T, 1, W2_D, c->f[0]);
}
static void mk_vit_cls_layernorm(opcase* c) {
    const int S = W2_Q, T = W2_T, D = W2_D;
    int y = NEW(B_OUT, "y", (long)S * D), m = NEW(B_OUT, "mean", S), rs = NEW(B_OUT, "rstd", S);
    int x = NEW(B_IN, "x", (long)S * T * D), w = NEW(B_IN, "w", D), b = NEW(B_IN, "b", D);
    randn(X(x), (long)S * T * D, 1.5f, 0.3f);
    randn(X(w), D, 0.1f, 1.f);
    randn(X(b), D, 0.1f, 0.f);
    c->f[0] = 1e-12f;
    float *yr = R(c, y), *mr = R(c, m), *rr = R(c, rs);
    double *ty = TOL(c, y), *tm = TOL(c, m), *tr = TOL(c, rs);
    for (int s = 0; s < S; s++) {
        const float* xs = X(x) + (long)s * T * D;
        fl_body_layernorm_row(yr + (long)s * D, &mr[s], &rr[s], xs, X(w), X(b), D, c->f[0]);
        ln_row_tol(ty + (long)s * D, &tm[s], &tr[s], xs, X(w), X(b), yr + (long)s * D, mr[s], rr[s], D);
    }
    c->wl = "W2";
    c->rule = "layernorm bound";
    c->bytes = 4.0 * (2.0 * S * D + 2.0 * S + 2.0 * D);  // reads the CLS rows only
    set_shape(c, "%dx%dx%d -> %dx1x%d", S, T, D, S, D);
    c->call = call_vit_cls_layernorm;
}

// vit_cls_layernorm_bwd: its backward over the batch's 32 sequences (BP): dx (32, 50, 192),
// CLS rows layernorm_bwd's bound, the other rows exactly 0; dw, db +=. Buffers dx, dw, db, dy,
// x, mean, rstd, w.
static void call_vit_cls_layernorm_bwd(opcase* c, const fl_ops* o) {
    o->vit_cls_layernorm_bwd(F(0), F(1), F(2), F(3), W2_D, F(4), F(5), F(6), F(7), W2_B, W2_T, W2_D);
}
static void mk_vit_cls_layernorm_bwd(opcase* c) {
    const int n = W2_B, T = W2_T, D = W2_D;
    int dx = NEW(B_OUT, "dx", (long)n * T * D), dw = NEW(B_INOUT, "dw", D), db = NEW(B_INOUT, "db", D);
    int dy = NEW(B_IN, "dy", (long)n * D), x = NEW(B_IN, "x", (long)n * T * D), m = NEW(B_IN, "mean", n);
    int rs = NEW(B_IN, "rstd", n), w = NEW(B_IN, "w", D);
    randn(X(dy), (long)n * D, 1.f, 0.f);
    randn(X(x), (long)n * T * D, 1.5f, 0.3f);
    randn(X(w), D, 0.1f, 1.f);
    randn(X(dw), D, 1.f, 0.f);
    randn(X(db), D, 1.f, 0.f);
    float* yscratch = fl_malloc((size_t)D * 4);
    for (int s = 0; s < n; s++) fl_body_layernorm_row(yscratch, &X(m)[s], &X(rs)[s], X(x) + (long)s * T * D, X(w), X(w), D, 1e-12f);
    free(yscratch);
    float* dxr = R(c, dx);
    double* tdx = TOL(c, dx);
    for (int s = 0; s < n; s++) {
        long o = (long)s * T * D;
        fl_body_layernorm_bwd_row(dxr + o, X(dy) + (long)s * D, X(x) + o, X(m)[s], X(rs)[s], X(w), D);
        ln_bwd_row_tol(tdx + o, X(dy) + (long)s * D, X(x) + o, X(w), X(m)[s], X(rs)[s], dxr + o, D);
    }
    float *dwr = R(c, dw), *dbr = R(c, db);
    double *tw = TOL(c, dw), *tb = TOL(c, db);
    for (int j = 0; j < D; j++) {
        double sw = 0, sb = 0, aw = 0, ab = 0;
        for (int s = 0; s < n; s++) {
            double g = X(dy)[(long)s * D + j], xh = ((double)X(x)[(long)s * T * D + j] - X(m)[s]) * X(rs)[s];
            sw += g * xh; aw += fabs(g * xh); sb += g; ab += fabs(g);
        }
        dwr[j] = (float)(X(dw)[j] + sw);
        dbr[j] = (float)(X(db)[j] + sb);
        tw[j] = 2.0 * (n + 4) * U * (aw + fabs(X(dw)[j]));
        tb[j] = 2.0 * (n + 2) * U * (ab + fabs(X(db)[j]));
    }
    c->wl = "W2";
    c->rule = "layernorm bound";
    c->bytes = 4.0 * ((double)n * T * D + 2.0 * n * D + 2.0 * n + 5.0 * D);  // x: the CLS rows only
    set_shape(c, "%dx%dx%d", n, T, D);
    c->call = call_vit_cls_layernorm_bwd;
}

// ---------------------------------------------------------------------------------------
// The table of cases, in ops.h's order.

typedef struct {
    const char* op;
    size_t off;
    void (*make)(opcase*);
} case_def;
#define CASE(member, fn) {#member, offsetof(fl_ops, member), fn}

static const case_def cases[] = {
    CASE(copy, mk_copy), CASE(zero, mk_zero),
    CASE(gemm, mk_gemm_w1), CASE(gemm, mk_gemm_w2),
    CASE(gemm_strided, mk_gemm_strided_scores), CASE(gemm_strided, mk_gemm_strided_ctx),
    CASE(gather_rows, mk_gather_rows), CASE(segment_sum, mk_segment_sum),
    CASE(exp, mk_exp), CASE(scale, mk_scale), CASE(axpy, mk_axpy), CASE(relu, mk_relu),
    CASE(relu_bwd, mk_relu_bwd), CASE(gelu, mk_gelu), CASE(gelu_bwd, mk_gelu_bwd),
    CASE(bias_noise, mk_bias_noise), CASE(bias_noise_set, mk_bias_noise_set), CASE(lr_grad, mk_lr_grad),
    CASE(lr_unit_noise, mk_lr_unit_noise), CASE(bias_noise_keep, mk_bias_noise_keep),
    CASE(lr_unit_kept, mk_lr_unit_kept), CASE(lr_unit_fold, mk_lr_unit_fold), CASE(noise_axpy, mk_noise_axpy),
    CASE(layernorm, mk_layernorm), CASE(layernorm_bwd, mk_layernorm_bwd), CASE(softmax, mk_softmax),
    CASE(softmax_bwd, mk_softmax_bwd), CASE(xent, mk_xent_fwd), CASE(xent, mk_xent_bwd),
    CASE(col_sum, mk_col_sum), CASE(row_sumsq, mk_row_sumsq),
    CASE(dot, mk_dot), CASE(adam, mk_adam), CASE(sgd, mk_sgd),
    CASE(dirs_adam, mk_dirs_adam), CASE(dirs_sgd, mk_dirs_sgd), CASE(dirs_sumsq, mk_dirs_sumsq),
    CASE(vit_patchify, mk_vit_patchify), CASE(vit_tokens, mk_vit_tokens),
    CASE(vit_cls_layernorm, mk_vit_cls_layernorm), CASE(vit_cls_layernorm_bwd, mk_vit_cls_layernorm_bwd),
    CASE(attention, mk_attention), CASE(gather_add_rows, mk_gather_add_rows),
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static void free_case(opcase* c) {
    for (int k = 0; k < c->nb; k++) {
        free(c->b[k].init);
        free(c->b[k].ref);
        free(c->b[k].tol);
    }
}

// ---------------------------------------------------------------------------------------
// Running a case on one backend.

typedef struct {
    int reps, warmup, threads;
    const char* perturb;  // FLBENCH_OPS_PERTURB
    FILE* csv;
    char ts[32];
    int ok, fail, absent;
} run_state;

static double time_calls(opcase* c, const fl_ops* o, int calls) {
    o->sync();
    double t0 = fl_now();
    for (int k = 0; k < calls; k++) c->call(c, o);
    o->sync();
    return (fl_now() - t0) / calls;
}

static void restore_inout(opcase* c, const fl_ops* o) {
    for (int k = 0; k < c->nb; k++)
        if (c->b[k].role == B_INOUT) o->upload(c->b[k].dev, c->b[k].init, (size_t)c->b[k].n * 4);
}

// Worst |got - ref| / tol of buffer k (0 for matching bit-exact elements); the number of
// elements out of tolerance in *bad, the first described in msg.
static double compare_buf(const obuf* b, const void* got, long* bad, char* msg, size_t msz) {
    double worst = 0;
    *bad = 0;
    for (long i = 0; i < b->n; i++) {
        double t = b->tol ? b->tol[i] : 0.0;
        if (t < 0) continue;
        int out;
        double d = 0;
        if (b->isint) {
            out = ((const int32_t*)got)[i] != ((const int32_t*)b->ref)[i];
        } else if (!b->tol) {
            out = memcmp((const float*)got + i, (const float*)b->ref + i, 4) != 0;
        } else {
            d = fabs((double)((const float*)got)[i] - ((const float*)b->ref)[i]);
            out = !(d <= t);
            if (!out && t > 0 && d / t > worst) worst = d / t;
        }
        if (out) {
            if (*bad == 0) {
                if (b->isint)
                    snprintf(msg, msz, "%s[%ld]: got %d, reference %d", b->name, i, ((const int32_t*)got)[i],
                             ((const int32_t*)b->ref)[i]);
                else if (!b->tol)
                    snprintf(msg, msz, "%s[%ld]: got %.9g, reference %.9g (bit-exact expected)", b->name, i,
                             ((const float*)got)[i], ((const float*)b->ref)[i]);
                else
                    snprintf(msg, msz, "%s[%ld]: got %.9g, reference %.9g, |diff| %.3g > tol %.3g", b->name, i,
                             ((const float*)got)[i], ((const float*)b->ref)[i], d, t);
            }
            (*bad)++;
        }
    }
    return worst;
}

static void csv_row(run_state* st, const opcase* c, const fl_ops* o, int calls, double med, double mn, double mx,
                    double rate, const char* unit, const char* check, double worst) {
    if (!st->csv) return;
    char n[16] = "", t[64] = "", r[32] = "", w[32] = "";  // empty when not timed
    if (med > 0) {
        snprintf(n, sizeof n, "%d", calls);
        snprintf(t, sizeof t, "%.3f,%.3f,%.3f", 1e6 * med, 1e6 * mn, 1e6 * mx);
        snprintf(r, sizeof r, "%.4g", rate);
    } else {
        snprintf(t, sizeof t, ",,");
    }
    if (worst >= 0) snprintf(w, sizeof w, "%.4g", worst);
    fprintf(st->csv, "%s,%s,%s,\"%s\",%d,%s,%s,\"%s\",%s,%d,%d,%s,%s,%s,%s,%s,\"%s\"\n", fl_git_rev(), st->ts, o->name,
            o->device_name, omp_get_max_threads(), c->wl, c->op, c->shape, n, st->reps, st->warmup, t, r, unit, check, w,
            c->rule);
}

static void print_row(const opcase* c, const fl_ops* o, const char* calls, const char* med, const char* rate,
                      const char* check, const char* err, const char* tail) {
    printf("%-22s %-3s %-34s %-5s %5s %10s %-17s %-6s %7s  %s\n", c->op, c->wl, c->shape, o->name, calls, med, rate, check,
           err, tail);
}

// Checks, then times, one case on one backend; returns 1 when the check failed.
static int run_case(opcase* c, const fl_ops* o, run_state* st) {
    void (*const* fn)(void) = (void (*const*)(void))((const char*)o + c->off);
    if (!*fn) {
        print_row(c, o, "-", "-", "       -", "absent", "-", "(NULL in this backend's table)");
        csv_row(st, c, o, 0, 0, 0, 0, 0, "", "absent", -1);
        st->absent++;
        return 0;
    }
    // buffers in backend memory; outputs poisoned (NaN, or -1 for integers) so that an element
    // the op forgets to write fails
    for (int k = 0; k < c->nb; k++) {
        obuf* b = &c->b[k];
        size_t bytes = (size_t)(b->n > 0 ? b->n : 1) * 4;
        b->dev = o->alloc(bytes);
        if (b->role == B_OUT) {
            void* poison = fl_malloc(bytes);
            memset(poison, 0xff, bytes);  // 0xffffffff: a NaN as a float, -1 as an integer
            o->upload(b->dev, poison, bytes);
            free(poison);
        } else {
            o->upload(b->dev, b->init, (size_t)b->n * 4);
        }
    }
    c->rc = 0;
    c->call(c, o);
    o->sync();
    int failed = 0, nofused = c->rc != 0;
    double worst = 0;
    char msg[512] = "";
    if (!nofused && st->perturb && !strcmp(st->perturb, c->op)) {  // the test hook: one ulp up
        int k = 0;
        while (k < c->nb && !c->b[k].ref) k++;
        if (k < c->nb) {
            float v;
            o->download(&v, c->b[k].dev, 4);
            if (c->b[k].isint) {
                int32_t iv;
                memcpy(&iv, &v, 4);
                iv++;
                memcpy(&v, &iv, 4);
            } else {
                v = nextafterf(v, INFINITY);
            }
            o->upload(c->b[k].dev, &v, 4);
        } else if (c->has_ret) {
            c->ret = nextafter(c->ret, INFINITY);
        }
    }
    for (int k = 0; k < c->nb && !nofused; k++) {
        obuf* b = &c->b[k];
        if (!b->ref) continue;
        void* got = fl_malloc((size_t)(b->n > 0 ? b->n : 1) * 4);
        o->download(got, b->dev, (size_t)b->n * 4);
        long bad;
        char m[256] = "";
        double w = compare_buf(b, got, &bad, m, sizeof m);
        worst = w > worst ? w : worst;
        if (bad && !failed) snprintf(msg, sizeof msg, "%s (%ld of %ld out of tolerance)", m, bad, b->n);
        failed |= bad != 0;
        free(got);
    }
    if (c->has_ret && !nofused) {
        double d = fabs(c->ret - c->ret_ref);
        if (!(d <= c->ret_tol)) {
            if (!failed) snprintf(msg, sizeof msg, "returned %.17g, reference %.17g, |diff| %.3g > tol %.3g", c->ret, c->ret_ref, d, c->ret_tol);
            failed = 1;
        } else if (c->ret_tol > 0 && d / c->ret_tol > worst) {
            worst = d / c->ret_tol;
        }
    }
    int exact = !strcmp(c->rule, "exact");
    char wbuf[16];
    snprintf(wbuf, sizeof wbuf, exact ? "-" : "%.2g", worst);
    if (nofused) {
        print_row(c, o, "-", "-", "       -", "n/a", "-", "(no fused path for this shape)");
        csv_row(st, c, o, 0, 0, 0, 0, 0, "", "n/a", -1);
        st->absent++;
    } else if (failed) {
        print_row(c, o, "-", "-", "       -", "FAIL", "-", c->rule);
        printf("    %s %s: %s\n", o->name, c->op, msg);
        csv_row(st, c, o, 0, 0, 0, 0, 0, "", "FAIL", -1);
        st->fail++;
    } else {
        // calls per repetition: about 2 ms of them, from the fastest of three warm calls
        double t1 = INFINITY;
        for (int k = 0; k < 3; k++) {
            restore_inout(c, o);
            double tk = time_calls(c, o, 1);
            t1 = tk < t1 ? tk : t1;
        }
        int calls = t1 > 0 ? (int)ceil(2e-3 / t1) : 1000;
        calls = calls < 1 ? 1 : calls > 1000 ? 1000 : calls;
        double* t = fl_malloc((size_t)st->reps * sizeof(double));
        for (int r = 0; r < st->warmup + st->reps; r++) {
            restore_inout(c, o);
            double tr = time_calls(c, o, calls);
            if (r >= st->warmup) t[r - st->warmup] = tr;
        }
        double med = fl_median(t, st->reps), mn = t[0], mx = t[st->reps - 1];
        free(t);
        double bytes = c->bytes;
        for (int k = 0; k < c->nb && c->bytes == 0; k++) bytes += (c->b[k].role == B_INOUT ? 2.0 : 1.0) * 4.0 * c->b[k].n;
        double work = c->flops > 0 ? c->flops : c->normals > 0 ? c->normals : bytes;
        const char* unit = c->flops > 0 ? "GFLOP/s" : c->normals > 0 ? "Gnorm/s" : "GB/s";
        double rate = work / med * 1e-9;
        char cs[16], ms[32], rs[32];
        snprintf(cs, sizeof cs, "%d", calls);
        snprintf(ms, sizeof ms, "%.1f", 1e6 * med);
        snprintf(rs, sizeof rs, "%8.2f %s", rate, unit);
        print_row(c, o, cs, ms, rs, "ok", wbuf, c->rule);
        csv_row(st, c, o, calls, med, mn, mx, rate, unit, "ok", exact ? 0 : worst);
        st->ok++;
    }
    fflush(stdout);
    if (st->csv) fflush(st->csv);
    for (int k = 0; k < c->nb; k++) o->free(c->b[k].dev);
    return failed;
}

// ---------------------------------------------------------------------------------------

#define OPS_CSV_HEADER "git_rev,timestamp,backend,device,threads,workload,op,shape,calls,reps,warmup,median_us,min_us,max_us,rate,rate_unit,check,err_over_tol,tolerance\n"

// Opens --out for appending; a new or empty file gets the header, an existing one must have it.
static FILE* open_ops_csv(const char* out) {
    fl_err err = {{0}};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", out);
    char* slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (fl_mkdirs(dir, &err)) { fprintf(stderr, "flbench bench --ops: --out %s: %s\n", out, err.msg); return NULL; }
    }
    FILE* f = fopen(out, "r");
    int empty = 1;
    if (f) {
        char line[512] = "";
        empty = fgets(line, sizeof line, f) == NULL;
        fclose(f);
        if (!empty && strcmp(line, OPS_CSV_HEADER)) {
            fprintf(stderr, "flbench bench --ops: --out %s: its header is not the per-op columns; move it away or pick another file\n", out);
            return NULL;
        }
    }
    f = fopen(out, "a");
    if (!f) { fprintf(stderr, "flbench bench --ops: --out %s: cannot open for appending (%s)\n", out, strerror(errno)); return NULL; }
    if (empty) fputs(OPS_CSV_HEADER, f);
    return f;
}

static int in_names(const char* list, const char* name) {
    if (!strcmp(list, "all")) return 1;
    size_t n = strlen(name);
    for (const char* p = list; *p;) {
        const char* e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p += len + (e != NULL);
    }
    return 0;
}

int fl_bench_ops(int argc, char** argv) {
    int ops_flag = 0, reps = 7, warmup = 1, threads = 0;
    char backend[8] = "all", only[512] = "all", out[512] = "";
    fl_opt opts[] = {
        {"ops", FL_OPT_FLAG, &ops_flag, 0, NULL, "time and check every op of the ops table (this benchmark)"},
        {"reps", FL_OPT_INT, &reps, 0, NULL, "timed repetitions per op, median reported (default 7)"},
        {"warmup", FL_OPT_INT, &warmup, 0, NULL, "untimed repetitions first (default 1)"},
        {"threads", FL_OPT_INT, &threads, 0, NULL, "CPU threads (default: all)"},
        {"backend", FL_OPT_STR, backend, sizeof backend, NULL, "cpu, cuda or all (default all: cpu, and cuda where a device is present)"},
        {"only", FL_OPT_STR, only, sizeof only, NULL, "comma list of op names (default all)"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "also append the rows to this CSV (default none)"},
    };
    int rc = fl_parse_opts("bench --ops", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (reps < 1) { fprintf(stderr, "flbench bench --ops: --reps: expected a positive integer, found %d\n", reps); return 2; }
    if (warmup < 0) { fprintf(stderr, "flbench bench --ops: --warmup: expected 0 or more, found %d\n", warmup); return 2; }
    if (threads < 0) { fprintf(stderr, "flbench bench --ops: --threads: expected a positive integer, found %d\n", threads); return 2; }
    if (strcmp(backend, "cpu") && strcmp(backend, "cuda") && strcmp(backend, "all")) {
        fprintf(stderr, "flbench bench --ops: --backend: expected cpu, cuda or all, found '%s'\n", backend);
        return 2;
    }
    if (strcmp(only, "all")) {  // every name given must be an op of the table
        char list[512];
        snprintf(list, sizeof list, "%s", only);
        for (char* name = strtok(list, ","); name; name = strtok(NULL, ",")) {
            int known = 0;
            for (int i = 0; i < N_CASES; i++) known |= !strcmp(cases[i].op, name);
            if (!known) { fprintf(stderr, "flbench bench --ops: --only: '%s' is not an op of the table (see impl/backend/ops.h)\n", name); return 2; }
        }
    }
    if (threads > 0) { omp_set_num_threads(threads); openblas_set_num_threads(threads); }
    const fl_ops* be[2];
    int nbe = 0;
    char no_cuda[1100] = "";
    if (strcmp(backend, "cuda")) be[nbe++] = fl_cpu_ops();
    if (strcmp(backend, "cpu")) {
        fl_err err = {{0}};
        const fl_ops* g = fl_cuda_ops(&err);
        if (g) be[nbe++] = g;
        else if (!strcmp(backend, "cuda")) { fprintf(stderr, "flbench bench --ops: %s\n", err.msg); return 2; }
        else snprintf(no_cuda, sizeof no_cuda, "%s", err.msg);
    }
    run_state st = {.reps = reps, .warmup = warmup, .perturb = getenv("FLBENCH_OPS_PERTURB")};
    if (st.perturb && !st.perturb[0]) st.perturb = NULL;
    time_t now = time(NULL);
    strftime(st.ts, sizeof st.ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (out[0] && !(st.csv = open_ops_csv(out))) return 2;

    printf("flbench bench --ops  %s  threads %d  %s\n", fl_git_rev(), omp_get_max_threads(), openblas_get_config());
    for (int k = 0; k < nbe; k++) printf("%-5s %s\n", be[k]->name, be[k]->device_name);
    if (no_cuda[0]) printf("cuda  not run: %s\n", no_cuda);
    if (st.perturb) printf("FLBENCH_OPS_PERTURB=%s: that op's first output is moved one ulp (a test of the check)\n", st.perturb);
    printf("%-22s %-3s %-34s %-5s %5s %10s %-17s %-6s %7s  %s\n", "op", "wl", "shape", "back", "calls", "median us",
           "     rate", "check", "err/tol", "tolerance");
    for (int i = 0; i < N_CASES; i++) {
        if (!in_names(only, cases[i].op)) continue;
        opcase c;
        memset(&c, 0, sizeof c);
        c.op = cases[i].op;
        c.off = cases[i].off;
        c.qc = -1;
        cases[i].make(&c);
        FL_CHECK(c.call && c.wl && c.rule, "bench --ops: case %d (%s) is incomplete", i, c.op);
        for (int k = 0; k < nbe; k++) run_case(&c, be[k], &st);
        free_case(&c);
    }
    if (st.csv && fclose(st.csv) != 0) { fprintf(stderr, "flbench bench --ops: --out %s: write failed\n", out); st.fail++; }
    printf("%d checked and timed, %d FAIL, %d not run (absent, or no fused path); u = 2^-24; err/tol = the largest "
           "|got - reference| / tolerance over the outputs\n", st.ok, st.fail, st.absent);
    return st.fail ? 1 : 0;
}
