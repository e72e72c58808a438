// optim.c: Adam and SGD over the trainable tensors, clipping and StepLR.
#include <string.h>
#include <math.h>
#include "optim.h"

int fl_optim_init(fl_optim* o, const fl_params* p, const char* name, float lr, fl_err* err) {
    memset(o, 0, sizeof *o);
    if (!strcmp(name, "adam")) o->adam = 1;
    else if (!strcmp(name, "sgd")) o->adam = 0;
    else return fl_fail(err, "--optim: unknown optimiser '%s' (expected adam or sgd)", name);
    if (!(lr > 0.f) || !isfinite(lr)) return fl_fail(err, "--lr: expected a positive learning rate, found %g", (double)lr);
    o->lr = lr;
    o->b1 = 0.9f;
    o->b2 = 0.999f;
    o->eps = 1e-8f;
    o->gamma = 1.0f;
    o->m = p->ops->alloc(p->total * sizeof(float));
    if (o->adam) o->v = p->ops->alloc(p->total * sizeof(float));
    return 0;
}

void fl_optim_free(fl_optim* o, const fl_params* p) {
    if (o->m) p->ops->free(o->m);
    if (o->v) p->ops->free(o->v);
    o->m = o->v = NULL;
}

float fl_optim_lr_at(const fl_optim* o, int epoch) {
    if (o->step_size <= 0) return o->lr;
    return o->lr * powf(o->gamma, (float)(epoch / o->step_size));
}

double fl_grad_norm(const fl_params* p) {
    double s = 0.0;
    for (int i = 0; i < p->n; i++) {
        if (!p->t[i].trainable) continue;
        const float* g = p->grad + p->t[i].offset;
        s += p->ops->dot(g, g, (long)p->t[i].numel);
    }
    return sqrt(s);
}

double fl_optim_step(fl_optim* o, fl_params* p, int epoch) {
    const fl_ops* ops = p->ops;
    double norm = fl_grad_norm(p);
    o->last_grad_norm = norm;
    if (o->clip > 0.f && norm > o->clip) {
        float s = (float)(o->clip / norm);
        for (int i = 0; i < p->n; i++)
            if (p->t[i].trainable) ops->scale(p->grad + p->t[i].offset, s, (long)p->t[i].numel);
    }
    float lr = fl_optim_lr_at(o, epoch);
    o->t++;
    float bc1 = 1.0f - powf(o->b1, (float)o->t);
    float bc2 = 1.0f - powf(o->b2, (float)o->t);
    for (int i = 0; i < p->n; i++) {
        const fl_tensor* t = &p->t[i];
        if (!t->trainable) continue;
        float* w = p->data + t->offset;
        const float* g = p->grad + t->offset;
        // no weight decay on biases, norms, embeddings or noise scales
        float wd = t->kind == FL_KIND_WEIGHT ? o->weight_decay : 0.f;
        if (o->adam)
            ops->adam(w, g, o->m + t->offset, o->v + t->offset, (long)t->numel, lr, o->b1, o->b2,
                      o->eps, bc1, bc2, wd);
        else
            ops->sgd(w, g, o->m + t->offset, (long)t->numel, lr, o->momentum, wd);
    }
    return norm;
}

double fl_optim_step_dirs(fl_optim* o, fl_params* p, int epoch, int K, const float* s,
                          uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step) {
    const fl_ops* ops = p->ops;
    double sq = 0.0;
    for (int i = 0; i < p->n; i++)
        if (p->t[i].trainable)
            sq += ops->dirs_sumsq((long)p->t[i].numel, p->t[i].offset, K, s, key0, key1, stream, step);
    double norm = sqrt(sq);
    o->last_grad_norm = norm;
    float gscale = o->clip > 0.f && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    float lr = fl_optim_lr_at(o, epoch);
    o->t++;
    float bc1 = 1.0f - powf(o->b1, (float)o->t);
    float bc2 = 1.0f - powf(o->b2, (float)o->t);
    for (int i = 0; i < p->n; i++) {
        const fl_tensor* t = &p->t[i];
        if (!t->trainable) continue;
        float wd = t->kind == FL_KIND_WEIGHT ? o->weight_decay : 0.f;
        float* w = p->data + t->offset;
        if (o->adam)
            ops->dirs_adam(w, o->m + t->offset, o->v + t->offset, (long)t->numel, t->offset, K, s, key0, key1,
                           stream, step, gscale, lr, o->b1, o->b2, o->eps, bc1, bc2, wd);
        else
            ops->dirs_sgd(w, o->m + t->offset, (long)t->numel, t->offset, K, s, key0, key1, stream, step, gscale,
                          lr, o->momentum, wd);
    }
    return norm;
}
