// allocator.h: query allocators (docs/METHOD.md, "The allocation problem").
// An allocator turns per-datum information (clean loss, proxy variance, oracle variance)
// into integer query counts n_i for the B data of a batch, with sum_i n_i == N exactly,
// n_i >= n_min, and n_i even when antithetic pairs are on. The unit is whatever the
// estimator spends: queries for LR, directions (2 queries each) for MeZO.
//
// Adding an allocator: write impl/allocators/NAME.c defining `const fl_allocator_vt
// fl_alloc_NAME`, and add one line to the table in registry.c.
#pragma once
#include <stdint.h>
#include "../core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

// What an allocator needs from the estimator before it is called.
enum {
    FL_NEEDS_LOSS = 1,    // per-datum clean loss of the current batch
    FL_NEEDS_PROXY = 2,   // per-datum proxy variance (previous visit or pilot)
    FL_NEEDS_ORACLE = 4,  // per-datum variance measured with many extra queries
};

// Parameters of the flops allocator that can be frozen (bitmask for fl_alloc_opts.flops_freeze).
enum { FL_FLOPS_SLOPE = 1, FL_FLOPS_INTERCEPT = 2, FL_FLOPS_LENGTH = 4, FL_FLOPS_AMPLITUDE = 8 };

typedef struct fl_alloc_opts {
    int n_min;               // minimum per datum (2 for LR antithetic pairs, 1 for MeZO)
    int even;                // 1: every n_i must be even (antithetic pairs)
    uint64_t seed;           // key of the allocators' random draws; fl_engine_new sets the run's
    // flops (the learned Gaussian allocator)
    int flops_feature_loss;  // 0: feature = log proxy (default), 1: feature = clean loss
    unsigned flops_freeze;   // FL_FLOPS_* bits of parameters kept at their initial values
    int flops_mc;            // Monte Carlo samples per training iteration (default 8)
    int flops_iters;         // training iterations per batch (default 4)
    float flops_lr;          // Adam learning rate on the four parameters (default 0.05)
    int flops_sample;        // 1: allocate from a sample of the Gaussian, 0: from its mean
    // bernoulli (the authors' heuristic)
    float bernoulli_p0;      // halving probability in epoch 0 (default 0.3)
    float bernoulli_p;       // halving probability afterwards (default 0.01)
} fl_alloc_opts;

// Sensible defaults for everything above (n_min 2, even 1).
fl_alloc_opts fl_alloc_opts_default(void);

// Per-batch input. Arrays are host memory of length B; an allocator reads only what its
// `needs` declares, and the caller guarantees those are present.
typedef struct fl_alloc_input {
    int B;
    long N;                  // total budget, sum_i n_i must equal it
    const float* loss;       // (B) clean loss, or NULL
    const float* proxy;      // (B) proxy per-unit variance v_hat_i; NaN where not yet known
    const float* oracle_v;   // (B) measured per-unit variance, or NULL
    int epoch;
    long step;
} fl_alloc_input;

typedef struct fl_allocator_vt {
    const char* name;
    const char* help;        // one line for --help
    unsigned needs;          // FL_NEEDS_* bits
    // Returns private state (may be NULL for stateless allocators).
    void* (*create)(const fl_alloc_opts* o);
    // Writes n[0..B). Returns 0, or -1 with err filled.
    int (*allocate)(void* state, const fl_alloc_input* in, const fl_alloc_opts* o, int* n,
                    fl_err* err);
    void (*destroy)(void* state);
    // Copies the learned part of src's state into dst (both from create()); NULL for
    // allocators without learned state.
    void (*copy_state)(void* dst, const void* src);
} fl_allocator_vt;

// A live allocator: its table, state, options and the wall time spent in it.
typedef struct fl_allocator {
    const fl_allocator_vt* vt;
    void* state;
    fl_alloc_opts opts;
    double wall_s;           // total seconds spent in allocate()
    long calls;
} fl_allocator;

// Registry (registry.c).
const fl_allocator_vt* fl_allocator_find(const char* name);
// Comma-separated list of registered names, for messages.
const char* fl_allocator_names(void);
fl_allocator* fl_allocator_new(const char* name, const fl_alloc_opts* o, fl_err* err);
// Runs vt->allocate, times it, and verifies the invariants (sum == N, n_i >= n_min, even).
int fl_allocator_run(fl_allocator* a, const fl_alloc_input* in, int* n, fl_err* err);
void fl_allocator_free(fl_allocator* a);
// Makes dst allocate as src would now (same allocator; its learned state and its seed
// copied), so that a measurement can replay a step without changing src. Returns 0, or -1 with err.
int fl_allocator_copy_state(fl_allocator* dst, const fl_allocator* src, fl_err* err);
// What this allocator needs with its options (vt->needs, plus the clean loss when flops uses
// the loss feature).
unsigned fl_allocator_needs(const fl_allocator* a);

// Shared helpers (round.c).
// n_i proportional to weight_i (>= 0), floored at n_min, even if asked, integers summing to
// exactly N by the largest-remainder method. Needs N >= B*n_min (and N even when even).
int fl_alloc_proportional(const double* weight, int B, long N, int n_min, int even, int* n,
                          fl_err* err);
// Copies proxy into out, replacing NaN/unknown entries by the mean of the known ones
// (or 1 when none is known). Returns the number of known entries.
int fl_alloc_fill_proxy(const float* proxy, int B, double* out);

#ifdef __cplusplus
}
#endif
