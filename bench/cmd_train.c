// cmd_train.c: `flbench train`: one run of one method on one dataset, one CSV row per epoch;
// and the table of train options that every command running training reads (cli.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <omp.h>
#include <cblas.h>
#include "args.h"
#include "cli.h"
#include "run/train.h"
#include "run/track.h"
#include <sys/stat.h>
#include "../impl/models/vit.h"
#include "../impl/io/safetensors.h"
#include "../impl/backend/dist.h"

// Parses "LO-HI" into a class range ("" leaves it unset). Returns 0, or -1 with err.
static int parse_classes(const char* s, int* lo, int* hi, fl_err* err) {
    if (!s[0]) return 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%s", s);
    char* dash = strchr(buf, '-');
    int digits = dash && dash != buf && dash[1];
    for (const char* p = buf; digits && *p; p++) digits = p == dash || (*p >= '0' && *p <= '9');
    long long a = 0, b = 0;
    if (digits) {
        *dash = 0;
        if (fl_parse_integer("--classes", buf, 0, INT_MAX, &a, err) || fl_parse_integer("--classes", dash + 1, 0, INT_MAX, &b, err))
            return -1;
    }
    if (!digits || b < a) return fl_fail(err, "--classes: expected LO-HI with 0 <= LO <= HI, found '%s'", s);
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

// Parses "slope,intercept,length,amplitude" subsets into FL_FLOPS_* bits.
static int parse_freeze(const char* s, unsigned* bits) {
    *bits = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char* tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "slope") || !strcmp(tok, "a")) *bits |= FL_FLOPS_SLOPE;
        else if (!strcmp(tok, "intercept") || !strcmp(tok, "c")) *bits |= FL_FLOPS_INTERCEPT;
        else if (!strcmp(tok, "length") || !strcmp(tok, "l")) *bits |= FL_FLOPS_LENGTH;
        else if (!strcmp(tok, "amplitude") || !strcmp(tok, "v")) *bits |= FL_FLOPS_AMPLITUDE;
        else if (!strcmp(tok, "none")) ;
        else return -1;
    }
    return 0;
}

// The command line for provenance, without the --track-* options: tracking does not change
// the run, so the run's config (and the cell_key hashed from it) is the same with and without.
static void join_run_args(int argc, char** argv, char* out, int size) {
    char** kept = fl_calloc((size_t)argc + 1, sizeof(char*));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--track-", 8)) {
            if (!strchr(argv[i], '=') && strcmp(argv[i], "--track-schema") && i + 1 < argc) i++;
            continue;
        }
        kept[n++] = argv[i];
    }
    fl_join_args(n, kept, out, size);
    free(kept);
}

// What the parser fills besides the configuration: the options that arrive in another form
// (a text to parse further, a choice index, a flag to invert) and the runtime settings.
typedef struct {
    fl_train_cfg* c;
    char classes[32], freeze[128];
    int pairing, baseline, weighting, proxy, feature, fixed_sigma, threads, math, checkpoint;
    int no_progress, progress;
    int track_every, track_schema;
} train_args;

#define TRAIN_MAX_OPTS 96

// The options of `flbench train`, with their targets in a: the one table that `train`, the
// cells and configuration checks of `sweep`, and `variance` all read. Returns its length.
static int train_table(train_args* a, fl_opt* out) {
    fl_train_cfg* c = a->c;
    const fl_opt opts[] = {
        {"dataset", FL_OPT_STR, c->dataset, sizeof c->dataset, NULL, "fashion-mnist (default), cifar10, cifar100, eurosat, caltech101, food101, flowers102, imagenet"},
        {"data-root", FL_OPT_STR, c->data_root, sizeof c->data_root, NULL, "where the dataset lives (default: its standard place)"},
        {"shots", FL_OPT_INT, &c->shots, 0, "0..", "k-shot training split, images per class (0 = full training set)"},
        {"classes", FL_OPT_STR, a->classes, sizeof a->classes, NULL, "keep classes LO-HI only, relabelled from 0 (e.g. 5-9)"},
        {"val-per-class", FL_OPT_INT, &c->val_per_class, 0, "0..", "hold out N images per class of the training split and evaluate on them (for tuning)"},
        {"label-noise", FL_OPT_FLOAT, &c->label_noise, 0, "0..1", "give this fraction of the training split a wrong label, drawn from the seed (default 0)"},
        {"image-size", FL_OPT_INT, &c->image_size, 0, "0..", "resize images to this (0 = the model's default)"},
        {"model", FL_OPT_STR, c->model, sizeof c->model, NULL, "mlp, mlp:784-256-256-10, vit-tiny, vit-b16, vit-l16, vit:... (default mlp)"},
        {"act", FL_OPT_STR, c->act, sizeof c->act, NULL, "MLP activation: relu (default) or gelu"},
        {"weights", FL_OPT_STR, c->weights, sizeof c->weights, NULL, "initial weights: safetensors file or Hugging Face model directory"},
        {"save", FL_OPT_STR, c->save, sizeof c->save, NULL, "write the final parameters to this safetensors file"},
        {"save-every", FL_OPT_INT, &c->save_every, 0, "0..", "also save every N epochs (to SAVE.epochN)"},
        {"prompt-len", FL_OPT_INT, &c->prompt_len, 0, "0..", "black-box prompt tuning: P prompt tokens after CLS, the model frozen behind a black box (0 = train the model; `flbench prompt`: 10)"},
        {"intrinsic-dim", FL_OPT_INT, &c->intrinsic_dim, 0, "1..", "prompt tuning: dimension d of z, the prompt being A z (default 1000)"},
        {"projection-scale", FL_OPT_FLOAT, &c->projection_scale, 0, ">0", "prompt tuning: A's entries are N(0, scale^2/d) (default 1)"},
        {"blackbox", FL_OPT_STR, c->blackbox, sizeof c->blackbox, NULL, "prompt tuning: command of an external black box (docs/BLACKBOX.md; default: the built-in ViT of --model)"},
        {"blackbox-timeout", FL_OPT_FLOAT, &c->blackbox_timeout, 0, "0..", "prompt tuning: seconds an answer may take before the box is killed (default 60; 0 = no limit)"},
        {"early-stop", FL_OPT_INT, &c->early_stop, 0, "0..", "stop after N evaluations without a lower validation loss, ending with the best epoch's parameters (0 = off; needs --val-per-class)"},
        {"method", FL_OPT_STR, c->method, sizeof c->method, NULL, "bp, mezo or lr (default lr)"},
        {"checkpoint", FL_OPT_CHOICE, &a->checkpoint, 0, "none|block", "bp: keep only each block's input and recompute the block in the backward (default none)"},
        {"allocator", FL_OPT_STR, c->allocator, sizeof c->allocator, NULL, "uniform (default), flops, neyman, oracle, bernoulli, loss"},
        {"budget", FL_OPT_INT, &c->eo.budget, 0, "1..", "network queries per datum per step, all kinds but oracle: perturbed, clean, pilot (default 8)"},
        {"batch", FL_OPT_INT, &c->batch, 0, "1..", "batch size (default 64)"},
        {"epochs", FL_OPT_INT, &c->epochs, 0, "0..", "epochs (default 1; 0: only evaluate the initial model and write its epoch-0 row)"},
        {"max-steps", FL_OPT_LONG, &c->max_steps, 0, "0..", "stop after this many steps (0 = no limit)"},
        {"lr", FL_OPT_FLOAT, &c->lr, 0, ">0", "learning rate (default 1e-3)"},
        {"optim", FL_OPT_STR, c->optim, sizeof c->optim, NULL, "adam (default; 0.9, 0.999, 1e-8) or sgd"},
        {"momentum", FL_OPT_FLOAT, &c->momentum, 0, "0..1", "SGD momentum (default 0)"},
        {"weight-decay", FL_OPT_FLOAT, &c->weight_decay, 0, "0..", "decoupled weight decay on weights (default 0)"},
        {"clip", FL_OPT_FLOAT, &c->clip, 0, "0..", "clip the gradient estimate to this global norm (0 = off)"},
        {"step-size", FL_OPT_INT, &c->step_size, 0, "0..", "StepLR: epochs per decay (default 2; 0 = constant)"},
        {"gamma", FL_OPT_FLOAT, &c->gamma, 0, ">0", "StepLR decay factor (default 0.95)"},
        {"seed", FL_OPT_U64, &c->seed, 0, NULL, "seed of init, split, batches and noise (default 0)"},
        {"scope", FL_OPT_STR, c->scope, sizeof c->scope, NULL, "lr: perturbed layers: all (default), head, attn:last:K, mlp:last:K, layers:I,J"},
        {"pairs", FL_OPT_CHOICE, &a->pairing, 0, "same|cross|none", "antithetic pairs: same datum (default), cross (authors' cross-datum), none"},
        {"baseline", FL_OPT_CHOICE, &a->baseline, 0, "clean|mean|none", "lr baseline (default clean: one noise-free pass, B queries)"},
        {"weighting", FL_OPT_CHOICE, &a->weighting, 0, "unbiased|equal-row", "row weights: 1/(B n_i) (default) or the authors' 1/N"},
        {"proxy", FL_OPT_CHOICE, &a->proxy, 0, "prev|pilot", "proxy variance from the previous visit (default) or a pilot"},
        {"proxy-ema", FL_OPT_FLOAT, &c->eo.proxy_ema, 0, ">0..1", "weight of the newest visit in the proxy table's moving average (default 0.3; 1 = last visit only)"},
        {"sigma", FL_OPT_FLOAT, &c->eo.sigma0, 0, ">0", "lr initial noise std (default 1e-3)"},
        {"fixed-sigma", FL_OPT_FLAG, &a->fixed_sigma, 0, NULL, "lr: do not learn sigma"},
        {"mu", FL_OPT_FLOAT, &c->eo.mu, 0, ">0", "mezo perturbation scale (default 1e-3)"},
        {"oracle-queries", FL_OPT_INT, &c->eo.oracle_queries, 0, "2..", "extra queries per datum the oracle allocator spends (default 64)"},
        {"max-rows", FL_OPT_INT, &c->eo.max_rows, 0, "0..", "query rows per chunk (0 = sized from free memory)"},
        {"flops-feature", FL_OPT_CHOICE, &a->feature, 0, "proxy|loss", "flops allocator feature (default proxy)"},
        {"flops-freeze", FL_OPT_STR, a->freeze, sizeof a->freeze, NULL, "flops: freeze parameters, e.g. slope,length (of slope,intercept,length,amplitude)"},
        {"flops-mc", FL_OPT_INT, &c->ao.flops_mc, 0, "2..", "flops: Monte Carlo samples per training iteration (default 8)"},
        {"flops-iters", FL_OPT_INT, &c->ao.flops_iters, 0, "0..", "flops: training iterations per batch (default 4)"},
        {"flops-lr", FL_OPT_FLOAT, &c->ao.flops_lr, 0, "0..", "flops: Adam learning rate of its parameters (default 0.05)"},
        {"flops-sample", FL_OPT_FLAG, &c->ao.flops_sample, 0, NULL, "flops: allocate from a sample instead of the mean"},
        {"bernoulli-p0", FL_OPT_FLOAT, &c->ao.bernoulli_p0, 0, "0..1", "bernoulli: halving probability in epoch 0 (default 0.3)"},
        {"bernoulli-p", FL_OPT_FLOAT, &c->ao.bernoulli_p, 0, "0..1", "bernoulli: halving probability later (default 0.01)"},
        {"backend", FL_OPT_STR, c->backend, sizeof c->backend, NULL, "cpu (default) or cuda"},
        {"math", FL_OPT_CHOICE, &a->math, 0, "fp32|tf32", "cuda GEMM precision: fp32 (default) or tf32 (tensor cores)"},
        {"threads", FL_OPT_INT, &a->threads, 0, "1..1024", "CPU threads (default: all)"},
        {"slices", FL_OPT_INT, &c->slices, 0, "1..", "data parallelism: cut each batch into S slices, at least the ranks of mpirun or srun; the numbers depend on S, never on the ranks (default 1; docs/SCALING.md)"},
        {"eval-batch", FL_OPT_INT, &c->eval_batch, 0, "1..", "evaluation batch size (default 500)"},
        {"eval-every", FL_OPT_INT, &c->eval_every, 0, "0..", "evaluate every N epochs (the last always; 0: only the last; default 1)"},
        {"eval-initial", FL_OPT_FLAG, &c->eval_initial, 0, NULL, "also evaluate and write a row before training (epoch 0)"},
        {"out", FL_OPT_STR, c->out, sizeof c->out, NULL, "append one row per epoch to this CSV (schema: results/SCHEMA.md)"},
        {"cell-key", FL_OPT_STR, c->cell_key, sizeof c->cell_key, NULL, "identity written in the cell_key column"},
        {"alloc-log", FL_OPT_STR, c->alloc_log, sizeof c->alloc_log, NULL, "write each step's per-datum allocation to this CSV (step,epoch,datum,n,proxy,loss,oracle)"},
        {"alloc-log-every", FL_OPT_INT, &c->alloc_log_every, 0, "0..", "with --alloc-log: log every N-th step (default 1)"},
        {"track-variance", FL_OPT_INT, &a->track_every, 0, NULL, "every N steps, measure the allocator's gradient variance against uniform's on the step's batch (benchmark-only; the run is unchanged)"},
        {"track-reps", FL_OPT_INT, &c->track_reps, 0, NULL, "with --track-variance: estimates per side and tracked step (default 20)"},
        {"track-out", FL_OPT_STR, c->track_out, sizeof c->track_out, NULL, "with --track-variance: its CSV (default: --out with .csv replaced by .track.csv; results/SCHEMA_TRACK.md)"},
        {"track-budget", FL_OPT_INT, &c->track_budget, 0, NULL, "with --track-variance: budget of the tracked allocator's side (default --budget; another value is a control)"},
        {"track-schema", FL_OPT_FLAG, &a->track_schema, 0, NULL, "print the tracking CSV schema (results/SCHEMA_TRACK.md) and exit"},
        {"progress", FL_OPT_FLAG, &a->progress, 0, NULL, "show a progress line even when stderr is not a terminal"},
        {"no-progress", FL_OPT_FLAG, &a->no_progress, 0, NULL, "never show a progress line"},
        {"quiet", FL_OPT_FLAG, &c->quiet, 0, NULL, "print nothing but errors"},
    };
    int n = (int)(sizeof opts / sizeof opts[0]);
    _Static_assert(sizeof opts / sizeof opts[0] <= TRAIN_MAX_OPTS, "TRAIN_MAX_OPTS is too small");
    memcpy(out, opts, sizeof opts);
    return n;
}

int fl_train_option_kind(const char* name) {
    if (!strcmp(name, "track-schema")) return -1;  // prints and exits: no option of a run
    fl_train_cfg c;
    train_args a = {.c = &c};
    fl_opt opts[TRAIN_MAX_OPTS];
    const fl_opt* o = fl_find_opt(opts, train_table(&a, opts), name);
    return !o ? -1 : o->type == FL_OPT_FLAG ? 1 : 0;
}

// fl_train_parse and fl_train_parse_err. echo: print --help's table and the tracking schema
// (the quiet form only returns 1 for them).
static int train_parse(fl_train_cfg* c, fl_train_runtime* rt, const char* cmd, int argc, char** argv, int first,
                       int echo, fl_err* err) {
    fl_train_cfg_default(c);
    c->step_size = 2;     // StepLR(step 2, gamma 0.95), the authors' schedule
    c->gamma = 0.95f;
    train_args a = {.c = c};
    a.track_every = INT_MIN;  // not given (the parser never yields it)
    c->track_reps = 20;
    fl_opt opts[TRAIN_MAX_OPTS];
    int n_opts = train_table(&a, opts);
    int rc = fl_parse_opts_err(cmd, opts, n_opts, argc, argv, first, NULL, 0, NULL, err);
    if (rc == 1 && echo) fl_print_opts(cmd, opts, n_opts);
    if (rc) return rc;
    if (a.track_schema) {
        if (echo) fl_track_schema_markdown(stdout);
        return 1;
    }
    if (a.track_every != INT_MIN && a.track_every < 1) {
        fl_fail(err, "--track-variance: expected a positive step interval, found %d", a.track_every);
        return 2;
    }
    c->track_every = a.track_every == INT_MIN ? 0 : a.track_every;
    if (c->track_reps < 2) {
        fl_fail(err, "--track-reps: need at least 2 estimates per side, found %d", c->track_reps);
        return 2;
    }
    if (c->track_budget < 0) {
        fl_fail(err, "--track-budget: expected a positive budget, found %d", c->track_budget);
        return 2;
    }
    if (parse_classes(a.classes, &c->class_lo, &c->class_hi, err)) return 2;
    if (a.freeze[0] && parse_freeze(a.freeze, &c->ao.flops_freeze)) {
        fl_fail(err, "--flops-freeze: expected a comma-separated subset of slope,intercept,length,amplitude, found '%s'", a.freeze);
        return 2;
    }
    c->checkpoint = a.checkpoint ? FL_CKPT_BLOCK : FL_CKPT_NONE;
    c->eo.pairing = (fl_pairing)a.pairing;
    c->eo.baseline = (fl_baseline)a.baseline;
    c->eo.weighting = (fl_weighting)a.weighting;
    c->eo.proxy = (fl_proxy_source)a.proxy;
    c->eo.learn_sigma = !a.fixed_sigma;
    c->ao.flops_feature_loss = a.feature;
    c->progress = a.progress ? 1 : a.no_progress ? 0 : -1;
    if (rt) {
        rt->threads = a.threads;
        rt->tf32 = a.math == 1;
    }
    join_run_args(argc, argv, c->config_str, sizeof c->config_str);
    return 0;
}

int fl_train_parse_err(fl_train_cfg* c, fl_train_runtime* rt, const char* cmd, int argc, char** argv, int first,
                       fl_err* err) {
    return train_parse(c, rt, cmd, argc, argv, first, 0, err);
}

int fl_train_parse(fl_train_cfg* c, fl_train_runtime* rt, const char* cmd, int argc, char** argv, int first) {
    fl_err err = {{0}};
    int rc = train_parse(c, rt, cmd, argc, argv, first, 1, &err);
    if (rc == 2) fprintf(stderr, "flbench %s: %s\n", cmd, err.msg);
    return rc;
}

void fl_train_apply_runtime(const fl_train_runtime* rt) {
    if (rt->threads > 0) {
        omp_set_num_threads(rt->threads);
        openblas_set_num_threads(rt->threads);
    }
    fl_cuda_set_math(rt->tf32);
}

// Whether argv[first..) gives --NAME (as "--NAME V" or "--NAME=V").
static int has_option(int argc, char** argv, int first, const char* name) {
    size_t n = strlen(name);
    for (int i = first; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n) && (argv[i][2 + n] == 0 || argv[i][2 + n] == '='))
            return 1;
    return 0;
}

// --weights without --model: the model is the ViT the weights describe (a model directory's
// config.json, or the "model" metadata of a checkpoint of train --save), as for model
// forward; its classes come from the data, and a head of another size (or none) is
// initialised from the seed. Other weights keep the default model.
static int model_from_weights(fl_train_cfg* c, int argc, char** argv, fl_err* err) {
    if (has_option(argc, argv, 2, "model")) return 0;
    struct stat sb;
    if (!c->weights[0] || stat(c->weights, &sb) != 0) return 0;  // the load reports a missing file
    if (!S_ISDIR(sb.st_mode)) {
        fl_safetensors st;
        fl_err ignored = {{0}};
        if (fl_st_open(&st, c->weights, &ignored)) return 0;  // the load reports a bad file
        const char* meta = fl_st_meta_get(&st, "model");
        int vit = meta && !strncmp(meta, "vit:", 4);
        fl_st_close(&st);
        if (!vit) return 0;
    }
    fl_model* m = fl_vit_from_weights(fl_cpu_ops(), c->weights, 0, NULL, err);
    if (!m) return -1;
    const fl_vit_cfg* v = fl_vit_config(m);
    char eps[32];  // the shortest decimal that reads back as the same float
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(eps, sizeof eps, "%.*g", prec, (double)v->eps);
        if (strtof(eps, NULL) == v->eps) break;
    }
    snprintf(c->model, sizeof c->model, "vit:image=%dx%d,channels=%d,patch=%d,dim=%d,depth=%d,heads=%d,mlp=%d,eps=%s",
             v->image_h, v->image_w, v->channels, v->patch, v->dim, v->depth, v->heads, v->mlp, eps);
    fl_model_free(m);
    return 0;
}

// A line of a failed run: in a data-parallel run, which rank says it (dist.h).
static void say(const char* cmd, const fl_dist* d, const char* what, const char* msg) {
    if (d->size > 1) fprintf(stderr, "flbench %s: rank %d of %d: %s%s\n", cmd, d->rank, d->size, what, msg);
    else fprintf(stderr, "flbench %s: %s%s\n", cmd, what, msg);
}

// `flbench train`, and `flbench prompt` (prompt = 1): train's run with --prompt-len 10 unless
// given, which must then be at least 1.
static int run_command(const char* cmd, int prompt, int argc, char** argv) {
    // under mpirun or srun, one rank of a data-parallel run (docs/SCALING.md); the options are
    // the same on every rank, so only rank 0 says what is wrong with them
    fl_dist* d = fl_dist_world();
    fl_train_cfg cfg;
    fl_train_runtime rt;
    fl_err err = {{0}};
    int rc = d->rank == 0 ? fl_train_parse(&cfg, &rt, cmd, argc, argv, 2)
                          : fl_train_parse_err(&cfg, &rt, cmd, argc, argv, 2, &err);
    if (rc) {
        fl_dist_finalize();
        return rc == 1 ? 0 : rc;
    }
    if (prompt && !has_option(argc, argv, 2, "prompt-len")) cfg.prompt_len = 10;
    if (prompt && cfg.prompt_len < 1) {
        if (d->rank == 0) fprintf(stderr, "flbench %s: --prompt-len: expected at least 1 prompt token, found %d\n", cmd, cfg.prompt_len);
        fl_dist_finalize();
        return 2;
    }
    if (model_from_weights(&cfg, argc, argv, &err)) {
        if (d->rank == 0) fprintf(stderr, "flbench %s: %s\n", cmd, err.msg);
        fl_dist_finalize();
        return 2;
    }
    fl_train_apply_runtime(&rt);
    fl_train_result res;
    rc = 0;
    if (fl_train(&cfg, &res, &err)) {
        if (!res.quiet_error) say(cmd, d, "", err.msg);
        if (res.abort_job) fl_dist_abort(2);
        rc = 2;
    } else if (strcmp(res.status, "ok") != 0) {
        char line[1100];
        snprintf(line, sizeof line, "%s: %s", res.status, res.message);
        if (d->rank == 0) say(cmd, d, "run ", line);
        rc = 3;
    }
    fl_dist_finalize();
    return rc;
}

int fl_cmd_train(int argc, char** argv) { return run_command("train", 0, argc, argv); }

// `flbench prompt`: black-box prompt tuning (docs/METHOD.md, "Prompt tuning"; docs/BLACKBOX.md).
int fl_cmd_prompt(int argc, char** argv) { return run_command("prompt", 1, argc, argv); }
