// test.h: the tiny test harness every tests/*/test_*.c uses.
// Each test file is one executable whose main() calls RUN(fn) for its tests. Each test prints
// one line "PASS name", "FAIL name" or "SKIP name: reason"; tests/run.sh counts them and ends
// with "N passed, N failed, N skipped". A failed CHECK prints file:line and why, and the test
// goes on so that one run shows every broken check.
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int t_failed_now;
static const char* t_skip_reason;
static int t_n_fail;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            printf("    check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
            t_failed_now = 1;                                                \
        }                                                                    \
    } while (0)

// Marks the running test skipped, with a reason that is printed.
#define SKIP(reason)              \
    do {                          \
        t_skip_reason = (reason); \
        return;                   \
    } while (0)

static inline void t_run(const char* name, void (*fn)(void)) {
    t_failed_now = 0;
    t_skip_reason = NULL;
    fflush(stdout);
    fn();
    if (t_skip_reason && !t_failed_now)
        printf("SKIP %s: %s\n", name, t_skip_reason);
    else if (t_failed_now) {
        printf("FAIL %s\n", name);
        t_n_fail++;
    } else
        printf("PASS %s\n", name);
    fflush(stdout);
}
#define RUN(fn) t_run(#fn, fn)
#define TEST_EXIT() return t_n_fail ? 1 : 0

// A scratch directory for fixtures, unique per test executable (created on first use).
static inline const char* t_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char* base = getenv("FL_TEST_TMP");
        snprintf(dir, sizeof dir, "%s/flbench-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    }
    return dir;
}

// The flbench binary that the tests that run it use: $FLBENCH (make test sets it, to
// build/san/flbench under SAN=1), else build/flbench.
static inline const char* t_flbench(void) {
    const char* p = getenv("FLBENCH");
    return p && *p ? p : "build/flbench";
}

// NAME inside t_tmpdir(); the last 8 results stay valid.
static inline const char* t_path(const char* name) {
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", t_tmpdir(), name);
    return buf[k];
}

// Writes a fixture file; a fixture that cannot be written stops the test executable (status 2).
static inline void t_write_bytes(const char* path, const void* buf, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (n && fwrite(buf, 1, n, f) != n) { perror(path); exit(2); }
    fclose(f);
}
static inline void t_write_text(const char* path, const char* text) { t_write_bytes(path, text, strlen(text)); }
