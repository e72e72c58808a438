// uniform.c: the conventional scheme, n_i = N / B for every datum (docs/METHOD.md, "The
// allocation problem", the table of allocators).
// When N / B is not a whole number of units (a unit is a pair with antithetic pairs, else one
// query), the R = (N/unit) mod B leftover units go to R consecutive data, starting at offset
// (step * R) mod B and wrapping round the batch. Consecutive steps therefore hand the extras to
// consecutive blocks of the batch, so over B steps every datum position gets exactly R extras:
// deterministic, and fair over time instead of always favouring the first data of a batch.
#include "allocator.h"
#include <limits.h>

static int uniform_allocate(void* state, const fl_alloc_input* in, const fl_alloc_opts* o,
                            int* n, fl_err* err) {
    const int B = in->B;
    const long unit = o->even ? 2 : 1;
    if (B < 1) return fl_fail(err, "uniform: batch size B = %d, expected >= 1", B);
    if (in->N < 0 || in->N > INT_MAX)
        return fl_fail(err, "uniform: budget N = %ld, expected 0..%d", in->N, INT_MAX);
    if (o->even && in->N % 2 != 0)
        return fl_fail(err, "uniform: budget N = %ld is odd with antithetic pairs on", in->N);
    const long total = in->N / unit;
    const long floor_units = (o->n_min + unit - 1) / unit;
    if (total < (long)B * floor_units)
        return fl_fail(err, "uniform: budget N = %ld is below B*n_min = %d*%ld", in->N, B,
                       floor_units * unit);
    const long base = total / B;
    const long extra = total % B;
    long step_mod = in->step % B;
    if (step_mod < 0) step_mod += B;
    const long offset = (long)(((unsigned long long)step_mod * (unsigned long long)extra) % B);
    for (int i = 0; i < B; i++) {
        long pos = (i - offset) % B;  // position of datum i in the rotated order
        if (pos < 0) pos += B;
        n[i] = (int)((base + (pos < extra ? 1 : 0)) * unit);
    }
    return 0;
}

const fl_allocator_vt fl_alloc_uniform = {
    .name = "uniform",
    .help = "n_i = N/B for every datum (leftover units rotate with the step)",
    .needs = 0,
    .create = NULL,
    .allocate = uniform_allocate,
    .destroy = NULL,
};
