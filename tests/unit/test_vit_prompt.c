// test_vit_prompt.c: the ViT forward with prompt tokens after CLS (impl/models/vit_prompt.c)
// and the "vit" black box answering with it (vit_blackbox.c), on small ViTs (8x8 one-channel
// images, patch 4: T = 5 tokens; dim 16, 2 heads) with every parameter drawn at random:
//   - P = 0 gives the model's clean forward up to rounding (2e-6), rows in any order;
//   - known answer: a double-precision reference written here from the architecture (vit.h)
//     agrees within 1e-4 relative, for P = 0, 1 and 3, with and without fused attention;
//   - the losses do not depend on the chunk of rows (bit for bit);
//   - permuting a prompt's tokens leaves the loss (up to rounding), permuting two patches of
//     the image does not (position embeddings: the control that the property can fail);
//   - the black box through its vt: D, FLOPs, rows in any order with shared prompts give the
//     direct call's losses; a row naming no datum is an error.
// The known answer and P = 0 also run on the CUDA backend when there is one (else SKIP).
#include "impl/models/vit_prompt.h"
#include "impl/models/vit.h"
#include "tests/test.h"
#include <math.h>
#include <string.h>

static const fl_ops* cpu;
static const fl_ops* gpu;
static char no_gpu_reason[1024];

static const fl_vit_cfg small_cfg = {.image_h = 8, .image_w = 8, .channels = 1, .patch = 4, .dim = 16,
                                     .depth = 2, .heads = 2, .mlp = 32, .classes = 5, .eps = 1e-6f};

// Uniform in [-1, 1) from a 32-bit LCG.
static float unif(uint32_t* s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static float* rand_floats(long n, float scale, uint32_t seed) {
    float* x = malloc((size_t)n * sizeof(float));
    uint32_t s = seed * 2654435761u + 7u;
    for (long i = 0; i < n; i++) x[i] = scale * unif(&s);
    return x;
}

// A ViT whose every parameter is random and of a size that matters: LayerNorm scales 1 +- 0.3,
// shifts +- 0.2, CLS and position embeddings +- 0.5, weights +- 1.5 / sqrt(din), biases +- 0.2.
static fl_model* make_vit(const fl_ops* ops, int depth, uint32_t seed) {
    fl_err err = {{0}};
    fl_vit_cfg c = small_cfg;
    c.depth = depth;
    fl_model* m = fl_vit_new(ops, &c, &err);
    if (!m) { printf("    fl_vit_new: %s\n", err.msg); exit(2); }
    float* host = malloc(m->params.total * sizeof(float));
    fl_params_download(&m->params, host);
    uint32_t s = seed * 747796405u + 1u;
    for (int i = 0; i < m->params.n; i++) {
        const fl_tensor* t = &m->params.t[i];
        float* d = host + t->offset;
        size_t len = strlen(t->name);
        int is_w = len > 7 && !strcmp(t->name + len - 7, ".weight");
        for (size_t e = 0; e < t->numel; e++) {
            float u = unif(&s);
            switch (t->kind) {
            case FL_KIND_NORM: d[e] = is_w ? 1.0f + 0.3f * u : 0.2f * u; break;
            case FL_KIND_EMBED: d[e] = 0.5f * u; break;
            case FL_KIND_WEIGHT: d[e] = 1.5f * u / sqrtf((float)t->shape[1]); break;
            case FL_KIND_BIAS: d[e] = 0.2f * u; break;
            default: break;
            }
        }
    }
    fl_params_upload(&m->params, host);
    free(host);
    return m;
}

static int32_t* make_labels(int n, int classes, int salt) {
    int32_t* y = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) y[i] = (3 * i + salt) % classes;
    return y;
}

// The model's clean forward of B data: per-datum losses and argmax into host arrays.
static void plain_forward(fl_model* m, const float* x, const int32_t* y, int B, float* loss, int32_t* am) {
    const fl_ops* ops = m->ops;
    float* x_d = fl_ops_upload_new(ops, x, (size_t)B * m->in_dim * sizeof(float));
    int32_t* y_d = fl_ops_upload_new(ops, y, (size_t)B * sizeof(int32_t));
    float* loss_d = ops->alloc((size_t)B * sizeof(float));
    int32_t* am_d = ops->alloc((size_t)B * sizeof(int32_t));
    m->vt->reserve(m, B, B);
    fl_fwd f = {.x = x_d, .B = B, .Q = B, .labels = y_d, .keep = 0, .loss = loss_d, .argmax = am_d};
    m->vt->forward(m, &f);
    ops->download(loss, loss_d, (size_t)B * sizeof(float));
    ops->download(am, am_d, (size_t)B * sizeof(int32_t));
    ops->free(x_d);
    ops->free(y_d);
    ops->free(loss_d);
    ops->free(am_d);
}

static int prompt_losses(fl_model* m, const float* x, int B, const int32_t* y, int P, int R, const int32_t* rd,
                         const int32_t* rp, int n_prompts, const float* prompts, int max_rows, float* loss,
                         int32_t* am) {
    fl_err err = {{0}};
    int rc = fl_vit_prompt_losses(m, x, B, y, P, R, rd, rp, n_prompts, prompts, max_rows, loss, am, &err);
    if (rc) printf("    fl_vit_prompt_losses: %s\n", err.msg);
    return rc;
}

// ---------------------------------------------------------------------------------------
// the reference: the architecture of vit.h, straightforwardly, in double

typedef struct {
    const fl_model* m;
    const float* host;  // the parameters (m->params.total floats)
} ref_model;

static const float* ref_param(const ref_model* r, const char* fmt, int k) {
    char name[128];
    snprintf(name, sizeof name, fmt, k);
    int i = fl_params_find(&r->m->params, name);
    if (i < 0) { printf("    reference: no tensor %s\n", name); exit(2); }
    return r->host + r->m->params.t[i].offset;
}

// y (N, dout) = x (N, din) W^T + b, W (dout, din)
static void ref_linear(double* y, const double* x, const float* W, const float* b, int N, int din, int dout) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < dout; o++) {
            double s = b[o];
            for (int i = 0; i < din; i++) s += x[(long)n * din + i] * (double)W[(long)o * din + i];
            y[(long)n * dout + o] = s;
        }
}

static void ref_layernorm(double* y, const double* x, const float* w, const float* b, int N, int D, double eps) {
    for (int n = 0; n < N; n++) {
        const double* xn = x + (long)n * D;
        double mean = 0, var = 0;
        for (int i = 0; i < D; i++) mean += xn[i];
        mean /= D;
        for (int i = 0; i < D; i++) var += (xn[i] - mean) * (xn[i] - mean);
        var /= D;
        for (int i = 0; i < D; i++) y[(long)n * D + i] = (xn[i] - mean) / sqrt(var + eps) * w[i] + b[i];
    }
}

// The loss of one image under prompt tokens (P, D) inserted after CLS; the argmax into *am.
static double ref_loss(const ref_model* r, const float* img, int label, int P, const float* prompt, int* am) {
    const fl_vit_cfg* c = fl_vit_config(r->m);
    int D = c->dim, M = c->mlp, H = c->heads, hd = D / H, ps = c->patch, NC = c->classes;
    int gw = c->image_w / ps, np = (c->image_h / ps) * gw, K = c->channels * ps * ps, N = 1 + P + np;
    double* h = calloc((size_t)N * D, sizeof(double));
    double* a = calloc((size_t)N * D, sizeof(double));
    double* q = calloc((size_t)N * D, sizeof(double));
    double* k = calloc((size_t)N * D, sizeof(double));
    double* v = calloc((size_t)N * D, sizeof(double));
    double* ctx = calloc((size_t)N * D, sizeof(double));
    double* o = calloc((size_t)N * D, sizeof(double));
    double* f1 = calloc((size_t)N * M, sizeof(double));
    double* patch = calloc((size_t)K, sizeof(double));
    double* sc = calloc((size_t)N, sizeof(double));
    // embeddings: CLS + pos[0]; the prompt (no position); patch p: We patch + be + pos[1 + p]
    const float* cls = ref_param(r, "embeddings.cls_token", 0);
    const float* pos = ref_param(r, "embeddings.position_embeddings", 0);
    const float* We = ref_param(r, "embeddings.patch_embeddings.projection.weight", 0);
    const float* be = ref_param(r, "embeddings.patch_embeddings.projection.bias", 0);
    for (int i = 0; i < D; i++) h[i] = (double)cls[i] + pos[i];
    for (int t = 0; t < P; t++)
        for (int i = 0; i < D; i++) h[(long)(1 + t) * D + i] = prompt[(long)t * D + i];
    for (int p = 0; p < np; p++) {
        int pi = p / gw, pj = p % gw, e = 0;
        for (int ch = 0; ch < c->channels; ch++)
            for (int y = 0; y < ps; y++)
                for (int x = 0; x < ps; x++)
                    patch[e++] = img[((long)ch * c->image_h + pi * ps + y) * c->image_w + pj * ps + x];
        double* row = h + (long)(1 + P + p) * D;
        ref_linear(row, patch, We, be, 1, K, D);
        for (int i = 0; i < D; i++) row[i] += pos[(long)(1 + p) * D + i];
    }
    for (int L = 0; L < c->depth; L++) {
        // attention: a = LN1(h); softmax(q_h k_h^T / sqrt(hd)) v_h per head; h += ctx Wo^T + bo
        ref_layernorm(a, h, ref_param(r, "encoder.layer.%d.layernorm_before.weight", L),
                      ref_param(r, "encoder.layer.%d.layernorm_before.bias", L), N, D, c->eps);
        ref_linear(q, a, ref_param(r, "encoder.layer.%d.attention.attention.query.weight", L),
                   ref_param(r, "encoder.layer.%d.attention.attention.query.bias", L), N, D, D);
        ref_linear(k, a, ref_param(r, "encoder.layer.%d.attention.attention.key.weight", L),
                   ref_param(r, "encoder.layer.%d.attention.attention.key.bias", L), N, D, D);
        ref_linear(v, a, ref_param(r, "encoder.layer.%d.attention.attention.value.weight", L),
                   ref_param(r, "encoder.layer.%d.attention.attention.value.bias", L), N, D, D);
        for (int hh = 0; hh < H; hh++)
            for (int i = 0; i < N; i++) {
                double mx = -INFINITY, z = 0;
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int e = 0; e < hd; e++) s += q[(long)i * D + hh * hd + e] * k[(long)j * D + hh * hd + e];
                    sc[j] = s / sqrt((double)hd);
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                for (int j = 0; j < N; j++) z += (sc[j] = exp(sc[j] - mx));
                for (int e = 0; e < hd; e++) {
                    double s = 0;
                    for (int j = 0; j < N; j++) s += sc[j] / z * v[(long)j * D + hh * hd + e];
                    ctx[(long)i * D + hh * hd + e] = s;
                }
            }
        ref_linear(o, ctx, ref_param(r, "encoder.layer.%d.attention.output.dense.weight", L),
                   ref_param(r, "encoder.layer.%d.attention.output.dense.bias", L), N, D, D);
        for (long i = 0; i < (long)N * D; i++) h[i] += o[i];
        // MLP: h += gelu(LN2(h) W1^T + b1) W2^T + b2, GELU with erf
        ref_layernorm(a, h, ref_param(r, "encoder.layer.%d.layernorm_after.weight", L),
                      ref_param(r, "encoder.layer.%d.layernorm_after.bias", L), N, D, c->eps);
        ref_linear(f1, a, ref_param(r, "encoder.layer.%d.intermediate.dense.weight", L),
                   ref_param(r, "encoder.layer.%d.intermediate.dense.bias", L), N, D, M);
        for (long i = 0; i < (long)N * M; i++) f1[i] = 0.5 * f1[i] * (1.0 + erf(f1[i] / sqrt(2.0)));
        ref_linear(o, f1, ref_param(r, "encoder.layer.%d.output.dense.weight", L),
                   ref_param(r, "encoder.layer.%d.output.dense.bias", L), N, M, D);
        for (long i = 0; i < (long)N * D; i++) h[i] += o[i];
    }
    // final LayerNorm of CLS, classifier, cross-entropy
    double logits[64];
    ref_layernorm(a, h, ref_param(r, "layernorm.weight", 0), ref_param(r, "layernorm.bias", 0), 1, D, c->eps);
    ref_linear(logits, a, ref_param(r, "head.weight", 0), ref_param(r, "head.bias", 0), 1, D, NC);
    double mx = -INFINITY, z = 0;
    *am = 0;
    for (int j = 0; j < NC; j++)
        if (logits[j] > mx) { mx = logits[j]; *am = j; }
    for (int j = 0; j < NC; j++) z += exp(logits[j] - mx);
    free(h); free(a); free(q); free(k); free(v); free(ctx); free(o); free(f1); free(patch); free(sc);
    return mx + log(z) - logits[label];
}

// ---------------------------------------------------------------------------------------
// tests

// P = 0 on backend ops: the clean forward's losses and argmax, rows in order and shuffled
// with repeats. The clean forward multiplies all B*T rows at once, the prompt forward each
// sequence apart (vit_prompt.c), and OpenBLAS rounds a product of few rows with other kernels
// than one of many: the losses agree to a few ulps (tol, relative), not always bit for bit; a
// wrong token, weight or label moves them by 1e-2 or more. Prints how many rows were bitwise.
static void check_p0(const fl_ops* ops, double tol) {
    fl_model* m = make_vit(ops, 2, 5);
    enum { B = 7, R = 10 };
    float* x = rand_floats((long)B * m->in_dim, 1.5f, 11);
    int32_t* y = make_labels(B, m->n_classes, 1);
    float plain[B], loss[R];
    int32_t plain_am[B], am[R];
    plain_forward(m, x, y, B, plain, plain_am);
    int32_t in_order[B];
    for (int i = 0; i < B; i++) in_order[i] = i;
    const int32_t shuffled[R] = {3, 0, 6, 3, 1, 5, 2, 4, 0, 6};
    const int32_t* rds[2] = {in_order, shuffled};
    const int Rs[2] = {B, R};
    int bitwise = 0, total = 0;
    for (int s = 0; s < 2; s++) {
        CHECK(prompt_losses(m, x, B, y, 0, Rs[s], rds[s], NULL, 0, NULL, 0, loss, am) == 0, "P = 0, order %d", s);
        for (int r = 0; r < Rs[s]; r++) {
            int d = rds[s][r];
            double e = fabs(loss[r] - plain[d]) / fmax(1.0, fabs(plain[d]));
            CHECK(e <= tol, "%s: row %d (datum %d): P = 0 loss %.9g, clean forward %.9g (relative %.2g)", ops->name,
                  r, d, loss[r], plain[d], e);
            CHECK(am[r] == plain_am[d], "%s: row %d (datum %d): argmax %d, clean forward %d", ops->name, r, d, am[r],
                  plain_am[d]);
            bitwise += !memcmp(&loss[r], &plain[d], sizeof(float));
            total++;
        }
    }
    printf("    %s: %d of %d rows bitwise equal to the clean forward\n", ops->name, bitwise, total);
    CHECK(fl_vit_prompt_flops(m, 0) == m->vt->forward_flops(m, 1, 1, 0),
          "P = 0 FLOPs %.0f, the model's forward of one datum %.0f", fl_vit_prompt_flops(m, 0),
          m->vt->forward_flops(m, 1, 1, 0));
    CHECK(fl_vit_prompt_flops(m, 3) > fl_vit_prompt_flops(m, 0), "FLOPs do not grow with P");
    free(x);
    free(y);
    fl_model_free(m);
}

static void test_p0_equals_clean_forward(void) { check_p0(cpu, 2e-6); }
static void test_p0_equals_clean_forward_cuda(void) {
    if (!gpu) SKIP(no_gpu_reason);
    check_p0(gpu, 1e-5);
}

// Every (datum, prompt) pair against the double reference. Float32 forward through two blocks
// of width 16-32 rounds each sum of at most 32 terms at 6e-8 relative; the errors observed are
// near 1e-6. 1e-4 leaves that a wide margin, while a wrong token order, a position embedding on
// a prompt or a missing bias moves losses by 1e-2 or more (the prompt's own effect is checked
// to exceed 1e-3 below).
static void check_known_answer(const fl_ops* ops) {
    const int Ps[3] = {0, 1, 3};
    double worst = 0.0;
    for (int depth = 1; depth <= 2; depth++) {
        fl_model* m = make_vit(ops, depth, 20u + (uint32_t)depth);
        ref_model ref = {m, malloc(m->params.total * sizeof(float))};
        fl_params_download(&m->params, (float*)ref.host);
        enum { B = 4, NP = 2 };
        int D = small_cfg.dim;
        float* x = rand_floats((long)B * m->in_dim, 1.5f, 30u + (uint32_t)depth);
        int32_t* y = make_labels(B, m->n_classes, depth);
        float clean[B * NP];
        for (int s = 0; s < 3; s++) {
            int P = Ps[s], R = B * NP;
            float* prompts = rand_floats((long)NP * (P ? P : 1) * D, 1.0f, 40u + (uint32_t)(P + 10 * depth));
            int32_t rd[B * NP], rp[B * NP], am[B * NP];
            float loss[B * NP];
            for (int r = 0; r < R; r++) {
                rd[r] = (r * 3) % B;
                rp[r] = r % NP;
            }
            CHECK(prompt_losses(m, x, B, y, P, R, rd, rp, NP, prompts, 0, loss, am) == 0, "P = %d", P);
            double moved = 0.0;
            for (int r = 0; r < R; r++) {
                int ram;
                double want = ref_loss(&ref, x + (long)rd[r] * m->in_dim, y[rd[r]], P,
                                       prompts + (long)rp[r] * P * D, &ram);
                double e = fabs(loss[r] - want) / fmax(1.0, fabs(want));
                worst = e > worst ? e : worst;
                CHECK(e <= 1e-4, "%s depth %d P = %d row %d: loss %.7g, reference %.7g (relative error %.2g)",
                      ops->name, depth, P, r, loss[r], want, e);
                CHECK(am[r] == ram, "%s depth %d P = %d row %d: argmax %d, reference %d", ops->name, depth, P, r,
                      am[r], ram);
                if (P == 0) clean[r] = loss[r];
                else moved = fmax(moved, fabs(loss[r] - clean[r]));
            }
            if (P > 0) CHECK(moved > 1e-3, "depth %d P = %d: the prompts move no loss by more than %.2g", depth, P, moved);
            free(prompts);
        }
        free(x);
        free(y);
        free((float*)ref.host);
        fl_model_free(m);
    }
    printf("    %s: largest relative error against the double reference %.2g\n", ops->name, worst);
}

static void test_known_answer(void) {
    check_known_answer(cpu);
    static fl_ops unfused;  // the model keeps a pointer to its table
    unfused = *cpu;
    unfused.name = "cpu without fused attention";
    unfused.attention = NULL;
    check_known_answer(&unfused);
}
static void test_known_answer_cuda(void) {
    if (!gpu) SKIP(no_gpu_reason);
    check_known_answer(gpu);
}

// Chunks of 1, 2, 4 and 11 rows: the same losses and argmax, bit for bit.
static void test_chunk_invariance(void) {
    fl_model* m = make_vit(cpu, 2, 7);
    enum { B = 5, R = 11, P = 3, NP = 3 };
    int D = small_cfg.dim;
    float* x = rand_floats((long)B * m->in_dim, 1.5f, 50);
    int32_t* y = make_labels(B, m->n_classes, 2);
    float* prompts = rand_floats((long)NP * P * D, 1.0f, 51);
    const int32_t rd[R] = {4, 1, 1, 0, 3, 4, 2, 0, 1, 3, 2};
    const int32_t rp[R] = {2, 0, 1, 1, 0, 2, 2, 0, 0, 1, 2};
    float base[R], loss[R];
    int32_t base_am[R], am[R];
    CHECK(prompt_losses(m, x, B, y, P, R, rd, rp, NP, prompts, 0, base, base_am) == 0, "one chunk");
    const int chunks[4] = {1, 2, 4, 11};
    for (int c = 0; c < 4; c++) {
        CHECK(prompt_losses(m, x, B, y, P, R, rd, rp, NP, prompts, chunks[c], loss, am) == 0, "chunks of %d", chunks[c]);
        int diff = 0;
        for (int r = 0; r < R; r++) diff += memcmp(&loss[r], &base[r], sizeof(float)) != 0 || am[r] != base_am[r];
        CHECK(diff == 0, "chunks of %d rows: %d of %d rows differ from one chunk", chunks[c], diff, R);
    }
    free(x);
    free(y);
    free(prompts);
    fl_model_free(m);
}

// Prompt tokens carry no position: reversing a prompt's tokens changes the loss by rounding
// only (1e-5 relative). Control: swapping the image's patches (0, 0) and (1, 1) moves their
// position embeddings, and the loss moves by more than 1e-3.
static void test_prompt_permutation(void) {
    fl_model* m = make_vit(cpu, 2, 9);
    enum { B = 3, P = 4 };
    int D = small_cfg.dim, W = small_cfg.image_w, ps = small_cfg.patch;
    float* x = rand_floats((long)2 * B * m->in_dim, 1.5f, 60);  // B images, then B with patches swapped
    int32_t* y = make_labels(2 * B, m->n_classes, 0);
    for (int i = 0; i < B; i++) {
        float* sw = x + (long)(B + i) * m->in_dim;
        memcpy(sw, x + (long)i * m->in_dim, (size_t)m->in_dim * sizeof(float));
        y[B + i] = y[i];
        for (int r = 0; r < ps; r++)
            for (int c = 0; c < ps; c++) {
                float t = sw[r * W + c];
                sw[r * W + c] = sw[(ps + r) * W + ps + c];
                sw[(ps + r) * W + ps + c] = t;
            }
    }
    float* prompts = rand_floats((long)2 * P * D, 1.0f, 61);  // prompt 0, then its tokens reversed
    for (int t = 0; t < P; t++) memcpy(prompts + (long)(P + t) * D, prompts + (long)(P - 1 - t) * D, (size_t)D * sizeof(float));
    enum { R = 3 * B };
    int32_t rd[R], rp[R];
    for (int i = 0; i < B; i++) {
        rd[i] = i, rp[i] = 0;              // as given
        rd[B + i] = i, rp[B + i] = 1;      // prompt reversed
        rd[2 * B + i] = B + i, rp[2 * B + i] = 0;  // patches swapped
    }
    float loss[R];
    CHECK(prompt_losses(m, x, 2 * B, y, P, R, rd, rp, 2, prompts, 0, loss, NULL) == 0, "permutations");
    for (int i = 0; i < B; i++) {
        double inv = fabs(loss[B + i] - loss[i]), ctl = fabs(loss[2 * B + i] - loss[i]);
        CHECK(inv <= 1e-5 * fmax(1.0, fabs(loss[i])), "datum %d: reversing the prompt moves the loss %.7g by %.2g",
              i, loss[i], inv);
        CHECK(ctl > 1e-3, "datum %d: swapping two patches moves the loss %.7g by only %.2g", i, loss[i], ctl);
    }
    free(x);
    free(y);
    free(prompts);
    fl_model_free(m);
}

// The black box through its vt, against direct calls; and its errors.
static void test_blackbox_vt(void) {
    fl_model* m = make_vit(cpu, 2, 13);
    fl_err err = {{0}};
    fl_blackbox* bb = fl_blackbox_vit_new(m, &err);
    CHECK(bb && !strcmp(bb->vt->kind, "vit"), "fl_blackbox_vit_new: %s", err.msg);
    if (!bb) return;
    enum { N = 6, P = 2, NP = 3, R = 9 };
    int D = 0;
    double flops = -1;
    float* x = rand_floats((long)N * m->in_dim, 1.5f, 70);
    int32_t* y = make_labels(N, m->n_classes, 3);
    fl_bb_data data = {.n = N, .channels = 1, .height = 8, .width = 8, .n_classes = m->n_classes, .x = x, .y = y};
    CHECK(bb->vt->setup(bb, &data, P, &D, &flops, &err) == 0, "setup: %s", err.msg);
    CHECK(D == small_cfg.dim, "setup: D = %d; expected the model's width %d", D, small_cfg.dim);
    CHECK(flops == fl_vit_prompt_flops(m, P) && flops > 0, "setup: %.0f FLOPs per query; expected %.0f", flops,
          fl_vit_prompt_flops(m, P));
    float* prompts = rand_floats((long)NP * P * D, 1.0f, 71);
    const int32_t rd[R] = {4, 1, 4, 0, 5, 1, 2, 4, 3};
    const int32_t rp[R] = {0, 1, 1, 2, 0, 0, 2, 1, 0};
    fl_bb_request req = {.n_rows = R, .row_datum = rd, .row_prompt = rp, .n_prompts = NP, .prompts = prompts};
    float loss[R], want[R];
    int32_t am[R], want_am[R];
    double compute_s = -1;
    CHECK(bb->vt->query(bb, &req, loss, am, &compute_s, &err) == 0, "query: %s", err.msg);
    CHECK(compute_s >= 0, "query: compute_s %g", compute_s);
    CHECK(prompt_losses(m, x, N, y, P, R, rd, rp, NP, prompts, 0, want, want_am) == 0, "direct");
    for (int r = 0; r < R; r++)
        CHECK(!memcmp(&loss[r], &want[r], sizeof(float)) && am[r] == want_am[r],
              "row %d (datum %d, prompt %d): box %.9g (argmax %d), direct %.9g (argmax %d)", r, rd[r], rp[r],
              loss[r], am[r], want[r], want_am[r]);
    // a second request, reusing the box: one row, datum 3 alone
    const int32_t rd1[1] = {3}, rp1[1] = {2};
    fl_bb_request one = {.n_rows = 1, .row_datum = rd1, .row_prompt = rp1, .n_prompts = NP, .prompts = prompts};
    float l1;
    int32_t a1;
    float w1;
    CHECK(bb->vt->query(bb, &one, &l1, &a1, &compute_s, &err) == 0, "query of one row: %s", err.msg);
    CHECK(prompt_losses(m, x, N, y, P, 1, rd1, rp1, NP, prompts, 0, &w1, NULL) == 0, "direct, one row");
    CHECK(!memcmp(&l1, &w1, sizeof(float)), "one row: box %.9g, direct %.9g", l1, w1);
    // errors: a datum outside the box's data, a prompt outside the request
    const int32_t bad_d[1] = {N}, bad_p[1] = {NP};
    fl_bb_request bad = {.n_rows = 1, .row_datum = bad_d, .row_prompt = rp1, .n_prompts = NP, .prompts = prompts};
    err.msg[0] = 0;
    CHECK(bb->vt->query(bb, &bad, &l1, &a1, &compute_s, &err) == -1 && strstr(err.msg, "datum 6"),
          "a row naming datum %d of %d: %s", N, N, err.msg);
    bad = (fl_bb_request){.n_rows = 1, .row_datum = rd1, .row_prompt = bad_p, .n_prompts = NP, .prompts = prompts};
    err.msg[0] = 0;
    CHECK(bb->vt->query(bb, &bad, &l1, &a1, &compute_s, &err) == -1 && strstr(err.msg, "prompt 3"),
          "a row naming prompt %d of %d: %s", NP, NP, err.msg);
    bb->vt->destroy(bb);
    // setup refuses data of another shape
    bb = fl_blackbox_vit_new(m, &err);
    data.width = 12;
    err.msg[0] = 0;
    CHECK(bb->vt->setup(bb, &data, P, &D, &flops, &err) == -1 && strstr(err.msg, "(1, 8, 12)"),
          "setup with 8x12 images: %s", err.msg);
    bb->vt->destroy(bb);
    CHECK(fl_blackbox_vit_new(NULL, &err) == NULL, "a box without a model");
    free(x);
    free(y);
    free(prompts);
    fl_model_free(m);
}

int main(void) {
    cpu = fl_cpu_ops();
    fl_err err = {{0}};
    gpu = fl_cuda_ops(&err);
    snprintf(no_gpu_reason, sizeof no_gpu_reason, "%s", err.msg[0] ? err.msg : "no CUDA backend");
    RUN(test_p0_equals_clean_forward);
    RUN(test_known_answer);
    RUN(test_chunk_invariance);
    RUN(test_prompt_permutation);
    RUN(test_blackbox_vt);
    RUN(test_p0_equals_clean_forward_cuda);
    RUN(test_known_answer_cuda);
    TEST_EXIT();
}
