// vit_internal.h: what the ViT's three files share and nothing outside needs: vit.c (the
// model: construction, forward, backward), vit_spec.c (specifications and configuration
// checks) and vit_hf.c (Hugging Face and safetensors weights). The public API is vit.h.
#pragma once
#include "vit.h"

#ifdef __cplusplus
extern "C" {
#endif

// vit_spec.c. The specification that rebuilds configuration c (vit:image=...,eps=...): the
// desc of a ViT.
void fl_vit_desc(const fl_vit_cfg* c, char* out, size_t size);
// Checks every field of c (sizes, image a multiple of patch, dim a multiple of heads, tokens,
// eps); errors begin with `what`.
int fl_vit_check_cfg(const fl_vit_cfg* c, const char* what, fl_err* err);

// vit.c. Of a ViT m: the indices into m->lin of the patch embedding (D, C*P*P) and of the
// classifier (classes, D).
int fl_vit_embed_layer(const fl_model* m);
int fl_vit_head_layer(const fl_model* m);
// Sets the LayerNorm eps of ViT m and rewrites m->desc to match.
void fl_vit_set_eps(fl_model* m, float eps);
// torch.nn.Linear's initialisation of layer L from seed, into host: the host copy of m's
// parameters (m->params.total floats).
void fl_vit_init_linear_host(const fl_model* m, const fl_linear* L, uint64_t seed, float* host);

#ifdef __cplusplus
}
#endif
