// csvread.c: the CSV reader of csvread.h. The file is fed to libcsv one physical line at a
// time, so each record's first line and byte range are known exactly.
#include <string.h>
#include <errno.h>
#include <csv.h>
#include "csvread.h"
#include "schema.h"

// Parser state shared with the libcsv callbacks.
typedef struct {
    char** fields;        // fields of the record being parsed
    int n_fields, cap_fields;
    int records_done;     // records completed since the last check
    char** done_fields;   // the completed record's fields (ownership moves to the table)
    int done_n;
} parse_state;

static void on_field(void* data, size_t len, void* st_) {
    parse_state* st = st_;
    if (st->n_fields == st->cap_fields) {
        st->cap_fields = st->cap_fields ? 2 * st->cap_fields : 64;
        st->fields = fl_realloc(st->fields, (size_t)st->cap_fields * sizeof(char*));
    }
    char* s = fl_malloc(len + 1);
    if (len) memcpy(s, data, len);
    s[len] = 0;
    st->fields[st->n_fields++] = s;
}

static void on_record(int c, void* st_) {
    parse_state* st = st_;
    st->records_done++;
    st->done_fields = st->fields;
    st->done_n = st->n_fields;
    st->fields = NULL;
    st->n_fields = st->cap_fields = 0;
}

static void free_fields(char** f, int n) {
    if (!f) return;
    for (int i = 0; i < n; i++) free(f[i]);
    free(f);
}

void fl_csv_free(fl_csv* t) {
    if (t->header) free_fields(t->header, t->n_cols);
    if (t->cells) {
        for (long i = 0; i < t->n_rows * (long)t->n_cols; i++) free(t->cells[i]);
        free(t->cells);
    }
    free(t->line);
    free(t->offset);
    free(t->end);
    memset(t, 0, sizeof *t);
}

static int blank_line(const char* s, ssize_t n) {
    for (ssize_t i = 0; i < n; i++)
        if (s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

int fl_csv_read(const char* path, fl_csv* t, fl_err* err) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    FILE* f = fopen(path, "rb");
    if (!f) return fl_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        fclose(f);
        return fl_fail(err, "%s: cannot initialise the CSV parser", path);
    }
    parse_state st = {0};
    long cap_rows = 0;
    char* buf = NULL;
    size_t buf_cap = 0;
    ssize_t n;
    long lineno = 0, off = 0;
    long rec_line = 0, rec_off = 0;   // start of the record being parsed (0 = none yet)
    int rc = 0;
    while ((n = getline(&buf, &buf_cap, f)) > 0) {
        lineno++;
        long line_off = off;
        if (rec_line == 0 && !blank_line(buf, n)) {
            rec_line = lineno;
            rec_off = off;
        }
        off += n;
        if (buf[n - 1] != '\n') {
            // the last line has no newline: a writer was killed in the middle of it
            if (rec_line) {
                t->torn_tail = 1;
                t->torn_line = rec_line;
                t->torn_offset = rec_off;
            }
            break;
        }
        // The line goes to libcsv in pieces that end at each CR, so that a record ended by a
        // bare CR (libcsv ends records at CR as at LF) is seen before a second one starts on
        // the same line: flbench's writers end lines with LF only, so a CR outside quotes may
        // only come right before the line's end (CRLF). At most one record ends per line.
        for (size_t pos = 0; pos < (size_t)n;) {
            const char* cr = memchr(buf + pos, '\r', (size_t)n - pos);
            size_t piece = cr ? (size_t)(cr - (buf + pos)) + 1 : (size_t)n - pos;
            if (csv_parse(&p, buf + pos, piece, on_field, on_record, &st) != piece) {
                rc = fl_fail(err, "%s:%ld: malformed CSV (%s); expected RFC 4180 quoting", path,
                             rec_line ? rec_line : lineno, csv_strerror(csv_error(&p)));
                goto done;
            }
            pos += piece;
            if (cr && st.records_done && !blank_line(buf + pos, n - (ssize_t)pos)) {
                rc = fl_fail(err, "%s:%ld: a CR at byte %ld ends a record in the middle of the line; "
                             "expected LF (or CRLF) line ends, found a bare CR",
                             path, lineno, line_off + (long)pos - 1);
                goto done;
            }
        }
        if (!st.records_done) continue;
        st.records_done = 0;
        if (!t->header) {
            t->header = st.done_fields;
            t->n_cols = st.done_n;
        } else {
            if (st.done_n != t->n_cols) {
                rc = fl_fail(err, "%s:%ld: expected %d fields (as in the header), found %d", path, rec_line,
                             t->n_cols, st.done_n);
                goto done;
            }
            if (t->n_rows == cap_rows) {
                cap_rows = cap_rows ? 2 * cap_rows : 256;
                t->cells = fl_realloc(t->cells, (size_t)cap_rows * t->n_cols * sizeof(char*));
                t->line = fl_realloc(t->line, (size_t)cap_rows * sizeof(long));
                t->offset = fl_realloc(t->offset, (size_t)cap_rows * sizeof(long));
                t->end = fl_realloc(t->end, (size_t)cap_rows * sizeof(long));
            }
            memcpy(t->cells + t->n_rows * t->n_cols, st.done_fields, (size_t)t->n_cols * sizeof(char*));
            free(st.done_fields);
            t->line[t->n_rows] = rec_line;
            t->offset[t->n_rows] = rec_off;
            t->end[t->n_rows] = off;
            t->n_rows++;
        }
        st.done_fields = NULL;
        rec_line = 0;
    }
    if (ferror(f)) {
        rc = fl_fail(err, "%s: read error after line %ld: %s", path, lineno, strerror(errno));
        goto done;
    }
    t->size = off;
    if (!t->torn_tail && (st.n_fields > 0 || rec_line)) {
        // a quoted field still open at the end of the file: also a cut-short record
        t->torn_tail = 1;
        t->torn_line = rec_line ? rec_line : lineno;
        t->torn_offset = rec_line ? rec_off : off;
    }
    if (!t->header && t->torn_tail)
        rc = fl_fail(err, "%s:%ld: the header line is incomplete (the file ends inside it); expected a CSV header line",
                     path, t->torn_line);
    else if (!t->header)
        rc = fl_fail(err, "%s: empty file; expected a CSV header line", path);
done:
    free_fields(st.done_fields, st.done_n);  // a record refused above
    free_fields(st.fields, st.n_fields);
    csv_free(&p);
    free(buf);
    fclose(f);
    if (rc) fl_csv_free(t);
    return rc;
}

int fl_csv_col(const fl_csv* t, const char* name) {
    for (int i = 0; i < t->n_cols; i++)
        if (!strcmp(t->header[i], name)) return i;
    return -1;
}

const char* fl_csv_get(const fl_csv* t, long r, int c) {
    if (c < 0 || c >= t->n_cols || r < 0 || r >= t->n_rows) return "";
    return t->cells[r * t->n_cols + c];
}

const char* fl_csv_field(const fl_csv* t, long r, const char* name) {
    return fl_csv_get(t, r, fl_csv_col(t, name));
}

int fl_csv_check_results_header(const fl_csv* t, fl_err* err) {
    for (int i = 0; i < fl_n_columns || i < t->n_cols; i++) {
        const char* want = i < fl_n_columns ? fl_columns[i].name : "(end of header)";
        const char* have = i < t->n_cols ? t->header[i] : "(end of header)";
        if (strcmp(want, have) != 0)
            return fl_fail(err, "%s:1: not a results CSV of schema %d: column %d is '%s', expected '%s'", t->path,
                           FL_SCHEMA_VERSION, i + 1, have, want);
    }
    return 0;
}
