// loss.c: importance-sampling heuristic, n_i proportional to the datum's clean loss
// (docs/METHOD.md, "The allocation problem", the table of allocators). The loss is clamped below
// at a tiny positive value (1e-30) so that a zero (or, for a non-negative loss, round-off
// negative) loss gives a zero-ish weight, i.e. the datum is held at n_min, and a batch of
// all-zero losses is allocated uniformly. A NaN or infinite loss is an error: it means the model
// diverged, and no allocation is right.
#include "allocator.h"
#include <math.h>

#define LOSS_TINY 1e-30

static int loss_allocate(void* state, const fl_alloc_input* in, const fl_alloc_opts* o, int* n,
                         fl_err* err) {
    const int B = in->B;
    if (B < 1) return fl_fail(err, "loss: batch size B = %d, expected >= 1", B);
    if (!in->loss) return fl_fail(err, "loss: input.loss is NULL");
    double* w = (double*)fl_malloc((size_t)B * sizeof *w);  // (B)
    for (int i = 0; i < B; i++) {
        double l = (double)in->loss[i];
        if (!isfinite(l)) {
            free(w);
            return fl_fail(err, "loss: loss[%d] = %g at step %ld, expected a finite number", i,
                           l, in->step);
        }
        w[i] = l > LOSS_TINY ? l : LOSS_TINY;
    }
    int rc = fl_alloc_proportional(w, B, in->N, o->n_min, o->even, n, err);
    free(w);
    return rc;
}

const fl_allocator_vt fl_alloc_loss = {
    .name = "loss",
    .help = "n_i proportional to the datum's clean loss (importance-sampling heuristic)",
    .needs = FL_NEEDS_LOSS,
    .create = NULL,
    .allocate = loss_allocate,
    .destroy = NULL,
};
