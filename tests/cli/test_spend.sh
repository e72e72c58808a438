#!/bin/sh
# test_spend.sh: the spend rule (docs/METHOD.md, "Spend") and allocation from the first step,
# end to end on the real Fashion-MNIST files.
#  - every method, allocator and LR variant spends at most its budget per datum per step
#    (spend_per_datum, oracle queries apart), and no less than its unit allows;
#  - on a task with heterogeneous data (30% noisy labels), lr-flops and lr-neyman allocate
#    unequally in epoch 1 (n_lo < n_hi, most steps not uniform); lr-uniform, the negative
#    control, never does.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP spend: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
    exit 0
fi
TASK="--dataset fashion-mnist --model mlp:784-32-10 --shots 30 --batch 60 --epochs 1 --lr 1e-3 --seed 3 --threads 1 --eval-batch 1000 --quiet"
# col FILE NAME: the value of column NAME in the last row of FILE
col() { awk -F, -v c="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i} NR>1 && k{v=$k} END{print v}' "$1"; }
# within SPEND BUDGET SLACK: 0 when SLACK <= BUDGET - SPEND and SPEND <= BUDGET, both finite
within() { awk -v s="$1" -v b="$2" -v d="$3" 'BEGIN{ok = (s == s + 0) && s != "" && s <= b + 1e-9 && b - s <= d; exit !ok}'; }
# the check itself must reject a spend over the budget, an underspend past the slack, and NaN
if within 4.2 4 1; then fail spend_check_rejects_overspend "4.2 accepted"; else pass spend_check_rejects_overspend; fi
if within 2.5 4 1; then fail spend_check_rejects_underspend "2.5 accepted"; else pass spend_check_rejects_underspend; fi
if within nan 4 1; then fail spend_check_rejects_nan "nan accepted"; else pass spend_check_rejects_nan; fi

# name | options | budget | slack (one unit: a pair is 2 queries, a MeZO direction 2)
while IFS='|' read -r name opts budget slack; do
    [ -z "$name" ] && continue
    f="$T/$name.csv"
    if $B train $TASK $opts --budget "$budget" --out "$f" 2>"$T/err"; then
        s=$(col "$f" spend_per_datum)
        if within "$s" "$budget" "$slack"; then pass "spend_$name"; else fail "spend_$name" "spend_per_datum $s, budget $budget"; fi
    else
        fail "spend_$name" "$(cat "$T/err")"
    fi
done <<'CASES'
bp|--method bp|1|0
mezo_uniform|--method mezo --allocator uniform|8|0
mezo_2q|--method mezo --allocator uniform|2|0
mezo_uniform_odd|--method mezo --allocator uniform|9|0
mezo_neyman|--method mezo --allocator neyman|8|1
mezo_loss|--method mezo --allocator loss|8|1
mezo_pilot|--method mezo --allocator neyman --proxy pilot|8|1
lr_uniform|--method lr --allocator uniform|8|0
lr_uniform_odd|--method lr --allocator uniform|9|0
lr_flops|--method lr --allocator flops|8|0
lr_neyman|--method lr --allocator neyman|8|0
lr_bernoulli|--method lr --allocator bernoulli|8|0
lr_loss|--method lr --allocator loss|8|0
lr_oracle|--method lr --allocator oracle --oracle-queries 8|8|0
lr_pilot|--method lr --allocator neyman --proxy pilot|8|0
lr_mean_baseline|--method lr --allocator neyman --baseline mean|8|0
lr_no_baseline_unpaired|--method lr --allocator uniform --baseline none --pairs none|7|0
CASES

# oracle queries are counted, but apart from the spend
f="$T/lr_oracle.csv"
qo=$(col "$f" queries_oracle)
if [ -n "$qo" ] && [ "$qo" -gt 0 ]; then pass spend_oracle_counted_apart; else fail spend_oracle_counted_apart "queries_oracle=$qo"; fi

# allocation from the first step, on a task whose per-datum variances differ by construction
NOISY="--dataset fashion-mnist --model mlp:784-32-10 --shots 50 --batch 100 --epochs 1 --lr 1e-3 --seed 1 --threads 1 --eval-batch 1000 --quiet --label-noise 0.3 --method lr --budget 8"
for a in flops neyman uniform; do
    $B train $NOISY --allocator $a --out "$T/noisy_$a.csv" || fail "alloc_epoch1_$a" "train failed"
done
for a in flops neyman; do
    lo=$(col "$T/noisy_$a.csv" n_lo); hi=$(col "$T/noisy_$a.csv" n_hi); fr=$(col "$T/noisy_$a.csv" alloc_nonuniform_frac)
    if awk -v lo="$lo" -v hi="$hi" -v fr="$fr" 'BEGIN{exit !(lo != "" && hi != "" && lo + 0 < hi + 0 && fr + 0 >= 0.5)}'; then
        pass "alloc_epoch1_$a"
    else
        fail "alloc_epoch1_$a" "n_lo=$lo n_hi=$hi nonuniform=$fr in epoch 1"
    fi
done
fr=$(col "$T/noisy_uniform.csv" alloc_nonuniform_frac)
if [ "$fr" = "0" ]; then pass alloc_epoch1_uniform_control; else fail alloc_epoch1_uniform_control "uniform's nonuniform fraction $fr"; fi
rm -rf "$T"
