// cuda_ops.cu: the CUDA backend's device, memory and BLAS, and its ops table.
//   - device: the first visible GPU; fl_cuda_ops() returns NULL with "no CUDA device: ..."
//     when there is none (or no driver), and with "CUDA device ... not supported by this
//     build" when the build has no kernel image for its compute capability (make cuda
//     CUDA_ARCHS=..., Makefile), so the CLI can say so and exit 2.
//   - memory: plain cudaMalloc/cudaFree (no caching allocator), zero-initialised like the
//     CPU's; current and peak bytes are tracked for peak_mem_mb (and, with a peak that can
//     be reset, for alloc_held/alloc_peak), free bytes come from cudaMemGetInfo.
//   - BLAS: cuBLAS, fp32 by default, TF32 tensor cores after fl_cuda_set_math(1). Row-major
//     C(M,N) = op(A) op(B) is computed as the column-major C^T(N,M) = op(B)^T op(A)^T, which
//     is cuBLAS called with A and B swapped and the same transpose flags.
// Element-wise and row-wise ops live in cuda_kernels.cu, noise ops in cuda_noise.cu.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mutex>
#include <unordered_map>
#include "cuda_common.h"

// ---------------------------------------------------------------------------------------
// checked calls

void fl_cuda_check_at(cudaError_t e, const char* what, const char* file, int line) {
    if (e == cudaSuccess) return;
    fl_fatal_at(file, line, "CUDA error %s (%s) in %s%s", cudaGetErrorName(e), cudaGetErrorString(e), what,
                e == cudaErrorMemoryAllocation ? " (out of device memory: lower --max-rows or the batch)" : "");
}

static const char* cublas_status_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (a dimension or leading dimension is off)";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
    }
}

void fl_cublas_check_at(cublasStatus_t s, const char* what, const char* file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    fl_fatal_at(file, line, "cuBLAS error %d %s in %s", (int)s, cublas_status_name(s), what);
}

// ---------------------------------------------------------------------------------------
// device state

static cublasHandle_t g_blas;
static int g_sm_count = 1;
static int g_tf32;              // fl_cuda_set_math
static char g_device_name[256];

int fl_cuda_sm_count(void) { return g_sm_count; }

int fl_cuda_blocks(long n, int threads) {
    long b = (n + threads - 1) / threads;
    long cap = (long)g_sm_count * 16;
    if (b > cap) b = cap;
    return b < 1 ? 1 : (int)b;
}

static void apply_math_mode(void) {
    if (!g_blas) return;
    FL_CUBLAS_CHECK(cublasSetMathMode(g_blas, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

extern "C" void fl_cuda_set_math(int tf32) {
    g_tf32 = tf32 != 0;
    apply_math_mode();
}

// ---------------------------------------------------------------------------------------
// memory

static std::mutex g_mem_lock;
static std::unordered_map<void*, size_t> g_sizes;
static size_t g_cur_bytes, g_peak_bytes;
static size_t g_window_peak;  // peak of g_cur_bytes since cuda_alloc_peak_reset

static void* cuda_alloc(size_t bytes) {
    size_t rounded = (bytes + 255) & ~(size_t)255;
    if (!rounded) rounded = 256;
    void* p = NULL;
    FL_CUDA_CHECK(cudaMalloc(&p, rounded));
    FL_CUDA_CHECK(cudaMemset(p, 0, rounded));
    std::lock_guard<std::mutex> lock(g_mem_lock);
    g_sizes[p] = rounded;
    g_cur_bytes += rounded;
    if (g_cur_bytes > g_peak_bytes) g_peak_bytes = g_cur_bytes;
    if (g_cur_bytes > g_window_peak) g_window_peak = g_cur_bytes;
    return p;
}

static void cuda_free(void* p) {
    if (!p) return;
    {
        std::lock_guard<std::mutex> lock(g_mem_lock);
        auto it = g_sizes.find(p);
        if (it == g_sizes.end()) FL_FATAL("cuda free: %p was not allocated by the CUDA backend", p);
        g_cur_bytes -= it->second;
        g_sizes.erase(it);
    }
    FL_CUDA_CHECK(cudaFree(p));
}

static void cuda_upload(void* dst, const void* host_src, size_t bytes) {
    if (bytes) FL_CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}
static void cuda_download(void* host_dst, const void* src, size_t bytes) {
    if (bytes) FL_CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}
static void cuda_copy(void* dst, const void* src, size_t bytes) {
    if (bytes && dst != src) FL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}
static void cuda_zero(void* dst, size_t bytes) {
    if (bytes) FL_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, 0));
}
static void cuda_sync(void) { FL_CUDA_CHECK(cudaDeviceSynchronize()); }

static size_t cuda_mem_available(void) {
    size_t free_b = 0, total_b = 0;
    FL_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return free_b;
}

static double cuda_peak_mem_mb(void) {
    std::lock_guard<std::mutex> lock(g_mem_lock);
    return (double)g_peak_bytes / (1024.0 * 1024.0);
}

static size_t cuda_alloc_held(void) {
    std::lock_guard<std::mutex> lock(g_mem_lock);
    return g_cur_bytes;
}
static size_t cuda_alloc_peak(void) {
    std::lock_guard<std::mutex> lock(g_mem_lock);
    return g_window_peak;
}
static void cuda_alloc_peak_reset(void) {
    std::lock_guard<std::mutex> lock(g_mem_lock);
    g_window_peak = g_cur_bytes;
}

// Backend scratch: tracked like any allocation, grown on demand.
static void* g_scratch[FL_CUDA_SCRATCH_N];
static size_t g_scratch_bytes[FL_CUDA_SCRATCH_N];

void* fl_cuda_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= FL_CUDA_SCRATCH_N) FL_FATAL("cuda scratch slot %d out of range", slot);
    if (bytes > g_scratch_bytes[slot]) {
        if (g_scratch[slot]) cuda_free(g_scratch[slot]);
        size_t grown = bytes + bytes / 2;
        g_scratch[slot] = cuda_alloc(grown);
        g_scratch_bytes[slot] = grown;
    }
    return g_scratch[slot];
}

// ---------------------------------------------------------------------------------------
// linear algebra

// C(M,N) = beta C over a strided (ldc) row-major matrix: the K = 0 case of gemm.
__global__ void k_scale_matrix(float* C, int M, int N, int ldc, float beta) {
    FL_GRID_STRIDE(i, (long)M * N) {
        long r = i / N, c = i - r * N;
        float* p = C + r * ldc + c;
        *p = beta == 0.f ? 0.f : beta * *p;
    }
}

static void cuda_gemm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                      const float* B, int ldb, float beta, float* C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        k_scale_matrix<<<fl_cuda_blocks((long)M * N, FL_CUDA_THREADS), FL_CUDA_THREADS>>>(C, M, N, ldc, beta);
        FL_CUDA_LAUNCHED();
        return;
    }
    FL_CUBLAS_CHECK(cublasSgemm(g_blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

static void cuda_gemm_strided(int ta, int tb, int M, int N, int K, float alpha, const float* A,
                              int lda, long sA, const float* B, int ldb, long sB, float beta,
                              float* C, int ldc, long sC, int batch) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    if (K <= 0) {
        for (int b = 0; b < batch; b++) cuda_gemm(ta, tb, M, N, 0, alpha, A, lda, B, ldb, beta, C + b * sC, ldc);
        return;
    }
    FL_CUBLAS_CHECK(cublasSgemmStridedBatched(g_blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                              N, M, K, &alpha, B, ldb, sB, A, lda, sA, &beta, C, ldc, sC,
                                              batch));
}

// ---------------------------------------------------------------------------------------
// the table

static fl_ops cuda_ops_table = {
    .name = "cuda",
    .device_name = g_device_name,
    .alloc = cuda_alloc, .free = cuda_free, .upload = cuda_upload, .download = cuda_download,
    .copy = cuda_copy, .zero = cuda_zero, .sync = cuda_sync, .mem_available = cuda_mem_available,
    .chunk_bytes = 0,  // as many query rows as fit: the largest GEMMs
    .peak_mem_mb = cuda_peak_mem_mb, .alloc_held = cuda_alloc_held, .alloc_peak = cuda_alloc_peak,
    .alloc_peak_reset = cuda_alloc_peak_reset,
    .gemm = cuda_gemm, .gemm_strided = cuda_gemm_strided,
    .gather_rows = fl_cuda_gather_rows, .segment_sum = fl_cuda_segment_sum,
    .exp = fl_cuda_exp, .scale = fl_cuda_scale, .axpy = fl_cuda_axpy, .relu = fl_cuda_relu,
    .relu_bwd = fl_cuda_relu_bwd, .gelu = fl_cuda_gelu, .gelu_bwd = fl_cuda_gelu_bwd,
    .bias_noise = fl_cuda_bias_noise, .bias_noise_set = fl_cuda_bias_noise_set, .lr_grad = fl_cuda_lr_grad,
    .lr_unit_noise = fl_cuda_lr_unit_noise,
    .bias_noise_keep = NULL, .lr_unit_kept = NULL,  // normals drawn twice (no kept buffer yet)
    .lr_unit_fold = fl_cuda_lr_unit_fold, .noise_axpy = fl_cuda_noise_axpy,
    .layernorm = fl_cuda_layernorm, .layernorm_bwd = fl_cuda_layernorm_bwd, .softmax = fl_cuda_softmax,
    .softmax_bwd = fl_cuda_softmax_bwd, .xent = fl_cuda_xent, .col_sum = fl_cuda_col_sum,
    .row_sumsq = fl_cuda_row_sumsq,
    .dot = fl_cuda_dot, .adam = fl_cuda_adam, .sgd = fl_cuda_sgd,
    .dirs_adam = fl_cuda_dirs_adam, .dirs_sgd = fl_cuda_dirs_sgd, .dirs_sumsq = fl_cuda_dirs_sumsq,
    .vit_patchify = fl_cuda_vit_patchify, .vit_tokens = fl_cuda_vit_tokens,
    .vit_cls_layernorm = fl_cuda_vit_cls_layernorm, .vit_cls_layernorm_bwd = fl_cuda_vit_cls_layernorm_bwd,
    .attention = NULL,  // vit.c's strided-GEMM path
    .gather_add_rows = fl_cuda_gather_add_rows,
};

// cuBLAS workspace (32 MiB, as NVIDIA recommends for Hopper), allocated by us so that it
// counts in peak_mem_mb.
#define FL_CUBLAS_WORKSPACE ((size_t)32 << 20)

#ifndef FL_CUDA_ARCHS
#define FL_CUDA_ARCHS "?"
#endif
// An empty kernel compiled like every other one: the runtime finds an image for the device
// (its machine code, or PTX it can compile) for this one exactly when it does for the rest.
__global__ void k_image_probe(void) {}

// 0, or fills why and returns -1 when the build cannot run on the current device.
static int check_kernel_image(const cudaDeviceProp* prop, char* why, size_t n) {
    cudaFuncAttributes attr;
    cudaError_t e = cudaFuncGetAttributes(&attr, k_image_probe);
    if (e == cudaSuccess) return 0;
    (void)cudaGetLastError();
    snprintf(why, n,
             "CUDA device 0 (%s) not supported by this build: %s: expected compute capability "
             FL_CUDA_ARCHS " (machine code; PTX of the last), found %d%d: rebuild with make cuda CUDA_ARCHS=%d%d",
             prop->name, cudaGetErrorString(e), prop->major, prop->minor, prop->major, prop->minor);
    return -1;
}

// The GPU of this process: in a data-parallel run one per rank, the rank's index on its node
// (Open MPI's, or Slurm's) modulo the visible devices (docs/SCALING.md); else the first.
static int rank_device(int n) {
    const char* names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (int i = 0; i < 3; i++) {
        const char* v = getenv(names[i]);
        if (v && *v) return atoi(v) % n;
    }
    return 0;
}

extern "C" const fl_ops* fl_cuda_ops(fl_err* err) {
    static int state;            // 0 not tried, 1 ready, -1 no device
    static char why[512];
    if (state == 1) return &cuda_ops_table;
    if (state == -1) {
        fl_fail(err, "%s", why);
        return NULL;
    }
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n == 0) {
        snprintf(why, sizeof why, "no CUDA device: cudaGetDeviceCount found none");
    } else if (e == cudaSuccess) {
        e = cudaSetDevice(dev = rank_device(n));
        if (e == cudaSuccess) e = cudaFree(0);  // creates the context now, so errors show here
    }
    if (e != cudaSuccess) snprintf(why, sizeof why, "no CUDA device: %s", cudaGetErrorString(e));
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        state = -1;
        fl_fail(err, "%s", why);
        return NULL;
    }
    cudaDeviceProp prop;
    FL_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    if (check_kernel_image(&prop, why, sizeof why) != 0) {
        state = -1;
        fl_fail(err, "%s", why);
        return NULL;
    }
    snprintf(g_device_name, sizeof g_device_name, "%s", prop.name);
    g_sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    FL_CUBLAS_CHECK(cublasCreate(&g_blas));
    FL_CUBLAS_CHECK(cublasSetWorkspace(g_blas, cuda_alloc(FL_CUBLAS_WORKSPACE), FL_CUBLAS_WORKSPACE));
    apply_math_mode();
    state = 1;
    return &cuda_ops_table;
}
