// round.c: the shared rounding of allocations (docs/METHOD.md, "The allocation problem": the
// rounding, and the table of allocators).
// Every weight-based allocator ends here: weights -> continuous budgets that keep a floor
// (water-filling) -> integers summing to exactly N (largest remainder).
//
// Units. With antithetic pairs (even = 1) the work is done in pair units: N/2 pairs, a floor
// of ceil(n_min/2) pairs, and every n_i = 2 * pairs_i, so evenness holds by construction.
// Without pairs the unit is one query (or one MeZO direction).
//
// Water-filling. The continuous problem "n_i proportional to w_i, but never below the floor"
// has the solution x_i = max(floor, lambda * w_i), with lambda chosen so that sum_i x_i = total.
// The floored data are exactly the ones with the smallest weights, so with the weights sorted
// ascending, we floor the k smallest for the first k at which the remaining data, shared in
// proportion, all stay at or above the floor. When w_i = sqrt(v_i), this is the minimiser of
// sum_i v_i / x_i under sum_i x_i = total, x_i >= floor (KKT: the free data share one multiplier).
//
// Largest remainder. floor(x_i) for everyone, then the R = total - sum floor(x_i) leftover units
// go one each to the data with the largest fractional parts (ties: lower index first). So every
// integer is within one unit of its continuous value, and the sum is exact.
#include "allocator.h"
#include "flops.h"  // declares fl_alloc_waterfill, which the flops allocator uses on its own
#include <math.h>
#include <limits.h>
#include <string.h>

typedef struct {
    double key;
    int index;
} keyed_index;

// Ascending key, then ascending index: a total order, so qsort's result is deterministic.
static int cmp_key_asc(const void* pa, const void* pb) {
    const keyed_index* a = (const keyed_index*)pa;
    const keyed_index* b = (const keyed_index*)pb;
    if (a->key < b->key) return -1;
    if (a->key > b->key) return 1;
    return (a->index > b->index) - (a->index < b->index);
}

// Descending key, then ascending index.
static int cmp_key_desc(const void* pa, const void* pb) {
    const keyed_index* a = (const keyed_index*)pa;
    const keyed_index* b = (const keyed_index*)pb;
    if (a->key > b->key) return -1;
    if (a->key < b->key) return 1;
    return (a->index > b->index) - (a->index < b->index);
}

// weight (B) >= 0 and finite; x (B) out. total >= B * floor_ is the caller's duty (checked).
int fl_alloc_waterfill(const double* weight, int B, double total, double floor_, double* x,
                       fl_err* err) {
    if (B < 1) return fl_fail(err, "fl_alloc_waterfill: B = %d, expected >= 1", B);
    if (!weight || !x) return fl_fail(err, "fl_alloc_waterfill: NULL weight or output array");
    if (!(floor_ >= 0) || !isfinite(total) || total < (double)B * floor_ * (1.0 - 1e-12))
        return fl_fail(err, "fl_alloc_waterfill: total %g below B*floor = %d*%g", total, B,
                       floor_);
    double wsum = 0.0;
    for (int i = 0; i < B; i++) {
        if (!isfinite(weight[i]) || weight[i] < 0.0)
            return fl_fail(err, "fl_alloc_waterfill: weight[%d] = %g, expected finite >= 0", i,
                           weight[i]);
        wsum += weight[i];
    }
    if (!isfinite(wsum))
        return fl_fail(err, "fl_alloc_waterfill: weights sum to %g (overflow)", wsum);
    if (wsum == 0.0) {  // no information: equal shares
        for (int i = 0; i < B; i++) x[i] = total / B;
        return 0;
    }
    keyed_index* order = (keyed_index*)fl_malloc((size_t)B * sizeof *order);
    double* suffix = (double*)fl_malloc(((size_t)B + 1) * sizeof *suffix);  // (B+1)
    for (int i = 0; i < B; i++) {
        order[i].key = weight[i];
        order[i].index = i;
    }
    qsort(order, (size_t)B, sizeof *order, cmp_key_asc);
    suffix[B] = 0.0;  // suffix[k] = sum of the B-k largest weights
    for (int k = B - 1; k >= 0; k--) suffix[k] = suffix[k + 1] + order[k].key;
    // Smallest k (number floored) such that the rest, shared in proportion, stay >= floor.
    // k = B-1 always qualifies when some weight is positive: the largest gets
    // total - (B-1)*floor >= floor. Zero weights come first in the order and get floored.
    int k = 0;
    double lambda = 0.0;
    for (; k < B; k++) {
        if (suffix[k] <= 0.0) continue;
        lambda = (total - (double)k * floor_) / suffix[k];
        if (lambda * order[k].key >= floor_) break;
    }
    if (k >= B) {  // unreachable given wsum > 0; kept so that no path leaves x unset
        for (int i = 0; i < B; i++) x[i] = total / B;
    } else {
        for (int j = 0; j < k; j++) x[order[j].index] = floor_;
        for (int j = k; j < B; j++) x[order[j].index] = lambda * order[j].key;
    }
    free(suffix);
    free(order);
    return 0;
}

int fl_alloc_proportional(const double* weight, int B, long N, int n_min, int even, int* n,
                          fl_err* err) {
    if (B < 1) return fl_fail(err, "fl_alloc_proportional: batch size B = %d, expected >= 1", B);
    if (!weight || !n) return fl_fail(err, "fl_alloc_proportional: NULL weight or output array");
    if (n_min < 0) return fl_fail(err, "fl_alloc_proportional: n_min = %d, expected >= 0", n_min);
    if (N < 0 || N > INT_MAX)
        return fl_fail(err, "fl_alloc_proportional: budget N = %ld, expected 0..%d", N, INT_MAX);
    const long unit = even ? 2 : 1;
    if (even && N % 2 != 0)
        return fl_fail(err,
                       "fl_alloc_proportional: budget N = %ld is odd but antithetic pairs need "
                       "every n_i even (N even)", N);
    const long total = N / unit;                        // units to hand out
    const long floor_units = (n_min + unit - 1) / unit;  // ceil(n_min / unit)
    if (total < (long)B * floor_units)
        return fl_fail(err,
                       "fl_alloc_proportional: budget N = %ld is below B*n_min = %d*%ld = %ld "
                       "(n_min %d%s)", N, B, floor_units * unit, (long)B * floor_units * unit,
                       n_min, even ? ", rounded up to even" : "");
    double* x = (double*)fl_malloc((size_t)B * sizeof *x);
    if (fl_alloc_waterfill(weight, B, (double)total, (double)floor_units, x, err) != 0) {
        free(x);
        return -1;
    }
    keyed_index* rem = (keyed_index*)fl_malloc((size_t)B * sizeof *rem);
    long* units = (long*)fl_malloc((size_t)B * sizeof *units);
    long assigned = 0;
    for (int i = 0; i < B; i++) {
        double fl = floor(x[i]);
        long u = (long)fl;
        if (u < floor_units) u = floor_units;  // x_i >= floor up to rounding error
        if (u > total) u = total;
        units[i] = u;
        rem[i].key = x[i] - (double)u;
        rem[i].index = i;
        assigned += u;
    }
    long left = total - assigned;
    if (left > 0) {
        // Largest fractional part first. left < B in exact arithmetic; the loop also covers
        // rounding error by going round again.
        qsort(rem, (size_t)B, sizeof *rem, cmp_key_desc);
        for (int j = 0; left > 0; j = (j + 1) % B) {
            units[rem[j].index]++;
            left--;
        }
    } else if (left < 0) {
        // Only by rounding error (sum of floors above the total): take back from the smallest
        // fractional parts, never going below the floor. Some datum is above the floor since
        // the sum exceeds B*floor.
        qsort(rem, (size_t)B, sizeof *rem, cmp_key_asc);
        for (int j = 0; left < 0; j = (j + 1) % B) {
            if (units[rem[j].index] > floor_units) {
                units[rem[j].index]--;
                left++;
            }
        }
    }
    for (int i = 0; i < B; i++) n[i] = (int)(units[i] * unit);
    free(units);
    free(rem);
    free(x);
    return 0;
}

int fl_alloc_fill_proxy(const float* proxy, int B, double* out) {
    if (B < 1 || !out) return 0;
    int known = 0;
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        double v = proxy ? (double)proxy[i] : NAN;
        if (isfinite(v) && v >= 0.0) {
            known++;
            sum += v;
        }
    }
    double fill = known ? sum / known : 1.0;
    for (int i = 0; i < B; i++) {
        double v = proxy ? (double)proxy[i] : NAN;
        out[i] = (isfinite(v) && v >= 0.0) ? v : fill;
    }
    return known;
}
