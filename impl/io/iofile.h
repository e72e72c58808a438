// iofile.h: small helpers shared by the file formats in impl/io (safetensors, npy).
// Atomic write: the bytes go to a temporary file in the destination's own directory, which is
// flushed and fsync'ed, then renamed over the destination, and the directory is fsync'ed, so a
// reader sees either the old file or the complete new one, never a half-written one, even
// after a crash or power loss.
//   fl_atomic_file af;
//   if (fl_atomic_open(&af, path, err)) return -1;
//   if (fl_atomic_write(&af, buf, n, err)) return -1;    // on failure the temp file is gone
//   if (fl_atomic_commit(&af, err)) return -1;           // fflush, fsync, rename, fsync dir
// fl_atomic_abort() drops an open one without touching the destination.
#pragma once
#include "impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    FILE* f;               // NULL once committed or aborted
    size_t written;        // bytes written so far (for error messages)
    char path[4096];       // the destination
    char tmp_path[4096];   // PATH.tmp.XXXXXX in the same directory
} fl_atomic_file;

int fl_atomic_open(fl_atomic_file* af, const char* path, fl_err* err);
int fl_atomic_write(fl_atomic_file* af, const void* buf, size_t n, fl_err* err);
int fl_atomic_commit(fl_atomic_file* af, fl_err* err);
void fl_atomic_abort(fl_atomic_file* af);

// Writes "(2, 3, 4)" (or "()" for ndim 0) into buf; returns buf. For error messages.
const char* fl_shape_str(char* buf, size_t size, int ndim, const int64_t* shape);

#ifdef __cplusplus
}
#endif
