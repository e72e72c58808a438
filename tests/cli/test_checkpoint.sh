#!/bin/sh
# test_checkpoint.sh: `flbench train --checkpoint none|block` (BP with activation
# checkpointing per block, docs/METHOD.md "BP"): any method but bp is refused in one line with
# exit 2; on Fashion-MNIST, checkpointed BP trains to the same loss as plain BP with a smaller
# peak_model_mb, and the two are different cells, from `train` and from a sweep variant.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# one line, exit 2, naming the option
check_bad() {
    name=$1; shift
    out=$($B train "$@" 2>&1 >/dev/null); rc=$?
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && printf '%s' "$out" | grep -q -- --checkpoint; then pass "$name"
    else fail "$name" "rc=$rc, $lines lines: $out"; fi
}
check_bad checkpoint_refused_for_lr --method lr --checkpoint block --max-steps 1 --out "$T/refused.csv"
check_bad checkpoint_refused_for_mezo --method mezo --budget 4 --checkpoint block --max-steps 1
check_bad checkpoint_refused_default_method --checkpoint block --max-steps 1
check_bad checkpoint_bad_value --method bp --checkpoint layer

# field NAME of row ROW (1 = first data row) of a results CSV (quoted fields allowed)
field() {
    python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(r[int(sys.argv[3])-1][sys.argv[2]])' "$1" "$2" "$3"
}
# the refused run trained nothing: its one row is a failure that says why
if [ "$(field "$T/refused.csv" status 1) $(field "$T/refused.csv" steps 1)" = "failed 0" ] &&
   field "$T/refused.csv" message 1 | grep -q -- "--checkpoint block"; then pass checkpoint_refused_row
else fail checkpoint_refused_row "$(cat "$T/refused.csv" 2>&1 | tail -1)"; fi

if [ -d /usr/share/datasets/fashion-mnist ]; then
    V="vit:patch=7,dim=32,depth=3,heads=2,mlp=64"
    ok=1
    for c in none block; do
        $B train --method bp --model "$V" --checkpoint $c --shots 10 --val-per-class 2 --batch 32 --max-steps 2 \
            --threads 1 --quiet --out "$T/vit.csv" || { fail checkpoint_train_runs "--checkpoint $c failed"; ok=0; }
    done
    if [ $ok -eq 1 ]; then
        c1=$(field "$T/vit.csv" checkpoint 1); c2=$(field "$T/vit.csv" checkpoint 2)
        if [ "$c1" = none ] && [ "$c2" = block ]; then pass checkpoint_column; else fail checkpoint_column "$c1, $c2"; fi
        k1=$(field "$T/vit.csv" cell_key 1); k2=$(field "$T/vit.csv" cell_key 2)
        if [ "$k1" != "$k2" ]; then pass checkpoint_distinct_cells; else fail checkpoint_distinct_cells "both $k1"; fi
        # the recomputation is bit-identical, so the training is too
        l1=$(field "$T/vit.csv" train_loss 1); l2=$(field "$T/vit.csv" train_loss 2)
        if [ -n "$l1" ] && [ "$l1" = "$l2" ]; then pass checkpoint_same_training; else fail checkpoint_same_training "train_loss $l1 vs $l2"; fi
        m1=$(field "$T/vit.csv" peak_model_mb 1); m2=$(field "$T/vit.csv" peak_model_mb 2)
        if awk -v a="$m1" -v b="$m2" 'BEGIN { exit !(a > 0 && b > 0 && b < a) }'; then pass checkpoint_peak_model_lower
        else fail checkpoint_peak_model_lower "peak_model_mb $m1 (none) vs $m2 (block)"; fi
    fi
    # every method writes peak_model_mb
    $B train --method lr --budget 4 --model mlp:784-32-10 --shots 10 --val-per-class 2 --batch 16 --max-steps 1 \
        --threads 1 --quiet --out "$T/lr.csv"
    m=$(field "$T/lr.csv" peak_model_mb 1); c=$(field "$T/lr.csv" checkpoint 1)
    if awk -v a="$m" 'BEGIN { exit !(a > 0) }' && [ "$c" = none ]; then pass checkpoint_lr_row
    else fail checkpoint_lr_row "peak_model_mb '$m', checkpoint '$c'"; fi
    # a sweep variant passes checkpoint=block through to train: two cells, two keys
    cat > "$T/ck.conf" <<EOF
name ck
set model mlp:784-32-32-10
set method bp
set shots 10
set val-per-class 2
set batch 16
set max-steps 2
set threads 1
variant ckpt plain checkpoint=none
variant ckpt block checkpoint=block
EOF
    if $B sweep "$T/ck.conf" --out "$T/sw" >/dev/null 2>&1 && [ -f "$T/sw/ck.csv" ]; then
        got=$(python3 -c 'import csv,sys; print(" ".join(sorted(r["checkpoint"] + ":" + ("ckpt=" + r["checkpoint"].replace("none", "plain") in r["cell_key"] and "key" or "nokey") for r in csv.DictReader(open(sys.argv[1])))))' "$T/sw/ck.csv")
        if [ "$got" = "block:key none:key" ]; then pass checkpoint_sweep_variant; else fail checkpoint_sweep_variant "$got"; fi
    else
        fail checkpoint_sweep_variant "the sweep failed"
    fi
else
    echo "SKIP checkpoint_train_runs: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
fi
rm -rf "$T"
