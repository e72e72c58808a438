// blackbox.c: what every black box shares (blackbox.h): setup and query through the vtable,
// with the checks of their results (D >= 1, finite losses) and the counts and times of
// fl_blackbox's fields.
#include "blackbox.h"
#include <math.h>
#include <stdio.h>

// The box as messages name it: its name, or "black box (KIND)".
static const char* label(const fl_blackbox* bb, char* buf, size_t len) {
    if (bb->name[0]) return bb->name;
    snprintf(buf, len, "%s", bb->vt->kind);
    return buf;
}

int fl_blackbox_setup(fl_blackbox* bb, const fl_bb_data* data, int P, fl_err* err) {
    char buf[64];
    const char* kind = label(bb, buf, sizeof buf);
    if (P < 1) return fl_fail(err, "%s setup: prompt length %d, expected at least 1", kind, P);
    if (data->n < 1 || data->channels < 1 || data->height < 1 || data->width < 1 || data->n_classes < 1)
        return fl_fail(err, "%s setup: data of %lld images of %dx%dx%d in %d classes, expected at least one "
                       "of each", kind, (long long)data->n, data->channels, data->height, data->width, data->n_classes);
    int D = 0;
    double flops = 0;
    if (bb->vt->setup(bb, data, P, &D, &flops, err)) return -1;
    if (D < 1) return fl_fail(err, "%s setup answered a prompt token width D = %d, expected at least 1", kind, D);
    if (!(flops >= 0) || !isfinite(flops))
        return fl_fail(err, "%s setup answered %g FLOPs per query, expected a finite number >= 0", kind, flops);
    bb->P = P;
    bb->D = D;
    bb->n_data = data->n;
    bb->flops_per_query = flops;
    return 0;
}

int fl_blackbox_query(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax, fl_err* err) {
    char buf[64];
    const char* kind = label(bb, buf, sizeof buf);
    long request = bb->requests + 1;
    if (bb->D < 1) return fl_fail(err, "%s: request %ld before a successful setup", kind, request);
    if (req->n_rows < 0 || req->n_prompts < 0)
        return fl_fail(err, "%s: request %ld has %d rows and %d prompts, expected counts >= 0", kind, request,
                       req->n_rows, req->n_prompts);
    for (int r = 0; r < req->n_rows; r++) {
        if (req->row_datum[r] < 0 || req->row_datum[r] >= bb->n_data)
            return fl_fail(err, "%s: row %d of request %ld names datum %d, expected 0..%lld", kind, r, request,
                           req->row_datum[r], (long long)bb->n_data - 1);
        if (req->row_prompt[r] < 0 || req->row_prompt[r] >= req->n_prompts)
            return fl_fail(err, "%s: row %d of request %ld names prompt %d, expected 0..%d", kind, r, request,
                           req->row_prompt[r], req->n_prompts - 1);
    }
    if (req->n_rows == 0) return 0;
    double compute_s = 0, t0 = fl_now();
    int rc = bb->vt->query(bb, req, loss, argmax, &compute_s, err);
    bb->wall_s += fl_now() - t0;
    bb->requests++;
    if (rc) return -1;
    bb->queries += req->n_rows;
    bb->compute_s += compute_s;
    for (int r = 0; r < req->n_rows; r++)
        if (!isfinite(loss[r]))
            return fl_fail(err, "%s returned loss %g for row %d (datum %d) of request %ld: expected a finite loss",
                           kind, (double)loss[r], r, req->row_datum[r], request);
    return 0;
}

void fl_blackbox_free(fl_blackbox* bb) {
    if (bb) bb->vt->destroy(bb);
}
