// listing_imagenet.c: ImageNet (ILSVRC2012), [images/]train/<wnid>/* and [images/]val/<wnid>/*,
// or val/ flat with the devkit's ground truth (ILSVRC2012_validation_ground_truth.txt + meta.mat)
// or Kaggle's LOC_val_solution.csv; readable class names from classnames.txt,
// LOC_synset_mapping.txt or the devkit's meta.mat.
#include <matio.h>  // before internal.h, which then declares the .mat helpers
#include "internal.h"
#include <dirent.h>
#include <string.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

int fl_detect_imagenet(fl_layout* L, const char* root, fl_err* err) {
    char p[1300];
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

int fl_list_imagenet(fl_listing* L, fl_err* err) {
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
