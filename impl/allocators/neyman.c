// neyman.c: the closed-form optimum of the proxy objective (docs/METHOD.md, "The allocation
// problem").
// Minimising sum_i v_hat_i / n_i under sum_i n_i = N gives n_i proportional to sqrt(v_hat_i)
// (Lagrange), with data whose share would fall below n_min held at n_min (water-filling in
// fl_alloc_proportional). v_hat comes from the pilot or the previous visit; data without a
// proxy yet get the mean of the known ones (fl_alloc_fill_proxy), so a batch with no proxy at
// all is allocated uniformly.
#include "allocator.h"
#include <math.h>

static int neyman_allocate(void* state, const fl_alloc_input* in, const fl_alloc_opts* o,
                           int* n, fl_err* err) {
    const int B = in->B;
    if (B < 1) return fl_fail(err, "neyman: batch size B = %d, expected >= 1", B);
    double* w = (double*)fl_malloc((size_t)B * sizeof *w);  // (B)
    fl_alloc_fill_proxy(in->proxy, B, w);
    for (int i = 0; i < B; i++) w[i] = sqrt(w[i]);
    int rc = fl_alloc_proportional(w, B, in->N, o->n_min, o->even, n, err);
    free(w);
    return rc;
}

const fl_allocator_vt fl_alloc_neyman = {
    .name = "neyman",
    .help = "n_i proportional to sqrt(proxy variance): the closed-form optimum of the proxy",
    .needs = FL_NEEDS_PROXY,
    .create = NULL,
    .allocate = neyman_allocate,
    .destroy = NULL,
};
