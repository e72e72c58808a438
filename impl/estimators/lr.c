// lr.c: the likelihood-ratio estimator with noise on layer outputs, with uniform or allocated
// queries (docs/METHOD.md, "Estimators" and "The allocation problem").
//
// For every perturbed layer, output z = W x + b becomes z + sigma (.) eps, eps ~ N(0, I), one
// eps per token of each query row. With per-row loss L_r, weight w_r and baseline b_r:
//   coef_r = w_r (L_r - b_r)
//   gW = sum_r coef_r (eps_r / sigma) x_r^T   = G^T X, with G(r, :) = coef_r eps_r / sigma
//   gb = sum_r coef_r eps_r / sigma          = column sums of G
//   gs = sum_r coef_r (eps_r^2 - 1)          (gradient for log sigma)
// w_r = 1/(B n_i) for the rows of datum i makes the estimate unbiased for any allocation
// (docs/METHOD.md); the authors' equal-row weighting 1/N is kept as a named variant.
// Antithetic pairs (eps, -eps) are on the same datum (rows 2p and 2p+1 of its queries); the
// authors' cross-datum pairing (row r with row r + R/2) is a named variant.
// Baselines: the datum's clean loss (one noise-free pass, B queries), the mean of the datum's
// other queries (leave-one-pair-out, so it is independent of the row's own noise), or none.
// A datum whose queries are all one unit has no other queries: its mean baseline is the clean
// loss where the step ran a clean pass anyway, else 0 (counted, fl_step_stats.no_baseline).
//
// Memory: query rows are processed in chunks of whole data; each chunk's gradient is added
// to params.grad, so the estimate is the same for any chunk size.
#include <string.h>
#include <math.h>
#include "estimator.h"
#include "../core/nvtx.h"

// The host buffers of one rowset (see rowset below).
typedef struct { fl_host_buf off, datum, label, qcode; } rowset_bufs;

// The workspace, grown on demand. B: the batch; R: its query rows; C: a chunk's query rows;
// T: tokens per row; the o_* buffers are the oracle's.
typedef struct {
    rowset_bufs rows, oracle_rows;     // the step's (and the pilot's) rowset, the oracle's
    fl_host_buf pilot_n;               // (B) the pilot's allocation
    fl_host_buf keep_ptr;              // (n_lin) where the forward keeps each layer's normals
    fl_host_buf msq, energy;           // (B) the proxy's two factors per datum
    fl_host_buf sigma, sq;             // (dout) a layer's sigma; (C T) its inputs' row sums
    fl_host_buf loss;                  // (R) per-row losses
    fl_host_buf rowd, offl, coef;      // (C) row -> datum, (B+1) chunk offsets, (C) coefficients
    fl_host_buf uoff, udat;            // (C+1) units' query offsets, (B+1) data's first units
    fl_host_buf o_clean, o_n, o_sum, o_loss, o_unit, o_mean;  // the oracle's per datum / row / unit
    fl_dev_buf rowd_d, lab_d, qcode_d, coef_d, loss_d, offl_d;  // a chunk's rows (C) and offsets
    fl_dev_buf uoff_d, udat_d;         // (C+1), (B+1)
    fl_dev_buf sq_d;                   // (C T) row sums of squares
    fl_dev_buf g_d, gd_d, xf_d;        // G (C T, dout), G summed per datum, folded inputs
    fl_dev_buf keep_d;                 // the normals the forward keeps (units T, dout) per layer
    fl_dev_buf pairg_d, gw_d, gmean_d; // the oracle's unit sums, unit and mean gradients
    fl_dev_buf o_clean_d;              // the oracle's clean losses (B)
} lr_ws;

static void* lr_ws_new(fl_engine* e) { return fl_calloc(1, sizeof(lr_ws)); }

static void lr_ws_free(fl_engine* e, void* p) {
    lr_ws* w = p;
    fl_host_buf* h[] = {&w->rows.off, &w->rows.datum, &w->rows.label, &w->rows.qcode, &w->oracle_rows.off,
                        &w->oracle_rows.datum, &w->oracle_rows.label, &w->oracle_rows.qcode, &w->pilot_n, &w->keep_ptr,
                        &w->msq, &w->energy, &w->sigma, &w->sq, &w->loss, &w->rowd, &w->offl, &w->coef,
                        &w->uoff, &w->udat, &w->o_clean, &w->o_n, &w->o_sum, &w->o_loss, &w->o_unit, &w->o_mean};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) fl_host_buf_free(h[i]);
    fl_dev_buf* d[] = {&w->rowd_d, &w->lab_d, &w->qcode_d, &w->coef_d, &w->loss_d, &w->offl_d, &w->uoff_d,
                       &w->udat_d, &w->sq_d, &w->g_d, &w->gd_d, &w->xf_d, &w->keep_d, &w->pairg_d, &w->gw_d,
                       &w->gmean_d, &w->o_clean_d};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) fl_dev_buf_free(e->ops, d[i]);
    free(w);
}

// The estimator's own clean pass: the clean baseline (engine.c adds the allocator's reasons:
// the loss it reads, the proxy of data on their first visit, fl_proxy_fill_from_loss).
static int lr_needs_clean(const fl_engine* e) { return e->o.baseline == FL_BASE_CLEAN; }

// --proxy pilot: n_min queries per datum.
static long lr_pilot_queries(const fl_engine* e, int B) { return (long)(e->o.pairing == FL_PAIR_SAME ? 2 : 1) * B; }

// One query is one unit; with same-datum pairs the total is rounded down to whole pairs.
static long lr_alloc_total(const fl_engine* e, long queries, int* n_min, int* even) {
    *n_min = e->o.pairing == FL_PAIR_SAME ? 2 : 1;
    *even = e->o.pairing == FL_PAIR_SAME;
    return *even ? queries - queries % 2 : queries;
}

// The query rows of one estimate: per-datum counts n (B) -> offsets, row -> datum, labels and
// noise codes. Rows of datum i are [off[i], off[i+1]).
typedef struct {
    int B;
    long R;
    int32_t* off;      // (B+1)
    int32_t* datum;    // (R)
    int32_t* label;    // (R)
    int32_t* qcode;    // (R) (noise_row << 1) | negate
    int group;         // rows per independent unit: 2 with same-datum pairs, else 1
} rowset;

static void build_rows(fl_engine* e, const fl_batch* b, const int* n, rowset* rs, rowset_bufs* bufs) {
    int B = b->B;
    long R = 0;
    for (int i = 0; i < B; i++) R += n[i];
    rs->B = B;
    rs->R = R;
    rs->off = fl_host_grow(&bufs->off, (size_t)(B + 1) * sizeof(int32_t));
    rs->datum = fl_host_grow(&bufs->datum, (size_t)R * sizeof(int32_t));
    rs->label = fl_host_grow(&bufs->label, (size_t)R * sizeof(int32_t));
    rs->qcode = fl_host_grow(&bufs->qcode, (size_t)R * sizeof(int32_t));
    rs->group = e->o.pairing == FL_PAIR_SAME ? 2 : 1;
    rs->off[0] = 0;
    for (int i = 0; i < B; i++) rs->off[i + 1] = rs->off[i] + n[i];
    long half = R / 2;
    for (int i = 0; i < B; i++)
        for (long r = rs->off[i]; r < rs->off[i + 1]; r++) {
            rs->datum[r] = i;
            rs->label[r] = b->y_host[i];
            switch (e->o.pairing) {
            case FL_PAIR_SAME: rs->qcode[r] = (int32_t)(((r >> 1) << 1) | (r & 1)); break;
            case FL_PAIR_NONE: rs->qcode[r] = (int32_t)(r << 1); break;
            case FL_PAIR_CROSS:  // the authors' pairing: row r with row r + R/2, across data
                rs->qcode[r] = half ? (int32_t)(((r % half) << 1) | (r >= half)) : (int32_t)(r << 1);
                break;
            }
        }
}

// Whether datum rows lo..hi are one unit only, so that the mean baseline has no other rows.
static int mean_baseline_alone(const fl_engine* e, long lo, long hi, int group) {
    return e->o.baseline == FL_BASE_MEAN && hi - lo <= group;
}

// Baseline of row r of datum i (rows lo..hi of that datum, losses L; clean: its clean loss,
// or NULL where the step ran no clean pass).
static float row_baseline(const fl_engine* e, const float* L, long r, long lo, long hi,
                          const float* clean, int group) {
    switch (e->o.baseline) {
    case FL_BASE_CLEAN: return clean ? *clean : 0.f;
    case FL_BASE_NONE: return 0.f;
    case FL_BASE_MEAN: {
        // mean of the datum's rows outside r's own unit (its antithetic pair, if any); the
        // datum's only unit: its clean loss if there is one, else none (mean_baseline_alone)
        if (mean_baseline_alone(e, lo, hi, group)) return clean ? *clean : 0.f;
        long u0 = group == 2 ? lo + (((r - lo) >> 1) << 1) : r;
        long u1 = u0 + group;
        double s = 0.0;
        long cnt = 0;
        for (long k = lo; k < hi; k++)
            if (k < u0 || k >= u1) { s += L[k]; cnt++; }
        return (float)(s / cnt);
    }
    }
    return 0.f;
}

// sum_c 1/sigma_c^2 of a layer: the noise factor's energy, for the proxy.
static double inv_sigma_energy(fl_engine* e, fl_linear* L) {
    lr_ws* ws = e->ws;
    float* s = fl_host_grow(&ws->sigma, (size_t)L->dout * sizeof(float));
    e->ops->download(s, L->sigma, (size_t)L->dout * sizeof(float));
    double acc = 0.0;
    for (int c = 0; c < L->dout; c++) acc += 1.0 / ((double)s[c] * s[c]);
    return acc;
}

// Per-datum input energy of the perturbed layers, from the inputs the last forward saved:
// energy[i] += S_l * mean over the datum's query rows of sum over tokens (|x|^2 + 1).
// Layers that share their input (a ViT's q, k and v) share its row sums: computed once.
static void add_input_energy(fl_engine* e, const rowset* rs, int d0, int d1, double* energy) {
    lr_ws* ws = e->ws;
    fl_model* m = e->model;
    const float* last_input = NULL;
    int last_rows = 0, last_din = 0;
    for (int l = 0; l < m->n_lin; l++) {
        fl_linear* L = &m->lin[l];
        if (!L->perturbed) continue;
        int T = fl_linear_tokens(m, L);
        double S = inv_sigma_energy(e, L);
        float* sq_d = fl_dev_grow(e->ops, &ws->sq_d, (size_t)L->saved.in_rows * sizeof(float));
        float* sq = fl_host_grow(&ws->sq, (size_t)L->saved.in_rows * sizeof(float));
        if (L->saved.input != last_input || L->saved.in_rows != last_rows || L->din != last_din) {
            e->ops->row_sumsq(sq_d, L->saved.input, L->saved.in_rows, L->din);
            e->ops->download(sq, sq_d, (size_t)L->saved.in_rows * sizeof(float));
            last_input = L->saved.input;
            last_rows = L->saved.in_rows;
            last_din = L->din;
        }
        long base = rs->off[d0];
        for (int i = d0; i < d1; i++) {
            double acc = 0.0;
            if (L->saved.per_datum) {
                for (int t = 0; t < T; t++) acc += sq[(long)(i - d0) * T + t] + 1.0;
            } else {
                long q0 = rs->off[i] - base, q1 = rs->off[i + 1] - base;
                for (long q = q0; q < q1; q++)
                    for (int t = 0; t < T; t++) acc += sq[q * T + t] + 1.0;
                acc /= (double)(q1 - q0);
            }
            energy[i] += S * acc;
        }
    }
}

// Units of a chunk's queries for the folded gradient: adjacent queries on one noise row (an
// antithetic pair) form one unit, greedily two by two as the noise ops pair them (bodies.h,
// fl_elem_lr_unit). uoff (Qc+1) gets the units' query offsets; returns the unit count.
static int build_units(const int32_t* qcode, int Qc, int32_t* uoff) {
    int U = 0;
    uoff[0] = 0;
    for (int q = 0; q < Qc;) {
        q += (q + 1 < Qc && (qcode[q] >> 1) == (qcode[q + 1] >> 1)) ? 2 : 1;
        uoff[++U] = q;
    }
    return U;
}

// Bytes per query row that keep_noise asks for: the normals of every perturbed layer, once
// per pair (0 when the backend draws them twice).
static size_t keep_bytes_per_query(fl_engine* e) {
    fl_model* m = e->model;
    if (!e->ops->bias_noise_keep || !e->ops->lr_unit_kept || e->o.pairing != FL_PAIR_SAME) return 0;
    size_t n = 0;
    for (int l = 0; l < m->n_lin; l++)
        if (m->lin[l].perturbed) n += (size_t)fl_linear_tokens(m, &m->lin[l]) * m->lin[l].dout;
    return n * sizeof(float) / 2;
}

// Before a chunk's forward: room for each perturbed layer's normals of `units` units, where
// the forward keeps them (fl_fwd.keep_eps) for layer_grad, which would otherwise draw the
// same normals again. The forward keeps them only where it adds the noise itself (model.c), and
// says so in fl_linear.saved.eps_kept. Returns the per-layer table for the request, or NULL.
static float* const* keep_noise(fl_engine* e, int units) {
    lr_ws* ws = e->ws;
    fl_model* m = e->model;
    if (!keep_bytes_per_query(e)) return NULL;
    float** ptr = fl_host_grow(&ws->keep_ptr, (size_t)m->n_lin * sizeof(float*));
    size_t total = 0;
    for (int l = 0; l < m->n_lin; l++)
        if (m->lin[l].perturbed) total += (size_t)units * fl_linear_tokens(m, &m->lin[l]) * m->lin[l].dout;
    float* buf = fl_dev_grow(e->ops, &ws->keep_d, total * sizeof(float));
    for (int l = 0; l < m->n_lin; l++) {
        fl_linear* L = &m->lin[l];
        ptr[l] = L->perturbed ? buf : NULL;
        if (L->perturbed) buf += (size_t)units * fl_linear_tokens(m, L) * L->dout;
    }
    return ptr;
}

// A chunk's units, and the input last folded (q, k and v share theirs: folded once).
typedef struct {
    int units;              // == Qc when no two queries share a noise row
    const int32_t* uoff_d;  // (units + 1), backend memory
    const int32_t* udat_d;  // (Bc + 1) each datum's first unit, backend memory
    const float* folded;    // the input Xf holds, its tokens and width; NULL: none yet
    int folded_T, folded_din;
} unit_plan;

// Adds one layer's LR gradient for a chunk, gW += G^T X with G = coef sign eps / sigma per
// query row, and gb, gs. Three forms of the same sum:
//   - queries in pairs on one noise row: E = eps / sigma per unit and Xf = sum of the unit's
//     coef sign x, so gW += E^T Xf has half the rows (bodies.h, fl_elem_lr_unit);
//   - inputs saved per datum: G summed over each datum's queries first (with kept normals, over
//     its units: each unit's whole factor (sum coef sign) eps / sigma);
//   - otherwise G row by row.
static void layer_grad(fl_engine* e, fl_linear* L, float* keep_eps, const float* coef_d, const fl_noise* nz_tmpl,
                       int Bc, int Qc, const int32_t* off_local_d, unit_plan* up) {
    lr_ws* ws = e->ws;
    fl_model* m = e->model;
    const fl_ops* ops = e->ops;
    int T = fl_linear_tokens(m, L);
    int rows = Qc * T;
    fl_noise nz = *nz_tmpl;
    nz.stream = nz_tmpl->stream + L->stream;
    nz.tokens = T;
    float* gs = m->params.t[L->s].trainable ? fl_param_grad(&m->params, L->s) : NULL;
    float* gW = fl_param_grad(&m->params, L->w);
    float* gb = fl_param_grad(&m->params, L->b);
    if (!L->saved.per_datum && up->units < Qc && ops->lr_unit_noise) {
        long urows = (long)up->units * T;
        float* E;
        if (L->saved.eps_kept) {  // the normals the forward kept: E overwrites them
            E = keep_eps;
            ops->lr_unit_kept(E, E, gb, gs, coef_d, L->sigma, &nz, up->uoff_d, up->units, L->dout, 0);
        } else {
            E = fl_dev_grow(e->ops, &ws->g_d, (size_t)urows * L->dout * sizeof(float));
            ops->lr_unit_noise(E, gb, gs, coef_d, L->sigma, &nz, up->uoff_d, up->units, L->dout);
        }
        float* Xf = fl_dev_grow(e->ops, &ws->xf_d, (size_t)urows * L->din * sizeof(float));
        if (up->folded != L->saved.input || up->folded_T != T || up->folded_din != L->din) {
            ops->lr_unit_fold(Xf, L->saved.input, coef_d, &nz, up->uoff_d, up->units, L->din);
            up->folded = L->saved.input;
            up->folded_T = T;
            up->folded_din = L->din;
        }
        // gW (dout, din) += E^T (dout, units T) Xf (units T, din)
        ops->gemm(1, 0, L->dout, L->din, (int)urows, 1.0f, E, L->dout, Xf, L->din, 1.0f, gW, L->din);
        return;
    }
    if (L->saved.per_datum && L->saved.eps_kept) {
        float* E = keep_eps;
        ops->lr_unit_kept(E, E, gb, gs, coef_d, L->sigma, &nz, up->uoff_d, up->units, L->dout, 1);
        float* Gd = fl_dev_grow(e->ops, &ws->gd_d, (size_t)Bc * T * L->dout * sizeof(float));
        ops->segment_sum(Gd, E, up->udat_d, Bc, (long)T * L->dout);
        // gW (dout, din) += Gd^T (dout, Bc T) X (Bc T, din)
        ops->gemm(1, 0, L->dout, L->din, Bc * T, 1.0f, Gd, L->dout, L->saved.input, L->din, 1.0f, gW, L->din);
        return;
    }
    float* G = fl_dev_grow(e->ops, &ws->g_d, (size_t)rows * L->dout * sizeof(float));
    ops->lr_grad(G, gs, coef_d, L->sigma, &nz, rows, L->dout);
    const float* Gm = G;
    int grows = rows;
    if (L->saved.per_datum) {
        float* Gd = fl_dev_grow(e->ops, &ws->gd_d, (size_t)Bc * T * L->dout * sizeof(float));
        ops->segment_sum(Gd, G, off_local_d, Bc, (long)T * L->dout);
        Gm = Gd;
        grows = Bc * T;
    }
    // gW (dout, din) += Gm^T (dout, grows) X (grows, din)
    ops->gemm(1, 0, L->dout, L->din, grows, 1.0f, Gm, L->dout, L->saved.input, L->din, 1.0f, gW, L->din);
    ops->col_sum(gb, Gm, grows, L->dout, 1.0f);
}

// What one pass over a rowset produces on the host.
typedef struct {
    float* loss;       // (R) per-row loss
    double flops;
} pass_out;

// Runs the query rows of `rs` in chunks of whole data. With do_grad, adds the gradient; with
// msq/energy (nullable), accumulates the proxy's two factors per datum.
// Slices [s_lo, s_hi) of S (dist.h): only their data, each chunk within one slice, and with
// do_grad each slice's gradient a partial of its own (fl_engine_slice_grad_begin).
static void run_queries(fl_engine* e, const fl_batch* b, const rowset* rs, uint32_t stream_base,
                        int do_grad, const float* clean, float* row_loss, double* msq,
                        double* energy, pass_out* out, fl_step_stats* st, int s_lo, int s_hi, int S) {
    lr_ws* ws = e->ws;
    fl_model* m = e->model;
    const fl_ops* ops = e->ops;
    int B = b->B;
    long N = rs->R;
    int chunk = fl_engine_chunk_rows(e, B, do_grad ? keep_bytes_per_query(e) : 0);
    int max_n = 0;
    for (int i = 0; i < B; i++) max_n = rs->off[i + 1] - rs->off[i] > max_n ? rs->off[i + 1] - rs->off[i] : max_n;
    if (chunk < max_n) chunk = max_n;  // a datum's queries always share a chunk (baselines)
    if ((long)chunk > N) chunk = (int)N;
    m->vt->reserve(m, B, chunk);
    int32_t* rowd_d = fl_dev_grow(e->ops, &ws->rowd_d, (size_t)chunk * sizeof(int32_t));
    int32_t* lab_d = fl_dev_grow(e->ops, &ws->lab_d, (size_t)chunk * sizeof(int32_t));
    int32_t* qc_d = fl_dev_grow(e->ops, &ws->qcode_d, (size_t)chunk * sizeof(int32_t));
    float* coef_d = fl_dev_grow(e->ops, &ws->coef_d, (size_t)chunk * sizeof(float));
    float* loss_d = fl_dev_grow(e->ops, &ws->loss_d, (size_t)chunk * sizeof(float));
    int32_t* offl_d = fl_dev_grow(e->ops, &ws->offl_d, (size_t)(B + 1) * sizeof(int32_t));
    int32_t* rowd_h = fl_host_grow(&ws->rowd, (size_t)chunk * sizeof(int32_t));
    int32_t* offl_h = fl_host_grow(&ws->offl, (size_t)(B + 1) * sizeof(int32_t));
    float* coef_h = fl_host_grow(&ws->coef, (size_t)chunk * sizeof(float));
    int32_t* uoff_d = fl_dev_grow(e->ops, &ws->uoff_d, (size_t)(chunk + 1) * sizeof(int32_t));
    int32_t* uoff_h = fl_host_grow(&ws->uoff, (size_t)(chunk + 1) * sizeof(int32_t));
    int32_t* udat_d = fl_dev_grow(e->ops, &ws->udat_d, (size_t)(B + 1) * sizeof(int32_t));
    int32_t* udat_h = fl_host_grow(&ws->udat, (size_t)(B + 1) * sizeof(int32_t));
    double inv_B = 1.0 / B;
    fl_noise nz = {.key0 = e->key0, .key1 = e->key1, .stream = stream_base, .step = e->step,
                   .qcode = qc_d, .tokens = m->tokens};
    for (int s = s_lo; s < s_hi; s++) {
    int d0 = fl_slice_begin(B, S, s), d_end = fl_slice_begin(B, S, s + 1);
    if (do_grad) fl_engine_slice_grad_begin(e, s);
    while (d0 < d_end) {
        int d1 = d0;
        while (d1 < d_end && rs->off[d1 + 1] - rs->off[d0] <= chunk) d1++;
        long r0 = rs->off[d0], r1 = rs->off[d1];
        int Bc = d1 - d0, Qc = (int)(r1 - r0);
        for (long r = r0; r < r1; r++) rowd_h[r - r0] = rs->datum[r] - d0;
        for (int i = d0; i <= d1; i++) offl_h[i - d0] = (int32_t)(rs->off[i] - r0);
        ops->upload(rowd_d, rowd_h, (size_t)Qc * sizeof(int32_t));
        ops->upload(lab_d, rs->label + r0, (size_t)Qc * sizeof(int32_t));
        ops->upload(qc_d, rs->qcode + r0, (size_t)Qc * sizeof(int32_t));
        ops->upload(offl_d, offl_h, (size_t)(Bc + 1) * sizeof(int32_t));
        int units = build_units(rs->qcode + r0, Qc, uoff_h);
        float* const* kept = do_grad && units < Qc ? keep_noise(e, units) : NULL;
        double t0 = fl_now();
        fl_fwd f = {.x = b->x + (long)d0 * m->in_dim, .B = Bc, .Q = Qc, .row_datum = rowd_d,
                    .labels = lab_d, .noise = &nz, .keep = FL_KEEP_LR, .keep_eps = kept, .loss = loss_d,
                    .argmax = NULL};
        FL_NVTX_PUSH("forward queries");
        m->vt->forward(m, &f);
        ops->download(row_loss + r0, loss_d, (size_t)Qc * sizeof(float));
        FL_NVTX_POP();
        double t1 = fl_now();
        st->t_forward += t1 - t0;
        out->flops += m->vt->forward_flops(m, Bc, Qc, 1);
        // coefficients and proxy statistics
        for (int i = d0; i < d1; i++) {
            long lo = rs->off[i], hi = rs->off[i + 1];
            int n_i = (int)(hi - lo);
            double w = e->o.weighting == FL_WEIGHT_UNBIASED ? inv_B / n_i : 1.0 / (double)N;
            const float* cl = clean ? clean + i : NULL;
            if (do_grad && !clean && mean_baseline_alone(e, lo, hi, rs->group)) st->no_baseline++;
            double sq = 0.0;
            for (long r = lo; r < hi; r++) {
                float base = row_baseline(e, row_loss, r, lo, hi, cl, rs->group);
                coef_h[r - r0] = (float)(w * (row_loss[r] - base));
                if (rs->group == 2) {
                    if (((r - lo) & 1) == 0) {
                        double d = 0.5 * ((double)row_loss[r] - row_loss[r + 1]);
                        sq += d * d;
                    }
                } else {
                    double d = (double)row_loss[r] - base;
                    sq += d * d;
                }
            }
            if (msq) msq[i] = sq / (double)(n_i / rs->group);
        }
        if (energy) add_input_energy(e, rs, d0, d1, energy);
        if (do_grad) {
            FL_NVTX_PUSH("LR gradient");
            ops->upload(coef_d, coef_h, (size_t)Qc * sizeof(float));
            // each datum's first unit (units never span two data: pairs are on one datum)
            for (int i = 0, u = 0; i <= Bc; i++) {
                while (u < units && uoff_h[u] < offl_h[i]) u++;
                udat_h[i] = u;
            }
            unit_plan up = {.units = units, .uoff_d = uoff_d, .udat_d = udat_d};
            ops->upload(uoff_d, uoff_h, (size_t)(up.units + 1) * sizeof(int32_t));
            ops->upload(udat_d, udat_h, (size_t)(Bc + 1) * sizeof(int32_t));
            for (int l = 0; l < m->n_lin; l++)
                if (m->lin[l].perturbed)
                    layer_grad(e, &m->lin[l], kept ? kept[l] : NULL, coef_d, &nz, Bc, Qc, offl_d, &up);
            ops->sync();
            FL_NVTX_POP();
        }
        st->t_grad += fl_now() - t1;
        d0 = d1;
    }
    if (do_grad) fl_engine_slice_grad_end(e, s);
    }
}

// Proxy per datum from a finished pass, in the oracle's units (Var of datum i's estimate =
// v_i / n_i). A pair's unit sum is about (L+ - L-) eps/sigma (x) x = 2 d eps/sigma (x) x, whose
// squared norm 4 d^2 * energy, divided by the unit size 2, gives 2 d^2 energy; a single query
// gives (L - b)^2 energy.
static void proxy_from(const double* msq, const double* energy, int B, int group, float* proxy) {
    for (int i = 0; i < B; i++) proxy[i] = (float)(msq[i] * energy[i] * (group == 2 ? 2.0 : 1.0));
}

static int lr_pilot(fl_engine* e, const fl_batch* b, const float* clean, float* proxy, fl_step_stats* st,
                    fl_err* err) {
    lr_ws* ws = e->ws;
    int B = b->B;
    int n_min, even;
    e->est->alloc_total(e, 0, &n_min, &even);
    int* n = fl_host_grow(&ws->pilot_n, (size_t)B * sizeof(int));
    double* msq = fl_host_grow(&ws->msq, (size_t)B * sizeof(double));
    double* energy = fl_host_grow(&ws->energy, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) { n[i] = n_min; msq[i] = energy[i] = 0.0; }
    rowset rs;
    build_rows(e, b, n, &rs, &ws->rows);
    float* pl = fl_host_grow(&ws->loss, (size_t)rs.R * sizeof(float));
    pass_out po = {0};
    double t0 = fl_now();
    run_queries(e, b, &rs, FL_STREAM_PILOT, 0, clean, pl, msq, energy, &po, st, 0, 1, 1);  // whole, on every rank
    st->t_alloc += fl_now() - t0;
    st->queries_pilot = rs.R;
    st->flops += po.flops;
    proxy_from(msq, energy, B, rs.group, proxy);
    return 0;
}

// The queries of the allocation, their gradient, and the proxy of this visit.
static int lr_step(fl_engine* e, const fl_batch* b, const fl_step_plan* plan, fl_step_stats* st, fl_err* err) {
    lr_ws* ws = e->ws;
    int B = b->B;
    const float* clean = plan->clean;
    rowset rs;
    build_rows(e, b, plan->n, &rs, &ws->rows);
    double* msq = plan->fresh_proxy ? fl_host_grow(&ws->msq, (size_t)B * sizeof(double)) : NULL;
    double* energy = plan->fresh_proxy ? fl_host_grow(&ws->energy, (size_t)B * sizeof(double)) : NULL;
    if (plan->fresh_proxy) for (int i = 0; i < B; i++) msq[i] = energy[i] = 0.0;
    float* row_loss = fl_host_grow(&ws->loss, (size_t)rs.R * sizeof(float));
    pass_out po = {0};
    run_queries(e, b, &rs, FL_STREAM_MAIN, 1, clean, row_loss, msq, energy, &po, st, plan->s_lo, plan->s_hi, plan->S);
    int d_lo = fl_slice_begin(B, plan->S, plan->s_lo), d_hi = fl_slice_begin(B, plan->S, plan->s_hi);
    if (plan->fresh_proxy) proxy_from(msq + d_lo, energy + d_lo, d_hi - d_lo, rs.group, plan->fresh_proxy + d_lo);
    if (!clean)  // the batch-mean loss from the queries (the engine sums them)
        for (int i = d_lo; i < d_hi; i++) {
            double si = 0.0;
            for (long r = rs.off[i]; r < rs.off[i + 1]; r++) si += row_loss[r];
            plan->query_loss[i] = si / (rs.off[i + 1] - rs.off[i]);
        }
    st->flops += po.flops;
    st->queries += rs.R;
    return 0;
}

// ---------------------------------------------------------------------------------------
// Oracle: for each datum, `queries` extra queries (stream FL_STREAM_ORACLE) split into units
// (antithetic pairs, or single queries). Each unit's gradient contribution u_j (W and b of
// the perturbed layers, coefficient L - baseline) is formed explicitly; the sample variance
// of the units, divided by the unit size, is v_i: Var(datum i's estimate) = v_i / n_i.
static int lr_oracle(fl_engine* e, const fl_batch* b, int queries, float* v_out, fl_step_stats* st,
                     fl_err* err) {
    lr_ws* ws = e->ws;
    fl_model* m = e->model;
    const fl_ops* ops = e->ops;
    int B = b->B;
    int group = e->o.pairing == FL_PAIR_SAME ? 2 : 1;
    if (queries < 2 * group || queries % group)
        return fl_fail(err, "--oracle-queries %d: need at least two units of %d queries, a multiple of %d", queries, group, group);
    float* clean = NULL;
    if (e->o.baseline == FL_BASE_CLEAN) {
        clean = fl_host_grow(&ws->o_clean, (size_t)B * sizeof(float));
        fl_clean_forward(e, b, &ws->o_clean_d, clean, 0);
        st->queries_oracle += B;
    }
    int* n = fl_host_grow(&ws->o_n, (size_t)B * sizeof(int));
    for (int i = 0; i < B; i++) n[i] = queries;
    rowset rs;
    build_rows(e, b, n, &rs, &ws->oracle_rows);
    long R = rs.R;
    // forward all oracle rows once per chunk, then form the units datum by datum
    int units = queries / group;
    double* sum_sq = fl_host_grow(&ws->o_sum, (size_t)B * sizeof(double));
    for (int i = 0; i < B; i++) sum_sq[i] = 0.0;
    float* row_loss = fl_host_grow(&ws->o_loss, (size_t)R * sizeof(float));
    // chunk: a few data at a time keeps memory bounded
    int per_chunk = fl_engine_chunk_rows(e, 1, 0) / queries;
    if (per_chunk < 1) per_chunk = 1;
    if (per_chunk > B) per_chunk = B;
    m->vt->reserve(m, per_chunk, per_chunk * queries);
    int32_t* rowd_d = fl_dev_grow(e->ops, &ws->rowd_d, (size_t)per_chunk * queries * sizeof(int32_t));
    int32_t* lab_d = fl_dev_grow(e->ops, &ws->lab_d, (size_t)per_chunk * queries * sizeof(int32_t));
    int32_t* qc_d = fl_dev_grow(e->ops, &ws->qcode_d, (size_t)per_chunk * queries * sizeof(int32_t));
    float* coef_d = fl_dev_grow(e->ops, &ws->coef_d, (size_t)per_chunk * queries * sizeof(float));
    float* loss_d = fl_dev_grow(e->ops, &ws->loss_d, (size_t)per_chunk * queries * sizeof(float));
    int32_t* uoff_d = fl_dev_grow(e->ops, &ws->offl_d, (size_t)(per_chunk * units + 1) * sizeof(int32_t));
    int32_t* rowd_h = fl_host_grow(&ws->rowd, (size_t)per_chunk * queries * sizeof(int32_t));
    float* coef_h = fl_host_grow(&ws->coef, (size_t)per_chunk * queries * sizeof(float));
    int32_t* uoff_h = fl_host_grow(&ws->offl, (size_t)(per_chunk * units + 1) * sizeof(int32_t));
    fl_noise nz = {.key0 = e->key0, .key1 = e->key1, .stream = FL_STREAM_ORACLE, .step = e->step,
                   .qcode = qc_d, .tokens = m->tokens};
    for (int d0 = 0; d0 < B; d0 += per_chunk) {
        int d1 = d0 + per_chunk < B ? d0 + per_chunk : B;
        int Bc = d1 - d0;
        long r0 = rs.off[d0];
        int Qc = (int)(rs.off[d1] - r0);
        for (int r = 0; r < Qc; r++) rowd_h[r] = rs.datum[r0 + r] - d0;
        ops->upload(rowd_d, rowd_h, (size_t)Qc * sizeof(int32_t));
        ops->upload(lab_d, rs.label + r0, (size_t)Qc * sizeof(int32_t));
        ops->upload(qc_d, rs.qcode + r0, (size_t)Qc * sizeof(int32_t));
        fl_fwd f = {.x = b->x + (long)d0 * m->in_dim, .B = Bc, .Q = Qc, .row_datum = rowd_d,
                    .labels = lab_d, .noise = &nz, .keep = FL_KEEP_LR, .loss = loss_d};
        m->vt->forward(m, &f);
        ops->download(row_loss + r0, loss_d, (size_t)Qc * sizeof(float));
        for (int i = d0; i < d1; i++) {
            long lo = rs.off[i], hi = rs.off[i + 1];
            for (long r = lo; r < hi; r++)
                coef_h[r - r0] = row_loss[r] - row_baseline(e, row_loss, r, lo, hi, clean ? clean + i : NULL, group);
        }
        ops->upload(coef_d, coef_h, (size_t)Qc * sizeof(float));
        for (int u = 0; u <= Bc * units; u++) uoff_h[u] = u * group;
        ops->upload(uoff_d, uoff_h, (size_t)(Bc * units + 1) * sizeof(int32_t));
        // per datum: mean unit vector and sum of squared unit norms, over all perturbed layers
        double* unit_sq = fl_host_grow(&ws->o_unit, (size_t)Bc * units * sizeof(double));
        double* mean_sq = fl_host_grow(&ws->o_mean, (size_t)Bc * sizeof(double));
        for (int k = 0; k < Bc * units; k++) unit_sq[k] = 0.0;
        for (int k = 0; k < Bc; k++) mean_sq[k] = 0.0;
        for (int l = 0; l < m->n_lin; l++) {
            fl_linear* L = &m->lin[l];
            if (!L->perturbed) continue;
            int T = fl_linear_tokens(m, L);
            fl_noise lnz = nz;
            lnz.stream = nz.stream + L->stream;
            lnz.tokens = T;
            int rows = Qc * T;
            float* G = fl_dev_grow(e->ops, &ws->g_d, (size_t)rows * L->dout * sizeof(float));
            ops->lr_grad(G, NULL, coef_d, L->sigma, &lnz, rows, L->dout);
            // unit sums of G: (Bc*units, T*dout)
            float* Gu = fl_dev_grow(e->ops, &ws->pairg_d, (size_t)Bc * units * T * L->dout * sizeof(float));
            ops->segment_sum(Gu, G, uoff_d, Bc * units, (long)T * L->dout);
            size_t wsz = (size_t)L->dout * (L->din + 1);
            float* gw = fl_dev_grow(e->ops, &ws->gw_d, wsz * sizeof(float));
            float* gmean = fl_dev_grow(e->ops, &ws->gmean_d, wsz * sizeof(float));
            for (int i = 0; i < Bc; i++) {
                ops->zero(gmean, wsz * sizeof(float));
                for (int u = 0; u < units; u++) {
                    const float* Gj = Gu + ((long)i * units + u) * T * L->dout;
                    const float* X;
                    int xrows;
                    if (L->saved.per_datum) {
                        X = L->saved.input + (long)i * T * L->din;
                        xrows = T;
                        // unit gradient: gW = Gj^T X (Gj already summed over the unit's rows)
                        ops->gemm(1, 0, L->dout, L->din, xrows, 1.0f, Gj, L->dout, X, L->din, 0.0f, gw, L->din);
                        ops->col_sum(gw + (size_t)L->dout * L->din, Gj, T, L->dout, 0.0f);
                    } else {
                        long q = (long)i * queries + (long)u * group;  // first query of the unit
                        X = L->saved.input + q * T * L->din;
                        const float* Gr = G + q * T * L->dout;
                        xrows = group * T;
                        ops->gemm(1, 0, L->dout, L->din, xrows, 1.0f, Gr, L->dout, X, L->din, 0.0f, gw, L->din);
                        ops->col_sum(gw + (size_t)L->dout * L->din, Gr, xrows, L->dout, 0.0f);
                    }
                    unit_sq[(long)i * units + u] += ops->dot(gw, gw, (long)wsz);
                    ops->axpy(gmean, 1.0f / units, gw, (long)wsz);
                }
                mean_sq[i] += ops->dot(gmean, gmean, (long)wsz);
            }
        }
        for (int i = 0; i < Bc; i++) {
            double s = 0.0;
            for (int u = 0; u < units; u++) s += unit_sq[(long)i * units + u];
            // unbiased sample variance of the units: (sum |u_j|^2 - J |mean|^2) / (J - 1)
            double var_unit = (s - units * mean_sq[i]) / (units - 1);
            sum_sq[d0 + i] = var_unit / group;
        }
    }
    for (int i = 0; i < B; i++) v_out[i] = (float)(sum_sq[i] > 0 ? sum_sq[i] : 0.0);
    st->queries_oracle += R;
    return 0;
}

const fl_estimator_vt fl_est_lr = {
    .name = "lr", .help = "likelihood ratio: Gaussian noise on layer outputs, same-datum pairs",
    .perturbs = FL_PERTURB_LAYERS, .unit = "query", .unit_queries = 1,
    .workspace_new = lr_ws_new, .workspace_free = lr_ws_free,
    .needs_clean = lr_needs_clean, .pilot_queries = lr_pilot_queries, .pilot = lr_pilot,
    .oracle = lr_oracle, .alloc_total = lr_alloc_total, .step = lr_step,
};
