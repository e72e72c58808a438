// dataset.h: the in-memory (or memory-mapped) image dataset every reader produces.
// Pixels are uint8 in (n, c, h, w) layout; batches are converted to normalised float
// (x/255 - mean[c]) / std[c] only when they are fetched, so a large test set can stay a
// memory-mapped cache file and never be resident all at once.
#pragma once
#include <stdint.h>
#include "../impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_images {
    char name[64];          // "fashion-mnist", "cifar10", ...
    int64_t n;              // number of images
    int c, h, w;            // channels, height, width
    int n_classes;
    const uint8_t* pix;     // (n, c, h, w); owned by pix_owner or a mapping
    int32_t* labels;        // (n), each in [0, n_classes)
    float mean[4], std[4];  // per-channel normalisation applied by fl_images_batch
    char** class_names;     // (n_classes), may be NULL
    // ownership (private): either heap memory or an mmap region
    uint8_t* pix_owner;
    void* map_base;
    size_t map_len;
} fl_images;

// Per-image size in floats: c*h*w.
static inline int64_t fl_images_dim(const fl_images* d) { return (int64_t)d->c * d->h * d->w; }

// Fills out (B, c*h*w) host floats with the normalised images idx[0..B).
void fl_images_batch(const fl_images* d, const int64_t* idx, int B, float* out);

// Frees whatever the reader allocated or mapped; safe on a zeroed struct.
void fl_images_free(fl_images* d);

// For a memory-mapped set (a cache), drops the pages of images [first, first + n) from this
// process (madvise MADV_DONTNEED; they are read again from the page cache if touched), so that
// evaluating a large test set batch by batch keeps the resident set at about one batch.
// No effect on sets held in heap memory.
void fl_images_release(const fl_images* d, int64_t first, int64_t n);

// Keeps only the images whose label is in [lo, hi], relabelled to [0, hi-lo]
// (used for the few-shot transfer split: pretrain on classes 0-4, fine-tune on 5-9).
void fl_images_select_classes(fl_images* d, int lo, int hi);

// Seeded k-shot indices: k images per class (all of a class when it has fewer, and
// *short_classes counts those). Returns a malloc'd array of *n_out indices in class order.
// k == 0 returns every index. Deterministic for a given (d, k, seed).
int64_t* fl_kshot_indices(const fl_images* d, int k, uint64_t seed, int64_t* n_out,
                          int* short_classes);

// The same sampler over a bare label array (n) with labels in [0, n_classes): what
// fl_kshot_indices and the manifests use, so both give the same split for the same labels.
int64_t* fl_kshot_from_labels(const int32_t* labels, int64_t n, int n_classes, int k,
                              uint64_t seed, int64_t* n_out, int* short_classes);

// Splits indices into (train, val) by holding out `val_per_class` per class, seeded.
void fl_split_holdout(const fl_images* d, const int64_t* idx, int64_t n, int val_per_class,
                      uint64_t seed, int64_t** train, int64_t* n_train, int64_t** val,
                      int64_t* n_val);

// A checked strdup (exits only on out-of-memory, like fl_malloc).
char* fl_strdup(const char* s);

// ---------------------------------------------------------------------------------------------
// Readers. Each fills *out (zeroed first) and returns 0, or fills err with one line naming the
// file and byte offset (or entry) and returns -1, leaving *out zeroed.

// Where Debian's dataset-fashion-mnist installs the gzip-compressed IDX files.
#define FL_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

// Fashion-MNIST from dir (NULL means FL_FASHION_MNIST_DIR): train-images-idx3-ubyte.gz and
// train-labels-idx1-ubyte.gz when train, else the t10k-* pair (a missing .gz falls back to the
// uncompressed name). (n, 1, 28, 28), 10 classes, mean 0.2860 std 0.3530.
int fl_load_fashion_mnist(const char* dir, int train, fl_images* out, fl_err* err);

// CIFAR-10 binary version from dir (the folder holding data_batch_1..5.bin and test_batch.bin,
// or its parent holding cifar-10-batches-bin/). (n, 3, 32, 32), 10 classes, names from
// batches.meta.txt when present. A truncated record or a label > 9 names file and byte offset.
int fl_load_cifar10(const char* dir, int train, fl_images* out, fl_err* err);

// CIFAR-100 binary version from dir (train.bin / test.bin, or the parent of cifar-100-binary/).
// Records are <coarse label><fine label><3072 pixels>; coarse = 0 gives the 100 fine classes,
// coarse = 1 the 20 superclasses. Names from fine_label_names.txt / coarse_label_names.txt.
int fl_load_cifar100(const char* dir, int train, int coarse, fl_images* out, fl_err* err);

// ---------------------------------------------------------------------------------------------
// The generic loader the train and sweep commands call.

// How images are brought to the model's resolution (uint8 stays uint8; see imageio.h).
typedef enum {
    FL_RESIZE_SQUARE = 0,     // Hugging Face ViT processor: bilinear (PIL, antialiased) to SxS
    FL_RESIZE_SHORT_CROP = 1  // shorter side to floor(S / crop_pct), then a center SxS crop
} fl_resize_mode;

// Per-channel normalisation applied when a batch is fetched.
typedef enum {
    FL_NORM_DEFAULT = 0,   // FL_NORM_HALF for image datasets, the reader's own for fashion-mnist
    FL_NORM_HALF = 1,      // mean 0.5, std 0.5 (Hugging Face ViT)
    FL_NORM_IMAGENET = 2,  // mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)
    FL_NORM_NATIVE = 3     // the reader's own values (fashion-mnist: 0.2860 / 0.3530; others 0.5)
} fl_norm_mode;

// Options of fl_dataset_open. Zero-initialise (or call fl_dataset_opts_default) and set what
// differs; every zero field means its documented default.
typedef struct fl_dataset_opts {
    const char* data_root;   // where NAME/ lives; NULL: $FLBENCH_DATA, else "datasets/data".
                             // fashion-mnist falls back to Debian's FL_FASHION_MNIST_DIR.
    const char* dataset_dir; // the dataset's own folder, overriding data_root/NAME (tests, odd
                             // layouts); NULL: data_root/NAME
    const char* cache_dir;   // NULL: <data_root>/cache. Manifests go to <data_root>/manifests.
    int shots;               // K training images per class; 0: the whole training split
    uint64_t seed;           // seed of the k-shot choice
    int image_size;          // S: output S x S. 0: native size for fashion-mnist and CIFAR
                             // (28, 32), 224 for every other dataset
    fl_resize_mode resize;   // FL_RESIZE_SQUARE (default) or FL_RESIZE_SHORT_CROP
    float crop_pct;          // for FL_RESIZE_SHORT_CROP; 0: 0.875 (224 -> shorter side 256)
    fl_norm_mode norm;       // FL_NORM_DEFAULT
    int no_cache;            // 1: decode into memory, never read or write the cache
    int verify_cache;        // 0: verify the pixel CRC only for caches up to 1 GiB;
                             // 1: always; -1: never (the header is always checked)
    int no_coop_split;       // 1: ignore a split_zhou_*.json even when present
    int cifar100_coarse;     // 1: CIFAR-100 with its 20 coarse labels
    int quiet;               // 1: no progress lines on stderr while a cache is built
} fl_dataset_opts;

// What fl_dataset_open did, for the run's log and CSV (all fields filled on success).
typedef struct fl_dataset_info {
    char root[1024];          // the dataset folder used
    char format[256];         // the format detected, e.g. "101_ObjectCategories + CoOp split"
    char train_manifest[1100];  // manifest file of the training split
    char test_manifest[1100];
    uint64_t train_checksum;  // manifest checksums (file list + class names)
    uint64_t test_checksum;
    int short_classes;        // classes with fewer than `shots` training images (all taken)
    int train_from_cache, test_from_cache;  // 1: mapped an existing valid cache
    int train_rebuilt, test_rebuilt;        // 1: (re)built the cache this call
    char cache_note[512];     // why a cache was rebuilt ("stale: manifest checksum ...")
} fl_dataset_info;

void fl_dataset_opts_default(fl_dataset_opts* o);

// The dataset names fl_dataset_open accepts, NULL-terminated:
// fashion-mnist, cifar10, cifar100, eurosat, caltech101, food101, flowers102, imagenet.
extern const char* const fl_dataset_names[];

// Opens dataset `name`: the k-shot training split (per o->shots, o->seed, recorded in a
// manifest that is reused when present) and the full test split, preprocessed to
// (3, S, S) uint8 (fashion-mnist: (1, 28, 28) at native size) with the chosen normalisation.
// With the cache on, both splits are memory-mapped cache files, built when missing, stale or
// corrupt. info may be NULL. Missing data fails with one line that names the fetch command.
int fl_dataset_open(const char* name, const fl_dataset_opts* o, fl_images* train,
                    fl_images* test, fl_dataset_info* info, fl_err* err);

// Whether dataset `name` is on disk where fl_dataset_open would look, without reading it:
// 1 present; 0 missing (err holds the one-line message naming the fetch command, which a sweep
// turns into cells marked missing-data); -1 unknown name or bad options.
int fl_dataset_available(const char* name, const fl_dataset_opts* o, fl_err* err);

#ifdef __cplusplus
}
#endif
