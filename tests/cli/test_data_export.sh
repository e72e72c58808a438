#!/bin/sh
# test_data_export.sh: `flbench data export` on a gzip'd IDX fixture written here: the test
# split comes out as (N, 1, 28, 28) float32 and (N,) int32 labels, and a few pixels are checked
# against (x/255 - 0.2860) / 0.3530, Fashion-MNIST's own normalisation; --shots and --limit
# choose the images as documented; bad usage is one line and exit 2.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# Fashion-MNIST fixture: image i, pixel j (row-major 28x28) = (7 i + j) mod 256, label i mod 10;
# 20 training and 10 test images, gzip'd by gzip(1) as torchvision's downloads are.
R="$T/tv"
mkdir -p "$R/FashionMNIST/raw"
python3 - "$R/FashionMNIST/raw" <<'EOF'
import struct, sys
d = sys.argv[1]
for split, n in (("train", 20), ("t10k", 10)):
    pix = bytes((7 * i + j) % 256 for i in range(n) for j in range(784))
    open(f"{d}/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + pix)
    open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
EOF
gzip "$R"/FashionMNIST/raw/*-ubyte

# reads X.npy's header and data: prints "descr shape" then the values at the given flat indices
npy() {
    python3 - "$@" <<'EOF'
import ast, struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:6] == b"\x93NUMPY" and b[6] == 1, "not a .npy 1.0 file"
hlen = struct.unpack("<H", b[8:10])[0]
h = ast.literal_eval(b[10:10 + hlen].decode())
data = b[10 + hlen:]
n = 1
for s in h["shape"]: n *= s
assert len(data) == 4 * n, f"{len(data)} data bytes for {n} elements"
fmt = "<f" if h["descr"] == "<f4" else "<i"
vals = [struct.unpack_from(fmt, data, 4 * int(i))[0] for i in sys.argv[2:]]
print(h["descr"], h["shape"], *vals)
EOF
}

# export the test split: shape, dtype, and pixels (0,0,0,0), (3,0,5,9), (9,0,27,27)
if $B data export fashion-mnist --data-root "$R" --split test --out "$T/x.npy" --labels "$T/y.npy" > "$T/log" 2>&1; then
    got=$(npy "$T/x.npy" 0 $((3 * 784 + 5 * 28 + 9)) $((9 * 784 + 783)))
    # expected in float32 as fl_images_batch computes it; 1e-6 covers the difference between
    # float32 and Python's double arithmetic for values of magnitude below 3 (2^-22 ~ 2.4e-7)
    if python3 - "$got" <<'EOF'
import sys
w = sys.argv[1].split(" ", 1)
descr, rest = w[0], w[1]
shape = rest[:rest.index(")") + 1]
vals = [float(v) for v in rest[rest.index(")") + 1:].split()]
want = [((7 * i + j) % 256 / 255 - 0.2860) / 0.3530 for i, j in ((0, 0), (3, 5 * 28 + 9), (9, 783))]
ok = descr == "<f4" and shape == "(10, 1, 28, 28)" and all(abs(a - b) < 1e-6 for a, b in zip(vals, want))
sys.exit(0 if ok else 1)
EOF
    then pass export_test_split_pixels; else fail export_test_split_pixels "got: $got"; fi
    got=$(npy "$T/y.npy" 0 3 9)
    if [ "$got" = "<i4 (10,) 0 3 9" ]; then pass export_labels; else fail export_labels "got: $got"; fi
else
    fail export_test_split_pixels "$(cat "$T/log")"
    fail export_labels "no export"
fi

# the training split as train opens it: --shots 1 gives one image per class, --limit cuts it
if $B data export fashion-mnist --data-root "$R" --split train --shots 1 --out "$T/x1.npy" --labels "$T/y1.npy" > "$T/log" 2>&1 &&
    $B data export fashion-mnist --data-root "$R" --limit 4 --out "$T/x4.npy" >> "$T/log" 2>&1; then
    a=$(npy "$T/x1.npy"); b=$(npy "$T/y1.npy" 0 1 2 3 4 5 6 7 8 9 | cut -d' ' -f3- | tr ' ' '\n' | sort -n | tr '\n' ' ')
    c=$(npy "$T/x4.npy")
    if [ "$a" = "<f4 (10, 1, 28, 28)" ] && [ "$b" = "0 1 2 3 4 5 6 7 8 9 " ] && [ "$c" = "<f4 (4, 1, 28, 28)" ]; then
        pass export_train_shots_limit
    else fail export_train_shots_limit "shots 1: $a, labels $b; limit 4: $c"; fi
else fail export_train_shots_limit "$(cat "$T/log")"; fi

# bad usage: one line, exit 2
$B data export fashion-mnist --data-root "$R" > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q -- "--out" "$T/err"; then pass export_needs_out
else fail export_needs_out "rc=$rc: $(cat "$T/err")"; fi
$B data export fashion-mnist --data-root "$R" --split val --out "$T/v.npy" > "$T/out" 2> "$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "expected one of train|test, found 'val'" "$T/err" && [ ! -e "$T/v.npy" ]; then pass export_bad_split
else fail export_bad_split "rc=$rc: $(cat "$T/err")"; fi

rm -rf "$T"
