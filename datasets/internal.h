// internal.h: what the files of datasets/ share and nothing outside needs: item lists,
// the dataset listing (classes and train/val/test items as the official or CoOp split gives
// them), manifests (a recorded split with its checksum), the preprocessed cache, and small
// file-system helpers.
#pragma once
#include <stdint.h>
#include "dataset.h"
#include "imageio.h"

#ifdef __cplusplus
extern "C" {
#endif

// One image of a split: a path relative to the listing's image_dir (file datasets), or a
// record name like "data_batch_2.bin#17" with its record index `rec` (array datasets).
typedef struct {
    char* path;
    int32_t label;
    int64_t rec;  // index into the in-memory array of its split; -1 for files
} fl_item;

typedef struct {
    fl_item* v;
    int64_t n, cap;
} fl_items;

void fl_items_push(fl_items* a, const char* path, int32_t label, int64_t rec);
void fl_items_free(fl_items* a);

// Where a dataset is and how it is laid out, found without listing every file.
typedef struct {
    char name[64];
    char root[1024];       // the dataset's folder
    char image_dir[1100];  // item paths resolve against this (file datasets)
    char format[256];      // human description of what was detected
    char tag[16];          // split source in file names: "official", "coop" or "seeded"
    char coop_json[1100];  // the CoOp split file in use, or ""
    int is_array;          // pixels come from binary files (fashion-mnist, CIFAR)
    int channels;          // 3, or 1 for fashion-mnist
    int native_size;       // 28 / 32 for array datasets, 0 for file datasets
    char missing[1024];    // what is missing, "" when complete
} fl_layout;

// Finds the layout of dataset `name` under root. Fails (one line naming the fetch command)
// when the data is missing; layout->missing says what exactly.
int fl_detect_layout(const char* name, const char* root, const fl_dataset_opts* o,
                     fl_layout* layout, fl_err* err);

// The complete listing of a dataset: classes and the items of each split.
typedef struct {
    fl_layout layout;
    int n_classes;
    char** class_names;
    fl_items train, val, test;
    fl_images arr_train, arr_test;  // array datasets: native pixels, indexed by item.rec
} fl_listing;

int fl_list_dataset(const fl_layout* layout, const fl_dataset_opts* o, fl_listing* L,
                    fl_err* err);
void fl_listing_free(fl_listing* L);

// ---- the listing's files: listing.c dispatches by dataset name to the file of its layout

// Detection, one per layout: fills L (name, root, tag "official" and 3 channels already set
// by fl_detect_layout) from what is under root, or fails through fl_missing.
// listing_array.c: fashion-mnist, cifar10 and cifar100 (L->name tells which CIFAR).
int fl_detect_fashion_mnist(fl_layout* L, const char* root, fl_err* err);
int fl_detect_cifar(fl_layout* L, const char* root, fl_err* err);
// listing_folders.c: eurosat and caltech101 (L->name tells which).
int fl_detect_class_folders(fl_layout* L, const char* root, const fl_dataset_opts* o, fl_err* err);
// listing_food101.c, listing_flowers102.c, listing_imagenet.c.
int fl_detect_food101(fl_layout* L, const char* root, const fl_dataset_opts* o, fl_err* err);
int fl_detect_flowers102(fl_layout* L, const char* root, const fl_dataset_opts* o, fl_err* err);
int fl_detect_imagenet(fl_layout* L, const char* root, fl_err* err);

// Listing, one per layout: classes and items of L->layout into L (otherwise zero). On failure
// L may hold part of a listing, which fl_list_dataset frees.
int fl_list_array(fl_listing* L, const fl_dataset_opts* o, fl_err* err);
// ignored: class folders to skip (NULL-terminated; NULL for none).
int fl_list_class_folders(fl_listing* L, const char* const* ignored, fl_err* err);
int fl_read_food_meta(fl_listing* L, fl_err* err);
int fl_read_flowers_mat(fl_listing* L, fl_err* err);
int fl_list_imagenet(fl_listing* L, fl_err* err);

// listing_coop.c: sets L->coop_json to the dataset's CoOp split file, looked for in the root
// and next to the image folder ("" when none, or when o->no_coop_split); fl_read_coop lists it.
void fl_find_coop(fl_layout* L, const fl_dataset_opts* o);
int fl_read_coop(fl_listing* L, fl_err* err);

// listing.c's helpers. fl_first_dir: out = the first of base/subs[i] ("" for base itself;
// NULL-terminated) that is a folder; returns 1 if found. fl_missing: records `what` in
// L->missing and fails with one line naming the fetch command. fl_read_text: the whole file,
// NUL-terminated, into *out (malloc'd). fl_class_index: the index of s in names[0..n), or -1.
int fl_first_dir(const char* base, const char* const* subs, char* out, size_t len);
int fl_missing(fl_layout* L, fl_err* err, const char* what);
int fl_read_text(const char* path, char** out, fl_err* err);
int fl_class_index(char** names, int n, const char* s);

// open.c: the dataset's folder as fl_dataset_open finds it: o->dataset_dir, else the first of
// R/NAME and the archives' or torchvision's names under the data root R that is a folder,
// else R/NAME.
void fl_dataset_root(const char* name, const fl_dataset_opts* o, char* out, size_t len);
#ifdef MATIO_H  // the .mat helpers, for the files that include <matio.h> before this header
// The names of the variables in mat, for error messages ("none" when there are none).
void fl_mat_varnames(mat_t* mat, char* out, size_t len);
// Element i of a real numeric variable as a double (NAN for another data type).
double fl_mat_num(const matvar_t* v, size_t i);
#endif

// The seeded split used where a dataset has no official one and no CoOp file is present
// (EuroSAT, Caltech101): per class, a Philox shuffle with seed FL_SPLIT_SEED, then
// round(0.5 n) train, round(0.2 n) val, the rest test (CoOp's proportions; Python rounding).
#define FL_SPLIT_SEED 0u
#define FL_STREAM_SPLIT 0x53504C54u  // "SPLT": Philox stream id of that split

// Fisher-Yates shuffle of a[0..n) with Philox draws keyed by (seed, stream, group).
void fl_shuffle_i64(int64_t* a, int64_t n, uint64_t seed, uint32_t stream, uint32_t group);

// ---- manifests

typedef struct {
    char dataset[64];
    char split[16];   // "train" or "test"
    char source[256]; // layout format at the time it was written
    int shots;
    uint64_t seed;
    int short_classes;
    int n_classes;
    char** class_names;
    fl_items items;
    uint64_t checksum;  // FNV-1a 64 over class names and (path, label) of every item
} fl_manifest;

uint64_t fl_manifest_checksum(int n_classes, char* const* class_names, const fl_items* items);
// Writes atomically (temporary file + rename). Paths and names must not hold tabs/newlines.
int fl_manifest_write(const char* path, const fl_manifest* m, fl_err* err);
// Reads and verifies the recorded checksum; errors name the file and line.
int fl_manifest_read(const char* path, fl_manifest* m, fl_err* err);
void fl_manifest_free(fl_manifest* m);
// Draws a manifest from a listing: test = 0 the k-shot training split (shots 0: all of it),
// test = 1 the full test split. The same call fl_dataset_open and `data inspect` use.
void fl_manifest_from_listing(const fl_listing* L, int test, int shots, uint64_t seed,
                              fl_manifest* m);

// ---- the preprocessed cache

// What a cache file must match to be used.
typedef struct {
    char dataset[64];
    char split[32];
    int64_t n;
    int c, h, w, n_classes;
    int resize_mode, image_size;
    float crop_pct;
    uint64_t manifest_checksum;
} fl_cache_key;

// Produces image i of the cache being built: (c, h, w) uint8 into out.
typedef int (*fl_cache_fill_fn)(void* ctx, int64_t i, uint8_t* out, fl_err* err);

// Opens path if its header matches key: maps the pixels into *out (labels copied). Returns 0
// when used, 1 when missing, stale or corrupt (why in note), -1 on an I/O error.
// verify: 1 always checks the pixel CRC, -1 never, 0 only for files up to 1 GiB.
int fl_cache_open(const char* path, const fl_cache_key* key, int verify, fl_images* out,
                  char* note, size_t note_len, fl_err* err);
// Builds path from fill (run in parallel chunks, written to a temporary file that is renamed
// into place when complete), then opens it.
int fl_cache_build(const char* path, const fl_cache_key* key, const int32_t* labels,
                   fl_cache_fill_fn fill, void* ctx, int quiet, fl_images* out, fl_err* err);

// ---- helpers

// Sorted (strcmp) names in dir: want_dirs 1 for subfolders, 0 for image files (.jpg, .jpeg,
// .png, any case). Hidden entries skipped. Returns -1 when dir cannot be read.
int fl_list_dir(const char* dir, int want_dirs, char*** names, int64_t* n, fl_err* err);
void fl_free_names(char** names, int64_t n);
int fl_is_dir(const char* path);
int fl_is_file(const char* path);
#define FL_FNV_OFFSET FL_FNV1A_INIT  // fl_fnv1a, fl_mkdirs: impl/core/common.h

// Array-dataset loaders that also report which file each record came from, for item names:
// records [first[f], first[f+1]) come from files[f].
typedef struct {
    int n_files;
    char files[8][64];
    int64_t first[9];
} fl_record_files;
int fl_load_cifar_ex(const char* dir, int hundred, int train, int coarse, fl_images* out,
                     fl_record_files* rf, fl_err* err);

#ifdef __cplusplus
}
#endif
