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
# python3-numpy: bench/blackbox/blackbox_numpy.py, the black box of `flbench prompt`'s tests
# and of the prompt-tuning benchmark (docs/BLACKBOX.md).
set -e
PKGS="build-essential python3 python3-venv libopenblas-openmp-dev libcsv-dev libcjson-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev libmatio-dev gnuplot-nox dataset-fashion-mnist libgsl-dev valgrind clang-14 libclang-rt-14-dev libomp-14-dev openmpi-bin libopenmpi-dev python3-numpy"
# `sh scripts/deps.sh hf` (make hf-venv): only what .venv-hf/ needs, Debian's PyTorch with it.
[ "${1:-}" = hf ] && PKGS="python3 python3-venv python3-torch"
# numpy for the python3 on PATH, which need not be Debian's (a pyenv or a venv first on PATH
# does not see python3-numpy): from PyPI when it cannot import it
numpy_for_path_python() {
    [ "${1:-}" = hf ] && return 0
    python3 -c 'import numpy' 2>/dev/null && return 0
    echo "deps: numpy for $(command -v python3) from PyPI"
    python3 -m pip install -q numpy 2>/dev/null || python3 -m pip install -q --break-system-packages numpy ||
        echo "deps: could not install numpy for $(command -v python3); the black-box tests will be skipped" >&2
}
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    numpy_for_path_python "${1:-}"
    exit 0
fi
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
numpy_for_path_python "${1:-}"
