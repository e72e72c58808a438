// philox.h: Philox4x32-10 counter-based RNG and a Box-Muller normal, shared by C and CUDA.
// Noise is a pure function of (key, counter) (docs/DESIGN.md, principle 3): the same integers and,
// to the last bit, the same normals come out on the CPU and the GPU, so a perturbation is
// regenerated whenever it is needed instead of stored.
//
// Counter layout used everywhere in flbench (fl_noise_counter below):
//   ctr[0] = element index / 4 (each Philox call yields 4 normals, lanes 0..3)
//   ctr[1] = row (query row, or query*tokens + token, or a MeZO direction)
//   ctr[2] = stream id (a perturbable layer, the MeZO parameter stream, a pilot, ...)
//   ctr[3] = step
//   key    = the run's seed (low and high 32 bits)
//
// The normals use our own float log and sin/cos polynomials built only from +, *, /, sqrt and
// fmaf, all correctly rounded in IEEE float on both backends. This file must be compiled
// without fast-math and without implicit multiply-add contraction (gcc in -std=c11 mode does
// not contract; nvcc gets -fmad=false for the translation units that generate noise).
#pragma once
#include <stdint.h>
#include <math.h>
#include "../core/common.h"

#define FL_PHILOX_M0 0xD2511F53u
#define FL_PHILOX_M1 0xCD9E8D57u
#define FL_PHILOX_W0 0x9E3779B9u
#define FL_PHILOX_W1 0xBB67AE85u

typedef struct { uint32_t v[4]; } fl_u32x4;

// Ten rounds of Philox4x32 on counter c with key (k0, k1), as in Random123.
FL_HD fl_u32x4 fl_philox4x32_10(fl_u32x4 c, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)FL_PHILOX_M0 * c.v[0];
        uint64_t p1 = (uint64_t)FL_PHILOX_M1 * c.v[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        fl_u32x4 n;
        n.v[0] = hi1 ^ c.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k1;
        n.v[3] = lo0;
        c = n;
        k0 += FL_PHILOX_W0;
        k1 += FL_PHILOX_W1;
    }
    return c;
}

FL_HD float fl_bits_to_float(uint32_t u) {
    union { uint32_t u; float f; } x;
    x.u = u;
    return x.f;
}
FL_HD uint32_t fl_float_to_bits(float f) {
    union { uint32_t u; float f; } x;
    x.f = f;
    return x.u;
}

// Natural log of u in (0, 1], accurate to about 1 ulp. u = 2^e * m with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716, odd series to s^9 (truncation < 2e-9).
FL_HD float fl_logf_unit(float u) {
    uint32_t bits = fl_float_to_bits(u);
    int e = (int)((bits >> 23) & 0xffu) - 127;
    float m = fl_bits_to_float((bits & 0x7fffffu) | 0x3f800000u);  // [1, 2)
    // branch-free (so loops over it vectorize): halve m when it is above sqrt 2
    int big = m > 1.41421356f;
    m = m * (1.0f - 0.5f * (float)big);  // exact: times 1 or 0.5
    e += big;
    float s = (m - 1.0f) / (m + 1.0f);
    float z = s * s;
    float p = fmaf(z, 0.11111111f, 0.14285715f);  // 1/9, 1/7
    p = fmaf(z, p, 0.2f);
    p = fmaf(z, p, 0.33333334f);
    float lnm = 2.0f * fmaf(s * z, p, s);
    return fmaf((float)e, 0.69314718f, lnm);
}

// sin and cos of 2*pi*t for t in [0, 1): reduce to the nearest quarter turn k, then
// theta in [-pi/4, pi/4], Taylor polynomials to theta^9 (sin) and theta^10 (cos).
FL_HD void fl_sincos_2pi(float t, float* s_out, float* c_out) {
    float q = t * 4.0f;                 // exact
    float k = floorf(q + 0.5f);         // nearest quarter
    float f = q - k;                    // exact, in [-0.5, 0.5]
    float th = f * 1.57079637f;
    float z = th * th;
    float sp = fmaf(z, 2.7557319e-6f, -1.9841270e-4f);
    sp = fmaf(z, sp, 8.3333333e-3f);
    sp = fmaf(z, sp, -1.6666667e-1f);
    float s = fmaf(th * z, sp, th);
    float cp = fmaf(z, -2.7557319e-7f, 2.4801587e-5f);
    cp = fmaf(z, cp, -1.3888889e-3f);
    cp = fmaf(z, cp, 4.1666668e-2f);
    cp = fmaf(z, cp, -0.5f);
    float c = fmaf(z, cp, 1.0f);
    // rotate by the quarter turns, exactly and branch-free (so loops over it vectorize): odd
    // quarters swap sin and cos; sin is negated in quarters 2, 3 and cos in quarters 1, 2
    // (multiplying by +-1 is exact)
    int quadrant = (int)k & 3;
    int odd = quadrant & 1;
    float sin_v = odd ? c : s;
    float cos_v = odd ? s : c;
    *s_out = sin_v * (1.0f - 2.0f * (float)(quadrant >> 1));
    *c_out = cos_v * (1.0f - 2.0f * (float)((quadrant ^ (quadrant >> 1)) & 1));
}

// Two standard normals from two 32-bit integers (Box-Muller).
// u1 = odd multiple of 2^-24 in (0, 1): never 0, so the log is finite (|z| <= 5.77).
FL_HD void fl_box_muller(uint32_t a, uint32_t b, float* z0, float* z1) {
    // both integers are below 2^24, so the signed conversion is exact (and vectorizes)
    float u1 = (float)(int32_t)((a >> 8) | 1u) * 5.9604645e-8f;  // 2^-24
    float t = (float)(int32_t)(b >> 8) * 5.9604645e-8f;          // [0, 1)
    float r = sqrtf(-2.0f * fl_logf_unit(u1));
    float s, c;
    fl_sincos_2pi(t, &s, &c);
    *z0 = r * c;
    *z1 = r * s;
}

// Four normals for counter (group, row, stream, step) under key.
FL_HD void fl_normal4(uint32_t k0, uint32_t k1, uint32_t group, uint32_t row, uint32_t stream,
                      uint32_t step, float out[4]) {
    fl_u32x4 c;
    c.v[0] = group; c.v[1] = row; c.v[2] = stream; c.v[3] = step;
    fl_u32x4 r = fl_philox4x32_10(c, k0, k1);
    fl_box_muller(r.v[0], r.v[1], &out[0], &out[1]);
    fl_box_muller(r.v[2], r.v[3], &out[2], &out[3]);
}

// One normal: element e of (row, stream, step). Costs a full Philox call; loops that need
// many consecutive elements should call fl_normal4 once per group of four instead.
FL_HD float fl_normal_at(uint32_t k0, uint32_t k1, uint64_t e, uint32_t row, uint32_t stream,
                         uint32_t step) {
    float z[4];
    fl_normal4(k0, k1, (uint32_t)(e >> 2), row, stream, step, z);
    return z[e & 3];
}
