// csvrewrite.c: the torn-tail repair and the row-dropping rewrite of results CSVs
// (csvrewrite.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "csvrewrite.h"
#include "schema.h"

// Whether the size bytes of fd are the start of the results header (without its newline).
static int header_start(int fd, off_t size) {
    char* header = fl_schema_header();
    size_t hl = strlen(header);
    int yes = 0;
    if (size > 0 && (size_t)size <= hl) {
        char* buf = fl_malloc((size_t)size);
        yes = pread(fd, buf, (size_t)size, 0) == (ssize_t)size && !memcmp(buf, header, (size_t)size);
        free(buf);
    }
    free(header);
    return yes;
}

int fl_results_repair_torn(const char* path, fl_csv* t, fl_csv_repair* r, fl_err* err) {
    memset(t, 0, sizeof *t);
    memset(r, 0, sizeof *r);
    int fd = open(path, O_RDWR);
    if (fd < 0) return errno == ENOENT ? 0 : fl_fail(err, "%s: cannot open for appending: %s", path, strerror(errno));
    int rc = 0;
    struct stat st;
    if (flock(fd, LOCK_EX) != 0) {
        rc = fl_fail(err, "%s: cannot lock: %s", path, strerror(errno));
    } else if (fstat(fd, &st) != 0) {
        rc = fl_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    } else if (st.st_size == 0) {
        // nothing yet: the next append writes the header
    } else if (fl_csv_read(path, t, err)) {
        if (!header_start(fd, st.st_size)) {
            rc = -1;  // the reader's error
        } else if (ftruncate(fd, 0) != 0 || fsync(fd) != 0) {
            rc = fl_fail(err, "%s: cannot empty the header cut short: %s", path, strerror(errno));
        } else {
            r->emptied = 1;
            r->bytes = (long)st.st_size;
        }
    } else if (fl_csv_check_results_header(t, err)) {
        // a results file of an older schema: say how to bring it to this one
        if (t->n_cols >= 2 && !strcmp(t->header[0], "schema") && !strcmp(t->header[1], "cell_key")) {
            char first[512];
            size_t n = strnlen(err->msg, sizeof first - 1);
            memcpy(first, err->msg, n);
            first[n] = 0;
            fl_fail(err, "%.400s (an older schema: `flbench merge NEW.csv %.400s` writes it in this one, results/SCHEMA.md)", first, path);
        }
        fl_csv_free(t);
        rc = -1;
    } else if (t->torn_tail) {
        if (ftruncate(fd, t->torn_offset) != 0 || fsync(fd) != 0) {
            rc = fl_fail(err, "%s:%ld: cannot cut off the incomplete last row: %s", path, t->torn_line, strerror(errno));
            fl_csv_free(t);
        } else {
            r->dropped = 1;
            r->line = t->torn_line;
            r->bytes = t->size - t->torn_offset;
            t->size = t->torn_offset;
            t->torn_tail = 0;
        }
    }
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}

int fl_results_prepare_append(const char* path, fl_err* err) {
    int rc = 0;
    fl_err e = {{0}};
    fl_csv t;
    fl_csv_repair r;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {  // a new file: it can be written; the first row creates it again
        close(fd);
        unlink(path);
    } else if (errno != EEXIST) {
        rc = fl_fail(&e, "%s: cannot create: %s", path, strerror(errno));
    } else if (fl_results_repair_torn(path, &t, &r, &e) == 0) {
        if (r.dropped)
            fprintf(stderr, "flbench: --out %s:%ld: dropped an incomplete last row (%ld bytes, cut short by a killed writer)\n",
                    path, r.line, r.bytes);
        if (r.emptied)
            fprintf(stderr, "flbench: --out %s: dropped a header cut short by a killed writer (%ld bytes); it is written again\n",
                    path, r.bytes);
        fl_csv_free(&t);
    } else {
        rc = -1;
    }
    if (rc) fl_fail(err, "--out %s", e.msg);
    return rc;
}

int fl_csv_rewrite(const fl_csv* t, const unsigned char* keep, fl_err* err) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.repair", t->path);
    FILE* in = fopen(t->path, "rb");
    FILE* out = fopen(tmp, "wb");
    int rc = 0;
    if (!in || !out) rc = fl_fail(err, "%s: cannot rewrite (to drop rows): %s", t->path, strerror(errno));
    long header_end = t->n_rows ? t->offset[0] : 0;
    if (!rc && !t->n_rows) {  // the header ends at the first newline
        char* line = NULL;
        size_t lc = 0;
        ssize_t hn = getline(&line, &lc, in);
        header_end = hn > 0 ? hn : 0;
        free(line);
    }
    char* buf = NULL;
    size_t cap = 0;
    for (long r = -1; !rc && r < t->n_rows; r++) {
        if (r >= 0 && keep && !keep[r]) continue;
        long from = r < 0 ? 0 : t->offset[r], to = r < 0 ? header_end : t->end[r];
        size_t len = (size_t)(to - from);
        if (len > cap) buf = fl_realloc(buf, cap = len);
        if (fseek(in, from, SEEK_SET) || fread(buf, 1, len, in) != len || fwrite(buf, 1, len, out) != len)
            rc = fl_fail(err, "%s: cannot copy rows while rewriting: %s", t->path, strerror(errno));
    }
    free(buf);
    if (in) fclose(in);
    if (out) {
        if (!rc && (fflush(out) || fsync(fileno(out)))) rc = fl_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
        if (fclose(out) != 0 && !rc) rc = fl_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
    }
    if (!rc && rename(tmp, t->path)) rc = fl_fail(err, "%s: cannot replace with the rewritten file: %s", t->path, strerror(errno));
    if (rc) unlink(tmp);
    return rc;
}
