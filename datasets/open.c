// open.c: fl_dataset_open, the one call the train and sweep commands make: find the data,
// fix the k-shot training split in a manifest (reused when present, so a sweep shares it),
// and return both splits preprocessed to uint8, memory-mapped from the cache when it is on.
//
// Files it reads and writes under the data root R ($FLBENCH_DATA, default datasets/data):
//   R/NAME/                                           the dataset (see listing.c for layouts)
//   R/manifests/NAME-TAG-train-kK-sS.tsv              the training split (manifest.c)
//   R/manifests/NAME-TAG-test.tsv                     the full test split
//   R/cache/NAME-TAG-train-kK-sS-PREP.u8, ...-test-PREP.u8   uint8 caches (cache.c)
// TAG is the split source (official, coop or seeded); PREP is the size and resize mode,
// e.g. 224sq (square) or 224c875 (shorter side + center crop at crop_pct 0.875).
#include "internal.h"
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#pragma GCC diagnostic ignored "-Wformat-truncation"  // long paths are cut, never overflowed

void fl_dataset_opts_default(fl_dataset_opts* o) {
    memset(o, 0, sizeof *o);
    o->crop_pct = 0.875f;
}

static const char* fl_data_root(const fl_dataset_opts* o) {
    if (o->data_root && o->data_root[0]) return o->data_root;
    const char* env = getenv("FLBENCH_DATA");
    if (env && env[0]) return env;
    return "datasets/data";
}

// The dataset's folder: o->dataset_dir, else the first of R/NAME and the names the official
// archives, CoOp or torchvision use (R/caltech-101, R/food-101, ...) that exists, else R/NAME.
void fl_dataset_root(const char* name, const fl_dataset_opts* o, char* out, size_t len) {
    if (o->dataset_dir && o->dataset_dir[0]) {
        snprintf(out, len, "%s", o->dataset_dir);
        return;
    }
    const char* R = fl_data_root(o);
    const char* alias[4] = {NULL, NULL, NULL, NULL};
    if (!strcmp(name, "caltech101")) alias[0] = "caltech-101";
    if (!strcmp(name, "food101")) alias[0] = "food-101";
    if (!strcmp(name, "flowers102")) { alias[0] = "oxford_flowers"; alias[1] = "flowers-102"; }
    if (!strcmp(name, "eurosat")) alias[0] = "EuroSAT";
    if (!strcmp(name, "imagenet")) alias[0] = "ILSVRC2012";
    if (!strcmp(name, "fashion-mnist")) alias[0] = "FashionMNIST/raw";  // torchvision's
    // The Python versions come last: they are only found to be named (listing_array.c).
    if (!strcmp(name, "cifar10")) { alias[0] = "cifar-10-batches-bin"; alias[1] = "cifar-10-batches-py"; }
    if (!strcmp(name, "cifar100")) { alias[0] = "cifar-100-binary"; alias[1] = "cifar-100-python"; }
    snprintf(out, len, "%s/%s", R, name);
    if (fl_is_dir(out)) return;
    for (int i = 0; alias[i]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", R, alias[i]);
        if (fl_is_dir(p)) {
            snprintf(out, len, "%s", p);
            return;
        }
    }
}

static int fl_cmp_item_path(const void* a, const void* b, void* ctx) {
    const fl_items* it = (const fl_items*)ctx;
    return strcmp(it->v[*(const int64_t*)a].path, it->v[*(const int64_t*)b].path);
}

// Resolves manifest items of an array dataset to record indices of the listing, by name.
static int fl_resolve_records(const fl_items* all, const fl_items* want, int64_t* recs,
                              const char* manifest, fl_err* err) {
    // all's names are unique; sort an index by name and binary-search.
    int64_t n = all->n;
    int64_t* ord = (int64_t*)fl_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) ord[i] = i;
    qsort_r(ord, (size_t)n, sizeof(int64_t), fl_cmp_item_path, (void*)all);
    for (int64_t j = 0; j < want->n; j++) {
        int64_t lo = 0, hi = n - 1, at = -1;
        while (lo <= hi) {
            int64_t mid = (lo + hi) / 2;
            int c = strcmp(all->v[ord[mid]].path, want->v[j].path);
            if (!c) { at = ord[mid]; break; }
            if (c < 0) lo = mid + 1; else hi = mid - 1;
        }
        if (at < 0 || all->v[at].label != want->v[j].label) {
            free(ord);
            if (at < 0)
                return fl_fail(err, "manifest %s: item %s is not in the dataset", manifest, want->v[j].path);
            return fl_fail(err, "manifest %s: item %s has label %d, the data says %d", manifest,
                           want->v[j].path, want->v[j].label, all->v[at].label);
        }
        recs[j] = all->v[at].rec;
    }
    free(ord);
    return 0;
}

// Before decoding a split, every file its manifest names must exist: a manifest kept from an
// earlier copy of the data fails here with a clear message instead of deep inside the decode.
// Returns 1 when all exist.
static int fl_check_items_exist(const fl_layout* lay, const fl_items* items, const char* manifest,
                                fl_err* err) {
    for (int64_t i = 0; i < items->n; i++) {
        char path[2400];
        snprintf(path, sizeof path, "%s/%s", lay->image_dir, items->v[i].path);
        if (!fl_is_file(path)) {
            fl_fail(err, "manifest %s names %s, which does not exist (the data changed since the "
                         "split was drawn; delete the manifest to draw it again)", manifest, path);
            return 0;
        }
    }
    return 1;
}

// What fill() needs to produce image i of a split.
typedef struct {
    const fl_layout* lay;
    const fl_items* items;
    const int64_t* recs;     // array datasets: record of item i in arr
    const fl_images* arr;    // array datasets: native pixels
    fl_preproc pp;
    int want_c;
} fl_fill_ctx;

static int fl_fill(void* vctx, int64_t i, uint8_t* out, fl_err* err) {
    const fl_fill_ctx* x = (const fl_fill_ctx*)vctx;
    int S = x->pp.size;
    if (x->arr) {
        const fl_images* a = x->arr;
        const uint8_t* src = a->pix + x->recs[i] * fl_images_dim(a);
        if (a->h == S && a->w == S && x->pp.mode == FL_RESIZE_SQUARE) {
            memcpy(out, src, (size_t)fl_images_dim(a));
            return 0;
        }
        // (c, h, w) planar -> interleaved, then the same preprocessing as files.
        fl_image im = {a->w, a->h, a->c, (uint8_t*)fl_malloc((size_t)fl_images_dim(a))};
        for (int c = 0; c < a->c; c++)
            for (int p = 0; p < a->h * a->w; p++) im.pix[p * a->c + c] = src[c * a->h * a->w + p];
        char name[96];
        snprintf(name, sizeof name, "%s record %lld", a->name, (long long)x->recs[i]);
        int rc = fl_preprocess(&im, &x->pp, name, out, err);
        fl_image_free(&im);
        return rc;
    }
    char path[2400];
    snprintf(path, sizeof path, "%s/%s", x->lay->image_dir, x->items->v[i].path);
    return fl_load_preprocessed(path, &x->pp, x->want_c, out, NULL, NULL, err);
}

static void fl_set_norm(fl_images* d, fl_norm_mode norm, const char* name, int native) {
    for (int c = 0; c < 4; c++) {
        d->mean[c] = 0.5f;
        d->std[c] = 0.5f;
    }
    int fmnist = !strcmp(name, "fashion-mnist");
    if (norm == FL_NORM_IMAGENET) {
        static const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
        if (d->c == 3) {
            for (int c = 0; c < 3; c++) { d->mean[c] = m[c]; d->std[c] = s[c]; }
        } else {  // one channel: the averages of the three
            d->mean[0] = 0.449f;
            d->std[0] = 0.226f;
        }
    } else if (fmnist && (norm == FL_NORM_NATIVE || (norm == FL_NORM_DEFAULT && native))) {
        d->mean[0] = 0.2860f;
        d->std[0] = 0.3530f;
    }
}

static char** fl_copy_names(int n, char* const* names) {
    char** out = (char**)fl_malloc(sizeof(char*) * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) out[k] = fl_strdup(names[k]);
    return out;
}

int fl_dataset_available(const char* name, const fl_dataset_opts* o_in, fl_err* err) {
    fl_dataset_opts o;
    if (o_in)
        o = *o_in;
    else
        fl_dataset_opts_default(&o);
    int known = 0;
    for (int i = 0; fl_dataset_names[i]; i++) known |= !strcmp(fl_dataset_names[i], name);
    char root[1024];
    fl_dataset_root(name, &o, root, sizeof root);
    fl_layout lay;
    if (fl_detect_layout(name, root, &o, &lay, err) == 0) return 1;
    return known ? 0 : -1;
}

int fl_dataset_open(const char* name, const fl_dataset_opts* o_in, fl_images* train,
                    fl_images* test, fl_dataset_info* info, fl_err* err) {
    fl_dataset_opts o;
    if (o_in)
        o = *o_in;
    else
        fl_dataset_opts_default(&o);
    if (o.crop_pct == 0.0f) o.crop_pct = 0.875f;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    fl_dataset_info info_local;
    if (!info) info = &info_local;
    memset(info, 0, sizeof *info);
    if (o.shots < 0) return fl_fail(err, "--shots %d: expected 0 (all) or a positive count", o.shots);
    if (o.image_size < 0 || o.image_size > 4096)
        return fl_fail(err, "--image-size %d: expected 1..4096 (0: the dataset's default)", o.image_size);
    if (o.resize != FL_RESIZE_SQUARE && o.resize != FL_RESIZE_SHORT_CROP)
        return fl_fail(err, "resize mode %d: expected square (0) or short-crop (1)", (int)o.resize);
    if (!(o.crop_pct > 0.0f && o.crop_pct <= 1.0f))
        return fl_fail(err, "crop_pct %g: expected a value in (0, 1]", o.crop_pct);
    if (o.norm < FL_NORM_DEFAULT || o.norm > FL_NORM_NATIVE)
        return fl_fail(err, "normalisation %d: expected default, half, imagenet or native", (int)o.norm);

    char root[1024];
    fl_dataset_root(name, &o, root, sizeof root);
    fl_layout lay;
    if (fl_detect_layout(name, root, &o, &lay, err)) return -1;
    int S = o.image_size ? o.image_size : (lay.native_size ? lay.native_size : 224);
    int native = lay.is_array && S == lay.native_size && o.resize == FL_RESIZE_SQUARE;
    int want_c = lay.channels;
    const char* R = fl_data_root(&o);
    char cache_dir[1100], man_dir[1100], variant[96];
    snprintf(cache_dir, sizeof cache_dir, "%s", o.cache_dir && o.cache_dir[0] ? o.cache_dir : "");
    if (!cache_dir[0]) snprintf(cache_dir, sizeof cache_dir, "%s/cache", R);
    snprintf(man_dir, sizeof man_dir, "%s/manifests", R);
    int coarse = !strcmp(name, "cifar100") && o.cifar100_coarse;
    snprintf(variant, sizeof variant, "%s%s-%s", name, coarse ? "-coarse" : "", lay.tag);
    snprintf(info->root, sizeof info->root, "%s", lay.root);
    snprintf(info->format, sizeof info->format, "%s", lay.format);

    char split_name[2][64];
    snprintf(split_name[0], sizeof split_name[0], "train-k%d-s%" PRIu64, o.shots, o.seed);
    snprintf(split_name[1], sizeof split_name[1], "test");
    char* man_path[2] = {info->train_manifest, info->test_manifest};
    for (int s = 0; s < 2; s++)
        snprintf(man_path[s], sizeof info->train_manifest, "%s/%s-%s.tsv", man_dir, variant, split_name[s]);

    fl_listing L;
    memset(&L, 0, sizeof L);
    int listed = 0;
    fl_manifest man[2];
    memset(man, 0, sizeof man);
    fl_images* out[2] = {train, test};
    int64_t* recs = NULL;
    int rc = -1;

    // 1. The manifests: read when present, else drawn from the listing and written.
    for (int s = 0; s < 2; s++) {
        if (fl_is_file(man_path[s])) {
            if (fl_manifest_read(man_path[s], &man[s], err)) goto done;
            if (strcmp(man[s].dataset, name) != 0 || (s == 0 && (man[s].shots != o.shots || man[s].seed != o.seed))) {
                fl_fail(err, "manifest %s: records %s shots %d seed %" PRIu64 ", expected %s shots %d seed %" PRIu64,
                        man_path[s], man[s].dataset, man[s].shots, man[s].seed, name, o.shots, o.seed);
                goto done;
            }
            continue;
        }
        if (!listed) {
            if (fl_list_dataset(&lay, &o, &L, err)) goto done;
            listed = 1;
        }
        fl_manifest* m = &man[s];
        fl_manifest_from_listing(&L, s, o.shots, o.seed, m);
        if (fl_mkdirs(man_dir, err) || fl_manifest_write(man_path[s], m, err)) goto done;
    }
    if (man[0].n_classes != man[1].n_classes) {
        fl_fail(err, "manifests %s and %s disagree: %d vs %d classes; delete both to redraw",
                man_path[0], man_path[1], man[0].n_classes, man[1].n_classes);
        goto done;
    }
    info->train_checksum = man[0].checksum;
    info->test_checksum = man[1].checksum;
    info->short_classes = man[0].short_classes;

    // 2. The pixels: native arrays in memory, or the cache (built when needed), or decoded.
    fl_preproc pp = {S, o.resize, o.resize == FL_RESIZE_SHORT_CROP ? o.crop_pct : 0.0f};
    for (int s = 0; s < 2; s++) {
        const fl_manifest* m = &man[s];
        fl_cache_key key;
        memset(&key, 0, sizeof key);
        snprintf(key.dataset, sizeof key.dataset, "%s", variant);
        snprintf(key.split, sizeof key.split, "%s", split_name[s]);
        key.n = m->items.n;
        key.c = want_c;
        key.h = key.w = S;
        key.n_classes = m->n_classes;
        key.resize_mode = o.resize;
        key.image_size = S;
        key.crop_pct = pp.crop_pct;
        key.manifest_checksum = m->checksum;
        int32_t* labels = (int32_t*)fl_malloc(sizeof(int32_t) * (size_t)(m->items.n ? m->items.n : 1));
        for (int64_t i = 0; i < m->items.n; i++) labels[i] = m->items.v[i].label;
        fl_fill_ctx ctx = {&lay, &m->items, NULL, NULL, pp, want_c};
        int use_cache = !o.no_cache && !native;
        char cache_path[1400];
        char prep[32];
        if (o.resize == FL_RESIZE_SQUARE)
            snprintf(prep, sizeof prep, "%dsq", S);
        else
            snprintf(prep, sizeof prep, "%dc%03d", S, (int)(o.crop_pct * 1000.0f + 0.5f));
        snprintf(cache_path, sizeof cache_path, "%s/%s-%s-%s.u8", cache_dir, variant, split_name[s], prep);
        if (use_cache) {
            char note[600];
            int c = fl_cache_open(cache_path, &key, o.verify_cache, out[s], note, sizeof note, err);
            if (c < 0) { free(labels); goto done; }
            if (c == 0) {
                free(labels);
                if (s == 0) info->train_from_cache = 1; else info->test_from_cache = 1;
                goto named;
            }
            if (strncmp(note, "no cache", 8) != 0)
                snprintf(info->cache_note, sizeof info->cache_note, "%s", note);
        }
        // Array datasets need their records; file datasets only their image folder.
        if (lay.is_array) {
            if (!listed) {
                if (fl_list_dataset(&lay, &o, &L, err)) { free(labels); goto done; }
                listed = 1;
            }
            free(recs);
            recs = (int64_t*)fl_malloc(sizeof(int64_t) * (size_t)(m->items.n ? m->items.n : 1));
            if (fl_resolve_records(s == 0 ? &L.train : &L.test, &m->items, recs, man_path[s], err)) {
                free(labels);
                goto done;
            }
            ctx.recs = recs;
            ctx.arr = s == 0 ? &L.arr_train : &L.arr_test;
        }
        if (!lay.is_array && !fl_check_items_exist(&lay, &m->items, man_path[s], err)) {
            free(labels);
            goto done;
        }
        if (use_cache) {
            if (fl_mkdirs(cache_dir, err) ||
                fl_cache_build(cache_path, &key, labels, fl_fill, &ctx, o.quiet, out[s], err)) {
                free(labels);
                goto done;
            }
            free(labels);
            if (s == 0) info->train_rebuilt = 1; else info->test_rebuilt = 1;
        } else {
            // In memory: decode (or copy) every image now.
            size_t dim = (size_t)want_c * S * S;
            uint8_t* pix = (uint8_t*)fl_malloc(dim * (size_t)(m->items.n ? m->items.n : 1));
            int64_t bad = -1;
            fl_err first = {{0}};
#pragma omp parallel for schedule(dynamic, 8)
            for (int64_t i = 0; i < m->items.n; i++) {
                fl_err e;
                if (fl_fill(&ctx, i, pix + (size_t)i * dim, &e) != 0) {
#pragma omp critical(fl_open_err)
                    if (bad < 0 || i < bad) { bad = i; first = e; }
                }
            }
            if (bad >= 0) {
                if (err) *err = first;
                free(pix);
                free(labels);
                goto done;
            }
            fl_images* d = out[s];
            d->n = m->items.n;
            d->c = want_c;
            d->h = d->w = S;
            d->n_classes = m->n_classes;
            d->pix_owner = pix;
            d->pix = pix;
            d->labels = labels;
        }
    named:
        snprintf(out[s]->name, sizeof out[s]->name, "%s", name);
        out[s]->class_names = fl_copy_names(m->n_classes, m->class_names);
        fl_set_norm(out[s], o.norm, name, native);
    }
    rc = 0;
done:
    free(recs);
    fl_manifest_free(&man[0]);
    fl_manifest_free(&man[1]);
    if (listed) fl_listing_free(&L);
    if (rc) {
        fl_images_free(train);
        fl_images_free(test);
    }
    return rc;
}
