#!/bin/sh
# run.sh BUILD SECONDS NAME...: runs the harness BUILD/fuzz_NAME of each parser NAME:
#  1. every committed regression input tests/fuzz/regress/NAME/* and every seed
#     tests/fuzz/seeds/NAME/*, once each (also when SECONDS is 0);
#  2. SECONDS of fuzzing from them, the corpus growing in BUILD/corpus/NAME.
# A crash, a leak, undefined behaviour, an input over 20 s or 2 GB fails the parser; its input
# is kept as BUILD/crash/NAME-* (the reproducer) and named in a FAIL line. Ends with
# "fuzz: N passed, N failed"; exits 1 if any failed.
set -u
# the finding's kind and its frames in the project's code (not libFuzzer's or the sanitizers')
excerpt() {
    grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x[0-9a-f]+ in [A-Za-z_0-9]+ [^(]*(impl|datasets|bench|tests)/' "$1" |
        grep -v 'in fuzzer::\|in __sanitizer\|in __asan' | head -"$2" | sed 's/^/    /'
}
BUILD=$1; SECS=$2; shift 2
TMPDIR=$(mktemp -d)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
mkdir -p "$BUILD/crash"
LOG="$TMPDIR/log"
OPTS="-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 -print_final_stats=0"
pass=0; fail=0
for name in "$@"; do
    bin="$BUILD/fuzz_$name"
    ok=1
    # 1. each regression input and seed once (a file argument runs once, no fuzzing)
    n_once=0
    for f in tests/fuzz/regress/"$name"/* tests/fuzz/seeds/"$name"/*; do
        [ -f "$f" ] || continue
        case "$(basename "$f")" in README*|.*) continue ;; esac
        n_once=$((n_once + 1))
        if ! "$bin" $OPTS "$f" >"$LOG" 2>&1; then
            echo "FAIL fuzz_$name: $f crashes:"
            excerpt "$LOG" 12
            ok=0
        fi
    done
    # 2. fuzzing
    runs=""
    if [ "$ok" = 1 ] && [ "$SECS" -gt 0 ]; then
        corpus="$BUILD/corpus/$name"
        mkdir -p "$corpus"
        dirs=""
        for d in tests/fuzz/seeds/"$name" tests/fuzz/regress/"$name"; do [ -d "$d" ] && dirs="$dirs $d"; done
        if "$bin" $OPTS -max_total_time="$SECS" -artifact_prefix="$BUILD/crash/$name-" \
               "$corpus" $dirs >"$LOG" 2>&1; then
            runs=", $(grep -o 'Done [0-9]* runs' "$LOG" | tail -1 | sed 's/Done //')"
        else
            art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$LOG" | tail -1)
            echo "FAIL fuzz_$name: fuzzing found a crash; reproducer: ${art:-(see below)}"
            excerpt "$LOG" 16
            ok=0
        fi
    fi
    if [ "$ok" = 1 ]; then
        echo "PASS fuzz_$name ($n_once inputs once$runs)"
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
