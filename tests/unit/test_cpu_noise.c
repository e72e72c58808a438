// test_cpu_noise.c: the CPU backend's 8-lane normal generator (impl/backend/cpu_noise.h) is
// bit-identical to the shared scalar body fl_normal4 that the CUDA backend also calls.
#include "../test.h"
#include "impl/backend/cpu_noise.h"

static void test_normal32_bit_identical(void) {
    long mismatches = 0, total = 0;
    for (uint32_t row = 0; row < 2000; row++) {
        uint32_t k0 = 0x9e3779b9u * row, k1 = row ^ 0xdeadbeefu;
        uint32_t stream = row % 7 + (row & 1 ? 1u << 24 : 0), step = row * 13u;
        for (uint32_t g0 = 0; g0 < 512; g0 += 8) {
            float a[32], b[32];
            fl_cpu_normal32(k0, k1, g0 + row * 3u, row, stream, step, a);
            for (int j = 0; j < 8; j++) fl_normal4(k0, k1, g0 + row * 3u + (uint32_t)j, row, stream, step, b + 4 * j);
            for (int i = 0; i < 32; i++) {
                mismatches += memcmp(&a[i], &b[i], sizeof(float)) != 0;
                total++;
            }
        }
    }
    CHECK(mismatches == 0, "%ld of %ld normals differ from the scalar body", mismatches, total);
}

// the counter's group wraps at 2^32: lanes must wrap the same way
static void test_normal32_wraps(void) {
    float a[32], b[32];
    fl_cpu_normal32(1, 2, 0xfffffffcu, 3, 4, 5, a);
    for (int j = 0; j < 8; j++) fl_normal4(1, 2, 0xfffffffcu + (uint32_t)j, 3, 4, 5, b + 4 * j);
    CHECK(memcmp(a, b, sizeof a) == 0, "wrapped counters differ");
}

int main(void) {
    RUN(test_normal32_bit_identical);
    RUN(test_normal32_wraps);
    TEST_EXIT();
}
