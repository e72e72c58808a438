#!/bin/sh
# test_mpi.sh: data-parallel training over MPI (docs/SCALING.md), on the Fashion-MNIST files,
# with Open MPI's mpirun, --oversubscribe and one thread per rank:
#  - equal rows: mpirun -np 1, 2 and 3 with --slices 6 give the same non-timing columns, bit for
#    bit, for bp, mezo, spsa1, lr-uniform and lr-flops on an MLP and on vit-tiny; and so does a
#    plain run (no launcher) with --slices 6;
#  - negative controls the comparison must reject: another seed, and another number of slices
#    (the numbers depend on the slices, so equality is not that of a trivial computation);
#  - the bytes reduced per step match the formula: 4 x trainable parameters for lr (the MLP's
#    weights, biases and log sigmas) and bp, 4 x K direction scalars for mezo and spsa1;
#  - with one slice a run writes 0 reduced bytes and world_size 1; --slices below the world
#    size is refused on rank 0 with one line and exit 2;
#  - faults: a rank that fails at start-up (an unreadable --weights on one rank only) ends
#    the job with one line naming that rank; a rank killed mid-run ends its sweep cell as
#    failed, and the sweep run again with --retry-failed completes it with no lost or
#    duplicated row.
# CI runs as root: Open MPI's allow-run-as-root variables are set here, for these runs only.
B=${FLBENCH:-build/flbench}
B=$(cd "$(dirname "$B")" && pwd)/$(basename "$B")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if ! command -v mpirun >/dev/null 2>&1; then echo "SKIP mpi: mpirun not installed (make deps installs openmpi-bin)"; exit 0; fi
if ! $B --version | grep -q ', MPI)'; then echo "SKIP mpi: $B was built without MPI ($($B --version))"; exit 0; fi
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "SKIP mpi: no Fashion-MNIST files"; exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then echo "SKIP mpi: no python3 (it compares the CSVs)"; exit 0; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPIRUN="mpirun --oversubscribe --bind-to none"

# cmp.py A B: "same" when the non-timing columns of two results CSVs agree on every row, else
# the first difference
cat > "$T/cmp.py" <<'EOF'
import csv, sys
timing = {"timestamp", "host", "wall_s", "step_ms", "t_clean_ms", "t_alloc_ms", "t_forward_ms", "t_grad_ms",
          "t_update_ms", "t_comm_ms", "comm_bytes", "peak_rss_mb", "peak_dev_mb", "peak_model_mb", "world_size"}
a, b = (list(csv.DictReader(open(f))) for f in sys.argv[1:3])
if len(a) != len(b) or not a:
    print(f"{len(a)} rows against {len(b)}"); sys.exit(0)
for i, (ra, rb) in enumerate(zip(a, b)):
    for c in ra:
        if c not in timing and ra[c] != rb.get(c):
            print(f"row {i + 1} {c}: {ra[c]} against {rb.get(c)}"); sys.exit(0)
print("same")
EOF
# field F COL: the column of the last row
field() { python3 -c "import csv,sys; print(list(csv.DictReader(open(sys.argv[1])))[-1][sys.argv[2]])" "$1" "$2"; }

COMMON="--dataset fashion-mnist --shots 4 --val-per-class 2 --batch 12 --epochs 2 --max-steps 4 --eval-batch 7 --threads 1 --quiet"
# run DIR NP ARGS...: in DIR (so that --out and so config are the same text), NP ranks (0: no launcher)
run() {
    dir=$1; np=$2; shift 2
    mkdir -p "$dir"
    if [ "$np" = 0 ]; then (cd "$dir" && $B train "$@" --out r.csv) > "$dir/log" 2>&1
    else (cd "$dir" && timeout 300 $MPIRUN -np "$np" $B train "$@" --out r.csv) > "$dir/log" 2>&1; fi
}

for model in mlp:784-24-10 vit-tiny; do
    mname=${model%%:*}
    for m in "bp uniform 1" "mezo uniform 8" "spsa1 uniform 8" "lr uniform 8" "lr flops 8"; do
        set -- $m
        name="equal_${mname}_$1_$2"
        args="$COMMON --model $model --method $1 --allocator $2 --budget $3 --seed 5 --slices 6"
        bad=""
        for np in 0 1 2 3; do
            run "$T/$name/np$np" "$np" $args || bad="$bad np $np failed ($(tail -1 "$T/$name/np$np/log"));"
        done
        if [ -z "$bad" ]; then
            for np in 1 2 3; do
                r=$(python3 "$T/cmp.py" "$T/$name/np0/r.csv" "$T/$name/np$np/r.csv")
                [ "$r" = same ] || bad="$bad np $np: $r;"
            done
        fi
        if [ -z "$bad" ]; then pass "$name"; else fail "$name" "$bad"; fi
    done
done

# negative controls on lr-flops, MLP: another seed, another slice count
args="$COMMON --model mlp:784-24-10 --method lr --allocator flops --budget 8"
run "$T/neg_seed" 2 $args --seed 6 --slices 6
r=$(python3 "$T/cmp.py" "$T/equal_mlp_lr_flops/np0/r.csv" "$T/neg_seed/r.csv")
if [ "$r" != same ] && [ -s "$T/neg_seed/r.csv" ]; then pass "equal_rejects_other_seed"; else fail equal_rejects_other_seed "compared as: $r"; fi
run "$T/neg_slices" 3 $args --seed 5 --slices 3
r=$(python3 "$T/cmp.py" "$T/equal_mlp_lr_flops/np0/r.csv" "$T/neg_slices/r.csv")
if [ "$r" != same ] && [ -s "$T/neg_slices/r.csv" ]; then pass "equal_rejects_other_slices"; else fail equal_rejects_other_slices "compared as: $r"; fi

# bytes reduced per step: mlp:784-24-10 has 784*24+24 + 24*10+10 weights and biases and 24+10
# log sigmas (lr learns them; bp has none trainable)
P_W=$((784 * 24 + 24 + 24 * 10 + 10)); P_S=$((24 + 10))
check_bytes() {  # NAME DIR EXPECTED
    got=$(field "$2/r.csv" reduce_bytes)
    if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "reduce_bytes $got, expected $3"; fi
}
check_bytes bytes_lr "$T/equal_mlp_lr_uniform/np2" $((4 * (P_W + P_S)))
check_bytes bytes_bp "$T/equal_mlp_bp_uniform/np2" $((4 * P_W))
# mezo: budget 8, no clean pass: 8 / 2 = 4 directions per datum, K = 4; spsa1: a clean pass,
# then 8 - 1 = 7 one-query directions per datum, K = 7
check_bytes bytes_mezo "$T/equal_mlp_mezo_uniform/np2" 16
check_bytes bytes_spsa1 "$T/equal_mlp_spsa1_uniform/np2" 28
ws=$(field "$T/equal_mlp_lr_uniform/np3/r.csv" world_size); cb=$(field "$T/equal_mlp_lr_uniform/np3/r.csv" comm_bytes)
if [ "$ws" = 3 ] && [ "${cb%.*}" -gt 0 ]; then pass world_size_and_comm_bytes; else fail world_size_and_comm_bytes "world_size $ws, comm_bytes $cb"; fi
run "$T/one_slice" 0 $COMMON --model mlp:784-24-10 --method lr --budget 8
rb=$(field "$T/one_slice/r.csv" reduce_bytes); ws=$(field "$T/one_slice/r.csv" world_size)
if [ "$rb" = 0 ] && [ "$ws" = 1 ]; then pass one_slice_no_reduction; else fail one_slice_no_reduction "reduce_bytes $rb, world_size $ws"; fi

# too few slices: rank 0 says so in one line, exit 2 (mpirun passes on the first non-zero status)
mkdir -p "$T/few"
(cd "$T/few" && timeout 120 $MPIRUN -np 2 $B train $COMMON --model mlp:784-24-10 --slices 1 --out r.csv) > "$T/few/out" 2> "$T/few/err"
rc=$?
n=$(grep -c 'slices 1: a run on 2 ranks needs at least 2 slices' "$T/few/err")
if [ "$rc" = 2 ] && [ "$n" = 1 ]; then pass few_slices_refused; else fail few_slices_refused "exit $rc, $n lines: $(head -3 "$T/few/err")"; fi

# a rank that cannot start: rank 1's --weights is a file it cannot read (a wrapper gives rank 1
# another path), so the job ends with one line naming rank 1, and rank 0 records it
cat > "$T/wrap.sh" <<EOF
#!/bin/sh
w=/nonexistent/rank\${OMPI_COMM_WORLD_RANK}.safetensors
[ "\$OMPI_COMM_WORLD_RANK" = 0 ] && w=$T/ok.safetensors
exec $B train $COMMON --model mlp:784-24-10 --slices 2 --weights "\$w" --out $T/start/r.csv
EOF
chmod +x "$T/wrap.sh"
mkdir -p "$T/start"
$B train $COMMON --model mlp:784-24-10 --method bp --budget 1 --max-steps 1 --epochs 1 --save "$T/ok.safetensors" > /dev/null 2>&1
timeout 120 $MPIRUN -np 2 "$T/wrap.sh" > "$T/start/out" 2> "$T/start/err"
rc=$?
n=$(grep -c 'flbench train: rank 1 of 2: .*rank1.safetensors' "$T/start/err")
n0=$(grep -c 'flbench train: rank 0' "$T/start/err")
st=$(field "$T/start/r.csv" status 2>/dev/null)
msg=$(field "$T/start/r.csv" message 2>/dev/null)
if [ "$rc" != 0 ] && [ "$n" = 1 ] && [ "$n0" = 0 ] && [ "$st" != ok ] && echo "$msg" | grep -q "rank 1 of 2"; then pass rank_start_failure_named
else fail rank_start_failure_named "exit $rc, $n lines of rank 1, $n0 of rank 0, row '$st' '$msg': $(head -3 "$T/start/err")"; fi

# a rank killed mid-run: a sweep of two cells on 2 ranks each; rank 1 of the first cell is
# killed once that cell has written a row (200 epochs, a few seconds: long enough that the
# kill lands before the last row); --retry-failed then completes the sweep
cat > "$T/sw.conf" <<EOF
name dp
set dataset fashion-mnist
set model mlp:784-24-10
set shots 10
set val-per-class 2
set batch 10
set epochs 200
set eval-batch 7
set threads 1
set slices 2
set method lr
set budget 8
axis seed 0 1
EOF
( cd "$T" && $B sweep sw.conf --out sw --ranks 2 --launcher "mpirun --oversubscribe --bind-to none -np" --no-progress > sw1.log 2>&1 ) &
sweep_pid=$!
killed=""
for i in $(seq 1 600); do
    rows=$(cat "$T"/sw/.tmp/*.csv 2>/dev/null | wc -l)
    if [ "$rows" -ge 2 ]; then  # the header and a row of the first cell
        for p in $(pgrep -f "$B sweep --cell"); do
            if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then kill -9 "$p" && killed=$p; fi
        done
        [ -n "$killed" ] && break
    fi
    sleep 0.1
done
wait $sweep_pid
( cd "$T" && $B sweep sw.conf --out sw --ranks 2 --launcher "mpirun --oversubscribe --bind-to none -np" --retry-failed --no-progress > sw2.log 2>&1 )
rc2=$?
res=$(python3 - "$T/sw/dp.csv" <<'EOF'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1])))
by = collections.defaultdict(list)
for r in rows: by[r["cell_key"]].append(r)
bad = [k for k, v in by.items() if [r["epoch"] for r in v] != [str(e) for e in range(1, 201)] or v[-1]["status"] != "ok" or v[-1]["final"] != "1"]
print("ok" if len(by) == 2 and not bad else f"{len(by)} cells, wrong: {[(k, [(r['epoch'], r['status']) for r in by[k]]) for k in bad]}")
EOF
)
first=$(grep -c "failed .*rank 1" "$T/sw1.log")  # the launcher's line naming the rank
if [ -n "$killed" ] && [ "$rc2" = 0 ] && [ "$res" = ok ] && [ "$first" -ge 1 ]; then pass rank_killed_sweep_resumes
else fail rank_killed_sweep_resumes "killed '$killed', rerun exit $rc2, rows: $res; $(tail -2 "$T/sw1.log")"; fi
