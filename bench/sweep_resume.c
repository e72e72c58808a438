// sweep_resume.c: where a sweep resumes: which cells its CSV already holds finished, after
// repairing the file when a kill left a torn last line or the rows of an unfinished cell, and
// dropping the rows of the cells --retry-failed runs again.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include "sweep.h"

static int want_retry(const char* status, int retry_failed) {
    return retry_failed && (!strcmp(status, "failed") || !strncmp(status, "missing", 7));
}

int sw_load_state(const char* csv, const sw_cell* cells, long n_cells, int retry_failed, sw_state* st,
                  fl_err* err) {
    memset(st, 0, sizeof *st);
    struct stat sb;
    if (stat(csv, &sb) != 0 || sb.st_size == 0) return 0;
    fl_csv t;
    if (fl_csv_read(csv, &t, err)) {
        // a header cut short by a kill before any row: start the file again
        FILE* f = fopen(csv, "r");
        int c, newline = 0;
        while (f && (c = fgetc(f)) != EOF)
            if (c == '\n') newline = 1;
        if (f) fclose(f);
        if (!newline && truncate(csv, 0) == 0) return 0;
        return -1;
    }
    if (fl_csv_check_results_header(&t, err)) {
        fl_csv_free(&t);
        return -1;
    }
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
    for (long r = 0; r < t.n_rows; r++) drop_rows += sw_table_get(&keys, fl_csv_get(&t, r, key_col)) != 1;
    if (drop_rows || t.torn_tail) {
        // rewrite without them: a new file, fsync'd, renamed over the old one
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.repair", csv);
        FILE* in = fopen(csv, "rb");
        FILE* out = fopen(tmp, "wb");
        int rc = 0;
        if (!in || !out) rc = fl_fail(err, "%s: cannot rewrite (to drop partial rows): %s", csv, strerror(errno));
        char* buf = NULL;
        size_t cap = 0;
        long header_end = t.n_rows ? t.offset[0] : 0;
        if (!rc && !t.n_rows) {
            // the header ends at the first newline
            char* line = NULL;
            size_t lc = 0;
            ssize_t hn = getline(&line, &lc, in);
            header_end = hn > 0 ? hn : 0;
            free(line);
        }
        for (long r = -1; !rc && r < t.n_rows; r++) {
            long from = r < 0 ? 0 : t.offset[r], to = r < 0 ? header_end : t.end[r];
            if (r >= 0 && sw_table_get(&keys, fl_csv_get(&t, r, key_col)) != 1) continue;
            size_t len = (size_t)(to - from);
            if (len > cap) buf = fl_realloc(buf, cap = len);
            if (fseek(in, from, SEEK_SET) || fread(buf, 1, len, in) != len || fwrite(buf, 1, len, out) != len)
                rc = fl_fail(err, "%s: cannot copy rows while repairing: %s", csv, strerror(errno));
        }
        free(buf);
        if (in) fclose(in);
        if (out) {
            if (!rc && (fflush(out) || fsync(fileno(out)))) rc = fl_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
            fclose(out);
        }
        if (!rc && rename(tmp, csv)) rc = fl_fail(err, "%s: cannot replace with the repaired file: %s", csv, strerror(errno));
        if (rc) {
            unlink(tmp);
            fl_csv_free(&t);
            sw_table_free(&keys);
            return -1;
        }
        if (partial || t.torn_tail)
            fprintf(stderr, "flbench sweep: %s: removed %s%ld rows of %ld unfinished cell%s (left by a killed sweep); they run again\n",
                    csv, t.torn_tail ? "a torn last line and " : "", drop_rows, partial, partial == 1 ? "" : "s");
        if (retried)
            fprintf(stderr, "flbench sweep: %s: removed the rows of %ld failed cell%s (--retry-failed)\n", csv, retried,
                    retried == 1 ? "" : "s");
    }
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
