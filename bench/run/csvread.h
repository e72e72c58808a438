// csvread.h: reads a CSV file (RFC 4180, through libcsv) into memory: header, rows of string
// fields, and for every row the line it starts on and its byte range, so that callers can name
// "FILE:LINE" in errors and rewrite a file without some of its rows.
// Used by `flbench sweep` (resumption), `merge` and `report`.
//
// A file whose last line has no newline was cut short by a killed writer (every flbench
// writer ends its lines with '\n'): that last record is not returned; torn_tail says so.
#pragma once
#include "../../impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_csv {
    char path[512];
    int n_cols;
    char** header;        // (n_cols)
    long n_rows;
    char** cells;         // (n_rows, n_cols) row-major; never NULL ("" when empty)
    long* line;           // (n_rows) 1-based line each row starts on
    long* offset;         // (n_rows) byte offset of each row's first character
    long* end;            // (n_rows) byte offset just past each row's newline
    int torn_tail;        // 1 when the file ended inside a row (dropped)
    long torn_line;       // the line that torn row started on
    long torn_offset;     // the byte offset it started at: the complete part of the file ends there
    long size;            // bytes in the file
} fl_csv;

// Reads path. Returns 0, or -1 with err ("FILE:LINE: what, expected vs found") for a file that
// cannot be opened, an empty file, one that ends inside its header line, a quoting error, a
// bare CR that ends a record in the middle of a line (CRLF line ends are read), or a row whose
// field count differs from the header's.
int fl_csv_read(const char* path, fl_csv* t, fl_err* err);
void fl_csv_free(fl_csv* t);

// Column index by header name, or -1.
int fl_csv_col(const fl_csv* t, const char* name);
// Field of row r, column c ("" when c < 0).
const char* fl_csv_get(const fl_csv* t, long r, int c);
// Field of row r by column name ("" when the column is absent).
const char* fl_csv_field(const fl_csv* t, long r, const char* name);

// Checks that the header is the results schema of bench/run/schema.h. Returns 0, or -1 with
// err naming the file and the first column that differs.
int fl_csv_check_results_header(const fl_csv* t, fl_err* err);

#ifdef __cplusplus
}
#endif
