#!/bin/sh
# test_prompt.sh: `flbench prompt`, black-box prompt tuning (docs/METHOD.md, "Prompt tuning";
# docs/BLACKBOX.md), end to end on the real Fashion-MNIST files:
#  - the numpy black box across a process boundary, with the README's command as written: it
#    lowers the training loss; and with a validation split it lowers the validation loss;
#  - the built-in frozen ViT (BP-pretrained here on classes 0-4, prompts tuned on 5-9) lowers
#    the validation loss; each "lowers" check rejects a run at learning rate 1e-9 (the
#    negative control: the same data, a prompt that does not move);
#  - a faulty black box (exits, hangs past --blackbox-timeout, too few losses, a NaN loss, a
#    malformed frame) ends the run with one line naming the fault, a failed row, exit 2, and
#    the rows written before it unchanged;
#  - early stopping ends with the best epoch's parameters (stop_epoch, the final row's
#    evaluation the lowest), and is refused without a validation split;
#  - the built-in ViT served across a process boundary (flbench blackbox) gives the same rows
#    bit for bit as in process (another seed, the control, does not);
#  - the black box's time is recorded apart (t_blackbox_ms within step_ms), every answered row
#    is a query within the spend rule; bad options get one line and exit 2.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP prompt: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
    exit 0
fi
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP prompt: $(command -v python3 || echo python3) has no numpy (make deps installs it)"
    exit 0
fi
NUMPY_BOX="python3 bench/blackbox/blackbox_numpy.py"
FAULTY="python3 tests/fixtures/faulty_blackbox.py"
# col FILE NAME [ROW]: the value of column NAME in data row ROW of FILE (default: the last); a
# CSV reader, not a split on commas (model and config hold commas, quoted)
col() {
    python3 -c 'import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
i = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else 0
print(r[i - 1 if i > 0 else -1].get(sys.argv[2], "") if r else "")' "$1" "$2" "${3:-}" 2>/dev/null
}
# best_epoch FILE: the epoch of the lowest eval_loss
best_epoch() {
    python3 -c 'import csv, sys
r = [x for x in csv.DictReader(open(sys.argv[1])) if x["eval_loss"]]
print(min(r, key=lambda x: float(x["eval_loss"]))["epoch"] if r else "")' "$1" 2>/dev/null
}
rows() { python3 -c 'import csv, sys; print(len(list(csv.DictReader(open(sys.argv[1])))))' "$1" 2>/dev/null || echo 0; }
# lowered FIRST LAST: 0 when LAST < FIRST by more than 1% of FIRST, both finite numbers
lowered() { awk -v a="$1" -v b="$2" 'BEGIN{ok = a == a + 0 && b == b + 0 && a != "" && b != "" && b < a - 0.01 * (a < 0 ? -a : a); exit !ok}'; }
if lowered 2.5 2.49; then fail prompt_lowered_check_rejects_noise "2.5 -> 2.49 accepted"; else pass prompt_lowered_check_rejects_noise; fi
if lowered nan 1; then fail prompt_lowered_check_rejects_nan "nan accepted"; else pass prompt_lowered_check_rejects_nan; fi

# 1. the README's command, as written (its output file in the temporary folder)
if $B prompt --blackbox "$NUMPY_BOX" --dataset fashion-mnist --shots 16 --method lr --budget 8 --epochs 3 --out "$T/F.csv" 2>"$T/err"; then
    a=$(col "$T/F.csv" train_loss 1); b=$(col "$T/F.csv" train_loss 3)
    if [ "$(rows "$T/F.csv")" = 3 ] && lowered "$a" "$b"; then pass prompt_numpy_lowers_training_loss
    else fail prompt_numpy_lowers_training_loss "train_loss epoch 1 $a, epoch 3 $b, $(rows "$T/F.csv") rows"; fi
    m=$(col "$T/F.csv" model); tb=$(col "$T/F.csv" t_blackbox_ms); tc=$(col "$T/F.csv" t_blackbox_compute_ms); sm=$(col "$T/F.csv" step_ms)
    s=$(col "$T/F.csv" spend_per_datum); q=$(col "$T/F.csv" queries)
    if [ "$m" = "prompt:P=10,d=1000:blackbox" ] && awk -v b="$tb" -v c="$tc" -v s="$sm" 'BEGIN{exit !(b > 0 && c > 0 && c <= b && b <= s)}' &&
       awk -v s="$s" 'BEGIN{exit !(s > 7 && s <= 8)}' && [ "$q" = $((160 * 8 * 3)) ]; then
        pass prompt_accounting
    else fail prompt_accounting "model $m, t_blackbox_ms $tb, compute $tc, step_ms $sm, spend $s, queries $q"; fi
else
    fail prompt_numpy_lowers_training_loss "$(tail -2 "$T/err")"
fi
$B prompt --blackbox "$NUMPY_BOX" --dataset fashion-mnist --shots 16 --method lr --budget 8 --epochs 3 --lr 1e-9 --out "$T/F0.csv" 2>"$T/err"
a=$(col "$T/F0.csv" train_loss 1); b=$(col "$T/F0.csv" train_loss 3)
if lowered "$a" "$b"; then fail prompt_numpy_control_lr_1e-9 "a prompt that cannot move lowered the loss $a -> $b"
else pass prompt_numpy_control_lr_1e-9; fi

# 2. the validation loss, through both black boxes (epoch 0 against the last epoch)
VAL="--dataset fashion-mnist --classes 5-9 --shots 20 --val-per-class 4 --batch 50 --eval-initial --seed 1 --threads 1 --quiet"
for lr in 1e-2 1e-9; do
    $B prompt --blackbox "$NUMPY_BOX" $VAL --method mezo --budget 8 --epochs 6 --lr $lr --out "$T/nv$lr.csv" 2>"$T/err" ||
        fail prompt_numpy_val "$(tail -1 "$T/err")"
done
a=$(col "$T/nv1e-2.csv" eval_loss 1); b=$(col "$T/nv1e-2.csv" eval_loss)
c=$(col "$T/nv1e-9.csv" eval_loss 1); d=$(col "$T/nv1e-9.csv" eval_loss)
if lowered "$a" "$b" && ! lowered "$c" "$d"; then pass prompt_numpy_lowers_validation_loss
else fail prompt_numpy_lowers_validation_loss "lr 1e-2: $a -> $b; control lr 1e-9: $c -> $d"; fi

# the built-in ViT, pretrained by BP on classes 0-4 and frozen; prompts on classes 5-9
VIT="vit:patch=7,dim=32,depth=2,heads=2,mlp=64"
if $B train --model $VIT --dataset fashion-mnist --classes 0-4 --shots 200 --method bp --batch 50 --epochs 3 --lr 3e-3 \
       --threads 1 --quiet --save "$T/vit04.safetensors" 2>"$T/err"; then
    for lr in 3e-2 1e-9; do
        $B prompt --model $VIT --weights "$T/vit04.safetensors" $VAL --method lr --allocator flops --budget 8 --epochs 6 --lr $lr \
            --out "$T/vv$lr.csv" 2>"$T/err" || fail prompt_vit_val "$(tail -1 "$T/err")"
    done
    a=$(col "$T/vv3e-2.csv" eval_loss 1); b=$(col "$T/vv3e-2.csv" eval_loss)
    c=$(col "$T/vv1e-9.csv" eval_loss 1); d=$(col "$T/vv1e-9.csv" eval_loss)
    m=$(col "$T/vv3e-2.csv" model)
    if lowered "$a" "$b" && ! lowered "$c" "$d" && [ "$m" = "prompt:P=10,d=1000:$VIT" ]; then pass prompt_vit_lowers_validation_loss
    else fail prompt_vit_lowers_validation_loss "lr 3e-2: $a -> $b; control lr 1e-9: $c -> $d; model $m"; fi
    # the same ViT served across a process boundary (flbench blackbox) gives the same rows, bit for
    # bit, as in process; the negative control, another seed, does not
    SV="$VAL --method lr --allocator flops --budget 8 --epochs 2 --lr 3e-2"
    $B prompt --weights "$T/vit04.safetensors" $SV --out "$T/in.csv" 2>"$T/err"
    $B prompt --blackbox "$B blackbox --weights $T/vit04.safetensors --threads 1" $SV --out "$T/served.csv" 2>>"$T/err"
    $B prompt --blackbox "$B blackbox --weights $T/vit04.safetensors --threads 1" $SV --seed 2 --out "$T/served2.csv" 2>>"$T/err"
    same_rows() {
        python3 -c 'import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
cols = ["epoch", "train_loss", "eval_loss", "eval_acc", "queries", "grad_norm", "fwd_gflop", "n_lo", "n_hi", "spend_per_datum"]
sys.exit(0 if a and len(a) == len(b) and all(x[c] == y[c] for x, y in zip(a, b) for c in cols) else 1)' "$1" "$2" 2>/dev/null
    }
    if same_rows "$T/in.csv" "$T/served.csv" && ! same_rows "$T/in.csv" "$T/served2.csv"; then pass prompt_served_vit_equals_builtin
    else fail prompt_served_vit_equals_builtin "rows differ across the process boundary, or the control matched: $(tail -2 "$T/err")"; fi
else
    fail prompt_vit_lowers_validation_loss "pretraining: $(tail -1 "$T/err")"
fi

# 3. faults: the box answers SETUP and 9 requests (epoch 1 and its evaluation: 3 steps of a
# clean pass and one perturbed request, the evaluation one), then faults the 10th
FT="--dataset fashion-mnist --classes 5-9 --shots 12 --val-per-class 2 --batch 20 --method lr --budget 4 --epochs 3 --threads 1 --quiet"
# the negative control of the faults: the same box in mode ok completes
if $B prompt --blackbox "$FAULTY ok" --blackbox-timeout 2 $FT --out "$T/fault_ok.csv" 2>"$T/err" && [ "$(rows "$T/fault_ok.csv")" = 3 ] &&
   [ "$(col "$T/fault_ok.csv" status)" = ok ]; then pass prompt_fault_control_ok
else fail prompt_fault_control_ok "$(tail -1 "$T/err")"; fi
ok_train=$(col "$T/fault_ok.csv" train_loss 1); ok_eval=$(col "$T/fault_ok.csv" eval_loss 1)
while IFS='|' read -r mode words; do
    [ -z "$mode" ] && continue
    f="$T/fault_$mode.csv"
    $B prompt --blackbox "$FAULTY $mode 9" --blackbox-timeout 2 $FT --out "$f" >"$T/out" 2>"$T/err"
    rc=$?
    n_err=$(wc -l <"$T/err")
    st=$(col "$f" status); msg=$(col "$f" message)
    ok=1
    [ $rc -eq 2 ] && [ "$n_err" -eq 1 ] || ok=0
    for w in $words; do grep -q -- "$w" "$T/err" && printf '%s' "$msg" | grep -q -- "$w" || ok=0; done
    # rows before the fault: epoch 1's, as a run without the fault writes it (non-timing columns)
    [ "$(rows "$f")" = 2 ] && [ "$st" = failed ] && [ "$(col "$f" status 1)" = ok ] && [ "$(col "$f" epoch 1)" = 1 ] &&
        [ "$(col "$f" train_loss 1)" = "$ok_train" ] && [ "$(col "$f" eval_loss 1)" = "$ok_eval" ] && [ -n "$ok_eval" ] || ok=0
    if [ $ok = 1 ]; then pass "prompt_fault_$mode"
    else fail "prompt_fault_$mode" "exit $rc, $n_err stderr lines: $(head -c 300 "$T/err"); rows $(rows "$f"), status $st, message $msg"; fi
done <<'CASES'
exit|exited status 3
hang|within 2
count|losses expected
nan|nan
malformed|.npy
CASES

# 4. early stopping: ends with the best epoch's parameters; refused without a validation split
ES="--blackbox \"$NUMPY_BOX\" --dataset fashion-mnist --classes 5-9 --shots 20 --val-per-class 4 --batch 50 --method lr --budget 4 --epochs 12 --lr 0.3 --seed 2 --threads 1 --quiet"
if eval "$B prompt $ES --early-stop 2 --out $T/es.csv" 2>"$T/err"; then
    n=$(rows "$T/es.csv"); se=$(col "$T/es.csv" stop_epoch); fin=$(col "$T/es.csv" final)
    best=$(best_epoch "$T/es.csv")
    last=$(col "$T/es.csv" eval_loss); bestloss=$(col "$T/es.csv" eval_loss "$se")
    if [ "$n" -lt 12 ] && [ "$fin" = 1 ] && [ "$se" = "$best" ] && [ "$last" = "$bestloss" ] && [ "$se" -lt "$n" ]; then
        pass prompt_early_stop_keeps_best
    else fail prompt_early_stop_keeps_best "$n rows, stop_epoch $se, lowest eval_loss at epoch $best, final row's $last, epoch $se's $bestloss"; fi
else
    fail prompt_early_stop_keeps_best "$(tail -1 "$T/err")"
fi
if eval "$B prompt $ES --out $T/noes.csv" 2>"$T/err" && [ "$(rows "$T/noes.csv")" = 12 ] && [ -z "$(col "$T/noes.csv" stop_epoch)" ]; then
    pass prompt_early_stop_control_runs_all_epochs
else fail prompt_early_stop_control_runs_all_epochs "$(rows "$T/noes.csv") rows, stop_epoch '$(col "$T/noes.csv" stop_epoch)'"; fi

# 5. bad options: one line, exit 2
while IFS='|' read -r name opts words; do
    [ -z "$name" ] && continue
    eval "$B prompt $opts" >/dev/null 2>"$T/err"
    rc=$?
    # one line of flbench's (a missing command's shell says its own line too, on the box's stderr)
    if [ $rc -eq 2 ] && [ "$(grep -c '^flbench' "$T/err")" -eq 1 ] && grep -q -- "$words" "$T/err"; then pass "prompt_refuses_$name"
    else fail "prompt_refuses_$name" "exit $rc: $(head -c 300 "$T/err")"; fi
done <<CASES
early_stop_on_test|--blackbox "$NUMPY_BOX" --shots 4 --batch 10 --early-stop 2|needs a validation split
bp|--blackbox "$NUMPY_BOX" --shots 4 --batch 10 --method bp|forward-only
prompt_len_0|--blackbox "$NUMPY_BOX" --shots 4 --prompt-len 0|at least 1 prompt token
mlp_builtin|--model mlp --shots 4 --batch 10|built-in black box is a ViT
missing_command|--blackbox "./no-such-black-box" --shots 4 --batch 10|black box
track_variance|--blackbox "$NUMPY_BOX" --shots 4 --batch 10 --track-variance 2 --out $T/tv.csv|BP gradient
CASES
$B variance --prompt-len 4 --blackbox "$NUMPY_BOX" --shots 4 --batch 10 --out "$T/v.csv" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "BP gradient" "$T/err"; then pass prompt_variance_refused
else fail prompt_variance_refused "exit $rc: $(head -c 300 "$T/err")"; fi
$B blackbox </dev/null >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "--weights is required" "$T/err"; then pass blackbox_refuses_no_weights
else fail blackbox_refuses_no_weights "exit $rc: $(head -c 300 "$T/err")"; fi
