// common.c: error reporting, checked allocation, clocks and memory readings.
#include "common.h"
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

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
