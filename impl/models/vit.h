// vit.h: the Vision Transformer (vit.c, vit_backward.c, vit_spec.c, vit_hf.c), compatible
// with Hugging Face ViTForImageClassification: patch embedding (a linear layer over flattened
// patches), CLS token and learned position embeddings, pre-LayerNorm blocks (multi-head
// self-attention with Q, K, V biases and an output projection; MLP with exact erf GELU;
// residuals around both), a final LayerNorm and a linear classifier on the CLS token.
//
// Specifications (--model):
//   vit-tiny          dim 192, depth 6, heads 3, MLP 768, patch 4 (28x28 or 32x32 inputs)
//   vit-b16           dim 768, depth 12, heads 12, MLP 3072, patch 16
//   vit-l16           dim 1024, depth 24, heads 16, MLP 4096, patch 16
//   vit:image=224,channels=3,patch=16,dim=768,depth=12,heads=12,mlp=3072,classes=K,eps=1e-12
//   NAME:k=v,...      any named configuration with some fields changed, e.g. vit-tiny:depth=2
// Image size and channels come from the data unless given (then they must agree); image is
// N or HxW. Classes come from the data. LayerNorm eps defaults to 1e-12 (the checkpoints').
//
// Tensor names are the bare Hugging Face names (embeddings.*, encoder.layer.N.*, layernorm.*),
// with the patch embedding stored as a (D, C*P*P) matrix, plus head.weight / head.bias for the
// classifier and NAME.log_sigma for the LR noise scales.
#pragma once
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_vit_cfg {
    int image_h, image_w;  // input size (multiples of patch)
    int channels;          // C
    int patch;             // P
    int dim;               // D
    int depth;             // blocks
    int heads;             // attention heads (D % heads == 0)
    int mlp;               // MLP width M
    int classes;           // classifier outputs
    float eps;             // LayerNorm epsilon
    int eps_given;         // eps was set explicitly (a checkpoint's config may not change it)
} fl_vit_cfg;

// Builds a ViT from a specification (see above) for data of the given shape (0: from spec).
fl_model* fl_vit_from_spec(const fl_ops* ops, const char* spec, int channels, int height, int width,
                           int n_classes, fl_err* err);
// Builds a ViT from a full configuration.
fl_model* fl_vit_new(const fl_ops* ops, const fl_vit_cfg* cfg, fl_err* err);
// 1 when m is a ViT; its configuration (NULL when it is not).
int fl_vit_is(const fl_model* m);
const fl_vit_cfg* fl_vit_config(const fl_model* m);

// Loads weights into m from a .safetensors file or a Hugging Face model directory
// (config.json + model.safetensors). Accepts the bare in21k names, the "vit."-prefixed
// names with classifier.*, and our own checkpoints (fl_model_save); F32, F16 and BF16.
// A missing classifier, or one with another class count, is initialised from `seed` and
// *head_initialised is set. config.json values that contradict the model are an error, as
// are missing tensors, shape mismatches and tensors the model does not have (pooler.* is
// ignored). For a model that is not a ViT this is fl_model_load.
int fl_vit_load_weights(fl_model* m, const char* path, uint64_t seed, int* head_initialised,
                        fl_err* err);

// Builds the ViT that a weight source describes: a directory's config.json, the "model"
// metadata of our own checkpoints, or else the tensor shapes (heads = dim / 64 unless
// heads_override > 0). *has_head (nullable) says whether the source has a classifier; a
// headless model gets a one-class placeholder head. Does not load the weights.
fl_model* fl_vit_from_weights(const fl_ops* ops, const char* path, int heads_override,
                              int* has_head, fl_err* err);

// Initialises the non-linear parameters (LayerNorm 1 and 0, CLS token and position
// embeddings N(0, 0.02^2)) from seed, and the linear layers as fl_model_init_weights.
void fl_vit_init(fl_model* m, uint64_t seed);

// Inference on n host images (n, C, H, W), batch at a time: out_host gets the logits
// (n, classes), or with features the final-LayerNorm CLS token (n, dim).
int fl_vit_infer(fl_model* m, const float* x_host, int n, int batch, int features, float* out_host,
                 fl_err* err);

// After a forward with FL_KEEP_BP: the residual stream (B, T, D) into host memory, after
// block k (k = -1: the embeddings). For tests and debugging.
void fl_vit_hidden(const fl_model* m, int k, float* host);

#ifdef __cplusplus
}
#endif
