// listing.c: finds a dataset's layout on disk and lists its classes and its train / val / test
// items, through the file of that layout. Which split is used, in order of preference:
//   1. a CoOp split file (split_zhou_*.json: {"train"|"val"|"test": [[path, label, classname]]})
//      when present, unless opts->no_coop_split;
//   2. the official split (CIFAR, Fashion-MNIST, Food101 meta/*.txt, Flowers102 setid.mat,
//      ImageNet train/ and val/);
//   3. otherwise (EuroSAT, Caltech101) the seeded split of internal.h (FL_SPLIT_SEED).
// Layouts accepted (under the dataset folder, default <data root>/<name>):
//   fashion-mnist  [FashionMNIST/raw/]*-idx?-ubyte[.gz] (torchvision's layout; falls back to
//                  Debian's /usr/share/datasets/fashion-mnist)
//   cifar10        [cifar-10-batches-bin/]data_batch_{1..5}.bin, test_batch.bin (torchvision's
//                  cifar-10-batches-py/ pickles are named and refused)
//   cifar100       [cifar-100-binary/]train.bin, test.bin (cifar-100-python/ likewise)
//   eurosat        2750/ | EuroSAT_RGB/ | EuroSAT/2750/ class folders of JPEGs
//   caltech101     [caltech-101/]101_ObjectCategories/ class folders, BACKGROUND_Google excluded
//   food101        [food-101/]images/<class>/<id>.jpg, meta/{classes,train,test}.txt
//   flowers102     [flowers-102/]jpg/image_NNNNN.jpg, imagelabels.mat, setid.mat (libmatio);
//                  class names from cat_to_name.json when present
//   imagenet       [images/]train/<wnid>/*, [images/]val/<wnid>/* or val/ flat with
//                  ILSVRC2012_validation_ground_truth.txt + meta.mat (devkit) or
//                  LOC_val_solution.csv; names from classnames.txt, LOC_synset_mapping.txt
//                  or the devkit's meta.mat
// Each layout is found and listed by its own file: listing_array.c (fashion-mnist, CIFAR),
// listing_folders.c (EuroSAT, Caltech101), listing_food101.c, listing_flowers102.c,
// listing_imagenet.c, and listing_coop.c for the CoOp split files. This file holds what they
// share: the dataset names, the dispatch by name (detection, listing), the listing's checks
// and release, and small helpers (text files, class lookup, .mat variables).
#include <matio.h>  // before internal.h, which then declares the .mat helpers
#include "internal.h"
#include <math.h>
#include <string.h>

// Paths are composed with snprintf into fixed buffers of 1-2 KiB; a longer path is cut (and then
// not found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

const char* const fl_dataset_names[] = {"fashion-mnist", "cifar10",  "cifar100",   "eurosat",
                                        "caltech101",    "food101",  "flowers102", "imagenet",
                                        NULL};

// Sets out to the first of base/sub[i] that is a folder; returns 1 if found.
int fl_first_dir(const char* base, const char* const* subs, char* out, size_t len) {
    for (int i = 0; subs[i]; i++) {
        char p[1200];
        if (subs[i][0])
            snprintf(p, sizeof p, "%s/%s", base, subs[i]);
        else
            snprintf(p, sizeof p, "%s", base);
        if (fl_is_dir(p)) {
            snprintf(out, len, "%s", p);
            return 1;
        }
    }
    return 0;
}

int fl_missing(fl_layout* L, fl_err* err, const char* what) {
    snprintf(L->missing, sizeof L->missing, "%s", what);
    return fl_fail(err, "%s: no data under %s (%s); run `flbench data fetch %s` (or "
                        "datasets/fetch.sh %s)",
                   L->name, L->root, what, L->name, L->name);
}

int fl_detect_layout(const char* name, const char* root, const fl_dataset_opts* o,
                     fl_layout* L, fl_err* err) {
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", name);
    snprintf(L->root, sizeof L->root, "%s", root);
    snprintf(L->tag, sizeof L->tag, "official");
    L->channels = 3;
    if (!strcmp(name, "fashion-mnist")) return fl_detect_fashion_mnist(L, root, err);
    if (!strcmp(name, "cifar10") || !strcmp(name, "cifar100")) return fl_detect_cifar(L, root, err);
    if (!strcmp(name, "eurosat") || !strcmp(name, "caltech101")) return fl_detect_class_folders(L, root, o, err);
    if (!strcmp(name, "food101")) return fl_detect_food101(L, root, o, err);
    if (!strcmp(name, "flowers102")) return fl_detect_flowers102(L, root, o, err);
    if (!strcmp(name, "imagenet")) return fl_detect_imagenet(L, root, err);
    return fl_fail(err, "unknown dataset '%s': expected fashion-mnist, cifar10, cifar100, eurosat, "
                        "caltech101, food101, flowers102 or imagenet", name);
}

// --------------------------------------------------------------------------------- helpers

int fl_read_text(const char* path, char** out, fl_err* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return fl_fail(err, "%s: cannot open: %m", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) {
        fclose(f);
        return fl_fail(err, "%s: cannot size the file", path);
    }
    char* s = (char*)fl_malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = 0;
    *out = s;
    return 0;
}

int fl_class_index(char** names, int n, const char* s) {
    for (int k = 0; k < n; k++)
        if (!strcmp(names[k], s)) return k;
    return -1;
}

// ------------------------------------------------------------------------- .mat (libmatio)

// Names of the variables in a .mat file, for error messages.
void fl_mat_varnames(mat_t* mat, char* out, size_t len) {
    out[0] = 0;
    Mat_Rewind(mat);
    matvar_t* v;
    size_t used = 0;
    while ((v = Mat_VarReadNextInfo(mat)) != NULL) {
        if (used + strlen(v->name) + 3 < len) used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", v->name);
        Mat_VarFree(v);
    }
    if (!out[0]) snprintf(out, len, "none");
}

// Element i of a real numeric variable as a double.
double fl_mat_num(const matvar_t* v, size_t i) {
    switch (v->data_type) {
        case MAT_T_DOUBLE: return ((const double*)v->data)[i];
        case MAT_T_SINGLE: return ((const float*)v->data)[i];
        case MAT_T_UINT8: return ((const uint8_t*)v->data)[i];
        case MAT_T_INT8: return ((const int8_t*)v->data)[i];
        case MAT_T_UINT16: return ((const uint16_t*)v->data)[i];
        case MAT_T_INT16: return ((const int16_t*)v->data)[i];
        case MAT_T_UINT32: return ((const uint32_t*)v->data)[i];
        case MAT_T_INT32: return ((const int32_t*)v->data)[i];
        case MAT_T_UINT64: return (double)((const uint64_t*)v->data)[i];
        case MAT_T_INT64: return (double)((const int64_t*)v->data)[i];
        default: return NAN;
    }
}

// ------------------------------------------------------------------------------------ entry

int fl_list_dataset(const fl_layout* layout, const fl_dataset_opts* o, fl_listing* L,
                    fl_err* err) {
    memset(L, 0, sizeof *L);
    L->layout = *layout;
    const char* name = layout->name;
    int rc;
    if (layout->is_array)
        rc = fl_list_array(L, o, err);
    else if (layout->coop_json[0])
        rc = fl_read_coop(L, err);
    else if (!strcmp(name, "eurosat"))
        rc = fl_list_class_folders(L, NULL, err);
    else if (!strcmp(name, "caltech101")) {
        static const char* const ignored[] = {"BACKGROUND_Google", NULL};
        rc = fl_list_class_folders(L, ignored, err);
    } else if (!strcmp(name, "food101"))
        rc = fl_read_food_meta(L, err);
    else if (!strcmp(name, "flowers102"))
        rc = fl_read_flowers_mat(L, err);
    else if (!strcmp(name, "imagenet"))
        rc = fl_list_imagenet(L, err);
    else
        rc = fl_fail(err, "unknown dataset '%s'", name);
    if (!rc && (L->train.n == 0 || L->test.n == 0))
        rc = fl_fail(err, "%s: %s: the %s split is empty", name, layout->format,
                     L->train.n == 0 ? "training" : "test");
    if (rc) {
        fl_listing_free(L);
        return -1;
    }
    return 0;
}

void fl_listing_free(fl_listing* L) {
    if (L->class_names) {
        for (int k = 0; k < L->n_classes; k++) free(L->class_names[k]);
        free(L->class_names);
    }
    fl_items_free(&L->train);
    fl_items_free(&L->val);
    fl_items_free(&L->test);
    fl_images_free(&L->arr_train);
    fl_images_free(&L->arr_test);
    memset(L, 0, sizeof *L);
}
