#!/bin/sh
# protocol.sh: the cost of the black-box protocol (docs/BLACKBOX.md), the part "protocol" of
# `make bench` (bench/run_bench.sh; docs/PERFORMANCE.md). The same prompt-tuning run (LR,
# batch 64, 20 queries per datum, classes 5-9 of Fashion-MNIST) goes through two black boxes,
# measured alternately ROUNDS times so both see the same load of a shared machine:
#   - the numpy box across a process boundary (bench/blackbox/blackbox_numpy.py): its
#     overhead per query is the round trip less what the box says it computed,
#     (t_blackbox_ms - t_blackbox_compute_ms) / queries per step;
#   - the built-in ViT (the default task's vit-tiny:patch=7,dim=64,depth=4), in process: its
#     time per query is t_blackbox_ms / queries per step;
#   - the same ViT served across a process boundary (`flbench blackbox`, the same losses bit for
#     bit): its overhead per query is its round trip less its compute, as for the numpy box.
# The ratios overhead / built-in time say what the boundary costs against a model's own work
# (median over rounds). Writes BENCH_DIR/protocol.csv (every run) and protocol_summary.csv.
# Environment: FLBENCH, BENCH_DIR (results/bench), PROTOCOL_ROUNDS (3). Needs python3 with
# numpy (make deps); without it says so and writes nothing.
set -eu
B=${FLBENCH:-build/flbench}
D=${BENCH_DIR:-results/bench}
ROUNDS=${PROTOCOL_ROUNDS:-3}
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "protocol: skipped: $(command -v python3 || echo python3) has no numpy (make deps installs it)"
    exit 0
fi
mkdir -p "$D"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
rm -f "$D/protocol.csv" "$D/protocol_summary.csv"
TASK="--dataset fashion-mnist --classes 5-9 --shots 16 --batch 64 --method lr --budget 20 --epochs 3 --eval-every 0 --lr 1e-1 --sigma 1e-2 --threads 1 --quiet"
VIT=vit-tiny:patch=7,dim=64,depth=4,heads=4,mlp=128
echo "box,round,queries_per_step,t_blackbox_ms,t_blackbox_compute_ms,us_per_query,overhead_us_per_query" >"$D/protocol.csv"
# row BOX ROUND CSV: the last epoch's per-step numbers of a run
row() {
    python3 - "$@" <<'PY' >>"$D/protocol.csv"
import csv, sys
box, rnd, path = sys.argv[1:4]
r = list(csv.DictReader(open(path)))[-1]
q = float(r["queries"]) / float(r["steps"])
tb, tc = float(r["t_blackbox_ms"]), float(r["t_blackbox_compute_ms"])
print(f"{box},{rnd},{q:.0f},{tb:.3f},{tc:.3f},{1e3 * tb / q:.3f},{1e3 * (tb - tc) / q:.3f}")
PY
}
# the ViT of both ViT runs, as a checkpoint (its initial weights: the cost does not depend on them)
$B train --model $VIT --dataset fashion-mnist --classes 5-9 --shots 16 --epochs 0 --threads 1 --quiet --save "$T/vit.safetensors"
for r in $(seq 1 "$ROUNDS"); do
    $B prompt $TASK --blackbox "python3 bench/blackbox/blackbox_numpy.py" --out "$T/numpy$r.csv"
    row numpy "$r" "$T/numpy$r.csv"
    $B prompt $TASK --weights "$T/vit.safetensors" --out "$T/vit$r.csv"
    row vit "$r" "$T/vit$r.csv"
    $B prompt $TASK --blackbox "$B blackbox --weights $T/vit.safetensors --threads 1" --out "$T/served$r.csv"
    row vit-served "$r" "$T/served$r.csv"
done
python3 - "$D/protocol.csv" "$D/protocol_summary.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = lambda box, col: statistics.median(float(x[col]) for x in rows if x["box"] == box)
over, vit, npc = med("numpy", "overhead_us_per_query"), med("vit", "us_per_query"), med("numpy", "us_per_query")
sover = med("vit-served", "overhead_us_per_query")
with open(sys.argv[2], "w") as f:
    f.write("what,value\n")
    f.write(f"numpy_protocol_overhead_us_per_query,{over:.3f}\n")
    f.write(f"numpy_round_trip_us_per_query,{npc:.3f}\n")
    f.write(f"builtin_vit_us_per_query,{vit:.3f}\n")
    f.write(f"overhead_over_builtin_vit,{over / vit:.4f}\n")
    f.write(f"served_vit_protocol_overhead_us_per_query,{sover:.3f}\n")
    f.write(f"served_overhead_over_builtin_vit,{sover / vit:.4f}\n")
print(f"protocol: overhead per query of the numpy box's round trip {over:.2f} us (round trip {npc:.2f} us), "
      f"built-in ViT {vit:.2f} us per query: overhead / built-in = {over / vit:.3f}; the same ViT served by flbench "
      f"blackbox: overhead {sover:.2f} us, / built-in = {sover / vit:.3f} (median of {len(rows) // 3} rounds)")
PY
