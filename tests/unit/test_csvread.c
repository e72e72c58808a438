// test_csvread.c: the CSV reader of bench/run/csvread.h: quoting, line numbers and byte
// ranges of rows, a torn last line, CRLF and bare CR, and errors that name the file and line.
#include "../test.h"
#include "../../bench/run/csvread.h"
#include "../../bench/run/schema.h"

static const char* write_file(const char* name, const char* text) {
    static char path[4][512];
    static int k;
    char* p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", t_tmpdir(), name);
    FILE* f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_quoting_and_lines(void) {
    // a quoted field with a comma, a doubled quote and a newline; a blank line between rows
    const char* text = "a,b,c\n1,\"x,y\",\"say \"\"hi\"\"\"\n\n2,\"two\nlines\",\n3,,z\n";
    const char* path = write_file("q.csv", text);
    fl_csv t;
    fl_err err = {{0}};
    int rc = fl_csv_read(path, &t, &err);
    CHECK(rc == 0, "read failed: %s", err.msg);
    if (rc) return;
    CHECK(t.n_cols == 3 && t.n_rows == 3, "shape %d cols %ld rows", t.n_cols, t.n_rows);
    CHECK(!strcmp(fl_csv_field(&t, 0, "b"), "x,y"), "got '%s'", fl_csv_field(&t, 0, "b"));
    CHECK(!strcmp(fl_csv_field(&t, 0, "c"), "say \"hi\""), "got '%s'", fl_csv_field(&t, 0, "c"));
    CHECK(!strcmp(fl_csv_field(&t, 1, "b"), "two\nlines"), "got '%s'", fl_csv_field(&t, 1, "b"));
    CHECK(!strcmp(fl_csv_field(&t, 1, "c"), ""), "empty field");
    CHECK(!strcmp(fl_csv_field(&t, 2, "nope"), ""), "absent column reads as empty");
    CHECK(t.line[0] == 2 && t.line[1] == 4 && t.line[2] == 6, "lines %ld %ld %ld", t.line[0], t.line[1], t.line[2]);
    // byte ranges: each row's text is exactly its source
    CHECK(!strncmp(text + t.offset[2], "3,,z\n", 5) && t.end[2] == (long)strlen(text), "range of row 3");
    CHECK(!strncmp(text + t.offset[1], "2,\"two", 6), "range of row 2");
    CHECK(!t.torn_tail, "no torn tail");
    fl_csv_free(&t);
}

static void test_torn_tail(void) {
    const char* path = write_file("torn.csv", "a,b\n1,2\n3,4\n5,");
    fl_csv t;
    fl_err err = {{0}};
    int rc = fl_csv_read(path, &t, &err);
    CHECK(rc == 0, "read failed: %s", err.msg);
    if (rc) return;
    CHECK(t.n_rows == 2 && t.torn_tail && t.torn_line == 4, "rows %ld torn %d line %ld", t.n_rows, t.torn_tail, t.torn_line);
    CHECK(t.end[1] == 12, "complete rows end at byte 12, found %ld", t.end[1]);
    fl_csv_free(&t);
    // cut inside a quoted field that spans a newline
    path = write_file("torn2.csv", "a,b\n1,\"open\nstill\n");
    rc = fl_csv_read(path, &t, &err);
    CHECK(rc == 0, "read failed: %s", err.msg);
    if (!rc) {
        CHECK(t.n_rows == 0 && t.torn_tail && t.torn_line == 2, "rows %ld torn %d line %ld", t.n_rows, t.torn_tail, t.torn_line);
        fl_csv_free(&t);
    }
}

static void test_errors_name_line(void) {
    fl_csv t;
    fl_err err = {{0}};
    const char* path = write_file("short.csv", "a,b,c\n1,2,3\n4,5\n");
    CHECK(fl_csv_read(path, &t, &err) == -1, "a short row is an error");
    CHECK(strstr(err.msg, "short.csv:3:") && strstr(err.msg, "expected 3 fields") && strstr(err.msg, "found 2"),
          "message: %s", err.msg);
    path = write_file("quote.csv", "a,b\n1,2\n3,x\"y\n");
    CHECK(fl_csv_read(path, &t, &err) == -1, "a stray quote is an error in strict mode");
    CHECK(strstr(err.msg, "quote.csv:3:") != NULL, "message: %s", err.msg);
    path = write_file("empty.csv", "");
    CHECK(fl_csv_read(path, &t, &err) == -1 && strstr(err.msg, "empty file"), "message: %s", err.msg);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.csv", t_tmpdir());
    CHECK(fl_csv_read(missing, &t, &err) == -1 && strstr(err.msg, "none.csv: cannot open"), "message: %s", err.msg);
}

static void test_bare_cr(void) {
    // libcsv ends a record at a CR outside quotes: "a,b" and "c,d" would both end on line 1,
    // the first silently replaced by the second. The file is refused, naming line and byte.
    fl_csv t;
    fl_err err = {{0}};
    const char* path = write_file("cr.csv", "a,b\rc,d\n1,2\n");
    int rc = fl_csv_read(path, &t, &err);
    CHECK(rc == -1, "a bare CR inside a line is refused, got rc %d (%d cols, %ld rows, header '%s')", rc,
          rc ? 0 : t.n_cols, rc ? 0L : t.n_rows, rc ? "" : t.header[0]);
    if (rc == 0) fl_csv_free(&t);
    CHECK(strstr(err.msg, "cr.csv:1:") && strstr(err.msg, "byte 3") && strstr(err.msg, "bare CR"),
          "message: %s", err.msg);
    // a bare CR on a later row, after a header already read
    path = write_file("cr2.csv", "a,b\n1,2\n3,4\r5,6\n");
    rc = fl_csv_read(path, &t, &err);
    CHECK(rc == -1 && strstr(err.msg, "cr2.csv:3:") && strstr(err.msg, "byte 11"), "rc %d message: %s", rc, err.msg);
    if (rc == 0) fl_csv_free(&t);
    // CRLF line ends and a CR inside quotes are read as before
    path = write_file("crlf.csv", "a,b\r\n1,\"x\ry\"\r\n\r\n3,4\r\n");
    rc = fl_csv_read(path, &t, &err);
    CHECK(rc == 0, "CRLF file: %s", err.msg);
    if (rc) return;
    CHECK(t.n_cols == 2 && t.n_rows == 2 && !strcmp(t.header[1], "b"), "shape %d cols %ld rows", t.n_cols, t.n_rows);
    CHECK(!strcmp(fl_csv_field(&t, 0, "b"), "x\ry") && !strcmp(fl_csv_field(&t, 1, "a"), "3"), "fields '%s' '%s'",
          fl_csv_field(&t, 0, "b"), fl_csv_field(&t, 1, "a"));
    CHECK(t.line[1] == 4 && t.offset[1] == 16 && t.end[1] == 21, "row 2: line %ld bytes %ld..%ld", t.line[1],
          t.offset[1], t.end[1]);
    fl_csv_free(&t);
}

static void test_results_header(void) {
    // a row written by the results appender reads back with the schema's header
    char path[600];
    snprintf(path, sizeof path, "%s/results.csv", t_tmpdir());
    fl_row r;
    fl_row_init(&r);
    fl_row_set(&r, "cell_key", "k;1");
    fl_row_set(&r, "message", "a, \"quoted\" message");
    fl_err err = {{0}};
    CHECK(fl_row_append(&r, path, &err) == 0, "append: %s", err.msg);
    fl_row_free(&r);
    fl_csv t;
    int rc = fl_csv_read(path, &t, &err);
    CHECK(rc == 0, "read: %s", err.msg);
    if (rc) return;
    CHECK(fl_csv_check_results_header(&t, &err) == 0, "header: %s", err.msg);
    CHECK(t.n_rows == 1 && !strcmp(fl_csv_field(&t, 0, "message"), "a, \"quoted\" message"), "message round trip");
    fl_csv_free(&t);
    const char* other = write_file("other.csv", "schema,cell_key,x\n1,2,3\n");
    rc = fl_csv_read(other, &t, &err);
    CHECK(rc == 0, "read: %s", err.msg);
    if (rc) return;
    CHECK(fl_csv_check_results_header(&t, &err) == -1 && strstr(err.msg, "other.csv:1:") && strstr(err.msg, "column 3 is 'x'"),
          "message: %s", err.msg);
    fl_csv_free(&t);
}

int main(void) {
    RUN(test_quoting_and_lines);
    RUN(test_torn_tail);
    RUN(test_errors_name_line);
    RUN(test_bare_cr);
    RUN(test_results_header);
    TEST_EXIT();
}
