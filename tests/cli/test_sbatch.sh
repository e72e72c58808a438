#!/bin/sh
# test_sbatch.sh: bench/slurm/sweep.sbatch without Slurm. Its #SBATCH lines: one task
# (--ntasks=1, which Slurm requires beside a --gpus-per-task given at submission) and no GPU
# by default; the documents it cites exist. Its shard arithmetic, through --dry-run (the
# command it would run) with Slurm's array variables set by hand: every array task of
# --array=0-7, 0-15:2, 3-10 and 5-21:4 gets its own shard I of N = SLURM_ARRAY_TASK_COUNT, and
# the shards are exactly 0..N-1. Negative controls: a task off an evenly stepped range
# (--array=1,2,7), and no array at all, are refused with one line and exit 2.
S=bench/slurm/sweep.sbatch
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if ! command -v bash >/dev/null 2>&1; then
    echo "SKIP sbatch_header: bash not installed"
    exit 0
fi

bad=""
grep -q '^#SBATCH --ntasks=1$' "$S" || bad="$bad no '#SBATCH --ntasks=1';"
g=$(grep -E '^#SBATCH .*(gpu|gres)' "$S")
[ -z "$g" ] || bad="$bad asks for a GPU by default ($g);"
for d in $(grep -o 'docs/[A-Za-z_]*\.md' "$S" | sort -u); do [ -f "$d" ] || bad="$bad cites $d, which does not exist;"; done
grep -q 'docs/[A-Za-z_]*\.md' "$S" || bad="$bad cites no document;"
if [ -z "$bad" ]; then echo "PASS sbatch_header"; else echo "FAIL sbatch_header:$bad"; fi

# shards MIN STEP COUNT ID...: "I/N" for each array task ID, one per line
shards() {
    min=$1; step=$2; count=$3; shift 3
    for id in "$@"; do
        env -i PATH="$PATH" CONFIG=c.conf SLURM_ARRAY_TASK_ID="$id" SLURM_ARRAY_TASK_MIN="$min" \
            SLURM_ARRAY_TASK_STEP="$step" SLURM_ARRAY_TASK_COUNT="$count" bash "$S" --dry-run 2>&1 |
            sed -n 's/.* --shard \([0-9]*\/[0-9]*\) .*/\1/p;/sweep.sbatch:/p'
    done
}
check_array() {  # NAME MIN STEP COUNT ID...
    name=$1; count=$4
    shards "$2" "$3" "$4" $(echo "$@" | cut -d' ' -f5-) >"$T/got"
    i=0; : >"$T/want"
    while [ $i -lt "$count" ]; do echo "$i/$count" >>"$T/want"; i=$((i + 1)); done
    if sort -t/ -k1,1n "$T/got" | cmp -s - "$T/want"; then
        echo "PASS sbatch_shards_$name ($(tr '\n' ' ' <"$T/got"))"
    else
        echo "FAIL sbatch_shards_$name: expected $(tr '\n' ' ' <"$T/want"), found $(tr '\n' ' ' <"$T/got")"
    fi
}
check_array 0-7 0 1 8 0 1 2 3 4 5 6 7
check_array 0-15:2 0 2 8 0 2 4 6 8 10 12 14
check_array 3-10 3 1 8 3 4 5 6 7 8 9 10
check_array 5-21:4 5 4 5 5 9 13 17 21

# refused: IDS 1,2,7 (Slurm: MIN 1, STEP 1, COUNT 3; task 7 is no shard of 3); no array
refused() {  # NAME ENV...
    name=$1; shift
    env -i PATH="$PATH" CONFIG=c.conf "$@" bash "$S" --dry-run >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -s "$T/out" ]; then
        echo "PASS sbatch_refuses_$name ($(cat "$T/err"))"
    else
        echo "FAIL sbatch_refuses_$name: exit $rc (want 2), stdout '$(cat "$T/out")', stderr '$(cat "$T/err")'"
    fi
}
refused uneven_list SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_STEP=1 SLURM_ARRAY_TASK_COUNT=3
refused no_array
refused bad_number SLURM_ARRAY_TASK_ID=x SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_STEP=1 SLURM_ARRAY_TASK_COUNT=3
