// hfconfig.h: read the architecture of a Hugging Face ViT checkpoint from its config.json.
// Required fields (an error names the first one missing or invalid): image_size, patch_size,
// num_channels, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size.
// Optional, with the defaults of transformers' ViTConfig (recorded in defaults_used):
// layer_norm_eps 1e-12, hidden_act "gelu", qkv_bias true.
// num_labels comes from "num_labels", else from the size of "id2label", else is 0: the
// config says nothing about a head (as for the in21k checkpoints).
// Checked: model_type "vit" when given; positive integers; square image and patch (an int, or
// a list of two equal ints); image_size a multiple of patch_size; hidden_size a multiple of
// num_attention_heads; layer_norm_eps > 0; hidden_act "gelu" (exact erf GELU, the only one the
// ViT implements); num_labels and id2label agreeing when both are given.
#pragma once
#include "impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int image_size;            // H = W
    int patch_size;            // P
    int num_channels;          // C
    int hidden_size;           // D
    int num_hidden_layers;     // depth
    int num_attention_heads;   // heads (D % heads == 0)
    int intermediate_size;     // MLP width M
    float layer_norm_eps;
    char hidden_act[32];       // "gelu"
    int qkv_bias;              // 1: Q, K, V have biases
    int num_labels;            // classes of the head; 0 when the config names none
    char defaults_used[128];   // e.g. "qkv_bias, layer_norm_eps" (empty when all were given)
} fl_vit_hfconfig;

// path: a config.json file, or a model directory holding one.
int fl_vit_hfconfig_read(const char* path, fl_vit_hfconfig* cfg, fl_err* err);

#ifdef __cplusplus
}
#endif
