// train.c: one training run: load data, build the model and estimator, run the epochs,
// evaluate, and append one results row per epoch (schema.h), with the run's status (ok, or
// diverged by the rule of diverge.h).
#include <string.h>
#include <errno.h>
#include <math.h>
#include <unistd.h>
#include <time.h>
#include <omp.h>
#include "train.h"
#include "schema.h"
#include "csvrewrite.h"
#include "setup.h"
#include "diverge.h"
#include "track.h"
#include "series.h"
#include "../../impl/optim/optim.h"
#include "../../impl/models/model.h"
#include "../../impl/kernels/philox.h"
#include "../../impl/core/nvtx.h"
#include "../../impl/backend/dist.h"
#include "../../datasets/dataset.h"


void fl_train_cfg_default(fl_train_cfg* c) {
    memset(c, 0, sizeof *c);
    snprintf(c->dataset, sizeof c->dataset, "fashion-mnist");
    snprintf(c->model, sizeof c->model, "mlp");
    snprintf(c->act, sizeof c->act, "relu");
    snprintf(c->method, sizeof c->method, "lr");
    snprintf(c->allocator, sizeof c->allocator, "uniform");
    snprintf(c->scope, sizeof c->scope, "all");
    snprintf(c->optim, sizeof c->optim, "adam");
    snprintf(c->backend, sizeof c->backend, "cpu");
    c->class_lo = c->class_hi = -1;
    c->eo = fl_est_opts_default();
    c->ao = fl_alloc_opts_default();
    c->batch = 64;
    c->epochs = 1;
    c->lr = 1e-3f;
    c->gamma = 1.0f;
    c->eval_batch = 500;
    c->eval_every = 1;
    c->progress = -1;
    c->slices = 1;
    c->intrinsic_dim = 1000;
    c->projection_scale = 1.0f;
    c->blackbox_timeout = 60.0f;
}

// Uniform integer in [0, n) from Philox (seed, stream "SHUF", epoch, draw).
static int64_t rand_below(uint64_t seed, uint32_t epoch, uint64_t draw, int64_t n) {
    fl_u32x4 c = {{(uint32_t)draw, (uint32_t)(draw >> 32), epoch, 0x53485546u}};
    fl_u32x4 r = fl_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    uint64_t u = ((uint64_t)r.v[0] << 32) | r.v[1];
    return (int64_t)(u % (uint64_t)n);  // bias below 2^-40 for the sizes used here
}

static void shuffle(int64_t* a, int64_t n, uint64_t seed, uint32_t epoch) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rand_below(seed, epoch, (uint64_t)i, i + 1);
        int64_t t = a[i]; a[i] = a[j]; a[j] = t;
    }
}

// Evaluation: mean loss and accuracy of the model on idx[0..n) of d. In a data-parallel run each
// rank evaluates a contiguous run of the evaluation batches, and the per-datum losses and hits
// are gathered and summed in datum order: the same numbers at any world size.
static void evaluate(fl_model* m, const fl_setup* S, const fl_images* d, const int64_t* idx, int64_t n, int eval_batch,
                     double* loss_out, double* acc_out) {
    FL_NVTX_PUSH("evaluation");
    const fl_ops* ops = m->ops;
    fl_dist* dist = fl_dist_world();
    int Bmax = (int)(n < eval_batch ? n : eval_batch);
    int64_t dim = fl_setup_in_dim(S, d);
    float* xh = fl_malloc((size_t)Bmax * dim * sizeof(float));
    int32_t* yh = fl_malloc((size_t)Bmax * sizeof(int32_t));
    float* lh = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));     // (n) per-datum loss
    int32_t* ah = fl_malloc((size_t)Bmax * sizeof(int32_t));
    float* hit = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));    // (n) 1: correct
    float* xd = ops->alloc((size_t)Bmax * dim * sizeof(float));
    int32_t* yd = ops->alloc((size_t)Bmax * sizeof(int32_t));
    float* ld = ops->alloc((size_t)Bmax * sizeof(float));
    int32_t* ad = ops->alloc((size_t)Bmax * sizeof(int32_t));
    m->vt->reserve(m, Bmax, Bmax);
    int64_t batches = Bmax ? (n + Bmax - 1) / Bmax : 0;
    long first[dist->size + 1];  // rank r: data [first[r], first[r+1]), whole batches
    for (int r = 0; r <= dist->size; r++) {
        int64_t b0 = batches * r / dist->size;
        first[r] = (long)(b0 * Bmax < n ? b0 * Bmax : n);
    }
    for (int64_t s = first[dist->rank]; s < first[dist->rank + 1]; s += Bmax) {
        int B = (int)(n - s < Bmax ? n - s : Bmax);
        fl_setup_inputs(S, d, idx + s, B, xh);
        for (int i = 0; i < B; i++) yh[i] = d->labels[idx[s + i]];
        ops->upload(xd, xh, (size_t)B * dim * sizeof(float));
        ops->upload(yd, yh, (size_t)B * sizeof(int32_t));
        fl_fwd f = {.x = xd, .B = B, .Q = B, .labels = yd, .loss = ld, .argmax = ad};
        m->vt->forward(m, &f);
        ops->download(lh + s, ld, (size_t)B * sizeof(float));
        ops->download(ah, ad, (size_t)B * sizeof(int32_t));
        for (int i = 0; i < B; i++) hit[s + i] = ah[i] == yh[i];
    }
    fl_dist_gather_ranges(dist, lh, sizeof(float), first);
    fl_dist_gather_ranges(dist, hit, sizeof(float), first);
    double loss = 0.0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        loss += lh[i];
        correct += hit[i] != 0.f;
    }
    *loss_out = loss / (double)n;
    *acc_out = (double)correct / (double)n;
    ops->free(xd); ops->free(yd); ops->free(ld); ops->free(ad);
    free(xh); free(yh); free(lh); free(ah); free(hit);
    m->vt->release(m);  // the evaluation batch's activations are not held into training (peak_model_mb)
    FL_NVTX_POP();
}

// The clean mean loss of batch b at the current parameters: the divergence rule's L0, and its
// check when a step could not run (docs/METHOD.md, "Divergence"). Bookkeeping like evaluation:
// no queries counted, no training time (the caller takes its time out of the run's). One
// forward of the whole batch, whose size training already holds.
static double batch_clean_loss(fl_model* m, const fl_setup* S, const fl_batch* b) {
    double loss, acc;
    evaluate(m, S, &S->train, b->index, b->B, b->B, &loss, &acc);
    return loss;
}

// A loss or norm for a message: "nan" for every NaN (its sign bit means nothing), else %g.
static const char* num_text(double v, char* buf, size_t len) {
    if (isnan(v)) snprintf(buf, len, "nan");
    else snprintf(buf, len, "%g", v);
    return buf;
}

// Copies an error message, writing every "-nan" as "nan" (a NaN's sign means nothing; the
// message of a diverged run reads the same whichever NaN the backend made).
static void copy_without_nan_sign(char* out, size_t len, const char* msg) {
    size_t k = 0;
    for (const char* p = msg; *p && k + 1 < len; p++) {
        if (!strncmp(p, "-nan", 4)) continue;  // drops the '-', keeps "nan"
        out[k++] = *p;
    }
    out[k] = 0;
}

// After a step, or its tracking, stopped on an error: 1 when the run has diverged instead, the
// batch's clean loss being non-finite or above the limit (an allocator refuses a NaN loss; an
// exploded model gives non-finite tracked gradients), with the message in msg; 0 when it has
// failed. The loss's time is taken out of the run's (*t_run0).
static int error_is_divergence(fl_model* m, const fl_setup* S, const fl_batch* b, double l0,
                               int epoch, long long step, const char* why, double* t_run0, char* msg, size_t len) {
    double tt = fl_now();
    double loss = batch_clean_loss(m, S, b);
    *t_run0 += fl_now() - tt;
    if (!fl_diverged_loss(l0, loss)) return 0;
    char num[32], lim[32], reason[320];
    copy_without_nan_sign(reason, sizeof reason, why);
    if (isfinite(loss))
        snprintf(msg, len, "epoch %d step %lld: the batch's clean loss %s exceeds max(%g L0, L0 + %g) = %s (%s)", epoch,
                 step, num_text(loss, num, sizeof num), FL_DIVERGE_FACTOR, FL_DIVERGE_NATS,
                 num_text(fl_diverge_limit(l0), lim, sizeof lim), reason);
    else snprintf(msg, len, "epoch %d step %lld: loss is %s (%s)", epoch, step, num_text(loss, num, sizeof num), reason);
    return 1;
}

// A model that failed at run time (a black box's fault, model.h): 1 with its message in err.
// Checked before anything reads a non-finite loss as divergence: the run failed, it did not
// diverge.
static int model_failed(const fl_model* m, fl_err* err) {
    if (!m->failure) return 0;
    fl_fail(err, "%s", m->failure);
    return 1;
}

static const char* pairing_name(fl_pairing p) { return p == FL_PAIR_SAME ? "same" : p == FL_PAIR_CROSS ? "cross" : "none"; }
static const char* baseline_name(fl_baseline b) { return b == FL_BASE_CLEAN ? "clean" : b == FL_BASE_MEAN ? "mean" : "none"; }

// Per-epoch sums.
typedef struct {
    long steps;
    double loss, grad_norm;
    double t_step, t_clean, t_alloc, t_forward, t_grad, t_update;
    double t_comm, comm_bytes, reduce_bytes;  // data parallelism: time and bytes, summed over steps
    double t_box, t_box_compute;  // prompt tuning: seconds inside the black box, and of them its own
    int n_lo, n_hi;
    long nonuniform;          // steps whose allocation was not the uniform rule's
    double n_mislabelled, n_all;  // allocated units to mislabelled data, and to all (--label-noise)
} epoch_acc;

typedef struct {
    long queries, q_clean, q_pilot, q_oracle, steps;
    double peak_model_mb;     // peak over the steps of bytes held through ops->alloc
    long visits;              // data seen by steps, sum of B: the spend's denominator
    double flops, wall_s;
    int stop_epoch;           // --early-stop: the epoch whose parameters the run ends with (0: none yet)
    int stopped;              // --early-stop ended the run before its last epoch
} run_acc;

static void fill_row(fl_row* row, const fl_train_cfg* cfg, const fl_ops* ops, const char* key,
                     const char* dataset_desc, int epoch, const epoch_acc* ea, const run_acc* ra,
                     double test_loss, double test_acc, const char* status, const char* msg) {
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int is_bp = fl_method_is_exact(cfg->method);
    int layers = fl_method_perturbs_layers(cfg->method);
    char series[200];
    fl_series_label(key, cfg->method, is_bp ? "" : cfg->allocator, cfg->checkpoint == FL_CKPT_BLOCK && is_bp, series, sizeof series);
    // the run's last row: its last epoch, --max-steps reached, or a run that stopped (train.c's loop)
    int final = strcmp(status, "ok") != 0 || epoch >= cfg->epochs || (cfg->max_steps && ra->steps >= cfg->max_steps) ||
                ra->stopped;
    fl_row_set(row, "schema", "%d", FL_SCHEMA_VERSION);
    fl_row_set(row, "cell_key", "%s", key);
    fl_row_set(row, "series", "%s", series);
    fl_row_set(row, "status", "%s", status);
    fl_row_set(row, "git_rev", "%s", fl_git_rev());
    fl_row_set(row, "timestamp", "%s", ts);
    fl_row_set(row, "host", "%s", host);
    fl_row_set(row, "backend", "%s", cfg->backend);
    fl_row_set(row, "device", "%s", ops ? ops->device_name : "");
    fl_row_set(row, "threads", "%d", omp_get_max_threads());
    fl_row_set(row, "world_size", "%d", fl_dist_world()->size);
    fl_row_set(row, "slices", "%d", cfg->slices);
    // the dataset without its class range, which has its own column
    char dataset[128];
    snprintf(dataset, sizeof dataset, "%s", dataset_desc);
    char* lb = strchr(dataset, '[');
    char* rb = lb ? strchr(lb, ']') : NULL;
    if (rb) memmove(lb, rb + 1, strlen(rb + 1) + 1);
    fl_row_set(row, "dataset", "%s", dataset);
    if (cfg->class_lo >= 0) fl_row_set(row, "classes", "%d-%d", cfg->class_lo, cfg->class_hi);
    if (cfg->prompt_len > 0)  // the trained prompt and what answers it
        fl_row_set(row, "model", "prompt:P=%d,d=%d:%s", cfg->prompt_len, cfg->intrinsic_dim,
                   cfg->blackbox[0] ? "blackbox" : cfg->model);
    else fl_row_set(row, "model", "%s", cfg->model);
    fl_row_set(row, "method", "%s", cfg->method);
    if (!is_bp) fl_row_set(row, "allocator", "%s", cfg->allocator);
    fl_row_set(row, "budget", "%d", is_bp ? 1 : cfg->eo.budget);
    fl_row_set(row, "batch", "%d", cfg->batch);
    fl_row_set(row, "shots", "%d", cfg->shots);
    fl_row_set(row, "seed", "%llu", (unsigned long long)cfg->seed);
    fl_row_set(row, "epoch", "%d", epoch);
    fl_row_set(row, "epochs", "%d", cfg->epochs);
    fl_row_set(row, "final", "%d", final);
    if (cfg->early_stop > 0 && final && ra->stop_epoch > 0) fl_row_set(row, "stop_epoch", "%d", ra->stop_epoch);
    fl_row_set(row, "steps", "%ld", ra->steps);
    fl_row_set(row, "lr", "%g", (double)cfg->lr);
    fl_row_set(row, "optimizer", "%s", cfg->optim);
    if (layers) {
        fl_row_set(row, "scope", "%s", cfg->scope);
        fl_row_set(row, "pairing", "%s", pairing_name(cfg->eo.pairing));
        fl_row_set(row, "baseline", "%s", baseline_name(cfg->eo.baseline));
    }
    fl_row_set(row, "weighting", "%s", cfg->eo.weighting == FL_WEIGHT_UNBIASED ? "unbiased" : "equal-row");
    fl_row_set(row, "proxy", "%s", cfg->eo.proxy == FL_PROXY_PREV ? "prev" : "pilot");
    fl_row_set(row, "sigma0", "%g", (double)cfg->eo.sigma0);
    fl_row_set(row, "mu", "%g", (double)cfg->eo.mu);
    fl_row_set(row, "checkpoint", "%s", cfg->checkpoint == FL_CKPT_BLOCK ? "block" : "none");
    double st = ea && ea->steps ? (double)ea->steps : 1.0;
    if (ea && ea->steps) fl_row_set(row, "train_loss", "%.6g", ea->loss / st);
    fl_row_set(row, "eval_split", "%s", cfg->val_per_class > 0 ? "val" : "test");
    if (isfinite(test_loss)) fl_row_set(row, "eval_loss", "%.6g", test_loss);
    if (isfinite(test_acc)) fl_row_set(row, "eval_acc", "%.6g", test_acc);
    fl_row_set(row, "queries", "%ld", ra->queries);
    fl_row_set(row, "queries_clean", "%ld", ra->q_clean);
    fl_row_set(row, "queries_pilot", "%ld", ra->q_pilot);
    fl_row_set(row, "queries_oracle", "%ld", ra->q_oracle);
    if (ra->visits > 0)  // the spend rule's measure: oracle queries are benchmark-only, apart
        fl_row_set(row, "spend_per_datum", "%.6g", (double)(ra->queries - ra->q_oracle) / (double)ra->visits);
    fl_row_set(row, "fwd_gflop", "%.6g", ra->flops * 1e-9);
    fl_row_set(row, "wall_s", "%.4f", ra->wall_s);
    if (ea && ea->steps) {
        fl_row_set(row, "step_ms", "%.4f", 1e3 * ea->t_step / st);
        fl_row_set(row, "t_clean_ms", "%.4f", 1e3 * ea->t_clean / st);
        fl_row_set(row, "t_alloc_ms", "%.4f", 1e3 * ea->t_alloc / st);
        fl_row_set(row, "t_forward_ms", "%.4f", 1e3 * ea->t_forward / st);
        fl_row_set(row, "t_grad_ms", "%.4f", 1e3 * ea->t_grad / st);
        fl_row_set(row, "t_update_ms", "%.4f", 1e3 * ea->t_update / st);
        if (cfg->prompt_len > 0) {
            fl_row_set(row, "t_blackbox_ms", "%.4f", 1e3 * ea->t_box / st);
            fl_row_set(row, "t_blackbox_compute_ms", "%.4f", 1e3 * ea->t_box_compute / st);
        }
        fl_row_set(row, "t_comm_ms", "%.4f", 1e3 * ea->t_comm / st);
        fl_row_set(row, "comm_bytes", "%.0f", ea->comm_bytes / st);
        fl_row_set(row, "reduce_bytes", "%.0f", ea->reduce_bytes / st);
        fl_row_set(row, "n_lo", "%d", ea->n_lo);
        fl_row_set(row, "n_hi", "%d", ea->n_hi);
        fl_row_set(row, "alloc_nonuniform_frac", "%.6g", (double)ea->nonuniform / st);
        if (ea->n_all > 0) fl_row_set(row, "mislabelled_share", "%.6g", ea->n_mislabelled / ea->n_all);
        fl_row_set(row, "grad_norm", "%.6g", ea->grad_norm / st);
    }
    fl_row_set(row, "peak_rss_mb", "%.1f", fl_peak_rss_mb());
    if (ops && strcmp(cfg->backend, "cpu")) fl_row_set(row, "peak_dev_mb", "%.1f", ops->peak_mem_mb());
    if (ra->peak_model_mb > 0) fl_row_set(row, "peak_model_mb", "%.3f", ra->peak_model_mb);
    if (cfg->weights[0]) fl_row_set(row, "init_weights", "%s", cfg->weights);
    fl_row_set(row, "config", "%s", cfg->config_str);
    fl_row_set(row, "message", "%s", msg ? msg : "");
}

// --early-stop N (docs/METHOD.md, "Early stopping"): the lowest validation loss so far, its
// accuracy and epoch, a host copy of the parameters that gave it, and the evaluations since.
typedef struct {
    double best_loss, best_acc;
    int best_epoch, since;
    float* best;              // (params.total) host
} early_stop;

// After an evaluation of epoch `epoch`: a lower loss keeps these parameters; after `patience`
// evaluations without one, or at the run's last epoch, the run ends (ra->stopped, except at the
// last epoch) with the best parameters back in the model and their evaluation in *loss, *acc.
static void early_stop_update(early_stop* es, fl_model* m, int patience, int epoch, int last, double* loss,
                              double* acc, run_acc* ra) {
    if (!es->best) es->best = fl_malloc(m->params.total * sizeof(float));
    if (es->best_epoch == 0 || *loss < es->best_loss) {
        es->best_loss = *loss;
        es->best_acc = *acc;
        es->best_epoch = epoch;
        es->since = 0;
        fl_params_download(&m->params, es->best);
    } else {
        es->since++;
    }
    ra->stop_epoch = es->best_epoch;
    if (es->since < patience && !last) return;
    ra->stopped = !last;
    if (es->best_epoch != epoch) {
        fl_params_upload(&m->params, es->best);
        fl_model_refresh_sigma(m);
        *loss = es->best_loss;
        *acc = es->best_acc;
    }
}

// Writes a one-row record of a run that could not start (missing data, bad weights...).
static void write_failure(const fl_train_cfg* cfg, const char* key, const char* status, const char* msg) {
    if (!cfg->out[0]) return;
    fl_row row;
    fl_row_init(&row);
    run_acc ra = {0};
    fill_row(&row, cfg, NULL, key, cfg->dataset, 0, NULL, &ra, NAN, NAN, status, msg);
    fl_err e2;
    // an append that fails as the run's own error did is said once, by the caller
    if (fl_row_append(&row, cfg->out, &e2) && strcmp(e2.msg, msg)) fprintf(stderr, "flbench: %s\n", e2.msg);
    fl_row_free(&row);
}

// A data-parallel run's start-up, agreed (docs/SCALING.md): every rank says whether it failed;
// 0 when none did. Otherwise the first rank that failed keeps its message (the job's one
// line), the others say nothing (*quiet), and rank 0 records in err which rank it was.
static int startup_agreed(fl_dist* dist, int failed, fl_err* err, int* quiet) {
    if (dist->size == 1) return failed;
    int first = dist->size - fl_dist_max(dist, failed ? dist->size - dist->rank : 0);
    if (first == dist->size) return 0;
    if (dist->rank == first) return 1;
    *quiet = 1;
    if (dist->rank == 0) fl_fail(err, "rank %d of %d failed to start (its line is in the job's output)", first, dist->size);
    return 1;
}

int fl_train(const fl_train_cfg* cfg_in, fl_train_result* res, fl_err* err) {
    memset(res, 0, sizeof *res);
    // a data-parallel run: every rank trains, rank 0 alone writes (rows, weights, logs, lines)
    fl_dist* dist = fl_dist_world();
    fl_train_cfg* cfg_rank = fl_malloc(sizeof *cfg_rank);
    *cfg_rank = *cfg_in;
    if (dist->rank > 0) {
        cfg_rank->out[0] = cfg_rank->save[0] = cfg_rank->alloc_log[0] = cfg_rank->track_out[0] = 0;
        cfg_rank->quiet = 1;
        cfg_rank->progress = 0;
    }
    const fl_train_cfg* cfg = cfg_rank;
    int agreed = 0, started = 0;  // at, and past, the start-up agreement: a failure after it ends the job
    snprintf(res->status, sizeof res->status, "failed");
    char key[300];
    if (cfg->cell_key[0]) snprintf(key, sizeof key, "%s", cfg->cell_key);
    else snprintf(key, sizeof key, "train:%016llx", (unsigned long long)fl_fnv1a_str(1469598103934665603ull, cfg->config_str));
    int rc = -1;
    fl_setup S;
    memset(&S, 0, sizeof S);
    fl_model* m = NULL;
    fl_engine* e = NULL;
    fl_optim opt;
    memset(&opt, 0, sizeof opt);
    float* xh = NULL;
    int32_t* yh = NULL;
    float* xd = NULL;
    int32_t* yd = NULL;
    FILE* alloc_log = NULL;
    fl_track* track = NULL;  // --track-variance (track.h): benchmark-only, the run is unchanged
    early_stop es = {0};     // --early-stop

    // --out first: a file that cannot take the rows is refused before anything runs (and gets
    // no failure row), and a torn last row left by a killed writer is cut off before appending
    int out_ok = !cfg->out[0] || fl_results_prepare_append(cfg->out, err) == 0;
    if (!out_ok) goto fail;
    if (cfg->batch < 1) { fl_fail(err, "--batch: expected a positive batch size, found %d", cfg->batch); goto fail; }
    if (fl_track_check(cfg, err)) goto fail;
    if (cfg->epochs < 0) { fl_fail(err, "--epochs: expected a non-negative count, found %d", cfg->epochs); goto fail; }
    if (fl_setup_open(cfg, &S, res->status, err)) goto fail;
    const fl_ops* ops = S.ops;
    m = S.m;
    fl_images train = S.train;  // (views: S owns the memory)
    const fl_images* ev_data = S.ev_data;
    int64_t* tr_idx = S.tr_idx;
    int64_t* ev_idx = S.ev_idx;
    int64_t n_tr = S.n_tr, n_ev = S.n_ev;
    const char* dataset_desc = S.dataset_desc;
    e = fl_engine_new(ops, m, cfg->method, cfg->allocator, &cfg->ao, &cfg->eo, train.n, cfg->seed, err);
    if (!e) goto fail;
    if (fl_engine_distribute(e, dist, cfg->slices, err)) goto fail;
    if (dist->size > 1 && cfg->track_every) {
        fl_fail(err, "--track-variance: runs in one process only (found a world of %d ranks)", dist->size);
        goto fail;
    }
    // an estimate kept as directions (MeZO) trains without a gradient buffer: inference memory
    // plus optimizer state
    if (e->est->directions) fl_params_drop_grad(&m->params);
    if (fl_optim_init(&opt, &m->params, cfg->optim, cfg->lr, err)) goto fail;
    if (cfg->track_every && !(track = fl_track_new(cfg, &S, e, key, err))) goto fail;
    opt.weight_decay = cfg->weight_decay;
    opt.clip = cfg->clip;
    opt.momentum = cfg->momentum;
    opt.step_size = cfg->step_size;
    opt.gamma = cfg->gamma;

    int Bmax = (int)(n_tr < cfg->batch ? n_tr : cfg->batch);
    int64_t dim = fl_setup_in_dim(&S, &S.train);
    xh = fl_malloc((size_t)Bmax * dim * sizeof(float));
    yh = fl_malloc((size_t)Bmax * sizeof(int32_t));
    xd = ops->alloc((size_t)Bmax * dim * sizeof(float));
    yd = ops->alloc((size_t)Bmax * sizeof(int32_t));
    int64_t steps_per_epoch = (n_tr + cfg->batch - 1) / cfg->batch;
    int progress = cfg->progress < 0 ? isatty(2) && !cfg->quiet : cfg->progress;
    run_acc ra = {0};
    double test_loss = NAN, test_acc = NAN;
    if (cfg->alloc_log[0] && !(alloc_log = fopen(cfg->alloc_log, "w"))) {
        fl_fail(err, "--alloc-log %s: cannot create: %s", cfg->alloc_log, strerror(errno));
        goto fail;
    }
    if (alloc_log) fprintf(alloc_log, "step,epoch,datum,n,proxy,loss,oracle\n");
    agreed = 1;
    if (startup_agreed(dist, 0, err, &res->quiet_error)) goto fail;
    started = 1;
    const char* status = "ok";
    char msg[512] = "";
    if (cfg->eval_initial || cfg->epochs == 0) {  // --epochs 0: this row is the run's only one
        evaluate(m, &S, ev_data, ev_idx, n_ev, cfg->eval_batch, &test_loss, &test_acc);
        if (model_failed(m, err)) goto fail;
        if (cfg->out[0]) {
            fl_row row;
            fl_row_init(&row);
            fill_row(&row, cfg, ops, key, dataset_desc, 0, NULL, &ra, test_loss, test_acc, "ok", NULL);
            int arc = fl_row_append(&row, cfg->out, err);
            fl_row_free(&row);
            if (arc) goto fail;
        }
        if (!cfg->quiet)
            fprintf(stderr, "epoch 0 (before training): %s_loss %.4f  %s_acc %.4f\n", cfg->val_per_class > 0 ? "val" : "test",
                    test_loss, cfg->val_per_class > 0 ? "val" : "test", test_acc);
        if (cfg->epochs == 0 && cfg->save[0]) {  // the final parameters are the initial ones
            const char* meta[] = {"epoch", "0", "config", cfg->config_str};
            if (fl_model_save(m, cfg->save, meta, 2, err)) goto fail;
        }
    }
    double l0 = NAN;  // the divergence rule's initial loss: the first batch's, before the first step
    char num[32];
    double t_run0 = fl_now();
    for (int epoch = 1; epoch <= cfg->epochs && !strcmp(status, "ok") && !ra.stopped; epoch++) {
        epoch_acc ea = {0};
        ea.n_lo = 1 << 30;
        e->epoch = epoch - 1;
        shuffle(tr_idx, n_tr, cfg->seed, (uint32_t)epoch);
        for (int64_t s = 0; s < steps_per_epoch; s++) {
            if (cfg->max_steps && ra.steps >= cfg->max_steps) break;
            int64_t first = s * cfg->batch;
            int B = (int)(n_tr - first < cfg->batch ? n_tr - first : cfg->batch);
            fl_setup_inputs(&S, &S.train, tr_idx + first, B, xh);
            for (int i = 0; i < B; i++) yh[i] = train.labels[tr_idx[first + i]];
            ops->upload(xd, xh, (size_t)B * dim * sizeof(float));
            ops->upload(yd, yh, (size_t)B * sizeof(int32_t));
            fl_batch b = {.B = B, .x = xd, .y = yd, .y_host = yh, .index = tr_idx + first};
            if (ra.steps == 0) {  // L0 (docs/METHOD.md, "Divergence"); not training time
                double tt = fl_now();
                l0 = batch_clean_loss(m, &S, &b);
                t_run0 += fl_now() - tt;
                if (model_failed(m, err)) goto fail;
                if (!isfinite(l0)) {
                    status = "diverged";
                    snprintf(msg, sizeof msg, "epoch %d step %lld: loss is %s at the initial parameters", epoch,
                             (long long)s, num_text(l0, num, sizeof num));
                    break;
                }
            }
            if (fl_track_due(track, ra.steps)) {  // on this batch before its step; not training time
                double tt = fl_now();
                int trc = fl_track_step(track, e, &b, epoch, ra.steps, err);
                t_run0 += fl_now() - tt;
                if (trc && !error_is_divergence(m, &S, &b, l0, epoch, (long long)s, err->msg, &t_run0,
                                                msg, sizeof msg))
                    goto fail;
                if (trc) { status = "diverged"; break; }
            }
            ops->alloc_peak_reset();
            fl_dist_reset(dist);
            double t0 = fl_now();
            double box0 = m->box ? m->box->wall_s : 0.0, boxc0 = m->box ? m->box->compute_s : 0.0;
            fl_step_stats st;
            FL_NVTX_PUSH("step");
            int grc = fl_engine_grad(e, &b, &st, err);
            if (model_failed(m, err)) {
                FL_NVTX_POP();
                goto fail;
            }
            if (m->box) {
                ea.t_box += m->box->wall_s - box0;
                ea.t_box_compute += m->box->compute_s - boxc0;
            }
            if (grc) {
                FL_NVTX_POP();
                if (!error_is_divergence(m, &S, &b, l0, epoch, (long long)s, err->msg, &t_run0, msg,
                                         sizeof msg))
                    goto fail;
                status = "diverged";
                break;
            }
            double t1 = fl_now();
            FL_NVTX_PUSH("update");
            double gnorm = fl_engine_apply(e, &opt, epoch - 1);
            ops->sync();
            FL_NVTX_POP();
            FL_NVTX_POP();
            double t2 = fl_now();
            if ((double)ops->alloc_peak() / 1048576.0 > ra.peak_model_mb) ra.peak_model_mb = (double)ops->alloc_peak() / 1048576.0;
            if (alloc_log && ra.steps % (cfg->alloc_log_every > 1 ? cfg->alloc_log_every : 1) == 0)
                for (int i = 0; i < e->last_B; i++)  // this step's n_i, proxy, loss, oracle v_i (not timed)
                    fprintf(alloc_log, "%ld,%d,%lld,%d,%.6g,%.6g,%.6g\n", ra.steps, epoch, (long long)b.index[i],
                            e->last_n[i], (double)e->last_proxy[i], (double)e->last_loss[i], (double)e->last_oracle[i]);
            ra.steps++;
            ra.queries += st.queries;
            ra.q_clean += st.queries_clean;
            ra.q_pilot += st.queries_pilot;
            ra.q_oracle += st.queries_oracle;
            ra.visits += B;
            ea.nonuniform += st.nonuniform;
            if (S.mislabelled && e->alloc)
                for (int i = 0; i < e->last_B; i++) {
                    ea.n_all += e->last_n[i];
                    if (S.mislabelled[b.index[i]]) ea.n_mislabelled += e->last_n[i];
                }
            ra.flops += st.flops;
            ea.steps++;
            ea.loss += st.loss;
            ea.grad_norm += gnorm;
            ea.t_step += t2 - t0;
            ea.t_clean += st.t_clean;
            ea.t_alloc += st.t_alloc;
            ea.t_forward += st.t_forward;
            ea.t_grad += st.t_grad;
            ea.t_update += t2 - t1;
            ea.t_comm += dist->t_comm;
            ea.comm_bytes += dist->bytes_sent;
            ea.reduce_bytes += dist->bytes_reduced;
            if (st.n_lo < ea.n_lo) ea.n_lo = st.n_lo;
            if (st.n_hi > ea.n_hi) ea.n_hi = st.n_hi;
            if (fl_diverged_step(st.loss, gnorm)) {
                status = "diverged";
                snprintf(msg, sizeof msg, "epoch %d step %lld: %s is %s", epoch, (long long)s,
                         isfinite(st.loss) ? "gradient norm" : "loss", num_text(isfinite(st.loss) ? gnorm : st.loss, num, sizeof num));
                break;
            }
            if (progress) {
                double el = fl_now() - t_run0;
                double frac = (double)ra.steps / (double)(steps_per_epoch * cfg->epochs);
                fprintf(stderr, "\r  epoch %d/%d  step %lld/%lld  loss %.4f  %.1f ms/step  ETA %.0f s   ",
                        epoch, cfg->epochs, (long long)s + 1, (long long)steps_per_epoch, ea.loss / ea.steps,
                        1e3 * ea.t_step / ea.steps, frac > 0 ? el / frac - el : 0.0);
            }
        }
        ra.wall_s = fl_now() - t_run0;
        if (progress) fprintf(stderr, "\n");
        int last = epoch == cfg->epochs || (cfg->max_steps && ra.steps >= cfg->max_steps);
        // finite but exploded: the epoch's mean training loss against L0 (docs/METHOD.md, "Divergence")
        if (strcmp(status, "ok") == 0 && ea.steps && fl_diverged_loss(l0, ea.loss / ea.steps)) {
            char lim[32], l0s[32];
            status = "diverged";
            snprintf(msg, sizeof msg, "epoch %d: mean training loss %s exceeds max(%g L0, L0 + %g) = %s (L0 = %s, the first batch's clean loss)",
                     epoch, num_text(ea.loss / ea.steps, num, sizeof num), FL_DIVERGE_FACTOR, FL_DIVERGE_NATS,
                     num_text(fl_diverge_limit(l0), lim, sizeof lim), num_text(l0, l0s, sizeof l0s));
        }
        if (strcmp(status, "ok") && cfg->save[0]) {  // a diverged run saves nothing (the loop ends here)
            size_t n = strlen(msg);
            snprintf(msg + n, sizeof msg - n, "; --save: no weights written");
        }
        if (strcmp(status, "ok") == 0 && (last || (cfg->eval_every > 0 && epoch % cfg->eval_every == 0))) {
            double te0 = fl_now();
            evaluate(m, &S, ev_data, ev_idx, n_ev, cfg->eval_batch, &test_loss, &test_acc);
            t_run0 += fl_now() - te0;  // evaluation is not training time
            if (model_failed(m, err)) goto fail;
            if (cfg->early_stop > 0) {
                early_stop_update(&es, m, cfg->early_stop, epoch, last, &test_loss, &test_acc, &ra);
                if (ra.stopped) last = 1;
            }
        } else {
            test_loss = test_acc = NAN;
        }
        if (ea.n_lo == 1 << 30) ea.n_lo = 0;
        if (cfg->out[0]) {
            fl_row row;
            fl_row_init(&row);
            fill_row(&row, cfg, ops, key, dataset_desc, epoch, &ea, &ra, test_loss, test_acc, status, msg);
            int arc = fl_row_append(&row, cfg->out, err);
            fl_row_free(&row);
            if (arc) goto fail;
        }
        if (!cfg->quiet)
            fprintf(stderr, "epoch %d: train_loss %.4f  %s_loss %.4f  %s_acc %.4f  queries %ld  %.1f ms/step%s%s\n",
                    epoch, ea.steps ? ea.loss / ea.steps : NAN, cfg->val_per_class > 0 ? "val" : "test", test_loss,
                    cfg->val_per_class > 0 ? "val" : "test", test_acc, ra.queries,
                    ea.steps ? 1e3 * ea.t_step / ea.steps : 0.0, strcmp(status, "ok") ? "  " : "",
                    strcmp(status, "ok") ? status : "");
        res->train_loss = ea.steps ? ea.loss / ea.steps : NAN;
        if (cfg->save[0] && strcmp(status, "ok") == 0 && (last || (cfg->save_every > 0 && epoch % cfg->save_every == 0))) {
            char path[600], ep[16];
            if (last) snprintf(path, sizeof path, "%s", cfg->save);
            else snprintf(path, sizeof path, "%s.epoch%d", cfg->save, epoch);
            snprintf(ep, sizeof ep, "%d", epoch);
            const char* meta[] = {"epoch", ep, "config", cfg->config_str};
            if (fl_model_save(m, path, meta, 2, err)) goto fail;
        }
        if (cfg->max_steps && ra.steps >= cfg->max_steps) break;
    }
    snprintf(res->status, sizeof res->status, "%s", status);
    snprintf(res->message, sizeof res->message, "%s", msg);
    res->test_loss = test_loss;
    res->test_acc = test_acc;
    res->queries = ra.queries;
    res->steps = ra.steps;
    res->wall_s = ra.wall_s;
    rc = 0;
    goto done;
fail:
    // a rank that failed at start-up tells the others, which then stop too; one that fails later
    // has left them inside a step's reductions, so it ends the job (cmd_train.c, fl_dist_abort)
    if (dist->size > 1 && !agreed) startup_agreed(dist, 1, err, &res->quiet_error);
    res->abort_job = dist->size > 1 && started;
    snprintf(res->message, sizeof res->message, "%s", err->msg);
    if (out_ok) write_failure(cfg, key, res->status, err->msg);
done:
    if (alloc_log && fclose(alloc_log) != 0 && rc == 0) rc = fl_fail(err, "--alloc-log %s: write failed", cfg->alloc_log);
    if (xd) S.ops->free(xd);
    if (yd) S.ops->free(yd);
    free(xh);
    free(yh);
    if (m) fl_optim_free(&opt, &m->params);
    fl_track_free(track);
    free(es.best);
    fl_engine_free(e);
    fl_setup_close(&S);
    free(cfg_rank);
    return rc;
}
