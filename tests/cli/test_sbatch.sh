#!/bin/sh
# test_sbatch.sh: bench/slurm/sweep.sbatch without Slurm. Its #SBATCH lines: one task
# (--ntasks=1, which Slurm requires beside a --gpus-per-task given at submission) and no GPU
# by default; the documents it cites exist. Its shard arithmetic, through --dry-run (the
# command it would run) with Slurm's array variables set by hand: every array task of
# --array=0-7, 0-15:2, 3-10 and 5-21:4 gets its own shard I of N = SLURM_ARRAY_TASK_COUNT, and
# the shards are exactly 0..N-1. Negative controls: a task off an evenly stepped range
# (--array=1,2,7), and no array at all, are refused with one line and exit 2.
# bench/slurm/train_multinode.sbatch (one data-parallel train run, docs/SCALING.md), the same
# way: its #SBATCH template (nodes, tasks per node, one GPU per task, CPUs per task) and the
# documents it cites; through --dry-run with SLURM_NTASKS and SLURM_CPUS_PER_TASK set by hand,
# the command is srun running `build/flbench train` with the options given (as arguments or in
# TRAIN_ARGS), --slices is SLURM_NTASKS when not given and kept when given, OMP_NUM_THREADS and
# srun's --cpus-per-task follow SLURM_CPUS_PER_TASK; outside Slurm --dry-run counts the tasks
# of the #SBATCH lines; run for real with a stand-in srun, it runs what --dry-run printed, with
# OMP_NUM_THREADS in its environment. Negative controls: no SLURM_NTASKS without --dry-run, no
# --out, and a task count that is no positive integer are refused with one line and exit 2.
S=bench/slurm/sweep.sbatch
M=bench/slurm/train_multinode.sbatch
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

# train_multinode.sbatch
bad=""
for o in nodes ntasks-per-node cpus-per-task; do
    grep -q "^#SBATCH --$o=[1-9][0-9]*\$" "$M" || bad="$bad no '#SBATCH --$o=N';"
done
grep -q '^#SBATCH --gpus-per-task=1$' "$M" || bad="$bad no '#SBATCH --gpus-per-task=1';"
for d in $(grep -o 'docs/[A-Za-z_]*\.md' "$M" | sort -u); do [ -f "$d" ] || bad="$bad cites $d, which does not exist;"; done
grep -q 'docs/[A-Za-z_]*\.md' "$M" || bad="$bad cites no document;"
if [ -z "$bad" ]; then echo "PASS multinode_header"; else echo "FAIL multinode_header:$bad"; fi

TA="--dataset fashion-mnist --method lr --budget 16 --seed 3 --out results/runs/dp.csv"
# dry ENV... -- ARGS...: the dry run's output in $T/dry (the command is its last line), stderr in $T/dry.err
dry() {
    envs=""
    while [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    shift
    # shellcheck disable=SC2086  # NAME=VALUE words without blanks
    env -i PATH="$PATH" $envs bash "$M" --dry-run "$@" >"$T/dry" 2>"$T/dry.err"
}
cmdline() { tail -n 1 "$T/dry"; }
check() {  # NAME CONDITION-STATUS WHAT
    if [ "$2" -eq 0 ]; then echo "PASS multinode_$1 ($(cmdline))"; else echo "FAIL multinode_$1: $3; output '$(tr '\n' '|' <"$T/dry")', stderr '$(tr '\n' '|' <"$T/dry.err")'"; fi
}
# shellcheck disable=SC2086
dry SLURM_NTASKS=16 SLURM_CPUS_PER_TASK=4 -- $TA
c=$(cmdline)
case "$c" in
"srun "*" build/flbench train $TA --slices 16") ok=0 ;;
*) ok=1 ;;
esac
check srun $ok "expected 'srun ... build/flbench train $TA --slices 16'"
n=$(echo "$c" | grep -o -- ' --slices [0-9]*' | wc -l)
[ "$n" -eq 1 ] && echo "$c" | grep -q -- ' --slices 16$'
check slices_default $? "expected one '--slices 16' (SLURM_NTASKS=16)"
grep -qx 'export OMP_NUM_THREADS=4' "$T/dry" && echo "$c" | grep -q -- '^srun .*--cpus-per-task=4 .*build/flbench train '
check threads_4 $? "expected 'export OMP_NUM_THREADS=4' and srun --cpus-per-task=4 (SLURM_CPUS_PER_TASK=4)"
# shellcheck disable=SC2086
dry SLURM_NTASKS=3 SLURM_CPUS_PER_TASK=6 -- $TA
grep -qx 'export OMP_NUM_THREADS=6' "$T/dry" && cmdline | grep -q -- '--cpus-per-task=6 .* --slices 3$'
check threads_6 $? "expected 'export OMP_NUM_THREADS=6', --cpus-per-task=6 and --slices 3"
# shellcheck disable=SC2086
dry SLURM_NTASKS=16 SLURM_CPUS_PER_TASK=4 -- $TA --slices 32
[ "$(cmdline | grep -o -- '--slices [0-9]*' | tr '\n' ' ')" = "--slices 32 " ]
check slices_given $? "expected --slices 32 kept, and no other --slices"
# shellcheck disable=SC2086
dry SLURM_NTASKS=16 -- $TA --slices=64
cmdline | grep -q -- ' --slices=64$' && ! cmdline | grep -q -- '--slices [0-9]'
check slices_given_eq $? "expected --slices=64 kept, and no other --slices"
env -i PATH="$PATH" SLURM_NTASKS=8 TRAIN_ARGS="$TA" bash "$M" --dry-run --epochs 1 >"$T/dry" 2>"$T/dry.err"
cmdline | grep -q -- " build/flbench train $TA --epochs 1 --slices 8\$"
check train_args $? "expected TRAIN_ARGS, then the arguments, then --slices 8"
# outside Slurm: the #SBATCH lines' nodes x tasks per node, and their CPUs per task
want=$(( $(sed -n 's/^#SBATCH --nodes=//p' "$M") * $(sed -n 's/^#SBATCH --ntasks-per-node=//p' "$M") ))
wantc=$(sed -n 's/^#SBATCH --cpus-per-task=//p' "$M")
# shellcheck disable=SC2086
dry -- $TA
cmdline | grep -q -- " --slices $want\$" && grep -qx "export OMP_NUM_THREADS=$wantc" "$T/dry"
check dry_run_template $? "expected --slices $want and OMP_NUM_THREADS=$wantc from the #SBATCH lines"

# run for real in a scratch folder, with a stand-in srun that records its arguments and
# OMP_NUM_THREADS, and a stand-in build/flbench
mkdir -p "$T/run/build" "$T/bin"
printf '#!/bin/sh\nexit 0\n' >"$T/run/build/flbench"
# shellcheck disable=SC2016  # the stand-in's own $OMP_NUM_THREADS and $*
printf '#!/bin/sh\necho "OMP_NUM_THREADS=$OMP_NUM_THREADS" >"%s/srun.env"\necho "srun $*" >"%s/srun.argv"\n' "$T" "$T" >"$T/bin/srun"
chmod +x "$T/run/build/flbench" "$T/bin/srun"
ABS_M=$(pwd)/$M
# shellcheck disable=SC2086
dry SLURM_NTASKS=16 SLURM_CPUS_PER_TASK=4 FL_MODULES= -- $TA
# shellcheck disable=SC2086
(cd "$T/run" && env -i PATH="$T/bin:$PATH" SLURM_NTASKS=16 SLURM_CPUS_PER_TASK=4 FL_MODULES= bash "$ABS_M" $TA >"$T/run.out" 2>"$T/run.err")
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/srun.argv" 2>/dev/null)" = "$(cmdline)" ] && grep -qx 'OMP_NUM_THREADS=4' "$T/srun.env" 2>/dev/null &&
    [ -d "$T/run/results/runs" ]; then
    echo "PASS multinode_exec (ran '$(cat "$T/srun.argv")' with $(cat "$T/srun.env"))"
else
    echo "FAIL multinode_exec: exit $rc, srun got '$(cat "$T/srun.argv" 2>/dev/null)' with '$(cat "$T/srun.env" 2>/dev/null)', --dry-run printed '$(cmdline)', stderr '$(tr '\n' '|' <"$T/run.err")'"
fi

mrefused() {  # NAME DRY(0|1) ENV... -- ARGS...
    name=$1; d=$2; shift 2
    envs=""
    while [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    shift
    flag=""; [ "$d" -eq 1 ] && flag=--dry-run
    rm -f "$T/srun.argv"
    # shellcheck disable=SC2086
    (cd "$T/run" && env -i PATH="$T/bin:$PATH" FL_MODULES= $envs bash "$ABS_M" $flag "$@" >"$T/out" 2>"$T/err")
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -s "$T/out" ] && [ ! -f "$T/srun.argv" ]; then
        echo "PASS multinode_refuses_$name ($(cat "$T/err"))"
    else
        ran=""; [ -f "$T/srun.argv" ] && ran=", and srun ran"
        echo "FAIL multinode_refuses_$name: exit $rc (want 2)$ran, stdout '$(tr '\n' '|' <"$T/out")', stderr '$(tr '\n' '|' <"$T/err")'"
    fi
}
# shellcheck disable=SC2086
mrefused no_ntasks 0 -- $TA
mrefused no_out 1 SLURM_NTASKS=16 -- --dataset fashion-mnist --method lr
mrefused out_without_value 1 SLURM_NTASKS=16 -- --method lr --out
# shellcheck disable=SC2086
mrefused zero_ntasks 1 SLURM_NTASKS=0 -- $TA
