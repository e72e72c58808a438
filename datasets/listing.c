// listing.c: finds each dataset's official layout on disk and lists its classes and its
// train / val / test items. Which split is used, in order of preference:
//   1. a CoOp split file (split_zhou_*.json: {"train"|"val"|"test": [[path, label, classname]]})
//      when present, unless opts->no_coop_split;
//   2. the official split (CIFAR, Fashion-MNIST, Food101 meta/*.txt, Flowers102 setid.mat,
//      ImageNet train/ and val/);
//   3. otherwise (EuroSAT, Caltech101) the seeded split of internal.h (FL_SPLIT_SEED).
// Layouts accepted (under the dataset folder, default <data root>/<name>):
//   fashion-mnist  *-idx?-ubyte[.gz] (falls back to Debian's /usr/share/datasets/fashion-mnist)
//   cifar10        [cifar-10-batches-bin/]data_batch_{1..5}.bin, test_batch.bin
//   cifar100       [cifar-100-binary/]train.bin, test.bin
//   eurosat        2750/ | EuroSAT_RGB/ | EuroSAT/2750/ class folders of JPEGs
//   caltech101     [caltech-101/]101_ObjectCategories/ class folders, BACKGROUND_Google excluded
//   food101        [food-101/]images/<class>/<id>.jpg, meta/{classes,train,test}.txt
//   flowers102     [flowers-102/]jpg/image_NNNNN.jpg, imagelabels.mat, setid.mat (libmatio);
//                  class names from cat_to_name.json when present
//   imagenet       [images/]train/<wnid>/*, [images/]val/<wnid>/* or val/ flat with
//                  ILSVRC2012_validation_ground_truth.txt + meta.mat (devkit) or
//                  LOC_val_solution.csv; names from classnames.txt, LOC_synset_mapping.txt
//                  or the devkit's meta.mat
#include "internal.h"
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <matio.h>

// Paths are composed with snprintf into fixed buffers of 1-2 KiB; a longer path is cut (and then
// not found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

const char* const fl_dataset_names[] = {"fashion-mnist", "cifar10",  "cifar100",   "eurosat",
                                        "caltech101",    "food101",  "flowers102", "imagenet",
                                        NULL};

static const char* fl_coop_file(const char* name) {
    if (!strcmp(name, "eurosat")) return "split_zhou_EuroSAT.json";
    if (!strcmp(name, "caltech101")) return "split_zhou_Caltech101.json";
    if (!strcmp(name, "food101")) return "split_zhou_Food101.json";
    if (!strcmp(name, "flowers102")) return "split_zhou_OxfordFlowers.json";
    return NULL;
}

// Sets out to the first of base/sub[i] that is a folder; returns 1 if found.
static int fl_first_dir(const char* base, const char* const* subs, char* out, size_t len) {
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

static int fl_missing(fl_layout* L, fl_err* err, const char* what) {
    snprintf(L->missing, sizeof L->missing, "%s", what);
    return fl_fail(err, "%s: no data under %s (%s); run `flbench data fetch %s` (or "
                        "datasets/fetch.sh %s)",
                   L->name, L->root, what, L->name, L->name);
}

// Looks for the CoOp file in the root and next to the image folder.
static void fl_find_coop(fl_layout* L, const fl_dataset_opts* o) {
    const char* f = fl_coop_file(L->name);
    L->coop_json[0] = 0;
    if (!f || (o && o->no_coop_split)) return;
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", L->root, f);
    if (fl_is_file(p)) {
        snprintf(L->coop_json, sizeof L->coop_json, "%s", p);
        return;
    }
    snprintf(p, sizeof p, "%s/../%s", L->image_dir, f);
    if (fl_is_file(p)) snprintf(L->coop_json, sizeof L->coop_json, "%s", p);
}

int fl_detect_layout(const char* name, const char* root, const fl_dataset_opts* o,
                     fl_layout* L, fl_err* err) {
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", name);
    snprintf(L->root, sizeof L->root, "%s", root);
    snprintf(L->tag, sizeof L->tag, "official");
    L->channels = 3;
    char p[1300];
    if (!strcmp(name, "fashion-mnist")) {
        L->is_array = 1;
        L->channels = 1;
        L->native_size = 28;
        snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", root);
        char q[1300];
        snprintf(q, sizeof q, "%s/t10k-images-idx3-ubyte", root);
        if (!fl_is_file(p) && !fl_is_file(q)) {
            snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", FL_FASHION_MNIST_DIR);
            if (!fl_is_file(p))
                return fl_missing(L, err, "expected train-images-idx3-ubyte.gz and the other IDX "
                                          "files, or Debian's dataset-fashion-mnist");
            snprintf(L->root, sizeof L->root, "%s", FL_FASHION_MNIST_DIR);
        }
        snprintf(L->format, sizeof L->format, "IDX (gzip) in %s", L->root);
        return 0;
    }
    if (!strcmp(name, "cifar10") || !strcmp(name, "cifar100")) {
        int hundred = !strcmp(name, "cifar100");
        L->is_array = 1;
        L->native_size = 32;
        const char* sub = hundred ? "cifar-100-binary" : "cifar-10-batches-bin";
        const char* probe = hundred ? "test.bin" : "test_batch.bin";
        snprintf(p, sizeof p, "%s/%s/%s", root, sub, probe);
        char q[1300];
        snprintf(q, sizeof q, "%s/%s", root, probe);
        if (!fl_is_file(p) && !fl_is_file(q))
            return fl_missing(L, err, hundred ? "expected cifar-100-binary/train.bin, test.bin"
                                              : "expected cifar-10-batches-bin/data_batch_1.bin .. "
                                                "test_batch.bin");
        snprintf(L->format, sizeof L->format, "CIFAR-%s binary version", hundred ? "100" : "10");
        return 0;
    }
    if (!strcmp(name, "eurosat") || !strcmp(name, "caltech101")) {
        int euro = name[0] == 'e';
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
    if (!strcmp(name, "food101")) {
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
    if (!strcmp(name, "flowers102")) {
        static const char* const dirs[] = {"jpg", "flowers-102/jpg", "oxford_flowers/jpg", NULL};
        if (!fl_first_dir(root, dirs, L->image_dir, sizeof L->image_dir))
            return fl_missing(L, err, "expected jpg/, imagelabels.mat and setid.mat");
        fl_find_coop(L, o);
        if (L->coop_json[0]) {
            snprintf(L->tag, sizeof L->tag, "coop");
            snprintf(L->format, sizeof L->format, "102flowers jpg/ + CoOp split %s", strrchr(L->coop_json, '/') + 1);
        } else {
            snprintf(p, sizeof p, "%s/../imagelabels.mat", L->image_dir);
            char q[1300];
            snprintf(q, sizeof q, "%s/../setid.mat", L->image_dir);
            if (!fl_is_file(p) || !fl_is_file(q))
                return fl_missing(L, err, "expected imagelabels.mat and setid.mat next to jpg/");
            snprintf(L->format, sizeof L->format, "102flowers jpg/ + imagelabels.mat, setid.mat "
                                                  "(train = trnid + valid, test = tstid)");
        }
        return 0;
    }
    if (!strcmp(name, "imagenet")) {
        static const char* const dirs[] = {"train", "images/train", NULL};
        char train[1200];
        if (!fl_first_dir(root, dirs, train, sizeof train))
            return fl_missing(L, err, "expected train/ with one folder per class (n01440764, ...) and val/");
        // image_dir is the folder holding train/ and val/.
        snprintf(L->image_dir, sizeof L->image_dir, "%.*s", (int)(strlen(train) - 6), train);
        snprintf(p, sizeof p, "%s/val", L->image_dir);
        if (!fl_is_dir(p)) return fl_missing(L, err, "expected val/ next to train/");
        // val/ layout from its first entry: a folder means class folders, else flat.
        int class_folders = 0;
        DIR* d = opendir(p);
        struct dirent* e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char q[1600];
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            class_folders = fl_is_dir(q);
            break;
        }
        if (d) closedir(d);
        if (class_folders) {
            snprintf(L->format, sizeof L->format, "ILSVRC2012 train/ + val/ class folders");
        } else {
            char gt[1600];
            snprintf(gt, sizeof gt, "%s/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", L->image_dir);
            char gt2[1600];
            snprintf(gt2, sizeof gt2, "%s/ILSVRC2012_validation_ground_truth.txt", L->image_dir);
            if (fl_is_file(gt) || fl_is_file(gt2))
                snprintf(L->format, sizeof L->format, "ILSVRC2012 train/ + flat val/ with the devkit ground truth");
            else
                snprintf(L->format, sizeof L->format, "ILSVRC2012 train/ + flat val/ with LOC_val_solution.csv");
        }
        return 0;
    }
    return fl_fail(err, "unknown dataset '%s': expected fashion-mnist, cifar10, cifar100, eurosat, "
                        "caltech101, food101, flowers102 or imagenet", name);
}

// ------------------------------------------------------------------------------- CoOp JSON

static int fl_read_text(const char* path, char** out, fl_err* err) {
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

static int fl_read_coop(fl_listing* L, fl_err* err) {
    const char* path = L->layout.coop_json;
    char* text;
    if (fl_read_text(path, &text, err)) return -1;
    cJSON* root = cJSON_Parse(text);
    if (!root) {
        const char* at = cJSON_GetErrorPtr();
        long off = at ? (long)(at - text) : -1;
        free(text);
        return fl_fail(err, "split file %s: invalid JSON near byte %ld", path, off);
    }
    free(text);
    const char* parts[3] = {"train", "val", "test"};
    fl_items* dst[3] = {&L->train, &L->val, &L->test};
    int cap = 0;
    char** names = NULL;
    int n_classes = 0;
    int rc = 0;
    for (int s = 0; s < 3 && !rc; s++) {
        cJSON* arr = cJSON_GetObjectItemCaseSensitive(root, parts[s]);
        if (!cJSON_IsArray(arr)) {
            rc = fl_fail(err, "split file %s: \"%s\" missing or not a list", path, parts[s]);
            break;
        }
        int i = 0;
        cJSON* e;
        cJSON_ArrayForEach(e, arr) {
            cJSON* a = cJSON_GetArrayItem(e, 0);
            cJSON* b = cJSON_GetArrayItem(e, 1);
            cJSON* c = cJSON_GetArrayItem(e, 2);
            if (!cJSON_IsArray(e) || !cJSON_IsString(a) || !cJSON_IsNumber(b) || !cJSON_IsString(c) ||
                b->valueint < 0 || b->valueint > 100000) {
                rc = fl_fail(err, "split file %s: %s[%d]: expected [path, label >= 0, classname]",
                             path, parts[s], i);
                break;
            }
            int y = b->valueint;
            if (y >= cap) {
                int nc = y + 64;
                names = (char**)fl_realloc(names, sizeof(char*) * (size_t)nc);
                for (int k = cap; k < nc; k++) names[k] = NULL;
                cap = nc;
            }
            if (!names[y])
                names[y] = fl_strdup(c->valuestring);
            else if (strcmp(names[y], c->valuestring) != 0) {
                rc = fl_fail(err, "split file %s: %s[%d]: label %d is '%s' here but '%s' before",
                             path, parts[s], i, y, c->valuestring, names[y]);
                break;
            }
            if (y + 1 > n_classes) n_classes = y + 1;
            char full[2400];
            snprintf(full, sizeof full, "%s/%s", L->layout.image_dir, a->valuestring);
            if (strstr(a->valuestring, "..") || !fl_is_file(full)) {
                rc = fl_fail(err, "split file %s: %s[%d] names %s, which does not exist", path,
                             parts[s], i, full);
                break;
            }
            fl_items_push(dst[s], a->valuestring, y, -1);
            i++;
        }
    }
    cJSON_Delete(root);
    if (!rc)
        for (int k = 0; k < n_classes; k++)
            if (!names[k]) {
                rc = fl_fail(err, "split file %s: label %d never appears (labels must be 0..%d)",
                             path, k, n_classes - 1);
                break;
            }
    if (rc) {
        for (int k = 0; k < cap; k++) free(names[k]);
        free(names);
        return -1;
    }
    L->n_classes = n_classes;
    L->class_names = names;
    return 0;
}

// --------------------------------------------------------------------- class-folder datasets

// Python's round(): half to even (nearbyint in the default rounding mode).
static int64_t fl_round_even(double x) { return (int64_t)nearbyint(x); }

static int fl_list_class_folders(fl_listing* L, const char* const* ignored, fl_err* err) {
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

// --------------------------------------------------------------------------------- Food101

static int fl_class_index(char** names, int n, const char* s) {
    for (int k = 0; k < n; k++)
        if (!strcmp(names[k], s)) return k;
    return -1;
}

static int fl_read_food_meta(fl_listing* L, fl_err* err) {
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

// ------------------------------------------------------------------------- .mat (libmatio)

// Names of the variables in a .mat file, for error messages.
static void fl_mat_varnames(mat_t* mat, char* out, size_t len) {
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
static double fl_mat_num(const matvar_t* v, size_t i) {
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

// Reads numeric vector `var` of file path into a malloc'd double array.
static int fl_mat_vector(const char* path, const char* var, double** out, size_t* n, fl_err* err) {
    mat_t* mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) return fl_fail(err, "%s: cannot open as a MATLAB .mat file", path);
    matvar_t* v = Mat_VarRead(mat, var);
    if (!v) {
        char names[512];
        fl_mat_varnames(mat, names, sizeof names);
        Mat_Close(mat);
        return fl_fail(err, "%s: no variable '%s' (found: %s)", path, var, names);
    }
    size_t count = 1;
    for (int d = 0; d < v->rank; d++) count *= v->dims[d];
    if (v->isComplex || !v->data || v->class_type == MAT_C_CHAR || v->class_type == MAT_C_STRUCT ||
        v->class_type == MAT_C_CELL || isnan(fl_mat_num(v, 0))) {
        Mat_VarFree(v);
        Mat_Close(mat);
        return fl_fail(err, "%s: variable '%s' is not a real numeric vector", path, var);
    }
    double* a = (double*)fl_malloc(sizeof(double) * (count ? count : 1));
    for (size_t i = 0; i < count; i++) a[i] = fl_mat_num(v, i);
    Mat_VarFree(v);
    Mat_Close(mat);
    *out = a;
    *n = count;
    return 0;
}

// Flowers102 class names from cat_to_name.json ({"1": "pink primrose", ...}) when present.
static void fl_flowers_names(fl_listing* L, int n_classes) {
    L->class_names = (char**)fl_calloc((size_t)n_classes, sizeof(char*));
    L->n_classes = n_classes;
    char p[1300];
    snprintf(p, sizeof p, "%s/../cat_to_name.json", L->layout.image_dir);
    char* text;
    cJSON* j = NULL;
    if (fl_is_file(p) && fl_read_text(p, &text, NULL) == 0) {
        j = cJSON_Parse(text);
        free(text);
    }
    for (int k = 0; k < n_classes; k++) {
        char key[16];
        snprintf(key, sizeof key, "%d", k + 1);
        cJSON* s = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
        if (cJSON_IsString(s)) {
            L->class_names[k] = fl_strdup(s->valuestring);
        } else {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "class_%03d", k + 1);
            L->class_names[k] = fl_strdup(tmp);
        }
    }
    cJSON_Delete(j);
}

static int fl_read_flowers_mat(fl_listing* L, fl_err* err) {
    char lab_path[1300], set_path[1300];
    snprintf(lab_path, sizeof lab_path, "%s/../imagelabels.mat", L->layout.image_dir);
    snprintf(set_path, sizeof set_path, "%s/../setid.mat", L->layout.image_dir);
    double* labels = NULL;
    size_t n_img = 0;
    if (fl_mat_vector(lab_path, "labels", &labels, &n_img, err)) return -1;
    int n_classes = 0;
    for (size_t i = 0; i < n_img; i++) {
        double y = labels[i];
        if (!(y >= 1 && y <= 1000) || y != floor(y)) {
            free(labels);
            return fl_fail(err, "%s: labels(%zu) = %g: expected an integer class 1..102", lab_path,
                           i + 1, y);
        }
        if ((int)y > n_classes) n_classes = (int)y;
    }
    fl_flowers_names(L, n_classes);
    // train = trnid + valid (10 + 10 per class, so 16 shots fit), val = valid, test = tstid.
    const char* vars[3] = {"trnid", "valid", "tstid"};
    fl_items* dst[3][2] = {{&L->train, NULL}, {&L->train, &L->val}, {&L->test, NULL}};
    for (int s = 0; s < 3; s++) {
        double* ids;
        size_t n;
        if (fl_mat_vector(set_path, vars[s], &ids, &n, err)) {
            free(labels);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            double id = ids[i];
            if (!(id >= 1 && id <= (double)n_img) || id != floor(id)) {
                free(ids);
                free(labels);
                return fl_fail(err, "%s: %s(%zu) = %g: expected an image id 1..%zu", set_path,
                               vars[s], i + 1, id, n_img);
            }
            char rel[64], full[1400];
            snprintf(rel, sizeof rel, "image_%05d.jpg", (int)id);
            snprintf(full, sizeof full, "%s/%s", L->layout.image_dir, rel);
            if (!fl_is_file(full)) {
                free(ids);
                free(labels);
                return fl_fail(err, "%s: %s(%zu) names %s, which does not exist", set_path,
                               vars[s], i + 1, full);
            }
            int y = (int)labels[(size_t)id - 1] - 1;
            for (int t = 0; t < 2; t++)
                if (dst[s][t]) fl_items_push(dst[s][t], rel, y, -1);
        }
        free(ids);
    }
    free(labels);
    return 0;
}

// -------------------------------------------------------------------------------- ImageNet

// Reads "wnid name..." lines (classnames.txt / LOC_synset_mapping.txt) into names by wnid.
static int fl_imagenet_names_txt(const char* path, fl_listing* L) {
    FILE* f = fopen(path, "r");
    if (!f) return 0;
    char line[2048];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char* sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        int k = fl_class_index(L->class_names, L->n_classes, line);
        if (k < 0) continue;
        // Keep the wnid in front: "n01440764 tench" is both unique and readable.
        char buf[2100];
        snprintf(buf, sizeof buf, "%s %s", line, sp + 1);
        free(L->class_names[k]);
        L->class_names[k] = fl_strdup(buf);
        got++;
    }
    fclose(f);
    return got;
}

// A char variable of a struct element as a C string (matio gives 8- or 16-bit chars).
static void fl_mat_string(const matvar_t* v, char* out, size_t len) {
    out[0] = 0;
    if (!v || v->class_type != MAT_C_CHAR || !v->data) return;
    size_t n = 1;
    for (int d = 0; d < v->rank; d++) n *= v->dims[d];
    if (n >= len) n = len - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned c = v->data_size == 2 ? ((const uint16_t*)v->data)[i]
                   : v->data_size == 4 ? ((const uint32_t*)v->data)[i]
                                       : ((const uint8_t*)v->data)[i];
        out[i] = (char)(c < 128 ? c : '?');
    }
    out[n] = 0;
}

// The devkit's meta.mat: synsets(i).ILSVRC2012_ID -> synsets(i).WNID (and .words).
// Fills wnid_of_id[1..1000] (malloc'd strings) and, when names is set, class names.
static int fl_imagenet_meta(const char* path, fl_listing* L, char** wnid_of_id, int max_id,
                            fl_err* err) {
    mat_t* mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) return fl_fail(err, "%s: cannot open as a MATLAB .mat file", path);
    matvar_t* s = Mat_VarRead(mat, "synsets");
    if (!s || s->class_type != MAT_C_STRUCT) {
        char names[512];
        fl_mat_varnames(mat, names, sizeof names);
        if (s) Mat_VarFree(s);
        Mat_Close(mat);
        return fl_fail(err, "%s: no struct variable 'synsets' (found: %s)", path, names);
    }
    size_t n = 1;
    for (int d = 0; d < s->rank; d++) n *= s->dims[d];
    for (size_t i = 0; i < n; i++) {
        matvar_t* idv = Mat_VarGetStructFieldByName(s, "ILSVRC2012_ID", i);
        matvar_t* wv = Mat_VarGetStructFieldByName(s, "WNID", i);
        matvar_t* words = Mat_VarGetStructFieldByName(s, "words", i);
        if (!idv || !wv || !idv->data) {
            Mat_VarFree(s);
            Mat_Close(mat);
            return fl_fail(err, "%s: synsets(%zu) lacks ILSVRC2012_ID or WNID", path, i + 1);
        }
        int id = (int)fl_mat_num(idv, 0);
        char wnid[64], w[1024];
        fl_mat_string(wv, wnid, sizeof wnid);
        fl_mat_string(words, w, sizeof w);
        if (id >= 1 && id <= max_id && !wnid_of_id[id]) wnid_of_id[id] = fl_strdup(wnid);
        int k = fl_class_index(L->class_names, L->n_classes, wnid);
        if (k >= 0 && w[0] && !strchr(L->class_names[k], ' ')) {
            char buf[1100];
            snprintf(buf, sizeof buf, "%s %s", wnid, w);
            free(L->class_names[k]);
            L->class_names[k] = fl_strdup(buf);
        }
    }
    Mat_VarFree(s);
    Mat_Close(mat);
    return 0;
}

// The wnid part of a class name ("n01440764 tench" -> match on "n01440764").
static int fl_wnid_index(fl_listing* L, const char* wnid) {
    size_t len = strlen(wnid);
    for (int k = 0; k < L->n_classes; k++)
        if (!strncmp(L->class_names[k], wnid, len) &&
            (L->class_names[k][len] == 0 || L->class_names[k][len] == ' '))
            return k;
    return -1;
}

static int fl_list_imagenet(fl_listing* L, fl_err* err) {
    const char* base = L->layout.image_dir;
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/train", base);
    char** wnids;
    int64_t nc;
    if (fl_list_dir(dir, 1, &wnids, &nc, err)) return -1;
    if (nc == 0) {
        fl_free_names(wnids, nc);
        return fl_fail(err, "%s: no class folders", dir);
    }
    L->class_names = wnids;
    L->n_classes = (int)nc;
    for (int k = 0; k < L->n_classes; k++) {
        char cdir[1600];
        snprintf(cdir, sizeof cdir, "%s/%s", dir, wnids[k]);
        char** files;
        int64_t nf;
        if (fl_list_dir(cdir, 0, &files, &nf, err)) return -1;
        for (int64_t i = 0; i < nf; i++) {
            char rel[1200];
            snprintf(rel, sizeof rel, "train/%s/%s", wnids[k], files[i]);
            fl_items_push(&L->train, rel, k, -1);
        }
        fl_free_names(files, nf);
    }
    // Keep the bare wnids for matching val folders before names are attached.
    char** bare = (char**)fl_malloc(sizeof(char*) * (size_t)nc);
    for (int k = 0; k < L->n_classes; k++) bare[k] = fl_strdup(wnids[k]);

    snprintf(dir, sizeof dir, "%s/val", base);
    char** vdirs;
    int64_t nv;
    int rc = 0;
    if (fl_list_dir(dir, 1, &vdirs, &nv, err)) {
        fl_free_names(bare, nc);
        return -1;
    }
    char** wnid_of_id = (char**)fl_calloc(1001, sizeof(char*));
    char meta[1500];
    snprintf(meta, sizeof meta, "%s/ILSVRC2012_devkit_t12/data/meta.mat", base);
    if (!fl_is_file(meta)) snprintf(meta, sizeof meta, "%s/meta.mat", base);
    if (nv > 0) {  // val/<wnid>/ class folders
        for (int64_t v = 0; v < nv; v++) {
            int k = fl_class_index(bare, (int)nc, vdirs[v]);
            if (k < 0) {
                rc = fl_fail(err, "%s/%s: a validation class that train/ does not have", dir, vdirs[v]);
                break;
            }
            char cdir[1600];
            snprintf(cdir, sizeof cdir, "%s/%s", dir, vdirs[v]);
            char** files;
            int64_t nf;
            if ((rc = fl_list_dir(cdir, 0, &files, &nf, err))) break;
            for (int64_t i = 0; i < nf; i++) {
                char rel[1200];
                snprintf(rel, sizeof rel, "val/%s/%s", vdirs[v], files[i]);
                fl_items_push(&L->test, rel, k, -1);
            }
            fl_free_names(files, nf);
        }
    } else {  // flat val/ + ground truth
        char** files;
        int64_t nf;
        if (fl_list_dir(dir, 0, &files, &nf, err)) {
            rc = -1;
        } else {
            char gt[1500], csv[1500];
            snprintf(gt, sizeof gt, "%s/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", base);
            if (!fl_is_file(gt)) snprintf(gt, sizeof gt, "%s/ILSVRC2012_validation_ground_truth.txt", base);
            snprintf(csv, sizeof csv, "%s/LOC_val_solution.csv", base);
            int32_t* lab = (int32_t*)fl_malloc(sizeof(int32_t) * (size_t)(nf ? nf : 1));
            for (int64_t i = 0; i < nf; i++) lab[i] = -1;
            if (fl_is_file(gt)) {
                // Line i holds the ILSVRC2012_ID of ILSVRC2012_val_<i+1>.JPEG (sorted names).
                if (!fl_is_file(meta)) {
                    rc = fl_fail(err, "%s: found, but not the devkit's meta.mat that maps its IDs "
                                      "to wnids (expected %s)", gt, meta);
                } else if ((rc = fl_imagenet_meta(meta, L, wnid_of_id, 1000, err)) == 0) {
                    FILE* f = fopen(gt, "r");
                    long ln = 0;
                    char line[64];
                    while (!rc && f && fgets(line, sizeof line, f)) {
                        ln++;
                        int id = atoi(line);
                        if (ln > nf) {
                            rc = fl_fail(err, "%s: line %ld: more labels than the %lld images in %s", gt, ln, (long long)nf, dir);
                        } else if (id < 1 || id > 1000 || !wnid_of_id[id]) {
                            rc = fl_fail(err, "%s: line %ld: ILSVRC2012_ID %d unknown to %s", gt, ln, id, meta);
                        } else {
                            int k = fl_wnid_index(L, wnid_of_id[id]);
                            if (k < 0) rc = fl_fail(err, "%s: line %ld: class %s is not in train/", gt, ln, wnid_of_id[id]);
                            lab[ln - 1] = k;
                        }
                    }
                    if (f) fclose(f);
                    if (!rc && ln != nf)
                        rc = fl_fail(err, "%s: %ld labels for %lld images in %s", gt, ln, (long long)nf, dir);
                }
            } else if (fl_is_file(csv)) {
                // Kaggle: "ImageId,PredictionString" with "ILSVRC2012_val_00000001,n01751748 x y ...".
                FILE* f = fopen(csv, "r");
                char line[4096];
                long ln = 0;
                while (!rc && f && fgets(line, sizeof line, f)) {
                    if (++ln == 1) continue;
                    char* comma = strchr(line, ',');
                    if (!comma) continue;
                    *comma = 0;
                    char wnid[32] = {0};
                    sscanf(comma + 1, "%31s", wnid);
                    int k = fl_wnid_index(L, wnid);
                    char fname[300];
                    snprintf(fname, sizeof fname, "%s.JPEG", line);
                    int64_t lo = 0, hi = nf - 1, at = -1;
                    while (lo <= hi) {
                        int64_t mid = (lo + hi) / 2;
                        int c = strcmp(files[mid], fname);
                        if (!c) { at = mid; break; }
                        if (c < 0) lo = mid + 1; else hi = mid - 1;
                    }
                    if (k < 0) rc = fl_fail(err, "%s: line %ld: class %s is not in train/", csv, ln, wnid);
                    else if (at < 0) rc = fl_fail(err, "%s: line %ld names %s/%s, which does not exist", csv, ln, dir, fname);
                    else lab[at] = k;
                }
                if (f) fclose(f);
            } else {
                rc = fl_fail(err, "%s: flat validation images but no ground truth: expected "
                                  "ILSVRC2012_devkit_t12/ (ground truth + meta.mat) or LOC_val_solution.csv in %s",
                             dir, base);
            }
            for (int64_t i = 0; !rc && i < nf; i++) {
                if (lab[i] < 0) {
                    rc = fl_fail(err, "%s/%s: no label in the ground truth", dir, files[i]);
                    break;
                }
                char rel[1200];
                snprintf(rel, sizeof rel, "val/%s", files[i]);
                fl_items_push(&L->test, rel, lab[i], -1);
            }
            free(lab);
            fl_free_names(files, nf);
        }
    }
    fl_free_names(vdirs, nv);
    for (int i = 0; i <= 1000; i++) free(wnid_of_id[i]);
    free(wnid_of_id);
    fl_free_names(bare, nc);
    if (rc) return -1;
    // Readable names: CoOp's classnames.txt, Kaggle's LOC_synset_mapping.txt, else meta.mat.
    char p[1500];
    snprintf(p, sizeof p, "%s/classnames.txt", base);
    if (!fl_imagenet_names_txt(p, L)) {
        snprintf(p, sizeof p, "%s/../classnames.txt", base);
        if (!fl_imagenet_names_txt(p, L)) {
            snprintf(p, sizeof p, "%s/LOC_synset_mapping.txt", base);
            if (!fl_imagenet_names_txt(p, L) && fl_is_file(meta)) {
                char** dummy = (char**)fl_calloc(1001, sizeof(char*));
                fl_err ignored;
                fl_imagenet_meta(meta, L, dummy, 1000, &ignored);
                for (int i = 0; i <= 1000; i++) free(dummy[i]);
                free(dummy);
            }
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------- array datasets

static void fl_items_from_records(fl_items* dst, const fl_images* d, const fl_record_files* rf,
                                  const char* single_name) {
    char name[128];
    int f = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (rf) {
            while (f + 1 < rf->n_files && i >= rf->first[f + 1]) f++;
            snprintf(name, sizeof name, "%s#%lld", rf->files[f], (long long)(i - rf->first[f]));
        } else {
            snprintf(name, sizeof name, "%s#%lld", single_name, (long long)i);
        }
        fl_items_push(dst, name, d->labels[i], i);
    }
}

static int fl_list_array(fl_listing* L, const fl_dataset_opts* o, fl_err* err) {
    const char* name = L->layout.name;
    if (!strcmp(name, "fashion-mnist")) {
        if (fl_load_fashion_mnist(L->layout.root, 1, &L->arr_train, err)) return -1;
        if (fl_load_fashion_mnist(L->layout.root, 0, &L->arr_test, err)) return -1;
        fl_items_from_records(&L->train, &L->arr_train, NULL, "train-images-idx3-ubyte");
        fl_items_from_records(&L->test, &L->arr_test, NULL, "t10k-images-idx3-ubyte");
    } else {
        int hundred = !strcmp(name, "cifar100");
        int coarse = hundred && o && o->cifar100_coarse;
        fl_record_files rtr, rte;
        if (fl_load_cifar_ex(L->layout.root, hundred, 1, coarse, &L->arr_train, &rtr, err)) return -1;
        if (fl_load_cifar_ex(L->layout.root, hundred, 0, coarse, &L->arr_test, &rte, err)) return -1;
        fl_items_from_records(&L->train, &L->arr_train, &rtr, NULL);
        fl_items_from_records(&L->test, &L->arr_test, &rte, NULL);
    }
    L->n_classes = L->arr_train.n_classes;
    L->class_names = (char**)fl_malloc(sizeof(char*) * (size_t)L->n_classes);
    for (int k = 0; k < L->n_classes; k++) L->class_names[k] = fl_strdup(L->arr_train.class_names[k]);
    return 0;
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
