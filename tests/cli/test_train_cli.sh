#!/bin/sh
# test_train_cli.sh: `flbench train` end to end on the real Fashion-MNIST files: bad options
# give one line and exit 2; a run writes rows with the documented schema; an --out file that a
# killed run left with a torn last row (or a header cut short) is repaired before appending;
# results/SCHEMA.md is what `flbench schema` prints. More bad input: test_bad_input.sh.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# one line, exit 2, naming the option
check_bad() {
    name=$1; shift
    out=$($B train "$@" 2>&1 >/dev/null); rc=$?
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ]; then pass "$name"; else fail "$name" "rc=$rc, $lines lines: $out"; fi
}
check_bad cli_unknown_option --bogus 1
check_bad cli_bad_integer --budget x
check_bad cli_bad_choice --pairs sideways
# the spend rule: a clean pass and one antithetic pair need 3 queries per datum per step
check_bad cli_budget_below_minimum --budget 2 --max-steps 1
check_bad cli_unknown_model --model resnet --max-steps 1
check_bad cli_unknown_allocator --allocator magic --max-steps 1
check_bad cli_bad_scope --scope attn:last:x --max-steps 1
check_bad cli_missing_dataset --dataset cifar10 --data-root "$T/none" --max-steps 1
check_bad cli_bad_classes --classes 7-3

if [ -d /usr/share/datasets/fashion-mnist ]; then
    if $B train --method lr --allocator flops --budget 4 --batch 32 --max-steps 4 --eval-batch 1000 --quiet --out "$T/r.csv"; then
        header=$(head -1 "$T/r.csv")
        expected=$($B schema | awk -F'`' '/^\| [0-9]/ {printf "%s%s", sep, $2; sep=","}')
        if [ "$header" = "$expected" ]; then pass cli_csv_header_is_schema; else fail cli_csv_header_is_schema "$header"; fi
        rows=$(($(wc -l < "$T/r.csv") - 1))
        if [ $rows -eq 1 ]; then pass cli_one_row_per_epoch; else fail cli_one_row_per_epoch "$rows rows"; fi
        q=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="queries") c=i} NR==2{print $c}' "$T/r.csv")
        # the spend rule: 4 steps x 32 data x budget 4 = 512 queries (32 clean + 96 perturbed a step)
        if [ "$q" = "512" ]; then pass cli_queries_accounted; else fail cli_queries_accounted "queries=$q, expected 512"; fi
    else
        fail cli_train_runs "flbench train failed"
    fi
    # a torn --out: a run killed inside a row left the file's last line without its newline.
    # The next run cuts that incomplete row off, says so in one line, and appends whole rows:
    # every row keeps the header's field count, and the rows before the torn one are unchanged.
    M="--model mlp:784-16-10 --shots 10 --batch 50 --eval-batch 2000 --quiet"
    if $B train $M --epochs 3 --out "$T/full.csv"; then
        size=$(wc -c < "$T/full.csv"); last=$(tail -n 1 "$T/full.csv" | wc -c)
        head -c $((size - last / 2)) "$T/full.csv" > "$T/torn.csv"  # half of the third row, no newline
        head -n 3 "$T/full.csv" > "$T/whole.csv"                    # the header and the two whole rows
        $B train $M --epochs 2 --out "$T/torn.csv" 2> "$T/torn.err"; rc=$?
        nf=$(head -n 1 "$T/torn.csv" | awk -F, '{print NF}')
        bad=$(awk -F, -v nf="$nf" 'NF != nf {n++} END {print n + 0}' "$T/torn.csv")
        rows=$(($(wc -l < "$T/torn.csv") - 1))
        if [ $rc -eq 0 ] && [ "$bad" -eq 0 ] && [ "$rows" -eq 4 ] && [ "$(tail -c 1 "$T/torn.csv" | od -A n -c | tr -d ' ')" = '\n' ]
        then pass cli_torn_out_repaired; else fail cli_torn_out_repaired "status $rc, $rows rows (expected 2 kept + 2 new), $bad with other than $nf fields"; fi
        if head -n 3 "$T/torn.csv" | cmp -s - "$T/whole.csv"; then pass cli_torn_out_keeps_whole_rows
        else fail cli_torn_out_keeps_whole_rows "the rows before the torn one changed"; fi
        if [ "$(wc -l < "$T/torn.err")" -eq 1 ] && grep -q "torn.csv:4: dropped an incomplete last row" "$T/torn.err"
        then pass cli_torn_out_said_once; else fail cli_torn_out_said_once "$(head -c 300 "$T/torn.err")"; fi
        # a header cut short before its newline: the file starts again
        head -c 40 "$T/full.csv" > "$T/head.csv"
        $B train $M --epochs 1 --out "$T/head.csv" 2> "$T/head.err"; rc=$?
        if [ $rc -eq 0 ] && [ "$(head -n 1 "$T/head.csv")" = "$(head -n 1 "$T/full.csv")" ] && [ "$(wc -l < "$T/head.csv")" -eq 2 ] &&
           grep -q "head.csv: dropped a header cut short" "$T/head.err"
        then pass cli_torn_header_restarted; else fail cli_torn_header_restarted "status $rc: $(head -c 300 "$T/head.err")"; fi
    else
        fail cli_torn_out_setup "flbench train failed"
    fi
else
    echo "SKIP cli_train_runs: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
fi

if $B schema | cmp -s - results/SCHEMA.md; then pass cli_schema_md_current; else fail cli_schema_md_current "results/SCHEMA.md differs from 'flbench schema' (regenerate it)"; fi
rm -rf "$T"
if $B variance --schema | cmp -s - results/SCHEMA_VARIANCE.md; then pass cli_variance_schema_md_current; else fail cli_variance_schema_md_current "results/SCHEMA_VARIANCE.md differs from 'flbench variance --schema'"; fi
