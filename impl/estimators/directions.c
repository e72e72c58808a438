// directions.c: directions in weight space, shared by the weight-perturbing estimators
// (see directions.h).
#include "directions.h"

void fl_dir_bufs_free(const fl_ops* ops, fl_dir_bufs* w) {
    fl_dev_buf_free(ops, &w->idx_d);
    fl_dev_buf_free(ops, &w->xsub);
    fl_dev_buf_free(ops, &w->lab_d);
    fl_dev_buf_free(ops, &w->loss_d);
    fl_host_buf_free(&w->lab_h);
}

void fl_dir_add(fl_engine* e, float* buf, float scale, uint32_t k, uint32_t stream) {
    fl_params* p = &e->model->params;
    for (int t = 0; t < p->n; t++) {
        if (!p->t[t].trainable) continue;
        e->ops->noise_axpy(buf + p->t[t].offset, (long)p->t[t].numel, p->t[t].offset, scale,
                           e->key0, e->key1, k, stream, e->step);
    }
}

void fl_dir_subset(fl_engine* e, fl_dir_bufs* w, const fl_batch* b, const int32_t* idx, int m,
                   const float** x, const int32_t** y) {
    const fl_ops* ops = e->ops;
    int in_dim = e->model->in_dim;
    *x = b->x;
    *y = b->y;
    if (m == b->B) return;
    int32_t* idx_d = fl_dev_grow(ops, &w->idx_d, (size_t)m * sizeof(int32_t));
    ops->upload(idx_d, idx, (size_t)m * sizeof(int32_t));
    float* xs = fl_dev_grow(ops, &w->xsub, (size_t)m * in_dim * sizeof(float));
    ops->gather_rows(xs, b->x, idx_d, m, in_dim);
    int32_t* lab_h = fl_host_grow(&w->lab_h, (size_t)m * sizeof(int32_t));
    for (int j = 0; j < m; j++) lab_h[j] = b->y_host[idx[j]];
    int32_t* lab_d = fl_dev_grow(ops, &w->lab_d, (size_t)m * sizeof(int32_t));
    ops->upload(lab_d, lab_h, (size_t)m * sizeof(int32_t));
    *x = xs;
    *y = lab_d;
}

void fl_dir_losses(fl_engine* e, fl_dir_bufs* w, const float* x, const int32_t* y, int m, float* loss_host) {
    fl_model* mod = e->model;
    float* loss_d = fl_dev_grow(e->ops, &w->loss_d, (size_t)m * sizeof(float));
    fl_fwd f = {.x = x, .B = m, .Q = m, .row_datum = NULL, .labels = y, .noise = NULL,
                .keep = 0, .loss = loss_d, .argmax = NULL};
    mod->vt->forward(mod, &f);
    e->ops->download(loss_host, loss_d, (size_t)m * sizeof(float));
}

void fl_dir_group_losses(fl_engine* e, fl_dir_bufs* w, const fl_batch* b, const int32_t* idx, const int* goff,
                         int G, float* loss_host) {
    for (int g = 0; g < G; g++) {
        int mg = goff[g + 1] - goff[g];
        if (!mg) continue;
        const float* x;
        const int32_t* y;
        fl_dir_subset(e, w, b, idx + goff[g], mg, &x, &y);
        fl_dir_losses(e, w, x, y, mg, loss_host + goff[g]);
    }
}

int fl_dir_slice_groups(const fl_step_plan* plan, int B, int k, int32_t* idx, int* goff) {
    int G = plan->s_hi - plan->s_lo, cnt = 0;
    for (int g = 0; g < G; g++) {
        goff[g] = cnt;
        for (int i = fl_slice_begin(B, plan->S, plan->s_lo + g); i < fl_slice_begin(B, plan->S, plan->s_lo + g + 1); i++)
            if (plan->n[i] > k) idx[cnt++] = i;
    }
    goff[G] = cnt;
    return G;
}

void fl_dir_keep(fl_engine* e, int K, const float* s_host, uint32_t stream) {
    if (K > e->dir_K || !e->dir_s) {
        if (e->dir_s) e->ops->free(e->dir_s);
        e->dir_s = e->ops->alloc((size_t)(K > 0 ? K : 1) * sizeof(float));
    }
    e->dir_K = K;
    e->dir_step = e->step;
    e->dir_stream = stream;
    e->ops->upload(e->dir_s, s_host, (size_t)K * sizeof(float));
}
