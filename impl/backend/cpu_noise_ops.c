// cpu_noise_ops.c: the CPU backend's ops that draw noise (the ops table, ops.h): LR's
// bias_noise, bias_noise_set, bias_noise_keep, lr_grad, lr_unit_noise, lr_unit_kept and
// lr_unit_fold, MeZO's noise_axpy and its fused updates from directions (dirs_adam, dirs_sgd,
// dirs_sumsq). The normals come 32 at a time from cpu_noise.h, bit-identical to the shared
// bodies of impl/kernels/bodies.h that the CUDA backend runs.
#include <string.h>
#include <omp.h>
#include "cpu_noise.h"
#include "cpu_internal.h"
#include "cpu_chunks.h"

// Noise ops. Whole blocks of 32 columns draw their normals 32 at a time (cpu_noise.h,
// bit-identical to the shared body); the last partial block uses the shared group body.
// The two queries of an antithetic pair share their normals (opposite signs), so a pair is
// handled by one iteration that draws each block once for both rows: half the noise work.
// Roles, found by one scan: 1 = first of a pair (the next query has the same noise row),
// 2 = second of that pair (done by the first), 0 = alone. Any qcode is handled correctly,
// also three or more queries on one noise row (then they pair up two by two).
static int8_t* pair_roles(const fl_noise* nz, int Q) {
    int8_t* role = (int8_t*)calloc((size_t)Q + 1, 1);
    if (!role) FL_FATAL("out of host memory in a noise op");
    for (int q = 0; q + 1 < Q; q++) {
        if (role[q]) continue;
        if ((nz->qcode[q] >> 1) == (nz->qcode[q + 1] >> 1)) { role[q] = 1; role[q + 1] = 2; }
    }
    return role;
}

// y = (set ? 0 : y) + bias + sign sigma eps: bias_noise, bias_noise_set and
// bias_noise_set_keep (ops.h); with keep, the normals of unit u (a pair, or a lone query:
// pair_roles' units, numbered in query order) also go to keep (units*T, cols).
static void bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                       int rows, int cols, int set, float* keep) {
    if (!nz) {
        if (!bias && !set) return;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            float* yr = y + (long)r * cols;
            for (int c = 0; c < cols; c++) yr[c] = (set ? 0.0f : yr[c]) + (bias ? bias[c] : 0.0f);
        }
        return;
    }
    int full = cols / 32 * 32;
    int T = nz->tokens, Q = rows / T;
    int8_t* role = pair_roles(nz, Q);
    int32_t* unit = NULL;  // unit index of each query that starts a unit
    if (keep) {
        unit = (int32_t*)malloc((size_t)(Q + 1) * sizeof(int32_t));
        if (!unit) FL_FATAL("out of host memory in bias_noise");
        for (int q = 0, u = 0; q < Q; q++) unit[q] = role[q] == 2 ? -1 : u++;
    }
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        if (role[q] == 2) continue;
        int pair = role[q] == 1;
        for (int t = 0; t < T; t++) {
            int r = q * T + t, r2 = r + T;
            float sign, sign2 = 1.0f;
            uint32_t row = fl_noise_row(nz, r, &sign);
            if (pair) fl_noise_row(nz, r2, &sign2);
            float* y1 = y + (long)r * cols;
            float* y2 = y + (long)r2 * cols;
            float* kept = keep ? keep + ((long)unit[q] * T + t) * cols : NULL;
            float eps[32];
            for (int c0 = 0; c0 < full; c0 += 32) {
                fl_cpu_normal32(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
                if (kept) memcpy(kept + c0, eps, sizeof eps);
                for (int l = 0; l < 32; l++)
                    y1[c0 + l] = fl_elem_bias_noise(set ? 0.0f : y1[c0 + l], bias ? bias[c0 + l] : 0.0f, sign,
                                                    sigma[c0 + l], eps[l]);
                if (pair)
                    for (int l = 0; l < 32; l++)
                        y2[c0 + l] = fl_elem_bias_noise(set ? 0.0f : y2[c0 + l], bias ? bias[c0 + l] : 0.0f,
                                                        sign2, sigma[c0 + l], eps[l]);
            }
            for (int c0 = full; c0 < cols; c0 += 4) {  // the tail: four normals drawn once per pair
                float eps4[4];
                fl_normal4(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps4);
                fl_body_bias_noise4_eps(y1, bias, sigma, sign, eps4, c0, cols, set);
                if (pair) fl_body_bias_noise4_eps(y2, bias, sigma, sign2, eps4, c0, cols, set);
                if (kept) for (int l = 0; l < 4 && c0 + l < cols; l++) kept[c0 + l] = eps4[l];
            }
        }
    }
    free(unit);
    free(role);
}

void cpu_bias_noise(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                    int rows, int cols) {
    bias_noise(y, bias, sigma, nz, rows, cols, 0, NULL);
}
void cpu_bias_noise_set(float* y, const float* bias, const float* sigma, const fl_noise* nz,
                        int rows, int cols) {
    bias_noise(y, bias, sigma, nz, rows, cols, 1, NULL);
}
void cpu_bias_noise_keep(float* y, float* keep, const float* bias, const float* sigma,
                         const fl_noise* nz, int rows, int cols, int set) {
    bias_noise(y, bias, sigma, nz, rows, cols, set, keep);
}

void cpu_lr_grad(float* G, float* gs, const float* coef, const float* sigma,
                 const fl_noise* nz, int rows, int cols) {
    int full = cols / 32 * 32;
    int padded = (cols + 3) / 4 * 4;
    int T = nz->tokens, Q = rows / T;
    int8_t* role = pair_roles(nz, Q);
    // partial sums of the log-sigma score per chunk of queries (cpu_chunks.h), added in
    // chunk order at the end: the same on any thread count
    int chunks = cpu_chunks(Q, 1);
    float* part = gs ? (float*)calloc((size_t)chunks * padded, sizeof(float)) : NULL;
    if (gs && !part) FL_FATAL("out of host memory in lr_grad");
#pragma omp parallel for schedule(static)
    for (int k = 0; k < chunks; k++) {
        float* acc = part ? part + (long)k * padded : NULL;
        for (int q = (int)cpu_chunk_begin(Q, chunks, k); q < (int)cpu_chunk_begin(Q, chunks, k + 1); q++) {
            if (role[q] == 2) continue;
            int pair = role[q] == 1;
            for (int t = 0; t < T; t++) {
                int r = q * T + t, r2 = r + T;
                float sign, sign2 = 1.0f;
                uint32_t row = fl_noise_row(nz, r, &sign);
                if (pair) fl_noise_row(nz, r2, &sign2);
                float a = coef[q], a2 = pair ? coef[q + 1] : 0.0f;
                float* G1 = G + (long)r * cols;
                float* G2 = G + (long)r2 * cols;
                float eps[32], g[32];
                for (int c0 = 0; c0 < full; c0 += 32) {
                    fl_cpu_normal32(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
                    for (int l = 0; l < 32; l++) G1[c0 + l] = fl_elem_lr_grad(a, sign, eps[l], sigma[c0 + l], &g[l]);
                    if (acc) for (int l = 0; l < 32; l++) acc[c0 + l] += g[l];
                    if (pair) {
                        for (int l = 0; l < 32; l++) G2[c0 + l] = fl_elem_lr_grad(a2, sign2, eps[l], sigma[c0 + l], &g[l]);
                        if (acc) for (int l = 0; l < 32; l++) acc[c0 + l] += g[l];
                    }
                }
                for (int c0 = full; c0 < cols; c0 += 4) {
                    float gs4[4];
                    fl_body_lr_grad4(G1, gs4, coef, sigma, nz, r, c0, cols);
                    if (acc) for (int l = 0; l < 4; l++) acc[c0 + l] += gs4[l];
                    if (pair) {
                        fl_body_lr_grad4(G2, gs4, coef, sigma, nz, r2, c0, cols);
                        if (acc) for (int l = 0; l < 4; l++) acc[c0 + l] += gs4[l];
                    }
                }
            }
        }
    }
    if (gs) {
        for (int k = 0; k < chunks; k++)
            for (int c = 0; c < cols; c++) gs[c] += part[(long)k * padded + c];
        free(part);
    }
    free(role);
}

// LR gradient by units (ops.h): a unit's queries share one noise row, so each unit draws its
// normals once. gb and gs are reduced through partials per chunk of units (cpu_chunks.h),
// added in chunk order: the same on any thread count.
// lr_unit_noise and lr_unit_kept (ops.h): the normals drawn, or read from kept (E may be kept).
static void lr_unit(float* E, const float* kept, float* gb, float* gs, const float* coef,
                    const float* sigma, const fl_noise* nz, const int32_t* uoff, int units, int cols,
                    int weighted) {
    int full = cols / 32 * 32;
    int padded = (cols + 3) / 4 * 4;
    int T = nz->tokens;
    // partials per chunk: gb in [0, padded), gs in [padded, 2 padded)
    int chunks = cpu_chunks(units, 1);
    float* part = (float*)calloc((size_t)chunks * 2 * padded, sizeof(float));
    if (!part) FL_FATAL("out of host memory in lr_unit_noise");
#pragma omp parallel for schedule(static)
    for (int k = 0; k < chunks; k++) {
        float* acc_b = part + (long)k * 2 * padded;
        float* acc_s = acc_b + padded;
        for (int u = (int)cpu_chunk_begin(units, chunks, k); u < (int)cpu_chunk_begin(units, chunks, k + 1); u++) {
            for (int t = 0; t < T; t++) {
                float wsum, asum, sign;
                uint32_t row = fl_lr_unit_weights(nz, coef, uoff, u, t, &wsum, &asum);
                FL_CHECK(fl_noise_row(nz, uoff[u] * T + t, &sign) == row,
                         "lr_unit_noise: unit %d's queries are not on one noise row", u);
                float* E_row = E + ((long)u * T + t) * cols;
                if (kept) {  // every column, from the normals the forward kept
                    const float* k_row = kept + ((long)u * T + t) * cols;
                    for (int c = 0; c < cols; c++) {
                        float gbv, gsv;
                        E_row[c] = fl_elem_lr_unit(wsum, asum, k_row[c], sigma[c], &gbv, &gsv);
                        if (weighted) E_row[c] = gbv;  // wsum eps / sigma
                        acc_b[c] += gbv;
                        acc_s[c] += gsv;
                    }
                    continue;
                }
                float eps[32], gb32[32], gs32[32];
                for (int c0 = 0; c0 < full; c0 += 32) {
                    fl_cpu_normal32(nz->key0, nz->key1, (uint32_t)(c0 >> 2), row, nz->stream, nz->step, eps);
                    for (int l = 0; l < 32; l++)
                        E_row[c0 + l] = fl_elem_lr_unit(wsum, asum, eps[l], sigma[c0 + l], &gb32[l], &gs32[l]);
                    for (int l = 0; l < 32; l++) { acc_b[c0 + l] += gb32[l]; acc_s[c0 + l] += gs32[l]; }
                }
                for (int c0 = full; c0 < cols; c0 += 4) {
                    float gb4[4], gs4[4];
                    fl_body_lr_unit4(E_row, gb4, gs4, wsum, asum, row, sigma, nz, c0, cols);
                    for (int l = 0; l < 4; l++) { acc_b[c0 + l] += gb4[l]; acc_s[c0 + l] += gs4[l]; }
                }
            }
        }
    }
    for (int k = 0; k < chunks; k++)
        for (int c = 0; c < cols; c++) {
            if (gb) gb[c] += part[(long)k * 2 * padded + c];
            if (gs) gs[c] += part[(long)k * 2 * padded + padded + c];
        }
    free(part);
}

void cpu_lr_unit_noise(float* E, float* gb, float* gs, const float* coef, const float* sigma,
                       const fl_noise* nz, const int32_t* uoff, int units, int cols) {
    lr_unit(E, NULL, gb, gs, coef, sigma, nz, uoff, units, cols, 0);
}
void cpu_lr_unit_kept(float* E, const float* kept, float* gb, float* gs, const float* coef,
                      const float* sigma, const fl_noise* nz, const int32_t* uoff, int units,
                      int cols, int weighted) {
    lr_unit(E, kept, gb, gs, coef, sigma, nz, uoff, units, cols, weighted);
}

void cpu_lr_unit_fold(float* Xf, const float* X, const float* coef, const fl_noise* nz,
                      const int32_t* uoff, int units, long din) {
    int T = nz->tokens;
#pragma omp parallel for schedule(static)
    for (int u = 0; u < units; u++) {
        int q0 = uoff[u], q1 = uoff[u + 1];
        float w[8];  // coef sign of each query of the unit (a pair: 2)
        FL_CHECK(q1 - q0 >= 1 && q1 - q0 <= 8, "lr_unit_fold: unit %d has %d queries (1 to 8 allowed)", u, q1 - q0);
        for (int q = q0; q < q1; q++) {
            float sign;
            fl_noise_row(nz, q * T, &sign);
            w[q - q0] = coef[q] * sign;
        }
        for (int t = 0; t < T; t++) {
            float* xf = Xf + ((long)u * T + t) * din;
            const float* x0 = X + ((long)q0 * T + t) * din;
            for (long c = 0; c < din; c++) xf[c] = w[0] * x0[c];
            for (int q = q0 + 1; q < q1; q++) {
                const float* xq = X + ((long)q * T + t) * din;
                float wq = w[q - q0];
                for (long c = 0; c < din; c++) xf[c] += wq * xq[c];
            }
        }
    }
}

void cpu_noise_axpy(float* x, long n, uint64_t first, float scale, uint32_t key0,
                    uint32_t key1, uint32_t row, uint32_t stream, uint32_t step) {
    if (first % 4 != 0) FL_FATAL("noise_axpy: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
#pragma omp parallel for schedule(static) if (blocks > 256)
    for (long k = 0; k < blocks; k++) {
        float z[32];
        fl_cpu_normal32(key0, key1, (uint32_t)((first + (uint64_t)k * 32) >> 2), row, stream, step, z);
        float* xb = x + k * 32;
        for (int l = 0; l < 32; l++) xb[l] += scale * z[l];
    }
    for (long i0 = blocks * 32; i0 < n; i0 += 4)
        fl_body_noise_axpy4(x, n, i0, first, scale, key0, key1, row, stream, step);
}

// MeZO directions: blocks of 32 parameters regenerate the K directions with the 32-wide
// generator (bit-identical to fl_body_dirs_grad4), then apply the update; the tail uses the
// body. `fn` receives g for 32 (or 4) consecutive parameters starting at i.
static inline void dirs_block32(float* g, long i, uint64_t first, int K, const float* s, uint32_t k0,
                                uint32_t k1, uint32_t stream, uint32_t step) {
    for (int l = 0; l < 32; l++) g[l] = 0.0f;
    for (int k = 0; k < K; k++) {
        float z[32];
        fl_cpu_normal32(k0, k1, (uint32_t)((first + (uint64_t)i) >> 2), (uint32_t)k, stream, step, z);
        for (int l = 0; l < 32; l++) g[l] += s[k] * z[l];
    }
}

void cpu_dirs_adam(float* p, float* m, float* v, long n, uint64_t first, int K, const float* s,
                   uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step, float gscale,
                   float lr, float b1, float b2, float eps, float bc1, float bc2, float wd) {
    if (first % 4 != 0) FL_FATAL("dirs_adam: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
#pragma omp parallel for schedule(static) if (blocks > 64)
    for (long b = 0; b < blocks; b++) {
        float g[32];
        long i = b * 32;
        dirs_block32(g, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 32; l++)
            fl_body_adam(&p[i + l], g[l] * gscale, &m[i + l], &v[i + l], lr, b1, b2, eps, bc1, bc2, wd);
    }
    for (long i = blocks * 32; i < n; i += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 4 && i + l < n; l++)
            fl_body_adam(&p[i + l], g[l] * gscale, &m[i + l], &v[i + l], lr, b1, b2, eps, bc1, bc2, wd);
    }
}

void cpu_dirs_sgd(float* p, float* mom, long n, uint64_t first, int K, const float* s, uint32_t key0,
                  uint32_t key1, uint32_t stream, uint32_t step, float gscale, float lr, float momentum,
                  float wd) {
    if (first % 4 != 0) FL_FATAL("dirs_sgd: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
#pragma omp parallel for schedule(static) if (blocks > 64)
    for (long b = 0; b < blocks; b++) {
        float g[32];
        long i = b * 32;
        dirs_block32(g, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 32; l++) fl_body_sgd(&p[i + l], g[l] * gscale, &mom[i + l], lr, momentum, wd);
    }
    for (long i = blocks * 32; i < n; i += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 4 && i + l < n; l++) fl_body_sgd(&p[i + l], g[l] * gscale, &mom[i + l], lr, momentum, wd);
    }
}

double cpu_dirs_sumsq(long n, uint64_t first, int K, const float* s, uint32_t key0, uint32_t key1,
                      uint32_t stream, uint32_t step) {
    if (first % 4 != 0) FL_FATAL("dirs_sumsq: first element %llu is not a multiple of 4", (unsigned long long)first);
    long blocks = n / 32;
    // per chunk of blocks (cpu_chunks.h), added in chunk order: the same on any thread count
    int chunks = cpu_chunks(blocks, 16);
    double sums[CPU_REDUCE_CHUNKS];
#pragma omp parallel for schedule(static) if (blocks > 64)
    for (int k = 0; k < chunks; k++) {
        double part = 0.0;
        for (long b = cpu_chunk_begin(blocks, chunks, k); b < cpu_chunk_begin(blocks, chunks, k + 1); b++) {
            float g[32];
            dirs_block32(g, b * 32, first, K, s, key0, key1, stream, step);
            for (int l = 0; l < 32; l++) part += (double)g[l] * g[l];
        }
        sums[k] = part;
    }
    double acc = 0.0;
    for (int k = 0; k < chunks; k++) acc += sums[k];
    for (long i = blocks * 32; i < n; i += 4) {
        float g[4];
        fl_body_dirs_grad4(g, n, i, first, K, s, key0, key1, stream, step);
        for (int l = 0; l < 4 && i + l < n; l++) acc += (double)g[l] * g[l];
    }
    return acc;
}
