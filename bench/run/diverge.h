// diverge.h: when a training run has diverged (docs/METHOD.md, "Divergence"): a step whose
// loss or gradient estimate is not finite, or an epoch whose mean training loss exceeds
// max(10 L0, L0 + 10 nats), L0 being the clean loss of the first batch at the initial
// parameters. train.c applies it to every method; the status it gives is `diverged`.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// The epoch rule's margins: a factor over L0 and nats above it; the limit is the larger.
#define FL_DIVERGE_FACTOR 10.0
#define FL_DIVERGE_NATS 10.0

// max(FL_DIVERGE_FACTOR * l0, l0 + FL_DIVERGE_NATS); NAN when l0 is not finite.
double fl_diverge_limit(double l0);

// 1 when a step's loss or the norm of its gradient estimate is not finite (NaN or infinite).
int fl_diverged_step(double loss, double grad_norm);

// 1 when a loss is not finite or is above fl_diverge_limit(l0) (strictly: a loss at the limit
// has not diverged), and when l0 itself is not finite (the first step's loss was not: the step
// rule). The loss is an epoch's mean training loss, or the clean loss of a batch whose step
// stopped on an error (an allocator refusing a NaN loss, non-finite tracked gradients).
int fl_diverged_loss(double l0, double loss);

#ifdef __cplusplus
}
#endif
