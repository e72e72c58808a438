// estimator.h: gradient estimators (docs/METHOD.md, "Estimators") and the engine they share.
// An estimator fills params.grad with an estimate of the batch-mean loss gradient and reports
// what it spent. Estimators: bp (exact), mezo (SPSA weight perturbation, with per-datum
// allocation of directions), lr (likelihood ratio on layer outputs, uniform or allocated).
//
// Adding an estimator: write impl/estimators/NAME.c defining `const fl_estimator_vt
// fl_est_NAME`, and add one line to the table in engine.c.
#pragma once
#include <stdint.h>
#include "../core/common.h"
#include "../models/model.h"
#include "../allocators/allocator.h"
#include "../backend/dist.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FL_PAIR_SAME, FL_PAIR_CROSS, FL_PAIR_NONE } fl_pairing;       // antithetic pairs
typedef enum { FL_BASE_CLEAN, FL_BASE_MEAN, FL_BASE_NONE } fl_baseline;     // LR baseline
typedef enum { FL_WEIGHT_UNBIASED, FL_WEIGHT_EQUAL_ROW } fl_weighting;      // 1/(B n_i) or 1/N
typedef enum { FL_PROXY_PREV, FL_PROXY_PILOT } fl_proxy_source;

// Noise stream ids. A layer's stream is its index in the model's list plus a base that says
// which queries the noise belongs to, so pilot and oracle queries never reuse the noise of
// the queries that make the gradient.
#define FL_STREAM_MAIN 0u
#define FL_STREAM_PILOT (1u << 24)
#define FL_STREAM_ORACLE (2u << 24)
#define FL_STREAM_MEZO (3u << 24)     // MeZO parameter directions (row = direction)
#define FL_STREAM_MEZO_ORACLE (4u << 24)

typedef struct fl_est_opts {
    int budget;               // network queries per datum per step, every kind but oracle:
                              // perturbed + clean + pilot <= budget * B (docs/METHOD.md, "Spend")
    fl_pairing pairing;       // default FL_PAIR_SAME
    fl_baseline baseline;     // default FL_BASE_CLEAN
    fl_weighting weighting;   // default FL_WEIGHT_UNBIASED
    fl_proxy_source proxy;    // default FL_PROXY_PREV
    float proxy_ema;          // weight of the newest visit in the previous-visit table (0.3);
                              // 1 keeps only the last visit
    float mu;                 // MeZO perturbation scale (1e-3)
    float sigma0;             // LR initial noise std (1e-3)
    int learn_sigma;          // LR: train log sigma (1)
    int oracle_queries;       // extra queries per datum the oracle spends (64)
    int max_rows;             // query rows per chunk; 0 = sized from available memory
} fl_est_opts;

fl_est_opts fl_est_opts_default(void);

// A batch, already on the backend.
typedef struct fl_batch {
    int B;
    const float* x;           // (B, in_dim) backend memory
    const int32_t* y;         // (B) backend memory
    const int32_t* y_host;    // (B) host
    const int64_t* index;     // (B) dataset indices (host), keys of the previous-visit table
} fl_batch;

// What one step spent and saw.
typedef struct fl_step_stats {
    double loss;              // batch-mean loss: clean where a clean pass ran, else query mean
    long queries;             // all network queries: perturbed + clean + pilot + oracle
    long queries_clean, queries_pilot, queries_oracle;
    double flops;             // forward GEMM FLOPs
    double t_clean, t_alloc, t_forward, t_grad;  // seconds per phase
    int n_lo, n_hi;           // smallest and largest n_i of the allocation
    int nonuniform;           // 1: the allocation differs from the uniform rule's for this N
    int no_baseline;          // lr --baseline mean: data whose queries were one unit only, in
                              // a step without a clean pass: no baseline for them (lr.c)
} fl_step_stats;

typedef struct fl_engine fl_engine;

// A buffer grown on demand, in host or backend memory: the fields of the estimators' typed
// workspaces. fl_host_grow / fl_dev_grow return at least `bytes` (never freed until the
// workspace is).
typedef struct { void* p; size_t bytes; } fl_host_buf;
typedef struct { void* p; size_t bytes; } fl_dev_buf;
void* fl_host_grow(fl_host_buf* b, size_t bytes);
void* fl_dev_grow(const fl_ops* ops, fl_dev_buf* b, size_t bytes);
void fl_host_buf_free(fl_host_buf* b);
void fl_dev_buf_free(const fl_ops* ops, fl_dev_buf* b);

// What an estimator perturbs: nothing (the exact gradient, the reference every forward-only
// estimator is compared with), the outputs of layers (noise per query; scopes, pairs,
// baselines and a learned sigma apply), or the weights (directions in parameter space).
typedef enum { FL_PERTURB_NONE, FL_PERTURB_LAYERS, FL_PERTURB_WEIGHTS } fl_perturbation;

// What the engine's prelude hands an estimator's step (docs/DESIGN.md, "The estimator seam").
typedef struct fl_step_plan {
    const int* n;             // (B) the allocation, in the estimator's unit; NULL: exact estimator
    long N;                   // sum of n
    const float* clean;       // (B) host: clean losses when the prelude ran a clean pass, else NULL
    float* fresh_proxy;       // (B) host: the step writes this visit's proxy here; NULL: not wanted
    // Data-parallel slices (dist.h, docs/SCALING.md): this process computes slices [s_lo, s_hi)
    // of S, each forward within one slice; per-datum outputs (fresh_proxy, query_loss) are
    // written for the data of those slices only, and the engine gathers the rest. S = 1: the
    // whole batch, as one process always did.
    int s_lo, s_hi, S;
    double* query_loss;       // (B) host: without a clean pass, each datum's mean query loss
} fl_step_plan;

// One estimator: its traits, what the prelude asks of it, and its step. Every hook but step,
// alloc_total and the traits is nullable.
typedef struct fl_estimator_vt {
    const char* name;
    const char* help;         // one line, for --help and the report
    fl_perturbation perturbs;
    const char* unit;         // what the allocation hands out ("query", "direction"); NULL: none
    int unit_queries;         // network queries per unit
    int directions;           // 1: the estimate is kept as directions rebuilt from the seed
                              // (fl_engine_apply), so training drops the gradient buffer
    // Option checks beyond what the parser can know: 0, or -1 with err.
    int (*check)(const fl_est_opts* o, fl_err* err);
    // The estimator's typed workspace: made with the engine, freed with it.
    void* (*workspace_new)(fl_engine* e);
    void (*workspace_free)(fl_engine* e, void* ws);
    // First thing of every step.
    void (*begin)(fl_engine* e, const fl_batch* b);
    // The estimator's own reason for a clean pass this step (lr: the clean baseline). The
    // prelude adds the allocator's: the loss it reads, a first-visit proxy.
    int (*needs_clean)(const fl_engine* e);
    // --proxy pilot: the queries the pilot spends on B data, and the pilot (proxy: B, host).
    long (*pilot_queries)(const fl_engine* e, int B);
    int (*pilot)(fl_engine* e, const fl_batch* b, const float* clean, float* proxy, fl_step_stats* st,
                 fl_err* err);
    // Per-datum variance v_i of one unit's contribution (Var of datum i's estimate = v_i / n_i),
    // measured with `queries` extra network queries per datum, counted in st->queries_oracle.
    int (*oracle)(fl_engine* e, const fl_batch* b, int queries, float* v_out, fl_step_stats* st,
                  fl_err* err);
    // The allocation problem: what `queries` perturbed queries buy, as the total N in the
    // estimator's unit, and the per-datum minimum and evenness (docs/METHOD.md, "Spend").
    long (*alloc_total)(const fl_engine* e, long queries, int* n_min, int* even);
    // The step: the estimate into params.grad (and the directions, if any), its perturbed
    // queries added to st->queries, FLOPs and phase times; st->loss and last_loss when no
    // clean pass ran.
    int (*step)(fl_engine* e, const fl_batch* b, const fl_step_plan* plan, fl_step_stats* st, fl_err* err);
} fl_estimator_vt;

struct fl_engine {
    const fl_ops* ops;
    fl_model* model;
    fl_est_opts o;
    const fl_estimator_vt* est;
    fl_allocator* alloc;      // NULL for bp
    uint32_t key0, key1;      // seed
    uint32_t step;            // incremented by fl_engine_step
    int epoch;
    // previous-visit proxy per dataset index (NaN = not seen)
    float* proxy_table;
    int64_t proxy_n;
    // the last step's allocation and per-datum data (host, length last_B), for logs and plots
    int last_B;
    int* last_n;
    float* last_proxy;
    float* last_loss;
    float* last_oracle;
    // the last estimate as directions (estimators with the `directions` trait, directions.h):
    // g = sum_k dir_s[k] z_k (Philox row k, stream dir_stream, step dir_step); dir_K = 0 otherwise
    int dir_K;
    float* dir_s;             // (dir_K) backend memory
    uint32_t dir_step, dir_stream;
    void* ws;                 // the estimator's workspace (est->workspace_new)
    fl_host_buf clean, proxy, fresh, oracle_v, n;  // the prelude's per-datum arrays (B)
    fl_dev_buf clean_d;                             // the clean pass's losses (B)
    // data parallelism (fl_engine_distribute): the world, the slices of every batch, and the
    // per-slice partial gradients of this process (grad_parts[0] is params.grad itself)
    fl_dist* dist;            // NULL: a world of one
    int slices;               // S >= 1
    float* grad_main;         // params.grad while a slice writes a partial
    fl_dev_buf* grad_parts;   // (own slices) partial gradients; [0] unused (params.grad)
    int n_grad_parts;
    fl_dev_buf pack_d;        // (own slices, trainable) the partials packed for the fold
    fl_host_buf dir_parts, qloss;  // (own slices, K) direction scalars; (B) query losses
};

// The estimator registry (engine.c): one line per estimator. The harness asks it, never the
// method's name, what an estimator is.
const fl_estimator_vt* fl_estimator_find(const char* name);  // NULL when unknown
int fl_estimator_count(void);
const fl_estimator_vt* fl_estimator_at(int i);               // 0 <= i < fl_estimator_count()
const char* fl_estimator_names(void);                        // "bp, mezo, lr"
const char* fl_estimator_names_forward(void);                // the forward-only ones: "mezo, lr"
const char* fl_estimator_reference(void);                    // the exact one's name: "bp"
// Traits by name, for results that name a method (a CSV row): unknown names are forward-only
// estimators without these traits.
int fl_method_is_exact(const char* name);            // the reference (bp)
int fl_method_perturbs_layers(const char* name);     // lr: scope, pairs, baseline, sigma apply
int fl_method_perturbs_weights(const char* name);    // mezo: directions from the seed

// Creates an engine: method name, allocator name (ignored for bp), dataset size (for the
// previous-visit table), seed. Sets the trainable flags of log-sigma tensors for the method.
fl_engine* fl_engine_new(const fl_ops* ops, fl_model* model, const char* method,
                         const char* allocator, const fl_alloc_opts* ao, const fl_est_opts* eo,
                         int64_t dataset_size, uint64_t seed, fl_err* err);
void fl_engine_free(fl_engine* e);
// One gradient estimate into model->params.grad (zeroed first), step counter advanced.
// MeZO also keeps it as directions (dir_K, dir_s), and writes params.grad only when the
// buffer exists (see fl_params_drop_grad).
int fl_engine_grad(fl_engine* e, const fl_batch* b, fl_step_stats* st, fl_err* err);
// Applies the last estimate with the optimiser: from params.grad, or, when the gradient
// buffer was dropped (MeZO), from the directions. Returns the estimate's norm.
struct fl_optim;
double fl_engine_apply(fl_engine* e, struct fl_optim* o, int epoch);

// Data parallelism (docs/SCALING.md): every batch is cut into `slices` slices, this process
// computes the slices of its rank, and the results are combined in slice order, so that the
// run is the same at any world size up to `slices`. A world of one and one slice (the default)
// is the computation of one process. Fails (-1, err) when slices < the world size.
int fl_engine_distribute(fl_engine* e, fl_dist* dist, int slices, fl_err* err);
// This process's slices of the current step: [*s_lo, *s_hi) of e->slices.
void fl_engine_own_slices(const fl_engine* e, int* s_lo, int* s_hi);
// The data of slice s of b: a view of its rows; *d0 gets its first datum.
fl_batch fl_batch_slice(const fl_engine* e, const fl_batch* b, int s, int* d0);
// Around the gradient of slice s: begin points params.grad at the slice's zeroed partial;
// end adds it in slice order (one process) or keeps it for fl_engine_reduce_grad.
void fl_engine_slice_grad_begin(fl_engine* e, int s);
void fl_engine_slice_grad_end(fl_engine* e, int s);
// The reductions of a step, in one place: the partial gradients of the slices into params.grad
// (LR, BP: the trainable floats), and the K direction scalars of the own slices (parts: one row
// of K floats per own slice, host) into the kept estimate (fl_dir_keep), also into params.grad
// when the buffer exists.
void fl_engine_reduce_grad(fl_engine* e);
void fl_engine_reduce_dirs(fl_engine* e, int K, float* parts, uint32_t stream);
// (own slices, K) host rows for fl_engine_reduce_dirs, zeroed.
float* fl_engine_dir_parts(fl_engine* e, int K);

// --- what the estimators share (engine.c) ---
// Clean forward of the batch: per-datum loss into host `loss` (B), through the backend buffer
// loss_d. Keeps BP or LR state if asked (FL_KEEP_*).
void fl_clean_forward(fl_engine* e, const fl_batch* b, fl_dev_buf* loss_d, float* loss_host, int keep);
// Query rows that fit in memory at once for this model (>= 1), with extra_bytes_per_query
// more per row that the estimator itself keeps (lr.c: the kept noise).
int fl_engine_chunk_rows(fl_engine* e, int B, size_t extra_bytes_per_query);
// The allocation total of a step of B data after `spent` queries (clean pass, pilot):
// alloc_total(budget * B - spent), so that the step spends at most budget * B.
long fl_engine_alloc_total(const fl_engine* e, int B, long spent, int* n_min, int* even);
// The queries the prelude spends before the allocation for B data (clean pass, pilot), where
// first_visit says some datum has no previous-visit proxy yet.
long fl_engine_overhead(const fl_engine* e, int B, int first_visit);
// Fills proxy (B) from the previous-visit table (NaN where unseen); stores new values.
void fl_proxy_lookup(fl_engine* e, const fl_batch* b, float* proxy);
void fl_proxy_store(fl_engine* e, const fl_batch* b, const float* proxy);
// 1 when the allocator needs the previous-visit proxy and some datum of b has none yet.
int fl_proxy_first_visit(const fl_engine* e, const fl_batch* b);
// Fills the NaN entries of proxy (B) from the batch's clean losses: (1 - exp(-l_i))^2, the
// squared error of the true class's probability, scaled to the known entries (docs/METHOD.md,
// "Proxy"). Costs no query: the clean pass is counted in the spend.
void fl_proxy_fill_from_loss(int B, const float* clean, float* proxy);
// The oracle of e's estimator: v_i (B) with `queries` extra network queries per datum.
int fl_engine_oracle(fl_engine* e, const fl_batch* b, int queries, float* v_out, fl_step_stats* st,
                     fl_err* err);

#ifdef __cplusplus
}
#endif
