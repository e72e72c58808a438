#!/bin/bash
# gpu_check.sh: the GPU check, the one prepared run for a machine with a GPU (issue 4). It
# builds flbench with CUDA, runs the cross-backend tests, measures cuBLAS sgemm and TF32
# rates, times ViT-B/16 steps (batch 64, 20 queries per datum: LR with the authors' scope and
# with scope all, MeZO with 2 queries per datum, BP) and the same LR step in PyTorch eager,
# and writes to $OUT:
#   gpu_check.csv   device,what,ms,gflop,gflops,ratio_to_cublas,peak_mem_mb,detail
#   gpu_check.log   everything printed, with timestamps per phase
#   test_cuda.txt   the cross-backend test output;  build.log   the build
#
# How to run it: pack the C libraries once on a Debian machine that has their -dev packages,
# copy the working tree with .gpudeps/ to the machine with a GPU, and run it there from the
# repository root (give it 8 minutes):
#   sh bench/gpu/make_gpudeps.sh          # writes .gpudeps/deps.tar.gz (12 MB, git-ignored)
#   bash bench/gpu_check.sh               # on the machine with a GPU; OUT=DIR for the results
# It ends within 7 minutes (no phase starts after 5 minutes, each is cut at 7; typical
# total is 3 to 4 minutes) and prints a summary table last.
#
# The machine with a GPU is expected to have nvcc, PyTorch and gcc, but maybe not the -dev
# packages of OpenBLAS, libcsv, cJSON, libjpeg, libpng, libmatio and zlib, nor a network: the
# .gpudeps copied along supplies them (headers through CPATH, libraries through LIBRARY_PATH
# at link time and LD_LIBRARY_PATH for our programs only, never for python); libmatio is
# replaced by a stub built here from the symbols libfl.a uses (no .mat file is read in this
# check). Nothing is installed into the system.
# The authors' scope is "Q, K, V and output of the last few blocks plus the classifier"
# (docs/METHOD.md, "Estimators", Scope; the paper gives no K); K = 4 here.
# Environment knobs: AUTHORS_SCOPE (default attn:last:4), STEPS (timed steps, default 3),
# FL_GPU_CHECK_NO_MAKE=1 (use the fallback build, as on an image without make).
set -u
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
CSV=$OUT/gpu_check.csv
exec > >(tee -a "$LOG") 2>&1
T0=$(date +%s)
DEADLINE=300  # no new timed phase starts after this many seconds
LIMIT=420     # and every phase is cut (timeout) so that the whole run ends by this one (7 min)
AUTHORS_SCOPE=${AUTHORS_SCOPE:-attn:last:4}
STEPS=${STEPS:-3}
phase() { echo; echo "== [$(($(date +%s) - T0)) s] $*"; }
late() { [ $(($(date +%s) - T0)) -gt $DEADLINE ]; }
cap() {  # cap SECONDS: that, or what is left before LIMIT (at least 1)
    local left=$((LIMIT - ($(date +%s) - T0)))
    [ $left -lt 1 ] && left=1
    echo $(($1 < left ? $1 : left))
}
echo 'device,what,ms,gflop,gflops,ratio_to_cublas,peak_mem_mb,detail' >"$CSV"

phase "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu \
    --format=csv 2>&1 | head -3
uname -r; nproc; (gcc --version | head -1) 2>&1
if [ -x /usr/local/cuda/bin/nvcc ]; then CUDA_HOME=/usr/local/cuda
elif command -v nvcc >/dev/null; then CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
else echo "FATAL: no nvcc"; exit 1; fi
"$CUDA_HOME/bin/nvcc" --version | tail -2
command -v make >/dev/null || echo "note: no make here; the fallback build below is used"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())' 2>&1 | tail -1

phase "dependencies"
DEPS=/tmp/flbench-gpudeps
rm -rf "$DEPS" && mkdir -p "$DEPS/lib" "$DEPS/include"
if [ -f .gpudeps/deps.tar.gz ]; then tar -C "$DEPS" -xzf .gpudeps/deps.tar.gz && echo "unpacked .gpudeps"
else echo "WARNING: .gpudeps/deps.tar.gz missing (run sh bench/gpu/make_gpudeps.sh on a Debian machine and copy .gpudeps along)"; fi
cd "$DEPS/lib" && for l in libopenblas.so.0 libcsv.so.3 libcjson.so.1 libjpeg.so.62 libpng16.so.16 libgsl.so.27; do
    [ -f "$l" ] && ln -sf "$l" "${l%%.so*}.so"; done
[ -f libpng16.so.16 ] && ln -sf libpng16.so.16 libpng.so
cd - >/dev/null
# zlib: the system's libz.so.1, under the link name
if ! ls /usr/lib/x86_64-linux-gnu/libz.so /usr/lib64/libz.so /usr/lib/libz.so >/dev/null 2>&1; then
    z=$(ldconfig -p | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')
    [ -n "$z" ] && ln -sf "$z" "$DEPS/lib/libz.so" && echo "libz.so -> $z"
fi
# cuBLAS and the CUDA runtime: the toolkit's, else PyTorch's wheels
CUDA_LIB=$CUDA_HOME/lib64
if [ ! -e "$CUDA_LIB/libcublas.so" ]; then
    for d in "$CUDA_HOME/targets/x86_64-linux/lib" $(python3 -c 'import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), "lib"))' 2>/dev/null); do
        if ls "$d"/libcublas.so* >/dev/null 2>&1; then
            for l in "$d"/libcublas.so.* "$d"/libcublasLt.so.*; do ln -sf "$l" "$DEPS/lib/$(basename "$l")"; done
            ln -sf "$(ls "$d"/libcublas.so.* | head -1)" "$DEPS/lib/libcublas.so"
            echo "cuBLAS from $d"; break
        fi
    done
fi
export CPATH=$DEPS/include${CPATH:+:$CPATH}
export LIBRARY_PATH=$DEPS/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
RUNLIB=$DEPS/lib:$CUDA_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fl() { LD_LIBRARY_PATH=$RUNLIB "$@"; }  # our programs see the copied-along libraries; python does not

phase "build"
# the Makefile's deps step would try apt-get (no network here): mark it done
mkdir -p build && touch build/.deps-ok
MK="make -j16 WITH_CUDA=1 CUDA_HOME=$CUDA_HOME"
matio_stub() {  # a libmatio.so.11 that defines the Mat_* functions libfl.a calls, each returning 0
    if echo 'int main(void){return 0;}' | LD_LIBRARY_PATH=$RUNLIB gcc -x c - -lmatio -o /dev/null 2>/dev/null; then return; fi
    nm build/libfl.a 2>/dev/null | awk '$1 == "U" && $2 ~ /^Mat_/ {print "void* " $2 "(void) { return 0; }"}' | sort -u >"$DEPS/matio_stub.c"
    gcc -shared -fPIC -o "$DEPS/lib/libmatio.so.11" -Wl,-soname,libmatio.so.11 "$DEPS/matio_stub.c" &&
        ln -sf libmatio.so.11 "$DEPS/lib/libmatio.so" && echo "libmatio stub: $(wc -l <"$DEPS/matio_stub.c") functions"
}
fallback_build() {  # the Makefile's rules by hand, for an image without make
    local CF="-O3 -march=x86-64-v3 -std=c11 -D_GNU_SOURCE -fopenmp -ffp-contract=off -I. -DFL_WITH_CUDA -I$CUDA_HOME/include"
    local NF="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -ftz=true -I. -I$CUDA_HOME/include -DFL_WITH_CUDA"
    mkdir -p build/fb build/tests
    for f in impl/*/*.c datasets/*.c; do echo "gcc $CF -c $f -o build/fb/$(echo "$f" | tr / _).o"; done | xargs -P 16 -I{} sh -c '{}' || return 1
    for f in impl/backend/cuda/*.cu; do
        x=""; case $f in *noise*) x="-fmad=false";; esac
        echo "$CUDA_HOME/bin/nvcc $NF $x -c $f -o build/fb/$(basename "$f").o"
    done | xargs -P 4 -I{} sh -c '{}' || return 1
    rm -f build/libfl.a && ar rcs build/libfl.a build/fb/*.o || return 1
    mkdir -p build/fbh
    for f in bench/*.c bench/run/*.c; do [ "$f" = bench/flbench.c ] || echo "gcc $CF -c $f -o build/fbh/$(echo "$f" | tr / _).o"; done | xargs -P 16 -I{} sh -c '{}' || return 1
    rm -f build/libflbench.a && ar rcs build/libflbench.a build/fbh/*.o || return 1
    matio_stub
    local LL="build/libflbench.a build/libfl.a -L$CUDA_LIB -lcublas -lcudart -lstdc++ -lopenblas -lgsl -lcsv -lcjson -ljpeg -lpng -lmatio -lz -lm -fopenmp"
    fl gcc $CF -o build/tests/test_cuda tests/unit/test_cuda.c $LL && fl gcc $CF -o build/bench_gpu bench/gpu/bench_gpu.c $LL &&
        fl gcc $CF -o build/tests/test_vit_prompt tests/unit/test_vit_prompt.c $LL
}
tb=$(date +%s)
if command -v make >/dev/null && [ -z "${FL_GPU_CHECK_NO_MAKE:-}" ]; then
    { LD_LIBRARY_PATH=$RUNLIB timeout "$(cap 200)" $MK build/libfl.a && matio_stub &&
      LD_LIBRARY_PATH=$RUNLIB timeout "$(cap 120)" make -j16 cuda CUDA_HOME="$CUDA_HOME" ;
      LD_LIBRARY_PATH=$RUNLIB timeout "$(cap 120)" $MK build/tests/test_cuda build/bench_gpu build/tests/test_vit_prompt; } >"$OUT/build.log" 2>&1
else
    LD_LIBRARY_PATH=$RUNLIB timeout "$(cap 240)" bash -c "$(declare -f fallback_build matio_stub fl); CUDA_HOME=$CUDA_HOME CUDA_LIB=$CUDA_LIB DEPS=$DEPS RUNLIB=$RUNLIB fallback_build" >"$OUT/build.log" 2>&1
fi
echo "build: $(($(date +%s) - tb)) s; warnings: $(grep -c -i 'warning' "$OUT/build.log"); errors: $(grep -c -i ' error' "$OUT/build.log")"
grep -i -E "warning|error" "$OUT/build.log" | head -20
for b in build/tests/test_cuda build/bench_gpu build/flbench; do [ -x $b ] && echo "built $b" || echo "MISSING $b"; done
if [ ! -x build/tests/test_cuda ] || [ ! -x build/bench_gpu ]; then tail -40 "$OUT/build.log"; echo "FATAL: build failed"; exit 1; fi

phase "cross-backend tests"
fl timeout "$(cap 150)" build/tests/test_cuda >"$OUT/test_cuda.txt" 2>&1
echo "test_cuda exit $?: $(grep -c '^PASS' "$OUT/test_cuda.txt") passed, $(grep -c '^FAIL' "$OUT/test_cuda.txt") failed, $(grep -c '^SKIP' "$OUT/test_cuda.txt") skipped"
grep -E "^(FAIL|SKIP)|check failed|device:|\|g_gpu" "$OUT/test_cuda.txt" | head -60
[ -x build/flbench ] && FLBENCH=build/flbench fl timeout "$(cap 30)" sh tests/cli/test_cuda_cli.sh 2>&1 | head -5
# the ViT with prompt tokens (black-box prompt tuning) on the device, against the CPU and a
# double-precision reference (its *_cuda tests)
[ -x build/tests/test_vit_prompt ] && fl timeout "$(cap 60)" build/tests/test_vit_prompt 2>&1 | grep -E "^(PASS|FAIL|SKIP)|check failed" | head -12

phase "data parallelism on the GPU (docs/SCALING.md)"
# --slices 2 on one rank: the slice partials and their fold on the device, against the CPU's
# row; with mpirun and a build with MPI, 1 rank against 2 (NCCL, one GPU each where there are
# two; on one GPU NCCL refuses two ranks, so that case waits for a machine with several)
if [ -x build/flbench ] && [ -d /usr/share/datasets/fashion-mnist ]; then
    DP="--dataset fashion-mnist --shots 4 --val-per-class 2 --batch 12 --max-steps 3 --model vit-tiny --method lr --allocator flops --budget 8 --seed 1 --slices 2 --quiet"
    fl timeout "$(cap 60)" build/flbench train $DP --backend cuda --out "$OUT/dp_cuda.csv" && \
        fl timeout "$(cap 60)" build/flbench train $DP --backend cpu --out "$OUT/dp_cpu.csv" && \
        echo "slices on cuda: train_loss $(python3 -c "import csv;a=list(csv.DictReader(open('$OUT/dp_cuda.csv')))[-1];b=list(csv.DictReader(open('$OUT/dp_cpu.csv')))[-1];print(a['train_loss'],'cpu',b['train_loss'],'reduce_bytes',a['reduce_bytes'],b['reduce_bytes'])" 2>&1)"
    NGPU=$(nvidia-smi -L 2>/dev/null | wc -l)
    if command -v mpirun >/dev/null 2>&1 && build/flbench --version | grep -q ', MPI)' && [ "$NGPU" -ge 2 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        fl timeout "$(cap 90)" mpirun --oversubscribe -np 2 build/flbench train $DP --backend cuda --out "$OUT/dp_nccl.csv" 2>&1 | tail -3
        python3 -c "import csv;a=list(csv.DictReader(open('$OUT/dp_cuda.csv')));b=list(csv.DictReader(open('$OUT/dp_nccl.csv')));print('nccl 2 ranks vs 1:', 'same train_loss' if [r['train_loss'] for r in a]==[r['train_loss'] for r in b] else 'DIFFERENT', b[-1]['t_comm_ms'], 'ms comm')" 2>&1
    else
        echo "NCCL across ranks: not run (needs mpirun, a build with MPI and 2 GPUs; found $NGPU GPU(s), $(build/flbench --version))"
    fi
fi

phase "cuBLAS rates"
fl timeout "$(cap 90)" build/bench_gpu gemm --csv "$CSV" | tee "$DEPS/gemm.txt"
REF=$(awk '/^CUBLAS_FP32_BEST_GFLOPS/ {print $2}' "$DEPS/gemm.txt")
REF=${REF:-0}
echo "reference (best fp32 cuBLAS rate): $REF GFLOP/s"

phase "ViT-B/16 steps (batch 64, 20 queries per datum)"
step() {  # label, then bench_gpu step options
    local what=$1; shift
    if late; then echo "SKIP $what: past the deadline"; return 1; fi
    fl timeout "$(cap 100)" build/bench_gpu step --what "$what" --csv "$CSV" --ref-gflops "$REF" --steps "$STEPS" "$@"
    local rc=$?
    [ $rc -eq 124 ] && echo "FAIL $what: timed out"
    return $rc
}
step "vit-b16 lr $AUTHORS_SCOPE" --model vit-b16 --method lr --scope "$AUTHORS_SCOPE" --budget 20 --batch 64
if [ $? -ne 3 ]; then  # 3: no ViT-B/16 in this build (bench_gpu printed SKIP and why)
    step "vit-b16 lr all" --model vit-b16 --method lr --scope all --budget 20 --batch 64 --steps 2
    step "vit-b16 mezo" --model vit-b16 --method mezo --budget 2 --batch 64
    step "vit-b16 inference+adam state" --model vit-b16 --method infer --batch 64
    step "vit-b16 bp" --model vit-b16 --method bp --batch 64
    step "vit-b16 lr $AUTHORS_SCOPE tf32" --model vit-b16 --method lr --scope "$AUTHORS_SCOPE" --budget 20 --batch 64 --math tf32
else
    echo "no ViT-B/16 here (see above): timing an MLP instead (3072-4096-4096-10)"
    step "mlp lr all" --model mlp:3072-4096-4096-10 --image 32 --method lr --scope all --budget 20 --batch 64
    step "mlp mezo" --model mlp:3072-4096-4096-10 --image 32 --method mezo --budget 2 --batch 64
    step "mlp bp" --model mlp:3072-4096-4096-10 --image 32 --method bp --batch 64
fi

phase "PyTorch eager LR step (authors' scope)"
K=${AUTHORS_SCOPE##*:}
if late; then echo "SKIP torch: past the deadline"
else PYTHONUNBUFFERED=1 timeout "$(cap 150)" python3 bench/peers/torch_lr_gpu.py --batch 64 --queries 20 --scope-last "$K" \
        --steps "$STEPS" --ref-gflops "$REF" --csv "$CSV" --what "torch-eager lr $AUTHORS_SCOPE" 2>&1 | tail -5
fi

phase "summary"
python3 - "$CSV" "$AUTHORS_SCOPE" <<'EOF' 2>&1 || cat "$CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
scope = sys.argv[2]
print(f"{'what':<46} {'ms':>10} {'GFLOP/s':>10} {'ratio':>7} {'peak MB':>9}")
for r in rows:
    print(f"{r['what'][:46]:<46} {float(r['ms']):10.2f} {float(r['gflops']):10.1f} {r['ratio_to_cublas'] or '-':>7} {float(r['peak_mem_mb']):9.0f}")
by = {r["what"]: r for r in rows}
ours, torch = by.get(f"vit-b16 lr {scope}"), by.get(f"torch-eager lr {scope}")
if ours and ours["ratio_to_cublas"]:
    q = float(ours["ratio_to_cublas"])
    print(f"check: ViT-B/16 LR step at {q:.2f} of the fp32 cuBLAS rate (target >= 0.50): {'ok' if q >= 0.5 else 'MISSED'}")
if ours and torch:
    s = float(torch["ms"]) / float(ours["ms"])
    print(f"check: {s:.2f}x faster than PyTorch eager (target >= 1.5): {'ok' if s >= 1.5 else 'MISSED'}")
mz, inf = by.get("vit-b16 mezo"), by.get("vit-b16 inference+adam state")
if mz and inf:
    r = float(mz["peak_mem_mb"]) / float(inf["peak_mem_mb"])
    print(f"check: MeZO peak memory {float(mz['peak_mem_mb']):.0f} MB = {r:.3f}x inference plus Adam state {float(inf['peak_mem_mb']):.0f} MB (target <= 1.1): {'ok' if r <= 1.1 else 'MISSED'}")
print("device:", rows[0]["device"] if rows else "?")
EOF
echo "total $(($(date +%s) - T0)) s"
sleep 1  # let tee finish the log
