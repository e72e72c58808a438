// listing_flowers102.c: Oxford Flowers 102, [flowers-102/]jpg/image_NNNNN.jpg with labels from
// imagelabels.mat and the official split from setid.mat (train = trnid + valid, val = valid,
// test = tstid; libmatio), class names from cat_to_name.json when present (a CoOp file, when
// present, is read by listing_coop.c).
#include <matio.h>  // before internal.h, which then declares the .mat helpers
#include "internal.h"
#include <math.h>
#include <string.h>
#include <cjson/cJSON.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

int fl_detect_flowers102(fl_layout* L, const char* root, const fl_dataset_opts* o, fl_err* err) {
    char p[1300];
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
int fl_read_flowers_mat(fl_listing* L, fl_err* err) {
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
