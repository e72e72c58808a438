#!/bin/sh
# scaling.sh: strong scaling of one training step over MPI ranks on this machine, the part
# "scaling" of `make bench` (bench/run_bench.sh; docs/PERFORMANCE.md, docs/SCALING.md).
# For W1 and W2, lr and mezo: T1, one process with one thread and one slice (the fastest
# single-process step), against TN, mpirun -np N with one thread per rank and N slices, the
# two measured alternately ROUNDS times, so that both see the same load of a shared machine.
# Efficiency = T1 / (N x TN), per round; the median over rounds is reported, beside the bytes
# reduced and sent per step and rank 0's communication time.
# Writes BENCH_DIR/scaling.csv (every measurement, flbench bench's columns) and
# BENCH_DIR/scaling_summary.csv. Environment: FLBENCH, BENCH_DIR (results/bench), SCALING_N
# (2), SCALING_ROUNDS (3), SCALING_WORKLOADS (W1,W2), SCALING_METHODS (lr,mezo). Needs mpirun;
# without it (or on a build without MPI) says so and writes nothing.
set -eu
B=${FLBENCH:-build/flbench}
D=${BENCH_DIR:-results/bench}
N=${SCALING_N:-2}
ROUNDS=${SCALING_ROUNDS:-3}
WLS=${SCALING_WORKLOADS:-W1,W2}
METHODS=${SCALING_METHODS:-lr,mezo}
if ! command -v mpirun >/dev/null 2>&1 || ! $B --version | grep -q ', MPI)'; then
    echo "scaling: skipped: needs mpirun and a build with MPI (make deps, then make; $($B --version))"
    exit 0
fi
mkdir -p "$D"
rm -f "$D/scaling.csv" "$D/scaling_summary.csv"
# as root (containers), Open MPI refuses to start without these; for these runs only
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1
for r in $(seq 1 "$ROUNDS"); do
    for wl in $(echo "$WLS" | tr ',' ' '); do
        reps=""; [ "$wl" = W2 ] && reps="--reps 5 --warmup 1"
        echo "scaling: round $r of $ROUNDS, $wl: 1 process"
        $B bench --workload "$wl" --methods "$METHODS" --threads 1 --no-floor $reps --out "$D/scaling.csv" > /dev/null
        echo "scaling: round $r of $ROUNDS, $wl: $N ranks"
        mpirun --oversubscribe --bind-to none -np "$N" $B bench --workload "$wl" --methods "$METHODS" --threads 1 \
            --slices "$N" --no-floor $reps --out "$D/scaling.csv" > /dev/null
    done
done
python3 - "$D/scaling.csv" "$D/scaling_summary.csv" "$N" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
N = int(sys.argv[3])
out = open(sys.argv[2], "w", newline="")
w = csv.writer(out)
w.writerow(["workload", "method", "ranks", "rounds", "t1_ms", "tn_ms", "efficiency", "efficiency_min",
            "efficiency_max", "reduce_bytes", "comm_bytes", "comm_ms", "device"])
keys = []
for r in rows:
    k = (r["workload"], r["method"])
    if k not in keys: keys.append(k)
print(f"{'wl':4} {'method':6} {'T1 ms':>10} {'T%d ms' % N:>10} {'eff':>6} {'(min':>6} {'max)':>6} {'reduced B':>11} {'sent B':>11} {'comm ms':>8}")
for wl, m in keys:
    one = [r for r in rows if (r["workload"], r["method"]) == (wl, m) and r["world_size"] == "1"]
    many = [r for r in rows if (r["workload"], r["method"]) == (wl, m) and r["world_size"] == str(N)]
    pairs = list(zip(one, many))
    eff = [float(a["step_ms_median"]) / (N * float(b["step_ms_median"])) for a, b in pairs]
    t1 = statistics.median(float(a["step_ms_median"]) for a, _ in pairs)
    tn = statistics.median(float(b["step_ms_median"]) for _, b in pairs)
    med = lambda col: statistics.median(float(b[col]) for _, b in pairs)
    e = statistics.median(eff)
    w.writerow([wl, m, N, len(pairs), f"{t1:.3f}", f"{tn:.3f}", f"{e:.3f}", f"{min(eff):.3f}", f"{max(eff):.3f}",
                f"{med('reduce_bytes'):.0f}", f"{med('comm_bytes'):.0f}", f"{med('comm_ms'):.3f}", many[0]["device"]])
    print(f"{wl:4} {m:6} {t1:10.2f} {tn:10.2f} {e:6.3f} {min(eff):6.3f} {max(eff):6.3f} {med('reduce_bytes'):11.0f} {med('comm_bytes'):11.0f} {med('comm_ms'):8.2f}")
print("efficiency = T1 / (%d x T%d), the median over rounds; T1: one process, one thread, one slice" % (N, N))
EOF
