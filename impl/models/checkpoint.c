// checkpoint.c: a model's parameters as safetensors (docs/DESIGN.md, principle 4): the buffer plus
// the table, one F32 tensor per named tensor, written atomically. Loading matches by name
// and checks every shape; a classifier head of another class count can be left to the
// run's seed when the caller allows it.
#include <string.h>
#include <math.h>
#include "model.h"
#include "../io/safetensors.h"

int fl_model_save(const fl_model* m, const char* path, const char* const* meta_kv, int n_meta,
                  fl_err* err) {
    const fl_params* p = &m->params;
    float* host = fl_malloc(p->total * sizeof(float));
    fl_params_download(p, host);
    fl_st_entry* ent = fl_calloc((size_t)p->n, sizeof(fl_st_entry));
    int64_t* shapes = fl_calloc((size_t)p->n * FL_MAX_DIMS, sizeof(int64_t));
    for (int i = 0; i < p->n; i++) {
        for (int d = 0; d < p->t[i].ndim; d++) shapes[i * FL_MAX_DIMS + d] = p->t[i].shape[d];
        ent[i].name = p->t[i].name;
        ent[i].ndim = p->t[i].ndim;
        ent[i].shape = &shapes[i * FL_MAX_DIMS];
        ent[i].data = host + p->t[i].offset;
    }
    fl_st_meta* meta = fl_calloc((size_t)(n_meta + 2), sizeof(fl_st_meta));
    meta[0].key = (char*)"format";
    meta[0].value = (char*)"flbench";
    meta[1].key = (char*)"model";
    meta[1].value = (char*)m->desc;
    for (int i = 0; i < n_meta; i++) {
        meta[2 + i].key = (char*)meta_kv[2 * i];
        meta[2 + i].value = (char*)meta_kv[2 * i + 1];
    }
    int rc = fl_st_write_f32(path, ent, p->n, meta, n_meta + 2, err);
    free(meta);
    free(shapes);
    free(ent);
    free(host);
    return rc;
}

int fl_check_finite_weights(const char* file, const char* tensor, const float* x, int64_t n, fl_err* err) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return fl_fail(err, "%s: tensor '%s' element %lld is %s; expected finite weights", file, tensor, (long long)i,
                           isnan(x[i]) ? "nan" : x[i] > 0 ? "inf" : "-inf");
    return 0;
}

int fl_model_load(fl_model* m, const char* path, int allow_head_init, int* head_initialised,
                  fl_err* err) {
    fl_safetensors st;
    if (fl_st_open(&st, path, err)) return -1;
    fl_params* p = &m->params;
    float* host = fl_malloc(p->total * sizeof(float));
    fl_params_download(p, host);
    int rc = 0;
    if (head_initialised) *head_initialised = 0;
    for (int i = 0; i < p->n && !rc; i++) {
        const fl_tensor* t = &p->t[i];
        const fl_st_tensor* ft = fl_st_find(&st, t->name);
        int is_head = !strncmp(t->name, "head.", 5);
        int64_t shape[FL_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (!ft) {
            if (t->kind == FL_KIND_LOGSIGMA) continue;  // noise scales keep their initial value
            if (is_head && allow_head_init) { if (head_initialised) *head_initialised = 1; continue; }
            rc = fl_fail(err, "%s: missing tensor '%s' (expected shape for %s)", path, t->name, m->desc);
            break;
        }
        int same = ft->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = ft->shape[d] == shape[d];
        if (!same && is_head && allow_head_init) {
            if (head_initialised) *head_initialised = 1;
            continue;
        }
        rc = fl_st_read_f32(&st, t->name, t->ndim, shape, host + t->offset, err);
        if (!rc) rc = fl_check_finite_weights(path, t->name, host + t->offset, (int64_t)t->numel, err);
    }
    if (!rc) fl_params_upload(p, host);
    free(host);
    fl_st_close(&st);
    if (!rc) fl_model_refresh_sigma(m);
    return rc;
}
