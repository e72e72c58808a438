// test_diverge.c: the divergence rule (bench/run/diverge.c; docs/METHOD.md, "Divergence") on
// known answers: the limit max(10 L0, L0 + 10) on both sides of the crossing at L0 = 10/9, a
// loss exactly at the limit (not diverged) and one ulp above it (diverged), NaN and infinite
// losses, gradient norms and L0, and L0 zero or negative. The values are exact in double
// (10 * 2, 0.5 + 10, ...) or computed by the same expression the rule uses, so the comparisons
// are exact: no tolerance.
#include <float.h>
#include "../test.h"
#include "../../bench/run/diverge.h"

static double up(double x) { return nextafter(x, INFINITY); }
static double down(double x) { return nextafter(x, -INFINITY); }

static void test_margins_documented(void) {
    CHECK(FL_DIVERGE_FACTOR == 10.0, "factor %g, docs/METHOD.md says 10", FL_DIVERGE_FACTOR);
    CHECK(FL_DIVERGE_NATS == 10.0, "margin %g nats, docs/METHOD.md says 10", FL_DIVERGE_NATS);
}

static void test_limit_known_answers(void) {
    CHECK(fl_diverge_limit(2.0) == 20.0, "L0 2: 10 L0 = 20 is the larger, got %.17g", fl_diverge_limit(2.0));
    CHECK(fl_diverge_limit(0.5) == 10.5, "L0 0.5: L0 + 10 = 10.5 is the larger, got %.17g", fl_diverge_limit(0.5));
    CHECK(fl_diverge_limit(log(10.0)) == 10.0 * log(10.0), "L0 ln 10 (a 10-class start): 10 L0");
    CHECK(fl_diverge_limit(5.0) == 50.0 && fl_diverge_limit(1.0) == 11.0, "either side of the crossing at 10/9");
    double c = 10.0 / 9.0;  // where the two margins cross: both within one rounding of 100/9
    CHECK(fabs(fl_diverge_limit(c) - 100.0 / 9.0) <= 4 * DBL_EPSILON * 100.0 / 9.0, "crossing: %.17g", fl_diverge_limit(c));
    CHECK(fl_diverge_limit(0.0) == 10.0, "L0 0: the 10 nats alone, got %.17g", fl_diverge_limit(0.0));
    CHECK(fl_diverge_limit(-1.0) == 9.0, "L0 -1: max(-10, 9) = 9, got %.17g", fl_diverge_limit(-1.0));
    CHECK(fl_diverge_limit(-20.0) == -10.0, "L0 -20: max(-200, -10) = -10, got %.17g", fl_diverge_limit(-20.0));
    CHECK(fl_diverge_limit(1e308) == INFINITY, "10 L0 overflows: no finite limit, got %.17g", fl_diverge_limit(1e308));
    CHECK(isnan(fl_diverge_limit(NAN)) && isnan(fl_diverge_limit(INFINITY)) && isnan(fl_diverge_limit(-INFINITY)),
          "a non-finite L0 has no limit");
}

static void test_loss_at_and_above_limit(void) {
    CHECK(!fl_diverged_loss(2.0, 20.0), "exactly at 10 L0 is not above it");
    CHECK(fl_diverged_loss(2.0, up(20.0)), "one ulp above 10 L0 has diverged");
    CHECK(!fl_diverged_loss(2.0, down(20.0)) && !fl_diverged_loss(2.0, 2.0) && !fl_diverged_loss(2.0, 0.01),
          "below the limit, at L0, and a falling loss have not diverged");
    CHECK(!fl_diverged_loss(0.5, 10.5), "exactly at L0 + 10 is not above it");
    CHECK(fl_diverged_loss(0.5, up(10.5)), "one ulp above L0 + 10 has diverged");
    CHECK(!fl_diverged_loss(0.5, 5.5), "above 10 L0 = 5 but below L0 + 10 = 10.5: the larger margin holds");
    double l0 = 0.3, lim = 0.3 + 10.0;  // the rounded sum, as the rule computes it
    CHECK(!fl_diverged_loss(l0, lim) && fl_diverged_loss(l0, up(lim)), "L0 0.3: at %.17g ok, one ulp above diverged", lim);
    CHECK(!fl_diverged_loss(2.3, 1.1e1) && fl_diverged_loss(2.3, 1.1e11), "the issue's run: 1.1e11 nats from 2.3 diverged");
}

static void test_loss_l0_edge_cases(void) {
    CHECK(!fl_diverged_loss(0.0, 10.0) && fl_diverged_loss(0.0, up(10.0)), "L0 0: the limit is 10 nats");
    CHECK(!fl_diverged_loss(0.0, 0.0), "L0 0 and a loss of 0 have not diverged");
    CHECK(!fl_diverged_loss(-1.0, 9.0) && fl_diverged_loss(-1.0, up(9.0)), "L0 -1: the limit is 9");
    CHECK(!fl_diverged_loss(-20.0, -10.0) && fl_diverged_loss(-20.0, up(-10.0)), "L0 -20: the limit is -10");
    CHECK(!fl_diverged_loss(1e308, DBL_MAX), "no finite limit: a finite loss has not diverged by this rule");
    CHECK(fl_diverged_loss(1e308, INFINITY), "...but an infinite one has");
}

static void test_non_finite(void) {
    CHECK(fl_diverged_loss(2.3, NAN) && fl_diverged_loss(2.3, -NAN), "NaN loss (either sign) has diverged");
    CHECK(fl_diverged_loss(2.3, INFINITY), "+inf loss has diverged");
    CHECK(fl_diverged_loss(2.3, -INFINITY), "-inf loss has diverged (below the limit, but not finite)");
    CHECK(fl_diverged_loss(NAN, 2.3) && fl_diverged_loss(INFINITY, 2.3) && fl_diverged_loss(-INFINITY, 2.3),
          "a non-finite L0: the first step's loss was not finite");
    CHECK(!fl_diverged_step(2.3, 1.0) && !fl_diverged_step(0.0, 0.0), "finite loss and norm: no step divergence");
    CHECK(!fl_diverged_step(1e300, DBL_MAX), "finite but huge: for the epoch rule, not the step rule");
    CHECK(fl_diverged_step(NAN, 1.0) && fl_diverged_step(-NAN, 1.0), "NaN step loss");
    CHECK(fl_diverged_step(2.3, NAN) && fl_diverged_step(2.3, -NAN), "NaN gradient norm");
    CHECK(fl_diverged_step(INFINITY, 1.0) && fl_diverged_step(-INFINITY, 1.0), "infinite step loss");
    CHECK(fl_diverged_step(2.3, INFINITY), "infinite gradient norm");
}

int main(void) {
    RUN(test_margins_documented);
    RUN(test_limit_known_answers);
    RUN(test_loss_at_and_above_limit);
    RUN(test_loss_l0_edge_cases);
    RUN(test_non_finite);
    TEST_EXIT();
}
