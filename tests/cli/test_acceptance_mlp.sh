#!/bin/sh
# test_acceptance_mlp.sh: what issue 2 says must hold, on the real Fashion-MNIST files.
#  - BP, mlp:784-256-256-10, full training set, 2 epochs: test accuracy >= 0.85;
#  - LR and MeZO reduce the training loss over 2 epochs under every allocator (a 500-shot
#    split keeps this under two minutes: 79 steps per epoch).
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP acceptance_mlp: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
    exit 0
fi
col() {  # col FILE COLUMN ROW -> value
    awk -F, -v c="$2" -v r="$3" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i} NR==r+1{print $k}' "$1"
}
if $B train --method bp --model mlp:784-256-256-10 --epochs 2 --batch 64 --lr 1e-3 --seed 0 --quiet --out "$T/bp.csv"; then
    acc=$(col "$T/bp.csv" eval_acc 2)
    if awk -v a="$acc" 'BEGIN{exit !(a >= 0.85)}'; then echo "PASS acceptance_bp_accuracy ($acc)"
    else echo "FAIL acceptance_bp_accuracy: test accuracy $acc < 0.85"; fi
else
    echo "FAIL acceptance_bp_accuracy: the run failed"
fi
for m in lr mezo; do
    for a in uniform flops neyman oracle bernoulli loss; do
        name="acceptance_${m}_${a}_reduces_loss"
        if $B train --method $m --allocator $a --budget 8 --shots 500 --epochs 2 --batch 64 --lr 1e-3 \
               --oracle-queries 8 --seed 1 --quiet --out "$T/$m-$a.csv"; then
            l1=$(col "$T/$m-$a.csv" train_loss 1); l2=$(col "$T/$m-$a.csv" train_loss 2)
            if awk -v a="$l1" -v b="$l2" 'BEGIN{exit !(b < a && a < 2.3026)}'; then echo "PASS $name ($l1 -> $l2)"
            else echo "FAIL $name: training loss $l1 -> $l2 (must fall, from below ln 10)"; fi
        else
            echo "FAIL $name: the run failed"
        fi
    done
done
rm -rf "$T"
