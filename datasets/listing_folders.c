// listing_folders.c: the class-folder datasets, EuroSAT (2750/ | EuroSAT_RGB/ | EuroSAT/2750/)
// and Caltech101 ([caltech-101/]101_ObjectCategories/, BACKGROUND_Google excluded): one folder
// of images per class, split by a CoOp file when present (listing_coop.c), else by the seeded
// 50/20/30 split of internal.h.
#include "internal.h"
#include <math.h>
#include <string.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

int fl_detect_class_folders(fl_layout* L, const char* root, const fl_dataset_opts* o, fl_err* err) {
    int euro = L->name[0] == 'e';
    static const char* const euro_dirs[] = {"2750", "EuroSAT_RGB", "EuroSAT/2750", "eurosat/2750", NULL};
    static const char* const cal_dirs[] = {"101_ObjectCategories", "caltech-101/101_ObjectCategories",
                                           "caltech101/101_ObjectCategories", NULL};
    if (!fl_first_dir(root, euro ? euro_dirs : cal_dirs, L->image_dir, sizeof L->image_dir))
        return fl_missing(L, err, euro ? "expected 2750/ (or EuroSAT_RGB/) with one folder per class"
                                       : "expected 101_ObjectCategories/ with one folder per class");
    fl_find_coop(L, o);
    if (L->coop_json[0]) {
        snprintf(L->tag, sizeof L->tag, "coop");
        snprintf(L->format, sizeof L->format, "%s class folders + CoOp split %s",
                 euro ? "EuroSAT RGB" : "101_ObjectCategories", strrchr(L->coop_json, '/') + 1);
    } else {
        snprintf(L->tag, sizeof L->tag, "seeded");
        snprintf(L->format, sizeof L->format, "%s class folders, seeded 50/20/30 split (no CoOp file)",
                 euro ? "EuroSAT RGB" : "101_ObjectCategories");
    }
    return 0;
}

// Python's round(): half to even (nearbyint in the default rounding mode).
static int64_t fl_round_even(double x) { return (int64_t)nearbyint(x); }

int fl_list_class_folders(fl_listing* L, const char* const* ignored, fl_err* err) {
    char** classes;
    int64_t nc;
    if (fl_list_dir(L->layout.image_dir, 1, &classes, &nc, err)) return -1;
    L->class_names = (char**)fl_malloc(sizeof(char*) * (size_t)(nc ? nc : 1));
    int k = 0;
    for (int64_t c = 0; c < nc; c++) {
        int skip = 0;
        for (int i = 0; ignored && ignored[i]; i++) skip |= !strcmp(classes[c], ignored[i]);
        if (skip) continue;
        char dir[1400];
        snprintf(dir, sizeof dir, "%s/%s", L->layout.image_dir, classes[c]);
        char** files;
        int64_t nf;
        if (fl_list_dir(dir, 0, &files, &nf, err)) {
            fl_free_names(classes, nc);
            return -1;
        }
        // The seeded 50/20/30 split of this class (internal.h).
        int64_t* order = (int64_t*)fl_malloc(sizeof(int64_t) * (size_t)(nf ? nf : 1));
        for (int64_t i = 0; i < nf; i++) order[i] = i;
        fl_shuffle_i64(order, nf, FL_SPLIT_SEED, FL_STREAM_SPLIT, (uint32_t)k);
        int64_t n_tr = fl_round_even((double)nf * 0.5), n_va = fl_round_even((double)nf * 0.2);
        if (n_tr + n_va > nf) n_va = nf - n_tr;
        // Each part listed in file-name order.
        char* in_part = (char*)fl_calloc((size_t)(nf ? nf : 1), 1);
        for (int64_t i = 0; i < nf; i++) in_part[order[i]] = i < n_tr ? 0 : i < n_tr + n_va ? 1 : 2;
        for (int64_t i = 0; i < nf; i++) {
            char rel[1200];
            snprintf(rel, sizeof rel, "%s/%s", classes[c], files[i]);
            fl_items_push(in_part[i] == 0 ? &L->train : in_part[i] == 1 ? &L->val : &L->test, rel, k, -1);
        }
        free(in_part);
        free(order);
        fl_free_names(files, nf);
        L->class_names[k++] = fl_strdup(classes[c]);
    }
    fl_free_names(classes, nc);
    L->n_classes = k;
    if (k == 0) return fl_fail(err, "%s: no class folders", L->layout.image_dir);
    return 0;
}
