// setup.c: backend, data splits and model of a run (see setup.h).
#include <string.h>
#include "setup.h"
#include "../models/vit.h"

int fl_train_open_data(const fl_train_cfg* cfg, fl_images* train, fl_images* test, fl_err* err);  // data.c

void fl_setup_close(fl_setup* s) {
    fl_model_free(s->m);
    free(s->tr_idx);
    free(s->ev_idx);
    fl_images_free(&s->train);
    fl_images_free(&s->test);
    memset(s, 0, sizeof *s);
}

int fl_setup_open(const fl_train_cfg* cfg, fl_setup* s, char status[24], fl_err* err) {
    memset(s, 0, sizeof *s);
    snprintf(status, 24, "failed");
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
    // model
    s->m = fl_model_create(s->ops, cfg->model, cfg->act, s->train.c, s->train.h, s->train.w, s->train.n_classes, err);
    if (!s->m) goto fail;
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
    if (!strcmp(cfg->method, "lr") && fl_model_set_scope(s->m, cfg->scope, err)) goto fail;
    return 0;
fail:
    fl_setup_close(s);
    return -1;
}
