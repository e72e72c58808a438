// train.h: one training run, start to finish: data, model, estimator, optimiser, evaluation,
// and one results row per epoch. Used by `flbench train` and by every sweep cell.
#pragma once
#include <stdint.h>
#include "../../impl/core/common.h"
#include "../../impl/estimators/estimator.h"
#include "../../impl/allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_train_cfg {
    // data
    char dataset[64];          // fashion-mnist, cifar10, ...
    char data_root[512];       // "" = the dataset's default location
    int shots;                 // k-shot training split; 0 = the full training set
    int class_lo, class_hi;    // keep only these classes (relabelled from 0); -1 = all
    int val_per_class;         // > 0: hold these out of the training split and evaluate on them
    int image_size;            // resize images to this (0 = native)
    float label_noise;         // fraction of the training split given a wrong label (0 = none)
    // model
    char model[128];           // mlp, mlp:784-256-256-10, vit-tiny, vit-b16, ...
    char act[8];               // mlp activation: relu | gelu
    char weights[512];         // initial weights (safetensors file or HF directory), "" = random
    char save[512];            // write the final parameters here (safetensors), "" = no
    int save_every;            // also save every this many epochs (0 = only at the end)
    int checkpoint;            // FL_CKPT_NONE | FL_CKPT_BLOCK: BP activation checkpointing (model.h)
    // black-box prompt tuning (prompt_len > 0; docs/METHOD.md, "Prompt tuning"): the model
    // trained is z of the prompt A z, seen through a black box's losses
    int prompt_len;            // P prompt tokens after CLS; 0 = train the model itself
    int intrinsic_dim;         // d, the dimension of z (default 1000)
    float projection_scale;    // A's entries are N(0, scale^2 / d) (default 1)
    char blackbox[512];        // command of an external black box; "" = the built-in ViT of --model
    float blackbox_timeout;    // seconds an answer may take before the box is killed (0 = no limit)
    int early_stop;            // stop after this many evaluations without a lower validation loss,
                               // keeping the best epoch's parameters (0 = off; needs --val-per-class)
    // estimator
    char method[16];           // bp | mezo | lr
    char allocator[32];        // uniform | flops | neyman | oracle | bernoulli | loss
    char scope[64];            // lr scope
    fl_est_opts eo;
    fl_alloc_opts ao;
    // optimisation
    int batch, epochs;
    long max_steps;            // stop after this many steps (0 = no limit)
    float lr, weight_decay, clip, momentum, gamma;
    int step_size;             // StepLR epochs per decay (0 = constant)
    char optim[8];             // adam | sgd
    uint64_t seed;
    // running
    char backend[8];           // cpu | cuda
    int eval_batch;
    int eval_every;            // evaluate every this many epochs (the last one always)
    int eval_initial;          // also write an epoch-0 row before training
    int slices;                // data parallelism: slices per batch (>= the world size; docs/SCALING.md)
    int progress;              // -1 auto (terminal only), 0 off, 1 on
    char out[512];             // results CSV ("" = none)
    char cell_key[256];        // "" = train:<hash of config>
    char alloc_log[512];       // per-datum allocation log CSV ("" = none): step,epoch,datum,n,proxy,loss,oracle
    int alloc_log_every;       // log every this many steps (0 or 1 = every step)
    // benchmark-only: gradient variance along the run, every track_every steps (track.h);
    // it leaves the run itself unchanged
    int track_every;           // 0 = off
    int track_reps;            // estimates per side and tracked step (0 = 20)
    int track_budget;          // budget of the tracked allocator side (0 = eo.budget)
    char track_out[512];       // "" = out with .csv replaced by .track.csv
    char config_str[2048];     // the command line, for provenance
    int quiet;
} fl_train_cfg;

void fl_train_cfg_default(fl_train_cfg* c);

// The final state of a run.
typedef struct fl_train_result {
    char status[24];           // ok | diverged | failed | missing-data | missing-weights
    double train_loss, test_loss, test_acc;
    long queries, steps;
    double wall_s;
    char message[1024];
    int quiet_error;           // data-parallel: another rank says why the run could not start
    int abort_job;             // data-parallel: failed after start-up, the other ranks wait in a step
} fl_train_result;

// Runs the configuration. Returns 0 when the run finished (status ok or diverged, rows
// written); -1 with err when it could not run (bad option, missing data); a failure row is
// still written to cfg->out when possible, with the status in res.
int fl_train(const fl_train_cfg* cfg, fl_train_result* res, fl_err* err);

#ifdef __cplusplus
}
#endif
