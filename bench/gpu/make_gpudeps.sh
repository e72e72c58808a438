#!/bin/sh
# make_gpudeps.sh: packs the C libraries flbench links, with their headers, from this Debian
# machine into .gpudeps/deps.tar.gz, for the GPU check (bench/gpu_check.sh) on a machine with
# a GPU that has nvcc and PyTorch but maybe not these -dev packages, nor a network to install them.
#   include/  cblas.h (OpenBLAS, OpenMP build), csv.h, cjson/, jpeglib.h, png.h, matio.h, zlib.h
#   lib/      libopenblas.so.0 (+ libgfortran.so.5, libquadmath.so.0), libcsv.so.3,
#             libcjson.so.1, libjpeg.so.62, libpng16.so.16, libgsl.so.27 (+ libgslcblas.so.0);
#             gsl/ headers (the report's t quantiles)
# Not packed: zlib (every image has libz.so.1; gpu_check.sh links to it) and libmatio (its
# HDF5/curl dependencies are large; gpu_check.sh builds a stub, since the GPU check reads no
# .mat file). .gpudeps/ is ignored (.gitignore, and .git/info/exclude); copy it along with the
# working tree to the machine with a GPU.
# Usage (repository root): sh bench/gpu/make_gpudeps.sh
set -e
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include/cjson" "$tmp/lib"
ob=/usr/include/x86_64-linux-gnu/openblas-openmp
cp -L "$ob/cblas.h" "$ob/openblas_config.h" /usr/include/csv.h /usr/include/jpeglib.h /usr/include/jerror.h \
      /usr/include/jmorecfg.h /usr/include/x86_64-linux-gnu/jconfig.h /usr/include/png.h /usr/include/pngconf.h \
      /usr/include/pnglibconf.h /usr/include/matio.h /usr/include/matio_pubconf.h /usr/include/zlib.h \
      /usr/include/zconf.h "$tmp/include/"
cp -L /usr/include/cjson/cJSON.h "$tmp/include/cjson/"
cp -rL /usr/include/gsl "$tmp/include/"
L=/usr/lib/x86_64-linux-gnu
cp -L "$L/openblas-openmp/libopenblas.so.0" "$L/libgfortran.so.5" "$L/libquadmath.so.0" "$L/libcsv.so.3" \
      "$L/libcjson.so.1" "$L/libjpeg.so.62" "$L/libpng16.so.16" "$L/libgsl.so.27" "$L/libgslcblas.so.0" "$tmp/lib/"
mkdir -p .gpudeps
tar -C "$tmp" -czf .gpudeps/deps.tar.gz include lib
ex=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$ex")"
grep -qx '/.gpudeps/' "$ex" 2>/dev/null || echo '/.gpudeps/' >>"$ex"
echo "wrote .gpudeps/deps.tar.gz ($(du -k .gpudeps/deps.tar.gz | cut -f1) KB); copy .gpudeps along"
# What the GPU check needs copied: the tracked and the untracked, not ignored files, plus
# .gpudeps. Keep it under 64 MiB: ignore the big folders first (a virtual environment, say).
kb=$(git ls-files -co --exclude-standard -z | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
kb=$((kb + $(du -sk .gpudeps | cut -f1)))
echo "the working tree to copy, with .gpudeps: $((kb / 1024)) MiB (keep it under 64)"
if [ "$kb" -gt 61440 ]; then
    echo "WARNING: too large; the largest untracked, not ignored folders:"
    git ls-files -o --exclude-standard --directory | xargs -r du -sk 2>/dev/null | sort -rn | head -5
fi
