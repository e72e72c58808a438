// track.h: gradient variance along the training trajectory (`train --track-variance EVERY`,
// docs/METHOD.md, "Variance during training").
//
// Every EVERY steps, before the update and on the step's own batch, the tracker measures the
// relative MSE E|g_hat - g|^2 / |g|^2 against the exact BP gradient g of two estimators at
// the run's budget: the run's allocator, in the state the run has reached (its learned
// parameters and previous-visit proxies), and uniform allocation; R estimates each. It also
// measures the per-datum variances v_i with the oracle and the gain they predict. One CSV
// row per tracked step (results/SCHEMA_TRACK.md).
//
// Tracking is benchmark-only and leaves the run exactly as without it: the tracked estimates
// come from engines of their own (own Philox keys and step counters), the allocator's learned
// state and the proxies are copied into them before every estimate, never written back, and
// the model parameters are restored after the measurement. Its queries are not the run's.
#pragma once
#include <stdio.h>
#include "train.h"
#include "setup.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_track fl_track;

// Checks the tracking options of cfg (EVERY >= 1, reps >= 2, somewhere to write); returns 0,
// or -1 with err.
int fl_track_check(const fl_train_cfg* cfg, fl_err* err);
// A tracker for the run's engine `run` on the model of S. NULL with err on failure.
fl_track* fl_track_new(const fl_train_cfg* cfg, fl_setup* S, const fl_engine* run, const char* cell_key,
                       fl_err* err);
// 1 when global step `step` (0-based, counted over the run) is tracked.
int fl_track_due(const fl_track* t, long step);
// Measures at the current parameters on batch b (before the run's step on it) and appends
// one row. Returns 0, or -1 with err.
int fl_track_step(fl_track* t, const fl_engine* run, const fl_batch* b, int epoch, long step, fl_err* err);
void fl_track_free(fl_track* t);
// The CSV schema as Markdown (results/SCHEMA_TRACK.md).
void fl_track_schema_markdown(FILE* f);

#ifdef __cplusplus
}
#endif
