#!/bin/sh
# test_make_flags.sh: a CFLAGS, CPPFLAGS or LDLIBS given on make's command line replaces only
# the optimisation and debug flags: the Makefile's required flags (REQ_CFLAGS, REQ_CPPFLAGS,
# REQ_LDLIBS, appended with `override`) are still on the compile and link lines. `make -n`
# prints the commands without running them (-B: as if every file were out of date).
# Negative control: the flags of the command line itself must appear (-O0 and not -O3).
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# without SAN or WITH_CUDA from an enclosing `make test SAN=1`: make exports a variable set on
# its command line to the recipes' environment, so SAN=1 would reach this make both through
# MAKEFLAGS and as an environment variable; both are cleared, and SAN= on the command lines
# below overrides the environment in any case
unset MAKEFLAGS MAKELEVEL MFLAGS SAN WITH_CUDA
MK="make SAN= WITH_CUDA="

if ! $MK -n -B CFLAGS=-O0 build/obj/impl/io/npy.o >"$T/c" 2>&1; then
    fail make_flags_dry_run "$(tail -3 "$T/c")"
    exit 0
fi
line=$(grep -- ' -c impl/io/npy.c' "$T/c")
missing=""
for f in -O0 -std=c11 -D_GNU_SOURCE -fopenmp -ffp-contract=off -fno-math-errno -fno-trapping-math -Wall -I.; do
    printf '%s\n' "$line" | tr ' ' '\n' | grep -qx -- "$f" || missing="$missing $f"
done
if [ -z "$missing" ] && ! printf '%s\n' "$line" | grep -q -- ' -O3 '; then pass make_cflags_keeps_required
else fail make_cflags_keeps_required "missing:$missing in: $line"; fi

# a file's own flags survive too (flops.c: -march=x86-64-v2, for valgrind; see the Makefile)
$MK -n -B CFLAGS=-O1 build/obj/impl/allocators/flops.o 2>&1 | grep -- ' -c impl/allocators/flops.c' >"$T/f"
if grep -q -- '-O1 .*-ffp-contract=off.*-march=x86-64-v2' "$T/f"; then pass make_cflags_keeps_file_flags
else fail make_cflags_keeps_file_flags "$(cat "$T/f")"; fi

# CPPFLAGS and LDLIBS from the command line keep the include folders and libraries
$MK -n -B CPPFLAGS=-DFL_X LDLIBS=-lrt build/flbench >"$T/l" 2>&1
if grep -- ' -c ' "$T/l" | head -1 | grep -q -- '-DFL_X -I\. ' &&
   grep -- '-o build/flbench ' "$T/l" | grep -q -- '-lrt .*-lopenblas.*-fopenmp'; then
    pass make_cppflags_ldlibs_keep_required
else fail make_cppflags_ldlibs_keep_required "$(grep -- ' -c \|-o build/flbench ' "$T/l" | head -2)"; fi

# What make deps installs is seen by the same make: on a fresh machine `make test` installs
# Open MPI and must build with it. A deps script that makes an mpicc appear (MPICC points at
# it) gives a +MPI variant in one make; the negative control, a deps script that installs
# nothing, does not.
mkdir -p "$T/bin"
cat >"$T/deps_mpi.sh" <<DEPS
printf '#!/bin/sh\n' >"$T/bin/mpicc"
chmod +x "$T/bin/mpicc"
DEPS
echo ': nothing to install' >"$T/deps_none.sh"
v_mpi=$($MK -s BUILD="$T/b1" DEPS_SCRIPT="$T/deps_mpi.sh" MPICC="$T/bin/mpicc" print-variant 2>&1 | tail -1)
rm -f "$T/bin/mpicc"
v_none=$($MK -s BUILD="$T/b2" DEPS_SCRIPT="$T/deps_none.sh" MPICC="$T/bin/mpicc" print-variant 2>&1 | tail -1)
case "$v_mpi|$v_none" in
    *+MPI\|CPU-only) pass make_sees_what_deps_installed ;;
    *) fail make_sees_what_deps_installed "variant after a deps run that installs mpicc '$v_mpi', after one that installs nothing '$v_none'" ;;
esac
