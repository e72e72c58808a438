#!/bin/sh
# test_cuda_archs.sh: the CUDA build carries machine code for every architecture it is meant
# to run on (Makefile, CUDA_ARCHS: sm_80, sm_86, sm_89 and sm_90 by default) plus PTX of the
# last. cuobjdump --list-elf / --list-ptx read each CUDA object and the linked build/flbench;
# cuobjdump comes from the toolkit or PyPI (scripts/cuobjdump.sh --install). SKIPs without a
# CUDA build (make cuda) or without cuobjdump, saying why.
B=${FLBENCH:-build/flbench}
BUILD=$(dirname "$B")
OBJ=$BUILD/obj-cuda
REQUIRED="80 86 89 90"   # the GPUs flbench is meant to run on (README, "GPUs")

# the Makefile's default must name every required architecture
default=$(sed -n 's/^CUDA_ARCHS ?= *//p' Makefile)
missing=""
for a in $REQUIRED; do
    case " $default " in *" $a "*) ;; *) missing="$missing $a" ;; esac
done
if [ -n "$missing" ]; then
    echo "FAIL cuda_archs_default: the Makefile's CUDA_ARCHS default is '$default': expected $REQUIRED, missing$missing"
else
    echo "PASS cuda_archs_default (CUDA_ARCHS ?= $default)"
fi

objs=$(ls "$OBJ"/impl/backend/cuda/*.o 2>/dev/null)
if [ -z "$objs" ]; then
    echo "SKIP cuda_archs_fatbin: no CUDA objects in $OBJ (make cuda)"
    exit 0
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if ! CUOBJ=$(sh scripts/cuobjdump.sh --install 2>"$err"); then
    echo "SKIP cuda_archs_fatbin: $(cat "$err")"
    exit 0
fi
# what the objects were built for (the Makefile records CUDA_ARCHS); without the record, the default
want=$(cat "$OBJ/cuda_archs" 2>/dev/null || echo "$REQUIRED")
want=$(echo $want | tr ' ' '\n' | sort -u | tr '\n' ' ')
ptx=$(echo $want | tr ' ' '\n' | sort -n | tail -1)
# ARCHS KIND FILE: the sorted set of sm_XX of the file's embedded ELF or PTX entries
archs() {
    "$CUOBJ" "--list-$1" "$2" 2>/dev/null | sed -n 's/.*\.sm_\([0-9]*[a-z]*\)\.\(cubin\|ptx\)$/\1/p' | sort -u | tr '\n' ' '
}
bad=0
files="$objs"
[ -x "$B" ] && [ -n "$(archs elf "$B")" ] && files="$files $B"
for f in $files; do
    elf=$(archs elf "$f"); p=$(archs ptx "$f")
    if [ "$elf" != "$want" ] || [ "$p" != "$ptx " ]; then
        echo "FAIL cuda_archs_fatbin: $f: expected machine code for ${want}and PTX of $ptx, found machine code for '${elf}' and PTX of '${p}'"
        bad=1
    fi
done
[ "$(echo $want)" = "$REQUIRED" ] && note="" || note="; narrowed build, CUDA_ARCHS=$(echo $want)"
[ $bad -eq 0 ] && echo "PASS cuda_archs_fatbin (sm_$(echo $want | sed 's/ /, sm_/g') and compute_$ptx PTX; files: $(echo $files | wc -w)$note)"
exit 0
