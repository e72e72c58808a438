// cpu_attention.c: multi-head attention for the CPU backend in one pass per (sequence, head),
// the ops table's `attention` (ops.h).
//
// Why it exists: a ViT step under LR runs attention on every query row: W2 issues about 18k
// products of 50x64x50 per step. Through OpenBLAS each is a separate call that runs at about
// 39 GFLOP/s here, and the (S, H, T, T) scores make a round trip through memory between the
// two products and the softmax. Here each (sequence, head) is done at once, its scores one row
// at a time in a small local buffer, with AVX2 multiply-adds (`flbench bench --workload W2`
// measures the step; tests/unit/test_cpu_noise.c checks it against the three-call reference).
//
// Per (sequence s, head h), with q_h, k_h, v_h the (T, hd) column slices h*hd.. of q, k, v:
//   Kt (hd, Tp)  = k_h^T, zero-padded to Tp = T rounded up to 8
//   for each row i:  z (T) = q_h[i] Kt;  p = softmax(scale z) (the shared body);
//                    ctx_h[i] (hd) = sum_j p[j] v_h[j]
// Without AVX2, or when hd is not a multiple of 8, it returns 1 and the model uses its GEMM
// path (vit.c).
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "cpu_attention.h"
#include "../kernels/bodies.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

// Kt (hd, Tp) = k (T, hd; rows ldk apart)^T, in 8x8 tiles through registers; columns T..Tp
// are zero. A scalar transpose took 13% of the kernel at T = 50.
static void transpose_keys(float* Kt, const float* k, int T, long ldk, int hd, int Tp) {
    for (int j0 = 0; j0 < Tp; j0 += 8)
        for (int d0 = 0; d0 < hd; d0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = j0 + i < T ? _mm256_loadu_ps(k + (long)(j0 + i) * ldk + d0) : _mm256_setzero_ps();
            __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
            __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
            __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
            __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
            __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
            float* out = Kt + (long)d0 * Tp + j0;
            _mm256_store_ps(out + 0 * (long)Tp, _mm256_permute2f128_ps(s0, s4, 0x20));
            _mm256_store_ps(out + 1 * (long)Tp, _mm256_permute2f128_ps(s1, s5, 0x20));
            _mm256_store_ps(out + 2 * (long)Tp, _mm256_permute2f128_ps(s2, s6, 0x20));
            _mm256_store_ps(out + 3 * (long)Tp, _mm256_permute2f128_ps(s3, s7, 0x20));
            _mm256_store_ps(out + 4 * (long)Tp, _mm256_permute2f128_ps(s0, s4, 0x31));
            _mm256_store_ps(out + 5 * (long)Tp, _mm256_permute2f128_ps(s1, s5, 0x31));
            _mm256_store_ps(out + 6 * (long)Tp, _mm256_permute2f128_ps(s2, s6, 0x31));
            _mm256_store_ps(out + 7 * (long)Tp, _mm256_permute2f128_ps(s3, s7, 0x31));
        }
}

// z0, z1 (8 NB columns from j0) = q0, q1 (hd) . Kt (hd, Tp): two rows share each load of Kt,
// and 2 NB independent sums keep both multiply-add pipes busy (latency 5, two per cycle).
#define SCORES_BLOCK(NB)                                                                      \
    static void scores_block##NB(float* z0, float* z1, const float* q0, const float* q1,     \
                                 const float* Kt, int hd, int Tp, int j0) {                  \
        __m256 a0[NB], a1[NB];                                                                \
        _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) a0[b] = a1[b] = _mm256_setzero_ps(); \
        for (int d = 0; d < hd; d++) {                                                        \
            __m256 x0 = _mm256_broadcast_ss(q0 + d), x1 = _mm256_broadcast_ss(q1 + d);        \
            const float* kr = Kt + (long)d * Tp + j0;                                         \
            _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) {                            \
                __m256 kv = _mm256_load_ps(kr + 8 * b);                                       \
                a0[b] = _mm256_fmadd_ps(x0, kv, a0[b]);                                       \
                a1[b] = _mm256_fmadd_ps(x1, kv, a1[b]);                                       \
            }                                                                                 \
        }                                                                                     \
        _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) {                                \
            _mm256_store_ps(z0 + j0 + 8 * b, a0[b]);                                          \
            _mm256_store_ps(z1 + j0 + 8 * b, a1[b]);                                          \
        }                                                                                     \
    }
SCORES_BLOCK(1)
SCORES_BLOCK(2)
SCORES_BLOCK(3)
SCORES_BLOCK(4)
SCORES_BLOCK(5)
SCORES_BLOCK(6)
SCORES_BLOCK(7)

// z0, z1 (Tp) for two query rows: the Tp / 8 column vectors in nearly equal blocks of at most 7
// (14 sums and 2 broadcasts fill the 16 registers; W2: 7; T = 197: 25 = 7 + 6 + 6 + 6).
static void scores_rows(float* z0, float* z1, const float* q0, const float* q1, const float* Kt,
                        int hd, int Tp) {
    int nvec = Tp / 8;
    int nblocks = (nvec + 6) / 7;
    int j0 = 0;
    for (int bl = 0; bl < nblocks; bl++) {
        int nb = (nvec - j0 / 8 + (nblocks - bl) - 1) / (nblocks - bl);
        switch (nb) {
        case 1: scores_block1(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        case 2: scores_block2(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        case 3: scores_block3(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        case 4: scores_block4(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        case 5: scores_block5(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        case 6: scores_block6(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        default: scores_block7(z0, z1, q0, q1, Kt, hd, Tp, j0); break;
        }
        j0 += 8 * nb;
    }
}

// o (8 NB columns from c0) = sum_j p[j] v[j] with v rows ldv apart: NB independent sums.
#define CONTEXT_BLOCK(NB)                                                                     \
    static void context_block##NB(float* o, const float* p, const float* v, int T, long ldv,  \
                                  int c0) {                                                   \
        __m256 a[NB];                                                                         \
        _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) a[b] = _mm256_setzero_ps();      \
        for (int j = 0; j < T; j++) {                                                         \
            __m256 pj = _mm256_broadcast_ss(p + j);                                           \
            const float* vr = v + (long)j * ldv + c0;                                         \
            _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++)                              \
                a[b] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vr + 8 * b), a[b]);                \
        }                                                                                     \
        _Pragma("GCC unroll 8") for (int b = 0; b < NB; b++) _mm256_storeu_ps(o + c0 + 8 * b, a[b]); \
    }
CONTEXT_BLOCK(1)
CONTEXT_BLOCK(8)

// o (hd) = sum_j p[j] v[j]: blocks of 64 columns, then of 8.
static void context_row(float* o, const float* p, const float* v, int T, long ldv, int hd) {
    int c0 = 0;
    for (; c0 + 64 <= hd; c0 += 64) context_block8(o, p, v, T, ldv, c0);
    for (; c0 < hd; c0 += 8) context_block1(o, p, v, T, ldv, c0);
}

int fl_cpu_attention(float* ctx, float* probs, const float* q, const float* k, const float* v,
                     int S, int T, int H, int D, float scale) {
    if (H <= 0 || D % H != 0 || (D / H) % 8 != 0) return 1;
    int hd = D / H;
    int Tp = (T + 7) / 8 * 8;
    long TD = (long)T * D;
#pragma omp parallel
    {
        // per thread: Kt (hd, Tp), two score rows z (2, Tp) and their probabilities p (2, Tp)
        float* Kt = (float*)aligned_alloc(32, ((size_t)hd * Tp + 4 * (size_t)Tp) * sizeof(float));
        if (!Kt) FL_FATAL("out of host memory in attention");
        float* z = Kt + (long)hd * Tp;
        float* p = z + 2 * Tp;
#pragma omp for schedule(static)
        for (long sh = 0; sh < (long)S * H; sh++) {
            long s = sh / H;
            int h = (int)(sh - s * H);
            const float* qs = q + s * TD + (long)h * hd;
            const float* ks = k + s * TD + (long)h * hd;
            const float* vs = v + s * TD + (long)h * hd;
            float* cs = ctx + s * TD + (long)h * hd;
            transpose_keys(Kt, ks, T, D, hd, Tp);
            for (int i = 0; i < T; i += 2) {
                int two = i + 1 < T;  // an odd last row is computed twice, stored once
                scores_rows(z, z + Tp, qs + (long)i * D, qs + (long)(i + two) * D, Kt, hd, Tp);
                for (int r = 0; r <= two; r++) {
                    float* pr = probs ? probs + ((s * H + h) * (long)T + i + r) * T : p + r * Tp;
                    fl_body_softmax_row(pr, z + r * Tp, T, scale);
                    context_row(cs + (long)(i + r) * D, pr, vs, T, D, hd);
                }
            }
        }
        free(Kt);
    }
    return 0;
}

#else

int fl_cpu_attention(float* ctx, float* probs, const float* q, const float* k, const float* v,
                     int S, int T, int H, int D, float scale) {
    return 1;
}

#endif
