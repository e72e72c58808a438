// test_spsa1.c: one-sided SPSA with a shared clean pass (impl/estimators/spsa1.c) against known
// answers:
//  - the spend: K directions cost K + 1 queries per datum (the clean pass shared); budget 1
//    is refused, budget 2 buys one direction;
//  - one direction: the estimate lies along z, its coefficient is the directional derivative
//    g.z up to the documented O(mu) error, and the weights come back after +mu/-mu;
//  - the O(mu) error of one coefficient, measured: doubling mu doubles c - g.z (first order),
//    where MeZO's central difference, the negative control, quadruples it (second order);
//  - the mean of many estimates is the BP gradient within its standard error, uniform and
//    allocated; the same check must reject a target 10% off (negative control).
#include "../estimators_fx.h"

// One step of `method` with one direction (budget: spsa1 2, mezo 2) at perturbation mu, on a
// fresh engine of fixed seed (so the same z at every mu); returns c = est.z / z.z and g.z.
static void one_direction(fl_model* m, batch_fx* f, const char* method, float mu, double* c_out, double* gz_out) {
    double g[1024], est[1024], z[1024];
    int n = bp_gradient(m, f, g);
    fl_est_opts eo = fl_est_opts_default();
    eo.mu = mu;
    fl_engine* e = engine(m, method, "uniform", 2, 17, &eo);
    fl_step_stats st;
    fl_err err;
    uint32_t step = e->step;
    CHECK(fl_engine_grad(e, &f->b, &st, &err) == 0, "%s: %s", method, err.msg);
    wb_grad(m, est);
    fl_params* p = &m->params;
    fl_params_zero_grad(p);
    for (int t = 0; t < p->n; t++)  // direction 0 of that step, regenerated
        if (p->t[t].trainable)
            ops->noise_axpy(p->grad + p->t[t].offset, (long)p->t[t].numel, p->t[t].offset, 1.0f, e->key0, e->key1,
                            0, e->dir_stream, step);
    wb_grad(m, z);
    *c_out = dot(est, z, n) / dot(z, z, n);
    *gz_out = dot(g, z, n);
    fl_engine_free(e);
}

static void test_spsa1_spend(void) {
    fl_model* m = mlp("6-5-3", "gelu", 8);
    batch_fx f;
    batch_make(&f, 6, 6, 3, 12);
    fl_est_opts eo = fl_est_opts_default();
    fl_alloc_opts ao = fl_alloc_opts_default();
    fl_err err;
    eo.budget = 1;
    CHECK(!fl_engine_new(ops, m, "spsa1", "uniform", &ao, &eo, 10, 0, &err), "budget 1 (no room for a direction) accepted");
    CHECK(strstr(err.msg, "--budget 1") && strstr(err.msg, "at least 2"), "message: %s", err.msg);
    for (int budget = 2; budget <= 9; budget += 7) {
        fl_engine* e = engine(m, "spsa1", "uniform", budget, 3, NULL);
        fl_step_stats st;
        CHECK(fl_engine_grad(e, &f.b, &st, &err) == 0, "spsa1: %s", err.msg);
        CHECK(st.queries == (long)budget * f.B && st.queries_clean == f.B,
              "budget %d: queries %ld (clean %ld), expected %d with %d clean", budget, st.queries, st.queries_clean,
              budget * f.B, f.B);
        CHECK(e->dir_K == budget - 1, "budget %d: %d directions, expected %d", budget, e->dir_K, budget - 1);
        fl_engine_free(e);
    }
    batch_free(&f);
    fl_model_free(m);
}

static void test_spsa1_projected_gradient(void) {
    fl_model* m = mlp("12-10-8-4", "gelu", 31);
    batch_fx f;
    batch_make(&f, 8, 12, 4, 2);
    fl_params* p = &m->params;
    float* before = fl_malloc(p->total * sizeof(float));
    float* after = fl_malloc(p->total * sizeof(float));
    fl_params_download(p, before);
    double c, gz;
    one_direction(m, &f, "spsa1", 1e-3f, &c, &gz);
    printf("    c = %.6f, grad.z = %.6f\n", c, gz);
    // error: (mu/2) z^T H z, measured at 2.3 mu for this z (test_spsa1_error_is_first_order:
    // 3% of g.z at mu = 1e-3), plus the float rounding of the loss difference, 1e-7 * 1.4 / 1e-3
    // ~ 2e-4 absolute
    CHECK(fabs(c - gz) < 5e-2 * fabs(gz) + 5e-4, "coefficient %.6f vs directional derivative %.6f", c, gz);
    fl_params_download(p, after);
    double worst = 0;
    for (size_t i = 0; i < p->total; i++) worst = fmax(worst, fabs((double)after[i] - before[i]));
    CHECK(worst < 1e-6, "parameters moved by %g after the spsa1 step", worst);
    free(before);
    free(after);
    batch_free(&f);
    fl_model_free(m);
}

// err(2 mu) / err(mu) for one coefficient: 2 for a first-order error, 4 for a second-order one.
static double error_growth(const char* method, float mu) {
    fl_model* m = mlp("12-10-8-4", "gelu", 31);
    batch_fx f;
    batch_make(&f, 8, 12, 4, 2);
    double c1, c2, gz;
    one_direction(m, &f, method, mu, &c1, &gz);
    one_direction(m, &f, method, 2 * mu, &c2, &gz);
    printf("    %s: g.z %.6f, c(mu=%g) - g.z = %.3g, c(mu=%g) - g.z = %.3g\n", method, gz, mu, c1 - gz, 2 * mu, c2 - gz);
    batch_free(&f);
    fl_model_free(m);
    return (c2 - gz) / (c1 - gz);
}

static void test_spsa1_error_is_first_order(void) {
    // mu large enough that the truncation error dwarfs float rounding (1e-7 / mu), small enough
    // that the next order stays small
    double r1 = error_growth("spsa1", 0.05f);
    double r2 = error_growth("mezo", 0.05f);
    printf("    growth on doubling mu: spsa1 %.2f (first order: 2), mezo %.2f (second order: 4)\n", r1, r2);
    CHECK(r1 > 1.6 && r1 < 2.4, "spsa1's error grew %.2fx when mu doubled, expected about 2 (O(mu))", r1);
    // negative control: the same check must reject MeZO's central difference
    CHECK(!(r2 > 1.6 && r2 < 2.4), "the first-order check accepts MeZO's error growth %.2f", r2);
    CHECK(r2 > 3.2 && r2 < 4.8, "MeZO's error grew %.2fx, expected about 4 (O(mu^2))", r2);
}

static void test_spsa1_unbiased(void) {
    fl_model* m = mlp("6-5-3", "gelu", 8);
    batch_fx f;
    batch_make(&f, 6, 6, 3, 12);
    double ratio;
    fl_est_opts eo = fl_est_opts_default();
    eo.mu = 1e-3f;
    check_unbiased(m, &f, "spsa1", "uniform", 8, 3000, &eo, &ratio);
    CHECK(ratio < 1.5, "spsa1 mean deviates from the BP gradient by %.2f x its standard error^2", ratio);
    check_unbiased(m, &f, "spsa1", "loss", 8, 3000, &eo, &ratio);
    CHECK(ratio < 1.5, "allocated spsa1 mean deviates by %.2f x its standard error^2", ratio);
    // negative control: a target 10% off the BP gradient must be rejected by the same bound
    check_unbiased_against(m, &f, "spsa1", "uniform", 8, 3000, &eo, 0.9, &ratio);
    CHECK(ratio > 1.5, "the check accepts a target 10%% off (ratio %.2f)", ratio);
    batch_free(&f);
    fl_model_free(m);
}

int main(void) {
    ops = fl_cpu_ops();
    RUN(test_spsa1_spend);
    RUN(test_spsa1_projected_gradient);
    RUN(test_spsa1_error_is_first_order);
    RUN(test_spsa1_unbiased);
    TEST_EXIT();
}
