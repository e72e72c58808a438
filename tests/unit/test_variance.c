// test_variance.c: a cell's bias statistics in the variance study (bench/run/variance.c,
// fl_variance_bias) against known answers:
//  - estimates g + d and g - d: mean g, no bias, tr Cov = 2 |d|^2, bias_z 0;
//  - a constant estimate that misses g has no spread, so its bias is beyond every standard
//    error: bias_z = +inf (it used to read 0, as if unbiased);
//  - a constant estimate equal to g: bias_z 0;
//  - a spread estimate with a known bias: bias_z = |b|^2 / (tr Cov / M).
#include "../test.h"
#include "../../bench/run/variance.h"

enum { D = 5 };
static const double g[D] = {0.5, -1.0, 0.25, 2.0, -0.125};
static const double g2 = 0.25 + 1.0 + 0.0625 + 4.0 + 0.015625;

static fl_variance_cell cell_of(const double* est, int M) {
    fl_variance_moments a;
    fl_variance_moments_init(&a, D);
    for (int r = 0; r < M; r++) fl_variance_moments_add(&a, est + (size_t)r * D);
    fl_variance_cell c;
    memset(&c, 0, sizeof c);
    fl_variance_bias(&a, g, g2, &c);
    fl_variance_moments_free(&a);
    return c;
}

static void test_symmetric_pair(void) {
    const double d[D] = {0.1, 0.2, -0.3, 0.0, 0.4};
    double est[2 * D];
    double d2 = 0;
    for (int i = 0; i < D; i++) { est[i] = g[i] + d[i]; est[D + i] = g[i] - d[i]; d2 += d[i] * d[i]; }
    fl_variance_cell c = cell_of(est, 2);
    // (g + d + g - d) / 2 is g up to one rounding per coordinate
    CHECK(c.bias_z < 1e-20 && c.bias_rel < 1e-15, "bias_z %g, bias_rel %g, expected 0", c.bias_z, c.bias_rel);
    // sample covariance of {+d, -d}: 2 |d|^2 / (M - 1) with M = 2
    CHECK(fabs(c.var_rel - 2 * d2 / g2) < 1e-12, "var_rel %.12g, expected %.12g", c.var_rel, 2 * d2 / g2);
}

static void test_constant_estimate_that_misses(void) {
    // 1.1 g, the same every time: the spread is exactly 0 however many estimates
    double est[7 * D];
    for (int r = 0; r < 7; r++)
        for (int i = 0; i < D; i++) est[r * D + i] = 1.1 * g[i];
    fl_variance_cell c = cell_of(est, 7);
    CHECK(c.var_rel == 0, "var_rel %g of identical estimates, expected exactly 0", c.var_rel);
    CHECK(fabs(c.bias_rel - 0.1) < 1e-12, "bias_rel %.12g, expected 0.1", c.bias_rel);
    CHECK(isinf(c.bias_z) && c.bias_z > 0, "bias_z %g of a constant estimate 10%% off, expected +inf", c.bias_z);
}

static void test_constant_estimate_on_target(void) {
    double est[3 * D];
    for (int r = 0; r < 3; r++) memcpy(est + r * D, g, sizeof g);
    fl_variance_cell c = cell_of(est, 3);
    CHECK(c.bias_z == 0 && c.var_rel == 0 && c.bias_rel == 0, "bias_z %g, var_rel %g, bias_rel %g: expected 0", c.bias_z,
          c.var_rel, c.bias_rel);
}

static void test_known_bias(void) {
    // g + b + d and g + b - d, M = 2: |mean - g|^2 = |b|^2, tr Cov = 2 |d|^2
    const double b[D] = {0.05, 0, 0, -0.05, 0};
    const double d[D] = {0, 0.3, 0, 0, -0.1};
    double est[2 * D], b2 = 0, d2 = 0;
    for (int i = 0; i < D; i++) {
        est[i] = g[i] + b[i] + d[i];
        est[D + i] = g[i] + b[i] - d[i];
        b2 += b[i] * b[i];
        d2 += d[i] * d[i];
    }
    fl_variance_cell c = cell_of(est, 2);
    double want = b2 / (2 * d2 / 2);
    CHECK(fabs(c.bias_z - want) < 1e-9 * want, "bias_z %.12g, expected %.12g", c.bias_z, want);
}

int main(void) {
    RUN(test_symmetric_pair);
    RUN(test_constant_estimate_that_misses);
    RUN(test_constant_estimate_on_target);
    RUN(test_known_bias);
    TEST_EXIT();
}
