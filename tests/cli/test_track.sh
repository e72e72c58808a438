#!/bin/sh
# test_track.sh: `flbench train --track-variance EVERY` (docs/METHOD.md, "Variance during
# training") on Fashion-MNIST with fixed seeds: uniform tracked against itself gives ratio 1
# within its standard error, and a tracked side at half the budget (the negative control) is
# rejected; oracle allocation on a trained MLP is below 1; tracking leaves the training CSV
# unchanged; bad options are refused; no NaN passes; a sweep variant writes DIR/track/.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP track: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
    exit 0
fi
M="--model mlp:784-64-64-10 --shots 100 --batch 64 --lr 1e-3 --epochs 2 --quiet"
# every value of column $2 of the CSV $1 (header row skipped), one a line
col() { awk -F, -v c="$2" 'NR==1{for(i=1;i<=NF;i++) h[$i]=i; next} {print $h[c]}' "$1"; }
# rows where |ratio - 1| <= k * ratio_se (k = $2), over all rows: prints "hits rows"
within() { awk -F, -v k="$2" 'NR==1{for(i=1;i<=NF;i++) h[$i]=i; next}
    {n++; d=$h["ratio"]-1; if(d<0) d=-d; if(d<=k*$h["ratio_se"]) w++} END{printf "%d %d", w, n}' "$1"; }
# 1 when every numeric column of every row is finite (text columns skipped by name)
finite() { awk -F, 'NR==1{for(i=1;i<=NF;i++) h[i]=$i; next}
    {for(i=1;i<=NF;i++) if(h[i]!~/^(git_rev|timestamp|cell_key|config|backend|dataset|model|method|allocator)$/ &&
       ($i=="" || $i!~/^-?[0-9.]+(e[-+]?[0-9]+)?$/)) bad++} END{print (NR>1 && !bad) ? 1 : 0}' "$1"; }
check() { if [ "$2" = 1 ]; then echo "PASS $1 ($3)"; else echo "FAIL $1: $3"; fi; }
is() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN{r = op=="<" ? a<b : op==">" ? a>b : op=="==" ? a==b : 0; print r ? 1 : 0}'; }

# 1. uniform against itself: ratio 1 within 3 standard errors at every tracked step; the
# negative control (tracked side at half the budget: ratio about 2) must fall outside
$B train $M --seed 2 --budget 16 --out "$T/u.csv" --track-variance 5 --track-reps 20 || echo "FAIL track_uniform_runs"
set -- $(within "$T/u.track.csv" 3)
check track_uniform_self_ratio_1 "$(is "$1" == "$2")" "$1 of $2 tracked steps within 3 SE of 1"
check track_uniform_finite "$(finite "$T/u.track.csv")" "every value finite"
$B train $M --seed 2 --budget 16 --out "$T/half.csv" --track-variance 5 --track-reps 20 --track-budget 8 || echo "FAIL track_control_runs"
set -- $(within "$T/half.track.csv" 3)
check track_control_rejected "$(is "$1" == 0)" "$1 of $2 steps of the half-budget side within 3 SE of 1"
mean=$(col "$T/half.track.csv" ratio | awk '{s+=$1; n++} END{printf "%.4f", s/n}')
check track_control_ratio_2 "$(awk -v r="$mean" 'BEGIN{print (r > 1.6 && r < 3) ? 1 : 0}')" "mean ratio $mean (budget 8 buys 6 queries per datum against 14)"

# 2. oracle allocation on a trained MLP (per-datum variances differ widely): below 1 at
# every tracked step beyond 3 standard errors, and near the predicted gain
$B train --method bp --model mlp:784-64-10 --shots 100 --seed 3 --epochs 4 --batch 50 --lr 3e-3 --quiet \
    --save "$T/ck.safetensors" || echo "FAIL track_checkpoint"
$B train --model mlp:784-64-10 --shots 100 --seed 3 --weights "$T/ck.safetensors" --batch 50 --lr 1e-3 --epochs 1 --quiet \
    --allocator oracle --oracle-queries 32 --budget 16 --out "$T/o.csv" --track-variance 4 --track-reps 10 || echo "FAIL track_oracle_runs"
below=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) h[$i]=i; next} {n++; if($h["ratio"] + 3*$h["ratio_se"] < 1) b++} END{printf "%d %d", b, n}' "$T/o.track.csv")
set -- $below
check track_oracle_below_1 "$(awk -v b="$1" -v n="$2" 'BEGIN{print (n > 0 && b == n) ? 1 : 0}')" "$1 of $2 steps with ratio + 3 SE < 1"
gap=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) h[$i]=i; next} {r+=$h["ratio"]; p+=$h["predicted_gain_int"]; n++} END{printf "%.4f %.4f", r/n, p/n}' "$T/o.track.csv")
set -- $gap
check track_oracle_near_prediction "$(awk -v r="$1" -v p="$2" 'BEGIN{print (r < 1.3 * p && r > 0.7 * p) ? 1 : 0}')" "mean ratio $1, predicted (integer) $2"
check track_oracle_finite "$(finite "$T/o.track.csv")" "every value finite"

# the report: the section with its per-epoch table, a verdict among the three causes, plot data
mkdir -p "$T/rep/track"
cp "$T/o.track.csv" "$T/rep/track/"
cp "$T/o.csv" "$T/rep/runs.csv"
$B train --model mlp:784-64-10 --shots 100 --seed 3 --weights "$T/ck.safetensors" --batch 50 --lr 1e-3 --epochs 1 --quiet \
    --budget 16 --out "$T/u1.csv" || echo "FAIL track_report_uniform_runs"
tail -n +2 "$T/u1.csv" >> "$T/rep/runs.csv"
$B report "$T/rep" --figures "$T/rep/figs" >/dev/null 2>&1 || echo "FAIL track_report_runs"
if grep -q "### Variance during training" "$T/rep/REPORT.md" && grep -q "| 1 | 0\.[0-9]* +- 0\.[0-9]* |" "$T/rep/REPORT.md" &&
   grep -q -e "No headroom" -e "does not hold" -e "Not sensitive" -e "none of the three" -e "cannot be told apart" "$T/rep/REPORT.md" &&
   grep -q "oracle minus uniform" "$T/rep/REPORT.md" && [ -s "$T/rep/plotdata/track_ratio.dat" ]; then
    echo "PASS track_report_section"
else echo "FAIL track_report_section: no variance-during-training section with its table, accuracy and verdict"; fi

# 3. tracking leaves the run unchanged: the training CSV's columns other than timing and
# memory are identical with and without it (same --out name, so config and cell_key match),
# for an allocator with learned state (flops), one with proxies (neyman), and MeZO
strip() { awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i!~/^(timestamp|wall_s|step_ms|t_[a-z]*_ms|peak_rss_mb|peak_dev_mb|peak_model_mb)$/) k[i]=1}
    {s=""; for(i=1;i<=NF;i++) if(k[i]) s=s $i ","; print s}' "$1"; }
for run in "lr flops 16" "lr neyman 16" "mezo neyman 8"; do
    set -- $run
    mkdir -p "$T/same"
    for tr in off on; do
        x=""; [ $tr = on ] && x="--track-variance 3 --track-reps 3"
        rm -f "$T/same/run.csv" "$T/same/run.track.csv"
        $B train $M --seed 4 --method $1 --allocator $2 --budget $3 --out "$T/same/run.csv" $x || echo "FAIL track_same_runs_$1_$2"
        strip "$T/same/run.csv" > "$T/same/$tr.txt"
    done
    rows=$(col "$T/same/run.track.csv" step | wc -l)
    if [ "$rows" -gt 0 ] && cmp -s "$T/same/off.txt" "$T/same/on.txt"; then echo "PASS track_run_unchanged_$1_$2 ($rows tracked steps)"
    else echo "FAIL track_run_unchanged_$1_$2: training CSV differs with tracking ($rows tracked steps)"; fi
done

# 4. bad options: one line on stderr, exit 2
bad() {  # NAME OPTIONS...
    name=$1; shift
    $B train $M --out "$T/bad.csv" "$@" >"$T/bad.out" 2>"$T/bad.err"
    rc=$?
    lines=$(wc -l < "$T/bad.err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$T/bad.csv" ]; then echo "PASS track_refuses_$name ($(cat "$T/bad.err"))"
    else echo "FAIL track_refuses_$name: exit $rc, $lines lines: $(head -2 "$T/bad.err")"; fi
}
bad every_0 --track-variance 0
bad every_negative --track-variance -5
bad reps_1 --track-variance 5 --track-reps 1
$B train --model mlp:784-64-10 --shots 10 --epochs 1 --quiet --track-variance 5 >"$T/bad.out" 2>"$T/bad.err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l < "$T/bad.err")" -eq 1 ]; then echo "PASS track_refuses_nowhere_to_write ($(cat "$T/bad.err"))"
else echo "FAIL track_refuses_nowhere_to_write: exit $rc: $(head -2 "$T/bad.err")"; fi

# 5. in a sweep variant: track-variance=N writes DIR/track/ID.track.csv
cat > "$T/sw.conf" <<EOF
name track-sweep
set dataset fashion-mnist
set model mlp:784-64-10
set shots 20
set batch 50
set epochs 1
variant method tracked method=lr allocator=neyman budget=8 track-variance=2 track-reps=3
EOF
$B sweep "$T/sw.conf" --out "$T/sw" >/dev/null 2>&1 || echo "FAIL track_sweep_runs"
n=$(cat "$T"/sw/track/*.track.csv 2>/dev/null | grep -c '^1,')
check track_sweep_variant "$(is "$n" ">" 0)" "$n tracked rows in DIR/track/"

rm -rf "$T"
