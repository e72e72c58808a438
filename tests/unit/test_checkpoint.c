// test_checkpoint.c: BP with activation checkpointing per block (m->checkpoint, model.h;
// docs/METHOD.md "BP") against plain BP:
//   - the gradient is bit-identical (the recomputation makes the same calls on the same
//     inputs as the forward), on MLPs (ReLU and GELU) and on small ViTs, over two batches of
//     different sizes;
//   - the bytes the model holds through ops->alloc for a BP step are lower by exactly the
//     activations checkpointing does not keep: the MLP's hidden pre-activations; every ViT
//     block's activations but its input, less the one block recomputed at a time.
#include "impl/models/vit.h"
#include "impl/estimators/estimator.h"
#include "tests/test.h"
#include <string.h>

static const fl_ops* ops;

static float* make_inputs(int B, int dim, uint32_t seed) {
    float* x = malloc((size_t)B * dim * sizeof(float));
    uint32_t s = seed * 2654435761u + 1u;
    for (long i = 0; i < (long)B * dim; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
    }
    return x;
}

// One BP step of the batch-mean loss from zeroed gradients; the gradient into g (host) and
// the bytes the step made the model hold (activations, scratch) into *held_bytes.
static void bp_step(fl_model* m, const float* x, const int32_t* y, int B, float* g, size_t* held_bytes) {
    float* loss = malloc((size_t)B * sizeof(float));
    float* dloss = malloc((size_t)B * sizeof(float));
    for (int i = 0; i < B; i++) dloss[i] = 1.0f / (float)B;
    size_t held0 = ops->alloc_held();
    m->vt->reserve(m, B, B);
    fl_params_zero_grad(&m->params);
    fl_fwd f = {.x = x, .B = B, .Q = B, .labels = y, .keep = FL_KEEP_BP, .loss = loss};
    m->vt->forward(m, &f);
    m->vt->backward(m, dloss);
    ops->sync();
    if (held_bytes) *held_bytes = ops->alloc_held() - held0;
    ops->download(g, m->params.grad, m->params.total * sizeof(float));
    free(loss);
    free(dloss);
}

// Plain and checkpointed BP of two copies of one model over two batches: bit-identical
// gradients. Returns the bytes each held after the first batch (fresh buffers).
static void compare(const char* what, fl_model* plain, fl_model* ckpt, size_t* held_plain, size_t* held_ckpt) {
    ckpt->checkpoint = FL_CKPT_BLOCK;
    size_t n = plain->params.total;
    float* g0 = malloc(n * sizeof(float));
    float* g1 = malloc(n * sizeof(float));
    const int Bs[2] = {13, 6};
    for (int s = 0; s < 2; s++) {
        int B = Bs[s];
        float* x = make_inputs(B, plain->in_dim, 11u + (uint32_t)s);
        int32_t* y = malloc((size_t)B * sizeof(int32_t));
        for (int i = 0; i < B; i++) y[i] = (7 * i + s) % plain->n_classes;
        bp_step(plain, x, y, B, g0, s == 0 ? held_plain : NULL);
        bp_step(ckpt, x, y, B, g1, s == 0 ? held_ckpt : NULL);
        size_t diff = 0, nonzero = 0;
        for (size_t i = 0; i < n; i++) {
            diff += memcmp(&g0[i], &g1[i], sizeof(float)) != 0;
            nonzero += g0[i] != 0.0f;
        }
        CHECK(diff == 0, "%s, batch %d: %zu of %zu gradient entries differ from plain BP", what, B, diff, n);
        CHECK(nonzero > n / 4, "%s, batch %d: only %zu of %zu gradient entries are non-zero", what, B, nonzero, n);
        free(x);
        free(y);
    }
    free(g0);
    free(g1);
}

static void test_mlp_checkpoint(void) {
    const char* acts[2] = {"relu", "gelu"};
    for (int a = 0; a < 2; a++) {
        fl_err err = {{0}};
        const char* spec = "40-24-32-16-7";
        fl_model* plain = fl_mlp_new(ops, spec, acts[a], &err);
        fl_model* ckpt = fl_mlp_new(ops, spec, acts[a], &err);
        CHECK(plain && ckpt, "%s", err.msg);
        if (!plain || !ckpt) return;
        fl_model_init_weights(plain, 5);
        fl_model_init_weights(ckpt, 5);
        char what[64];
        snprintf(what, sizeof what, "mlp:%s %s", spec, acts[a]);
        size_t hp = 0, hc = 0;
        compare(what, plain, ckpt, &hp, &hc);
        // plain BP keeps pre- and post-activations of the hidden layers; checkpointed BP the
        // post-activations only (the recomputed pre-activation goes to existing scratch)
        const int B = 13;
        size_t hidden = 24 + 32 + 16;
        size_t expect = (size_t)B * hidden * sizeof(float);
        CHECK(hp - hc == expect, "%s: plain holds %zu bytes, checkpointed %zu: saves %zu, expected %zu", what, hp, hc,
              hp - hc, expect);
        // kept activations (rows of floats): plain pre (all layers) + post (hidden), 2 * 72 + 7,
        // against post + logits, 72 + 7
        printf("    %s: model bytes for a BP step of %d: %zu plain, %zu checkpointed; kept activations %.2fx fewer\n",
               what, B, hp, hc, (2.0 * hidden + 7) / ((double)hidden + 7));
        fl_model_free(plain);
        fl_model_free(ckpt);
    }
}

static void test_vit_checkpoint(void) {
    struct { const char* spec; int C, HW; } cases[2] = {
        {"vit:patch=4,dim=16,depth=3,heads=2,mlp=40", 1, 8},
        {"vit:patch=4,dim=24,depth=4,heads=3,mlp=48", 3, 12},
    };
    for (int c = 0; c < 2; c++) {
        fl_err err = {{0}};
        const int classes = 5;
        fl_model* plain = fl_model_create(ops, cases[c].spec, "gelu", cases[c].C, cases[c].HW, cases[c].HW, classes, &err);
        fl_model* ckpt = fl_model_create(ops, cases[c].spec, "gelu", cases[c].C, cases[c].HW, cases[c].HW, classes, &err);
        CHECK(plain && ckpt, "%s", err.msg);
        if (!plain || !ckpt) return;
        fl_vit_init(plain, 9);
        fl_vit_init(ckpt, 9);
        size_t hp = 0, hc = 0;
        compare(cases[c].spec, plain, ckpt, &hp, &hc);
        // plain BP keeps every block's full set; checkpointed BP each block's input and one
        // recomputed set without it: per token 7 D (ln1, q, k, v, ctx, mid, ln2) + 2 M (fc1,
        // gelu) + 4 (LayerNorm statistics) + H T (attention probabilities)
        const fl_vit_cfg* v = fl_vit_config(plain);
        const int B = 13;
        size_t T = (size_t)plain->tokens, D = (size_t)v->dim, M = (size_t)v->mlp, H = (size_t)v->heads;
        size_t L = (size_t)v->depth;
        size_t set = 7 * D + 2 * M + 4 + H * T;  // floats per token, without the input
        size_t expect = (L - 1) * (size_t)B * T * set * sizeof(float);
        CHECK(hp - hc == expect, "%s: plain holds %zu bytes, checkpointed %zu: saves %zu, expected %zu", cases[c].spec,
              hp, hc, hp - hc, expect);
        printf("    %s: model bytes for a BP step of %d: %zu plain, %zu checkpointed; block activations %.2fx fewer\n",
               cases[c].spec, B, hp, hc, (double)(L * (set + D)) / (double)(L * D + set));
        fl_model_free(plain);
        fl_model_free(ckpt);
    }
}

// The backend's byte count follows alloc and free, and the peak resets to what is held.
static void test_alloc_accounting(void) {
    size_t h0 = ops->alloc_held();
    ops->alloc_peak_reset();
    CHECK(ops->alloc_peak() == h0, "peak after reset %zu, held %zu", ops->alloc_peak(), h0);
    void* a = ops->alloc(1000);
    void* b = ops->alloc(24);
    CHECK(ops->alloc_held() == h0 + 1024, "held %zu, expected %zu", ops->alloc_held(), h0 + 1024);
    ops->free(a);
    CHECK(ops->alloc_held() == h0 + 24, "held %zu after a free, expected %zu", ops->alloc_held(), h0 + 24);
    CHECK(ops->alloc_peak() == h0 + 1024, "peak %zu, expected %zu", ops->alloc_peak(), h0 + 1024);
    ops->free(b);
    ops->free(NULL);
    CHECK(ops->alloc_held() == h0, "held %zu after freeing all, expected %zu", ops->alloc_held(), h0);
    ops->alloc_peak_reset();
    CHECK(ops->alloc_peak() == h0, "peak after the second reset %zu, held %zu", ops->alloc_peak(), h0);
}

int main(void) {
    ops = fl_cpu_ops();
    RUN(test_alloc_accounting);
    RUN(test_mlp_checkpoint);
    RUN(test_vit_checkpoint);
    TEST_EXIT();
}
