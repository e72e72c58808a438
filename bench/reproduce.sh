#!/bin/sh
# reproduce.sh: what `make reproduce` and `make plots` run (see docs/SWEEPS.md).
#   sh bench/reproduce.sh default     Fashion-MNIST on this machine's CPU (<= 45 min on 2 cores)
#   sh bench/reproduce.sh quick       the same, cut down (< 5 min)
#   sh bench/reproduce.sh paper       the paper's grid on a GPU (ViT-B/16, seven datasets)
#   sh bench/reproduce.sh paper-check what the paper's grid needs and is missing, with the
#                                     commands that fetch it (exit 2 when anything is); runs nothing
#   sh bench/reproduce.sh plots DIR FIGDIR [CSV...]   report and figures from the CSV in DIR (and CSV...)
# Every step is resumable: a killed run started again skips the finished cells. The sweeps'
# CSV, logs and REPORT.md go to results/reproduce[/quick|/paper]; figures to results/figures
# (default) or DIR/figures.
set -e
B=${FLBENCH:-build/flbench}
[ -x "$B" ] || { echo "reproduce.sh: $B not built (run make)" >&2; exit 2; }

plots() {  # DIR FIGDIR [extra CSV...]
    dir=$1; figs=$2; shift 2
    "$B" report "$dir" "$@" --figures "$figs"
    if command -v gnuplot >/dev/null 2>&1; then
        # the report's figure scripts: those that load plots/common.gp (others, e.g. the
        # benchmark figures of make bench, read other data)
        for g in $(grep -l -e 'load "plots/common.gp"' -e 'load "plots/var_common.gp"' plots/*.gp) plots/var_alloc.gp; do
            gnuplot -e "datadir='$dir/plotdata'; figdir='$figs'" "$g" 2>&1 | grep -v -e '^Warning: empty' -e 'no valid points' >&2 || true
        done
        echo "reproduce.sh: figures in $figs/"
    else
        echo "reproduce.sh: gnuplot not installed: no figures (apt-get install gnuplot-nox)" >&2
    fi
}

# sweep CONFIG OUT: the sweep's cells as JOBS shards at once (default: one per core), each cell
# on one thread, then merged into OUT/NAME.csv (flbench merge checks that no cell is missing).
# The default tasks' models are small: one thread per cell wastes nothing on synchronisation,
# and the cores run cells side by side. Measured on the 2-core machine (Intel Xeon, model 207)
# with seed 0 of each task: fmnist-mlp 232 s as one sweep on 2 threads, 61 s as 2 shards of 1
# thread; fmnist-vit-fewshot 250 s and 54 s; fmnist-mlp-noisy 55 s and 18 s (the first figures
# also with OpenBLAS's generic kernels, see bench/flbench.c). JOBS=1 runs the plain sweep.
# Resumable like the sweep itself: each shard skips its finished cells.
sweep() {
    conf=$1; sout=$2
    name=$(sed -n 's/^name  *//p' "$conf")
    jobs=${JOBS:-$(nproc 2>/dev/null || echo 1)}
    if [ "$jobs" -le 1 ]; then
        "$B" sweep "$conf" --out "$sout"
        return
    fi
    mkdir -p "$sout/logs"
    echo "reproduce.sh: $name as $jobs shards of one thread each (logs: $sout/logs/$name.shard-*.log)"
    pids=""
    i=0
    while [ $i -lt "$jobs" ]; do
        OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$B" sweep "$conf" --out "$sout" --shard "$i/$jobs" --no-progress \
            >"$sout/logs/$name.shard-$i.log" 2>&1 &
        pids="$pids $!"
        i=$((i + 1))
    done
    rc=0
    for p in $pids; do wait "$p" || rc=1; done
    grep -h 'ran .* cells' "$sout/logs/$name".shard-*.log || true
    [ $rc -eq 0 ] || { echo "reproduce.sh: a shard of $name failed (see $sout/logs/$name.shard-*.log)" >&2; exit 1; }
    "$B" merge "$sout/$name.csv" "$sout/$name".shard-*-of-"$jobs".csv --config "$conf"
}

# pretrain CONFIG CHECKPOINT OUT: the BP checkpoint a fine-tuning sweep starts from, made once
# (kept in results/reproduce/cache/; the pretraining row goes to OUT with the other results).
pretrain() {
    if [ -f "$2" ]; then
        echo "reproduce.sh: reusing the pretrained checkpoint $2"
        return
    fi
    # a finished pretraining cell whose checkpoint was deleted: run it again
    "$B" sweep "$1" --out "$3" --dry-run | grep -q ' done ' && rm -f "$3/$(sed -n 's/^name  *//p' "$1").csv"
    "$B" sweep "$1" --out "$3"
    [ -f "$2" ] || { echo "reproduce.sh: pretraining did not write $2 (see $3/logs/)" >&2; exit 1; }
}

# variance OUT REPS BATCHES BUDGETS: the estimator-quality study (flbench variance, issue 7)
# on both default models, into OUT/variance/ (the report's estimator-quality section and the
# var_*.gp figures read it). Each study runs once: a marker file says it finished.
variance() {
    vd=$1/variance; reps=$2; nb=$3; budgets=$4
    mkdir -p "$vd" results/reproduce/cache
    # model states: the MLP after one epoch of BP (a mid-training checkpoint), and the ViT
    # pretrained on classes 0-4, where the few-shot fine-tuning starts
    mlp_ck=results/reproduce/cache/fmnist-mlp-1epoch.safetensors
    [ -f "$mlp_ck" ] || "$B" train --method bp --model mlp:784-64-64-10 --epochs 1 --batch 128 --lr 3e-3 --seed 0 \
        --save "$mlp_ck" --quiet --no-progress
    vit="${FMNIST_VIT:-vit-tiny:patch=7,dim=64,depth=4,heads=4,mlp=128}"
    MLP="--model mlp:784-64-64-10 --weights $mlp_ck --batch 32"
    VIT="--model $vit --weights $ckpt --classes 5-9 --shots 16 --batch 16 --scope attn:last:2"
    study() {  # NAME OPTIONS...
        name=$1; shift
        [ -f "$vd/$name.done" ] && { echo "reproduce.sh: variance study $name done"; return; }
        rm -f "$vd/$name.csv" "$vd/alloc_$name.csv"
        echo "reproduce.sh: variance study $name"
        "$B" variance --quiet --reps "$reps" --batches "$nb" --out "$vd/$name.csv" "$@" && touch "$vd/$name.done"
    }
    study mlp_lr $MLP --method lr --allocators uniform,neyman,flops --budgets "$budgets" --alloc-out "$vd/alloc_mlp_lr.csv"
    study mlp_lr_oracle $MLP --method lr --allocators oracle --budgets 16 --oracle-queries 32
    study mlp_mezo $MLP --method mezo --allocators uniform,neyman --budgets "$budgets"
    study vit_lr $VIT --method lr --allocators uniform,neyman,flops --budgets "$budgets" --alloc-out "$vd/alloc_vit_lr.csv"
    study vit_mezo $VIT --method mezo --allocators uniform --budgets "$budgets"
    # estimator variants at one budget: pairs, baselines, weightings (loss allocator: unequal n_i)
    study mlp_pairs_cross $MLP --method lr --pairs cross --allocators loss --budgets 16
    study mlp_pairs_none_clean $MLP --method lr --pairs none --baseline clean --allocators loss --budgets 16
    study mlp_pairs_none_mean $MLP --method lr --pairs none --baseline mean --allocators loss --budgets 16
    study mlp_pairs_none_nobase $MLP --method lr --pairs none --baseline none --allocators loss --budgets 16
    study mlp_equal_row $MLP --method lr --weighting equal-row --allocators loss --budgets 16
    study mlp_same_clean $MLP --method lr --allocators loss --budgets 16
    # the flops ablation: freeze subsets of its four parameters
    study mlp_flops_freeze_slope $MLP --method lr --allocators flops --flops-freeze slope --budgets 16
    study mlp_flops_freeze_length_amplitude $MLP --method lr --allocators flops --flops-freeze length,amplitude --budgets 16
    study mlp_flops_freeze_intercept $MLP --method lr --allocators flops --flops-freeze intercept --budgets 16
}

# track OUT EVERY_MLP EVERY_VIT REPS MLP_SHOTS VIT_EPOCHS NOISY_SHOTS NOISY_EPOCHS: the variance ratio along training
# (train --track-variance, docs/METHOD.md "Variance during training") into OUT/track/, for the
# report's estimator-quality section: the default MLP task (bench/configs/fmnist_mlp*.inc)
# with lr-neyman and lr-flops at budget 16, the few-shot ViT task and the noisy-label task with lr-neyman, seed 0.
# Measured on the 2-core machine: 63 s (default: EVERY 25 and 10, 20 reps), 11 s (quick).
track() {
    td=$1/track; every_mlp=$2; every_vit=$3; reps=$4; mlp_shots=$5; vit_epochs=$6; noisy_shots=$7; noisy_epochs=$8
    mkdir -p "$td"
    vit="${FMNIST_VIT:-vit-tiny:patch=7,dim=64,depth=4,heads=4,mlp=128}"
    tracked() {  # NAME EVERY OPTIONS...
        name=$1; every=$2; shift 2
        [ -f "$td/$name.done" ] && { echo "reproduce.sh: variance tracking $name done"; return; }
        rm -f "$td/$name.csv" "$td/$name.track.csv"
        echo "reproduce.sh: variance tracking $name"
        "$B" train "$@" --seed 0 --out "$td/$name.csv" --track-variance "$every" --track-reps "$reps" --quiet --no-progress &&
            touch "$td/$name.done"
    }
    MLP="--model mlp:784-64-64-10 --shots $mlp_shots --batch 128 --optim adam --eval-batch 2000 --epochs 2 --lr 1e-3 --method lr --budget 16"
    VIT="--model $vit --weights $ckpt --classes 5-9 --shots 16 --batch 16 --optim adam --eval-batch 1000 --epochs $vit_epochs \
        --eval-every $vit_epochs --lr 1e-2 --method lr --scope attn:last:2 --budget 16"
    tracked mlp-lr-neyman "$every_mlp" $MLP --allocator neyman
    tracked mlp-lr-flops "$every_mlp" $MLP --allocator flops
    tracked vit-lr-neyman "$every_vit" $VIT --allocator neyman
    # the noisy-label task (fmnist_mlp_noisy.conf): headroom by construction
    NOISY="--model mlp:784-64-64-10 --shots $noisy_shots --label-noise 0.3 --batch 128 --optim adam --eval-batch 2000 \
        --epochs $noisy_epochs --lr 1e-3 --method lr --budget 16"
    tracked noisy-lr-neyman "$every_mlp" $NOISY --allocator neyman
}

# paper_check: every dataset and weight file the paper's grid needs that is missing, listed
# with its fetch command (ImageNet: by hand); exit 2 when anything is missing. Needs only the
# CPU build, so make reproduce PROFILE=paper runs it before building the CUDA backend.
paper_check() {
    # the paper's first application: its model is CLIP, which no built-in box answers
    echo "reproduce.sh: not in this profile: black-box prompt tuning of CLIP (the paper's first application) needs an external black box: README.md, \"Your own model behind the black box\" (bench/blackbox/blackbox_clip.py; docs/APPLICATIONS.md)"
    missing=0
    for c in bench/configs/paper_vitb16.conf; do
        "$B" sweep "$c" --out results/reproduce/paper --check || missing=1
    done
    if [ $missing -ne 0 ]; then
        echo "reproduce.sh: fetch the missing datasets and weights listed above (ImageNet by hand), then run make reproduce PROFILE=paper again" >&2
        exit 2
    fi
}

t0=$(date +%s)
case "${1:-default}" in
paper-check)
    paper_check
    echo "reproduce.sh: the paper profile has every dataset and weight file it needs"
    exit 0
    ;;
plots)
    dir=${2:-results/reproduce}; figs=${3:-results/figures}
    [ $# -ge 3 ] && shift 3 || shift $#
    plots "$dir" "$figs" "$@"
    exit 0
    ;;
default)
    out=results/reproduce
    ckpt=${FMNIST_VIT_CKPT:-results/reproduce/cache/fmnist04-vit.safetensors}
    pretrain bench/configs/fmnist_vit_pretrain.conf "$ckpt" "$out"
    sweep bench/configs/fmnist_vit_fewshot.conf "$out"
    sweep bench/configs/fmnist_vit_prompt.conf "$out"
    sweep bench/configs/fmnist_mlp.conf "$out"
    sweep bench/configs/fmnist_mlp_noisy.conf "$out"
    variance "$out" 50 3 4,8,16,32,64
    track "$out" 25 10 20 0 30 1000 3
    plots "$out" results/figures
    ;;
quick)
    out=results/reproduce/quick
    pretrain bench/configs/quick_fmnist_vit_pretrain.conf results/reproduce/cache/quick-fmnist04-vit.safetensors "$out"
    sweep bench/configs/quick_fmnist_vit_fewshot.conf "$out"
    sweep bench/configs/quick_fmnist_vit_prompt.conf "$out"
    sweep bench/configs/quick_fmnist_mlp.conf "$out"
    sweep bench/configs/quick_fmnist_mlp_noisy.conf "$out"
    ckpt=results/reproduce/cache/quick-fmnist04-vit.safetensors
    variance "$out" 20 1 4,16,64
    track "$out" 10 10 10 600 10 300 2
    plots "$out" "$out/figures"
    ;;
paper)
    out=results/reproduce/paper
    paper_check  # everything missing, with its fetch command, before running anything
    "$B" sweep bench/configs/paper_vitb16.conf --out "$out"
    plots "$out" "$out/figures"
    ;;
*)
    echo "reproduce.sh: unknown profile '$1' (expected default, quick, paper, paper-check or plots)" >&2
    exit 2
    ;;
esac
t1=$(date +%s)
echo "reproduce.sh: profile ${1:-default} done in $(( (t1 - t0) / 60 )) min $(( (t1 - t0) % 60 )) s; report: $out/REPORT.md"
