// csvrewrite.h: changing a results CSV after the fact, for its writers: the repair of the torn
// tail that a writer killed in the middle of a line leaves (shared by `flbench sweep` when it
// resumes and `flbench train --out` before it appends), and a rewrite without some rows (a
// resumed sweep drops the rows of its unfinished cells).
#pragma once
#include "csvread.h"

#ifdef __cplusplus
extern "C" {
#endif

// What fl_results_repair_torn did to the end of a file.
typedef struct {
    int dropped;       // 1: an incomplete last row was cut off
    long line;         // the line it started on
    long bytes;        // how many bytes it had
    int emptied;       // 1: the file held only the start of a header, and is now empty
} fl_csv_repair;

// Reads the results CSV at path into t and repairs its end, under the exclusive flock its
// appenders take. Every flbench writer ends its lines with '\n', so a file that ends inside a
// row was cut short by a kill: that incomplete last row is cut off (the file is truncated where
// it starts; the rows before it are untouched), and a file that holds only the start of the
// results header is emptied (its next append writes the header again). The header must be this
// schema's (fl_csv_check_results_header). A missing file is no error (t empty). t then
// describes the repaired file; r says what was dropped. Returns 0, or -1 with err, the file
// left as it was.
int fl_results_repair_torn(const char* path, fl_csv* t, fl_csv_repair* r, fl_err* err);

// Before rows are appended to the results CSV at path (train --out): a missing file must be
// creatable (it is created and removed again); an existing one is repaired with
// fl_results_repair_torn, which is said in one line on stderr. Returns 0, or -1 with err
// ("--out FILE:LINE: what, expected vs found"), the file left as it was.
int fl_results_prepare_append(const char* path, fl_err* err);

// Rewrites t's file (t->path) with its header and the rows r for which keep[r] is not 0 (keep
// NULL: every row), never a torn last row: into PATH.repair, fsync'd, renamed over PATH.
// Returns 0, or -1 with err (PATH is then unchanged).
int fl_csv_rewrite(const fl_csv* t, const unsigned char* keep, fl_err* err);

#ifdef __cplusplus
}
#endif
