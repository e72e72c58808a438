#!/bin/sh
# test_threads.sh: the same numbers on any thread count (docs/DESIGN.md, "Reductions").
# Every reduction of the CPU backend runs in an order fixed by the data's size, never by the
# number of OpenMP threads, so a run at 1, 2 or 3 threads writes the same row, bit for bit,
# in every column that is not a timing, the host, the device or the thread count itself:
#  - train with bp, mezo, lr-uniform and lr-flops at --threads 1, 2 and 3;
#  - a sweep with `threads 1` and one with `threads 2` give identical rows (the cell id leaves
#    the thread count out, so a sweep resumed on another machine must not mix numbers).
# The comparison itself must reject two rows that differ in one digit of eval_loss (negative
# control below). Batch 100 at budget 128 makes 12800 query rows: the CPU's tall-product
# split (cpu_linalg.c) runs at 2 and 3 threads and not at 1.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP threads: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
    exit 0
fi
# The columns that may differ between thread counts: when and where the row was made, the
# thread count (and the configuration and train's cell key, which contain it), and timings.
VARYING="timestamp host device threads config cell_key wall_s step_ms t_clean_ms t_alloc_ms t_forward_ms t_grad_ms t_update_ms peak_rss_mb peak_dev_mb"
# stable FILE: every row of FILE without the varying columns (libcsv quotes config, which
# holds no comma-separated field the awk split would cut in a column we keep: it is last but
# one, and message is empty on ok rows)
stable() {
    awk -F, -v drop="$VARYING" '
        NR==1 { n = split(drop, d, " "); for (i = 1; i <= n; i++) skip[d[i]] = 1
                for (i = 1; i <= NF; i++) keep[i] = !($i in skip); next }
        { line = ""; for (i = 1; i <= NF; i++) if (keep[i]) line = line $i ","; print line }' "$1" |
        sed 's/,"--[^"]*"//'
}
# same A B: 0 when the stable parts of A and B are identical and not empty
same() {
    [ -s "$1" ] && [ -s "$2" ] || return 1
    stable "$1" >"$T/a"; stable "$2" >"$T/b"
    [ -s "$T/a" ] && cmp -s "$T/a" "$T/b"
}

# negative control: one digit of eval_loss changed must be caught
TASK="--dataset fashion-mnist --model mlp:784-32-10 --shots 30 --batch 100 --epochs 2 --lr 1e-3 --seed 3 --eval-batch 1000 --quiet"
if $B train $TASK --method lr --allocator uniform --budget 8 --threads 1 --out "$T/ctl.csv" 2>"$T/err"; then
    k=$(head -1 "$T/ctl.csv" | tr , '\n' | grep -n '^eval_loss$' | cut -d: -f1)
    awk -F, -v OFS=, -v k="$k" 'NR==3 { $k = $k + 1e-5 } { print }' "$T/ctl.csv" >"$T/ctl2.csv"
    if same "$T/ctl.csv" "$T/ctl2.csv"; then fail threads_compare_rejects_change "a changed eval_loss passed"
    elif ! same "$T/ctl.csv" "$T/ctl.csv"; then fail threads_compare_accepts_equal "a file differs from itself"
    else pass threads_compare_control; fi
else
    fail threads_compare_control "$(cat "$T/err")"
fi

# name | options
while IFS='|' read -r name opts; do
    [ -z "$name" ] && continue
    ok=1
    for t in 1 2 3; do
        if ! $B train $TASK $opts --threads $t --out "$T/$name-$t.csv" 2>"$T/err"; then
            fail "threads_$name" "--threads $t: $(cat "$T/err")"; ok=0; break
        fi
    done
    [ $ok = 1 ] || continue
    if ! same "$T/$name-1.csv" "$T/$name-2.csv"; then
        fail "threads_$name" "1 and 2 threads differ: $(diff "$T/a" "$T/b" | head -3 | tr '\n' ' ')"
    elif ! same "$T/$name-1.csv" "$T/$name-3.csv"; then
        fail "threads_$name" "1 and 3 threads differ: $(diff "$T/a" "$T/b" | head -3 | tr '\n' ' ')"
    else
        pass "threads_$name"
    fi
done <<'CASES'
bp|--method bp --budget 1
mezo|--method mezo --allocator uniform --budget 8
lr_uniform|--method lr --allocator uniform --budget 128
lr_flops|--method lr --allocator flops --budget 128
CASES

# a sweep at 1 thread and at 2: the same rows (the sweep's cell id leaves the thread count
# out, so the cell keys must be equal too; rows sorted, so that the order cannot matter)
for t in 1 2; do
    cat >"$T/sweep$t.conf" <<EOF
name thr
set dataset fashion-mnist
set model mlp:784-32-10
set shots 30
set batch 100
set epochs 1
set lr 1e-3
set eval-batch 1000
set threads $t
set method lr
axis allocator uniform flops
axis budget 16
axis seed 1 2
EOF
done
sorted() { head -1 "$1"; tail -n +2 "$1" | sort; }
if $B sweep "$T/sweep1.conf" --out "$T/s1" --no-progress >"$T/log1" 2>&1 &&
   $B sweep "$T/sweep2.conf" --out "$T/s2" --no-progress >"$T/log2" 2>&1; then
    sorted "$T/s1/thr.csv" >"$T/s1.csv"; sorted "$T/s2/thr.csv" >"$T/s2.csv"
    if [ "$(wc -l <"$T/s1.csv")" -ne 5 ]; then fail threads_sweep "expected a header and 4 rows: $(wc -l <"$T/s1.csv") lines"
    elif same "$T/s1.csv" "$T/s2.csv"; then pass threads_sweep
    else fail threads_sweep "threads 1 and 2 differ: $(diff "$T/a" "$T/b" | head -3 | tr '\n' ' ')"; fi
else
    fail threads_sweep "$(tail -3 "$T/log1" "$T/log2" | tr '\n' ' ')"
fi
