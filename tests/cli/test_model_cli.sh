#!/bin/sh
# test_model_cli.sh: `flbench model inspect` and `flbench model forward` on the ViT golden
# fixtures (tests/fixtures/vit_golden), and their one-line errors with status 2.
# Logits are compared with transformers' (logits.npy) through od: both files are version-1.0
# .npy with a 128-byte header, so the float32 data start at byte 128.
B=${FLBENCH:-build/flbench}
G=tests/fixtures/vit_golden
T=$(mktemp -d)

# max over elements of |a - b| / max|b| for two float32 .npy files of the same shape
npy_max_rel() {
    od -A n -v -t f4 -j 128 "$1" | tr -s ' ' '\n' | grep . > "$T/a.txt"
    od -A n -v -t f4 -j 128 "$2" | tr -s ' ' '\n' | grep . > "$T/b.txt"
    paste "$T/a.txt" "$T/b.txt" | awk '{d=$1-$2; if(d<0)d=-d; s=$2<0?-$2:$2; if(d>dm)dm=d; if(s>sm)sm=s; n++}
        END{if(n==0){print "nan"} else printf "%.3g\n", dm/sm}'
    [ "$(wc -l < "$T/a.txt")" -eq "$(wc -l < "$T/b.txt")" ] || echo "count-mismatch"
}

check() {  # check NAME COMMAND...: PASS when the command succeeds
    name=$1; shift
    if "$@" > "$T/out" 2> "$T/err"; then echo "PASS $name"; else echo "FAIL $name: $(head -c 300 "$T/err")"; fi
}

# expect_error NAME NEEDLE COMMAND...: status 2 and one stderr line containing NEEDLE
expect_error() {
    name=$1; needle=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then echo "PASS $name"
    else echo "FAIL $name: status $rc, $lines lines, expected '$needle' in: $(head -c 300 "$T/err")"; fi
}

# inspect: configuration, tensors, and a successful load
check model_inspect_dir $B model inspect $G/gray16
if grep -q "num_attention_heads 4" "$T/out" && grep -q "vit.encoder.layer.1.output.dense.weight" "$T/out" &&
   grep -q "loads: ok" "$T/out" && grep -q "classes=5" "$T/out"; then echo "PASS model_inspect_content"
else echo "FAIL model_inspect_content: $(head -c 300 "$T/out")"; fi
check model_inspect_bare $B model inspect $G/bare8
grep -q "no classifier" "$T/out" && echo "PASS model_inspect_bare_headless" || echo "FAIL model_inspect_bare_headless"
# a lone file whose dim (32) is not a multiple of 64: the heads cannot be inferred, but the
# listing is the answer: every tensor, a note on stderr, status 0
cp $G/gray16/model.safetensors "$T/lone.safetensors"
$B model inspect "$T/lone.safetensors" > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c ' F32 ' "$T/out")" -eq "$(sed -n 's/.* \([0-9]*\) tensors,.*/\1/p' "$T/out")" ] &&
   grep -q "vit.encoder.layer.1.output.dense.weight" "$T/out" && grep -q "note: .*--heads" "$T/err" &&
   [ "$(wc -l < "$T/err")" -eq 1 ]; then echo "PASS model_inspect_lone_no_heads"
else echo "FAIL model_inspect_lone_no_heads: status $rc: $(head -c 300 "$T/err")"; fi

# forward: logits of both classification fixtures against transformers
for f in gray16 rgb12; do
    if $B model forward --weights $G/$f --input $G/$f/input.npy --out "$T/$f.npy" --batch 2 2> "$T/err"; then
        e=$(npy_max_rel "$T/$f.npy" $G/$f/logits.npy)
        if awk -v e="$e" 'BEGIN{exit !(e + 0 <= 1e-4 && e != "nan")}' && ! echo "$e" | grep -q mismatch; then
            echo "PASS model_forward_$f (max relative error $e)"
        else echo "FAIL model_forward_$f: logits max relative error $e > 1e-4"; fi
    else
        echo "FAIL model_forward_$f: $(head -c 300 "$T/err")"
    fi
done
# a headless checkpoint has no logits: refused without --features, nothing written
expect_error model_forward_headless_logits "give --features" $B model forward --weights $G/bare8 --input $G/bare8/input.npy --out "$T/nofeat.npy"
[ -e "$T/nofeat.npy" ] && echo "FAIL model_forward_headless_nothing_written" || echo "PASS model_forward_headless_nothing_written"
# with --features it writes the CLS features
if $B model forward --weights $G/bare8 --features --input $G/bare8/input.npy --out "$T/feat.npy" 2> "$T/err"; then
    e=$(npy_max_rel "$T/feat.npy" $G/bare8/features.npy)
    if awk -v e="$e" 'BEGIN{exit !(e + 0 <= 1e-4 && e != "nan")}'; then echo "PASS model_forward_features ($e)"
    else echo "FAIL model_forward_features: max relative error $e"; fi
else
    echo "FAIL model_forward_features: $(head -c 300 "$T/err")"
fi
# a lone safetensors file (no config.json): heads must be given when dim is not a multiple of 64
expect_error model_forward_needs_heads "--heads" $B model forward --weights "$T/lone.safetensors" --input $G/gray16/input.npy --out "$T/x.npy"
if $B model forward --weights "$T/lone.safetensors" --heads 4 --input $G/gray16/input.npy --out "$T/lone.npy" 2> "$T/err"; then
    e=$(npy_max_rel "$T/lone.npy" $G/gray16/logits.npy)
    awk -v e="$e" 'BEGIN{exit !(e + 0 <= 1e-4)}' && echo "PASS model_forward_lone_file ($e)" || echo "FAIL model_forward_lone_file: $e"
else
    echo "FAIL model_forward_lone_file: $(head -c 300 "$T/err")"
fi

# errors: one line, status 2
expect_error model_forward_wrong_image "expected (any, 3, 12, 12)" $B model forward --weights $G/rgb12 --input $G/gray16/input.npy --out "$T/x.npy"
expect_error model_forward_missing_input "--input is required" $B model forward --weights $G/rgb12 --out "$T/x.npy"
expect_error model_forward_no_weights "no such file or directory" $B model forward --weights "$T/none" --input $G/rgb12/input.npy --out "$T/x.npy"
mkdir "$T/emptydir"
expect_error model_inspect_empty_dir "no model.safetensors" $B model inspect "$T/emptydir"
head -c 5000 $G/rgb12/model.safetensors > "$T/trunc.safetensors"
expect_error model_inspect_truncated "trunc.safetensors" $B model inspect "$T/trunc.safetensors"
expect_error model_unknown_subcommand "unknown subcommand 'run'" $B model run
expect_error model_subcommand_hint "did you mean 'forward'" $B model foward
printf 'not an npy file at all' > "$T/bad.npy"
expect_error model_forward_bad_npy "bad.npy" $B model forward --weights $G/rgb12 --input "$T/bad.npy" --out "$T/x.npy"
rm -rf "$T"
