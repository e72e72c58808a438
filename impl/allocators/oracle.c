// oracle.c: Neyman allocation on the measured variance (docs/METHOD.md, "The allocation
// problem", the table of allocators).
// n_i proportional to sqrt(v_i), v_i measured with many extra queries by the estimator
// (benchmark-only upper bound; the estimator reports those queries separately). Entries that
// are NaN, infinite or negative (a failed measurement) get the mean of the valid ones.
#include "allocator.h"
#include <math.h>

static int oracle_allocate(void* state, const fl_alloc_input* in, const fl_alloc_opts* o,
                           int* n, fl_err* err) {
    const int B = in->B;
    if (B < 1) return fl_fail(err, "oracle: batch size B = %d, expected >= 1", B);
    if (!in->oracle_v) return fl_fail(err, "oracle: input.oracle_v is NULL");
    double* w = (double*)fl_malloc((size_t)B * sizeof *w);  // (B)
    fl_alloc_fill_proxy(in->oracle_v, B, w);
    for (int i = 0; i < B; i++) w[i] = sqrt(w[i]);
    int rc = fl_alloc_proportional(w, B, in->N, o->n_min, o->even, n, err);
    free(w);
    return rc;
}

const fl_allocator_vt fl_alloc_oracle = {
    .name = "oracle",
    .help = "n_i proportional to sqrt(variance measured with many extra queries); upper bound",
    .needs = FL_NEEDS_ORACLE,
    .create = NULL,
    .allocate = oracle_allocate,
    .destroy = NULL,
};
