// test_cpu_attention.c: the CPU backend's fused attention (impl/backend/cpu_attention.c)
// against the GEMM path it replaces (two strided GEMMs per head and a softmax, as vit.c runs
// without it), on random inputs. Shapes: W2's (T = 50: 7 column vectors, one odd row count),
// ViT-B's (T = 197, 12 heads: several column blocks), tiny ones (T smaller than a vector, an
// odd T), and the probabilities kept (BP) or not. Head widths not a multiple of 8 have no
// fused path: the op must say so and write nothing.
// The fast exp under softmax and GELU (fl_expf_poly, impl/kernels/bodies.h): a NaN of either
// sign propagates through it, through softmax and through the fused attention (the x86
// default NaN has its sign bit set), and every finite input gives the bits it gave before.
#include <stdint.h>
#include "../test.h"
#include "impl/backend/ops.h"
#include "impl/kernels/bodies.h"

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

// fl_expf_poly as it was before NaN propagated through it: the reference its results for
// finite inputs must equal bit for bit. The only change was the clamp of NaN and +inf.
static float expf_poly_before(float x) {
    uint32_t bx = fl_float_to_bits(x);
    x = fl_bits_to_float(bx > 0xC2C80000u ? 0xC2C80000u : bx);
    float t = x * 1.44269504f + 0.5f;
    int ki = (int)t;
    ki -= t < (float)ki;
    float k = (float)ki;
    float r = fmaf(k, -0.693145752f, x);
    r = fmaf(k, -1.42860677e-6f, r);
    float p = fmaf(r, 1.98412698e-4f, 1.38888889e-3f);
    p = fmaf(p, r, 8.33333333e-3f);
    p = fmaf(p, r, 4.16666667e-2f);
    p = fmaf(p, r, 1.66666667e-1f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int kc = ki < -126 ? -126 : ki;
    return p * fl_bits_to_float((uint32_t)(kc + 127) << 23) * (float)(ki >= -126);
}

static const uint32_t nan_bits[] = {
    0x7FC00000u,  // +NaN (the quiet NaN of CUDA and of C's NAN)
    0xFFC00000u,  // -NaN: the x86 default NaN (inf - inf, 0 * inf)
    0x7F800001u, 0xFF800001u, 0x7FFFFFFFu, 0xFFFFFFFFu,  // other payloads, signalling ones too
};
#define N_NAN_BITS (int)(sizeof nan_bits / sizeof nan_bits[0])

// Compares new and old on a float given by its bits; counts the first few differences.
static long n_differ;
static void same_bits(uint32_t b) {
    float x = fl_bits_to_float(b);
    if (!isfinite(x) || x > 89.0f) return;  // (the neighbours of +-0 wrap round to NaN)
    float y = fl_expf_poly(x), y0 = expf_poly_before(x);
    if (fl_float_to_bits(y) != fl_float_to_bits(y0) && n_differ++ < 5)
        printf("    x = %.9g (0x%08x): %.9g, before %.9g\n", (double)x, b, (double)y, (double)y0);
}

static void test_expf_finite_inputs_unchanged(void) {
    n_differ = 0;
    const float points[] = {-100.0f, -87.3f, 0.0f, -0.0f, 88.0f, 89.0f, -87.336f, -87.34f, -103.97f,
                            -1e-45f, 1e-45f, -1.17549435e-38f, 1.17549435e-38f, -50.5f, 1.0f, 0.5f};
    for (unsigned i = 0; i < sizeof points / sizeof points[0]; i++)
        for (int d = -64; d <= 64; d++) same_bits(fl_float_to_bits(points[i]) + (uint32_t)d);
    // every float in [-88, -86.9], where exp(x) crosses 2^-126 and the result becomes 0, and
    // every denormal and smallest normal input of either sign
    for (uint32_t b = fl_float_to_bits(-86.9f); b <= fl_float_to_bits(-88.0f); b++) same_bits(b);
    for (uint32_t b = 0; b <= 0x00900000u; b++) { same_bits(b); same_bits(b | 0x80000000u); }
    // a stride through every finite float up to 89 (0x42B20000) and down to -FLT_MAX
    for (uint64_t b = 0; b <= 0x42B20000u; b += 97) same_bits((uint32_t)b);
    for (uint64_t b = 0x80000000u; b <= 0xFF7FFFFFu; b += 97) same_bits((uint32_t)b);
    CHECK(n_differ == 0, "%ld finite inputs give other bits than before", n_differ);
    // above 89, where 2^k is +inf, the result is +inf (it was -0 or a tiny number, out of range)
    int inf_above = 1;
    for (uint64_t b = fl_float_to_bits(89.0f); b <= 0x7F7FFFFFu; b += 4099) inf_above &= fl_expf_poly(fl_bits_to_float((uint32_t)b)) == INFINITY;
    CHECK(inf_above, "an x above 89 did not give +inf");
}

static void test_expf_nan_and_inf(void) {
    for (int i = 0; i < N_NAN_BITS; i++) {
        float y = fl_expf_poly(fl_bits_to_float(nan_bits[i]));
        CHECK(isnan(y), "exp(NaN 0x%08x) = %g", nan_bits[i], (double)y);
    }
    CHECK(fl_expf_poly(-INFINITY) == 0.0f, "exp(-inf) = %g", (double)fl_expf_poly(-INFINITY));
    CHECK(fl_expf_poly(INFINITY) == INFINITY, "exp(+inf) = %g", (double)fl_expf_poly(INFINITY));
    // in a loop the compiler vectorises, as GELU and softmax run it: a NaN in any lane
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = -0.1f * (float)i;
    for (int i = 0; i < 64; i += 9) x[i] = fl_bits_to_float(nan_bits[(i / 9) % N_NAN_BITS]);
    for (int i = 0; i < 64; i++) y[i] = fl_expf_poly(x[i]);
    int ok = 1;
    for (int i = 0; i < 64; i++) ok &= (i % 9 == 0) ? isnan(y[i]) : y[i] > 0.0f && !isnan(y[i]);
    CHECK(ok, "a NaN lane was lost (or another lane became NaN) in the vectorised loop");
    float g[64];
    fl_cpu_ops()->gelu(g, x, 64);
    ok = 1;
    for (int i = 0; i < 64; i++) ok &= (i % 9 == 0) == (isnan(g[i]) != 0);
    CHECK(ok, "GELU of a NaN is not NaN");
}

// A NaN in a softmax row makes the whole row NaN (its sum is NaN); -inf entries (a mask) give
// probability 0 and leave the row finite.
static void test_softmax_propagates_nan(void) {
    const fl_ops* ops = fl_cpu_ops();
    for (int C = 3; C <= 50; C += 47) {  // shorter than a vector, and W2's T
        for (int i = 0; i < N_NAN_BITS; i++) {
            float x[50], y[50];
            for (int c = 0; c < C; c++) x[c] = urand();
            x[C / 2] = fl_bits_to_float(nan_bits[i]);
            ops->softmax(y, x, 1, C, 0.125f);
            int all_nan = 1;
            for (int c = 0; c < C; c++) all_nan &= isnan(y[c]) != 0;
            CHECK(all_nan, "C %d, NaN 0x%08x: softmax row not all NaN (y[0] = %g)", C, nan_bits[i], (double)y[0]);
        }
        float x[50], y[50];
        for (int c = 0; c < C; c++) x[c] = c % 2 ? -INFINITY : urand();
        ops->softmax(y, x, 1, C, 0.125f);
        double sum = 0;
        int masked_zero = 1;
        for (int c = 0; c < C; c++) { sum += y[c]; if (c % 2) masked_zero &= y[c] == 0.0f; }
        CHECK(masked_zero && fabs(sum - 1.0) < 1e-6, "C %d: -inf entries: sum %g, masked zero %d", C, sum, masked_zero);
    }
}

// The fused attention: a NaN in one key (as +NaN, and as -NaN, the x86 default) makes one
// score of every query row of its sample and head NaN, and so their context: NaN; the other
// sample and head stay finite.
static void test_attention_propagates_nan(void) {
    const fl_ops* ops = fl_cpu_ops();
    int S = 2, T = 9, H = 2, D = 16;
    long n = (long)S * T * D;
    float *q = malloc(n * sizeof(float)), *k = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    float* ctx = malloc(n * sizeof(float));
    for (int s = 0; s < 2; s++) {
        for (long i = 0; i < n; i++) { q[i] = urand(); k[i] = urand(); v[i] = urand(); }
        k[(1L * T + 4) * D + 3] = fl_bits_to_float(nan_bits[s]);  // sample 1, token 4, head 0
        int rc = ops->attention(ctx, NULL, q, k, v, S, T, H, D, 0.35f);
        CHECK(rc == 0, "attention refused");
        int nan_head = 1, others_finite = 1;
        for (long i = 0; i < n; i++) {
            int in_head = i / ((long)T * D) == 1 && i % D < D / H;
            if (in_head) nan_head &= isnan(ctx[i]) != 0;
            else others_finite &= isfinite(ctx[i]) != 0;
        }
        CHECK(nan_head && others_finite, "NaN 0x%08x in k: its head's context NaN %d, the rest finite %d",
              nan_bits[s], nan_head, others_finite);
    }
    free(q); free(k); free(v); free(ctx);
}

int main(void) {
    RUN(test_matches_gemm_path);
    RUN(test_refuses_other_head_widths);
    RUN(test_expf_finite_inputs_unchanged);
    RUN(test_expf_nan_and_inf);
    RUN(test_softmax_propagates_nan);
    RUN(test_attention_propagates_nan);
    TEST_EXIT();
}
