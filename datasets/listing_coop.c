// listing_coop.c: CoOp split files (split_zhou_*.json: {"train"|"val"|"test": [[path, label,
// classname]]}) of EuroSAT, Caltech101, Food101 and Flowers102: found in the dataset folder or
// next to its image folder, and read into the classes and the train / val / test items.
#include "internal.h"
#include <string.h>
#include <cjson/cJSON.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

static const char* fl_coop_file(const char* name) {
    if (!strcmp(name, "eurosat")) return "split_zhou_EuroSAT.json";
    if (!strcmp(name, "caltech101")) return "split_zhou_Caltech101.json";
    if (!strcmp(name, "food101")) return "split_zhou_Food101.json";
    if (!strcmp(name, "flowers102")) return "split_zhou_OxfordFlowers.json";
    return NULL;
}

// Looks for the CoOp file in the root and next to the image folder.
void fl_find_coop(fl_layout* L, const fl_dataset_opts* o) {
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


int fl_read_coop(fl_listing* L, fl_err* err) {
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
