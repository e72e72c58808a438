// common.c: error reporting, checked allocation, clocks and memory readings.
#include "common.h"
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>

int fl_fail(fl_err* err, const char* fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void fl_fatal_at(const char* file, int line, const char* fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "flbench: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void* fl_malloc_at(size_t bytes, const char* file, int line) {
    void* p = malloc(bytes ? bytes : 1);
    if (!p) fl_fatal_at(file, line, "out of host memory allocating %zu bytes", bytes);
    return p;
}

void* fl_calloc_at(size_t n, size_t size, const char* file, int line) {
    void* p = calloc(n ? n : 1, size ? size : 1);
    if (!p) fl_fatal_at(file, line, "out of host memory allocating %zu x %zu bytes", n, size);
    return p;
}

void* fl_realloc_at(void* p, size_t bytes, const char* file, int line) {
    void* q = realloc(p, bytes ? bytes : 1);
    if (!q) fl_fatal_at(file, line, "out of host memory reallocating to %zu bytes", bytes);
    return q;
}

double fl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double fl_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return (double)ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

int fl_mkdirs(const char* path, fl_err* err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return fl_fail(err, "%.64s...: the folder's path is too long (at most %zu bytes)", path, sizeof tmp - 1);
    size_t len = strlen(tmp);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char saved = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                int saved_errno = errno;
                fl_fail(err, "%s: cannot create the folder: %s", tmp, strerror(saved_errno));
                errno = saved_errno;
                return -1;
            }
            tmp[i] = saved;
        }
    }
    return 0;
}

uint64_t fl_fnv1a(uint64_t h, const void* data, size_t len) {
    const unsigned char* p = (const unsigned char*)data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t fl_fnv1a_str(uint64_t h, const char* s) { return fl_fnv1a(h, s, strlen(s)); }

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

void fl_sort_doubles(double* x, int n) { qsort(x, (size_t)n, sizeof(double), cmp_double); }

double fl_median(double* x, int n) {
    fl_sort_doubles(x, n);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}
