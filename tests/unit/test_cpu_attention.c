// test_cpu_attention.c: the CPU backend's fused attention (impl/backend/cpu_attention.c)
// against the GEMM path it replaces (two strided GEMMs per head and a softmax, as vit.c runs
// without it), on random inputs. Shapes: W2's (T = 50: 7 column vectors, one odd row count),
// ViT-B's (T = 197, 12 heads: several column blocks), tiny ones (T smaller than a vector, an
// odd T), and the probabilities kept (BP) or not. Head widths not a multiple of 8 have no
// fused path: the op must say so and write nothing.
#include "../test.h"
#include "impl/backend/ops.h"

static unsigned rng = 12345u;
static float urand(void) {  // uniform in [-1, 1)
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / (float)(1u << 23) - 1.0f;
}

// Largest |fused - reference| relative to the largest |reference| of ctx (and of probs).
static void compare(int S, int T, int H, int D, float qscale, double* err_ctx, double* err_probs) {
    const fl_ops* ops = fl_cpu_ops();
    int hd = D / H;
    long TD = (long)T * D, TT = (long)T * T, HTT = (long)H * TT, n = (long)S * TD, np = (long)S * HTT;
    float* q = malloc(n * sizeof(float));
    float* k = malloc(n * sizeof(float));
    float* v = malloc(n * sizeof(float));
    float* ctx_ref = malloc(n * sizeof(float));
    float* ctx = malloc(n * sizeof(float));
    float* probs_ref = malloc(np * sizeof(float));
    float* probs = malloc(np * sizeof(float));
    for (long i = 0; i < n; i++) { q[i] = qscale * urand(); k[i] = qscale * urand(); v[i] = urand(); }
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++)
        ops->gemm_strided(0, 1, T, T, hd, scale, q + h * hd, D, TD, k + h * hd, D, TD, 0.0f,
                          probs_ref + h * TT, T, HTT, S);
    ops->softmax(probs_ref, probs_ref, S * H * T, T, 1.0f);
    for (int h = 0; h < H; h++)
        ops->gemm_strided(0, 0, T, hd, T, 1.0f, probs_ref + h * TT, T, HTT, v + h * hd, D, TD, 0.0f,
                          ctx_ref + h * hd, D, TD, S);
    double mc = 0, ec = 0, ep = 0;
    for (int keep = 0; keep < 2; keep++) {
        for (long i = 0; i < n; i++) ctx[i] = NAN;
        for (long i = 0; i < np; i++) probs[i] = -7.0f;
        int rc = ops->attention(ctx, keep ? probs : NULL, q, k, v, S, T, H, D, scale);
        CHECK(rc == 0, "attention refused S%d T%d H%d D%d", S, T, H, D);
        for (long i = 0; i < n; i++) {
            mc = fmax(mc, fabs(ctx_ref[i]));
            ec = fmax(ec, fabs((double)ctx[i] - ctx_ref[i]));  // NaN left unwritten fails below
            if (isnan(ctx[i])) ec = INFINITY;
        }
        if (keep)
            for (long i = 0; i < np; i++) ep = fmax(ep, fabs((double)probs[i] - probs_ref[i]));
        else
            for (long i = 0; i < np; i++)
                if (probs[i] != -7.0f) { ep = INFINITY; break; }  // probs NULL: nothing written
    }
    *err_ctx = ec / mc;
    *err_probs = ep;  // probabilities are at most 1: absolute is relative to the largest
    free(q); free(k); free(v); free(ctx_ref); free(ctx); free(probs_ref); free(probs);
}

static void test_matches_gemm_path(void) {
    struct { int S, T, H, D; float qscale; } cases[] = {
        {64, 50, 3, 192, 1.0f},  // W2 (vit-tiny on 28x28, patch 4)
        {2, 197, 12, 768, 1.0f}, // ViT-B/16
        {5, 9, 2, 48, 3.0f},     // odd T, peaked attention
        {3, 3, 1, 8, 1.0f},      // T smaller than a vector
        {4, 17, 4, 128, 0.1f},   // nearly uniform attention
    };
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double ec, ep;
        compare(cases[c].S, cases[c].T, cases[c].H, cases[c].D, cases[c].qscale, &ec, &ep);
        printf("    S%d T%d H%d D%d: ctx %.2g of its largest, probs %.2g\n", cases[c].S, cases[c].T,
               cases[c].H, cases[c].D, ec, ep);
        // The same sums in another order and with fused multiply-adds: a few float ulps of
        // terms of size <= 1 summed over at most 197 (dot products of hd <= 64 inputs in [-3, 3]
        // scaled by 1/sqrt(hd), then exp); 1e-5 is ~100 ulps of 1. A wrong index is O(1).
        CHECK(ec < 1e-5 && ep < 1e-5, "S%d T%d H%d D%d: ctx differs by %g, probs by %g",
              cases[c].S, cases[c].T, cases[c].H, cases[c].D, ec, ep);
    }
}

static void test_refuses_other_head_widths(void) {
    const fl_ops* ops = fl_cpu_ops();
    float q[2 * 3 * 12], ctx[2 * 3 * 12];
    for (int i = 0; i < 72; i++) { q[i] = urand(); ctx[i] = 5.0f; }
    int rc = ops->attention(ctx, NULL, q, q, q, 2, 3, 3, 12, 0.5f);  // hd = 4
    CHECK(rc != 0, "hd = 4 was accepted");
    int untouched = 1;
    for (int i = 0; i < 72; i++) untouched &= ctx[i] == 5.0f;
    CHECK(untouched, "a refused call wrote its output");
}

int main(void) {
    RUN(test_matches_gemm_path);
    RUN(test_refuses_other_head_widths);
    TEST_EXIT();
}
