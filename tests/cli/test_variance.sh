#!/bin/sh
# test_variance.sh: what issue 7 says must hold, through `flbench variance` on Fashion-MNIST
# (fixed seeds). Model states: a small MLP at initialisation, and the same MLP after a short
# BP training, whose per-datum variances differ by orders of magnitude (confident data have
# almost no gradient).
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
M="--model mlp:784-64-10 --shots 100 --seed 3 --quiet"
# value of column $3 in the row where allocator=$2 and budget=$4 and batch_index=${5:-all}
get() { awk -F, -v a="$2" -v c="$3" -v q="$4" -v bi="${5:-all}" '
    NR==1{for(i=1;i<=NF;i++) h[$i]=i; next}
    $h["allocator"]==a && $h["budget"]==q && $h["batch_index"]==bi {print $h[c]}' "$1" | tail -1; }
# least-squares slope of log(rel_mse) on log(budget) for one allocator (rows "all")
slope() { awk -F, -v a="$2" '
    NR==1{for(i=1;i<=NF;i++) h[$i]=i; next}
    $h["allocator"]==a && $h["batch_index"]=="all" {x=log($h["budget"]); y=log($h["rel_mse"]); n++; sx+=x; sy+=y; sxx+=x*x; sxy+=x*y}
    END{printf "%.4f", (n*sxy-sx*sy)/(n*sxx-sx*sx)}' "$1"; }
# A finite number as the CSV writes it (%.6g): nan, inf and an empty field (a missing row) are not.
finite() { printf '%s\n' "$1" | grep -Eq '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'; }
# holds EXPR VAR=VALUE...: the awk expression EXPR over the variables, which reach awk with -v
# (pasted into the program text, nan and inf would read as unset variables, that is 0).
holds() {
    _e=$1; shift
    _n=$#
    for _kv in "$@"; do set -- "$@" -v "$_kv"; done
    shift "$_n"
    awk "$@" "BEGIN{exit !($_e)}"
}
# check NAME EXPR MESSAGE VAR=VALUE...: PASS when every VALUE is a finite number and EXPR holds.
check() {
    _name=$1; _e=$2; _msg=$3; shift 3
    for _kv in "$@"; do
        if ! finite "${_kv#*=}"; then echo "FAIL $_name: ${_kv%%=*} = '${_kv#*=}' is not a finite number ($_msg)"; return; fi
    done
    if holds "$_e" "$@"; then echo "PASS $_name ($_msg)"; else echo "FAIL $_name: $_msg"; fi
}

# 0. the checks themselves (negative control): a value that is not a finite number fails
# whatever it is compared with; a finite one is compared.
printf 'allocator,budget,batch_index,bias_z\nuniform,16,all,nan\nloss,16,all,inf\nneyman,16,all,-inf\noracle,16,all,\nflops,16,all,1.5\nbernoulli,16,all,5\n' > "$T/doctored.csv"
accepted=""
for a in uniform loss neyman oracle missing; do
    z=$(get "$T/doctored.csv" $a bias_z 16)
    case $(check control "z < 3" "bias_z $z" z="$z") in PASS*) accepted="$accepted $a:'$z'";; esac
done
case $(check control "z < 3" "" z="$(get "$T/doctored.csv" flops bias_z 16)") in PASS*) ;; *) accepted="$accepted (1.5 refused)";; esac
case $(check control "z < 3" "" z="$(get "$T/doctored.csv" bernoulli bias_z 16)") in FAIL*) ;; *) accepted="$accepted (5 accepted)";; esac
if [ -z "$accepted" ]; then echo "PASS variance_check_rejects_nonfinite"
else echo "FAIL variance_check_rejects_nonfinite: the check of a doctored CSV got it wrong for$accepted"; fi

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP variance: /usr/share/datasets/fashion-mnist is not installed (make deps installs it)"
    rm -rf "$T"
    exit 0
fi

# 1. rel MSE of uniform LR and uniform MeZO falls as 1/(perturbed queries): for MeZO (no
# clean pass) slope -1 +- 0.15 in the budget. LR's budget includes its clean pass (the spend
# rule, docs/METHOD.md): b - 1 perturbed queries per datum, handed out as b - 2 and b with pairs,
# so the variance goes as ((1/(b-2) + 1/b) / 2), whose log-log slope over 4..64 is -1.13: -1.13 +- 0.15.
$B variance $M --method lr --allocators uniform --budgets 4,8,16,32,64 --reps 50 --batches 2 --out "$T/lr.csv" || echo "FAIL variance_lr_runs"
s=$(slope "$T/lr.csv" uniform); check variance_lr_uniform_slope "s >= -1.28 && s <= -0.98" "slope $s" s="$s"
$B variance $M --method mezo --allocators uniform --budgets 4,8,16,32,64 --reps 50 --batches 2 --out "$T/mezo.csv" || echo "FAIL variance_mezo_runs"
s=$(slope "$T/mezo.csv" uniform); check variance_mezo_uniform_slope "s >= -1.15 && s <= -0.85" "slope $s" s="$s"

# LR's mean baseline with one pair per datum and no clean pass (budget 2): every datum is
# without a baseline, and the study says so; with two pairs (budget 4) none is
$B variance $M --method lr --baseline mean --allocators uniform --budgets 2,4 --reps 3 --batches 1 --warmup 0 \
    >/dev/null 2>"$T/nb.err" || echo "FAIL variance_no_baseline_runs"
if grep -q "uniform budget 2 batch 0: 32 of 32 data per estimate .*no mean baseline" "$T/nb.err" &&
   ! grep -q "budget 4 batch" "$T/nb.err"; then echo "PASS variance_no_baseline_note"
else echo "FAIL variance_no_baseline_note: $(cat "$T/nb.err")"; fi

# 2. a trained state: per-datum variances that differ widely
$B train --method bp $M --epochs 4 --batch 50 --lr 3e-3 --save "$T/ck.safetensors" >/dev/null 2>&1 || echo "FAIL variance_checkpoint"
# unbiased variants: the mean of the estimates is g within its standard error. bias_z =
# |mean - g|^2 / (trCov/M) has mean 1; over the ~51k compared parameters its spread is far
# below 1, but the covariance can be dominated by few directions, so allow up to 3.
for variant in "--pairs same --baseline clean" "--pairs none --baseline mean" "--pairs none --baseline none" "--pairs cross --baseline clean"; do
    tag=$(echo "$variant" | tr -d ' -' )
    $B variance $M --weights "$T/ck.safetensors" --method lr $variant --allocators loss --budgets 16 --reps 60 --batches 1 --warmup 1 --out "$T/u-$tag.csv" || echo "FAIL variance_runs_$tag"
    for a in uniform loss; do
        z=$(get "$T/u-$tag.csv" $a bias_z 16); check "variance_unbiased_${tag}_$a" "z < 3" "bias_z $z" z="$z"
    done
done
# the authors' equal-row weighting under very unequal allocations (loss allocator on a trained
# model) is biased: its bias exceeds its standard error many times over
$B variance $M --weights "$T/ck.safetensors" --method lr --weighting equal-row --allocators loss --budgets 16 --reps 60 --batches 1 --warmup 1 --out "$T/eq.csv" || echo "FAIL variance_equal_row_runs"
z=$(get "$T/eq.csv" loss bias_z 16); lo=$(get "$T/eq.csv" loss n_lo 16); hi=$(get "$T/eq.csv" loss n_hi 16)
check variance_equal_row_biased "z > 10" "bias_z $z with n_i from $lo to $hi" z="$z"

# 3. allocation: oracle and neyman never worse than uniform beyond noise; the measured
# reduction of oracle matches the prediction (constrained to integer n_i >= 2) within 20%;
# flops trained on the stream of batches reaches half of neyman's reduction
$B variance $M --weights "$T/ck.safetensors" --method lr --allocators neyman,oracle,flops --budgets 8,32 --reps 50 --batches 2 --warmup 6 --v-queries 128 --oracle-queries 64 --out "$T/alloc.csv" || echo "FAIL variance_alloc_runs"
for q in 8 32; do
    mu=$(get "$T/alloc.csv" uniform rel_mse $q); su=$(get "$T/alloc.csv" uniform rel_mse_se $q)
    for a in neyman oracle; do
        ma=$(get "$T/alloc.csv" $a rel_mse $q); sa=$(get "$T/alloc.csv" $a rel_mse_se $q)
        check "variance_${a}_not_worse_budget$q" "ma <= mu + 3 * sqrt(sa * sa + su * su)" "rel_mse $ma vs uniform $mu" \
            ma="$ma" sa="$sa" mu="$mu" su="$su"
    done
done
r=$(get "$T/alloc.csv" oracle var_ratio_vs_uniform 32); p=$(get "$T/alloc.csv" oracle predicted_ratio_constrained 32)
check variance_oracle_matches_prediction "r <= 1.2 * p && r >= 0.8 * p" "measured ratio $r, predicted $p" r="$r" p="$p"
rn=$(get "$T/alloc.csv" neyman var_ratio_vs_uniform 32); rf=$(get "$T/alloc.csv" flops var_ratio_vs_uniform 32)
check variance_flops_half_of_neyman "1 - rf >= 0.5 * (1 - rn)" "flops ratio $rf, neyman ratio $rn" rf="$rf" rn="$rn"

# 4. the report's estimator-quality section and the var_* figures, from these CSVs
mkdir -p "$T/rep/variance"
cp "$T/lr.csv" "$T/alloc.csv" "$T/eq.csv" "$T/rep/variance/"
$B variance $M --weights "$T/ck.safetensors" --method lr --allocators neyman --budgets 8 --reps 5 --batches 1 --warmup 1 \
    --out "$T/rep/variance/a.csv" --alloc-out "$T/rep/variance/alloc_a.csv" || echo "FAIL variance_alloc_out_runs"
if $B report "$T/rep" --figures "$T/rep/figs" >/dev/null 2>&1 && grep -q "log-log slope" "$T/rep/REPORT.md" &&
   grep -q "BIASED" "$T/rep/REPORT.md"; then echo "PASS variance_report_section"
else echo "FAIL variance_report_section: no estimator-quality section with the slope and the biased variant in REPORT.md"; fi
# the plot data carries the ratio's standard error (column 9, plots/var_ratio.gp's error bars):
# every row has 9 columns, and each allocator's row besides uniform's (ratio not 1) a positive one
bad=$(cat "$T"/rep/plotdata/var_*.dat 2>/dev/null | awk '!/^#/ && NF > 0 { n++; if (NF != 9 || ($6 != 1 && !($9 > 0))) b++ }
    END { if (n == 0) print "no rows"; else if (b) print b " of " n " rows" }')
if [ -z "$bad" ]; then echo "PASS variance_plotdata_ratio_se"
else echo "FAIL variance_plotdata_ratio_se: $bad without a ratio_se column (var_K.dat column 9) or with a non-positive one"; fi
if command -v gnuplot >/dev/null; then
    for g in var_mse var_ratio var_alloc; do
        gnuplot -e "datadir='$T/rep/plotdata'; figdir='$T/rep/figs'" plots/$g.gp >/dev/null 2>&1
    done
    missing=""
    for f in var_mse var_cos var_ratio var_alloc; do
        [ -s "$T/rep/figs/$f.png" ] && [ -s "$T/rep/figs/$f.pdf" ] || missing="$missing $f"
    done
    if [ -z "$missing" ]; then echo "PASS variance_figures"; else echo "FAIL variance_figures: missing$missing"; fi
else
    echo "SKIP variance_figures: gnuplot is not installed (make deps installs gnuplot-nox)"
fi
cp "$T"/*.csv "${FL_TEST_KEEP:-/dev/null}" 2>/dev/null
rm -rf "$T"
