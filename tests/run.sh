#!/bin/sh
# run.sh: runs every test executable given as an argument and the shell tests in tests/cli/,
# counts their PASS/FAIL/SKIP lines, and ends with "N passed, N failed, N skipped".
# An executable that crashes or exits non-zero without printing a FAIL line counts as a failure.
pass=0; fail=0; skip=0
log=$(mktemp)
run_one() {
    name=$1; shift
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited with status $rc"
        fail=$((fail + 1))
    fi
}
for t in "$@"; do
    run_one "$(basename "$t")" "$t"
done
for t in tests/cli/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" sh "$t"
done
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
