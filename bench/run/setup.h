// setup.h: what every run command shares before its own work starts: the backend, the data
// (class range, k-shot training split, evaluation split) and the model (initialised, weights
// loaded, LR scope set). Used by train (train.c) and variance (variance.c).
#pragma once
#include "train.h"
#include "../../impl/models/model.h"
#include "../../datasets/dataset.h"

typedef struct fl_setup {
    const fl_ops* ops;
    fl_images train, test;
    int64_t* tr_idx;           // (n_tr) training split: indices into train
    int64_t n_tr;
    int64_t* ev_idx;           // (n_ev) evaluation split: indices into *ev_data
    int64_t n_ev;
    const fl_images* ev_data;  // &test, or &train when --val-per-class holds data out
    fl_model* m;
    uint8_t* mislabelled;      // (train.n) 1 where --label-noise replaced the label; NULL without
    int64_t n_mislabelled;
    char dataset_desc[128];    // "fashion-mnist", "fashion-mnist[5-9]", "... label-noise=0.3"
    // black-box prompt tuning (cfg->prompt_len > 0, prompt_setup.c): m is the prompt model,
    // inner the built-in ViT behind its box (NULL for an external box), and the model's input
    // is a datum's index among the box's data: train_id (train.n) and test_id (test.n) map an
    // image to it, -1 where the box does not hold the image. NULL: inputs are the images.
    fl_model* inner;
    int64_t* train_id;
    int64_t* test_id;
} fl_setup;

// Opens everything. On failure returns -1 with err, and *status says "failed",
// "missing-data" or "missing-weights"; the setup is then already closed.
int fl_setup_open(const fl_train_cfg* cfg, fl_setup* s, char status[24], fl_err* err);
void fl_setup_close(fl_setup* s);

// The model's inputs (B, fl_setup_in_dim) for images idx[0..B) of d (&s->train or &s->test):
// the normalised images, or under prompt tuning the data's indices among the box's data.
void fl_setup_inputs(const fl_setup* s, const fl_images* d, const int64_t* idx, int B, float* x);
int64_t fl_setup_in_dim(const fl_setup* s, const fl_images* d);
// Prompt tuning's part of fl_setup_open (prompt_setup.c): the black box, its data and the
// prompt model, with s->m the built-in ViT (or NULL for an external box) on entry.
int fl_setup_prompt(const fl_train_cfg* cfg, fl_setup* s, fl_err* err);
