// sweep_results.c: what sweep, merge and report share about results files: which row ends a
// cell, a string table for grouping rows by cell key, the atomic block appender, and the
// small file helpers.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "sweep.h"
#include "run/schema.h"
#include "run/schema_upgrade.h"

char* sw_strdup(const char* s) {
    size_t n = strlen(s) + 1;
    char* d = fl_malloc(n);
    memcpy(d, s, n);
    return d;
}

int sw_file_exists(const char* path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int sw_row_is_final(const fl_csv* t, long r) {
    const char* status = fl_csv_field(t, r, "status");
    if (strcmp(status, "ok") != 0) return 1;
    long epoch = strtol(fl_csv_field(t, r, "epoch"), NULL, 10);
    long epochs = strtol(fl_csv_field(t, r, "epochs"), NULL, 10);
    if (epoch >= epochs) return 1;
    char ms[32];
    fl_config_option(fl_csv_field(t, r, "config"), "max-steps", ms, sizeof ms);
    long max_steps = ms[0] ? strtol(ms, NULL, 10) : -1;
    long steps = strtol(fl_csv_field(t, r, "steps"), NULL, 10);
    return max_steps > 0 && steps >= max_steps;
}

// ---------------------------------------------------------------------------------------
// string table

long* sw_table_slot(sw_table* t, const char* key, int* created) {
    if (2 * (t->n + 1) > t->cap) {
        long cap = t->cap ? 2 * t->cap : 256;
        char** keys = fl_calloc((size_t)cap, sizeof(char*));
        long* vals = fl_calloc((size_t)cap, sizeof(long));
        for (long i = 0; i < t->cap; i++) {
            if (!t->keys[i]) continue;
            uint64_t h = fl_fnv1a_str(SW_FNV_INIT, t->keys[i]) % (uint64_t)cap;
            while (keys[h]) h = (h + 1) % (uint64_t)cap;
            keys[h] = t->keys[i];
            vals[h] = t->vals[i];
        }
        free(t->keys);
        free(t->vals);
        t->keys = keys;
        t->vals = vals;
        t->cap = cap;
    }
    uint64_t h = fl_fnv1a_str(SW_FNV_INIT, key) % (uint64_t)t->cap;
    while (t->keys[h]) {
        if (!strcmp(t->keys[h], key)) {
            if (created) *created = 0;
            return &t->vals[h];
        }
        h = (h + 1) % (uint64_t)t->cap;
    }
    t->keys[h] = sw_strdup(key);
    t->vals[h] = 0;
    t->n++;
    if (created) *created = 1;
    return &t->vals[h];
}

long sw_table_get(const sw_table* t, const char* key) {
    if (!t->cap) return -1;
    uint64_t h = fl_fnv1a_str(SW_FNV_INIT, key) % (uint64_t)t->cap;
    while (t->keys[h]) {
        if (!strcmp(t->keys[h], key)) return t->vals[h];
        h = (h + 1) % (uint64_t)t->cap;
    }
    return -1;
}

void sw_table_free(sw_table* t) {
    for (long i = 0; i < t->cap; i++) free(t->keys[i]);
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

// ---------------------------------------------------------------------------------------
// appending

int sw_append_block(const char* path, const char* header_line, const char* block, size_t len, fl_err* err) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return fl_fail(err, "%s: cannot open for appending: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        return fl_fail(err, "%s: cannot lock: %s", path, strerror(errno));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = fl_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    char* buf = NULL;
    size_t n = 0;
    if (!rc) {
        // header (when the file is new) and rows go out in one write
        size_t hl = st.st_size == 0 ? strlen(header_line) + 1 : 0;
        buf = fl_malloc(hl + len + 1);
        if (hl) {
            memcpy(buf, header_line, hl - 1);
            buf[hl - 1] = '\n';
        }
        memcpy(buf + hl, block, len);
        n = hl + len;
        if (fl_write_all(fd, buf, n)) rc = fl_fail(err, "%s: write failed: %s", path, strerror(errno));
        else if (fsync(fd) != 0) rc = fl_fail(err, "%s: fsync failed: %s", path, strerror(errno));
    }
    free(buf);
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}
