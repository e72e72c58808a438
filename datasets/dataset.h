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

// Keeps only the images whose label is in [lo, hi], relabelled to [0, hi-lo]
// (used for the few-shot transfer split: pretrain on classes 0-4, fine-tune on 5-9).
void fl_images_select_classes(fl_images* d, int lo, int hi);

// Seeded k-shot indices: k images per class (all of a class when it has fewer, and
// *short_classes counts those). Returns a malloc'd array of *n_out indices in class order.
// k == 0 returns every index. Deterministic for a given (d, k, seed).
int64_t* fl_kshot_indices(const fl_images* d, int k, uint64_t seed, int64_t* n_out,
                          int* short_classes);

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

#ifdef __cplusplus
}
#endif
