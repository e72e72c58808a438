// listing_food101.c: Food-101, [food-101/]images/<class>/<id>.jpg with the official split of
// meta/{classes,train,test}.txt (a CoOp file, when present, is read by listing_coop.c).
#include "internal.h"
#include <string.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

int fl_detect_food101(fl_layout* L, const char* root, const fl_dataset_opts* o, fl_err* err) {
    char p[1300];
    static const char* const dirs[] = {"", "food-101", NULL};
    char base[1200];
    int found = 0;
    for (int i = 0; dirs[i] && !found; i++) {
        snprintf(base, sizeof base, dirs[i][0] ? "%s/%s" : "%s%s", root, dirs[i]);
        snprintf(p, sizeof p, "%s/images", base);
        if (fl_is_dir(p)) found = 1;
    }
    if (!found) return fl_missing(L, err, "expected images/ and meta/ of food-101");
    snprintf(L->image_dir, sizeof L->image_dir, "%s/images", base);
    fl_find_coop(L, o);
    if (L->coop_json[0]) {
        snprintf(L->tag, sizeof L->tag, "coop");
        snprintf(L->format, sizeof L->format, "food-101 images/ + CoOp split %s", strrchr(L->coop_json, '/') + 1);
    } else {
        snprintf(p, sizeof p, "%s/meta/train.txt", base);
        if (!fl_is_file(p)) return fl_missing(L, err, "expected meta/train.txt and meta/test.txt");
        snprintf(L->format, sizeof L->format, "food-101 images/ + meta/train.txt, meta/test.txt");
    }
    return 0;
}

int fl_read_food_meta(fl_listing* L, fl_err* err) {
    char base[1200], p[1300];
    snprintf(base, sizeof base, "%s/..", L->layout.image_dir);
    // Classes: meta/classes.txt, else the sorted image folders.
    snprintf(p, sizeof p, "%s/meta/classes.txt", base);
    FILE* f = fopen(p, "r");
    char line[1024];
    if (f) {
        int cap = 0;
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0]) continue;
            if (L->n_classes == cap) {
                cap = cap ? 2 * cap : 128;
                L->class_names = (char**)fl_realloc(L->class_names, sizeof(char*) * (size_t)cap);
            }
            L->class_names[L->n_classes++] = fl_strdup(line);
        }
        fclose(f);
    } else {
        char** names;
        int64_t n;
        if (fl_list_dir(L->layout.image_dir, 1, &names, &n, err)) return -1;
        L->class_names = names;
        L->n_classes = (int)n;
    }
    const char* parts[2] = {"train", "test"};
    fl_items* dst[2] = {&L->train, &L->test};
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/meta/%s.txt", base, parts[s]);
        f = fopen(p, "r");
        if (!f) return fl_fail(err, "%s: cannot open: %m", p);
        long ln = 0;
        while (fgets(line, sizeof line, f)) {
            ln++;
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0]) continue;
            char* slash = strchr(line, '/');
            if (!slash) {
                fclose(f);
                return fl_fail(err, "%s: line %ld: expected <class>/<image id>, found '%s'", p, ln, line);
            }
            *slash = 0;
            int y = fl_class_index(L->class_names, L->n_classes, line);
            if (y < 0) {
                fclose(f);
                return fl_fail(err, "%s: line %ld: class '%s' is not in meta/classes.txt", p, ln, line);
            }
            *slash = '/';
            char rel[1100], full[2400];
            snprintf(rel, sizeof rel, "%s.jpg", line);
            snprintf(full, sizeof full, "%s/%s", L->layout.image_dir, rel);
            if (!fl_is_file(full)) {
                fclose(f);
                return fl_fail(err, "%s: line %ld names %s, which does not exist", p, ln, full);
            }
            fl_items_push(dst[s], rel, y, -1);
        }
        fclose(f);
    }
    return 0;
}
