// diverge.c: the divergence rule of a training run (diverge.h; docs/METHOD.md, "Divergence").
#include <math.h>
#include "diverge.h"

double fl_diverge_limit(double l0) {
    if (!isfinite(l0)) return NAN;
    double times = FL_DIVERGE_FACTOR * l0, plus = l0 + FL_DIVERGE_NATS;
    return times > plus ? times : plus;
}

int fl_diverged_step(double loss, double grad_norm) { return !isfinite(loss) || !isfinite(grad_norm); }

int fl_diverged_loss(double l0, double loss) {
    if (!isfinite(l0) || !isfinite(loss)) return 1;
    return loss > fl_diverge_limit(l0);
}
