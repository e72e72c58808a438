// prompt.h: black-box prompt tuning as a model (prompt.c; docs/METHOD.md, "Prompt tuning").
// The trainable parameters are z (d): the prompt is A z, A a fixed random projection
// (P*D, d) drawn from the seed, and the model behind the prompt is a black box (blackbox.h)
// that answers one loss per query. The model's input is the name of a datum: x (B, 1) holds
// the datum's index among the black box's data. Only z is trained; the box's weights are never
// seen. Forward only: no BP through a black box.
//
// As a model, z is one linear layer "prompt" of one input held at 1: its weight (d, 1) is z,
// its bias (d) is frozen at 0. So every estimator applies as it does to a network: MeZO and
// spsa1 perturb z by directions (the trainable parameters), and LR adds sigma eps to the
// layer's output per query, which is z + sigma eps, a Gaussian perturbation of z per query
// whose score-function gradient is the LR estimate of the weight (docs/METHOD.md, "LR").
#pragma once
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

// box: set up (fl_blackbox_setup), owned by the model from here on, also on failure. P prompt
// tokens of the box's width box->D, intrinsic dimension d, n_classes of the box's data. The
// projection A has entries N(0, scale^2 / d) from Philox (seed); z starts at 0.
fl_model* fl_prompt_model_new(const fl_ops* ops, fl_blackbox* box, int d, float scale, int n_classes,
                              uint64_t seed, fl_err* err);
// 1 when m is a prompt model.
int fl_prompt_is(const fl_model* m);

#ifdef __cplusplus
}
#endif
