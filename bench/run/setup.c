// setup.c: backend, data splits and model of a run (see setup.h).
#include <string.h>
#include <math.h>
#include "setup.h"
#include "../../impl/models/vit.h"
#include "../../impl/kernels/philox.h"

int fl_train_open_data(const fl_train_cfg* cfg, fl_images* train, fl_images* test, fl_err* err);  // data.c

void fl_setup_close(fl_setup* s) {
    fl_model_free(s->m);      // a prompt model ends its box's connection first
    fl_model_free(s->inner);
    free(s->train_id);
    free(s->test_id);
    free(s->tr_idx);
    free(s->ev_idx);
    free(s->mislabelled);
    fl_images_free(&s->train);
    fl_images_free(&s->test);
    memset(s, 0, sizeof *s);
}

// Uniform integer in [0, n) from Philox (seed, stream "NOIS", draw).
static int64_t noise_draw(uint64_t seed, uint64_t draw, int64_t n) {
    fl_u32x4 c = {{(uint32_t)draw, (uint32_t)(draw >> 32), 0, 0x4e4f4953u}};
    fl_u32x4 r = fl_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    uint64_t u = ((uint64_t)r.v[0] << 32) | r.v[1];
    return (int64_t)(u % (uint64_t)n);
}

// --label-noise FRAC: round(FRAC n_tr) data of the training split, chosen from the seed, get a
// label drawn uniformly from the other classes. Evaluation labels are never touched (with
// --val-per-class the held-out indices are disjoint from tr_idx). A task whose per-datum
// variances differ by construction: mislabelled data keep a high loss and gradient.
static void flip_labels(fl_setup* s, float frac, uint64_t seed) {
    int64_t n = s->n_tr, m = (int64_t)llround((double)frac * (double)n);
    int C = s->train.n_classes;
    int64_t* order = fl_malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    memcpy(order, s->tr_idx, (size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < m; i++) {  // partial Fisher-Yates: the first m of a seeded shuffle
        int64_t j = i + noise_draw(seed, (uint64_t)i, n - i);
        int64_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    s->mislabelled = fl_calloc((size_t)(s->train.n > 0 ? s->train.n : 1), 1);
    for (int64_t i = 0; i < m; i++) {
        int64_t k = order[i];
        int32_t y = s->train.labels[k];
        s->train.labels[k] = (int32_t)((y + 1 + noise_draw(seed, (uint64_t)(n + i), C - 1)) % C);
        s->mislabelled[k] = 1;
    }
    s->n_mislabelled = m;
    free(order);
}

int fl_setup_open(const fl_train_cfg* cfg, fl_setup* s, char status[24], fl_err* err) {
    memset(s, 0, sizeof *s);
    snprintf(status, 24, "failed");
    // checked here, not by the parser: a sweep checks each line's options on their own
    if (cfg->checkpoint != FL_CKPT_NONE && !fl_method_is_exact(cfg->method))
        return fl_fail(err, "--checkpoint block: only --method bp keeps activations to recompute (found --method %s)",
                       cfg->method);
    s->ops = fl_ops_by_name(cfg->backend, err);
    if (!s->ops) return -1;
    if (fl_train_open_data(cfg, &s->train, &s->test, err)) {
        snprintf(status, 24, "missing-data");
        goto fail;
    }
    snprintf(s->dataset_desc, sizeof s->dataset_desc, "%s", cfg->dataset);
    if (cfg->class_lo >= 0) {
        if (cfg->class_hi < cfg->class_lo || cfg->class_hi >= s->train.n_classes) {
            fl_fail(err, "--classes %d-%d: expected a range inside [0, %d)", cfg->class_lo, cfg->class_hi, s->train.n_classes);
            goto fail;
        }
        fl_images_select_classes(&s->train, cfg->class_lo, cfg->class_hi);
        fl_images_select_classes(&s->test, cfg->class_lo, cfg->class_hi);
        snprintf(s->dataset_desc, sizeof s->dataset_desc, "%s[%d-%d]", cfg->dataset, cfg->class_lo, cfg->class_hi);
    }
    // training split (k-shot) and evaluation split (test, or held out of the training split)
    int short_classes = 0;
    int64_t* kshot = fl_kshot_indices(&s->train, cfg->shots, cfg->seed, &s->n_tr, &short_classes);
    if (short_classes && !cfg->quiet)
        fprintf(stderr, "flbench: note: %d classes have fewer than %d training images; all of theirs are used\n",
                short_classes, cfg->shots);
    s->ev_data = &s->test;
    if (cfg->val_per_class > 0) {
        fl_split_holdout(&s->train, kshot, s->n_tr, cfg->val_per_class, cfg->seed, &s->tr_idx, &s->n_tr, &s->ev_idx, &s->n_ev);
        free(kshot);
        s->ev_data = &s->train;
    } else {
        s->tr_idx = kshot;
        s->n_ev = s->test.n;
        s->ev_idx = fl_malloc((size_t)s->n_ev * sizeof(int64_t));
        for (int64_t i = 0; i < s->n_ev; i++) s->ev_idx[i] = i;
    }
    if (s->n_tr < 1 || s->n_ev < 1) {
        fl_fail(err, "--shots/--val-per-class leave %lld training and %lld evaluation images",
                (long long)s->n_tr, (long long)s->n_ev);
        goto fail;
    }
    if (cfg->batch > s->n_tr) {  // a batch is drawn from the training split, without repeats
        fl_fail(err, "--batch: expected 1..%lld (the size of the training split), found %d", (long long)s->n_tr, cfg->batch);
        goto fail;
    }
    if (cfg->label_noise != 0.0f) {
        if (!(cfg->label_noise > 0.0f && cfg->label_noise < 1.0f) || s->train.n_classes < 2) {
            fl_fail(err, "--label-noise %g: expected a fraction in (0, 1) and at least 2 classes", (double)cfg->label_noise);
            goto fail;
        }
        flip_labels(s, cfg->label_noise, cfg->seed);
        size_t len = strlen(s->dataset_desc);
        snprintf(s->dataset_desc + len, sizeof s->dataset_desc - len, " label-noise=%g", (double)cfg->label_noise);
    }
    // model (prompt tuning with an external black box has none of its own)
    int external = cfg->prompt_len > 0 && cfg->blackbox[0];
    if (external) {
        if (fl_setup_prompt(cfg, s, err)) goto fail;
        return 0;
    }
    s->m = fl_model_create(s->ops, cfg->model, cfg->act, s->train.c, s->train.h, s->train.w, s->train.n_classes, err);
    if (!s->m) goto fail;
    s->m->checkpoint = cfg->checkpoint;
    // every tensor from the run's seed (a ViT also has CLS, position embeddings and norms)
    if (fl_vit_is(s->m)) fl_vit_init(s->m, cfg->seed);
    else fl_model_init_weights(s->m, cfg->seed);
    fl_model_init_sigma(s->m, cfg->eo.sigma0);
    if (cfg->weights[0]) {
        int head_init = 0;
        int lrc = fl_vit_is(s->m) ? fl_vit_load_weights(s->m, cfg->weights, cfg->seed, &head_init, err)
                                  : fl_model_load(s->m, cfg->weights, 1, &head_init, err);
        if (lrc) {
            snprintf(status, 24, "missing-weights");
            goto fail;
        }
        if (head_init && !cfg->quiet)
            fprintf(stderr, "flbench: note: %s has no classifier head for %d classes; the head is initialised from seed %llu\n",
                    cfg->weights, s->m->n_classes, (unsigned long long)cfg->seed);
    }
    if (cfg->prompt_len > 0) {  // the model just built is the frozen ViT behind the black box
        if (fl_setup_prompt(cfg, s, err)) goto fail;
        return 0;
    }
    if (fl_method_perturbs_layers(cfg->method) && fl_model_set_scope(s->m, cfg->scope, err)) goto fail;
    return 0;
fail:
    fl_setup_close(s);
    return -1;
}
