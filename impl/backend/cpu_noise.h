// cpu_noise.h: 32 normals at a time for the CPU backend, bit-identical to eight calls of the
// shared body fl_normal4 (impl/kernels/philox.h).
//
// Why it exists: generating LR noise is the largest cost after the GEMMs (a W1 step draws 4M
// normals). The scalar body runs about 7 ns per normal here; this AVX2 version, the same
// operations in the same order on 8 lanes, runs about 1.6 ns (one thread, Zen 2). The
// compiler would not vectorize the scalar body (64-bit products, float/int reinterpretation).
// Every operation below mirrors one line of fl_philox4x32_10, fl_box_muller, fl_logf_unit
// and fl_sincos_2pi; tests/unit/test_cpu_noise.c checks bit equality on millions of
// counters. Without AVX2 the scalar body is used.
#pragma once
#include "../kernels/philox.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

// hi and lo 32 bits of a * m on 8 lanes: lo by vpmulld; hi from the 64-bit products of the
// even and the odd lanes (6% faster per normal than taking lo from the same products by two
// shifts and a blend, tests/unit/test_cpu_noise.c's counters unchanged)
static inline void fl_mulhilo8(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
    __m256i pe = _mm256_mul_epu32(a, m);                        // lanes 0, 2, 4, 6
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1, 3, 5, 7
    *lo = _mm256_mullo_epi32(a, m);
    *hi = _mm256_blend_epi32(_mm256_shuffle_epi32(pe, 0xF5), po, 0xAA);
}

static inline __m256 fl_logf_unit8(__m256 u) {
    __m256i bits = _mm256_castps_si256(u);
    __m256i e = _mm256_sub_epi32(_mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xff)),
                                 _mm256_set1_epi32(127));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffff)),
                                                   _mm256_set1_epi32(0x3f800000)));
    __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
    // scalar: m * (1 - 0.5 * big) with big in {0, 1}
    __m256 bigf = _mm256_and_ps(big, _mm256_set1_ps(1.0f));
    m = _mm256_mul_ps(m, _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(_mm256_set1_ps(0.5f), bigf)));
    e = _mm256_add_epi32(e, _mm256_and_si256(_mm256_castps_si256(big), _mm256_set1_epi32(1)));
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
    __m256 z = _mm256_mul_ps(s, s);
    __m256 p = _mm256_fmadd_ps(z, _mm256_set1_ps(0.11111111f), _mm256_set1_ps(0.14285715f));
    p = _mm256_fmadd_ps(z, p, _mm256_set1_ps(0.2f));
    p = _mm256_fmadd_ps(z, p, _mm256_set1_ps(0.33333334f));
    __m256 lnm = _mm256_mul_ps(_mm256_set1_ps(2.0f), _mm256_fmadd_ps(_mm256_mul_ps(s, z), p, s));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(0.69314718f), lnm);
}

static inline void fl_sincos_2pi8(__m256 t, __m256* s_out, __m256* c_out) {
    __m256 q = _mm256_mul_ps(t, _mm256_set1_ps(4.0f));
    __m256 k = _mm256_floor_ps(_mm256_add_ps(q, _mm256_set1_ps(0.5f)));
    __m256 f = _mm256_sub_ps(q, k);
    __m256 th = _mm256_mul_ps(f, _mm256_set1_ps(1.57079637f));
    __m256 z = _mm256_mul_ps(th, th);
    __m256 sp = _mm256_fmadd_ps(z, _mm256_set1_ps(2.7557319e-6f), _mm256_set1_ps(-1.9841270e-4f));
    sp = _mm256_fmadd_ps(z, sp, _mm256_set1_ps(8.3333333e-3f));
    sp = _mm256_fmadd_ps(z, sp, _mm256_set1_ps(-1.6666667e-1f));
    __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(th, z), sp, th);
    __m256 cp = _mm256_fmadd_ps(z, _mm256_set1_ps(-2.7557319e-7f), _mm256_set1_ps(2.4801587e-5f));
    cp = _mm256_fmadd_ps(z, cp, _mm256_set1_ps(-1.3888889e-3f));
    cp = _mm256_fmadd_ps(z, cp, _mm256_set1_ps(4.1666668e-2f));
    cp = _mm256_fmadd_ps(z, cp, _mm256_set1_ps(-0.5f));
    __m256 c = _mm256_fmadd_ps(z, cp, _mm256_set1_ps(1.0f));
    __m256i quadrant = _mm256_and_si256(_mm256_cvttps_epi32(k), _mm256_set1_epi32(3));
    __m256 odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(quadrant, _mm256_set1_epi32(1)),
                                                        _mm256_set1_epi32(1)));
    __m256 sin_v = _mm256_blendv_ps(s, c, odd);
    __m256 cos_v = _mm256_blendv_ps(c, s, odd);
    __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(quadrant, 1));
    __m256 flip = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_xor_si256(quadrant, _mm256_srli_epi32(quadrant, 1)),
                                                      _mm256_set1_epi32(1)));
    __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    *s_out = _mm256_mul_ps(sin_v, _mm256_sub_ps(one, _mm256_mul_ps(two, hi)));
    *c_out = _mm256_mul_ps(cos_v, _mm256_sub_ps(one, _mm256_mul_ps(two, flip)));
}

static inline void fl_box_muller8(__m256i a, __m256i b, __m256* z0, __m256* z1) {
    __m256 scale = _mm256_set1_ps(5.9604645e-8f);
    __m256 u1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_or_si256(_mm256_srli_epi32(a, 8), _mm256_set1_epi32(1))), scale);
    __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(b, 8)), scale);
    __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), fl_logf_unit8(u1)));
    __m256 s, c;
    fl_sincos_2pi8(t, &s, &c);
    *z0 = _mm256_mul_ps(r, c);
    *z1 = _mm256_mul_ps(r, s);
}

// out[0..32) = the normals of groups g0 .. g0+7 (4 each, in group order).
static inline void fl_cpu_normal32(uint32_t k0, uint32_t k1, uint32_t g0, uint32_t row, uint32_t stream,
                                   uint32_t step, float* out) {
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)g0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i c1 = _mm256_set1_epi32((int)row), c2 = _mm256_set1_epi32((int)stream);
    __m256i c3 = _mm256_set1_epi32((int)step);
    __m256i M0 = _mm256_set1_epi32((int)FL_PHILOX_M0), M1 = _mm256_set1_epi32((int)FL_PHILOX_M1);
    for (int round = 0; round < 10; round++) {
        __m256i hi0, lo0, hi1, lo1;
        fl_mulhilo8(c0, M0, &hi0, &lo0);
        fl_mulhilo8(c2, M1, &hi1, &lo1);
        __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += FL_PHILOX_W0;
        k1 += FL_PHILOX_W1;
    }
    __m256 z0, z1, z2, z3;
    fl_box_muller8(c0, c1, &z0, &z1);
    fl_box_muller8(c2, c3, &z2, &z3);
    // interleave to group order: (z0[j], z1[j], z2[j], z3[j]) for j = 0..7
    __m256 a = _mm256_unpacklo_ps(z0, z1);  // z0_0 z1_0 z0_1 z1_1 | z0_4 z1_4 z0_5 z1_5
    __m256 b = _mm256_unpackhi_ps(z0, z1);  // z0_2 z1_2 z0_3 z1_3 | z0_6 ...
    __m256 c = _mm256_unpacklo_ps(z2, z3);
    __m256 d = _mm256_unpackhi_ps(z2, z3);
    __m256 g01 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(c)));  // g0 | g4
    __m256 g23 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(c)));  // g1 | g5
    __m256 g45 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(b), _mm256_castps_pd(d)));  // g2 | g6
    __m256 g67 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(b), _mm256_castps_pd(d)));  // g3 | g7
    _mm256_storeu_ps(out + 0, _mm256_permute2f128_ps(g01, g23, 0x20));   // g0 g1
    _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(g45, g67, 0x20));   // g2 g3
    _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(g01, g23, 0x31));  // g4 g5
    _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(g45, g67, 0x31));  // g6 g7
}
#else
static inline void fl_cpu_normal32(uint32_t k0, uint32_t k1, uint32_t g0, uint32_t row, uint32_t stream,
                                   uint32_t step, float* out) {
    for (uint32_t j = 0; j < 8; j++) fl_normal4(k0, k1, g0 + j, row, stream, step, out + 4 * j);
}
#endif
