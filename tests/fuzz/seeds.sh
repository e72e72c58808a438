#!/bin/sh
# seeds.sh GEN DIR: the seed corpus of `make fuzz` in DIR/<parser>/ (generated, not
# committed). GEN is the built gen_seeds (files from the project's writers); this adds copies
# of committed files that the project's writers made: the ViT fixtures' config.json,
# safetensors and npy files, the sweep configurations of bench/configs/ (an include line
# points at the harness's a.inc) and the first rows of the reference results CSVs.
set -eu
GEN=$1; DIR=$2
rm -rf "$DIR"
mkdir -p "$DIR"
"$GEN" "$DIR"
mkdir -p "$DIR/hfconfig" "$DIR/sweepconf" "$DIR/csv"
for d in tests/fixtures/vit_golden/*/; do
    n=$(basename "$d")
    cp "$d/config.json" "$DIR/hfconfig/$n.json"
    for f in "$d"*.npy; do [ -f "$f" ] && cp "$f" "$DIR/npy/$n-$(basename "$f")"; done
    for f in "$d"*.safetensors; do
        [ -f "$f" ] && [ "$(wc -c < "$f")" -le 65536 ] && cp "$f" "$DIR/safetensors/$n-$(basename "$f")"
    done
done
for f in bench/configs/*.conf bench/configs/*.inc; do
    sed 's/^\([[:space:]]*\)include .*/\1include a.inc/' "$f" > "$DIR/sweepconf/$(basename "$f")"
done
find results/reference -name '*.csv' | sort | head -12 | while read -r f; do
    head -n 4 "$f" > "$DIR/csv/$(echo "$f" | tr / _)"
done
