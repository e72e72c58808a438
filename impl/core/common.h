// common.h: the few things every file of flbench needs.
// FL_HD marks a function body shared by the CPU and CUDA backends (docs/DESIGN.md, principle 2):
// __host__ __device__ under nvcc, plain static inline under a C compiler.
// Errors: library code reports "what, where, expected vs found" through fl_err and returns
// non-zero; only the CLI decides to exit. FL_CHECK is for calls that must not fail
// (allocation, BLAS handles): it prints file:line and a hint and exits.
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __CUDACC__
#define FL_HD __host__ __device__ __forceinline__
#else
#define FL_HD static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

// One error message, filled by the function that failed. Callers pass it down.
typedef struct {
    char msg[1024];
} fl_err;

// printf-style: writes into err (if not NULL) and returns -1 so callers can `return fl_fail(...)`.
int fl_fail(fl_err* err, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Fatal: prints "flbench: FILE:LINE: message" and exits with status 1.
void fl_fatal_at(const char* file, int line, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4), noreturn))
#endif
    ;
#define FL_FATAL(...) fl_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
#define FL_CHECK(cond, ...) do { if (!(cond)) fl_fatal_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)

// Checked host allocation (never returns NULL).
void* fl_malloc_at(size_t bytes, const char* file, int line);
void* fl_calloc_at(size_t n, size_t size, const char* file, int line);
void* fl_realloc_at(void* p, size_t bytes, const char* file, int line);
#define fl_malloc(bytes) fl_malloc_at((bytes), __FILE__, __LINE__)
#define fl_calloc(n, size) fl_calloc_at((n), (size), __FILE__, __LINE__)
#define fl_realloc(p, bytes) fl_realloc_at((p), (bytes), __FILE__, __LINE__)

// Wall clock in seconds (monotonic).
double fl_now(void);
// Peak resident set size of this process in MiB.
double fl_peak_rss_mb(void);

// Creates a folder and its missing parents (mkdir -p). Returns 0, or -1 with err (nullable;
// errno is kept) naming the folder that could not be made.
int fl_mkdirs(const char* path, fl_err* err);

// FNV-1a, 64 bits: h folded with len bytes of data. Start from FL_FNV1A_INIT.
#define FL_FNV1A_INIT 0xcbf29ce484222325ull
uint64_t fl_fnv1a(uint64_t h, const void* data, size_t len);
uint64_t fl_fnv1a_str(uint64_t h, const char* s);  // without the terminating 0

// Sorts n doubles ascending in place; the median of n >= 1 doubles (sorts them).
void fl_sort_doubles(double* x, int n);
double fl_median(double* x, int n);

#ifdef __cplusplus
}
#endif
