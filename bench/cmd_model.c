// cmd_model.c: `flbench model`: look at ViT weights and run inference with them.
//   flbench model inspect FILE|DIR [--heads H]
//       the configuration (config.json, our checkpoint's metadata, or what the tensors say),
//       every tensor (name, dtype, shape), and whether the weights load into the model
//   flbench model forward --weights FILE|DIR --input X.npy --out LOGITS.npy [--batch N]
//       inference on a float32 array (N, C, H, W) of preprocessed pixels; writes the logits
//       (N, classes), or with --features the final-LayerNorm CLS features (N, dim); a checkpoint
//       without a classifier (the in21k ones) has only features, and refuses without --features
//   An inspect of a file that does not say enough to build the model (a lone safetensors file
//   whose dim is not a multiple of 64) lists its tensors, notes why, and exits 0
//   flbench model export --weights FILE|DIR --hf OUTDIR [--model SPEC]
//       a ViT checkpoint as a Hugging Face model directory (cmd_model_export.c)
// Exit status: 0, or 2 with one line on stderr for bad input.
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include "args.h"
#include "cli.h"
#include "../impl/models/vit.h"
#include "../impl/io/safetensors.h"
#include "../impl/io/hfconfig.h"
#include "../impl/io/npy.h"

static int usage(FILE* out) {
    fprintf(out,
            "usage: flbench model inspect FILE|DIR [--heads H]\n"
            "       flbench model forward --weights FILE|DIR --input X.npy --out OUT.npy [--batch N]\n"
            "                             [--features] [--heads H] [--backend cpu|cuda]\n"
            "       flbench model export --weights FILE|DIR --hf OUTDIR [--model SPEC]\n"
            "FILE is a .safetensors file (Hugging Face names, bare in21k names, or a checkpoint\n"
            "written by flbench train --save); DIR is a Hugging Face model directory (config.json\n"
            "and model.safetensors).\n");
    return out == stderr ? 2 : 0;
}

static void print_shape(int ndim, const int64_t* shape) {
    printf("(");
    for (int d = 0; d < ndim; d++) printf("%s%lld", d ? ", " : "", (long long)shape[d]);
    printf(ndim == 1 ? ",)" : ")");
}

static int cmd_inspect(int argc, char** argv) {
    int heads = 0;
    fl_opt opts[] = {
        {"heads", FL_OPT_INT, &heads, 0, NULL, "attention heads when nothing says (default dim / 64)"},
    };
    char* pos[1];
    int n_pos = 0;
    int rc = fl_parse_opts("model inspect", opts, 1, argc, argv, 3, pos, 1, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "flbench model inspect: expected one FILE or DIR\n");
        return 2;
    }
    const char* path = pos[0];
    fl_err err = {{0}};
    char file[4200], config[4200] = "";
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "flbench model inspect: %s: no such file or directory\n", path);
        return 2;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(file, sizeof file, "%s/model.safetensors", path);
        snprintf(config, sizeof config, "%s/config.json", path);
        if (stat(file, &sb) != 0) {
            fprintf(stderr, "flbench model inspect: %s: directory has no model.safetensors (expected a Hugging Face model directory)\n", path);
            return 2;
        }
        if (stat(config, &sb) != 0) config[0] = 0;
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    if (config[0]) {
        fl_vit_hfconfig hc;
        if (fl_vit_hfconfig_read(config, &hc, &err)) {
            fprintf(stderr, "flbench model inspect: %s\n", err.msg);
            return 2;
        }
        printf("config %s:\n  image_size %d, patch_size %d, num_channels %d, hidden_size %d, num_hidden_layers %d,\n"
               "  num_attention_heads %d, intermediate_size %d, layer_norm_eps %g, hidden_act %s, qkv_bias %s,\n"
               "  num_labels %d%s%s%s\n",
               config, hc.image_size, hc.patch_size, hc.num_channels, hc.hidden_size, hc.num_hidden_layers,
               hc.num_attention_heads, hc.intermediate_size, (double)hc.layer_norm_eps, hc.hidden_act,
               hc.qkv_bias ? "true" : "false", hc.num_labels, hc.num_labels ? "" : " (no head)",
               hc.defaults_used[0] ? "; defaults used: " : "", hc.defaults_used);
    }
    fl_safetensors st;
    if (fl_st_open(&st, file, &err)) {
        fprintf(stderr, "flbench model inspect: %s\n", err.msg);
        return 2;
    }
    const char* names = fl_st_find(&st, "vit.embeddings.cls_token") ? "Hugging Face (vit.* + classifier.*)"
                        : fl_st_meta_get(&st, "format") && !strcmp(fl_st_meta_get(&st, "format"), "flbench")
                            ? "flbench checkpoint"
                            : "bare (in21k: embeddings.*, encoder.layer.N.*, layernorm.*)";
    printf("file %s: %zu bytes, %d tensors, names %s\n", file, st.file_size, st.n_tensors, names);
    for (int i = 0; i < st.n_meta; i++) printf("  metadata %s = %s\n", st.meta[i].key, st.meta[i].value);
    int64_t total = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const fl_st_tensor* t = &st.tensors[i];
        printf("  %-60s %-5s ", t->name, fl_st_dtype_name(t->dtype));
        print_shape(t->ndim, t->shape);
        printf("\n");
        total += t->numel;
    }
    printf("  %lld values in all\n", (long long)total);
    fl_st_close(&st);
    int has_head = 0;
    fl_model* m = fl_vit_from_weights(fl_cpu_ops(), path, heads, &has_head, &err);
    if (!m) {  // the listing stands: a file that says too little (e.g. no heads) is no error
        printf("model: not inferred\n");
        fprintf(stderr, "flbench model inspect: note: %s; the tensors are listed, the load is not checked\n", err.msg);
        return 0;
    }
    size_t n_params = 0;
    for (int i = 0; i < m->params.n; i++)
        if (m->params.t[i].kind != FL_KIND_LOGSIGMA && (has_head || strncmp(m->params.t[i].name, "head.", 5)))
            n_params += m->params.t[i].numel;
    int head_init = 0;
    rc = fl_vit_load_weights(m, path, 0, &head_init, &err);
    if (rc) {
        fprintf(stderr, "flbench model inspect: %s\n", err.msg);
        fl_model_free(m);
        return 2;
    }
    printf("model %s\n  %zu parameters, %d tokens, %s\n  loads: ok\n", m->desc, n_params, m->tokens,
           has_head ? "with a classifier" : "no classifier (model forward --features writes the CLS features)");
    fl_model_free(m);
    return 0;
}

static int cmd_forward(int argc, char** argv) {
    char weights[4096] = "", input[4096] = "", out[4096] = "", backend[16] = "cpu";
    int batch = 64, heads = 0, features = 0;
    fl_opt opts[] = {
        {"weights", FL_OPT_STR, weights, sizeof weights, NULL, "safetensors file or Hugging Face model directory"},
        {"input", FL_OPT_STR, input, sizeof input, NULL, "float32 .npy of shape (N, C, H, W), pixels preprocessed"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "output .npy: logits (N, classes), or features (N, dim)"},
        {"batch", FL_OPT_INT, &batch, 0, NULL, "images per forward (default 64)"},
        {"features", FL_OPT_FLAG, &features, 0, NULL, "write the final-LayerNorm CLS token instead of logits"},
        {"heads", FL_OPT_INT, &heads, 0, NULL, "attention heads when nothing says (default dim / 64)"},
        {"backend", FL_OPT_STR, backend, sizeof backend, NULL, "cpu (default) or cuda"},
    };
    int rc = fl_parse_opts("model forward", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 3, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    const char* missing = !weights[0] ? "--weights" : !input[0] ? "--input" : !out[0] ? "--out" : NULL;
    if (missing) {
        fprintf(stderr, "flbench model forward: %s is required (see --help)\n", missing);
        return 2;
    }
    if (batch < 1) {
        fprintf(stderr, "flbench model forward: --batch %d: expected a positive integer\n", batch);
        return 2;
    }
    fl_err err = {{0}};
    const fl_ops* ops = fl_ops_by_name(backend, &err);
    if (!ops) {
        fprintf(stderr, "flbench model forward: %s\n", err.msg);
        return 2;
    }
    int has_head = 0;
    fl_model* m = fl_vit_from_weights(ops, weights, heads, &has_head, &err);
    if (!m) {
        fprintf(stderr, "flbench model forward: %s\n", err.msg);
        return 2;
    }
    fl_npy x = {0};
    float* y = NULL;
    rc = 2;
    if (fl_vit_load_weights(m, weights, 0, NULL, &err) || fl_npy_read_f32(input, &x, &err)) {
        fprintf(stderr, "flbench model forward: %s\n", err.msg);
        goto done;
    }
    const fl_vit_cfg* c = fl_vit_config(m);
    int64_t want[4] = {-1, c->channels, c->image_h, c->image_w};
    if (fl_npy_check_shape(&x, input, 4, want, &err)) {
        fprintf(stderr, "flbench model forward: %s (the model takes %dx%dx%d images)\n", err.msg, c->channels,
                c->image_h, c->image_w);
        goto done;
    }
    if (x.shape[0] > (1 << 30)) {
        fprintf(stderr, "flbench model forward: %s: %lld images, expected at most 2^30\n", input, (long long)x.shape[0]);
        goto done;
    }
    if (!has_head && !features) {
        fprintf(stderr, "flbench model forward: %s has no classifier, so there are no logits: give --features for the "
                        "final-LayerNorm CLS features\n", weights);
        goto done;
    }
    int n = (int)x.shape[0];
    int feats = features;
    int width = feats ? c->dim : m->n_classes;
    y = fl_malloc(((size_t)n * width + 1) * sizeof(float));
    if (fl_vit_infer(m, x.data, n, batch, feats, y, &err)) {
        fprintf(stderr, "flbench model forward: %s\n", err.msg);
        goto done;
    }
    int64_t shape[2] = {n, width};
    if (fl_npy_write_f32(out, 2, shape, y, &err)) {
        fprintf(stderr, "flbench model forward: %s\n", err.msg);
        goto done;
    }
    fprintf(stderr, "flbench model forward: %d images -> %s (%d, %d) %s\n", n, out, n, width,
            feats ? "features" : "logits");
    rc = 0;
done:
    free(y);
    fl_npy_free(&x);
    fl_model_free(m);
    return rc;
}

int fl_cmd_model(int argc, char** argv) {
    if (argc < 3) return usage(stderr);
    if (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) return usage(stdout);
    if (!strcmp(argv[2], "inspect")) return cmd_inspect(argc, argv);
    if (!strcmp(argv[2], "forward")) return cmd_forward(argc, argv);
    if (!strcmp(argv[2], "export")) return fl_cmd_model_export(argc, argv);
    static const char* const subs[] = {"inspect", "forward", "export"};
    const char* near = NULL;
    int near_d = INT_MAX;
    for (int k = 0; k < 3; k++) fl_suggest(argv[2], strlen(argv[2]), subs[k], &near, &near_d);
    fprintf(stderr, "flbench model: unknown subcommand '%s' (%s%s%sexpected inspect, forward or export)\n", argv[2],
            near ? "did you mean '" : "", near ? near : "", near ? "'? " : "");
    return 2;
}
