// cmd_model_export.c: `flbench model export --weights FILE|DIR --hf DIR [--model SPEC]`: a ViT
// checkpoint as a Hugging Face model directory that transformers' ViTForImageClassification
// loads as it is (docs/DESIGN.md, principle 4): DIR/config.json, DIR/model.safetensors with
// the "vit."-prefixed names, classifier.* for head.* and the patch embedding as the Conv2d
// (D, C, P, P), and DIR/flbench_extra.safetensors with the LR noise scales (*.log_sigma under
// their flbench names), which transformers never reads. The inverse of the name mapping of
// impl/models/vit_hf.c. The model comes from the source (its config.json, or the "model"
// metadata that train --save writes); --model for older checkpoints without it. A source
// without a classifier is written as a ViTModel; one without noise scales (a Hugging Face
// source) gets no extra file. An MLP checkpoint has no Hugging Face equivalent: refused.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "args.h"
#include "cli.h"
#include "../impl/models/vit.h"
#include "../impl/io/safetensors.h"
#include "../impl/io/iofile.h"

// config.json for transformers' ViTConfig (the keys impl/io/hfconfig.c reads, plus the head).
static int write_config(const char* path, const fl_vit_cfg* c, int classes, fl_err* err) {
    char eps[32];  // the shortest decimal that reads back as the same float
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(eps, sizeof eps, "%.*g", prec, (double)c->eps);
        if (strtof(eps, NULL) == c->eps) break;
    }
    size_t cap = 4096 + (size_t)classes * 48;
    char* s = fl_malloc(cap);
    size_t n = (size_t)snprintf(s, cap,
        "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"vit\",\n"
        "  \"image_size\": %d,\n  \"patch_size\": %d,\n  \"num_channels\": %d,\n  \"hidden_size\": %d,\n"
        "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"intermediate_size\": %d,\n"
        "  \"hidden_act\": \"gelu\",\n  \"layer_norm_eps\": %s,\n  \"qkv_bias\": true,\n"
        "  \"hidden_dropout_prob\": 0.0,\n  \"attention_probs_dropout_prob\": 0.0,\n"
        "  \"initializer_range\": 0.02,\n  \"encoder_stride\": %d",
        classes ? "ViTForImageClassification" : "ViTModel", c->image_h, c->patch, c->channels, c->dim,
        c->depth, c->heads, c->mlp, eps, c->patch);
    if (classes) {
        n += (size_t)snprintf(s + n, cap - n, ",\n  \"id2label\": {");
        for (int k = 0; k < classes; k++)
            n += (size_t)snprintf(s + n, cap - n, "%s\"%d\": \"LABEL_%d\"", k ? ", " : "", k, k);
        n += (size_t)snprintf(s + n, cap - n, "},\n  \"label2id\": {");
        for (int k = 0; k < classes; k++)
            n += (size_t)snprintf(s + n, cap - n, "%s\"LABEL_%d\": %d", k ? ", " : "", k, k);
        n += (size_t)snprintf(s + n, cap - n, "}");
    }
    n += (size_t)snprintf(s + n, cap - n, "\n}\n");
    fl_atomic_file af;
    int rc = fl_atomic_open(&af, path, err) || fl_atomic_write(&af, s, n, err) || fl_atomic_commit(&af, err) ? -1 : 0;
    free(s);
    return rc;
}

// The model of the source: --model, or what the source says (refusing an MLP checkpoint).
static fl_model* export_model(const char* weights, const char* spec, int* has_head, fl_err* err) {
    fl_safetensors st = {0};
    const char* meta = NULL;
    struct stat sb;
    int is_file = stat(weights, &sb) == 0 && S_ISREG(sb.st_mode);
    if (is_file) {
        if (fl_st_open(&st, weights, err)) return NULL;
        meta = fl_st_meta_get(&st, "model");
    }
    fl_model* m = NULL;
    const char* mlp = spec[0] ? (!strncmp(spec, "mlp", 3) ? spec : NULL) : meta && !strncmp(meta, "mlp", 3) ? meta : NULL;
    if (mlp) {
        fl_fail(err, "--weights %s: the model is %s; only ViT checkpoints can be exported (an MLP has no Hugging Face "
                     "equivalent)", weights, mlp);
    } else if (spec[0]) {
        const fl_st_tensor* hw = is_file ? fl_st_find(&st, "head.weight") : NULL;
        if (is_file && !hw) hw = fl_st_find(&st, "classifier.weight");
        m = fl_vit_from_spec(fl_cpu_ops(), spec, 0, 0, 0, hw && hw->ndim == 2 ? (int)hw->shape[0] : 0, err);
        if (m && !fl_vit_is(m)) {
            fl_fail(err, "--model %s: expected a ViT specification (vit-tiny, vit-b16, vit:...)", spec);
            fl_model_free(m);
            m = NULL;
        }
        *has_head = hw != NULL;
    } else {
        m = fl_vit_from_weights(fl_cpu_ops(), weights, 0, has_head, err);
        if (!m && is_file && !meta) {  // an older checkpoint that does not record its model
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, " (a checkpoint without \"model\" metadata: give --model)");
        }
    }
    fl_st_close(&st);
    return m;
}

int fl_cmd_model_export(int argc, char** argv) {
    char weights[4096] = "", hf[4096] = "", spec[512] = "";
    fl_opt opts[] = {
        {"weights", FL_OPT_STR, weights, sizeof weights, NULL, "ViT checkpoint: safetensors file or model directory"},
        {"hf", FL_OPT_STR, hf, sizeof hf, NULL, "output directory (created when missing)"},
        {"model", FL_OPT_STR, spec, sizeof spec, NULL, "the model, for checkpoints that do not record it (vit:...)"},
    };
    int rc = fl_parse_opts("model export", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 3, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    const char* missing = !weights[0] ? "--weights" : !hf[0] ? "--hf" : NULL;
    if (missing) {
        fprintf(stderr, "flbench model export: %s is required (see --help)\n", missing);
        return 2;
    }
    fl_err err = {{0}};
    int has_head = 0;
    fl_model* m = export_model(weights, spec, &has_head, &err);
    if (!m || fl_vit_load_weights(m, weights, 0, NULL, &err)) {
        fprintf(stderr, "flbench model export: %s\n", err.msg);
        fl_model_free(m);
        return 2;
    }
    const fl_vit_cfg* c = fl_vit_config(m);
    if (c->image_h != c->image_w) {
        fprintf(stderr, "flbench model export: the model (%s) takes %dx%d images; a Hugging Face ViT's are square\n",
                m->desc, c->image_h, c->image_w);
        fl_model_free(m);
        return 2;
    }
    if (mkdir(hf, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "flbench model export: --hf %s: cannot create the directory (%s)\n", hf, strerror(errno));
        fl_model_free(m);
        return 2;
    }
    // the noise scales the source holds (a Hugging Face source has none: nothing to keep)
    char src[4200];
    struct stat sb;
    snprintf(src, sizeof src, stat(weights, &sb) == 0 && S_ISDIR(sb.st_mode) ? "%s/model.safetensors" : "%s", weights);
    fl_safetensors st;
    if (fl_st_open(&st, src, &err)) {
        fprintf(stderr, "flbench model export: %s\n", err.msg);
        fl_model_free(m);
        return 2;
    }
    const fl_params* P = &m->params;
    float* host = fl_malloc(P->total * sizeof(float));
    fl_params_download(P, host);
    fl_st_entry* ent = fl_calloc((size_t)P->n, sizeof(fl_st_entry));
    fl_st_entry* extra = fl_calloc((size_t)P->n, sizeof(fl_st_entry));
    char (*names)[112] = fl_calloc((size_t)P->n, sizeof *names);
    int64_t* shapes = fl_calloc((size_t)P->n * FL_MAX_DIMS, sizeof(int64_t));
    int n_ent = 0, n_extra = 0, embed_w = fl_params_find(P, "embeddings.patch_embeddings.projection.weight");
    for (int i = 0; i < P->n; i++) {
        const fl_tensor* t = &P->t[i];
        int64_t* sh = &shapes[i * FL_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) sh[d] = t->shape[d];
        fl_st_entry e = {.name = names[i], .ndim = t->ndim, .shape = sh, .data = host + t->offset};
        int is_head = !strncmp(t->name, "head.", 5);
        if (t->kind == FL_KIND_LOGSIGMA) {  // the noise scales, under their own names
            e.name = (char*)t->name;
            if (fl_st_find(&st, t->name)) extra[n_extra++] = e;
            continue;
        }
        if (is_head && !has_head) continue;  // the placeholder head of a headless source
        if (is_head) snprintf(names[i], sizeof names[i], "classifier.%s", t->name + 5);
        else snprintf(names[i], sizeof names[i], "vit.%s", t->name);
        if (i == embed_w) {  // (D, C*P*P) is the Conv2d weight (D, C, P, P), the same bytes
            e.ndim = 4;
            sh[1] = c->channels;
            sh[2] = sh[3] = c->patch;
        }
        ent[n_ent++] = e;
    }
    fl_st_close(&st);
    char path[4200];
    fl_st_meta meta[2] = {{(char*)"format", (char*)"pt"}, {(char*)"flbench_model", (char*)m->desc}};
    snprintf(path, sizeof path, "%s/model.safetensors", hf);
    rc = fl_st_write_f32(path, ent, n_ent, meta, 2, &err);
    snprintf(path, sizeof path, "%s/flbench_extra.safetensors", hf);
    if (!rc && n_extra) rc = fl_st_write_f32(path, extra, n_extra, meta + 1, 1, &err);
    else if (!rc) remove(path);  // not one left from an earlier export into DIR
    if (!rc) {
        snprintf(path, sizeof path, "%s/config.json", hf);
        rc = write_config(path, c, has_head ? m->n_classes : 0, &err);
    }
    if (rc) fprintf(stderr, "flbench model export: %s\n", err.msg);
    else fprintf(stderr, "flbench model export: %s -> %s (config.json, model.safetensors: %d tensors%s)\n", weights, hf,
                 n_ent, n_extra ? ", flbench_extra.safetensors: the noise scales" : "");
    free(shapes);
    free(names);
    free(extra);
    free(ent);
    free(host);
    fl_model_free(m);
    return rc ? 2 : 0;
}
