// bench_ops.h: what the files of `flbench bench --ops` share, and nothing outside them needs:
// the shapes of the workloads, a case (one op at one shape: its buffers, its reference and its
// tolerances), the helpers that fill a case, and the case makers, one per row of the table.
//
//   bench_ops.c              the command: options, the table of cases, checking and timing a
//                            case on a backend, the printed table and the CSV
//   bench_ops_case.c         a case's buffers, references and tolerances; deterministic inputs
//   bench_ops_linalg.c       memory, the products (gemm, gemm_strided), data movement
//   bench_ops_elementwise.c  element-wise ops, column and row sums, reductions and optimisers
//                            (with the MeZO updates dirs_*)
//   bench_ops_noise.c        the noise ops (bias_noise*, lr_grad, lr_unit_*, noise_axpy)
//   bench_ops_nn.c           LayerNorm, softmax, cross-entropy, attention and the ViT ops
//
// A case maker mk_NAME fills a zeroed opcase whose op, off and qc (-1) are set: its buffers
// (NEW, NEWI), their contents, the reference (case_ref) and the tolerance (case_tol) of every
// checked output, the workload, the rule, the work per call and the call. The rules of the
// tolerances are in bench_ops.c's opening comment.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../impl/backend/ops.h"

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

// Buffer k of the case c in scope: in backend memory (F, FI), its host contents before the
// call (X, XI).
#define F(k) ((float*)c->b[k].dev)
#define FI(k) ((int32_t*)c->b[k].dev)
#define X(k) ((float*)c->b[k].init)
#define XI(k) ((int32_t*)c->b[k].init)

// bench_ops_case.c. Adds a buffer of n elements (4 bytes each) to c; IN and INOUT buffers get
// zeroed host contents (init). Returns its index.
int case_add_buf(opcase* c, const char* name, int role, long n, int isint);
#define NEW(role, name, n) case_add_buf(c, name, role, n, 0)
#define NEWI(role, name, n) case_add_buf(c, name, role, n, 1)
// The reference of buffer k (starts as a copy of its contents before the call), as floats or
// integers; its per-element tolerance (starts as 0: bit-exact; < 0: not checked).
float* case_ref(opcase* c, int k);
int32_t* case_ref_int(opcase* c, int k);
double* case_tol(opcase* c, int k);
// The shape column, printf-style.
void case_set_shape(opcase* c, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Deterministic inputs: x = scale z + shift with z normals of the shared Philox generator, a
// new seed per call (so the inputs depend on the order in which the cases are made); noise
// scales sigma of 1e-3 and a little more.
void case_randn(float* x, long n, float scale, float shift);
void case_rand_sigma(float* s, long n);
// The LR layout of queries: 2j and 2j+1 an antithetic pair on one noise row (qcode), the
// offsets of the pairs (uoff, units + 1); the noise of the cases (qcode in host memory), and
// that noise with c's qcode buffer in backend memory.
void case_pair_codes(int32_t* qcode, int Q);
void case_pair_offsets(int32_t* uoff, int units);
fl_noise case_noise_template(const int32_t* qcode_host, int tokens);
fl_noise case_dev_noise(const opcase* c);

// The case makers, in ops.h's order within each file.
// bench_ops_linalg.c
void mk_copy(opcase* c);
void mk_zero(opcase* c);
void mk_gemm_w1(opcase* c);
void mk_gemm_w2(opcase* c);
void mk_gemm_strided_scores(opcase* c);
void mk_gemm_strided_ctx(opcase* c);
void mk_gather_rows(opcase* c);
void mk_segment_sum(opcase* c);
void mk_gather_add_rows(opcase* c);
// bench_ops_elementwise.c
void mk_exp(opcase* c);
void mk_scale(opcase* c);
void mk_axpy(opcase* c);
void mk_relu(opcase* c);
void mk_relu_bwd(opcase* c);
void mk_gelu(opcase* c);
void mk_gelu_bwd(opcase* c);
void mk_col_sum(opcase* c);
void mk_row_sumsq(opcase* c);
void mk_dot(opcase* c);
void mk_adam(opcase* c);
void mk_sgd(opcase* c);
void mk_dirs_adam(opcase* c);
void mk_dirs_sgd(opcase* c);
void mk_dirs_sumsq(opcase* c);
// bench_ops_noise.c
void mk_bias_noise(opcase* c);
void mk_bias_noise_set(opcase* c);
void mk_bias_noise_keep(opcase* c);
void mk_lr_grad(opcase* c);
void mk_lr_unit_noise(opcase* c);
void mk_lr_unit_kept(opcase* c);
void mk_lr_unit_fold(opcase* c);
void mk_noise_axpy(opcase* c);
// bench_ops_nn.c
void mk_layernorm(opcase* c);
void mk_layernorm_bwd(opcase* c);
void mk_softmax(opcase* c);
void mk_softmax_bwd(opcase* c);
void mk_xent_fwd(opcase* c);
void mk_xent_bwd(opcase* c);
void mk_vit_patchify(opcase* c);
void mk_vit_tokens(opcase* c);
void mk_vit_cls_layernorm(opcase* c);
void mk_vit_cls_layernorm_bwd(opcase* c);
void mk_attention(opcase* c);
