// vit_prompt.h: a frozen ViT with P prompt tokens after the CLS token (shallow visual prompt
// tuning, as black-box prompt tuning uses it), and the black box that answers with it
// (impl/blackbox/blackbox.h, kind "vit").
//
// A query row r is datum d = row_datum[r] under prompt j = row_prompt[r]. Its sequence of
// T + P tokens is [CLS_d, prompt_j (P, D), patch tokens of d (T - 1, D)], where CLS_d and the
// patch tokens are the clean embedding of d exactly as the ViT's forward makes it (patch
// embedding, CLS token, position embeddings) and the prompt tokens get no position embedding.
// All blocks run over it, then the final LayerNorm of the CLS token, the classifier and the
// cross-entropy against d's label. No noise, no backward: the weights are only read.
#pragma once
#include <stdint.h>
#include "model.h"
#include "../blackbox/blackbox.h"

#ifdef __cplusplus
extern "C" {
#endif

// Losses of n_rows query rows, host memory in and out:
//   x_host (B, C, H, W) normalised images, labels_host (B);
//   row_datum (R) in [0, B), row_prompt (R) in [0, n_prompts) (unread when P == 0);
//   prompts_host (n_prompts, P, D), D the model's width (unread when P == 0);
//   loss_out (R) cross-entropy, argmax_out (R) predicted class (nullable).
// Rows run in chunks of at most max_rows (0: as many as the backend's chunk of activations
// holds). Each linear layer is one product per sequence, so on the CPU a row's loss does not
// depend on the chunk or on the other rows, bit for bit. With P = 0 the losses are those of
// the model's clean forward of the same data up to rounding (that forward multiplies all rows
// at once, which OpenBLAS may round otherwise). 0, or -1 with err.
int fl_vit_prompt_losses(fl_model* m, const float* x_host, int B, const int32_t* labels_host, int P,
                         int n_rows, const int32_t* row_datum, const int32_t* row_prompt, int n_prompts,
                         const float* prompts_host, int max_rows, float* loss_out, int32_t* argmax_out,
                         fl_err* err);

// Forward GEMM FLOPs of one query row with T + P tokens (2 per multiply-add; the attention's
// two products included, as the model's forward_flops counts them). P = 0: the model's clean
// forward of one datum.
double fl_vit_prompt_flops(const fl_model* m, int P);

// Bytes of backend memory one query row with P prompt tokens needs (for sizing chunks).
size_t fl_vit_prompt_bytes_per_row(const fl_model* m, int P);

// The black box of kind "vit" (vit_blackbox.c) over ViT `vit`, which it borrows (it must
// outlive the box): setup keeps a copy of the data and answers D = the model's width; a query
// runs fl_vit_prompt_losses on the data its rows name. NULL with err when vit is no ViT.
fl_blackbox* fl_blackbox_vit_new(fl_model* vit, fl_err* err);

#ifdef __cplusplus
}
#endif
