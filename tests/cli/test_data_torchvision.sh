#!/bin/sh
# test_data_torchvision.sh: torchvision's download folders. Fixtures are written here in the
# real formats: gzip'd IDX files under ROOT/FashionMNIST/raw/, which must be found (before
# Debian's folder), and CIFAR's Python version (pickles in cifar-10-batches-py/,
# cifar-100-python/), which must be refused with one line naming what was found and the
# command that fetches the binary version.
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

# the data root holding FashionMNIST/raw/ is searched (before Debian's folder), and so is a
# dataset folder (--root) that holds it
for how in data-root root; do
    $B data inspect fashion-mnist --$how "$R" > "$T/inspect" 2>&1
    if grep -q "^root .*FashionMNIST/raw" "$T/inspect" && grep -q "^train  *20 images" "$T/inspect" &&
        grep -q "^test  *10 images" "$T/inspect"; then pass "torchvision_fashion_mnist_$how"
    else fail "torchvision_fashion_mnist_$how" "$(cat "$T/inspect")"; fi
done

# CIFAR's Python version (torchvision's download): named, with the command for the binary one
P="$T/py"
mkdir -p "$P/cifar-10-batches-py" "$P/cifar-100-python"
python3 - "$P" <<'EOF'
import pickle, sys
d = sys.argv[1]
batch = {b"batch_label": b"fixture", b"labels": [0, 1], b"data": bytes(2 * 3072), b"filenames": [b"a.png", b"b.png"]}
for f in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
    pickle.dump(batch, open(f"{d}/cifar-10-batches-py/{f}", "wb"), protocol=2)
pickle.dump({b"label_names": [b"c%d" % k for k in range(10)]}, open(f"{d}/cifar-10-batches-py/batches.meta", "wb"), protocol=2)
fine = {b"fine_labels": [0, 1], b"coarse_labels": [0, 1], b"data": bytes(2 * 3072)}
for f in ("train", "test"):
    pickle.dump(fine, open(f"{d}/cifar-100-python/{f}", "wb"), protocol=2)
EOF
for ds in cifar10 cifar100; do
    [ $ds = cifar10 ] && sub=cifar-10-batches-py || sub=cifar-100-python
    $B train --dataset $ds --data-root "$P" --max-steps 1 --quiet --out "$T/c.csv" > "$T/out" 2> "$T/err"; rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "$sub holds the .* Python version (pickles" "$T/err" &&
        grep -qF "run \`flbench data fetch $ds\`" "$T/err"; then pass "cifar_python_named_$ds"
    else fail "cifar_python_named_$ds" "rc=$rc: $(cat "$T/err")"; fi
done
$B data inspect cifar10 --data-root "$P" > "$T/out" 2> "$T/err"
if grep -q "^missing .*found the Python pickle version" "$T/out"; then pass cifar_python_inspect
else fail cifar_python_inspect "$(cat "$T/out" "$T/err")"; fi
rm -rf "$T"
