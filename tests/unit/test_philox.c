// test_philox.c: Philox4x32-10 against Random123's published known-answer vectors, and the
// Box-Muller normals: accuracy of our log and sin/cos against libm in double, and moments.
#include "../test.h"
#include "impl/kernels/philox.h"

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    fl_u32x4 c = {{c0, c1, c2, c3}};
    fl_u32x4 r = fl_philox4x32_10(c, k0, k1);
    CHECK(r.v[0] == e0 && r.v[1] == e1 && r.v[2] == e2 && r.v[3] == e3,
          "got %08x %08x %08x %08x, expected %08x %08x %08x %08x", r.v[0], r.v[1], r.v[2], r.v[3], e0, e1, e2, e3);
}

// Random123 kat_vectors: philox4x32 10 rounds.
static void test_philox_known_answers(void) {
    check_kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    check_kat(~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    check_kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
              0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
}

// Our float log on the 2^24 grid Box-Muller uses: relative error under 4 float ulps (5e-7).
static void test_log_accuracy(void) {
    double worst = 0.0;
    for (uint32_t i = 1; i < (1u << 24); i += 3) {
        float u = (float)(i | 1u) * 5.9604645e-8f;  // the odd multiples of 2^-24 Box-Muller uses
        double ref = log((double)u);
        if (ref == 0.0) continue;
        double rel = fabs(fl_logf_unit(u) - ref) / fabs(ref);
        if (rel > worst) worst = rel;
    }
    CHECK(worst < 5e-7, "max relative error of fl_logf_unit %g", worst);
}

// sin/cos of 2 pi t: absolute error under 2e-7 (a few ulps of values near 1).
static void test_sincos_accuracy(void) {
    double worst = 0.0;
    for (uint32_t i = 0; i < (1u << 24); i += 3) {
        float t = (float)i * 5.9604645e-8f;
        float s, c;
        fl_sincos_2pi(t, &s, &c);
        double a = 2.0 * M_PI * (double)t;
        double e = fmax(fabs(s - sin(a)), fabs(c - cos(a)));
        if (e > worst) worst = e;
    }
    CHECK(worst < 2e-7, "max absolute error of fl_sincos_2pi %g", worst);
}

// 4M normals: mean within 5 standard errors of 0 (se = 1/sqrt(n) = 5e-4), variance within
// 5 se of 1 (se = sqrt(2/n) = 7e-4), kurtosis within 5 se of 3 (se = sqrt(96/n) = 4.9e-3),
// and the fraction beyond 2 sigma within 5 se of 0.0455.
static void test_normal_moments(void) {
    long n = 0;
    double m1 = 0, m2 = 0, m4 = 0, tail = 0;
    for (uint32_t g = 0; g < 1000000; g++) {
        float z[4];
        fl_normal4(12345, 678, g, 7, 3, 11, z);
        for (int l = 0; l < 4; l++) {
            double x = z[l];
            m1 += x; m2 += x * x; m4 += x * x * x * x; tail += fabs(x) > 2.0;
            n++;
        }
    }
    m1 /= n; m2 /= n; m4 /= n; tail /= n;
    CHECK(fabs(m1) < 5 * 5e-4, "mean %g", m1);
    CHECK(fabs(m2 - 1) < 5 * 7.1e-4, "variance %g", m2);
    CHECK(fabs(m4 - 3) < 5 * 4.9e-3, "fourth moment %g", m4);
    double p = 0.0455, se = sqrt(p * (1 - p) / n);
    CHECK(fabs(tail - p) < 5 * se, "P(|z|>2) = %g", tail);
}

// Different counters give independent-looking streams: correlation of two rows ~ 0.
static void test_streams_uncorrelated(void) {
    double sxy = 0, sxx = 0, syy = 0;
    int n = 0;
    for (uint32_t g = 0; g < 100000; g++) {
        float a[4], b[4];
        fl_normal4(1, 2, g, 0, 5, 9, a);
        fl_normal4(1, 2, g, 1, 5, 9, b);
        for (int l = 0; l < 4; l++) { sxy += a[l] * b[l]; sxx += a[l] * a[l]; syy += b[l] * b[l]; n++; }
    }
    double r = sxy / sqrt(sxx * syy);
    CHECK(fabs(r) < 5.0 / sqrt((double)n), "correlation of rows 0 and 1: %g", r);
}

int main(void) {
    RUN(test_philox_known_answers);
    RUN(test_log_accuracy);
    RUN(test_sincos_accuracy);
    RUN(test_normal_moments);
    RUN(test_streams_uncorrelated);
    TEST_EXIT();
}
