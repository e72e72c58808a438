// params.h: all parameters of a model in one contiguous buffer, in a backend's memory (the ops
// floor, docs/DESIGN.md, "Floors": its storage is allocated and moved through the ops table).
// A table of named tensors gives each one's offset, shape, kind and trainable flag. MeZO
// perturbs the trainable ranges of the buffer, Adam runs over them, checkpoints are the
// buffer plus the table. data and grad live in the backend's memory.
#pragma once
#include <stdint.h>
#include <stddef.h>
#include "../core/common.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FL_KIND_WEIGHT,     // linear weight (dout, din)
    FL_KIND_BIAS,       // linear bias (dout)
    FL_KIND_LOGSIGMA,   // LR per-unit log noise std (dout); used only by the LR estimator
    FL_KIND_EMBED,      // embeddings, CLS token, position table
    FL_KIND_NORM,       // LayerNorm scale and shift
} fl_tensor_kind;

#define FL_MAX_DIMS 4
typedef struct {
    char name[96];
    size_t offset;      // in floats, a multiple of 16 (64-byte aligned)
    size_t numel;
    int ndim;
    int shape[FL_MAX_DIMS];
    fl_tensor_kind kind;
    int trainable;
} fl_tensor;

typedef struct fl_params {
    const fl_ops* ops;
    fl_tensor* t;       // (n) table
    int n, cap;
    size_t total;       // floats in the buffer, padding included
    float* data;        // (total) backend memory
    float* grad;        // (total) backend memory, same layout
} fl_params;

void fl_params_init(fl_params* p, const fl_ops* ops);
// Adds a tensor to the table (before fl_params_alloc). Returns its index.
int fl_params_add(fl_params* p, const char* name, fl_tensor_kind kind, int ndim, const int* shape);
// Allocates data and grad (zeroed) once the table is complete.
void fl_params_alloc(fl_params* p);
void fl_params_free(fl_params* p);
int fl_params_find(const fl_params* p, const char* name);
static inline float* fl_param_data(const fl_params* p, int i) { return p->data + p->t[i].offset; }
static inline float* fl_param_grad(const fl_params* p, int i) { return p->grad + p->t[i].offset; }
// Number of trainable floats (padding excluded).
size_t fl_params_trainable(const fl_params* p);
// Zeroes the whole gradient buffer (nothing when it was dropped).
void fl_params_zero_grad(fl_params* p);
// Frees the gradient buffer: MeZO trains without one (its estimate is K scalars and a seed,
// applied by the fused dirs_* ops), so its memory is inference plus optimizer state.
void fl_params_drop_grad(fl_params* p);
// Sets trainable on every tensor of `kind`.
void fl_params_set_trainable_kind(fl_params* p, fl_tensor_kind kind, int trainable);

// Host copies of the whole buffer (for checkpoints, tests and cross-backend checks).
void fl_params_download(const fl_params* p, float* host);
void fl_params_upload(fl_params* p, const float* host);

#ifdef __cplusplus
}
#endif
