// test_csvrewrite.c: the repair of a results CSV's torn tail and the row-dropping rewrite
// (bench/run/csvrewrite.h), which `flbench sweep` and `flbench train --out` share:
//  - an incomplete last row is cut off where it starts, also one whose open quoted field
//    spans lines (cutting at the last newline would leave half of it), and the whole rows
//    before it are kept byte for byte; an append then gives a file of whole rows, where
//    without the repair it gives a row with too many fields (the control);
//  - a file holding only the start of the header is emptied;
//  - a file of another schema, or one whose only line is not the header's start, is refused
//    and left as it was; a missing file is no error;
//  - fl_results_prepare_append refuses a path whose folder is missing and creates nothing;
//  - fl_csv_rewrite keeps the header and exactly the rows asked for.
#include <sys/stat.h>
#include "../test.h"
#include "../../bench/run/csvrewrite.h"
#include "../../bench/run/schema.h"

// A results row whose fields are "r<row>c<col>" (the message column: text, with a newline when
// multiline is set, so the row is quoted and spans two lines).
static char* row_line(int row, int multiline) {
    char** f = calloc((size_t)fl_n_columns, sizeof(char*));
    for (int c = 0; c < fl_n_columns; c++) {
        f[c] = malloc(64);
        snprintf(f[c], 64, multiline && c == fl_column_index("message") ? "r%d\nsecond line" : "r%dc%d", row, c);
    }
    char* line = fl_csv_line((const char* const*)f, fl_n_columns);
    for (int c = 0; c < fl_n_columns; c++) free(f[c]);
    free(f);
    return line;
}

// The file's text (malloc'd) and its length.
static char* slurp(const char* path, long* n) {
    FILE* f = fopen(path, "rb");
    *n = -1;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* s = malloc((size_t)*n + 1);
    if (fread(s, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
    s[*n > 0 ? *n : 0] = 0;
    fclose(f);
    return s;
}

// header + rows 1..n whole (each with its newline), into text (malloc'd).
static char* whole_file(int n, int multiline_last) {
    char* header = fl_schema_header();
    size_t cap = strlen(header) + 2;
    char* text = malloc(cap);
    snprintf(text, cap, "%s\n", header);
    for (int r = 1; r <= n; r++) {
        char* line = row_line(r, multiline_last && r == n);
        cap += strlen(line) + 1;
        text = realloc(text, cap);
        strcat(text, line);
        strcat(text, "\n");
        free(line);
    }
    free(header);
    return text;
}

// Cuts off a whole file's last row in the middle: the file a kill inside its write leaves.
static void write_torn(const char* path, int n_rows, int multiline_last, char** whole_before) {
    char* before = whole_file(n_rows - 1, 0);
    char* all = whole_file(n_rows, multiline_last);
    size_t b = strlen(before), a = strlen(all);
    size_t cut = multiline_last ? (size_t)(strstr(all + b, "second") - all) : b + (a - b) / 2;
    t_write_bytes(path, all, cut);
    *whole_before = before;
    free(all);
}

static void test_torn_row_cut_off(void) {
    for (int multiline = 0; multiline <= 1; multiline++) {
        const char* path = t_path(multiline ? "torn_quoted.csv" : "torn.csv");
        char* before;
        write_torn(path, 3, multiline, &before);
        fl_csv t;
        fl_csv_repair r;
        fl_err err = {{0}};
        int rc = fl_results_repair_torn(path, &t, &r, &err);
        CHECK(rc == 0, "multiline %d: %s", multiline, err.msg);
        CHECK(r.dropped == 1 && r.line == 4 && !r.emptied && r.bytes > 0, "multiline %d: dropped %d line %ld bytes %ld",
              multiline, r.dropped, r.line, r.bytes);
        CHECK(rc || (t.n_rows == 2 && !t.torn_tail && t.size == (long)strlen(before)), "multiline %d: table %ld rows, size %ld",
              multiline, t.n_rows, t.size);
        if (!rc) fl_csv_free(&t);
        long n;
        char* now = slurp(path, &n);
        CHECK(now && n == (long)strlen(before) && !memcmp(now, before, (size_t)n),
              "multiline %d: the file is not its whole rows (%ld bytes, expected %zu)", multiline, n, strlen(before));
        free(now);
        // a second repair has nothing to do
        rc = fl_results_repair_torn(path, &t, &r, &err);
        CHECK(rc == 0 && !r.dropped && !r.emptied && t.n_rows == 2, "second repair: rc %d dropped %d", rc, r.dropped);
        if (!rc) fl_csv_free(&t);
        free(before);
    }
}

static void test_append_after_repair(void) {
    // the repaired file takes a row, and reads back whole
    const char* path = t_path("append.csv");
    const char* control = t_path("append_control.csv");
    char* before;
    write_torn(path, 3, 0, &before);
    write_torn(control, 3, 0, &before);
    free(before);
    char* header = fl_schema_header();
    char* line = row_line(9, 0);
    fl_csv t;
    fl_csv_repair r;
    fl_err err = {{0}};
    CHECK(fl_results_repair_torn(path, &t, &r, &err) == 0, "%s", err.msg);
    fl_csv_free(&t);
    CHECK(fl_csv_append(path, header, line, &err) == 0, "%s", err.msg);
    int rc = fl_csv_read(path, &t, &err);
    CHECK(rc == 0 && t.n_rows == 3 && !t.torn_tail && !strcmp(fl_csv_field(&t, 2, "schema"), "r9c0"),
          "after repair and append: rc %d rows %ld: %s", rc, rc ? 0L : t.n_rows, err.msg);
    if (!rc) fl_csv_free(&t);
    // the control: the same append without the repair glues the row onto the fragment
    CHECK(fl_csv_append(control, header, line, &err) == 0, "%s", err.msg);
    rc = fl_csv_read(control, &t, &err);
    CHECK(rc == -1 && strstr(err.msg, ":4: expected") && strstr(err.msg, "fields"), "control: rc %d '%s'", rc, err.msg);
    if (!rc) fl_csv_free(&t);
    free(line);
    free(header);
}

static void test_header_cut_short(void) {
    const char* path = t_path("head.csv");
    char* header = fl_schema_header();
    t_write_bytes(path, header, 17);
    fl_csv t;
    fl_csv_repair r;
    fl_err err = {{0}};
    int rc = fl_results_repair_torn(path, &t, &r, &err);
    struct stat st;
    CHECK(rc == 0 && r.emptied && r.bytes == 17 && !t.header, "rc %d emptied %d bytes %ld: %s", rc, r.emptied, r.bytes, err.msg);
    CHECK(stat(path, &st) == 0 && st.st_size == 0, "the file is not empty");
    // the whole header without its newline is the start of a header too
    t_write_bytes(path, header, strlen(header));
    rc = fl_results_repair_torn(path, &t, &r, &err);
    CHECK(rc == 0 && r.emptied && stat(path, &st) == 0 && st.st_size == 0, "whole header without newline: rc %d", rc);
    free(header);
}

static void test_refused_and_untouched(void) {
    struct {
        const char* name;
        const char* text;
        const char* msg;
    } cases[] = {
        {"other.csv", "a,b\n1,2\n3,", "other.csv:1: not a results CSV of schema"},
        {"oneline.csv", "abc", "oneline.csv:1: the header line is incomplete"},
        {"garbled.csv", NULL, "garbled.csv:3: expected"},
    };
    char* header = fl_schema_header();
    char* r1 = row_line(1, 0);
    size_t gl = strlen(header) + 3 * strlen(r1) + 16;
    char* garbled = malloc(gl);  // a row with too many fields: what the old append left
    snprintf(garbled, gl, "%s\n%s\n%s,%s\n", header, r1, r1, r1);
    cases[2].text = garbled;
    for (int i = 0; i < 3; i++) {
        const char* path = t_path(cases[i].name);
        t_write_text(path, cases[i].text);
        fl_csv t;
        fl_csv_repair r;
        fl_err err = {{0}};
        int rc = fl_results_repair_torn(path, &t, &r, &err);
        CHECK(rc == -1 && strstr(err.msg, cases[i].msg), "%s: rc %d '%s'", cases[i].name, rc, err.msg);
        long n;
        char* now = slurp(path, &n);
        CHECK(now && n == (long)strlen(cases[i].text) && !strcmp(now, cases[i].text), "%s changed", cases[i].name);
        free(now);
    }
    // a missing file is no error, and is not created
    const char* missing = t_path("missing.csv");
    fl_csv t;
    fl_csv_repair r;
    fl_err err = {{0}};
    struct stat st;
    CHECK(fl_results_repair_torn(missing, &t, &r, &err) == 0 && !t.header && stat(missing, &st) != 0, "missing: %s", err.msg);
    CHECK(fl_results_prepare_append(missing, &err) == 0 && stat(missing, &st) != 0, "prepare missing: %s", err.msg);
    char nowhere[700];
    snprintf(nowhere, sizeof nowhere, "%s/no/such/folder/r.csv", t_tmpdir());
    CHECK(fl_results_prepare_append(nowhere, &err) == -1 && strstr(err.msg, "--out ") && strstr(err.msg, "r.csv: cannot create"),
          "missing folder: '%s'", err.msg);
    free(garbled);
    free(r1);
    free(header);
}

static void test_rewrite_keeps_chosen_rows(void) {
    const char* path = t_path("rewrite.csv");
    char* all = whole_file(3, 1);  // the last row spans two lines
    t_write_text(path, all);
    fl_csv t;
    fl_err err = {{0}};
    CHECK(fl_csv_read(path, &t, &err) == 0 && t.n_rows == 3, "%s", err.msg);
    unsigned char keep[3] = {1, 0, 1};
    CHECK(fl_csv_rewrite(&t, keep, &err) == 0, "%s", err.msg);
    fl_csv_free(&t);
    char* header = fl_schema_header();
    char* r1 = row_line(1, 0);
    char* r3 = row_line(3, 1);
    size_t n = strlen(header) + strlen(r1) + strlen(r3) + 4;
    char* want = malloc(n);
    snprintf(want, n, "%s\n%s\n%s\n", header, r1, r3);
    long got_n;
    char* got = slurp(path, &got_n);
    CHECK(got && !strcmp(got, want), "rewritten file differs (%ld bytes, expected %zu)", got_n, strlen(want));
    struct stat st;
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.repair", path);
    CHECK(stat(tmp, &st) != 0, "the temporary file is left behind");
    free(got);
    free(want);
    free(r3);
    free(r1);
    free(header);
    free(all);
}

int main(void) {
    RUN(test_torn_row_cut_off);
    RUN(test_append_after_repair);
    RUN(test_header_cut_short);
    RUN(test_refused_and_untouched);
    RUN(test_rewrite_keeps_chosen_rows);
    TEST_EXIT();
}
