#!/bin/sh
# test_bench_cli.sh: `flbench bench` on a tiny W1 (batch 4, 2 queries per datum): the CSV row
# it writes (a finite floor and ratio, GFLOP/s, phase shares summing to about 1), the table's
# "-" without a floor, the chunk option (the same GEMM work in chunks of 2 query rows), its
# one-line errors with status 2, and `bench --ops` (every op checked; its negative control).
# Timings are not checked (a shared machine).
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)

expect_error() {  # expect_error NAME NEEDLE COMMAND...: status 2, one stderr line with NEEDLE
    name=$1; needle=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then echo "PASS $name"
    else echo "FAIL $name: status $rc, $lines lines, expected '$needle' in: $(head -c 300 "$T/err")"; fi
}

# csv_field FILE COLUMN: the value of COLUMN in the file's last row
csv_field() {
    python3 - "$1" "$2" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(rows[-1][sys.argv[2]] if rows else "")
EOF
}

TINY="--workload W1 --methods lr --batch 4 --budget 2 --reps 5 --warmup 1 --threads 1"

if $B bench $TINY --out "$T/a.csv" > "$T/out" 2> "$T/err"; then
    ratio=$(csv_field "$T/a.csv" ratio_to_floor)
    gflop=$(csv_field "$T/a.csv" gemm_gflop)
    shares=$(python3 - "$T/a.csv" <<'EOF'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))[-1]
print(sum(float(r[k]) for k in ("share_clean", "share_alloc", "share_forward", "share_grad", "share_update")))
EOF
)
    if awk -v r="$ratio" -v g="$gflop" -v s="$shares" 'BEGIN{exit !(r > 0 && r < 1e6 && g > 0 && s > 0.5 && s <= 1.0001)}'; then
        echo "PASS bench_csv_row"
    else echo "FAIL bench_csv_row: ratio '$ratio' gflop '$gflop' shares '$shares'"; fi
else echo "FAIL bench_csv_row: $(head -c 300 "$T/err")"; fi

# the same GEMM work whatever the chunk of query rows (the fold pairs queries within a datum)
if $B bench $TINY --max-rows 2 --no-floor --out "$T/b.csv" > "$T/out" 2> "$T/err"; then
    g1=$(csv_field "$T/a.csv" gemm_gflop)
    g2=$(csv_field "$T/b.csv" gemm_gflop)
    if awk -v a="$g1" -v b="$g2" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a > 0 && d <= 1e-6 * a)}'; then
        echo "PASS bench_chunks_same_gemm_work"
    else echo "FAIL bench_chunks_same_gemm_work: $g1 against $g2"; fi
    if grep -E '^W1 +lr ' "$T/out" | awk '{exit !($9 == "-" && $10 == "-")}'; then echo "PASS bench_no_floor_dash"
    else echo "FAIL bench_no_floor_dash: $(grep -E '^W1' "$T/out")"; fi
else echo "FAIL bench_chunks_same_gemm_work: $(head -c 300 "$T/err")"; fi

# provenance in every row (git revision, CPU, threads, BLAS), and GEMM work affine in the budget
# (forward learning's cost grows linearly in queries: the clean pass is fixed, the rest
# proportional): g(4) - g(2) = (g(8) - g(4)) / 2
if $B bench --workload W1 --methods lr --batch 4 --budgets 2,4,8 --reps 5 --warmup 0 --threads 1 --no-floor \
        --out "$T/c.csv" > "$T/out" 2> "$T/err"; then
    if python3 - "$T/c.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 3, len(rows)
for r in rows:
    for k in ("git_rev", "device", "threads", "blas"):
        assert r[k].strip(), k
g = {int(r["budget"]): float(r["gemm_gflop"]) for r in rows}
d1, d2 = g[4] - g[2], (g[8] - g[4]) / 2
assert d1 > 0 and abs(d1 - d2) <= 2e-4 * g[8], g  # the CSV has 4 significant digits
EOF
    then echo "PASS bench_provenance_and_linear_work"
    else echo "FAIL bench_provenance_and_linear_work: $(head -c 600 "$T/c.csv")"; fi
else echo "FAIL bench_provenance_and_linear_work: $(head -c 300 "$T/err")"; fi

# bench --ops (bench/bench_ops.c): every op of the ops table (the function members of
# impl/backend/ops.h but the memory bookkeeping) checked against its reference and timed on the
# CPU, "ok" in the table and in the CSV; then the negative control: one op's output moved one
# ulp (FLBENCH_OPS_PERTURB, a test hook) must be reported FAIL, with a non-zero status.
OPS=$(python3 - <<'EOF'
import re
src = open("impl/backend/ops.h").read()
body = src[src.index("typedef struct fl_ops {"):src.index("} fl_ops;")]
book = {"alloc", "free", "upload", "download", "sync", "mem_available", "peak_mem_mb",
        "alloc_held", "alloc_peak", "alloc_peak_reset"}
print(" ".join(n for n in re.findall(r"\(\*(\w+)\)\s*\(", body) if n not in book))
EOF
)
if $B bench --ops --reps 2 --out "$T/ops.csv" > "$T/out" 2> "$T/err"; then
    missing=""
    for op in $OPS; do
        awk -v op="$op" '$1 == op && / cpu / && / ok / {f = 1} END {exit !f}' "$T/out" || missing="$missing $op"
    done
    if [ -z "$missing" ] && [ "$(echo "$OPS" | wc -w)" -ge 38 ] && ! grep -q ' FAIL ' "$T/out" &&
        python3 - "$T/ops.csv" $OPS <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ops = set(sys.argv[2:])
seen = {r["op"] for r in rows if r["backend"] == "cpu"}
assert seen == ops, sorted(ops ^ seen)
for r in rows:
    assert r["backend"] != "cpu" or (r["check"] == "ok" and float(r["median_us"]) > 0 and float(r["rate"]) > 0), r
EOF
    then echo "PASS bench_ops_every_op_ok"
    else echo "FAIL bench_ops_every_op_ok: not ok or missing:$missing $(grep -A1 ' FAIL ' "$T/out" | head -c 300)"; fi
else echo "FAIL bench_ops_every_op_ok: $(tail -c 300 "$T/out") $(head -c 300 "$T/err")"; fi

FLBENCH_OPS_PERTURB=bias_noise $B bench --ops --reps 2 --only bias_noise,relu > "$T/out" 2> "$T/err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'bit-exact expected' "$T/out" &&
    awk '$1 == "bias_noise" && / cpu / && / FAIL / {f = 1} $1 == "relu" && / cpu / && / ok / {o = 1} END {exit !(f && o)}' "$T/out"
then echo "PASS bench_ops_perturbed_op_fails"
else echo "FAIL bench_ops_perturbed_op_fails: status $rc: $(head -c 600 "$T/out")"; fi

expect_error bench_ops_bad_only "--only" $B bench --ops --only nosuchop
expect_error bench_bad_max_rows "--max-rows" $B bench --workload W1 --max-rows -1 --out ''
expect_error bench_bad_reps "--reps" $B bench --workload W1 --reps 2 --out ''
expect_error bench_bad_workload "--workload" $B bench --workload W9 --out ''
rm -rf "$T"
