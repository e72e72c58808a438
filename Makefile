# flbench Makefile.
#   make              build build/flbench and build/libfl.a (CPU backend; CUDA too if built with `make cuda`)
#   make test         build and run every test; ends with "N passed, N failed, N skipped"
#   make reproduce    the paper-style comparison on this machine (QUICK=1 for a 5-minute version,
#                     PROFILE=paper for the GPU grid)
#   make bench        performance benchmarks (ratios against the machine's own sgemm)
#   make bench-peers  flbench against PyTorch eager, alternately (installs .venv-peers/ once)
#   make hf-venv      .venv-hf/ (transformers on Debian's PyTorch) for the Hugging Face round-trip test
#   make perf-baseline  rewrite ci/perf_baseline.csv (the CI instruction-count gate, ci/perf_check)
#   make plots        gnuplot figures from results/*.csv
#   make cuda         build with the CUDA backend (nvcc, cuBLAS, NVTX)
#   make deps         install missing Debian packages (does nothing when all are present)
#   make test SAN=1   the same tests on a build with -fsanitize=address,undefined (build/san/)
#   make fuzz [FUZZ_S=N]  libFuzzer harnesses of tests/fuzz/, N seconds each (default 30)
# Sources are found by wildcard: a new .c file under impl/ or datasets/ joins libfl.a, one under
# bench/ or bench/run/ joins the harness archive libflbench.a, a new tests/unit/test_*.c becomes
# a test executable, with no edit here. The floors (docs/DESIGN.md) are checked by ci/check_layers.

CC      ?= gcc
ARCH    ?= -march=x86-64-v3
# -ffp-contract=off: no implicit multiply-add, so float results (noise above all) are the same
# on every compiler and backend; FMA is used only where the code says fmaf().
# The required flags (REQ_*) are appended with `override`, so that a CFLAGS, CPPFLAGS or LDLIBS
# given on the command line (make CFLAGS=-O1) replaces only the optimisation and debug flags
# and keeps these (tests/cli/test_make_flags.sh).
CFLAGS  ?= -O3 $(ARCH) -g
REQ_CFLAGS := -std=c11 -D_GNU_SOURCE -fopenmp -ffp-contract=off -fno-math-errno -fno-trapping-math -Wall -Wextra -Wno-unused-parameter -MMD -MP
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
REQ_CPPFLAGS := -I. -I/usr/include/x86_64-linux-gnu/openblas-openmp
REQ_LDLIBS := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lgsl -lcsv -lcjson -ljpeg -lpng -lmatio -lz -lm -fopenmp
override CFLAGS += $(REQ_CFLAGS)
override CPPFLAGS += $(REQ_CPPFLAGS)
override LDLIBS += $(REQ_LDLIBS)

# make test SAN=1: every unit test and CLI test on binaries built with AddressSanitizer and
# UndefinedBehaviorSanitizer, in their own folder build/san/ (the normal build is untouched).
# Undefined behaviour aborts (-fno-sanitize-recover), so the test that hit it fails.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ifeq ($(SAN),1)
  override CFLAGS += $(SAN_FLAGS)
endif

# CUDA (make cuda): same tree, plus impl/backend/cuda/*.cu
# Machine code for each compute capability of CUDA_ARCHS (80: A100, A800; 86: A10, RTX 30xx;
# 89: L4, RTX 40xx; 90: H100, H200) plus PTX of the last one, which newer GPUs compile at load
# time; `make cuda CUDA_ARCHS=90` builds one (a GPU outside the list is refused at start-up,
# impl/backend/cuda/cuda_ops.cu). NVCC_THREADS: nvcc's --threads, the architectures of a file
# compiled side by side (0: one per core); tests/cli/test_cuda_archs.sh reads the fatbinaries.
# -ftz=true mirrors the CPU backend, which flushes denormals (cpu.c); the noise ops'
# file is also compiled with -fmad=false (rule below) so that its floats match the CPU's bit
# for bit (gcc: -ffp-contract=off).
CUDA_HOME ?= /usr/local/cuda
NVCC    ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCHS ?= 80 86 89 90
NVCC_THREADS ?= 0
CUDA_GENCODE := $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
                -gencode arch=compute_$(lastword $(CUDA_ARCHS)),code=compute_$(lastword $(CUDA_ARCHS))
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_GENCODE) --threads $(NVCC_THREADS) -DFL_CUDA_ARCHS='"$(CUDA_ARCHS)"' -ftz=true -Xcompiler -fopenmp,-Wall,-Wextra,-Wno-unused-parameter -I. -I$(CUDA_HOME)/include -lineinfo

.DEFAULT_GOAL := all
BUILD   := $(if $(filter 1,$(SAN)),build/san,build)
LIB_SRC := $(wildcard impl/*/*.c) $(wildcard datasets/*.c)
CLI_SRC := $(filter-out bench/flbench.c,$(wildcard bench/*.c)) $(wildcard bench/run/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
CU_SRC  := $(wildcard impl/backend/cuda/*.cu)

ifeq ($(WITH_CUDA),1)
  OBJDIR := $(BUILD)/obj-cuda
  override CPPFLAGS += -DFL_WITH_CUDA -I$(CUDA_HOME)/include
  override LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
  CU_OBJ := $(patsubst %.cu,$(OBJDIR)/%.o,$(CU_SRC))
  VARIANT := CPU+CUDA
else
  OBJDIR := $(BUILD)/obj
  CU_OBJ :=
  VARIANT := CPU-only
endif

# MPI (data-parallel runs, docs/SCALING.md): found at build time, like CUDA, through mpicc
# (Open MPI from Debian: make deps installs it); `make WITH_MPI=0` builds without. A build
# without MPI runs one process; started by a launcher with several tasks, it says so and stops.
MPICC ?= mpicc
WITH_MPI ?= $(if $(shell command -v $(MPICC) 2>/dev/null),1,0)
ifeq ($(WITH_MPI),1)
  MPI_CPPFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null) -DFL_WITH_MPI
  MPI_LDLIBS := $(shell $(MPICC) --showme:link 2>/dev/null)
  override CPPFLAGS += $(MPI_CPPFLAGS)
  override LDLIBS += $(MPI_LDLIBS)
  NVCC_MPI := $(MPI_CPPFLAGS)
  VARIANT := $(VARIANT)+MPI
  ifeq ($(WITH_CUDA),1)
    override LDLIBS += -lnccl
  endif
endif

LIB_OBJ := $(patsubst %.c,$(OBJDIR)/%.o,$(LIB_SRC)) $(CU_OBJ)
CLI_OBJ := $(patsubst %.c,$(OBJDIR)/%.o,$(CLI_SRC))
MAIN_OBJ := $(OBJDIR)/bench/flbench.o
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
LIBFL   := $(BUILD)/libfl.a
LIBHARNESS := $(BUILD)/libflbench.a
DEPS_STAMP := $(BUILD)/.deps-ok

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
$(BUILD)/git_rev: FORCE
	@mkdir -p $(BUILD); echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@
$(OBJDIR)/bench/run/schema.o: $(BUILD)/git_rev
$(OBJDIR)/bench/run/schema.o: override CPPFLAGS += -DFL_GIT_REV='"$(GIT_REV)"'
FORCE:

.PHONY: all deps print-variant FORCE test fuzz reproduce bench bench-peers hf-venv perf-baseline plots cuda clean tests-build nvcc-headers cuobjdump nvtx-check
all: $(BUILD)/flbench $(LIBFL) $(LIBHARNESS)
	@echo "built $(BUILD)/flbench ($(VARIANT))"

# The stamp is an (empty) makefile included below: when make has to run deps.sh first, it
# reads this Makefile again afterwards, so what the packages bring (mpicc, for WITH_MPI) is
# seen by the same `make test` on a fresh machine instead of the next one. DEPS_SCRIPT: for
# tests/cli/test_make_flags.sh.
DEPS_SCRIPT ?= scripts/deps.sh
deps: $(DEPS_STAMP)
$(DEPS_STAMP): $(DEPS_SCRIPT)
	@sh $(DEPS_SCRIPT)
	@mkdir -p $(BUILD) && touch $@
ifeq ($(filter clean,$(MAKECMDGOALS)),)
-include $(DEPS_STAMP)
endif
# the variant this Makefile would build (CPU-only, CPU+CUDA, +MPI), after deps
print-variant: $(DEPS_STAMP)
	@echo '$(VARIANT)'

$(OBJDIR)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(OBJDIR)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(NVCC_MPI) -DFL_WITH_CUDA -MMD -MP -c $< -o $@

# The architectures the CUDA objects were compiled for: a new CUDA_ARCHS recompiles them.
$(OBJDIR)/cuda_archs: FORCE
	@mkdir -p $(OBJDIR); echo '$(CUDA_ARCHS)' | cmp -s - $@ || echo '$(CUDA_ARCHS)' > $@
$(CU_OBJ): $(OBJDIR)/cuda_archs

# noise: no multiply-add contraction, so normals and noisy outputs equal the CPU's bit for bit
$(OBJDIR)/impl/backend/cuda/cuda_noise.o: NVCCFLAGS += -fmad=false
# The FLOPS allocator (a few hundred doubles per step, 0.0% of a step) without VEX encodings:
# gcc's AVX code for it contains a register-form vmovq (VEX 66 0F D6) that valgrind 3.19
# cannot decode, which would leave the lr-flops rows out of the CI gate (ci/perf_check).
# Same results: -ffp-contract=off and no reassociation, so SSE and AVX round alike.
$(OBJDIR)/impl/allocators/flops.o: override CFLAGS += -march=x86-64-v2

# The variant (CPU-only or CPU+CUDA) last built into the shared $(BUILD)/libfl.a: switching
# between `make` and `make cuda` rebuilds the library and relinks what uses it.
$(BUILD)/variant: FORCE
	@mkdir -p $(BUILD); echo '$(VARIANT)' | cmp -s - $@ || echo '$(VARIANT)' > $@

# the files that read FL_WITH_MPI: rebuilt when the variant changes (make WITH_MPI=0)
$(OBJDIR)/impl/backend/dist.o $(OBJDIR)/impl/backend/cuda/cuda_nccl.o: $(BUILD)/variant

$(LIBFL): $(LIB_OBJ) $(BUILD)/variant
	@rm -f $@
	ar rcs $@ $(filter %.o,$^)

# The harness (bench/, bench/run/): the commands, the train loop, the studies, the schema.
$(LIBHARNESS): $(CLI_OBJ) $(BUILD)/variant
	@rm -f $@
	ar rcs $@ $(filter %.o,$^)
LINK_LIBS = $(LIBHARNESS) $(LIBFL)

# The GPU benchmark program of bench/gpu_check.sh (cuBLAS rates, timed steps): make WITH_CUDA=1 build/bench_gpu
$(BUILD)/bench_gpu: bench/gpu/bench_gpu.c $(LIBHARNESS) $(LIBFL) | $(DEPS_STAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LINK_LIBS) $(LDLIBS)

$(BUILD)/flbench: $(MAIN_OBJ) $(LIBHARNESS) $(LIBFL)
	$(CC) $(CFLAGS) -o $@ $(MAIN_OBJ) $(LINK_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBHARNESS) $(LIBFL) tests/test.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LINK_LIBS) $(LDLIBS)

tests-build: $(TEST_BIN) $(BUILD)/flbench

# The CLI tests run $(FLBENCH) (build/flbench unless told). Under SAN=1 they get the sanitized
# binary, FL_SAN=1 (tests/cli/test_perf_gate.sh skips: valgrind cannot run an ASan binary) and
# ASAN_OPTIONS/UBSAN_OPTIONS from tests/san.env.
test: deps tests-build
	@$(if $(filter 1,$(SAN)),. tests/san.env &&) FLBENCH=$(BUILD)/flbench sh tests/run.sh $(TEST_BIN)

cuda: nvtx-check
	@command -v $(NVCC) >/dev/null 2>&1 || { echo "make cuda: nvcc not found at $(NVCC)"; exit 2; }
	$(MAKE) WITH_CUDA=1 all

# NVTX (impl/core/nvtx.h) is the toolkit's header-only nvtx3; without it the ranges compile
# to nothing, which make cuda says in one line (tests/cli/test_nvtx.sh).
nvtx-check:
	@[ -f $(CUDA_HOME)/include/nvtx3/nvToolsExt.h ] || echo "make cuda: warning: $(CUDA_HOME)/include/nvtx3/nvToolsExt.h not found: built without NVTX ranges (nsys shows no phases)"

# make cuobjdump: a cuobjdump for tests/cli/test_cuda_archs.sh, from the toolkit or else PyPI's
# nvidia-cuda-cuobjdump in build/cuobjdump-venv/ (scripts/cuobjdump.sh).
cuobjdump:
	@sh scripts/cuobjdump.sh --install

# make fuzz [FUZZ_S=N]: one libFuzzer harness per parser (tests/fuzz/fuzz_NAME.c), built with
# clang into $(BUILD)/fuzz/ with the project's flags plus -fsanitize=fuzzer,address,undefined;
# each runs its committed regression inputs (tests/fuzz/regress/NAME/) once, then N seconds
# (default 30; 0: none) from the seeds that tests/fuzz/seeds.sh generates into tests/fuzz/seeds/.
# Fails if any input crashes (tests/fuzz/run.sh; tests/fuzz/README.md).
FUZZ_CC ?= clang-14
FUZZ_S  ?= 30
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_NAMES := safetensors npy hfconfig idx cifar coop manifest cache sweepconf csv image
# -Wno-unknown-warning-option: clang does not know gcc's -Wformat-truncation, which some files silence.
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer $(ARCH) $(REQ_CFLAGS) -Wno-unknown-warning-option -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC) $(CLI_SRC))
FUZZ_BIN := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_NAMES))
$(FUZZ_BUILD)/obj/bench/run/schema.o: override CPPFLAGS += -DFL_GIT_REV='"$(GIT_REV)"'
$(FUZZ_BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/libfl-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libfl-fuzz.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libfl-fuzz.a $(LDLIBS)
$(FUZZ_BUILD)/gen_seeds: tests/fuzz/gen_seeds.c tests/fuzz/fuzz.h $(LIBFL) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBFL) $(LDLIBS)
fuzz: deps $(FUZZ_BIN) $(FUZZ_BUILD)/gen_seeds
	@sh tests/fuzz/seeds.sh $(FUZZ_BUILD)/gen_seeds tests/fuzz/seeds
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_S) $(FUZZ_NAMES)

# make reproduce [QUICK=1 | PROFILE=paper]: the sweeps of bench/configs/, REPORT.md and figures
# (bench/reproduce.sh; docs/SWEEPS.md). Resumable: run it again after an interruption.
# make plots [RESULTS=DIR] [FIGDIR=DIR]: REPORT.md and figures from the CSV in RESULTS.
PROFILE ?= default
RESULTS ?= results/reproduce
FIGDIR  ?= results/figures
REPRO_PROFILE := $(if $(filter 1 yes true,$(QUICK)),quick,$(PROFILE))
# PROFILE=paper lists what is missing (datasets, weights) with the CPU build first, then builds
# the CUDA backend, so the list comes in seconds and also where nvcc is not installed.
reproduce: deps all
	$(if $(filter paper,$(REPRO_PROFILE)),@sh bench/reproduce.sh paper-check)
	$(if $(filter paper,$(REPRO_PROFILE)),@$(MAKE) cuda)
	@sh bench/reproduce.sh $(REPRO_PROFILE)

plots: all
	@sh bench/reproduce.sh plots $(RESULTS) $(FIGDIR)

# make bench [QUICK=1]: benchmarks, CSV and figures (bench/run_bench.sh; docs/PERFORMANCE.md).
# make bench-peers: flbench and PyTorch eager alternately on W1 and W2 (bench/peers/run_peers.py).
# make perf-baseline: rewrite ci/perf_baseline.csv, the instruction counts of the CI gate ci/perf_check.
bench: all
	@BENCH_QUICK=$(if $(filter 1 yes true,$(QUICK)),1,0) FLBENCH=$(BUILD)/flbench FIGDIR=$(FIGDIR) sh bench/run_bench.sh
bench-peers: all
	@FLBENCH=$(BUILD)/flbench python3 bench/peers/run_peers.py
perf-baseline: all
	@ci/perf_check --write-baseline --flbench $(BUILD)/flbench

# make hf-venv: .venv-hf/, the transformers side of tests/cli/test_hf_roundtrip.sh (which SKIPs
# it without): Debian's python3-torch (scripts/deps.sh hf), seen by Debian's python3 through
# --system-site-packages, plus transformers and safetensors from PyPI.
# transformers 4.46 is the release tested with Debian's torch 1.13; 5.x disables PyTorch below 2.6.
HF_VENV := .venv-hf
HF_PIP  := 'transformers>=4.40,<4.47'
hf-venv: $(HF_VENV)/.ok
$(HF_VENV)/.ok:
	@sh scripts/deps.sh hf
	/usr/bin/python3 -m venv --system-site-packages $(HF_VENV)
	$(HF_VENV)/bin/pip install -q $(HF_PIP) safetensors
	@touch $@

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
