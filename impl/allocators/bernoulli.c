// bernoulli.c: the authors' heuristic allocator (docs/METHOD.md, "The allocation problem", the
// table of allocators; their bernoulli_allocater). Start from the uniform share b = N/B. Each
// datum whose clean loss is strictly below the batch mean has its share halved with probability
// p (opts.bernoulli_p0 in epoch 0, opts.bernoulli_p afterwards). The budget freed is spread
// equally over the data that were not halved. The continuous shares then go through the shared
// rounding (fl_alloc_proportional): floor at n_min, pairs, exact total.
//
// Random draws: one Philox4x32-10 call per datum, key = opts.seed, counter = (datum, step low
// 32 bits, BERNOULLI_STREAM, step high 32 bits). The draw is a pure function of (seed, datum,
// step), so a run is reproducible and independent of call order. The stream id keeps these
// integers apart from the noise streams of layers and pilots under the same seed.
#include "allocator.h"
#include "../kernels/philox.h"
#include <math.h>

#define BERNOULLI_STREAM 0xA110C0B1u

static int bernoulli_allocate(void* state, const fl_alloc_input* in, const fl_alloc_opts* o,
                              int* n, fl_err* err) {
    const int B = in->B;
    if (B < 1) return fl_fail(err, "bernoulli: batch size B = %d, expected >= 1", B);
    if (!in->loss) return fl_fail(err, "bernoulli: input.loss is NULL");
    const double p = in->epoch == 0 ? (double)o->bernoulli_p0 : (double)o->bernoulli_p;
    if (!(p >= 0.0 && p <= 1.0))
        return fl_fail(err, "bernoulli: halving probability %s = %g, expected in [0, 1]",
                       in->epoch == 0 ? "bernoulli_p0" : "bernoulli_p", p);
    double mean = 0.0;
    for (int i = 0; i < B; i++) {
        double l = (double)in->loss[i];
        if (!isfinite(l))
            return fl_fail(err, "bernoulli: loss[%d] = %g at step %ld, expected a finite number",
                           i, l, in->step);
        mean += l;
    }
    mean /= B;
    const double share = (double)in->N / B;
    const uint32_t k0 = (uint32_t)o->seed, k1 = (uint32_t)(o->seed >> 32);
    const uint64_t step = (uint64_t)in->step;
    double* w = (double*)fl_malloc((size_t)B * sizeof *w);  // (B) continuous shares
    unsigned char* halved = (unsigned char*)fl_calloc((size_t)B, 1);  // (B)
    int kept = 0;
    double freed = 0.0;
    for (int i = 0; i < B; i++) {
        w[i] = share;
        if ((double)in->loss[i] < mean) {
            fl_u32x4 c = {{(uint32_t)i, (uint32_t)step, BERNOULLI_STREAM, (uint32_t)(step >> 32)}};
            fl_u32x4 r = fl_philox4x32_10(c, k0, k1);
            double u = (double)(r.v[0] >> 8) * (1.0 / 16777216.0);  // [0, 1), 24 bits
            if (u < p) {
                w[i] = 0.5 * share;
                halved[i] = 1;
                freed += 0.5 * share;
                continue;
            }
        }
        kept++;
    }
    // Spread the freed budget over the data not halved. At least one datum is never below
    // the mean, so kept >= 1; the test is only defensive.
    if (kept > 0) {
        for (int i = 0; i < B; i++)
            if (!halved[i]) w[i] += freed / kept;
    }
    int rc = fl_alloc_proportional(w, B, in->N, o->n_min, o->even, n, err);
    free(halved);
    free(w);
    return rc;
}

const fl_allocator_vt fl_alloc_bernoulli = {
    .name = "bernoulli",
    .help = "authors' heuristic: below-mean-loss data halved with probability p, rest share it",
    .needs = FL_NEEDS_LOSS,
    .create = NULL,
    .allocate = bernoulli_allocate,
    .destroy = NULL,
};
