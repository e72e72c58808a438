// test_cpu_noise.c: the CPU backend's 8-lane normal generator (impl/backend/cpu_noise.h) is
// bit-identical to the shared scalar body fl_normal4 that the CUDA backend also calls.
#include "../test.h"
#include "impl/backend/cpu_noise.h"
#include "impl/backend/ops.h"

static void test_normal32_bit_identical(void) {
    long mismatches = 0, total = 0;
    for (uint32_t row = 0; row < 2000; row++) {
        uint32_t k0 = 0x9e3779b9u * row, k1 = row ^ 0xdeadbeefu;
        uint32_t stream = row % 7 + (row & 1 ? 1u << 24 : 0), step = row * 13u;
        for (uint32_t g0 = 0; g0 < 512; g0 += 8) {
            float a[32], b[32];
            fl_cpu_normal32(k0, k1, g0 + row * 3u, row, stream, step, a);
            for (int j = 0; j < 8; j++) fl_normal4(k0, k1, g0 + row * 3u + (uint32_t)j, row, stream, step, b + 4 * j);
            for (int i = 0; i < 32; i++) {
                mismatches += memcmp(&a[i], &b[i], sizeof(float)) != 0;
                total++;
            }
        }
    }
    CHECK(mismatches == 0, "%ld of %ld normals differ from the scalar body", mismatches, total);
}

// the counter's group wraps at 2^32: lanes must wrap the same way
static void test_normal32_wraps(void) {
    float a[32], b[32];
    fl_cpu_normal32(1, 2, 0xfffffffcu, 3, 4, 5, a);
    for (int j = 0; j < 8; j++) fl_normal4(1, 2, 0xfffffffcu + (uint32_t)j, 3, 4, 5, b + 4 * j);
    CHECK(memcmp(a, b, sizeof a) == 0, "wrapped counters differ");
}

// The CPU ops draw a pair's normals once for both rows and use 32-wide blocks; their output
// must equal the shared group bodies applied row by row (what the CUDA kernels do), bit for
// bit. Queries: pairs, an unpaired query, and a pair split across the parallel loop; 3 tokens;
// 70 columns (two blocks of 32 and a tail of 6).
static void test_noise_ops_match_bodies(void) {
    const fl_ops* ops = fl_cpu_ops();
    enum { Q = 12, T = 3, C = 70 };
    // pairs; a lone query; three queries on one noise row (9, 10, 11: pair up two by two)
    int32_t qcode[Q] = {0 << 1, (0 << 1) | 1, 1 << 1, (1 << 1) | 1, 5 << 1, 2 << 1, (2 << 1) | 1, 7 << 1, (7 << 1) | 1,
                        4 << 1, (4 << 1) | 1, 4 << 1};
    fl_noise nz = {.key0 = 11, .key1 = 22, .stream = 3, .step = 4, .qcode = qcode, .tokens = T};
    float y[Q * T * C], yref[Q * T * C], bias[C], sigma[C], coef[Q];
    for (int c = 0; c < C; c++) { bias[c] = 0.01f * c; sigma[c] = 1e-3f * (1 + c % 5); }
    for (int q = 0; q < Q; q++) coef[q] = 0.1f * (q - 4);
    for (int i = 0; i < Q * T * C; i++) y[i] = yref[i] = 0.001f * (float)(i % 97) - 0.05f;
    ops->bias_noise(y, bias, sigma, &nz, Q * T, C);
    for (int r = 0; r < Q * T; r++)
        for (int c0 = 0; c0 < C; c0 += 4) fl_body_bias_noise4(yref + r * C, bias, sigma, &nz, r, c0, C, 0);
    CHECK(memcmp(y, yref, sizeof y) == 0, "bias_noise differs from the group body");
    // bias_noise_set ignores y's old value
    for (int i = 0; i < Q * T * C; i++) { y[i] = 1e30f; yref[i] = -3.0f; }
    ops->bias_noise_set(y, bias, sigma, &nz, Q * T, C);
    for (int r = 0; r < Q * T; r++)
        for (int c0 = 0; c0 < C; c0 += 4) fl_body_bias_noise4(yref + r * C, bias, sigma, &nz, r, c0, C, 1);
    CHECK(memcmp(y, yref, sizeof y) == 0, "bias_noise_set differs from the group body");
    // units: the pairs above, the lone query 4, and 11 alone after the pair 9, 10
    {
        enum { U = 7 };
        int32_t uoff[U + 1] = {0, 2, 4, 5, 7, 9, 11, 12};
        float E[U * T * C], Eref[U * T * C], gb[C], gbref[C], gbabs[C], gs2[C], gs2ref[C], gs2abs[C];
        memset(gb, 0, sizeof gb);
        memset(gs2, 0, sizeof gs2);
        memset(gbref, 0, sizeof gbref);
        memset(gbabs, 0, sizeof gbabs);
        memset(gs2ref, 0, sizeof gs2ref);
        memset(gs2abs, 0, sizeof gs2abs);
        ops->lr_unit_noise(E, gb, gs2, coef, sigma, &nz, uoff, U, C);
        for (int u = 0; u < U; u++)
            for (int t = 0; t < T; t++) {
                float wsum, asum, gb4[4], gs4[4];
                uint32_t row = fl_lr_unit_weights(&nz, coef, uoff, u, t, &wsum, &asum);
                for (int c0 = 0; c0 < C; c0 += 4) {
                    fl_body_lr_unit4(Eref + (u * T + t) * C, gb4, gs4, wsum, asum, row, sigma, &nz, c0, C);
                    for (int l = 0; l < 4 && c0 + l < C; l++) {
                        gbref[c0 + l] += gb4[l];
                        gbabs[c0 + l] += fabsf(gb4[l]);
                        gs2ref[c0 + l] += gs4[l];
                        gs2abs[c0 + l] += fabsf(gs4[l]);
                    }
                }
            }
        CHECK(memcmp(E, Eref, sizeof E) == 0, "lr_unit_noise's E differs from the group body");
        double worst_b = 0, worst_s = 0;
        for (int c = 0; c < C; c++) {
            worst_b = fmax(worst_b, fabs(gb[c] - gbref[c]) / gbabs[c]);
            worst_s = fmax(worst_s, fabs(gs2[c] - gs2ref[c]) / gs2abs[c]);
        }
        // sums of 21 terms in another order (partials per chunk of units, cpu_chunks.h):
        // float rounding only, at most 21 x 2^-24 = 1.3e-6 of the sum of the terms' magnitudes
        CHECK(worst_b < 2e-6 && worst_s < 2e-6, "lr_unit_noise's gb, gs differ by %g, %g", worst_b, worst_s);
    }
    float G[Q * T * C], Gref[Q * T * C], gs[C], gsref[C], gsabs[C];
    memset(gs, 0, sizeof gs);
    memset(gsref, 0, sizeof gsref);
    memset(gsabs, 0, sizeof gsabs);
    ops->lr_grad(G, gs, coef, sigma, &nz, Q * T, C);
    double worst = 0;
    for (int r = 0; r < Q * T; r++)
        for (int c0 = 0; c0 < C; c0 += 4) {
            float g4[4];
            fl_body_lr_grad4(Gref + r * C, g4, coef, sigma, &nz, r, c0, C);
            for (int l = 0; l < 4 && c0 + l < C; l++) { gsref[c0 + l] += g4[l]; gsabs[c0 + l] += fabsf(g4[l]); }
        }
    CHECK(memcmp(G, Gref, sizeof G) == 0, "lr_grad's G differs from the group body");
    // gs is a sum of 36 terms in another order (per-thread partials): the difference is float
    // rounding, bounded by ~36 ulps of the sum of the terms' magnitudes (36 * 6e-8 = 2e-6)
    for (int c = 0; c < C; c++) worst = fmax(worst, fabs(gs[c] - gsref[c]) / gsabs[c]);
    CHECK(worst < 2e-6, "lr_grad's log-sigma score differs by %g of the terms' magnitude", worst);
}

int main(void) {
    RUN(test_noise_ops_match_bodies);
    RUN(test_normal32_bit_identical);
    RUN(test_normal32_wraps);
    TEST_EXIT();
}
