#!/bin/sh
# test_bad_input.sh: every bad input of `flbench train` (and of `variance`, which reads the same
# option table) gives exit status 2 and exactly one line on stderr that names it, before
# anything is trained or written: options out of their range (sigma, mu, threads, batch,
# epochs), integers and floats beyond their type, a batch larger than the training split,
# non-finite values in a weights file, an --out file of another schema or in a missing folder.
# And `--epochs 0` has its documented meaning: the initial model's epoch-0 row.
# Fixtures are made here: weights by `train --save`, NaN and -inf written into their bytes.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)

# expect_error NAME NEEDLE COMMAND...: status 2, one stderr line containing NEEDLE
expect_error() {
    name=$1; needle=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then echo "PASS $name"
    else echo "FAIL $name: status $rc, $lines lines, expected '$needle' in: $(head -c 400 "$T/err")"; fi
}
# expect_no_file NAME FILE: the refused run wrote nothing there
expect_no_file() {
    if [ -e "$2" ]; then echo "FAIL $1: $2 was written"; else echo "PASS $1"; fi
}

# options out of their range: refused by the parser, before the dataset is opened (there is
# none at --data-root: an option let through would fail there, with another message)
O="$T/never.csv"
N="--dataset cifar10 --data-root $T/none"
expect_error bad_sigma_zero "--sigma: out of range: expected a finite number > 0, found '0'" $B train --sigma 0 $N --out "$O"
expect_error bad_sigma_negative "--sigma: out of range: expected a finite number > 0, found '-1e-3'" $B train --sigma -1e-3 $N --out "$O"
expect_error bad_mu_zero "--mu: out of range: expected a finite number > 0, found '0'" $B train --method mezo --mu 0 $N --out "$O"
expect_error bad_threads_zero "--threads: out of range: expected an integer in 1..1024, found '0'" $B train --threads 0 $N --out "$O"
expect_error bad_batch_zero "--batch: out of range: expected an integer in 1..2147483647, found '0'" $B train --batch 0 $N --out "$O"
expect_error bad_epochs_negative "--epochs: out of range: expected an integer in 0..2147483647, found '-1'" $B train --epochs -1 $N --out "$O"
expect_error bad_budget_overflow "--budget: out of range: expected an integer in 1..2147483647, found '99999999999'" $B train --budget 99999999999 $N --out "$O"
expect_error bad_max_steps_overflow "--max-steps: out of range: expected an integer in 0..9223372036854775807" $B train --max-steps 99999999999999999999 $N --out "$O"
expect_error bad_seed_negative "--seed: out of range: expected an integer in 0..18446744073709551615, found '-1'" $B train --seed -1 $N --out "$O"
expect_error bad_lr_overflow "--lr: out of range: expected a finite number > 0 within float32" $B train --lr 1e999 $N --out "$O"
expect_error bad_lr_underflow "--lr: out of range: expected a finite number > 0 within float32" $B train --lr 1e-999 $N --out "$O"
expect_error bad_lr_inf "--lr: expected a finite number > 0, found 'inf'" $B train --lr inf $N --out "$O"
expect_error bad_classes_overflow "--classes: out of range: expected an integer in 0..2147483647, found '99999999999'" $B train --classes 5-99999999999 $N --out "$O"
expect_error bad_variance_sigma "--sigma: out of range: expected a finite number > 0, found '0'" $B variance --method lr --sigma 0 $N --out "$O"
expect_error bad_variance_budgets "--budgets: out of range: expected an integer in 1..1048576, found '99999999999'" $B variance --method lr --budgets 4,99999999999 $N --out "$O"
expect_no_file bad_options_write_nothing "$O"

# --out: another schema is refused once, before training, and the file is left as it was
printf 'a,b\n1,2\n' > "$T/other.csv"
cp "$T/other.csv" "$T/other.orig"
expect_error out_other_schema "other.csv:1: not a results CSV of schema" $B train --max-steps 1 --quiet --out "$T/other.csv"
if cmp -s "$T/other.csv" "$T/other.orig"; then echo "PASS out_other_schema_untouched"; else echo "FAIL out_other_schema_untouched: the file changed"; fi
expect_error out_missing_folder "--out $T/nowhere/r.csv: cannot create" $B train --max-steps 1 --quiet --out "$T/nowhere/r.csv"

if [ -d /usr/share/datasets/fashion-mnist ]; then
    M="--model mlp:784-16-10 --shots 10 --eval-batch 2000"
    # --epochs 0: exit 0, one epoch-0 row with the untrained model's test accuracy and loss
    if $B train $M --epochs 0 --out "$T/e0.csv" --save "$T/w.safetensors" 2> "$T/e0.err"; then
        row=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) c[$i]=i} NR==2{print $c["status"], $c["epoch"], $c["epochs"], $c["steps"], ($c["eval_acc"] != ""), ($c["eval_loss"] != "")}' "$T/e0.csv")
        rows=$(($(wc -l < "$T/e0.csv") - 1))
        if [ "$rows" -eq 1 ] && [ "$row" = "ok 0 0 0 1 1" ]; then echo "PASS epochs_zero_writes_epoch0_row"
        else echo "FAIL epochs_zero_writes_epoch0_row: $rows rows, status/epoch/epochs/steps/acc/loss: $row"; fi
        if grep -q "^epoch 0 (before training): test_loss [0-9]" "$T/e0.err"; then echo "PASS epochs_zero_prints_epoch0"
        else echo "FAIL epochs_zero_prints_epoch0: $(head -c 300 "$T/e0.err")"; fi
        [ -s "$T/w.safetensors" ] && echo "PASS epochs_zero_saves_initial_model" || echo "FAIL epochs_zero_saves_initial_model: no --save file"
    else
        echo "FAIL epochs_zero_runs: $(head -c 300 "$T/e0.err")"
    fi

    # a batch larger than the training split (10 shots x 10 classes = 100 images)
    expect_error batch_above_split "--batch: expected 1..100 (the size of the training split), found 101" \
        $B train $M --batch 101 --max-steps 1 --quiet

    # weights with a NaN or an infinity: the file, the tensor and the element are named.
    # safetensors: 8 bytes of header length HL (little-endian), HL bytes of JSON, then the data;
    # element 3 of fc0.bias lies 12 bytes after the tensor's first data offset.
    if [ -s "$T/w.safetensors" ]; then
        HL=$(od -A n -t u8 -N 8 "$T/w.safetensors" | tr -d ' ')
        off=$(head -c $((8 + HL)) "$T/w.safetensors" | tail -c "$HL" |
              sed -n 's/.*"fc0\.bias":{[^}]*"data_offsets":\[\([0-9]*\),.*/\1/p')
        poke() {  # poke FILE BYTES: the 4 bytes of element 3 of fc0.bias
            cp "$T/w.safetensors" "$1"
            printf "$2" | dd of="$1" bs=1 seek=$((8 + HL + off + 12)) conv=notrunc 2>/dev/null
        }
        poke "$T/nan.safetensors" '\000\000\300\177'   # 0x7fc00000, a quiet NaN
        poke "$T/ninf.safetensors" '\000\000\200\377'  # 0xff800000, -inf
        expect_error weights_nan "nan.safetensors: tensor 'fc0.bias' element 3 is nan; expected finite weights" \
            $B train $M --weights "$T/nan.safetensors" --max-steps 1 --quiet
        expect_error weights_neg_inf "ninf.safetensors: tensor 'fc0.bias' element 3 is -inf" \
            $B train $M --weights "$T/ninf.safetensors" --max-steps 1 --quiet
        expect_error weights_nan_variance "nan.safetensors: tensor 'fc0.bias' element 3 is nan" \
            $B variance $M --method lr --checkpoint "$T/nan.safetensors" --budgets 4 --reps 2 --batches 1
        # control: the unpoked file loads
        if $B train $M --weights "$T/w.safetensors" --max-steps 1 --quiet 2> "$T/err"; then echo "PASS weights_finite_load"
        else echo "FAIL weights_finite_load: $(head -c 300 "$T/err")"; fi
    else
        echo "FAIL weights_fixture: --epochs 0 --save wrote no weights"
    fi
else
    echo "SKIP bad_input_with_data: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
fi
rm -rf "$T"
