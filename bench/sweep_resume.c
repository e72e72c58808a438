// sweep_resume.c: where a sweep resumes: which cells its CSV already holds finished, after
// repairing the file when a kill left a torn last line or the rows of an unfinished cell, and
// dropping the rows of the cells --retry-failed runs again.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "sweep.h"
#include "run/csvrewrite.h"

static int want_retry(const char* status, int retry_failed) {
    return retry_failed && (!strcmp(status, "failed") || !strncmp(status, "missing", 7));
}

int sw_load_state(const char* csv, const sw_cell* cells, long n_cells, int retry_failed, sw_state* st,
                  fl_err* err) {
    memset(st, 0, sizeof *st);
    struct stat sb;
    if (stat(csv, &sb) != 0 || sb.st_size == 0) return 0;
    // a torn last row is cut off, and a header cut short by a kill before any row is emptied:
    // the file then starts again
    fl_csv t;
    fl_csv_repair torn;
    if (fl_results_repair_torn(csv, &t, &torn, err)) return -1;
    if (!t.header) return 0;
    int key_col = fl_csv_col(&t, "cell_key");
    // per key: has a final row? (value: 1 final, 2 final and to be retried)
    sw_table keys = {0};
    for (long r = 0; r < t.n_rows; r++) {
        long* v = sw_table_slot(&keys, fl_csv_get(&t, r, key_col), NULL);
        if (sw_row_is_final(&t, r)) *v = want_retry(fl_csv_field(&t, r, "status"), retry_failed) ? 2 : 1;
    }
    long drop_rows = 0, partial = 0, retried = 0;
    for (long i = 0; i < keys.cap; i++) {
        if (!keys.keys[i]) continue;
        partial += keys.vals[i] == 0;
        retried += keys.vals[i] == 2;
    }
    unsigned char* keep = fl_malloc((size_t)(t.n_rows ? t.n_rows : 1));
    for (long r = 0; r < t.n_rows; r++) {
        keep[r] = sw_table_get(&keys, fl_csv_get(&t, r, key_col)) == 1;
        drop_rows += !keep[r];
    }
    // without them: a new file, fsync'd, renamed over the old one
    int rc = drop_rows ? fl_csv_rewrite(&t, keep, err) : 0;
    free(keep);
    if (rc) {
        fl_csv_free(&t);
        sw_table_free(&keys);
        return -1;
    }
    if (partial || torn.dropped)
        fprintf(stderr, "flbench sweep: %s: removed %s%ld rows of %ld unfinished cell%s (left by a killed sweep); they run again\n",
                csv, torn.dropped ? "a torn last line and " : "", drop_rows, partial, partial == 1 ? "" : "s");
    if (retried)
        fprintf(stderr, "flbench sweep: %s: removed the rows of %ld failed cell%s (--retry-failed)\n", csv, retried,
                retried == 1 ? "" : "s");
    st->rows = t.n_rows - drop_rows;
    for (long i = 0; i < keys.cap; i++)
        if (keys.keys[i] && keys.vals[i] == 1) *sw_table_slot(&st->finished, keys.keys[i], NULL) = 1;
    sw_table_free(&keys);
    fl_csv_free(&t);
    // finished cells this configuration does not have (an edited configuration, or rows of
    // another sweep in the same file)
    sw_table mine = {0};
    for (long i = 0; i < n_cells; i++) *sw_table_slot(&mine, cells[i].key, NULL) = 1;
    for (long i = 0; i < st->finished.cap; i++)
        if (st->finished.keys[i] && sw_table_get(&mine, st->finished.keys[i]) < 0) st->foreign_cells++;
    sw_table_free(&mine);
    return 0;
}

void sw_read_finished(const char* csv, sw_state* st) {
    memset(st, 0, sizeof *st);
    fl_csv t;
    fl_err err = {{0}};
    if (fl_csv_read(csv, &t, &err)) return;
    for (long r = 0; r < t.n_rows; r++)
        if (sw_row_is_final(&t, r)) *sw_table_slot(&st->finished, fl_csv_field(&t, r, "cell_key"), NULL) = 1;
    fl_csv_free(&t);
}
