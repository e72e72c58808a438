// cpu.c: the CPU backend, the reference implementation of the ops table.
// GEMMs go to OpenBLAS (OpenMP build); every other op is an OpenMP loop over the shared
// bodies of impl/kernels/bodies.h. Memory is plain host memory.
//
// This file holds the memory ops, the device's name, the table (cpu_ops), the threads' float
// mode and the backend lookup. The other ops are in cpu_linalg.c (products, data movement,
// reductions), cpu_elementwise.c (element-wise ops, optimisers), cpu_noise_ops.c (the ops
// that draw noise), cpu_nn.c (row-wise network ops, ViT ops) and cpu_attention.c (fused
// attention), declared for the table in cpu_internal.h.
#include <string.h>
#include <stdio.h>
#include <omp.h>
#include <xmmintrin.h>
#include "ops.h"
#include "cpu_attention.h"
#include "cpu_internal.h"

// ---------------------------------------------------------------------------------------
// memory

// Every block carries a 64-byte header in front of it (the alignment is kept) with its size,
// so that free can count the bytes held; the counts are the bytes asked for.
#define CPU_HEADER 64
#define CPU_MAGIC 0x666c6d656d6f7279ull  // "flmemory"
static size_t g_held, g_peak;             // bytes held through cpu_alloc; peak since reset

static void* cpu_alloc(size_t bytes) {
    void* base = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&base, 64, CPU_HEADER + (rounded ? rounded : 64)) != 0)
        FL_FATAL("out of host memory allocating %zu bytes", bytes);
    uint64_t* h = (uint64_t*)base;
    h[0] = CPU_MAGIC;
    h[1] = (uint64_t)bytes;
    char* p = (char*)base + CPU_HEADER;
    memset(p, 0, rounded);
    size_t held = __atomic_add_fetch(&g_held, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&g_peak, __ATOMIC_RELAXED);
    while (held > peak && !__atomic_compare_exchange_n(&g_peak, &peak, held, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return p;
}
static void cpu_free(void* p) {
    if (!p) return;
    uint64_t* h = (uint64_t*)((char*)p - CPU_HEADER);
    FL_CHECK(h[0] == CPU_MAGIC, "cpu free: %p was not allocated by the CPU backend", p);
    h[0] = 0;
    __atomic_sub_fetch(&g_held, (size_t)h[1], __ATOMIC_RELAXED);
    free(h);
}
static size_t cpu_alloc_held(void) { return __atomic_load_n(&g_held, __ATOMIC_RELAXED); }
static size_t cpu_alloc_peak(void) { return __atomic_load_n(&g_peak, __ATOMIC_RELAXED); }
static void cpu_alloc_peak_reset(void) { __atomic_store_n(&g_peak, cpu_alloc_held(), __ATOMIC_RELAXED); }
static void cpu_memcpy(void* dst, const void* src, size_t bytes) { if (bytes) memcpy(dst, src, bytes); }
static void cpu_zero(void* dst, size_t bytes) { if (bytes) memset(dst, 0, bytes); }
static void cpu_sync(void) {}

static size_t cpu_mem_available(void) {
    FILE* f = fopen("/proc/meminfo", "r");
    if (!f) return (size_t)4 << 30;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb ? kb * 1024 : (size_t)4 << 30;
}

// ---------------------------------------------------------------------------------------
// the device's name

static char cpu_device_name[256];

static const char* cpu_model_name(void) {
    if (cpu_device_name[0]) return cpu_device_name;
    char model[200] = "unknown CPU";
    FILE* f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char* colon = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        }
        fclose(f);
    }
    snprintf(cpu_device_name, sizeof cpu_device_name, "%s (%d threads)", model, omp_get_max_threads());
    return cpu_device_name;
}

// ---------------------------------------------------------------------------------------
// the table

static fl_ops cpu_ops = {
    .name = "cpu", .chunk_bytes = (size_t)128 << 20,
    .alloc = cpu_alloc, .free = cpu_free, .upload = cpu_memcpy, .download = cpu_memcpy,
    .copy = cpu_memcpy, .zero = cpu_zero, .sync = cpu_sync, .mem_available = cpu_mem_available,
    .peak_mem_mb = fl_peak_rss_mb, .alloc_held = cpu_alloc_held, .alloc_peak = cpu_alloc_peak,
    .alloc_peak_reset = cpu_alloc_peak_reset,
    .gemm = cpu_gemm, .gemm_strided = cpu_gemm_strided,
    .gather_rows = cpu_gather_rows, .segment_sum = cpu_segment_sum,
    .exp = cpu_exp, .scale = cpu_scale, .axpy = cpu_axpy, .relu = cpu_relu, .relu_bwd = cpu_relu_bwd,
    .gelu = cpu_gelu, .gelu_bwd = cpu_gelu_bwd, .bias_noise = cpu_bias_noise,
    .bias_noise_set = cpu_bias_noise_set, .bias_noise_keep = cpu_bias_noise_keep,
    .lr_unit_kept = cpu_lr_unit_kept, .lr_grad = cpu_lr_grad, .lr_unit_noise = cpu_lr_unit_noise,
    .lr_unit_fold = cpu_lr_unit_fold,
    .noise_axpy = cpu_noise_axpy,
    .layernorm = cpu_layernorm, .layernorm_bwd = cpu_layernorm_bwd, .softmax = cpu_softmax,
    .softmax_bwd = cpu_softmax_bwd, .xent = cpu_xent, .col_sum = cpu_col_sum, .row_sumsq = cpu_row_sumsq,
    .dot = cpu_dot, .adam = cpu_adam, .sgd = cpu_sgd,
    .dirs_adam = cpu_dirs_adam, .dirs_sgd = cpu_dirs_sgd, .dirs_sumsq = cpu_dirs_sumsq,
    // ViT ops
    .vit_patchify = cpu_vit_patchify, .vit_tokens = cpu_vit_tokens,
    .vit_cls_layernorm = cpu_vit_cls_layernorm, .vit_cls_layernorm_bwd = cpu_vit_cls_layernorm_bwd,
    .gather_add_rows = cpu_gather_add_rows, .attention = fl_cpu_attention,
};

// Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) on every OpenMP
// thread. Without it, Adam moments and dead-ReLU gradients decaying through the denormal
// range made a Fashion-MNIST epoch 13x slower here. Values below 1.2e-38 carry no signal.
static void cpu_flush_denormals(void) {
#pragma omp parallel
    _mm_setcsr(_mm_getcsr() | 0x8040);
}

const fl_ops* fl_cpu_ops(void) {
    static int init;
    if (!init) {
        cpu_flush_denormals();
        init = 1;
    }
    cpu_ops.device_name = cpu_model_name();
    return &cpu_ops;
}

#ifndef FL_WITH_CUDA
const fl_ops* fl_cuda_ops(fl_err* err) {
    fl_fail(err, "no CUDA device: this flbench was built without CUDA (build with `make cuda`)");
    return NULL;
}
void fl_cuda_set_math(int tf32) { (void)tf32; }
#endif

const fl_ops* fl_ops_by_name(const char* name, fl_err* err) {
    if (!strcmp(name, "cpu")) return fl_cpu_ops();
    if (!strcmp(name, "cuda")) return fl_cuda_ops(err);
    fl_fail(err, "--backend: unknown backend '%s' (expected cpu or cuda)", name);
    return NULL;
}

void* fl_ops_upload_new(const fl_ops* ops, const void* host, size_t bytes) {
    void* p = ops->alloc(bytes);
    ops->upload(p, host, bytes);
    return p;
}
