// manifest.c: a recorded split (which files, with which labels, under which class names),
// written once per (dataset, split source, shots, seed) so every method and backend of a sweep
// trains on the identical images. Text, tab-separated, one record per line:
//
//   # flbench manifest 1
//   dataset  caltech101          split  train        source  <layout description>
//   shots    16                  seed   0            short_classes 0
//   classes  101                 then one "c <label> <name>" line per class
//   items    1616                then one "i <label> <path>" line per item
//   checksum fnv1a64:<16 hex>    over the class names and the (path, label) pairs
//
// (each "key value" pair above is its own line). The checksum lets a cache file say which
// split it holds, and lets a reader detect a damaged manifest.
#include "internal.h"
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

uint64_t fl_manifest_checksum(int n_classes, char* const* class_names, const fl_items* items) {
    uint64_t h = FL_FNV_OFFSET;
    char buf[32];
    for (int k = 0; k < n_classes; k++) {
        const char* name = class_names && class_names[k] ? class_names[k] : "";
        h = fl_fnv1a(h, name, strlen(name));
        h = fl_fnv1a(h, "\n", 1);
    }
    h = fl_fnv1a(h, "--\n", 3);
    for (int64_t i = 0; i < items->n; i++) {
        int len = snprintf(buf, sizeof buf, "%d\t", items->v[i].label);
        h = fl_fnv1a(h, buf, (size_t)len);
        h = fl_fnv1a(h, items->v[i].path, strlen(items->v[i].path));
        h = fl_fnv1a(h, "\n", 1);
    }
    return h;
}

static int fl_has_ctl(const char* s) { return strpbrk(s, "\t\n\r") != NULL; }

int fl_manifest_write(const char* path, const fl_manifest* m, fl_err* err) {
    for (int k = 0; k < m->n_classes; k++)
        if (fl_has_ctl(m->class_names[k]))
            return fl_fail(err, "manifest %s: class %d's name holds a tab or newline", path, k);
    for (int64_t i = 0; i < m->items.n; i++)
        if (fl_has_ctl(m->items.v[i].path))
            return fl_fail(err, "manifest %s: item path '%s' holds a tab or newline", path,
                           m->items.v[i].path);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE* f = fopen(tmp, "w");
    if (!f) return fl_fail(err, "manifest %s: cannot create: %m", tmp);
    fprintf(f, "# flbench manifest 1\n");
    fprintf(f, "dataset\t%s\nsplit\t%s\nsource\t%s\nshots\t%d\nseed\t%" PRIu64 "\n", m->dataset,
            m->split, m->source, m->shots, m->seed);
    fprintf(f, "short_classes\t%d\nclasses\t%d\n", m->short_classes, m->n_classes);
    for (int k = 0; k < m->n_classes; k++) fprintf(f, "c\t%d\t%s\n", k, m->class_names[k]);
    fprintf(f, "items\t%" PRId64 "\n", m->items.n);
    for (int64_t i = 0; i < m->items.n; i++)
        fprintf(f, "i\t%d\t%s\n", m->items.v[i].label, m->items.v[i].path);
    fprintf(f, "checksum\tfnv1a64:%016" PRIx64 "\n", m->checksum);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return fl_fail(err, "manifest %s: write failed: %m", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return fl_fail(err, "manifest %s: cannot rename %s into place: %m", path, tmp);
    }
    return 0;
}

void fl_manifest_free(fl_manifest* m) {
    if (m->class_names) {
        for (int k = 0; k < m->n_classes; k++) free(m->class_names[k]);
        free(m->class_names);
    }
    fl_items_free(&m->items);
    memset(m, 0, sizeof *m);
}

// Splits line (in place) at tabs into at most 3 fields; returns the count.
static int fl_fields(char* line, char** f) {
    int n = 0;
    f[n++] = line;
    for (char* p = line; *p && n < 3; p++)
        if (*p == '\t') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

int fl_manifest_read(const char* path, fl_manifest* m, fl_err* err) {
    memset(m, 0, sizeof *m);
    FILE* fp = fopen(path, "r");
    if (!fp) return fl_fail(err, "manifest %s: cannot open: %m", path);
    char* line = NULL;
    size_t cap = 0;
    ssize_t len;
    long ln = 0;
    int64_t want_items = -1;
    int have_checksum = 0, classes_seen = 0;
    uint64_t recorded = 0;
    const char* why = NULL;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        ln++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (ln == 1) {
            if (strcmp(line, "# flbench manifest 1") != 0) { why = "not a flbench manifest (version 1)"; break; }
            continue;
        }
        if (have_checksum) { why = "data after the checksum line"; break; }
        char* f[3];
        int nf = fl_fields(line, f);
        if (nf == 2 && strcmp(f[0], "dataset") == 0) snprintf(m->dataset, sizeof m->dataset, "%s", f[1]);
        else if (nf == 2 && strcmp(f[0], "split") == 0) snprintf(m->split, sizeof m->split, "%s", f[1]);
        else if (nf >= 2 && strcmp(f[0], "source") == 0) snprintf(m->source, sizeof m->source, "%s", f[1]);
        else if (nf == 2 && strcmp(f[0], "shots") == 0) m->shots = atoi(f[1]);
        else if (nf == 2 && strcmp(f[0], "seed") == 0) m->seed = strtoull(f[1], NULL, 10);
        else if (nf == 2 && strcmp(f[0], "short_classes") == 0) m->short_classes = atoi(f[1]);
        else if (nf == 2 && strcmp(f[0], "classes") == 0) {
            // n_classes is the length of class_names (fl_manifest_free): set only with the array.
            if (m->class_names) { why = "duplicate classes line"; break; }
            int k = atoi(f[1]);
            if (k <= 0 || k > 100000) { why = "bad class count"; break; }
            m->n_classes = k;
            m->class_names = (char**)fl_calloc((size_t)m->n_classes, sizeof(char*));
        } else if (nf == 3 && strcmp(f[0], "c") == 0) {
            int k = atoi(f[1]);
            if (!m->class_names || k != classes_seen || k >= m->n_classes) { why = "class lines out of order"; break; }
            m->class_names[k] = fl_strdup(f[2]);
            classes_seen++;
        } else if (nf == 2 && strcmp(f[0], "items") == 0) {
            want_items = strtoll(f[1], NULL, 10);
            if (want_items < 0 || classes_seen != m->n_classes) { why = "bad item count or missing class lines"; break; }
        } else if (nf == 3 && strcmp(f[0], "i") == 0) {
            char* end;
            long y = strtol(f[1], &end, 10);
            if (want_items < 0 || *end || y < 0 || y >= m->n_classes) { why = "item label out of range"; break; }
            fl_items_push(&m->items, f[2], (int32_t)y, -1);
        } else if (nf == 2 && strcmp(f[0], "checksum") == 0 && strncmp(f[1], "fnv1a64:", 8) == 0) {
            recorded = strtoull(f[1] + 8, NULL, 16);
            have_checksum = 1;
        } else {
            why = "unrecognised line";
            break;
        }
    }
    free(line);
    fclose(fp);
    if (!why && !have_checksum) why = "no checksum line (the file is truncated)";
    if (!why && m->items.n != want_items) why = "item count differs from the 'items' line";
    if (why) {
        fl_manifest_free(m);
        return fl_fail(err, "manifest %s: line %ld: %s; delete the file to draw the split again",
                       path, ln, why);
    }
    m->checksum = fl_manifest_checksum(m->n_classes, m->class_names, &m->items);
    if (m->checksum != recorded) {
        uint64_t found = m->checksum;
        fl_manifest_free(m);
        return fl_fail(err, "manifest %s: checksum mismatch: recorded %016" PRIx64 ", content gives "
                            "%016" PRIx64 " (edited or damaged); delete it to draw the split again",
                       path, recorded, found);
    }
    return 0;
}

void fl_manifest_from_listing(const fl_listing* L, int test, int shots, uint64_t seed,
                              fl_manifest* m) {
    memset(m, 0, sizeof *m);
    snprintf(m->dataset, sizeof m->dataset, "%s", L->layout.name);
    snprintf(m->split, sizeof m->split, "%s", test ? "test" : "train");
    snprintf(m->source, sizeof m->source, "%s", L->layout.format);
    m->shots = test ? 0 : shots;
    m->seed = test ? 0 : seed;
    m->n_classes = L->n_classes;
    m->class_names = (char**)fl_malloc(sizeof(char*) * (size_t)(L->n_classes ? L->n_classes : 1));
    for (int k = 0; k < L->n_classes; k++) m->class_names[k] = fl_strdup(L->class_names[k]);
    const fl_items* src = test ? &L->test : &L->train;
    if (!test) {
        int32_t* labels = (int32_t*)fl_malloc(sizeof(int32_t) * (size_t)(src->n ? src->n : 1));
        for (int64_t i = 0; i < src->n; i++) labels[i] = src->v[i].label;
        int64_t nk;
        int64_t* pick = fl_kshot_from_labels(labels, src->n, L->n_classes, shots, seed, &nk,
                                             &m->short_classes);
        for (int64_t i = 0; i < nk; i++)
            fl_items_push(&m->items, src->v[pick[i]].path, src->v[pick[i]].label, -1);
        free(pick);
        free(labels);
    } else {
        for (int64_t i = 0; i < src->n; i++) fl_items_push(&m->items, src->v[i].path, src->v[i].label, -1);
    }
    m->checksum = fl_manifest_checksum(m->n_classes, m->class_names, &m->items);
}
