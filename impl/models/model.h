// model.h: what every model (MLP, ViT) gives the estimators.
// A model owns its parameters (one fl_params buffer), its activations, and the list of its
// linear layers. The estimators know nothing else about it (docs/DESIGN.md, principle 5):
//   - forward over query rows, with LR noise on the layers the scope selects;
//   - backward (BP) into params.grad;
//   - the list of perturbable linear layers, each with its saved input and noise stream.
//
// Checkpointed BP (m->checkpoint, docs/METHOD.md "BP"): with FL_CKPT_BLOCK a forward that
// keeps FL_KEEP_BP keeps only the input of every block (a ViT transformer block; an MLP layer,
// Linear + activation), and backward recomputes each block's forward from it before
// backpropagating through the block. The gradient is the same, bit for bit.
//
// Query rows and data: a forward is given B data (x is (B, in_dim)) and Q query rows, each
// query row being one datum under one perturbation (row_datum maps query -> datum; queries of
// a datum are contiguous). Layers before the first perturbed one compute the same values for
// every query of a datum, so a model runs them once per datum and expands to query rows only
// where noise first enters ("clean prefix"). A perturbed layer whose input is still per datum
// saves that per-datum input and flags it (per_datum); the LR gradient then sums its noise
// factor over each datum's queries before the weight GEMM.
#pragma once
#include <stdint.h>
#include "../core/common.h"
#include "../backend/params.h"
#include "../backend/ops.h"
#include "../blackbox/blackbox.h"

#ifdef __cplusplus
extern "C" {
#endif

// What the last forward with FL_KEEP_LR saved of one linear layer, for the LR gradient: the
// model's one report to the estimator. The model writes it; estimators only read it.
typedef struct fl_saved {
    const float* input;       // (in_rows, din) the layer's input, backend memory
    int in_rows;              // rows of the saved input: (per_datum ? B : Q) * tokens
    int per_datum;            // 1 when the saved input is per datum (B*T rows)
    int eps_kept;             // 1 when the forward wrote this layer's normals to fl_fwd.keep_eps
} fl_saved;

typedef struct fl_linear {
    char name[64];            // e.g. "fc1", "encoder.layer.11.attention.attention.query"
    char role[8];             // "head", "attn", "mlp", "embed": used by scopes
    int block;                // transformer block index, or layer index for the MLP; -1 if none
    int din, dout;
    int w, b, s;              // tensor indices: weight (dout, din), bias (dout), log sigma (dout)
    int tokens;               // rows per query this layer sees (0: the model's tokens); e.g. 1
                              // for a ViT classifier, which reads the CLS token only
    uint32_t stream;          // noise stream id (its index in the model's list)
    int perturbed;            // set by the scope
    float* sigma;             // (dout) exp(log sigma), computed by every noisy forward of the layer
    fl_saved saved;           // what the last forward with FL_KEEP_LR saved
} fl_linear;

enum { FL_KEEP_LR = 1, FL_KEEP_BP = 2 };
enum { FL_CKPT_NONE = 0, FL_CKPT_BLOCK = 1 };  // m->checkpoint

// One forward.
typedef struct fl_fwd {
    const float* x;           // (B, in_dim) inputs, backend memory
    int B;                    // data
    int Q;                    // query rows (== B for a clean pass)
    const int32_t* row_datum; // (Q) datum of each query row, backend memory; NULL when Q == B
    const int32_t* labels;    // (Q) label of each query row, backend memory
    const fl_noise* noise;    // NULL: clean. Else key, step, qcode and the stream base; the
                              // model adds each layer's stream id and sets tokens
    int keep;                 // FL_KEEP_LR | FL_KEEP_BP
    // With FL_KEEP_LR and noise: per layer (n_lin entries), backend memory where the forward
    // keeps the layer's normals, (units*T, dout), for the LR gradient (ops.h, bias_noise_keep);
    // NULL, or a NULL entry: not kept. The forward says in fl_linear.saved.eps_kept.
    float* const* keep_eps;
    float* loss;              // (Q) per-row cross-entropy out, backend memory
    int32_t* argmax;          // (Q) predicted class out, nullable
} fl_fwd;

typedef struct fl_model fl_model;

typedef struct fl_model_vt {
    const char* kind;         // "mlp", "vit"
    // Allocates activations for forwards of up to max_B data and max_Q query rows.
    void (*reserve)(fl_model* m, int max_B, int max_Q);
    // Frees every activation buffer (the next reserve or forward allocates them again).
    void (*release)(fl_model* m);
    void (*forward)(fl_model* m, const fl_fwd* f);
    // BP after a forward with FL_KEEP_BP (clean, Q == B): accumulates into params.grad the
    // gradient of sum_r dloss[r] * loss_r, dloss (B) in backend memory.
    void (*backward)(fl_model* m, const float* dloss);
    // Forward GEMM FLOPs for B data and Q query rows with the current scope (2 per MAC).
    double (*forward_flops)(const fl_model* m, int B, int Q, int noisy);
    // Backend bytes of activations one query row needs (for sizing chunks).
    size_t (*bytes_per_query)(const fl_model* m);
    void (*destroy)(fl_model* m);
} fl_model_vt;

struct fl_model {
    const fl_model_vt* vt;
    void* impl;
    const fl_ops* ops;
    fl_params params;
    fl_linear* lin;           // (n_lin) in forward order, classifier last
    int n_lin;
    int in_dim;               // floats per datum
    int n_classes;
    int tokens;               // rows per query inside the network (1 for the MLP)
    int depth;                // blocks (ViT) or hidden layers (MLP)
    char desc[160];           // e.g. "mlp:784-256-256-10 relu"
    int no_prefix;            // testing: expand to query rows at the input (no clean prefix)
    int checkpoint;           // FL_CKPT_NONE, or FL_CKPT_BLOCK: BP keeps block inputs only
    // A model behind a black box (prompt.c): the box, whose counters say how many queries it
    // answered and how long they took; NULL for a model flbench computes itself.
    fl_blackbox* box;
    // A model that can fail at run time (a black box that exits, hangs or answers wrongly)
    // writes non-finite losses and says why here (malloc'd); NULL while nothing failed.
    char* failure;
};

// Rows per query of a linear layer's input and output.
static inline int fl_linear_tokens(const fl_model* m, const fl_linear* L) {
    return L->tokens > 0 ? L->tokens : m->tokens;
}

// Selects the perturbed layers. Scopes: all | head | attn:last:K | mlp:last:K | layers:I,J,...
// (attn/mlp scopes include the classifier head, as the authors do). Returns 0 or -1 + err.
int fl_model_set_scope(fl_model* m, const char* scope, fl_err* err);
// sigma = exp(log sigma) for every perturbed layer (call after each parameter update).
void fl_model_refresh_sigma(fl_model* m);
// Initialises every log-sigma tensor to log(sigma0).
void fl_model_init_sigma(fl_model* m, float sigma0);
void fl_model_free(fl_model* m);

// Linear layer forward shared by the models. x has x_rows = (x_per_datum ? B : Q) * tokens rows.
// Computes y = x W^T + b, plus noise when f->noise and the layer is perturbed. When x is per
// datum and noise enters here, the product is taken on the data (into `tmp`, B*T x dout) and
// expanded to query rows. Saves the input for LR when asked. Returns 1 when y is per datum,
// 0 when y is per query row.
int fl_linear_forward(fl_model* m, fl_linear* L, const fl_fwd* f, const float* x, int x_per_datum,
                      float* y, float* tmp);
// BP through a linear layer on B*T rows: dW += dy^T x, db += colsum dy, dx = dy W (dx nullable).
void fl_linear_backward(fl_model* m, fl_linear* L, const float* x, const float* dy, float* dx,
                        int rows);
// Expands per-datum rows (B, rowlen) to query rows (Q, rowlen) through f->row_datum.
void fl_expand_rows(fl_model* m, const fl_fwd* f, float* dst, const float* src, long rowlen);

// Adds a linear layer's three tensors (weight, bias, log sigma) to the model's parameters and
// list. Returns its index in m->lin.
int fl_model_add_linear(fl_model* m, const char* name, const char* role, int block, int din, int dout);

// Checkpoints (checkpoint.c): the parameter buffer and its table as F32 safetensors,
// written atomically, with extra string metadata given as key, value pairs.
int fl_model_save(const fl_model* m, const char* path, const char* const* meta_kv, int n_meta,
                  fl_err* err);
// Loads tensors by name, checking shapes and values: a NaN or an infinity is an error. With
// allow_head_init, a missing classifier head or one of another shape keeps its current
// (seeded) values and *head_initialised is set.
int fl_model_load(fl_model* m, const char* path, int allow_head_init, int* head_initialised,
                  fl_err* err);
// Checks the n values of tensor loaded from file: 0, or -1 with err naming the file, the tensor
// and the first element that is not finite ("w.safetensors: tensor 'fc1.weight' element 7 is
// nan; expected finite weights"). Every loader of weights runs it (checkpoint.c, vit_hf.c).
int fl_check_finite_weights(const char* file, const char* tensor, const float* x, int64_t n, fl_err* err);

// Constructors.
// From a command-line specification (factory.c): mlp, mlp:W0-...-C, vit-tiny, vit-b16, ...
fl_model* fl_model_create(const fl_ops* ops, const char* spec, const char* act, int channels,
                          int height, int width, int n_classes, fl_err* err);
// spec: "784-256-256-10" (input, hidden..., classes); act: "relu" or "gelu".
fl_model* fl_mlp_new(const fl_ops* ops, const char* spec, const char* act, fl_err* err);
// Kaiming-uniform weights and zero biases from the seed (host RNG, then uploaded).
void fl_model_init_weights(fl_model* m, uint64_t seed);

#ifdef __cplusplus
}
#endif
