#!/bin/sh
# run_bench.sh: what `make bench` runs. Writes, anew each time:
#   results/bench/bench.csv    W1, W2, W3 x bp, mezo, lr, lr-flops (ms per step, floor, ratio,
#                              GFLOP/s, phase shares, peak RSS; provenance in every row)
#   results/bench/threads.csv  thread scaling, 1 and 2 threads (W1 all estimators; W2 bp, mezo, lr)
#   results/bench/budget.csv   cost against budget: lr and lr-flops on W1, lr on W2
#   results/bench/scaling.csv, scaling_summary.csv  strong scaling over 2 MPI ranks, one
#                              thread each: W1 and W2, lr and mezo (bench/scaling.sh)
#   results/bench/protocol.csv, protocol_summary.csv  the black-box protocol's overhead per
#                              query against the built-in ViT's time per query (bench/protocol.sh)
#   results/figures/bench_threads.{png,pdf}, bench_budget.{png,pdf}  (plots/bench_*.gp)
# Environment: FLBENCH (default build/flbench), BENCH_DIR (results/bench), FIGDIR
# (results/figures), BENCH_W3=0 to leave out W3 (ViT-B/16: minutes), BENCH_W2_BUDGETS
# (default 4,8,16,32,64), BENCH_QUICK=1 for a check of the pipeline in about a minute (W1 only),
# BENCH_PARTS (default "main threads budget scaling protocol"): which of the five runs to redo; the figures are
# always redrawn from the CSV there.
set -eu
B=${FLBENCH:-build/flbench}
D=${BENCH_DIR:-results/bench}
F=${FIGDIR:-results/figures}
W2_BUDGETS=${BENCH_W2_BUDGETS:-4,8,16,32,64}
QUICK=${BENCH_QUICK:-0}
mkdir -p "$D" "$F"
# A private copy of the binary: the same one for every measurement, even if the build tree is
# rebuilt meanwhile (the git revision is recorded in every row).
BIN=$(mktemp "${TMPDIR:-/tmp}/flbench-bench.XXXXXX")
trap 'rm -f "$BIN"' EXIT
cp "$B" "$BIN" && chmod 755 "$BIN"
B=$BIN
PARTS=${BENCH_PARTS:-main threads budget scaling protocol}
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
for p in $PARTS; do
    case $p in
    main) rm -f "$D/bench.csv" ;;
    threads | budget) rm -f "$D/$p.csv" ;;
    scaling | protocol) ;;  # bench/scaling.sh and bench/protocol.sh start their files anew
    *) echo "run_bench.sh: BENCH_PARTS: unknown part '$p' (expected main, threads, budget, scaling, protocol)" >&2; exit 2 ;;
    esac
done

now() { date +%s; }
say() { printf '\n== %s\n' "$*"; }
t_all=$(now)

if [ "$QUICK" = 1 ]; then
    say "quick: W1 only"
    if has main; then $B bench --workload W1 --out "$D/bench.csv"; fi
    if has threads; then $B bench --workload W1 --threads 1,2 --reps 5 --warmup 1 --out "$D/threads.csv"; fi
    if has budget; then
        $B bench --workload W1 --methods lr,lr-flops --budgets 4,8,16,32,64 --reps 5 --warmup 1 --out "$D/budget.csv"
    fi
else
    if has main; then
        say "W1 and W2, every estimator"
        $B bench --workload W1,W2 --out "$D/bench.csv"
        if [ "${BENCH_W3:-1}" = 1 ]; then
            say "W3 (ViT-B/16, batch 4, 8 queries, attn:last:4), 5 timed steps after 1 warm-up"
            t0=$(now)
            $B bench --workload W3 --out "$D/bench.csv"
            echo "W3 took $(($(now) - t0)) s"
        fi
    fi
    if has threads; then
        say "thread scaling (1 and 2 threads, measured back to back)"
        $B bench --workload W1 --threads 1,2 --reps 5 --warmup 1 --out "$D/threads.csv"
        $B bench --workload W2 --methods bp,mezo,lr --threads 1,2 --reps 5 --warmup 1 --out "$D/threads.csv"
    fi
    if has budget; then
        say "cost against budget"
        $B bench --workload W1 --methods lr,lr-flops --budgets 4,8,16,32,64 --out "$D/budget.csv"
        $B bench --workload W2 --methods lr --budgets "$W2_BUDGETS" --reps 5 --warmup 1 --out "$D/budget.csv"
    fi
fi

if has scaling; then
    say "strong scaling over MPI ranks (one thread each, measured alternately)"
    if [ "$QUICK" = 1 ]; then SCALING_WORKLOADS=W1 SCALING_ROUNDS=1 FLBENCH=$B BENCH_DIR=$D sh bench/scaling.sh
    else FLBENCH=$B BENCH_DIR=$D sh bench/scaling.sh; fi
fi

if has protocol; then
    say "the black-box protocol: overhead per query against the built-in ViT (measured alternately)"
    if [ "$QUICK" = 1 ]; then PROTOCOL_ROUNDS=1 FLBENCH=$B BENCH_DIR=$D sh bench/protocol.sh
    else FLBENCH=$B BENCH_DIR=$D sh bench/protocol.sh; fi
fi

# Plot data: whitespace tables from the CSV, columns found by name.
# threads_WL.dat: method threads step_ms_median min max floor_ms_median speedup
# budget_WL.dat:  method budget  step_ms_median min max floor_ms_median (ignore)
# one block per method, headed by its name; speedup = the method's first row (1 thread) / this
extract() {  # extract CSV WORKLOAD XCOL > file
    awk -F, -v wl="$2" -v xcol="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $c["workload"] == wl {
            m = $c["method"]
            if (!(m in seen)) { seen[m] = 1; order[++n] = m }
            fl = $c["floor_ms_median"] == "" ? "NaN" : $c["floor_ms_median"]
            med = $c["step_ms_median"]
            if (!(m in first)) first[m] = med
            rows[m] = rows[m] sprintf("%s %s %s %s %s %s %.4f\n", m, $c[xcol], med, $c["step_ms_min"], $c["step_ms_max"], fl, first[m] / med)
        }
        END { for (k = 1; k <= n; k++) printf "\"%s\"\n%s\n\n", order[k], rows[order[k]] }' "$1"
}
for wl in W1 W2; do
    [ -f "$D/threads.csv" ] || : >"$D/threads.csv"
    [ -f "$D/budget.csv" ] || : >"$D/budget.csv"
    extract "$D/threads.csv" $wl threads >"$D/threads_$wl.dat"
    extract "$D/budget.csv" $wl budget >"$D/budget_$wl.dat"
done
if command -v gnuplot >/dev/null 2>&1; then
    for g in threads budget; do
        gnuplot -e "datadir='$D'; figdir='$F'" "plots/bench_$g.gp"
    done
    echo "figures: $F/bench_threads.{png,pdf} $F/bench_budget.{png,pdf}"
else
    echo "figures: skipped (gnuplot is not installed: make deps)"
fi
echo "make bench: $(($(now) - t_all)) s; CSV in $D/"
