#!/bin/sh
# test_schema_columns.sh: the results columns of schema 6 (results/SCHEMA.md) with known values,
# on short real runs on the Fashion-MNIST files:
#  - bp: `allocator`, `scope`, `pairing`, `baseline` empty (no `-`), `series` bp;
#  - --classes 5-9: `dataset` fashion-mnist, `classes` 5-9; without it `classes` empty;
#  - --val-per-class: `eval_split` val and the metrics in `eval_loss`, `eval_acc` (no test_*);
#  - the cpu backend: `peak_dev_mb` empty, `peak_rss_mb` there;
#  - `final` 1 on the last epoch's row only (and on the row where --max-steps stops a run);
#  - `init_weights` the --weights path, empty without;
#  - a sweep's rows: `series` is the variant label (lr-flops, mezo-2q); the cell keys of the
#    committed reference run are those its configurations give now (series is not in the hash);
#  - a schema 3 copy of the sweep's file (old names, `-` placeholders, dataset[classes]) gives
#    the same REPORT.md as the file itself (`flbench report` maps the old schema when reading);
#  - flbench merge writes that copy in schema 4: the same rows as the sweep's own file;
#  - a sweep refuses to append to the schema 3 copy, naming the merge that converts it, and
#    resumes the merged file (its cells finished);
#  - the pandas example of results/SCHEMA.md runs on the sweep's CSV (SKIP without pandas;
#    PYTHON names the interpreter, default python3).
B=${FLBENCH:-build/flbench}
PY=${PYTHON:-python3}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "SKIP schema_columns: no Fashion-MNIST files"; exit 0; fi
if ! command -v python3 >/dev/null; then echo "SKIP schema_columns: no python3 (it reads the CSVs)"; exit 0; fi
# value of column $2 in data row $3 (1-based) of CSV $1; "<no column>" when absent
field() { python3 - "$1" "$2" "$3" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
r = rows[int(sys.argv[3]) - 1]
print(r[sys.argv[2]] if sys.argv[2] in r else "<no column>")
EOF
}
has_col() { head -1 "$1" | tr , '\n' | grep -qx "$2"; }
TASK="--shots 20 --batch 20 --eval-batch 1000 --lr 1e-3 --quiet"

# bp, classes 5-9, a validation split, 2 epochs, saving its weights
if $B train $TASK --model mlp:784-16-5 --method bp --classes 5-9 --val-per-class 10 --epochs 2 --save "$T/w.safetensors" --out "$T/bp.csv" 2>"$T/err"; then
    got="$(field "$T/bp.csv" allocator 2)|$(field "$T/bp.csv" scope 2)|$(field "$T/bp.csv" pairing 2)|$(field "$T/bp.csv" baseline 2)|$(field "$T/bp.csv" series 2)"
    if [ "$got" = "||||bp" ]; then pass schema_bp_not_applicable_empty; else fail schema_bp_not_applicable_empty "allocator|scope|pairing|baseline|series = $got"; fi
    got="$(field "$T/bp.csv" dataset 1)|$(field "$T/bp.csv" classes 1)"
    if [ "$got" = "fashion-mnist|5-9" ]; then pass schema_classes_split; else fail schema_classes_split "dataset|classes = $got"; fi
    acc=$(field "$T/bp.csv" eval_acc 2); loss=$(field "$T/bp.csv" eval_loss 2)
    if [ "$(field "$T/bp.csv" eval_split 2)" = val ] && [ -n "$acc" ] && [ -n "$loss" ] && [ "$acc" != "<no column>" ] &&
       ! has_col "$T/bp.csv" test_acc && ! has_col "$T/bp.csv" test_loss; then pass schema_val_run_names_columns
    else fail schema_val_run_names_columns "eval_split=$(field "$T/bp.csv" eval_split 2) eval_acc='$acc' eval_loss='$loss' header: $(head -1 "$T/bp.csv" | cut -c1-300)"; fi
    got="$(field "$T/bp.csv" peak_dev_mb 1)|$(field "$T/bp.csv" peak_dev_mb 2)"
    if [ "$got" = "|" ] && [ -n "$(field "$T/bp.csv" peak_rss_mb 2)" ]; then pass schema_cpu_peak_dev_empty; else fail schema_cpu_peak_dev_empty "peak_dev_mb = $got"; fi
    got="$(field "$T/bp.csv" final 1)$(field "$T/bp.csv" final 2)"
    if [ "$got" = "01" ] && [ "$(wc -l <"$T/bp.csv")" -eq 3 ]; then pass schema_final_last_epoch; else fail schema_final_last_epoch "final of epochs 1, 2 = $got"; fi
    if [ -z "$(field "$T/bp.csv" init_weights 1)" ]; then pass schema_init_weights_empty; else fail schema_init_weights_empty "$(field "$T/bp.csv" init_weights 1)"; fi
    # from those weights: init_weights names them; lr uniform's series; no class range; --max-steps ends the run
    if $B train $TASK --model mlp:784-16-5 --method lr --allocator uniform --budget 4 --classes 5-9 --weights "$T/w.safetensors" --epochs 3 --max-steps 1 \
        --out "$T/lr.csv" 2>"$T/err"; then
        got="$(field "$T/lr.csv" init_weights 1)|$(field "$T/lr.csv" series 1)|$(field "$T/lr.csv" allocator 1)|$(field "$T/lr.csv" final 1)"
        if [ "$got" = "$T/w.safetensors|lr-uniform|uniform|1" ]; then pass schema_init_weights_series_lr; else fail schema_init_weights_series_lr "init_weights|series|allocator|final = $got"; fi
    else fail schema_init_weights_series_lr "flbench train failed: $(tail -2 "$T/err")"; fi
else
    fail schema_bp_run "flbench train failed: $(tail -2 "$T/err")"
fi
if $B train $TASK --model mlp:784-16-10 --method mezo --budget 2 --epochs 1 --out "$T/mz.csv" 2>"$T/err"; then
    got="$(field "$T/mz.csv" classes 1)|$(field "$T/mz.csv" dataset 1)|$(field "$T/mz.csv" eval_split 1)|$(field "$T/mz.csv" series 1)"
    if [ "$got" = "|fashion-mnist|test|mezo-uniform" ]; then pass schema_all_classes_empty; else fail schema_all_classes_empty "classes|dataset|eval_split|series = $got"; fi
else fail schema_all_classes_empty "flbench train failed: $(tail -2 "$T/err")"; fi

# the cell keys of the committed reference run are those its configurations give now
for c in fmnist_mlp fmnist_mlp_noisy fmnist_vit_fewshot fmnist_vit_pretrain fmnist_vit_prompt; do
    $B sweep bench/configs/$c.conf --out "$T/dry" --dry-run 2>&1
done | grep -o '[a-z0-9-]*;[^ ]*h=[0-9a-f]*' | sort -u >"$T/keys_now"
cut -d, -f2 results/reference/cpu-fashion-mnist-default/*.csv | grep -v '^cell_key$' | sort -u >"$T/keys_ref"
if [ -s "$T/keys_ref" ] && cmp -s "$T/keys_now" "$T/keys_ref"; then pass schema_reference_cell_keys_unchanged
else fail schema_reference_cell_keys_unchanged "$(wc -l <"$T/keys_now") keys now, $(wc -l <"$T/keys_ref") in the reference; $(comm -3 "$T/keys_now" "$T/keys_ref" | head -2 | tr '\n' ' ')"; fi

# a sweep: series is the variant label; the cell keys are those of schema 3 (a fixed hash)
cat >"$T/sw.conf" <<EOF
name sch
set dataset fashion-mnist
set model mlp:784-16-5
set classes 5-9
set shots 20
set batch 20
set epochs 2
set lr 1e-3
set eval-batch 1000
variant method bp        method=bp budget=1
variant method mezo-2q   method=mezo budget=2
variant method lr-flops  method=lr allocator=flops
axis budget 4
axis seed 0 1
EOF
if $B sweep "$T/sw.conf" --out "$T/sw" --no-progress >"$T/swlog" 2>&1; then
    bad=$(python3 - "$T/sw/sch.csv" <<'EOF'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    label = [p.split("=", 1)[1] for p in r["cell_key"].split(";") if p.startswith("method=")][0]
    if r.get("series") != label: print(r["cell_key"], r.get("series", "<no column>"))
EOF
)
    n=$(($(wc -l <"$T/sw/sch.csv") - 1))
    if [ -z "$bad" ] && [ "$n" -eq 12 ]; then pass schema_series_is_variant_label; else fail schema_series_is_variant_label "$n rows; differ: $bad"; fi
    # a schema 3 copy of the same rows: the same report
    mkdir -p "$T/old" "$T/new"
    cp "$T/sw/sch.csv" "$T/new/sch.csv"
    python3 - "$T/sw/sch.csv" "$T/old/sch.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
old = ["schema", "cell_key", "status", "git_rev", "timestamp", "host", "backend", "device", "threads", "dataset", "model",
       "method", "allocator", "budget", "batch", "shots", "seed", "epoch", "epochs", "steps", "lr", "optimizer", "scope",
       "pairing", "baseline", "weighting", "proxy", "sigma0", "mu", "checkpoint", "train_loss", "eval_split", "test_loss",
       "test_acc", "queries", "queries_clean", "queries_pilot", "queries_oracle", "spend_per_datum", "fwd_gflop", "wall_s",
       "step_ms", "t_clean_ms", "t_alloc_ms", "t_forward_ms", "t_grad_ms", "t_update_ms", "peak_rss_mb", "peak_dev_mb",
       "peak_model_mb", "n_lo", "n_hi", "mislabelled_share", "alloc_nonuniform_frac", "grad_norm", "config", "message"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(old)
    for r in rows:
        r["schema"] = "3"
        r["test_loss"], r["test_acc"] = r["eval_loss"], r["eval_acc"]
        for c in ("allocator", "scope", "pairing", "baseline"):
            r[c] = r[c] or "-"
        r["peak_dev_mb"] = r["peak_rss_mb"]
        if r["classes"]: r["dataset"] = r["dataset"] + "[" + r["classes"] + "]"
        w.writerow([r[c] for c in old])
EOF
    if $B report "$T/old" --figures "$T/old/figs" >"$T/rlog" 2>&1 && $B report "$T/new" --figures "$T/new/figs" >>"$T/rlog" 2>&1; then
        sed "s|$T/old|DIR|g" "$T/old/REPORT.md" >"$T/old.md"; sed "s|$T/new|DIR|g" "$T/new/REPORT.md" >"$T/new.md"
        if cmp -s "$T/old.md" "$T/new.md" && grep -q "lr-flops" "$T/new.md" && [ -n "$(ls "$T/new/plotdata")" ] &&
           diff -r "$T/old/plotdata" "$T/new/plotdata" >/dev/null; then pass schema_old_and_new_same_report
        else fail schema_old_and_new_same_report "$(diff "$T/old.md" "$T/new.md" | head -4 | tr '\n' ' ')"; fi
    else fail schema_old_and_new_same_report "$(tail -3 "$T/rlog" | tr '\n' ' ')"; fi
    # flbench merge writes the schema 3 copy in this schema: the rows of the file itself
    mkdir -p "$T/mg"
    if $B merge "$T/mg/sch.csv" "$T/old/sch.csv" 2>"$T/mlog"; then
        got=$(python3 - "$T/mg/sch.csv" "$T/new/sch.csv" <<'EOF'
import csv, sys
a, b = (list(csv.reader(open(p))) for p in sys.argv[1:])
if a[0] != b[0]: print("header", a[0][:12])
# every field but the row's schema version (the version it was written under) and the
# columns schema 5 added, which an older file never had and its upgrade leaves empty
added = {a[0].index(c) for c in ("t_comm_ms", "comm_bytes", "reduce_bytes")}
strip = lambda rows: sorted([x for i, x in enumerate(r) if i and i not in added] for r in rows[1:])
if strip(a) != strip(b): print("rows differ:", [x for x, y in zip(strip(a)[0], strip(b)[0]) if x != y][:4])
print("schema", sorted(set(r[0] for r in a[1:])))
EOF
)
        if [ "$got" = "schema ['3']" ]; then pass schema_merge_writes_old_as_new; else fail schema_merge_writes_old_as_new "$got"; fi
    else fail schema_merge_writes_old_as_new "$(tail -2 "$T/mlog" | tr '\n' ' ')"; fi
    # a sweep does not append to the schema 3 file: it says so and how to convert it; merged into
    # this schema in its place, the sweep resumes it (every cell finished: nothing to run)
    mkdir -p "$T/rs"
    cp "$T/old/sch.csv" "$T/rs/sch.csv"
    if ! $B sweep "$T/sw.conf" --out "$T/rs" --no-progress >"$T/rslog" 2>&1 && grep -q "an older schema: .flbench merge" "$T/rslog" &&
       $B merge "$T/rs/new.csv" "$T/rs/sch.csv" 2>/dev/null && mv "$T/rs/new.csv" "$T/rs/sch.csv" &&
       $B sweep "$T/sw.conf" --out "$T/rs" --no-progress >"$T/rslog" 2>&1 && grep -q ", 6 finished, 0 to run" "$T/rslog"; then
        pass schema_sweep_resumes_merged_old
    else fail schema_sweep_resumes_merged_old "$(tail -2 "$T/rslog" | tr '\n' ' ')"; fi
    # the pandas example of results/SCHEMA.md, on this CSV
    if $PY -c "import pandas" 2>/dev/null; then
        awk '/^```python$/ {on=1; next} /^```$/ {on=0} on' results/SCHEMA.md | sed "s|\"results.csv\"|\"$T/sw/sch.csv\"|" >"$T/ex.py"
        if $PY "$T/ex.py" >"$T/ex.out" 2>&1 && grep -q "lr-flops *4 " "$T/ex.out" && grep -q "mezo-2q *2 " "$T/ex.out" && grep -q "^series" "$T/ex.out"; then
            pass schema_pandas_example
        else fail schema_pandas_example "$(tr '\n' ' ' <"$T/ex.out" | cut -c1-400)"; fi
    else echo "SKIP schema_pandas_example: $PY has no pandas"; fi
else
    fail schema_sweep "$(tail -3 "$T/swlog" | tr '\n' ' ')"
fi
rm -rf "$T"
