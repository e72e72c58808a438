// vit_blackbox.c: flbench's own frozen ViT as a black box (blackbox.h, kind "vit"). Setup
// keeps a copy of the box's data; a query gathers the data its rows name into one batch
// (each datum once, in order of first use), renumbers the rows into it and answers with
// fl_vit_prompt_losses (vit_prompt.c). The model is borrowed and only read.
#include <string.h>
#include "vit_prompt.h"
#include "vit.h"

typedef struct {
    fl_model* vit;      // borrowed
    int P;
    int64_t n;          // data set up
    float* x;           // (n, C, H, W)
    int32_t* y;         // (n)
    int32_t* slot;      // (n) a datum's index in the current request's batch, -1 when absent
} vit_box;

static void box_clear(vit_box* b) {
    free(b->x);
    free(b->y);
    free(b->slot);
    b->x = NULL;
    b->y = NULL;
    b->slot = NULL;
    b->n = 0;
}

static int vit_box_setup(fl_blackbox* bb, const fl_bb_data* data, int P, int* D, double* flops_per_query,
                         fl_err* err) {
    vit_box* b = bb->impl;
    const fl_vit_cfg* c = fl_vit_config(b->vit);
    if (P < 0) return fl_fail(err, "vit black box: P = %d prompt tokens; expected 0 or more", P);
    if (data->channels != c->channels || data->height != c->image_h || data->width != c->image_w)
        return fl_fail(err, "vit black box: data of shape (%d, %d, %d); the model %s expects (%d, %d, %d)",
                       data->channels, data->height, data->width, b->vit->desc, c->channels, c->image_h,
                       c->image_w);
    if (data->n_classes > b->vit->n_classes)
        return fl_fail(err, "vit black box: %d classes in the data; the model %s has %d", data->n_classes,
                       b->vit->desc, b->vit->n_classes);
    if (data->n < 0 || data->n > INT32_MAX)
        return fl_fail(err, "vit black box: %lld data; expected 0 to %d", (long long)data->n, INT32_MAX);
    for (int64_t i = 0; i < data->n; i++)
        if (data->y[i] < 0 || data->y[i] >= b->vit->n_classes)
            return fl_fail(err, "vit black box: datum %lld has label %d; expected a class in [0, %d)",
                           (long long)i, data->y[i], b->vit->n_classes);
    box_clear(b);
    size_t in_dim = (size_t)b->vit->in_dim, n = (size_t)data->n;
    b->x = fl_malloc((n ? n : 1) * in_dim * sizeof(float));
    b->y = fl_malloc((n ? n : 1) * sizeof(int32_t));
    b->slot = fl_malloc((n ? n : 1) * sizeof(int32_t));
    memcpy(b->x, data->x, n * in_dim * sizeof(float));
    memcpy(b->y, data->y, n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) b->slot[i] = -1;
    b->n = data->n;
    b->P = P;
    *D = c->dim;
    *flops_per_query = fl_vit_prompt_flops(b->vit, P);
    return 0;
}

static int vit_box_query(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax,
                         double* compute_s, fl_err* err) {
    vit_box* b = bb->impl;
    double t0 = fl_now();
    *compute_s = 0.0;
    int R = req->n_rows;
    if (R < 0) return fl_fail(err, "vit black box: a request of %d query rows; expected 0 or more", R);
    for (int r = 0; r < R; r++)
        if (req->row_datum[r] < 0 || req->row_datum[r] >= b->n)
            return fl_fail(err, "vit black box: query row %d names datum %d; expected a datum in [0, %lld)", r,
                           req->row_datum[r], (long long)b->n);
    // the request's data, each once in order of first use: x (nb, C, H, W), y (nb)
    size_t in_dim = (size_t)b->vit->in_dim;
    int nb = 0;
    int32_t* rows = fl_malloc((size_t)(R ? R : 1) * sizeof(int32_t));  // row -> index in the batch
    int32_t* chosen = fl_malloc((size_t)(R ? R : 1) * sizeof(int32_t)); // batch index -> datum
    for (int r = 0; r < R; r++) {
        int32_t d = req->row_datum[r];
        if (b->slot[d] < 0) {
            b->slot[d] = nb;
            chosen[nb++] = d;
        }
        rows[r] = b->slot[d];
    }
    float* x = fl_malloc((size_t)(nb ? nb : 1) * in_dim * sizeof(float));
    int32_t* y = fl_malloc((size_t)(nb ? nb : 1) * sizeof(int32_t));
    for (int i = 0; i < nb; i++) {
        memcpy(x + (size_t)i * in_dim, b->x + (size_t)chosen[i] * in_dim, in_dim * sizeof(float));
        y[i] = b->y[chosen[i]];
        b->slot[chosen[i]] = -1;
    }
    int rc = fl_vit_prompt_losses(b->vit, x, nb, y, b->P, R, rows, req->row_prompt, req->n_prompts,
                                  req->prompts, 0, loss, argmax, err);
    free(rows);
    free(chosen);
    free(x);
    free(y);
    *compute_s = fl_now() - t0;
    return rc;
}

static void vit_box_destroy(fl_blackbox* bb) {
    if (!bb) return;
    vit_box* b = bb->impl;
    box_clear(b);
    free(b);
    free(bb);
}

static const fl_blackbox_vt vit_box_vt = {
    .kind = "vit", .setup = vit_box_setup, .query = vit_box_query, .destroy = vit_box_destroy,
};

fl_blackbox* fl_blackbox_vit_new(fl_model* vit, fl_err* err) {
    if (!fl_vit_is(vit)) {
        fl_fail(err, "vit black box: model %s is not a ViT", vit ? vit->desc : "(none)");
        return NULL;
    }
    vit_box* b = fl_calloc(1, sizeof(vit_box));
    b->vit = vit;
    fl_blackbox* bb = fl_calloc(1, sizeof(fl_blackbox));
    bb->vt = &vit_box_vt;
    bb->impl = b;
    snprintf(bb->name, sizeof bb->name, "the built-in ViT black box");
    return bb;
}
