#!/bin/sh
# test_cli_hints.sh: the command line helps with mistakes: a mistyped command or option gets
# one line with "did you mean" and the nearest known name (and none when nothing is near;
# a mistyped subcommand of data no longer runs inspect),
# `flbench --version` prints what `flbench version` does, the help texts of `train --help`
# start in one column, and `model forward --weights` on a missing path says it does not exist.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# expect_error NAME NEEDLE COMMAND...: status 2, one stderr line containing NEEDLE
expect_error() {
    name=$1; needle=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then pass "$name"
    else fail "$name" "status $rc, $lines lines, expected '$needle' in: $(head -c 400 "$T/err")"; fi
}
# expect_no_hint NAME COMMAND...: status 2, one line, no suggestion
expect_no_hint() {
    name=$1; shift
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && ! grep -q "did you mean" "$T/err"; then pass "$name"
    else fail "$name" "status $rc, $lines lines: $(head -c 400 "$T/err")"; fi
}

expect_error hint_command_swap "unknown command 'trian' (did you mean 'train'? see flbench --help)" $B trian
expect_error hint_command_extra "did you mean 'sweep'?" $B sweeep
expect_error hint_command_missing "did you mean 'report'?" $B reprt
expect_no_hint hint_command_none $B frobnicate
# a subcommand of data: refused (it used to run inspect), with the nearest one
expect_error hint_data_subcommand "flbench data: unknown subcommand 'exprot' (did you mean 'export'? expected fetch" \
    $B data exprot fashion-mnist --data-root "$T/none"
expect_no_hint hint_data_subcommand_none $B data frobnicate fashion-mnist --data-root "$T/none"
# options: train's table, the data tables and a command's own table
N="--dataset cifar10 --data-root $T/none"
expect_error hint_option_swap "unknown option '--bugdet' (did you mean '--budget'? see flbench train --help)" $B train --bugdet 3 $N
expect_error hint_option_typo "did you mean '--allocator'?" $B train --alocator flops $N
expect_error hint_option_value_form "did you mean '--epochs'?" $B train --epoch=2 $N
expect_error hint_option_data "did you mean '--data-root'?" $B data list --data-rot "$T"
expect_error hint_option_model "did you mean '--weights'?" $B model forward --wieghts x
expect_no_hint hint_option_none $B train --bogus 1 $N

# --version: exit 0, the same line as `flbench version`
v1=$($B version 2>&1); r1=$?
v2=$($B --version 2>&1); r2=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ -n "$v2" ] && [ "$v1" = "$v2" ]; then pass version_option
else fail version_option "version: $r1 '$v1', --version: $r2 '$v2'"; fi

# train --help: every help text starts in the same column (two spaces after the longest option)
$B train --help > "$T/help" 2>&1
cols=$(awk 'NR > 1 && /^  --/ { line = $0; sub(/^  --[^ ]+( [^ ]+)*  +/, "", line); print length($0) - length(line) }' "$T/help" | sort -u)
n_opts=$(grep -c '^  --' "$T/help")
if [ "$n_opts" -gt 20 ] && [ "$(printf '%s\n' "$cols" | wc -l)" -eq 1 ]; then pass help_columns_aligned
else fail help_columns_aligned "$n_opts options, help texts start at columns: $(echo $cols)"; fi

# model forward --weights on a path that does not exist: says so, not "directory has no ..."
printf '\223NUMPY\001\000v\000' > "$T/x.npy"
expect_error weights_missing_path "--weights $T/nonexistent: no such file or directory" \
    $B model forward --weights "$T/nonexistent" --input "$T/x.npy" --out "$T/o.npy"
if grep -q "directory has no" "$T/err"; then fail weights_missing_path_not_dir "$(cat "$T/err")"
else pass weights_missing_path_not_dir; fi
rm -rf "$T"
