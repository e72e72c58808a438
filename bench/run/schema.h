// schema.h: the results CSV schema (docs/DESIGN.md, principle 7 and "The results schema") and
// its writer.
// Every row of every results CSV has these columns in this order; results/SCHEMA.md is
// generated from the table in schema.c (`flbench schema`), and a test keeps them equal.
// Rows are appended atomically: the whole line is formatted first, then written with one
// write() on an O_APPEND descriptor under an exclusive flock, then fsync'd.
#pragma once
#include "../../impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_SCHEMA_VERSION 6

typedef struct {
    const char* name;
    const char* unit;     // "" when none
    const char* help;
} fl_column;

// The columns, in order.
extern const fl_column fl_columns[];
extern const int fl_n_columns;
int fl_column_index(const char* name);

// One row being filled: values by column (strings; empty = missing).
typedef struct {
    char** val;           // (fl_n_columns)
} fl_row;

void fl_row_init(fl_row* r);
void fl_row_free(fl_row* r);
void fl_row_set(fl_row* r, const char* column, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const char* fl_row_get(const fl_row* r, const char* column);

// Appends the row to path (writing the header first when the file is new or empty). Returns
// 0, or -1 with err. An existing file whose header differs from the schema is an error.
int fl_row_append(const fl_row* r, const char* path, fl_err* err);

// Appends one line (no newline) to a CSV whose first line must be `header` (written with the
// line, in the same write, when the file is new or empty): O_APPEND, flock, one write, fsync.
int fl_csv_append(const char* path, const char* header, const char* line, fl_err* err);
// write(2) until all of buf is written (retrying on EINTR). Returns 0 or -1 (errno set).
int fl_write_all(int fd, const char* buf, size_t len);
// The results header line (malloc'd).
char* fl_schema_header(void);

// Formats a CSV line (no newline) of n fields into a malloc'd string, quoting as RFC 4180.
char* fl_csv_line(const char* const* fields, int n);

// Prints the schema as the Markdown of results/SCHEMA.md.
void fl_schema_markdown(FILE* f);

// Provenance.
const char* fl_git_rev(void);

#ifdef __cplusplus
}
#endif
