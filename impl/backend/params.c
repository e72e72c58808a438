// params.c: the named-tensor table over one parameter buffer.
#include <string.h>
#include "params.h"

void fl_params_init(fl_params* p, const fl_ops* ops) {
    memset(p, 0, sizeof *p);
    p->ops = ops;
}

int fl_params_add(fl_params* p, const char* name, fl_tensor_kind kind, int ndim, const int* shape) {
    FL_CHECK(!p->data, "fl_params_add('%s') after fl_params_alloc", name);
    FL_CHECK(ndim >= 1 && ndim <= FL_MAX_DIMS, "tensor '%s': ndim %d out of range", name, ndim);
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->t = fl_realloc(p->t, (size_t)p->cap * sizeof(fl_tensor));
    }
    fl_tensor* t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        FL_CHECK(shape[d] > 0, "tensor '%s': dimension %d is %d", name, d, shape[d]);
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    t->offset = p->total;
    t->trainable = 1;
    p->total += (t->numel + 15) & ~(size_t)15;
    return p->n++;
}

void fl_params_alloc(fl_params* p) {
    p->data = p->ops->alloc(p->total * sizeof(float));
    p->grad = p->ops->alloc(p->total * sizeof(float));
}

void fl_params_free(fl_params* p) {
    if (p->data) p->ops->free(p->data);
    if (p->grad) p->ops->free(p->grad);
    free(p->t);
    memset(p, 0, sizeof *p);
}

int fl_params_find(const fl_params* p, const char* name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return i;
    return -1;
}

size_t fl_params_trainable(const fl_params* p) {
    size_t s = 0;
    for (int i = 0; i < p->n; i++)
        if (p->t[i].trainable) s += p->t[i].numel;
    return s;
}

void fl_params_zero_grad(fl_params* p) {
    if (p->grad) p->ops->zero(p->grad, p->total * sizeof(float));
}

void fl_params_drop_grad(fl_params* p) {
    if (p->grad) p->ops->free(p->grad);
    p->grad = NULL;
}

void fl_params_set_trainable_kind(fl_params* p, fl_tensor_kind kind, int trainable) {
    for (int i = 0; i < p->n; i++)
        if (p->t[i].kind == kind) p->t[i].trainable = trainable;
}

void fl_params_download(const fl_params* p, float* host) {
    p->ops->download(host, p->data, p->total * sizeof(float));
}

void fl_params_upload(fl_params* p, const float* host) {
    p->ops->upload(p->data, host, p->total * sizeof(float));
}
