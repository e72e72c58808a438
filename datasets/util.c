// util.c: small helpers the dataset code shares: growable item lists, sorted directory
// listings, mkdir -p, FNV-1a hashing.
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void fl_items_push(fl_items* a, const char* path, int32_t label, int64_t rec) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 256;
        a->v = (fl_item*)fl_realloc(a->v, (size_t)a->cap * sizeof(fl_item));
    }
    a->v[a->n].path = fl_strdup(path);
    a->v[a->n].label = label;
    a->v[a->n].rec = rec;
    a->n++;
}

void fl_items_free(fl_items* a) {
    for (int64_t i = 0; i < a->n; i++) free(a->v[i].path);
    free(a->v);
    memset(a, 0, sizeof *a);
}

int fl_is_dir(const char* path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fl_is_file(const char* path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int fl_cmp_str(const void* a, const void* b) {
    return strcmp(*(char* const*)a, *(char* const*)b);
}

static int fl_is_image_name(const char* name) {
    const char* dot = strrchr(name, '.');
    if (!dot) return 0;
    return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
           strcasecmp(dot, ".png") == 0;
}

int fl_list_dir(const char* dir, int want_dirs, char*** names_out, int64_t* n_out, fl_err* err) {
    DIR* d = opendir(dir);
    if (!d) return fl_fail(err, "%s: cannot read the folder: %m", dir);
    char** names = NULL;
    int64_t n = 0, cap = 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int is_dir;
        if (e->d_type == DT_DIR)
            is_dir = 1;
        else if (e->d_type == DT_REG)
            is_dir = 0;
        else {  // DT_UNKNOWN or a link: ask stat
            char p[2048];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat st;
            if (stat(p, &st) != 0) continue;
            if (S_ISDIR(st.st_mode))
                is_dir = 1;
            else if (S_ISREG(st.st_mode))
                is_dir = 0;
            else
                continue;
        }
        if (want_dirs != is_dir) continue;
        if (!want_dirs && !fl_is_image_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = (char**)fl_realloc(names, (size_t)cap * sizeof(char*));
        }
        names[n++] = fl_strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof(char*), fl_cmp_str);
    *names_out = names;
    *n_out = n;
    return 0;
}

void fl_free_names(char** names, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

