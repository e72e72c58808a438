#!/bin/sh
# test_divergence.sh: the divergence rule end to end (docs/METHOD.md, "Divergence"), on a
# small Fashion-MNIST-format dataset the test writes itself (200 training and 100 test images,
# IDX files, a bright band whose row is the class):
#  - bp at --lr 1e4 (finite loss around 1e10, the case that passed as ok) is diverged, exits
#    with 3, says so in one line on stderr, and saves no weights (--save and --save-every);
#  - the negative controls: the same runs at --lr 1e-3 are ok, exit 0 and save their weights;
#  - a NaN loss after an update is diverged, not failed: with the allocators that refuse a NaN
#    loss (loss, bernoulli) and with every other method;
#  - mezo, spsa1 and lr (learned sigma fixed, so the loss explodes while staying finite) that
#    explode are diverged by the epoch rule;
#  - a sweep records a diverged cell as diverged, never runs it again (not even with
#    --retry-failed) and counts it apart from failures; the report leaves it out of the means
#    and of the training-loss curves, and counts it.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if ! command -v python3 >/dev/null; then echo "SKIP divergence: no python3 (it writes the fixture)"; exit 0; fi

# the fixture: data-root $T/data, so the run cannot fall back to another copy of the dataset
mkdir -p "$T/data/fashion-mnist"
python3 - "$T/data/fashion-mnist" <<'EOF'
import random, struct, sys
d = sys.argv[1]
rng = random.Random(0)
def write(prefix, n):
    labels = [i % 10 for i in range(n)]
    rng.shuffle(labels)
    img = bytearray()
    for c in labels:  # class c: rows 2c+4 and 2c+5 bright, the rest dark, all with noise
        for r in range(28):
            for x in range(28):
                img.append(rng.randrange(200, 256) if 2 * c + 4 <= r <= 2 * c + 5 else rng.randrange(0, 60))
    open(f"{d}/{prefix}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(img))
    open(f"{d}/{prefix}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + bytes(labels))
write("train", 200)
write("t10k", 100)
EOF
TASK="--dataset fashion-mnist --data-root $T/data --model mlp:784-16-10 --batch 50 --threads 1 --seed 0 --quiet"

# field NAME of the last row of a results CSV (quoted fields allowed); "" without rows
field() {
    python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(r[-1][sys.argv[2]] if r else "")' "$1" "$2" 2>/dev/null
}
# statuses of every row, space-separated
statuses() { python3 -c 'import csv,sys; print(" ".join(r["status"] for r in csv.DictReader(open(sys.argv[1]))))' "$1" 2>/dev/null; }

# run NAME OPTIONS...: trains with --out T/NAME.csv --save T/NAME.st; sets rc, err (stderr)
run() {
    name=$1; shift
    rm -f "$T/$name".csv "$T/$name".st*
    $B train $TASK "$@" --out "$T/$name.csv" --save "$T/$name.st" 2>"$T/$name.err"; rc=$?
    err=$(cat "$T/$name.err")
}
# diverged NAME RULE: the last run diverged as it must: exit 3, last row diverged with the
# rule's words in its message, not evaluated, one clean line on stderr, no weights written
diverged() {
    name=$1; words=$2
    st=$(field "$T/$name.csv" status); msg=$(field "$T/$name.csv" message); acc=$(field "$T/$name.csv" eval_acc)
    lines=$(printf '%s\n' "$err" | grep -c .)
    saved=$(ls "$T" | grep -c "^$name\.st")
    if [ $rc -eq 3 ] && [ "$st" = diverged ] && printf '%s' "$msg" | grep -q -- "$words" && [ -z "$acc" ] &&
       [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -q '^flbench train: run diverged: ' &&
       ! printf '%s' "$err" | grep -q -- '-nan' && [ "$saved" -eq 0 ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc status=$st eval_acc='$acc' saved=$saved, $lines stderr lines: $err"
    fi
}
# ok NAME: the last run was ok in every row, exited 0, printed nothing, saved its weights
ok() {
    name=$1
    sts=$(statuses "$T/$name.csv")
    if [ $rc -eq 0 ] && [ -n "$sts" ] && [ -z "$(printf '%s' "$sts" | tr -d 'ok ')" ] && [ -z "$err" ] &&
       [ -s "$T/$name.st" ]; then pass "$name"
    else fail "$name" "rc=$rc statuses '$sts', weights $(ls "$T" | grep -c "^$name\.st"), stderr: $err"; fi
}

# 1. the issue's case: a finite loss of about 1e10, in the run's last (and only) epoch
run div_bp_lr1e4 --method bp --lr 1e4 --epochs 1
diverged div_bp_lr1e4 "mean training loss .* exceeds max(10 L0, L0 + 10)"
# the fixture was read (4 steps of 50 out of 200 images), not another Fashion-MNIST
s=$(field "$T/div_bp_lr1e4.csv" steps)
if [ "$s" = 4 ]; then pass div_fixture_read; else fail div_fixture_read "steps=$s, expected 4 (200 images / 50)"; fi
run div_bp_lr1e4_save_every --method bp --lr 1e4 --epochs 2 --save-every 1
diverged div_bp_lr1e4_save_every "mean training loss"
# negative controls: the same at a learning rate that trains
run div_bp_ok --method bp --lr 1e-3 --epochs 2 --save-every 1
ok div_bp_ok
if [ -s "$T/div_bp_ok.st.epoch1" ]; then pass div_bp_ok_save_every; else fail div_bp_ok_save_every "no SAVE.epoch1"; fi
run div_mezo_ok --method mezo --budget 4 --lr 1e-3 --epochs 2
ok div_mezo_ok
run div_lr_ok --method lr --allocator flops --budget 4 --lr 1e-3 --epochs 2
ok div_lr_ok

# 2. a NaN loss after the first update (Adam at 1e30): diverged, never failed
run div_nan_bp --method bp --lr 1e30 --epochs 1
diverged div_nan_bp "loss is nan"
run div_nan_lr_loss --method lr --allocator loss --budget 4 --lr 1e30 --epochs 1
diverged div_nan_lr_loss "loss is nan"
run div_nan_lr_bernoulli --method lr --allocator bernoulli --budget 4 --lr 1e30 --epochs 1
diverged div_nan_lr_bernoulli "loss is nan"
run div_nan_mezo_loss --method mezo --allocator loss --budget 4 --lr 1e30 --epochs 1
diverged div_nan_mezo_loss "loss is nan"

# 3. forward-only methods that explode while the loss stays finite: the epoch rule
run div_mezo_explodes --method mezo --budget 4 --lr 1e4 --epochs 2
diverged div_mezo_explodes "mean training loss"
run div_spsa1_explodes --method spsa1 --budget 4 --lr 1e4 --epochs 2
diverged div_spsa1_explodes "mean training loss"
run div_lr_explodes --method lr --allocator uniform --budget 4 --fixed-sigma --lr 1e4 --epochs 2
diverged div_lr_explodes "mean training loss"
run div_lr_flops_explodes --method lr --allocator flops --budget 4 --fixed-sigma --lr 1e4 --epochs 2
diverged div_lr_flops_explodes "mean training loss"

# 4. a sweep: seed 1 of mezo explodes; bp and seed 0 are ok
cat > "$T/div.conf" <<EOF
name div
set dataset fashion-mnist
set data-root $T/data
set model mlp:784-16-10
set batch 50
set epochs 2
set threads 1
set lr 1e-3
axis seed 0 1
variant method bp method=bp budget=1
variant method mezo method=mezo budget=4
when method=mezo seed=1 : lr=1e4
EOF
$B sweep "$T/div.conf" --out "$T/sw" >/dev/null 2>"$T/sw1.err"; src=$?
csv="$T/sw/div.csv"
finals=$(python3 - "$csv" <<'EOF'
import csv, sys
last = {}
for r in csv.DictReader(open(sys.argv[1])):
    last[r["cell_key"].split(";h=")[0]] = r["status"]
print(" ".join(f"{k.split(';', 1)[1]}={v}" for k, v in sorted(last.items())))
EOF
)
want="seed=0;method=bp=ok seed=0;method=mezo=ok seed=1;method=bp=ok seed=1;method=mezo=diverged"
if [ $src -eq 0 ] && [ "$finals" = "$want" ] && grep -q "3 ok, 1 diverged, 0 failed" "$T/sw1.err"; then pass div_sweep_records_diverged
else fail div_sweep_records_diverged "rc=$src, final statuses: $finals; $(tail -1 "$T/sw1.err")"; fi
rows=$(wc -l < "$csv")
$B sweep "$T/div.conf" --out "$T/sw" >/dev/null 2>"$T/sw2.err"; r2=$?
$B sweep "$T/div.conf" --out "$T/sw" --retry-failed >/dev/null 2>"$T/sw3.err"; r3=$?
# (about the diverged cell: without one the check would hold vacuously)
if statuses "$csv" | grep -qw diverged && [ $r2 -eq 0 ] && [ $r3 -eq 0 ] && [ "$(wc -l < "$csv")" = "$rows" ] &&
   grep -q "ran 0 cells" "$T/sw2.err" &&
   grep -q "ran 0 cells" "$T/sw3.err"; then pass div_sweep_not_rerun
else fail div_sweep_not_rerun "rc $r2 $r3, rows $rows -> $(wc -l < "$csv"): $(tail -1 "$T/sw2.err") / $(tail -1 "$T/sw3.err")"; fi
if $B report "$T/sw" >/dev/null 2>"$T/rep.err"; then
    md="$T/sw/REPORT.md"
    # the accuracy table's mezo entry: one ok seed, the diverged one counted apart
    if grep -q "cells: 4 finished: 3 ok 1 diverged" "$md" && grep -q "^| mezo | .*(1/2 seeds, 1 diverged)" "$md"; then
        pass div_report_counts_diverged
    else fail div_report_counts_diverged "$(grep -n "cells:\|^| mezo" "$md" | head -3)"; fi
    # the training-loss curve of mezo: the ok seed alone (a diverged run's epochs are no curve)
    curve=$(awk '/^"mezo"/{m=1; next} m && /^1 /{print $2, $4; exit}' "$T/sw/plotdata/loss_1.dat")
    set -- $curve
    if [ "${2:-}" = 1 ] && awk -v l="${1:-nan}" 'BEGIN{exit !(l + 0 < 10)}'; then pass div_report_loss_curve_ok_only
    else fail div_report_loss_curve_ok_only "mezo epoch 1: mean '${1:-}', seeds '${2:-}' (expected the ok seed alone)"; fi
else
    fail div_report_counts_diverged "flbench report failed: $(cat "$T/rep.err")"
fi
rm -rf "$T"
