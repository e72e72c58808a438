// bench_ops_case.c: the helpers that build a case of `flbench bench --ops` (bench_ops.h): its
// buffers, their references and tolerances, its shape, its deterministic inputs and its noise.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <math.h>
#include "bench_ops.h"
#include "../impl/estimators/estimator.h"

int case_add_buf(opcase* c, const char* name, int role, long n, int isint) {
    FL_CHECK(c->nb < MAXBUF, "bench --ops: too many buffers in %s", c->op);
    obuf* b = &c->b[c->nb];
    memset(b, 0, sizeof *b);
    b->name = name;
    b->role = role;
    b->isint = isint;
    b->n = n;
    if (role != B_OUT) b->init = fl_calloc((size_t)(n > 0 ? n : 1), 4);
    return c->nb++;
}

// The reference of buffer k (starts as a copy of its contents before the call).
float* case_ref(opcase* c, int k) {
    obuf* b = &c->b[k];
    if (!b->ref) {
        b->ref = fl_calloc((size_t)(b->n > 0 ? b->n : 1), 4);
        if (b->init) memcpy(b->ref, b->init, (size_t)b->n * 4);
    }
    return (float*)b->ref;
}
int32_t* case_ref_int(opcase* c, int k) { return (int32_t*)case_ref(c, k); }
double* case_tol(opcase* c, int k) {
    obuf* b = &c->b[k];
    if (!b->tol) b->tol = fl_calloc((size_t)(b->n > 0 ? b->n : 1), sizeof(double));
    return b->tol;
}

void case_set_shape(opcase* c, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->shape, sizeof c->shape, fmt, ap);
    va_end(ap);
}

// Deterministic inputs: normals of the shared Philox generator, scale * z + shift.
static uint32_t g_seed = 1;
void case_randn(float* x, long n, float scale, float shift) {
    uint32_t seed = g_seed++;
    for (long i = 0; i < n; i += 4) {
        float z[4];
        fl_normal4(0x0b5eedu, seed, (uint32_t)(i >> 2), 0, 0, 0, z);
        for (long l = 0; l < 4 && i + l < n; l++) x[i + l] = shift + scale * z[l];
    }
}
// Noise scales sigma = exp(log sigma), per column: 1e-3 and a little more.
void case_rand_sigma(float* s, long n) {
    case_randn(s, n, 1e-4f, 0.f);
    for (long i = 0; i < n; i++) s[i] = 1e-3f + fabsf(s[i]);
}

// Queries 2j and 2j+1 are an antithetic pair on one noise row (the second negated), as the
// LR estimator lays them out; uoff (units + 1) marks the pairs.
void case_pair_codes(int32_t* qcode, int Q) {
    for (int q = 0; q < Q; q++) qcode[q] = (int32_t)((((uint32_t)(1000 + q / 2)) << 1) | (uint32_t)(q & 1));
}
void case_pair_offsets(int32_t* uoff, int units) {
    for (int u = 0; u <= units; u++) uoff[u] = 2 * u;
}
fl_noise case_noise_template(const int32_t* qcode_host, int tokens) {
    fl_noise nz = {.key0 = 7, .key1 = 0, .stream = FL_STREAM_MAIN + 5 /* a layer's stream */, .step = 11, .qcode = qcode_host,
                   .tokens = tokens};
    return nz;
}
// The template with its qcode in backend memory.
fl_noise case_dev_noise(const opcase* c) {
    fl_noise nz = c->nz;
    nz.qcode = (const int32_t*)c->b[c->qc].dev;
    return nz;
}
