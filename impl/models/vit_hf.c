// vit_hf.c: the ViT's weights from Hugging Face and safetensors sources (vit.h): a
// .safetensors file or a model directory (config.json + model.safetensors); config.json checked
// against the model; tensor names mapped (bare, "vit."-prefixed, classifier.* for head.*, the
// Conv2d patch embedding (D, C, P, P) read as (D, C*P*P)); F16, BF16 and F64 converted to F32 by
// the safetensors reader; and the architecture read back from a source (fl_vit_from_weights).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "vit_internal.h"
#include "../io/safetensors.h"
#include "../io/hfconfig.h"

// The safetensors file and config of a weight source: a file, or a model directory.
typedef struct {
    char file[4096];          // the .safetensors file
    char config[4096];        // config.json ("" when none)
    int is_dir;
} vit_source;

static int resolve_source(const char* path, vit_source* src, fl_err* err) {
    memset(src, 0, sizeof *src);
    struct stat sb;
    if (stat(path, &sb) != 0) return fl_fail(err, "--weights %s: no such file or directory", path);
    if (S_ISDIR(sb.st_mode)) {
        src->is_dir = 1;
        snprintf(src->file, sizeof src->file, "%s/model.safetensors", path);
        snprintf(src->config, sizeof src->config, "%s/config.json", path);
        if (stat(src->file, &sb) != 0) {
            char idx[4200];
            snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", path);
            if (stat(idx, &sb) == 0)
                return fl_fail(err, "--weights %s: sharded checkpoint (model.safetensors.index.json); expected a single model.safetensors", path);
            return fl_fail(err, "--weights %s: directory has no model.safetensors (expected a Hugging Face model directory)", path);
        }
        if (stat(src->config, &sb) != 0) src->config[0] = 0;
    } else {
        snprintf(src->file, sizeof src->file, "%s", path);
    }
    return 0;
}

// The name of our tensor `name` in the file, or NULL: our own (bare) name, the "vit."-prefixed
// Hugging Face name, and classifier.* for head.*.
static const fl_st_tensor* find_tensor(const fl_safetensors* st, const char* name, const char* prefix) {
    const fl_st_tensor* t = fl_st_find(st, name);
    if (t) return t;
    char alt[160];
    if (!strncmp(name, "head.", 5)) {
        snprintf(alt, sizeof alt, "classifier.%s", name + 5);
        return fl_st_find(st, alt);
    }
    snprintf(alt, sizeof alt, "%s%s", prefix, name);
    return prefix[0] ? fl_st_find(st, alt) : NULL;
}

static void shape_str(char* out, size_t size, int ndim, const int64_t* shape) {
    size_t at = 0;
    at += (size_t)snprintf(out + at, size - at, "(");
    for (int d = 0; d < ndim && at < size; d++)
        at += (size_t)snprintf(out + at, size - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < size) snprintf(out + at, size - at, ndim == 1 ? ",)" : ")");
}

// Checks config.json against the model; adopts its LayerNorm eps unless the model's was given.
static int check_config(fl_model* m, const char* path, int* cfg_labels, fl_err* err) {
    const fl_vit_cfg* c = fl_vit_config(m);
    fl_vit_hfconfig hc;
    if (fl_vit_hfconfig_read(path, &hc, err)) return -1;
    struct { const char* key; int cfg, model; const char* what; } f[] = {
        {"image_size", hc.image_size, c->image_h, "image height"},
        {"image_size", hc.image_size, c->image_w, "image width"},
        {"patch_size", hc.patch_size, c->patch, "patch"},
        {"num_channels", hc.num_channels, c->channels, "channels"},
        {"hidden_size", hc.hidden_size, c->dim, "dim"},
        {"num_hidden_layers", hc.num_hidden_layers, c->depth, "depth"},
        {"num_attention_heads", hc.num_attention_heads, c->heads, "heads"},
        {"intermediate_size", hc.intermediate_size, c->mlp, "mlp"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].cfg != f[i].model)
            return fl_fail(err, "%s: %s is %d but the model (%s) has %s %d%s", path, f[i].key, f[i].cfg,
                           m->desc, f[i].what, f[i].model,
                           !strcmp(f[i].key, "image_size") ? " (resize the data with --image-size)" : "");
    if (!hc.qkv_bias)
        return fl_fail(err, "%s: qkv_bias is false, but this ViT has query, key and value biases", path);
    if (hc.layer_norm_eps != c->eps) {
        if (c->eps_given)
            return fl_fail(err, "%s: layer_norm_eps is %g but the model was given eps=%g", path,
                           (double)hc.layer_norm_eps, (double)c->eps);
        fl_vit_set_eps(m, hc.layer_norm_eps);
    }
    *cfg_labels = hc.num_labels;
    return 0;
}

int fl_vit_load_weights(fl_model* m, const char* path, uint64_t seed, int* head_initialised,
                        fl_err* err) {
    if (!fl_vit_is(m)) return fl_model_load(m, path, 1, head_initialised, err);
    const fl_vit_cfg* c = fl_vit_config(m);
    if (head_initialised) *head_initialised = 0;
    vit_source src;
    if (resolve_source(path, &src, err)) return -1;
    int cfg_labels = 0;
    if (src.config[0] && check_config(m, src.config, &cfg_labels, err)) return -1;
    fl_safetensors st;
    if (fl_st_open(&st, src.file, err)) return -1;
    const char* prefix = fl_st_find(&st, "vit.embeddings.cls_token") ? "vit." : "";
    char* used = fl_calloc((size_t)st.n_tensors + 1, 1);
    fl_params* P = &m->params;
    float* host = fl_malloc(P->total * sizeof(float));
    fl_params_download(P, host);
    int rc = 0, head_init = 0;
    // the classifier: present with our class count, or initialised from the seed
    const fl_linear* Lh = &m->lin[fl_vit_head_layer(m)];
    const fl_st_tensor* hw = find_tensor(&st, "head.weight", prefix);
    const fl_st_tensor* hb = find_tensor(&st, "head.bias", prefix);
    if (!hw != !hb) {
        rc = fl_fail(err, "%s: classifier has a %s but no %s", src.file, hw ? "weight" : "bias", hw ? "bias" : "weight");
        goto done;
    }
    if (hw) {
        if (hw->ndim != 2 || hw->shape[1] != c->dim || hb->ndim != 1 || hb->shape[0] != hw->shape[0]) {
            char s1[64], s2[64];
            shape_str(s1, sizeof s1, hw->ndim, hw->shape);
            shape_str(s2, sizeof s2, hb->ndim, hb->shape);
            rc = fl_fail(err, "%s: classifier '%s' %s and '%s' %s, expected (classes, %d) and (classes,)",
                         src.file, hw->name, s1, hb->name, s2, c->dim);
            goto done;
        }
        if (cfg_labels > 0 && cfg_labels != hw->shape[0]) {
            rc = fl_fail(err, "%s: num_labels is %d but '%s' has %lld rows", src.config, cfg_labels, hw->name,
                         (long long)hw->shape[0]);
            goto done;
        }
        if (hw->shape[0] != m->n_classes) head_init = 1;
    } else {
        head_init = 1;
    }
    for (int i = 0; i < P->n && !rc; i++) {
        const fl_tensor* t = &P->t[i];
        int is_head = i == Lh->w || i == Lh->b || i == Lh->s;
        if (is_head && head_init) continue;
        const fl_st_tensor* ft = find_tensor(&st, t->name, prefix);
        if (!ft) {
            if (t->kind == FL_KIND_LOGSIGMA) continue;  // noise scales keep their initial value
            rc = fl_fail(err, "%s: missing tensor '%s%s' (the model is %s)", src.file,
                         is_head ? "" : prefix, t->name, m->desc);
            break;
        }
        used[ft - st.tensors] = 1;
        int64_t shape[FL_MAX_DIMS];
        int ndim = t->ndim;
        for (int d = 0; d < ndim; d++) shape[d] = t->shape[d];
        if (i == m->lin[fl_vit_embed_layer(m)].w && ft->ndim == 4) {  // Conv2d (D, C, P, P) = (D, C*P*P)
            ndim = 4;
            shape[1] = c->channels;
            shape[2] = shape[3] = c->patch;
        }
        rc = fl_st_read_f32(&st, ft->name, ndim, shape, host + t->offset, err);
        if (!rc) rc = fl_check_finite_weights(src.file, ft->name, host + t->offset, (int64_t)t->numel, err);
    }
    if (hw) {  // used, or replaced by a head for this model's classes
        used[hw - st.tensors] = 1;
        used[hb - st.tensors] = 1;
    }
    for (int j = 0; j < st.n_tensors && !rc; j++) {
        const char* n = st.tensors[j].name;
        if (used[j] || !strncmp(n, "pooler.", 7) || !strncmp(n, "vit.pooler.", 11)) continue;
        rc = fl_fail(err, "%s: tensor '%s' is not part of the model (%s): a checkpoint of another shape?",
                     src.file, n, m->desc);
    }
    if (!rc && head_init) fl_vit_init_linear_host(m, Lh, seed, host);
done:
    if (!rc) {
        fl_params_upload(P, host);
        fl_model_refresh_sigma(m);
        if (head_initialised) *head_initialised = head_init;
    }
    free(host);
    free(used);
    fl_st_close(&st);
    return rc;
}

// The architecture from the tensors alone (heads = dim / 64 unless given).
static int cfg_from_tensors(const fl_safetensors* st, const char* path, int heads, fl_vit_cfg* c,
                            int* has_head, fl_err* err) {
    const char* prefix = fl_st_find(st, "vit.embeddings.cls_token") ? "vit." : "";
    char name[160];
    snprintf(name, sizeof name, "%sembeddings.patch_embeddings.projection.weight", prefix);
    const fl_st_tensor* pw = fl_st_find(st, name);
    snprintf(name, sizeof name, "%sembeddings.position_embeddings", prefix);
    const fl_st_tensor* pos = fl_st_find(st, name);
    snprintf(name, sizeof name, "%sencoder.layer.0.intermediate.dense.weight", prefix);
    const fl_st_tensor* fc1 = fl_st_find(st, name);
    if (!pw || pw->ndim != 4 || pw->shape[2] != pw->shape[3] || !pos || pos->ndim != 3 || !fc1 || fc1->ndim != 2)
        return fl_fail(err, "%s: cannot tell the ViT architecture: expected a Conv2d patch embedding (D, C, P, P), "
                            "position embeddings (1, T, D) and encoder.layer.0.intermediate.dense.weight", path);
    c->dim = (int)pw->shape[0];
    c->channels = (int)pw->shape[1];
    c->patch = (int)pw->shape[2];
    long grid = (long)pos->shape[1] - 1;
    long side = lround(sqrt((double)grid));
    if (side * side != grid || grid < 1)
        return fl_fail(err, "%s: %lld position embeddings is not a square grid plus CLS", path, (long long)pos->shape[1]);
    c->image_h = c->image_w = (int)side * c->patch;
    c->mlp = (int)fc1->shape[0];
    int depth = 0;
    size_t pl = strlen(prefix);
    for (int i = 0; i < st->n_tensors; i++) {
        const char* n = st->tensors[i].name;
        if (strncmp(n, prefix, pl) || strncmp(n + pl, "encoder.layer.", 14)) continue;
        int k = atoi(n + pl + 14);
        if (k + 1 > depth) depth = k + 1;
    }
    c->depth = depth;
    if (heads > 0) c->heads = heads;
    else if (c->dim % 64 == 0) c->heads = c->dim / 64;
    else return fl_fail(err, "%s: no config.json, and dim %d is not a multiple of 64: give the number of heads (--heads)", path, c->dim);
    const fl_st_tensor* hw = fl_st_find(st, "classifier.weight");
    if (!hw) hw = fl_st_find(st, "head.weight");
    *has_head = hw && hw->ndim == 2;
    c->classes = *has_head ? (int)hw->shape[0] : 1;
    c->eps = 1e-12f;
    return 0;
}

fl_model* fl_vit_from_weights(const fl_ops* ops, const char* path, int heads_override,
                              int* has_head, fl_err* err) {
    vit_source src;
    if (resolve_source(path, &src, err)) return NULL;
    fl_safetensors st;
    if (fl_st_open(&st, src.file, err)) return NULL;
    fl_vit_cfg c = {0};
    int head = 0;
    fl_model* m = NULL;
    const fl_st_tensor* hw = fl_st_find(&st, "classifier.weight");
    if (!hw) hw = fl_st_find(&st, "head.weight");
    const char* meta_model = fl_st_meta_get(&st, "model");
    if (src.config[0]) {
        fl_vit_hfconfig hc;
        if (fl_vit_hfconfig_read(src.config, &hc, err)) goto done;
        c = (fl_vit_cfg){.image_h = hc.image_size, .image_w = hc.image_size, .channels = hc.num_channels,
                         .patch = hc.patch_size, .dim = hc.hidden_size, .depth = hc.num_hidden_layers,
                         .heads = hc.num_attention_heads, .mlp = hc.intermediate_size,
                         .eps = hc.layer_norm_eps, .eps_given = 1};
        if (heads_override > 0 && heads_override != c.heads) {
            fl_fail(err, "--heads %d: %s says num_attention_heads %d", heads_override, src.config, c.heads);
            goto done;
        }
        head = hw && hw->ndim == 2;
        c.classes = hc.num_labels > 0 ? hc.num_labels : head ? (int)hw->shape[0] : 1;
        m = fl_vit_new(ops, &c, err);
    } else if (meta_model && !strncmp(meta_model, "vit:", 4)) {
        m = fl_vit_from_spec(ops, meta_model, 0, 0, 0, 0, err);
        head = hw != NULL;
        if (m && heads_override > 0 && heads_override != fl_vit_config(m)->heads) {
            fl_fail(err, "--heads %d: %s was saved with heads=%d", heads_override, src.file, fl_vit_config(m)->heads);
            fl_model_free(m);
            m = NULL;
        }
    } else {
        if (cfg_from_tensors(&st, src.file, heads_override, &c, &head, err)) goto done;
        m = fl_vit_new(ops, &c, err);
    }
done:
    fl_st_close(&st);
    if (has_head) *has_head = head;
    return m;
}
