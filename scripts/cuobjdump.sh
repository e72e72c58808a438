#!/bin/sh
# cuobjdump.sh: prints the path of a cuobjdump (the CUDA tool that lists the architectures in
# a fatbinary), for tests/cli/test_cuda_archs.sh and `make cuobjdump`. Looks at $CUOBJDUMP, the
# toolkit ($CUDA_HOME/bin), PATH and build/cuobjdump-venv/; with --install, and none found,
# installs PyPI's nvidia-cuda-cuobjdump into build/cuobjdump-venv/ (a virtual environment).
# Exit 1 with one line on stderr saying why when there is none.
VENV=build/cuobjdump-venv
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
found() {
    for c in "${CUOBJDUMP:-}" "$CUDA_HOME/bin/cuobjdump" "$(command -v cuobjdump 2>/dev/null)" \
        $(find "$VENV" -name cuobjdump -type f 2>/dev/null); do
        [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}
found && exit 0
if [ "${1:-}" != "--install" ]; then
    echo "cuobjdump.sh: no cuobjdump in \$CUOBJDUMP, $CUDA_HOME/bin, PATH or $VENV (make cuobjdump installs one)" >&2
    exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check nvidia-cuda-cuobjdump; } >"$log" 2>&1; then
    echo "cuobjdump.sh: could not install nvidia-cuda-cuobjdump into $VENV: $(grep -v '^ *$' "$log" | tail -1)" >&2
    exit 1
fi
found && exit 0
echo "cuobjdump.sh: nvidia-cuda-cuobjdump installed into $VENV, but it holds no cuobjdump" >&2
exit 1
