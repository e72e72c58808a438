// test_allocators.c: the query allocators of docs/METHOD.md, "The allocation problem"
// (impl/allocators/).
// Contract (sum == N, n_i >= n_min, even) for every registered allocator on many random inputs,
// the exact rounding, Neyman against its closed form and the variance-ratio identity, the
// flops Gaussian's log-density gradient against finite differences, its score-function
// estimate against the pathwise derivative, its learning on a problem with known variances,
// freezing, determinism, the bernoulli heuristic, the allocator's seed taken from the run's,
// and the errors for bad input.
#include "../test.h"
#include "../../impl/allocators/allocator.h"
#include "../../impl/allocators/flops.h"
#include "../../impl/backend/ops.h"
#include "../../impl/estimators/estimator.h"
#include "../../impl/kernels/philox.h"
#include <stdint.h>

// ---- small helpers ------------------------------------------------------------------------

// splitmix64: the test's own fixed-seed generator (independent of the library's Philox).
static uint64_t t_rng_state;
static uint64_t rng_u64(void) {
    uint64_t z = (t_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }
static int rng_int(int n) { return (int)(rng_u64() % (uint64_t)n); }

static double proxy_J(const float* v, const int* n, int B) {
    double s = 0.0;
    for (int i = 0; i < B; i++) s += (double)v[i] / n[i];
    return s;
}

// Independent check of the contract; returns 1 when it holds.
static int contract_ok(const int* n, int B, long N, int n_min, int even) {
    long long sum = 0;
    for (int i = 0; i < B; i++) {
        if (n[i] < n_min) return 0;
        if (even && n[i] % 2) return 0;
        sum += n[i];
    }
    return sum == N;
}

// Splits fl_allocator_names() ("a, b, c") into names[]; returns the count.
static int registered_names(char names[][32], int max) {
    const char* s = fl_allocator_names();
    int count = 0;
    while (*s && count < max) {
        int len = 0;
        while (s[len] && s[len] != ',') len++;
        snprintf(names[count], 32, "%.*s", len, s);
        count++;
        s += len;
        while (*s == ',' || *s == ' ') s++;
    }
    return count;
}

// ---- registry ---------------------------------------------------------------------------

static void test_registry_names(void) {
    char names[16][32];
    int k = registered_names(names, 16);
    const char* expected[] = {"uniform", "flops", "neyman", "oracle", "bernoulli", "loss"};
    CHECK(k == 6, "%d allocators registered (%s), expected 6", k, fl_allocator_names());
    for (int e = 0; e < 6; e++) {
        const fl_allocator_vt* vt = fl_allocator_find(expected[e]);
        CHECK(vt != NULL, "allocator %s not found", expected[e]);
        if (vt) CHECK(strcmp(vt->name, expected[e]) == 0 && vt->help && vt->allocate,
                      "vt of %s incomplete", expected[e]);
    }
    CHECK(fl_allocator_find("nope") == NULL, "unknown name found");
    CHECK(fl_allocator_find(NULL) == NULL, "NULL name found");
    fl_alloc_opts o = fl_alloc_opts_default();
    CHECK(o.n_min == 2 && o.even == 1 && o.flops_mc == 8 && o.flops_iters == 4 &&
          fabsf(o.flops_lr - 0.05f) < 1e-9f && o.flops_sample == 0 &&
          fabsf(o.bernoulli_p0 - 0.3f) < 1e-9f && fabsf(o.bernoulli_p - 0.01f) < 1e-9f,
          "defaults differ from the documented ones");
}

// ---- the contract on random inputs ---------------------------------------------------

static void fill_random_inputs(int B, float* loss, float* proxy, float* oracle) {
    int proxy_kind = rng_int(6), loss_kind = rng_int(4);
    double nan_frac = rng_int(3) == 0 ? 0.0 : rng_unif();
    for (int i = 0; i < B; i++) {
        // Proxy: log-uniform over 1e-30..1e30 (huge spread), a narrow range, all equal,
        // all unknown, some zeros, or infinities and negatives (treated as unknown).
        double p;
        switch (proxy_kind) {
        case 0: p = pow(10.0, -30.0 + 60.0 * rng_unif()); break;
        case 1: p = 0.5 + rng_unif(); break;
        case 2: p = 3.0; break;
        case 3: p = NAN; break;
        case 4: p = rng_int(2) ? 0.0 : rng_unif(); break;
        default: p = rng_int(3) == 0 ? (rng_int(2) ? INFINITY : -1.0) : rng_unif() * 100.0; break;
        }
        if (rng_unif() < nan_frac) p = NAN;
        proxy[i] = (float)p;
        double l;
        switch (loss_kind) {
        case 0: l = 5.0 * rng_unif(); break;
        case 1: l = rng_int(2) ? 0.0 : rng_unif(); break;
        case 2: l = 0.7; break;
        default: l = pow(10.0, -8.0 + 12.0 * rng_unif()); break;
        }
        loss[i] = (float)l;
        oracle[i] = rng_unif() < 0.1 ? NAN : (float)pow(10.0, -6.0 + 12.0 * rng_unif());
    }
}

static void check_contract_for(const char* name, const fl_alloc_opts* o0, const char* variant) {
    const int sizes[] = {1, 2, 3, 5, 16, 64, 127, 300};
    t_rng_state = 12345;  // same input sequence for every allocator
    float* loss = (float*)malloc(300 * sizeof(float));
    float* proxy = (float*)malloc(300 * sizeof(float));
    float* oracle = (float*)malloc(300 * sizeof(float));
    int* n = (int*)malloc(300 * sizeof(int));
    int failures = 0;
    for (int n_min = 1; n_min <= 3; n_min++) {
        for (int even = 0; even <= 1; even++) {
            fl_alloc_opts o = *o0;
            o.n_min = n_min;
            o.even = even;
            o.seed = 7;
            fl_err err = {{0}};
            fl_allocator* a = fl_allocator_new(name, &o, &err);
            CHECK(a != NULL, "%s: %s", name, err.msg);
            if (!a) continue;
            for (int trial = 0; trial < 60; trial++) {
                int B = sizes[rng_int(8)];
                long floor_q = even ? 2L * ((n_min + 1) / 2) : n_min;
                long N;
                switch (rng_int(3)) {
                case 0: N = B * floor_q; break;                      // N == B*n_min exactly
                case 1: N = B * floor_q + rng_int(3 * B + 1); break;  // a little slack
                default: N = B * floor_q * (1 + rng_int(40)) + rng_int(1000); break;
                }
                if (even && N % 2) N++;
                fill_random_inputs(B, loss, proxy, oracle);
                fl_alloc_input in = {.B = B, .N = N, .loss = loss, .proxy = proxy,
                                     .oracle_v = oracle, .epoch = rng_int(2), .step = trial};
                for (int i = 0; i < B; i++) n[i] = -999;
                int rc = fl_allocator_run(a, &in, n, &err);
                int ok = rc == 0 && contract_ok(n, B, N, n_min, even);
                if (!ok && failures++ < 5)
                    CHECK(ok, "%s%s: B=%d N=%ld n_min=%d even=%d trial %d: rc=%d %s", name,
                          variant, B, N, n_min, even, trial, rc, rc ? err.msg : "contract");
            }
            CHECK(a->calls == 60 && a->wall_s >= 0.0, "%s: calls %ld", name, a->calls);
            fl_allocator_free(a);
        }
    }
    free(n);
    free(oracle);
    free(proxy);
    free(loss);
}

static void test_contract_every_allocator(void) {
    char names[16][32];
    int k = registered_names(names, 16);
    fl_alloc_opts o = fl_alloc_opts_default();
    for (int i = 0; i < k; i++) check_contract_for(names[i], &o, "");
    // The flops variants: allocation from a sample, feature = loss, everything frozen.
    o.flops_sample = 1;
    check_contract_for("flops", &o, " (sample)");
    o.flops_sample = 0;
    o.flops_feature_loss = 1;
    check_contract_for("flops", &o, " (loss feature)");
    o.flops_feature_loss = 0;
    o.flops_freeze = FL_FLOPS_SLOPE | FL_FLOPS_INTERCEPT | FL_FLOPS_LENGTH | FL_FLOPS_AMPLITUDE;
    check_contract_for("flops", &o, " (frozen)");
}

// ---- shared rounding -----------------------------------------------------------------

static void test_proportional_exact_cases(void) {
    fl_err err;
    int n[5];
    double w1[3] = {1, 1, 1};
    CHECK(fl_alloc_proportional(w1, 3, 10, 1, 0, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 4 && n[1] == 3 && n[2] == 3, "equal weights: %d %d %d", n[0], n[1], n[2]);
    // Pairs: 10 units, floor 1 unit; x = (1, 2.25, 6.75) -> (1, 2, 7) units.
    double w2[3] = {0, 1, 3};
    CHECK(fl_alloc_proportional(w2, 3, 20, 2, 1, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 2 && n[1] == 4 && n[2] == 14, "water-fill: %d %d %d", n[0], n[1], n[2]);
    // n_min odd with pairs: the floor rounds up to 4 queries.
    double w3[2] = {0, 1};
    CHECK(fl_alloc_proportional(w3, 2, 12, 3, 1, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 4 && n[1] == 8, "odd n_min with pairs: %d %d", n[0], n[1]);
    // All weights zero: equal shares.
    double w4[4] = {0, 0, 0, 0};
    CHECK(fl_alloc_proportional(w4, 4, 8, 1, 0, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 2 && n[1] == 2 && n[2] == 2 && n[3] == 2, "zero weights");
    // N == B*n_min: everyone at the floor whatever the weights.
    double w5[5] = {1e-300, 1e300, 3, 0, 7};
    CHECK(fl_alloc_proportional(w5, 5, 10, 2, 1, n, &err) == 0, "%s", err.msg);
    CHECK(contract_ok(n, 5, 10, 2, 1) && n[1] == 2, "N == B*n_min");
}

static void test_fill_proxy(void) {
    float p[5] = {1.0f, NAN, 3.0f, -1.0f, INFINITY};
    double out[5];
    CHECK(fl_alloc_fill_proxy(p, 5, out) == 2, "known count");
    CHECK(out[0] == 1.0 && out[1] == 2.0 && out[2] == 3.0 && out[3] == 2.0 && out[4] == 2.0,
          "fill with the mean of known: %g %g %g %g %g", out[0], out[1], out[2], out[3], out[4]);
    float q[3] = {NAN, NAN, NAN};
    CHECK(fl_alloc_fill_proxy(q, 3, out) == 0 && out[0] == 1.0 && out[2] == 1.0, "none known");
    CHECK(fl_alloc_fill_proxy(NULL, 3, out) == 0 && out[1] == 1.0, "NULL proxy");
}

// ---- uniform -------------------------------------------------------------------------

static void test_uniform_rotation(void) {
    fl_alloc_opts o = fl_alloc_opts_default();  // n_min 2, pairs
    fl_err err;
    fl_allocator* a = fl_allocator_new("uniform", &o, &err);
    CHECK(a != NULL, "%s", err.msg);
    if (!a) return;
    // 17 pairs over 5 data: 3 each, 2 extra pairs that rotate. Over 5 steps every datum gets
    // 5*3 + 2 = 17 pairs, i.e. 34 queries.
    int n[5], total[5] = {0};
    for (long step = 0; step < 5; step++) {
        fl_alloc_input in = {.B = 5, .N = 34, .step = step};
        CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 5; i++) {
            CHECK(n[i] == 6 || n[i] == 8, "n[%d] = %d", i, n[i]);
            total[i] += n[i];
        }
    }
    for (int i = 0; i < 5; i++) CHECK(total[i] == 34, "datum %d got %d over 5 steps", i, total[i]);
    fl_alloc_input in = {.B = 4, .N = 40, .step = 3};
    CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 10 && n[1] == 10 && n[2] == 10 && n[3] == 10, "exact division");
    fl_allocator_free(a);
}

// ---- neyman, oracle, loss --------------------------------------------------------------

static void test_neyman_closed_form(void) {
    enum { B = 50 };
    float v[B];
    double sq_sum = 0.0;
    t_rng_state = 99;
    for (int i = 0; i < B; i++) {
        double s = 1.0 + 9.0 * rng_unif();  // sqrt(v) in [1, 10]
        v[i] = (float)(s * s);
        sq_sum += sqrt((double)v[i]);
    }
    fl_alloc_opts o = fl_alloc_opts_default();
    fl_err err;
    fl_allocator* ney = fl_allocator_new("neyman", &o, &err);
    fl_allocator* orc = fl_allocator_new("oracle", &o, &err);
    CHECK(ney && orc, "%s", err.msg);
    if (!ney || !orc) return;
    // No floor binds: the smallest share is N*1/sum sqrt(v) >= 10000/500 = 20 > n_min.
    const long N = 2 * B * 100;
    int n[B], m[B];
    fl_alloc_input in = {.B = B, .N = N, .proxy = v, .oracle_v = v};
    CHECK(fl_allocator_run(ney, &in, n, &err) == 0, "%s", err.msg);
    CHECK(fl_allocator_run(orc, &in, m, &err) == 0, "%s", err.msg);
    for (int i = 0; i < B; i++) {
        double x = (double)N * sqrt((double)v[i]) / sq_sum;  // continuous optimum
        // Largest remainder keeps every count within one unit (a pair = 2 queries).
        CHECK(fabs(n[i] - x) < 2.0, "n[%d] = %d, continuous %g", i, n[i], x);
        CHECK(n[i] == m[i], "oracle differs from neyman on the same variances at %d", i);
    }
    fl_allocator_free(ney);
    fl_allocator_free(orc);

    // With a floor that binds: datum 0 has a negligible variance and is held at n_min = 3; the
    // others share N - 3 = 97 in proportion 1:2:3:4 -> 9.7, 19.4, 29.1, 38.8.
    o.n_min = 3;
    o.even = 0;
    ney = fl_allocator_new("neyman", &o, &err);
    float v2[5] = {1e-8f, 1.0f, 4.0f, 9.0f, 16.0f};
    double x2[5] = {3.0, 9.7, 19.4, 29.1, 38.8};
    fl_alloc_input in2 = {.B = 5, .N = 100, .proxy = v2};
    CHECK(fl_allocator_run(ney, &in2, n, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 5; i++)
        CHECK(fabs(n[i] - x2[i]) < 1.0, "floored case n[%d] = %d, expected ~%g", i, n[i], x2[i]);
    CHECK(n[0] == 3, "datum 0 not at the floor: %d", n[0]);
    fl_allocator_free(ney);
}

// (sum sqrt v)^2 / (B sum v) is the continuous J(neyman)/J(uniform); integer Neyman can only be
// a little worse than its continuous optimum, and uniform is exact when N/B is whole.
static void test_variance_ratio_identity(void) {
    enum { B = 100 };
    float v[B];
    int n_ney[B], n_uni[B];
    fl_alloc_opts o = fl_alloc_opts_default();
    fl_err err;
    fl_allocator* ney = fl_allocator_new("neyman", &o, &err);
    fl_allocator* uni = fl_allocator_new("uniform", &o, &err);
    if (!ney || !uni) { CHECK(0, "%s", err.msg); return; }
    t_rng_state = 2024;
    for (int trial = 0; trial < 20; trial++) {
        double decades = 0.5 + 4.0 * rng_unif();  // v spread over 0.5..4.5 decades
        double s1 = 0.0, s2 = 0.0;
        for (int i = 0; i < B; i++) {
            v[i] = (float)pow(10.0, decades * (rng_unif() - 0.5));
            s1 += sqrt((double)v[i]);
            s2 += (double)v[i];
        }
        double identity = s1 * s1 / (B * s2);
        // N = 10000 queries per datum on average: the smallest continuous share is >= 10000 *
        // 10^-2.25 / 10^0 ~ 56 > 2, no floor binds, and a one-pair rounding error changes J by
        // second order only, (2/56)^2 ~ 1e-3 at worst per datum, far less on average.
        const long N = 2L * B * 5000;
        fl_alloc_input in = {.B = B, .N = N, .proxy = v, .step = trial};
        CHECK(fl_allocator_run(ney, &in, n_ney, &err) == 0, "%s", err.msg);
        CHECK(fl_allocator_run(uni, &in, n_uni, &err) == 0, "%s", err.msg);
        double ratio = proxy_J(v, n_ney, B) / proxy_J(v, n_uni, B);
        CHECK(identity <= 1.0 + 1e-12, "identity %g > 1", identity);
        // float v and double sums: the identity itself carries ~1e-7 relative error.
        CHECK(ratio >= identity * (1.0 - 1e-6) && ratio <= identity * (1.0 + 1e-4),
              "trial %d: J(neyman)/J(uniform) = %.8f, identity %.8f", trial, ratio, identity);
    }
    fl_allocator_free(ney);
    fl_allocator_free(uni);
}

static void test_loss_allocator(void) {
    fl_alloc_opts o = fl_alloc_opts_default();
    o.n_min = 1;
    o.even = 0;
    fl_err err;
    fl_allocator* a = fl_allocator_new("loss", &o, &err);
    if (!a) { CHECK(0, "%s", err.msg); return; }
    // Zero loss -> floor 1; the others share 40 in proportion 1:3.
    float loss[3] = {0.0f, 1.0f, 3.0f};
    int n[3];
    fl_alloc_input in = {.B = 3, .N = 41, .loss = loss};
    CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 1 && n[1] == 10 && n[2] == 30, "loss allocation %d %d %d", n[0], n[1], n[2]);
    float zeros[3] = {0, 0, 0};
    in.loss = zeros;
    in.N = 30;
    CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    CHECK(n[0] == 10 && n[1] == 10 && n[2] == 10, "all-zero loss is uniform");
    fl_allocator_free(a);
}

// ---- bernoulli -----------------------------------------------------------------------

static void test_bernoulli(void) {
    fl_alloc_opts o = fl_alloc_opts_default();
    o.bernoulli_p0 = 1.0f;  // epoch 0: every below-mean datum halved
    o.bernoulli_p = 0.0f;   // later: nobody
    fl_err err;
    fl_allocator* a = fl_allocator_new("bernoulli", &o, &err);
    if (!a) { CHECK(0, "%s", err.msg); return; }
    // 8 data, share 16 queries; the 4 below the mean drop to 8, freeing 32 for the other 4.
    float loss[8] = {0.1f, 2.0f, 0.2f, 3.0f, 0.3f, 2.5f, 0.4f, 4.0f};
    int n[8];
    fl_alloc_input in = {.B = 8, .N = 128, .loss = loss, .epoch = 0, .step = 5};
    CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 8; i++)
        CHECK(n[i] == (loss[i] < 1.0f ? 8 : 24), "p=1: n[%d] = %d", i, n[i]);
    in.epoch = 1;
    CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 8; i++) CHECK(n[i] == 16, "p=0: n[%d] = %d", i, n[i]);
    fl_allocator_free(a);

    // Frequency: 1000 of 2000 data below the mean, p0 = 0.3 -> Binomial(1000, 0.3) halved,
    // mean 300, sd 14.5; [242, 358] is +-4 sd.
    o = fl_alloc_opts_default();
    o.seed = 11;
    a = fl_allocator_new("bernoulli", &o, &err);
    enum { BB = 2000 };
    static float loss2[BB];
    static int n2[BB], n3[BB];
    for (int i = 0; i < BB; i++) loss2[i] = (i % 2) ? 2.0f : 1.0f;
    fl_alloc_input in2 = {.B = BB, .N = 2L * BB * 16, .loss = loss2, .epoch = 0, .step = 3};
    CHECK(fl_allocator_run(a, &in2, n2, &err) == 0, "%s", err.msg);
    int halved = 0, wrong = 0;
    for (int i = 0; i < BB; i++) {
        if (n2[i] < 32) {
            halved++;
            if (i % 2) wrong++;
        }
    }
    CHECK(halved >= 242 && halved <= 358, "halved %d of 1000 at p = 0.3", halved);
    CHECK(wrong == 0, "%d above-mean data were cut", wrong);
    // Same seed and step: same draws. Another step: other draws.
    CHECK(fl_allocator_run(a, &in2, n3, &err) == 0, "%s", err.msg);
    CHECK(memcmp(n2, n3, sizeof n2) == 0, "not reproducible");
    in2.step = 4;
    CHECK(fl_allocator_run(a, &in2, n3, &err) == 0, "%s", err.msg);
    CHECK(memcmp(n2, n3, sizeof n2) != 0, "step does not change the draws");
    fl_allocator_free(a);
}

// ---- the run's seed -------------------------------------------------------------------

// One LR step with the bernoulli allocator (p0 = 0.5) on 64 data of a small MLP, engine seed
// `seed`: the allocation into n (64), the gradient's first weights into g (8). run != NULL:
// the allocator's state and seed are copied from run's first (the replay of the tracker).
enum { SEED_B = 64 };
static fl_engine* bernoulli_step(uint64_t seed, const fl_engine* run, int* n, float* g) {
    const fl_ops* ops = fl_cpu_ops();
    fl_err err = {{0}};
    fl_model* m = fl_mlp_new(ops, "6-5-3", "relu", &err);
    CHECK(m != NULL, "%s", err.msg);
    fl_model_init_weights(m, 5);
    fl_model_init_sigma(m, 1e-2f);
    CHECK(fl_model_set_scope(m, "all", &err) == 0, "%s", err.msg);
    static float x[SEED_B * 6];
    static int32_t y[SEED_B];
    static int64_t idx[SEED_B];
    for (int i = 0; i < SEED_B * 6; i++) x[i] = fl_normal_at(3, 77, (uint64_t)i, 0, 0x5eedu, 0);
    for (int i = 0; i < SEED_B; i++) { y[i] = i % 3; idx[i] = i; }
    fl_batch b = {.B = SEED_B, .x = x, .y = y, .y_host = y, .index = idx};
    fl_est_opts eo = fl_est_opts_default();
    eo.budget = 9;  // the clean pass, then 8 queries per datum: halved to 4
    fl_alloc_opts ao = fl_alloc_opts_default();
    ao.bernoulli_p0 = 0.5f;
    fl_engine* e = fl_engine_new(ops, m, "lr", "bernoulli", &ao, &eo, SEED_B, seed, &err);
    CHECK(e != NULL, "%s", err.msg);
    if (run) CHECK(fl_allocator_copy_state(e->alloc, run->alloc, &err) == 0, "%s", err.msg);
    fl_step_stats st;
    CHECK(fl_engine_grad(e, &b, &st, &err) == 0, "%s", err.msg);
    memcpy(n, e->last_n, SEED_B * sizeof(int));
    ops->download(g, m->params.grad, 8 * sizeof(float));
    return e;
}

static void free_engine(fl_engine* e) {
    fl_model* m = e->model;
    fl_engine_free(e);
    fl_model_free(m);
}

// The allocator's draws follow the run's seed (fl_engine_new): bernoulli's halvings differ
// between seeds 1 and 2 and repeat under seed 1; a replay with the state copied allocates as
// the run does whatever its own seed.
static void test_allocator_seed_from_run(void) {
    int n1[SEED_B], n1b[SEED_B], n2[SEED_B], nr[SEED_B];
    float g1[8], g1b[8], g2[8], gr[8];
    fl_engine* e1 = bernoulli_step(1, NULL, n1, g1);
    fl_engine* e1b = bernoulli_step(1, NULL, n1b, g1b);
    fl_engine* e2 = bernoulli_step(2, NULL, n2, g2);
    fl_engine* er = bernoulli_step(0x5452414c00000002ull, e2, nr, gr);
    int halved1 = 0, halved2 = 0, differ = 0;
    for (int i = 0; i < SEED_B; i++) {
        halved1 += n1[i] < 8;
        halved2 += n2[i] < 8;
        differ += n1[i] != n2[i];
    }
    printf("    seed 1 halves %d data, seed 2 %d; allocations differ on %d of %d\n", halved1, halved2, differ, SEED_B);
    CHECK(halved1 > 0 && halved2 > 0, "no datum halved (%d, %d): the check would prove nothing", halved1, halved2);
    CHECK(differ > 0, "seeds 1 and 2 give the same bernoulli allocation: the allocator ignores the run's seed");
    CHECK(memcmp(n1, n1b, sizeof n1) == 0, "seed 1 twice gives two allocations");
    CHECK(memcmp(g1, g1b, sizeof g1) == 0, "seed 1 twice gives two gradients");
    CHECK(memcmp(n2, nr, sizeof n2) == 0, "a replay with the state copied allocates otherwise than the run");
    free_engine(e1);
    free_engine(e1b);
    free_engine(e2);
    free_engine(er);
}

// ---- errors --------------------------------------------------------------------------

static int bad_sum(void* s, const fl_alloc_input* in, const fl_alloc_opts* o, int* n, fl_err* e) {
    for (int i = 0; i < in->B; i++) n[i] = 2;
    n[0] += 2;
    return 0;
}
static int bad_floor(void* s, const fl_alloc_input* in, const fl_alloc_opts* o, int* n,
                     fl_err* e) {
    for (int i = 0; i < in->B; i++) n[i] = (int)(in->N / in->B);
    n[0] -= 4;
    n[1] += 4;
    return 0;
}
static int bad_odd(void* s, const fl_alloc_input* in, const fl_alloc_opts* o, int* n, fl_err* e) {
    for (int i = 0; i < in->B; i++) n[i] = (int)(in->N / in->B);
    n[0] -= 1;
    n[1] += 1;
    return 0;
}

static void test_errors(void) {
    fl_err err = {{0}};
    fl_alloc_opts o = fl_alloc_opts_default();
    // Unknown name: the message names it and lists the known ones.
    CHECK(fl_allocator_new("nosuch", &o, &err) == NULL, "unknown allocator created");
    CHECK(strstr(err.msg, "nosuch") && strstr(err.msg, "neyman"), "message: %s", err.msg);
    fl_alloc_opts bad = o;
    bad.n_min = 0;
    CHECK(fl_allocator_new("uniform", &bad, &err) == NULL, "n_min 0 accepted");

    char names[16][32];
    int k = registered_names(names, 16);
    float v[4] = {1, 2, 3, 4};
    int n[4];
    for (int i = 0; i < k; i++) {
        fl_allocator* a = fl_allocator_new(names[i], &o, &err);
        if (!a) { CHECK(0, "%s", err.msg); continue; }
        // N too small: 4 data at n_min 2 need 8.
        fl_alloc_input in = {.B = 4, .N = 6, .loss = v, .proxy = v, .oracle_v = v};
        err.msg[0] = 0;
        CHECK(fl_allocator_run(a, &in, n, &err) != 0, "%s accepted N < B*n_min", names[i]);
        CHECK(strstr(err.msg, names[i]) && strstr(err.msg, "below"), "message: %s", err.msg);
        // Odd N with pairs.
        in.N = 13;
        CHECK(fl_allocator_run(a, &in, n, &err) != 0, "%s accepted odd N", names[i]);
        CHECK(strstr(err.msg, names[i]) && strstr(err.msg, "odd"), "message: %s", err.msg);
        in.N = 16;
        in.B = 0;
        CHECK(fl_allocator_run(a, &in, n, &err) != 0, "%s accepted B = 0", names[i]);
        fl_allocator_free(a);
    }
    // Direct calls to the shared rounding.
    double w[3] = {1, 2, 3};
    CHECK(fl_alloc_proportional(w, 3, 5, 2, 0, n, &err) != 0, "N < B*n_min");
    CHECK(fl_alloc_proportional(w, 3, 13, 2, 1, n, &err) != 0 && strstr(err.msg, "odd"),
          "odd N with even: %s", err.msg);
    double wn[3] = {1, NAN, 3}, wneg[3] = {1, -2, 3}, winf[3] = {1, INFINITY, 3};
    CHECK(fl_alloc_proportional(wn, 3, 12, 2, 1, n, &err) != 0 && strstr(err.msg, "weight[1]"),
          "NaN weight: %s", err.msg);
    CHECK(fl_alloc_proportional(wneg, 3, 12, 2, 1, n, &err) != 0, "negative weight accepted");
    CHECK(fl_alloc_proportional(winf, 3, 12, 2, 1, n, &err) != 0, "infinite weight accepted");
    CHECK(fl_alloc_proportional(w, 0, 12, 2, 1, n, &err) != 0, "B = 0 accepted");
    // Missing inputs.
    fl_allocator* a = fl_allocator_new("loss", &o, &err);
    fl_alloc_input in = {.B = 4, .N = 16};
    CHECK(fl_allocator_run(a, &in, n, &err) != 0 && strstr(err.msg, "loss"), "NULL loss: %s",
          err.msg);
    float lnan[4] = {1, NAN, 2, 3};
    in.loss = lnan;
    CHECK(fl_allocator_run(a, &in, n, &err) != 0 && strstr(err.msg, "loss[1]"), "NaN loss: %s",
          err.msg);
    fl_allocator_free(a);
    o.flops_feature_loss = 1;
    a = fl_allocator_new("flops", &o, &err);
    in.loss = NULL;
    in.proxy = v;
    // the registry knows flops needs the loss with this option (fl_allocator_needs)
    CHECK((fl_allocator_needs(a) & FL_NEEDS_LOSS) && fl_allocator_run(a, &in, n, &err) != 0 &&
          strstr(err.msg, "clean loss"), "flops loss feature without loss: %s", err.msg);
    fl_allocator_free(a);
    o = fl_alloc_opts_default();
    o.flops_mc = 1;
    a = fl_allocator_new("flops", &o, &err);
    CHECK(fl_allocator_run(a, &in, n, &err) != 0 && strstr(err.msg, "flops_mc"), "mc 1: %s",
          err.msg);
    fl_allocator_free(a);
    o = fl_alloc_opts_default();
    o.bernoulli_p0 = 1.5f;
    a = fl_allocator_new("bernoulli", &o, &err);
    in.loss = v;
    CHECK(fl_allocator_run(a, &in, n, &err) != 0 && strstr(err.msg, "bernoulli_p0"), "p0 1.5: %s",
          err.msg);
    fl_allocator_free(a);
    fl_flops_info info;
    a = fl_allocator_new("uniform", &o, &err);
    CHECK(fl_flops_get_info(a, &info, &err) != 0, "info read from a non-flops allocator");
    fl_allocator_free(a);
}

// fl_allocator_run catches an allocator that breaks the contract and names it.
static void test_run_verifies_contract(void) {
    fl_allocator_vt vts[3] = {
        {.name = "bad_sum", .help = "", .allocate = bad_sum},
        {.name = "bad_floor", .help = "", .allocate = bad_floor},
        {.name = "bad_odd", .help = "", .allocate = bad_odd},
    };
    const char* why[3] = {"sum", "below n_min", "odd"};
    for (int k = 0; k < 3; k++) {
        fl_allocator a = {.vt = &vts[k], .opts = fl_alloc_opts_default()};
        int n[4];
        fl_alloc_input in = {.B = 4, .N = 8, .step = 17};
        fl_err err = {{0}};
        CHECK(fl_allocator_run(&a, &in, n, &err) != 0, "%s not caught", vts[k].name);
        CHECK(strstr(err.msg, vts[k].name) && strstr(err.msg, why[k]) && strstr(err.msg, "17"),
              "message: %s", err.msg);
        CHECK(a.calls == 1, "calls not counted");
    }
}

// ---- flops ----------------------------------------------------------------------------

// The test's own dense Gaussian for up to 8 data: K = v (R + 1e-6 I) as flops.c documents,
// its Cholesky factor, a draw u = m + L z, and log N(u; m, K) computed independently.
enum { TG_MAX = 8 };
static void tg_cov_chol(const double* f, int B, const double phi[4], double L[TG_MAX][TG_MAX]) {
    double v = exp(phi[3]), l = exp(phi[2]);
    double K[TG_MAX][TG_MAX];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double d = f[i] - f[j];
            K[i][j] = v * exp(-d * d / (2 * l * l)) + (i == j ? v * 1e-6 : 0.0);
        }
    memset(L, 0, sizeof(double) * TG_MAX * TG_MAX);
    for (int j = 0; j < B; j++) {
        double d = K[j][j];
        for (int k = 0; k < j; k++) d -= L[j][k] * L[j][k];
        L[j][j] = sqrt(d);
        for (int i = j + 1; i < B; i++) {
            double s = K[i][j];
            for (int k = 0; k < j; k++) s -= L[i][k] * L[j][k];
            L[i][j] = s / L[j][j];
        }
    }
}
static double tg_logpdf(const double* f, int B, const double phi[4], const double* u) {
    double L[TG_MAX][TG_MAX], y[TG_MAX], logp = -0.5 * B * log(2 * M_PI);
    tg_cov_chol(f, B, phi, L);
    for (int i = 0; i < B; i++) {
        double s = u[i] - (phi[0] * f[i] + phi[1]);
        for (int k = 0; k < i; k++) s -= L[i][k] * y[k];
        y[i] = s / L[i][i];
        logp += -log(L[i][i]) - 0.5 * y[i] * y[i];
    }
    return logp;
}

// The analytic gradient of log N(u; m(phi), K(phi)) against central differences, at points u
// drawn from the Gaussian itself (where training evaluates it; a point far outside the support
// of a nearly singular K has |log p| ~ 1e7 and no finite difference is accurate there).
// h = 1e-5: truncation ~h^2 |d^3 logp| ~ 1e-10 * O(100); round-off ~eps * cond(K) * |logp| / h,
// with cond(K) <= ~1e6 here (tied features: 1/jitter), i.e. ~1e-4 at worst. Tolerance 1e-5
// relative to max(1, |grad|); a wrong chain rule is off by O(1).
static void test_flops_log_density_gradient(void) {
    fl_err err;
    const int sizes[3] = {1, 2, 7};
    t_rng_state = 31;
    for (int si = 0; si < 3; si++) {
        int B = sizes[si];
        double f[TG_MAX], u[TG_MAX], L[TG_MAX][TG_MAX];
        for (int trial = 0; trial < 6; trial++) {
            for (int i = 0; i < B; i++) f[i] = 3.0 * (rng_unif() - 0.5);
            if (trial == 5) for (int i = 0; i < B; i++) f[i] = 0.25;  // tied features
            double phi[4] = {2.0 * rng_unif() - 1.0, rng_unif() - 0.5, log(0.3 + rng_unif()),
                             log(0.05 + rng_unif())};
            tg_cov_chol(f, B, phi, L);
            double z[TG_MAX];
            for (int i = 0; i < B; i++) z[i] = sqrt(-2 * log(1 - rng_unif())) * cos(2 * M_PI * rng_unif());
            for (int i = 0; i < B; i++) {
                u[i] = phi[0] * f[i] + phi[1];
                for (int k = 0; k <= i; k++) u[i] += L[i][k] * z[k];
            }
            double logp, grad[4];
            CHECK(fl_flops_log_density(f, B, phi, u, &logp, grad, &err) == 0, "%s", err.msg);
            double want = tg_logpdf(f, B, phi, u);
            CHECK(fabs(logp - want) < 1e-8 * fmax(1.0, fabs(want)), "B=%d trial %d: logp %.12g, "
                  "independent %.12g", B, trial, logp, want);
            for (int p = 0; p < 4; p++) {
                const double h = 1e-5;
                double ph[4], lp, lm;
                memcpy(ph, phi, sizeof ph);
                ph[p] = phi[p] + h;
                fl_flops_log_density(f, B, ph, u, &lp, NULL, &err);
                ph[p] = phi[p] - h;
                fl_flops_log_density(f, B, ph, u, &lm, NULL, &err);
                double fd = (lp - lm) / (2 * h);
                CHECK(fabs(fd - grad[p]) <= 1e-5 * fmax(1.0, fabs(grad[p])),
                      "B=%d trial %d phi[%d]: analytic %.10g, finite difference %.10g", B, trial,
                      p, grad[p], fd);
            }
            if (B == 1) {  // closed form: N(u; a f + c, v (1 + jitter))
                double var = exp(phi[3]) * (1.0 + 1e-6), r = u[0] - phi[0] * f[0] - phi[1];
                double w1 = -0.5 * log(2 * M_PI * var) - 0.5 * r * r / var;
                CHECK(fabs(logp - w1) < 1e-10 * fmax(1.0, fabs(w1)), "B=1 logp %.12g vs %.12g",
                      logp, w1);
            }
        }
    }
}

// The score-function estimate (what training uses) against the pathwise derivative of the same
// Monte Carlo objective with common random numbers (u = m + L z with z fixed, so central
// differences of the sample mean of J are an unbiased estimate of the same gradient). Both are
// averaged over 100 blocks of 4000 samples; the blocks give the standard error of their
// difference, and the test asks for agreement within 4 standard errors (fixed seed, so the
// outcome is deterministic; the margin is what a sound estimator passes with probability
// 1 - 6e-5). It also asks the slope's gradient to be clearly nonzero, so the check has power.
static void test_flops_score_matches_pathwise(void) {
    enum { B = 6, MC = 4000, BLOCKS = 100 };
    double f[B] = {-1.4, -0.8, -0.1, 0.3, 0.9, 1.1};
    double vhat[B] = {0.05, 0.2, 1.0, 2.0, 6.0, 9.0};
    double phi[4] = {0.2, 0.1, log(0.7), log(1.0)};
    const long N = 60;
    fl_err err;
    double sum_d[4] = {0}, sum_d2[4] = {0}, sum_s[4] = {0};
    for (int b = 0; b < BLOCKS; b++) {
        uint32_t row0 = (uint32_t)(b * MC);
        double obj, g[4];
        if (fl_flops_objective_grad(f, vhat, B, N, 2, 1, phi, MC, 5, 9, row0, &obj, g, &err)) {
            CHECK(0, "%s", err.msg);
            return;
        }
        for (int p = 0; p < 4; p++) {
            const double h = 1e-4;
            double ph[4], op, om, gdummy[4];
            memcpy(ph, phi, sizeof ph);
            ph[p] = phi[p] + h;
            fl_flops_objective_grad(f, vhat, B, N, 2, 1, ph, MC, 5, 9, row0, &op, gdummy, &err);
            ph[p] = phi[p] - h;
            fl_flops_objective_grad(f, vhat, B, N, 2, 1, ph, MC, 5, 9, row0, &om, gdummy, &err);
            double path = (op - om) / (2 * h);
            double d = g[p] - path;
            sum_d[p] += d;
            sum_d2[p] += d * d;
            sum_s[p] += g[p];
        }
    }
    for (int p = 0; p < 4; p++) {
        double mean = sum_d[p] / BLOCKS;
        double var = (sum_d2[p] - BLOCKS * mean * mean) / (BLOCKS - 1);
        double se = sqrt(var / BLOCKS);
        if (getenv("T_VERBOSE")) printf("    phi[%d]: score %g, score - pathwise %g, se %g\n", p, sum_s[p] / BLOCKS, mean, se);
        CHECK(fabs(mean) <= 4.0 * se + 1e-9, "phi[%d]: score - pathwise = %g, standard error %g",
              p, mean, se);
        if (p == FL_PHI_A)
            CHECK(fabs(sum_s[p] / BLOCKS) > 8.0 * se, "slope gradient %g not resolved (se %g)",
                  sum_s[p] / BLOCKS, se);
    }
}

// Synthetic problem with known variances: log v_i uniform over 3 decades, proxy = v exactly,
// feature = log v. Neyman is n ~ v^(1/2), i.e. slope 0.5 per unit of log v. With N = 32 B the
// smallest Neyman share is ~32 * 1/8.9 ~ 3.6 > n_min, so the floor does not bend the target.
static void run_flops_learning(int feature_loss, const char* label) {
    enum { B = 64, T = 60, WINDOW = 20 };
    fl_alloc_opts o = fl_alloc_opts_default();
    o.seed = 3;
    o.flops_feature_loss = feature_loss;
    fl_err err;
    fl_allocator* fl = fl_allocator_new("flops", &o, &err);
    fl_allocator* ney = fl_allocator_new("neyman", &o, &err);
    fl_allocator* uni = fl_allocator_new("uniform", &o, &err);
    if (!fl || !ney || !uni) { CHECK(0, "%s", err.msg); return; }
    float v[B], loss[B];
    int nf[B], nn[B], nu[B];
    double gap_sum = 0.0, slope_sum = 0.0, gap_first = 0.0;
    t_rng_state = 77;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < B; i++) {
            double lv = log(1000.0) * rng_unif();
            v[i] = (float)exp(lv);
            loss[i] = (float)lv;  // a feature that is an affine function of log v
        }
        fl_alloc_input in = {.B = B, .N = 32L * B, .loss = loss, .proxy = v, .step = t};
        CHECK(fl_allocator_run(fl, &in, nf, &err) == 0, "%s", err.msg);
        CHECK(fl_allocator_run(ney, &in, nn, &err) == 0, "%s", err.msg);
        CHECK(fl_allocator_run(uni, &in, nu, &err) == 0, "%s", err.msg);
        double jf = proxy_J(v, nf, B), jn = proxy_J(v, nn, B), ju = proxy_J(v, nu, B);
        double gap = (jf - jn) / (ju - jn);  // 1: as bad as uniform, 0: as good as neyman
        if (t == 0) gap_first = gap;
        fl_flops_info info;
        CHECK(fl_flops_get_info(fl, &info, &err) == 0, "%s", err.msg);
        if (t >= T - WINDOW) {
            gap_sum += gap;
            slope_sum += info.phi[FL_PHI_A] / info.feature_sd;
        }
    }
    double gap = gap_sum / WINDOW, slope = slope_sum / WINDOW;
    // Measured over 10 seeds: window gap 0.0016..0.0077, slope 0.492..0.511. Adam's steps of
    // lr = 0.05 in a (target ~1 in standardised units) keep the slope jittering by a few
    // hundredths, and a slope off by 0.05 costs only ~1% of the uniform-to-neyman gap; the bounds
    // leave that margin while uniform (gap 1, slope 0) is far outside them.
    CHECK(gap < 0.03, "%s: J(flops) still %.3f of the way from J(neyman) to J(uniform) "
          "(first call %.3f)", label, gap, gap_first);
    CHECK(fabs(slope - 0.5) < 0.05, "%s: learned slope %.3f per unit log v, neyman 0.5", label,
          slope);
    fl_allocator_free(fl);
    fl_allocator_free(ney);
    fl_allocator_free(uni);
}

static void test_flops_learns_neyman(void) {
    run_flops_learning(0, "proxy feature");
    run_flops_learning(1, "loss feature");
}

static void test_flops_freeze_and_determinism(void) {
    enum { B = 32 };
    float v[B];
    t_rng_state = 5;
    for (int i = 0; i < B; i++) v[i] = (float)pow(10.0, 3.0 * rng_unif());
    fl_alloc_input in = {.B = B, .N = 16L * B, .proxy = v};
    fl_err err;
    fl_flops_info info;
    int n[B], n2[B];
    const double init[4] = {0.0, 0.0, 0.0, log(0.1)};

    // Everything frozen: parameters stay at their initial values; a = 0 gives equal shares.
    fl_alloc_opts o = fl_alloc_opts_default();
    o.flops_freeze = FL_FLOPS_SLOPE | FL_FLOPS_INTERCEPT | FL_FLOPS_LENGTH | FL_FLOPS_AMPLITUDE;
    fl_allocator* a = fl_allocator_new("flops", &o, &err);
    for (int t = 0; t < 5; t++) {
        in.step = t;
        CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    }
    fl_flops_get_info(a, &info, &err);
    for (int p = 0; p < 4; p++) CHECK(info.phi[p] == init[p], "frozen phi[%d] moved", p);
    for (int i = 0; i < B; i++) CHECK(n[i] == 16, "frozen allocation not uniform: n[%d]=%d", i, n[i]);
    fl_allocator_free(a);

    // Only the slope frozen: a stays exactly 0 while the others train.
    o.flops_freeze = FL_FLOPS_SLOPE;
    a = fl_allocator_new("flops", &o, &err);
    for (int t = 0; t < 5; t++) {
        in.step = t;
        CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    }
    fl_flops_get_info(a, &info, &err);
    CHECK(info.phi[FL_PHI_A] == 0.0, "frozen slope moved to %g", info.phi[FL_PHI_A]);
    CHECK(info.phi[FL_PHI_LOG_V] != init[3] && info.phi[FL_PHI_LOG_L] != init[2],
          "unfrozen parameters did not train");
    CHECK(info.adam_steps == 5 * 4 && info.calls == 5, "adam steps %ld", info.adam_steps);
    fl_allocator_free(a);

    // Length and amplitude frozen: they stay, the slope trains.
    o.flops_freeze = FL_FLOPS_LENGTH | FL_FLOPS_AMPLITUDE;
    a = fl_allocator_new("flops", &o, &err);
    for (int t = 0; t < 5; t++) {
        in.step = t;
        CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    }
    fl_flops_get_info(a, &info, &err);
    CHECK(info.phi[FL_PHI_LOG_L] == init[2] && info.phi[FL_PHI_LOG_V] == init[3],
          "frozen l or v moved");
    CHECK(info.phi[FL_PHI_A] > 0.1, "slope did not move towards neyman: %g", info.phi[FL_PHI_A]);
    fl_allocator_free(a);

    // Determinism: two allocators with the same seed give identical results; another seed not.
    o = fl_alloc_opts_default();
    o.seed = 42;
    fl_allocator* x = fl_allocator_new("flops", &o, &err);
    fl_allocator* y = fl_allocator_new("flops", &o, &err);
    o.seed = 43;
    fl_allocator* z = fl_allocator_new("flops", &o, &err);
    fl_flops_info ix, iy, iz;
    for (int t = 0; t < 3; t++) {
        in.step = t;
        fl_allocator_run(x, &in, n, &err);
        fl_allocator_run(y, &in, n2, &err);
        CHECK(memcmp(n, n2, sizeof n) == 0, "same seed, different allocation at step %d", t);
        fl_allocator_run(z, &in, n2, &err);
    }
    fl_flops_get_info(x, &ix, &err);
    fl_flops_get_info(y, &iy, &err);
    fl_flops_get_info(z, &iz, &err);
    CHECK(memcmp(ix.phi, iy.phi, sizeof ix.phi) == 0, "same seed, different phi");
    CHECK(memcmp(ix.phi, iz.phi, sizeof ix.phi) != 0, "seed has no effect");
    fl_allocator_free(x);
    fl_allocator_free(y);
    fl_allocator_free(z);

    // No proxy known yet: no training (the objective carries no information), uniform shares.
    for (int i = 0; i < B; i++) v[i] = NAN;
    a = fl_allocator_new("flops", &o, &err);
    CHECK(fl_allocator_run(a, &in, n, &err) == 0, "%s", err.msg);
    fl_flops_get_info(a, &info, &err);
    CHECK(info.adam_steps == 0, "trained on an all-unknown proxy");
    for (int i = 0; i < B; i++) CHECK(n[i] == 16, "all-unknown proxy not uniform");
    fl_allocator_free(a);
}

int main(void) {
    RUN(test_registry_names);
    RUN(test_contract_every_allocator);
    RUN(test_proportional_exact_cases);
    RUN(test_fill_proxy);
    RUN(test_uniform_rotation);
    RUN(test_neyman_closed_form);
    RUN(test_variance_ratio_identity);
    RUN(test_loss_allocator);
    RUN(test_bernoulli);
    RUN(test_allocator_seed_from_run);
    RUN(test_errors);
    RUN(test_run_verifies_contract);
    RUN(test_flops_log_density_gradient);
    RUN(test_flops_score_matches_pathwise);
    RUN(test_flops_learns_neyman);
    RUN(test_flops_freeze_and_determinism);
    TEST_EXIT();
}
