// gradcmp.c: comparing gradient estimates with the BP gradient (see gradcmp.h).
#include <string.h>
#include <math.h>
#include "gradcmp.h"

void fl_grad_mask_build(const fl_model* m, const char* method, fl_grad_mask* mk) {
    mk->n = 0;
    mk->total = 0;
    const fl_params* p = &m->params;
    for (int i = 0; i < m->n_lin; i++) {
        const fl_linear* L = &m->lin[i];
        if (fl_method_perturbs_layers(method) && !L->perturbed) continue;
        int ids[2] = {L->w, L->b};
        for (int k = 0; k < 2 && mk->n < FL_GRAD_MASK_MAX; k++) {
            if (!p->t[ids[k]].trainable) continue;
            mk->off[mk->n] = p->t[ids[k]].offset;
            mk->len[mk->n] = p->t[ids[k]].numel;
            mk->total += p->t[ids[k]].numel;
            mk->n++;
        }
    }
    if (fl_method_perturbs_weights(method))  // every other trainable tensor too (embeddings, norms)
        for (int t = 0; t < p->n && mk->n < FL_GRAD_MASK_MAX; t++) {
            const fl_tensor* T = &p->t[t];
            if (!T->trainable || T->kind == FL_KIND_WEIGHT || T->kind == FL_KIND_BIAS || T->kind == FL_KIND_LOGSIGMA) continue;
            mk->off[mk->n] = T->offset;
            mk->len[mk->n] = T->numel;
            mk->total += T->numel;
            mk->n++;
        }
}

void fl_grad_mask_read(const fl_model* m, const fl_grad_mask* mk, float* host, double* out) {
    m->ops->download(host, m->params.grad, m->params.total * sizeof(float));
    size_t k = 0;
    for (int r = 0; r < mk->n; r++)
        for (size_t i = 0; i < mk->len[r]; i++) out[k++] = host[mk->off[r] + i];
}

double fl_dot(const double* a, const double* b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

int fl_measure_v(fl_engine* oracle, const char* method, const fl_batch* b, int queries, float* v_out,
                 fl_err* err) {
    fl_step_stats st;
    return fl_engine_oracle(oracle, b, queries, v_out, &st, err);
}

double fl_predicted_gain(const float* v, int B) {
    double s1 = 0, s2 = 0;
    for (int i = 0; i < B; i++) {
        double vi = v[i] > 0 ? v[i] : 0;
        s1 += sqrt(vi);
        s2 += vi;
    }
    return s2 > 0 ? s1 * s1 / (B * s2) : 1.0;
}

// J(n) = sum v_i / n_i for an allocation.
static double objective(const float* v, const int* n, int B) {
    double J = 0;
    for (int i = 0; i < B; i++) J += v[i] / n[i];
    return J;
}

double fl_predicted_gain_int(const float* v, int B, long N, int n_min, int even) {
    int* nu = fl_malloc((size_t)B * sizeof(int));
    int* nn = fl_malloc((size_t)B * sizeof(int));
    double* w = fl_malloc((size_t)B * sizeof(double));
    fl_err err;
    double gain = 1.0;
    for (int i = 0; i < B; i++) w[i] = 1.0;
    int rc = fl_alloc_proportional(w, B, N, n_min, even, nu, &err);
    for (int i = 0; i < B; i++) w[i] = sqrt(v[i] > 0 ? v[i] : 0);
    if (rc == 0 && fl_alloc_proportional(w, B, N, n_min, even, nn, &err) == 0 && objective(v, nu, B) > 0)
        gain = objective(v, nn, B) / objective(v, nu, B);
    free(nu); free(nn); free(w);
    return gain;
}
