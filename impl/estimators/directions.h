// directions.h: what estimators that perturb the weights share (mezo.c, and any other SPSA-style
// estimator): directions z_k ~ N(0, I) over the trainable parameters, never stored but drawn from
// Philox (key = seed, row = k, stream, step) whenever they are needed; losses of a subset of the
// batch at perturbed weights; and the estimate kept as K scalars (fl_engine_apply rebuilds the
// update from them and the seed: the MeZO memory property). docs/METHOD.md, "Estimators".
#pragma once
#include "estimator.h"

#ifdef __cplusplus
extern "C" {
#endif

// The buffers of a subset's forward: its gathered inputs and labels, and its losses.
typedef struct {
    fl_dev_buf idx_d, xsub, lab_d, loss_d;  // (m), (m, in_dim), (m), (m)
    fl_host_buf lab_h;                      // (m)
} fl_dir_bufs;
void fl_dir_bufs_free(const fl_ops* ops, fl_dir_bufs* w);

// buf += scale * z_k over every trainable tensor of the model (z indexed by the global
// parameter index, so a tensor's part of z does not depend on the other tensors).
void fl_dir_add(fl_engine* e, float* buf, float scale, uint32_t k, uint32_t stream);

// The inputs and labels of the data idx[0..m) of the batch (the batch's own when m == B).
void fl_dir_subset(fl_engine* e, fl_dir_bufs* w, const fl_batch* b, const int32_t* idx, int m,
                   const float** x, const int32_t** y);

// Clean forward of m data at the current weights: per-datum losses into loss_host (m).
void fl_dir_losses(fl_engine* e, fl_dir_bufs* w, const float* x, const int32_t* y, int m, float* loss_host);

// Clean forwards of groups of the batch's data at the current weights, one forward per group:
// group g is idx[goff[g]..goff[g+1]) (the data of one slice, dist.h); losses into
// loss_host (goff[G]), in idx's order.
void fl_dir_group_losses(fl_engine* e, fl_dir_bufs* w, const fl_batch* b, const int32_t* idx, const int* goff,
                         int G, float* loss_host);

// The data direction k is evaluated on, slice by slice of this process's slices in plan: idx
// gets the data with n_i > k of each slice in turn, goff (G + 1) where each slice's group
// starts. Returns G, the number of slices.
int fl_dir_slice_groups(const fl_step_plan* plan, int B, int k, int32_t* idx, int* goff);

// Keeps the estimate g = sum_k s[k] z_k (s: K floats, host; z: rows 0..K-1 of `stream` at this
// step) for fl_engine_apply, and writes it into params.grad when the buffer exists.
void fl_dir_keep(fl_engine* e, int K, const float* s_host, uint32_t stream);

#ifdef __cplusplus
}
#endif
