#!/bin/sh
# deps.sh: installs the Debian packages flbench needs, only those that are missing.
# Called by `make deps` (and so by make, make test and make reproduce). Needs root to install.
# libgsl-dev: exact t quantiles and the noncentral t for the report (linked against OpenBLAS's
# CBLAS, so without libgslcblas).
# python3: the bench and peers CLI tests; python3-venv: `make bench-peers` makes its venv.
# valgrind: ci/perf_check (the CI instruction-count gate) and tests/cli/test_perf_gate.sh.
# clang-14, libclang-rt-14-dev (libclang_rt.fuzzer and the sanitizer runtimes) and
# libomp-14-dev (clang's -fopenmp): `make fuzz`.
# openmpi-bin (mpirun, mpicc) and libopenmpi-dev (mpi.h, libmpi): data-parallel training runs
# (docs/SCALING.md); make builds with MPI when mpicc is present (make WITH_MPI=0: without).
set -e
PKGS="build-essential python3 python3-venv libopenblas-openmp-dev libcsv-dev libcjson-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev libmatio-dev gnuplot-nox dataset-fashion-mnist libgsl-dev valgrind clang-14 libclang-rt-14-dev libomp-14-dev openmpi-bin libopenmpi-dev"
# `sh scripts/deps.sh hf` (make hf-venv): only what .venv-hf/ needs, Debian's PyTorch with it.
[ "${1:-}" = hf ] && PKGS="python3 python3-venv python3-torch"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
