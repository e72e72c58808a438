// prompt_setup.c: the black box and the prompt model of a prompt-tuning run (setup.h;
// docs/METHOD.md, "Prompt tuning"). The box's data hold the training split and the
// evaluation split, each image once; the model's input names a datum by its index there.
#include <string.h>
#include "setup.h"
#include "../../impl/models/prompt.h"
#include "../../impl/models/vit.h"
#include "../../impl/models/vit_prompt.h"

// Gives each image idx[0..n) of d its index among the box's data, the next free one for an image not
// yet there; *id (d->n, -1 = not among them) is allocated on first use.
static void add_to_box_data(const fl_images* d, const int64_t* idx, int64_t n, int64_t** id, int64_t* n_box) {
    if (!*id) {
        *id = fl_malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof(int64_t));
        for (int64_t i = 0; i < d->n; i++) (*id)[i] = -1;
    }
    for (int64_t i = 0; i < n; i++)
        if ((*id)[idx[i]] < 0) (*id)[idx[i]] = (*n_box)++;
}

// The box's images (n, C, H, W) and labels, in the order of their indices.
static void gather_box_data(const fl_images* d, const int64_t* id, float* x, int32_t* y) {
    int64_t dim = fl_images_dim(d);
    for (int64_t i = 0; i < d->n; i++) {
        if (id[i] < 0) continue;
        fl_images_batch(d, &i, 1, x + id[i] * dim);
        y[id[i]] = d->labels[i];
    }
}

int fl_setup_prompt(const fl_train_cfg* cfg, fl_setup* s, fl_err* err) {
    if (fl_method_is_exact(cfg->method))
        return fl_fail(err, "--method %s: prompt tuning sees only the black box's losses; expected a forward-only method (%s)",
                       cfg->method, fl_estimator_names_forward());
    if (cfg->early_stop > 0 && cfg->val_per_class <= 0)
        return fl_fail(err, "--early-stop %d: needs a validation split (--val-per-class N); stopping on the test split would tune on it",
                       cfg->early_stop);
    if (s->m && !fl_vit_is(s->m))
        return fl_fail(err, "--model %s: the built-in black box is a ViT (vit-tiny, vit-b16, vit:...); another model needs --blackbox CMD",
                       cfg->model);
    // the box's data: the training split, then the evaluation split
    int64_t n_box = 0;
    add_to_box_data(&s->train, s->tr_idx, s->n_tr, &s->train_id, &n_box);
    if (s->ev_data == &s->train) add_to_box_data(&s->train, s->ev_idx, s->n_ev, &s->train_id, &n_box);
    else add_to_box_data(&s->test, s->ev_idx, s->n_ev, &s->test_id, &n_box);
    if (n_box >= (1 << 24))  // an index must be exact as the model's float input
        return fl_fail(err, "prompt tuning: the black box would hold %lld data; expected fewer than 16777216 (use --shots)",
                       (long long)n_box);
    int64_t dim = fl_images_dim(&s->train);
    float* x = fl_malloc((size_t)n_box * dim * sizeof(float));
    int32_t* y = fl_malloc((size_t)n_box * sizeof(int32_t));
    gather_box_data(&s->train, s->train_id, x, y);
    if (s->test_id) gather_box_data(&s->test, s->test_id, x, y);
    fl_blackbox* box = NULL;
    if (cfg->blackbox[0]) box = fl_blackbox_process_new(cfg->blackbox, cfg->blackbox_timeout, err);
    else {
        box = fl_blackbox_vit_new(s->m, err);
        s->inner = s->m;  // frozen: the box reads its weights, nothing trains them
        s->m = NULL;
    }
    int rc = -1;
    if (!box) goto done;
    fl_bb_data data = {.n = n_box, .channels = s->train.c, .height = s->train.h, .width = s->train.w,
                       .n_classes = s->train.n_classes, .x = x, .y = y};
    if (fl_blackbox_setup(box, &data, cfg->prompt_len, err)) {
        fl_blackbox_free(box);
        goto done;
    }
    s->m = fl_prompt_model_new(s->ops, box, cfg->intrinsic_dim, cfg->projection_scale, s->train.n_classes, cfg->seed, err);
    if (!s->m) goto done;
    fl_model_init_sigma(s->m, cfg->eo.sigma0);
    if (fl_method_perturbs_layers(cfg->method) && fl_model_set_scope(s->m, "all", err)) goto done;
    rc = 0;
done:
    free(x);
    free(y);
    return rc;
}

void fl_setup_inputs(const fl_setup* s, const fl_images* d, const int64_t* idx, int B, float* x) {
    const int64_t* id = d == &s->train ? s->train_id : s->test_id;
    if (!s->train_id && !s->test_id) {
        fl_images_batch(d, idx, B, x);
        return;
    }
    for (int i = 0; i < B; i++) {
        FL_CHECK(id && id[idx[i]] >= 0, "prompt tuning: image %lld of %s is not among the black box's data",
                 (long long)idx[i], d->name);
        x[i] = (float)id[idx[i]];
    }
}

int64_t fl_setup_in_dim(const fl_setup* s, const fl_images* d) {
    return s->train_id || s->test_id ? 1 : fl_images_dim(d);
}
