#!/bin/sh
# test_peers_cli.sh: bench/peers/run_peers.py (what `make bench-peers` runs) with a stand-in
# peer instead of PyTorch (no 5 GB install in a test): flbench and the peer alternate pair by
# pair, each pair's ratio is peer / flbench, the printed median is the median of the pairs, and
# the CSV gets one row per pair. Also its one-line errors with status 2.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)

# the stand-in: a fixed 40 ms median (38 min, 45 max), as torch_lr.py prints its result line
cat > "$T/peer.py" <<'EOF'
import sys
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print(f"peer=stand-in workload={a['--workload']} method=lr step_ms_median=40.0 step_ms_min=38.0 "
      f"step_ms_max=45.0 gemm_gflop=5.6 torch=none")
EOF

if python3 bench/peers/run_peers.py --workloads W1 --pairs 3 --reps 5 --warmup 0 --threads 1 \
        --flbench "$B" --peer-python python3 --peer "$T/peer.py" --out "$T/peers.csv" > "$T/out" 2> "$T/err"; then
    if python3 - "$T/peers.csv" "$T/out" <<'EOF'
import csv, re, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 3, f"{len(rows)} rows"
ratios = []
for r in rows:
    want = 40.0 / float(r["flbench_ms_median"])
    assert abs(float(r["ratio_torch_over_flbench"]) - want) <= 1e-3 * want, (r["ratio_torch_over_flbench"], want)
    assert abs(float(r["ratio_of_min_steps"]) - 38.0 / float(r["flbench_ms_min"])) <= 1e-3 * want
    assert r["workload"] == "W1" and r["torch"] == "none"
    ratios.append(float(r["ratio_torch_over_flbench"]))
m = re.search(r"W1: median ratio torch / flbench = ([0-9.]+) over 3 pairs", open(sys.argv[2]).read())
assert m, "no median line"
assert abs(float(m.group(1)) - statistics.median(ratios)) <= 0.006, (m.group(1), ratios)
EOF
    then echo "PASS peers_pairs_ratios_median"
    else echo "FAIL peers_pairs_ratios_median: $(head -c 400 "$T/out")"; fi
else echo "FAIL peers_pairs_ratios_median: $(head -c 300 "$T/err")"; fi

expect_error() {  # expect_error NAME NEEDLE COMMAND...: status 2, one stderr line with NEEDLE
    name=$1; needle=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then echo "PASS $name"
    else echo "FAIL $name: status $rc, $lines lines, expected '$needle' in: $(head -c 300 "$T/err")"; fi
}
expect_error peers_bad_workload "--workloads" python3 bench/peers/run_peers.py --workloads W9 --peer-python python3
expect_error peers_bad_reps "--reps" python3 bench/peers/run_peers.py --reps 2 --peer-python python3
expect_error peers_bad_flbench "--flbench" python3 bench/peers/run_peers.py --flbench "$T/none" --peer-python python3
rm -rf "$T"
