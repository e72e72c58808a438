#!/bin/sh
# test_hf_roundtrip.sh: the Hugging Face round trip of ViT checkpoints (docs/DESIGN.md,
# principle 4). flbench's side, always: train --save records the model, model export writes
# a model directory that flbench reads back bit for bit, an older checkpoint needs --model, an
# MLP is refused, and train --weights DIR takes the model from config.json. transformers'
# side, with .venv-hf/ (make hf-venv), else one SKIP: tests/hf_roundtrip.py loads the export
# with no missing, unexpected or mismatched tensors and matches flbench's logits; its negative
# controls (a flattened patch embedding, the noise scales in model.safetensors) must fail.
B=${FLBENCH:-build/flbench}
VENV=${HF_VENV:-.venv-hf}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if ! command -v python3 >/dev/null; then echo "SKIP hf_roundtrip: no python3 (it writes the fixture)"; exit 0; fi

# the fixture: a small Fashion-MNIST in its own data-root (as tests/cli/test_divergence.sh)
mkdir -p "$T/data/fashion-mnist"
python3 - "$T/data/fashion-mnist" <<'EOF'
import random, struct, sys
d = sys.argv[1]
rng = random.Random(0)
def write(prefix, n):
    labels = [i % 10 for i in range(n)]
    rng.shuffle(labels)
    img = bytearray()
    for c in labels:  # class c: rows 2c+4 and 2c+5 bright, the rest dark, all with noise
        for r in range(28):
            for x in range(28):
                img.append(rng.randrange(200, 256) if 2 * c + 4 <= r <= 2 * c + 5 else rng.randrange(0, 60))
    open(f"{d}/{prefix}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(img))
    open(f"{d}/{prefix}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + bytes(labels))
write("train", 100)
write("t10k", 50)
EOF
TASK="--dataset fashion-mnist --data-root $T/data --method lr --budget 4 --batch 20 --max-steps 2 --threads 1 --seed 0 --quiet"
SPEC="vit-tiny:patch=7,dim=32,depth=2,heads=2,mlp=64"
# a results CSV's field NAME in its last row
field() { python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(r[-1][sys.argv[2]] if r else "")' "$1" "$2"; }
# expect_error NAME NEEDLE COMMAND...: status 2 and one stderr line containing NEEDLE
expect_error() {
    name=$1; needle=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; rc=$?
    lines=$(wc -l < "$T/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then pass "$name"
    else fail "$name" "status $rc, $lines lines, expected '$needle' in: $(head -c 300 "$T/err")"; fi
}

if ! $B train $TASK --model "$SPEC" --save "$T/ck.safetensors" --out "$T/train.csv" 2> "$T/err"; then
    fail hf_train_save "$(head -c 300 "$T/err")"; exit 0
fi
# train --save records the full model specification, so that export needs no --model
$B model inspect "$T/ck.safetensors" > "$T/out" 2>&1
if grep -q "metadata model = vit:image=28,channels=1,patch=7,dim=32,depth=2,heads=2,mlp=64,classes=10" "$T/out"; then
    pass hf_save_records_model
else fail hf_save_records_model "$(grep metadata "$T/out" | head -c 300)"; fi

# export: the three files, and flbench reads its export back with the same logits, bit for bit
if $B model export --weights "$T/ck.safetensors" --hf "$T/hf" 2> "$T/err" &&
   [ -s "$T/hf/config.json" ] && [ -s "$T/hf/model.safetensors" ] && [ -s "$T/hf/flbench_extra.safetensors" ]; then
    pass hf_export_files
else fail hf_export_files "$(head -c 300 "$T/err")"; fi
python3 - "$T/x.npy" <<'EOF'
import random, struct, sys  # a (3, 1, 28, 28) float32 .npy, version 1.0, 128-byte header
rng = random.Random(1)
n = 3 * 28 * 28
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1, 28, 28), }"
hdr = hdr + " " * (128 - 10 - len(hdr) - 1) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() +
                              struct.pack(f"<{n}f", *[rng.gauss(0, 1) for _ in range(n)]))
EOF
if $B model forward --weights "$T/ck.safetensors" --input "$T/x.npy" --out "$T/l_ck.npy" 2> "$T/err" &&
   $B model forward --weights "$T/hf" --input "$T/x.npy" --out "$T/l_hf.npy" 2>> "$T/err" &&
   cmp -s "$T/l_ck.npy" "$T/l_hf.npy"; then pass hf_export_reads_back
else fail hf_export_reads_back "$(head -c 300 "$T/err")"; fi

# a Hugging Face source (the golden fixtures): exported as it is, with no noise scales to keep;
# the headless one as a ViTModel, read back to the same features
G=tests/fixtures/vit_golden
ok=1
for f in gray16 bare8; do
    feat=""; [ $f = bare8 ] && feat=--features
    $B model export --weights $G/$f --hf "$T/e_$f" 2> "$T/err" &&
    $B model forward --weights $G/$f $feat --input $G/$f/input.npy --out "$T/a_$f.npy" 2>> "$T/err" &&
    $B model forward --weights "$T/e_$f" $feat --input $G/$f/input.npy --out "$T/b_$f.npy" 2>> "$T/err" &&
    cmp -s "$T/a_$f.npy" "$T/b_$f.npy" && [ ! -e "$T/e_$f/flbench_extra.safetensors" ] || { ok=0; break; }
done
if [ $ok -eq 1 ] && grep -q '"ViTModel"' "$T/e_bare8/config.json"; then pass hf_export_hf_sources
else fail hf_export_hf_sources "$f: $(head -c 300 "$T/err")"; fi

# an older checkpoint without the "model" metadata: refused without --model, the same export with it
python3 - "$T/ck.safetensors" "$T/old.safetensors" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
del h["__metadata__"]["model"]
s = json.dumps(h).encode()
s += b" " * (-len(s) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(s)) + s + b[8 + n:])
EOF
expect_error hf_export_old_needs_model "give --model" $B model export --weights "$T/old.safetensors" --hf "$T/old"
if $B model export --weights "$T/old.safetensors" --model "vit:image=28,channels=1,patch=7,dim=32,depth=2,heads=2,mlp=64" \
       --hf "$T/old" 2> "$T/err" && cmp -s "$T/hf/model.safetensors" "$T/old/model.safetensors" &&
   cmp -s "$T/hf/config.json" "$T/old/config.json"; then pass hf_export_old_with_model
else fail hf_export_old_with_model "$(head -c 300 "$T/err")"; fi
# an MLP has no Hugging Face equivalent; usage errors
$B train --dataset fashion-mnist --data-root "$T/data" --model mlp:784-16-10 --max-steps 1 --batch 20 --threads 1 \
    --quiet --save "$T/mlp.safetensors" --out "$T/mlp.csv"
expect_error hf_export_mlp_refused "no Hugging Face equivalent" $B model export --weights "$T/mlp.safetensors" --hf "$T/mlpdir"
[ -e "$T/mlpdir" ] && fail hf_export_mlp_nothing_written "$T/mlpdir exists" || pass hf_export_mlp_nothing_written
expect_error hf_export_needs_hf "--hf is required" $B model export --weights "$T/ck.safetensors"

# train --weights DIR without --model: the model from config.json, as for model forward
if $B train $TASK --weights "$T/hf" --out "$T/fromdir.csv" 2> "$T/err" &&
   [ "$(field "$T/fromdir.csv" model)" = "vit:image=28x28,channels=1,patch=7,dim=32,depth=2,heads=2,mlp=64,eps=1e-12" ]; then
    pass hf_train_weights_dir
else fail hf_train_weights_dir "$(head -c 300 "$T/err") model '$(field "$T/fromdir.csv" model 2>/dev/null)'"; fi
# and from the checkpoint itself, through its "model" metadata
if $B train $TASK --weights "$T/ck.safetensors" --out "$T/fromck.csv" 2> "$T/err" &&
   [ "$(field "$T/fromck.csv" model)" = "vit:image=28x28,channels=1,patch=7,dim=32,depth=2,heads=2,mlp=64,eps=1e-12" ]; then
    pass hf_train_weights_checkpoint
else fail hf_train_weights_checkpoint "$(head -c 300 "$T/err")"; fi
# the golden fixture gray16 (16x16, 5 classes): its head serves classes 0-4; for all 10 a new
# head is initialised from the seed, with a note
G16=tests/fixtures/vit_golden/gray16
TASK16="--dataset fashion-mnist --data-root $T/data --image-size 16 --method lr --budget 4 --batch 20 --max-steps 2 --threads 1 --seed 0"
if $B train $TASK16 --weights $G16 --classes 0-4 --out "$T/g5.csv" 2> "$T/err" && ! grep -q "initialised from seed" "$T/err"; then
    pass hf_train_weights_dir_head_kept
else fail hf_train_weights_dir_head_kept "$(head -c 300 "$T/err")"; fi
if $B train $TASK16 --weights $G16 --out "$T/g10.csv" 2> "$T/err" && grep -q "no classifier head for 10 classes" "$T/err"; then
    pass hf_train_weights_dir_new_head
else fail hf_train_weights_dir_new_head "$(head -c 300 "$T/err")"; fi
expect_error hf_train_weights_dir_image_size "image" $B train --dataset fashion-mnist --data-root "$T/data" --weights $G16 \
    --max-steps 1 --batch 20 --threads 1 --quiet

# transformers' side
if [ ! -x "$VENV/bin/python" ]; then echo "SKIP hf_transformers: no $VENV (make hf-venv makes it)"; exit 0; fi
if ! "$VENV/bin/python" -c "import torch, safetensors, transformers.utils as u; assert u.is_torch_available(), 'transformers does not use this torch'" 2> "$T/err"; then
    echo "SKIP hf_transformers: $VENV cannot run transformers on torch: $(tail -1 "$T/err")"; exit 0
fi
"$VENV/bin/python" tests/hf_roundtrip.py "$T/hf" "$T/ck.safetensors" "$T/x.npy" "$T/l_ck.npy" > "$T/py" 2>&1; rc=$?
grep -E '^(PASS|FAIL|  )' "$T/py"
[ $rc -eq 0 ] || fail hf_roundtrip_script "status $rc: $(tail -c 300 "$T/py")"
