#!/bin/sh
# test_cuda_cli.sh: `flbench train --backend cuda` on either kind of machine.
#  - without a GPU (or in a build without CUDA): exactly one line on stderr, carrying
#    "no CUDA device: <why>", and exit status 2 (a bad-input exit: nothing was run);
#  - with a GPU: one step of the MLP on Fashion-MNIST, when that data is installed.
B=${FLBENCH:-build/flbench}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$B train --backend cuda --method lr --max-steps 1 --batch 8 --eval-batch 100 --shots 10 --quiet \
    --out "$T/r.csv" >"$T/out" 2>"$T/err"
rc=$?
if grep -q "no CUDA device:" "$T/err"; then
    lines=$(wc -l <"$T/err")
    if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$T/out" ]; then
        echo "PASS cuda_cli_no_device ($(cat "$T/err"))"
    else
        echo "FAIL cuda_cli_no_device: exit $rc (want 2), $lines stderr lines (want 1), stdout $(wc -c <"$T/out") bytes (want 0):"
        sed 's/^/    /' "$T/err"
    fi
    echo "SKIP cuda_cli_one_step: no CUDA device here"
    exit 0
fi
echo "SKIP cuda_cli_no_device: a CUDA device is present"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "SKIP cuda_cli_one_step: /usr/share/datasets/fashion-mnist is not installed"
    exit 0
fi
if [ "$rc" -eq 0 ] && grep -q ",cuda," "$T/r.csv"; then
    echo "PASS cuda_cli_one_step"
else
    echo "FAIL cuda_cli_one_step: exit $rc"
    sed 's/^/    /' "$T/err"
fi
