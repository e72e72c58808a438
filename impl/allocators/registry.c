// registry.c: the table of query allocators, their defaults, and the checked call.
// fl_allocator_run is the one door through which estimators call an allocator: it times the call
// and verifies the contract of docs/METHOD.md, "The allocation problem" (sum_i n_i == N,
// n_i >= n_min, n_i even with antithetic pairs), so that a broken allocator is an error, never
// a silently wrong gradient estimate.
#include "allocator.h"
#include <limits.h>
#include <math.h>
#include <string.h>

// The registry: ONE line per allocator. X(name) needs `const fl_allocator_vt fl_alloc_name`
// defined in impl/allocators/name.c.
#define FL_ALLOCATOR_LIST(X) \
    X(uniform)               \
    X(flops)                 \
    X(neyman)                \
    X(oracle)                \
    X(bernoulli)             \
    X(loss)

#define FL_DECLARE_VT(name) extern const fl_allocator_vt fl_alloc_##name;
FL_ALLOCATOR_LIST(FL_DECLARE_VT)
#undef FL_DECLARE_VT

#define FL_VT_POINTER(name) &fl_alloc_##name,
static const fl_allocator_vt* const registry[] = {FL_ALLOCATOR_LIST(FL_VT_POINTER)};
#undef FL_VT_POINTER
#define N_ALLOCATORS ((int)(sizeof registry / sizeof registry[0]))

// ", uniform, flops, ..." built at compile time; the leading ", " is skipped when returned.
#define FL_NAME_PIECE(name) ", " #name
static const char all_names[] = "" FL_ALLOCATOR_LIST(FL_NAME_PIECE);
#undef FL_NAME_PIECE

fl_alloc_opts fl_alloc_opts_default(void) {
    fl_alloc_opts o;
    memset(&o, 0, sizeof o);
    o.n_min = 2;  // one antithetic pair
    o.even = 1;
    o.seed = 0;  // fl_engine_new sets it to the run's seed
    o.flops_feature_loss = 0;
    o.flops_freeze = 0;
    o.flops_mc = 8;
    o.flops_iters = 4;
    o.flops_lr = 0.05f;
    o.flops_sample = 0;
    o.bernoulli_p0 = 0.3f;  // the authors' code: 0.3 in the first epoch
    o.bernoulli_p = 0.01f;  // then 0.01
    return o;
}

const fl_allocator_vt* fl_allocator_find(const char* name) {
    if (!name) return NULL;
    for (int i = 0; i < N_ALLOCATORS; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

const char* fl_allocator_names(void) { return all_names + 2; }

fl_allocator* fl_allocator_new(const char* name, const fl_alloc_opts* o, fl_err* err) {
    const fl_allocator_vt* vt = fl_allocator_find(name);
    if (!vt) {
        fl_fail(err, "unknown allocator '%s', expected one of: %s", name ? name : "(null)",
                fl_allocator_names());
        return NULL;
    }
    fl_alloc_opts opts = o ? *o : fl_alloc_opts_default();
    if (opts.n_min < 1) {
        fl_fail(err, "allocator '%s': option n_min = %d, expected >= 1", name, opts.n_min);
        return NULL;
    }
    if (opts.even != 0 && opts.even != 1) {
        fl_fail(err, "allocator '%s': option even = %d, expected 0 or 1", name, opts.even);
        return NULL;
    }
    fl_allocator* a = (fl_allocator*)fl_calloc(1, sizeof *a);
    a->vt = vt;
    a->opts = opts;
    a->state = vt->create ? vt->create(&a->opts) : NULL;
    a->wall_s = 0.0;
    a->calls = 0;
    return a;
}

int fl_allocator_run(fl_allocator* a, const fl_alloc_input* in, int* n, fl_err* err) {
    if (!a || !a->vt) return fl_fail(err, "fl_allocator_run: NULL allocator");
    const char* name = a->vt->name;
    if (!in || !n) return fl_fail(err, "allocator '%s': NULL input or output array", name);
    const int B = in->B;
    const long N = in->N;
    const fl_alloc_opts* o = &a->opts;
    if (B < 1) return fl_fail(err, "allocator '%s': batch size B = %d, expected >= 1", name, B);
    if (N > INT_MAX)  // counts are int; a batch budget of 2^31 queries is not a real run
        return fl_fail(err, "allocator '%s': budget N = %ld exceeds %d", name, N, INT_MAX);
    // The budget must admit a valid allocation at all; say so before the allocator runs.
    const long floor_q = o->even ? 2L * ((o->n_min + 1) / 2) : o->n_min;
    if (o->even && N % 2 != 0)
        return fl_fail(err, "allocator '%s': budget N = %ld is odd, but antithetic pairs (even) "
                       "need an even N", name, N);
    if (N < (long)B * floor_q)
        return fl_fail(err, "allocator '%s': budget N = %ld is below B*n_min = %d*%ld = %ld",
                       name, N, B, floor_q, (long)B * floor_q);
    if ((fl_allocator_needs(a) & FL_NEEDS_LOSS) && !in->loss)
        return fl_fail(err, "allocator '%s' needs the per-datum clean loss, but input.loss is "
                       "NULL", name);
    if ((a->vt->needs & FL_NEEDS_PROXY) && !in->proxy)
        return fl_fail(err, "allocator '%s' needs the per-datum proxy variance, but input.proxy "
                       "is NULL (pass NaN for unknown entries)", name);
    if ((a->vt->needs & FL_NEEDS_ORACLE) && !in->oracle_v)
        return fl_fail(err, "allocator '%s' needs the measured per-datum variance, but "
                       "input.oracle_v is NULL", name);

    double t0 = fl_now();
    int rc = a->vt->allocate(a->state, in, o, n, err);
    a->wall_s += fl_now() - t0;
    a->calls++;
    if (rc != 0) return -1;

    // Verify the contract.
    long long sum = 0;
    for (int i = 0; i < B; i++) {
        if (n[i] < o->n_min)
            return fl_fail(err, "allocator '%s' broke its contract at step %ld: n[%d] = %d is "
                           "below n_min = %d (B = %d, N = %ld)", name, in->step, i, n[i],
                           o->n_min, B, N);
        if (o->even && n[i] % 2 != 0)
            return fl_fail(err, "allocator '%s' broke its contract at step %ld: n[%d] = %d is "
                           "odd with antithetic pairs on (B = %d, N = %ld)", name, in->step, i,
                           n[i], B, N);
        sum += n[i];
    }
    if (sum != (long long)N)
        return fl_fail(err, "allocator '%s' broke its contract at step %ld: sum of n = %lld, "
                       "expected the budget N = %ld (B = %d)", name, in->step, sum, N, B);
    return 0;
}

void fl_allocator_free(fl_allocator* a) {
    if (!a) return;
    if (a->vt && a->vt->destroy && a->state) a->vt->destroy(a->state);
    free(a);
}

int fl_allocator_copy_state(fl_allocator* dst, const fl_allocator* src, fl_err* err) {
    if (!dst || !src || dst->vt != src->vt)
        return fl_fail(err, "fl_allocator_copy_state: allocators differ (%s, %s)", dst ? dst->vt->name : "none",
                       src ? src->vt->name : "none");
    if (dst->vt->copy_state && dst->state && src->state) dst->vt->copy_state(dst->state, src->state);
    dst->opts.seed = src->opts.seed;  // the same draws as src
    return 0;
}

unsigned fl_allocator_needs(const fl_allocator* a) {
    unsigned needs = a->vt->needs;
    if (!strcmp(a->vt->name, "flops") && a->opts.flops_feature_loss) needs |= FL_NEEDS_LOSS;
    return needs;
}
