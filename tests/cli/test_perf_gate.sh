#!/bin/sh
# test_perf_gate.sh: the CI performance gate (ci/perf_check) catches a slower build.
#  - builds a deliberately slow variant into build/naive/ (-DFL_NAIVE_GEMM: a naive triple loop
#    instead of OpenBLAS's sgemm, impl/backend/cpu.c) and gates it against the committed
#    baseline ci/perf_baseline.csv: it must FAIL, with a REGRESSION row;
#  - gates the normal build/flbench against the same baseline: it must pass;
#  - counts are deterministic: two counts of the same binary are equal.
# One small workload keeps this short (W1-bp: the slow build needs ~10x its instructions,
# far beyond the 3% threshold, so one workload proves the point). Needs valgrind.
set -u
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP perf_gate: valgrind is not installed"
    exit 0
fi
if [ "${FL_SAN:-0}" = 1 ]; then
    echo "SKIP perf_gate: sanitizer build (make test SAN=1): valgrind cannot run an ASan binary"
    exit 0
fi
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
WL=W1-bp

# the slow variant: same sources, same flags, plus -DFL_NAIVE_GEMM, in its own build folder
if CFLAGS="-O3 -march=x86-64-v3 -g -DFL_NAIVE_GEMM" make -s -j2 BUILD=build/naive build/naive/flbench >"$T/build" 2>&1; then
    echo "PASS perf_gate_naive_build (build/naive/flbench)"
else
    echo "FAIL perf_gate_naive_build:"
    sed 's/^/    /' "$T/build" | tail -20
    exit 0
fi

ci/perf_check --flbench build/naive/flbench --workloads $WL >"$T/slow" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "^$WL .*REGRESSION" "$T/slow" && grep -q "FAILED" "$T/slow"; then
    echo "PASS perf_gate_fails_on_slow_build ($(grep "^$WL " "$T/slow" | awk '{print $4}') instructions)"
else
    echo "FAIL perf_gate_fails_on_slow_build: exit $rc (want 1) and a REGRESSION row for $WL:"
    sed 's/^/    /' "$T/slow"
fi

ci/perf_check --flbench "$B" --workloads $WL >"$T/fast" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^$WL .* ok" "$T/fast"; then
    echo "PASS perf_gate_passes_on_normal_build ($(grep "^$WL " "$T/fast" | awk '{print $4}') instructions)"
else
    echo "FAIL perf_gate_passes_on_normal_build: exit $rc (want 0) against ci/perf_baseline.csv"
    echo "    (if the code changed on purpose: make perf-baseline, and commit ci/perf_baseline.csv)"
    sed 's/^/    /' "$T/fast"
fi

# determinism: the count of the same binary, twice, against a baseline of its own
ci/perf_check --flbench "$B" --workloads $WL --write-baseline --baseline "$T/own.csv" >"$T/own" 2>&1 &&
    ci/perf_check --flbench "$B" --workloads $WL --baseline "$T/own.csv" >"$T/again" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^$WL .* +0.00%" "$T/again"; then
    echo "PASS perf_gate_deterministic (+0.00% against its own count)"
else
    echo "FAIL perf_gate_deterministic: exit $rc, want +0.00% for $WL:"
    sed 's/^/    /' "$T/own" "$T/again"
fi
