// series.h: the series name of a run, the `series` column of the results CSV (results/SCHEMA.md)
// and the report's label: from a sweep cell key ("NAME;axis=v;...;h=HASH") the words of its
// variant axes (e.g. "lr-flops"), then its numeric axis=value parts, seed, budget and the task's
// axes left out; from another key ("train:HASH") METHOD-ALLOCATOR (e.g. "lr-uniform"), the
// exact method by its name. The exact method with block checkpointing is "bp-ckpt".
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void fl_series_label(const char* key, const char* method, const char* allocator, int ckpt, char* out, size_t len);

#ifdef __cplusplus
}
#endif
