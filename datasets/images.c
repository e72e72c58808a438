// images.c: the operations every reader's fl_images shares: fetching a normalised float batch,
// freeing, keeping a range of classes, seeded k-shot sampling and a seeded hold-out split.
// Randomness comes only from Philox4x32-10 (impl/kernels/philox.h) keyed by the seed, never from
// libc rand, so a split is the same on every machine and libc.
#include "internal.h"
#include <string.h>
#include <sys/mman.h>
#include "../impl/kernels/philox.h"

// Philox stream ids (counter word 2) of the samplers here, so they never share numbers with
// the noise streams of the engine or with each other.
#define FL_STREAM_KSHOT 0x4B53484Fu    // "KSHO"
#define FL_STREAM_HOLDOUT 0x484F4C44u  // "HOLD"

void fl_images_batch(const fl_images* d, const int64_t* idx, int B, float* out) {
    // A lookup table per channel: lut[c][v] = (v/255 - mean[c]) / std[c], computed with the same
    // float operations a direct loop would use, so the result is identical and needs no divide.
    float lut[4][256];
    int c_n = d->c < 4 ? d->c : 4;
    for (int c = 0; c < c_n; c++) {
        float sd = d->std[c] != 0.0f ? d->std[c] : 1.0f;
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - d->mean[c]) / sd;
    }
    int64_t plane = (int64_t)d->h * d->w;
    int64_t dim = fl_images_dim(d);
#pragma omp parallel for schedule(static) if (B * dim > 65536)
    for (int b = 0; b < B; b++) {
        const uint8_t* src = d->pix + idx[b] * dim;
        float* dst = out + (int64_t)b * dim;
        for (int c = 0; c < d->c; c++) {
            const float* t = lut[c < 4 ? c : 3];
            const uint8_t* s = src + c * plane;
            float* o = dst + c * plane;
            for (int64_t i = 0; i < plane; i++) o[i] = t[s[i]];
        }
    }
}

void fl_images_free(fl_images* d) {
    if (!d) return;
    free(d->pix_owner);
    if (d->map_base) munmap(d->map_base, d->map_len);
    free(d->labels);
    if (d->class_names) {
        for (int k = 0; k < d->n_classes; k++) free(d->class_names[k]);
        free(d->class_names);
    }
    memset(d, 0, sizeof *d);
}

void fl_images_release(const fl_images* d, int64_t first, int64_t n) {
    if (!d->map_base || n <= 0) return;
    const uint8_t* base = (const uint8_t*)d->map_base;
    size_t page = 4096;
    size_t lo = (size_t)(d->pix - base) + (size_t)(first * fl_images_dim(d));
    size_t hi = lo + (size_t)(n * fl_images_dim(d));
    // Whole pages strictly inside the range only, so neighbours stay untouched.
    lo = (lo + page - 1) / page * page;
    hi = hi / page * page;
    if (hi > d->map_len) hi = d->map_len / page * page;
    if (hi > lo) madvise((void*)(base + lo), hi - lo, MADV_DONTNEED);
}

void fl_images_select_classes(fl_images* d, int lo, int hi) {
    if (lo < 0) lo = 0;
    if (hi >= d->n_classes) hi = d->n_classes - 1;
    if (hi < lo) hi = lo - 1;  // keeps nothing
    int64_t dim = fl_images_dim(d);
    // Pixels are compacted in place when we own them; a mapping is read-only, so the kept
    // images are copied out into a new heap buffer and the mapping is released.
    uint8_t* dst = d->pix_owner;
    int64_t kept = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int y = d->labels[i];
        if (y >= lo && y <= hi) kept++;
    }
    if (!dst) dst = (uint8_t*)fl_malloc((size_t)(kept * dim));
    int64_t j = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int y = d->labels[i];
        if (y < lo || y > hi) continue;
        if (dst + j * dim != d->pix + i * dim) memmove(dst + j * dim, d->pix + i * dim, (size_t)dim);
        d->labels[j] = y - lo;
        j++;
    }
    if (!d->pix_owner && d->map_base) {
        munmap(d->map_base, d->map_len);
        d->map_base = NULL;
        d->map_len = 0;
    }
    d->pix_owner = dst;
    d->pix = dst;
    d->n = kept;
    if (d->class_names) {
        for (int k = 0; k < d->n_classes; k++)
            if (k < lo || k > hi) free(d->class_names[k]);
        for (int k = lo; k <= hi; k++) d->class_names[k - lo] = d->class_names[k];
    }
    d->n_classes = hi - lo + 1;
}

// A uniform integer in [0, m) from Philox(counter = (draw, group, stream, 0), key = seed).
// The 64 random bits are mapped by the multiply-shift method; its bias is at most m / 2^64.
static uint64_t fl_uniform_below(uint64_t seed, uint32_t stream, uint32_t group, uint32_t draw,
                                 uint64_t m) {
    fl_u32x4 c = {{draw, group, stream, 0}};
    fl_u32x4 r = fl_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    uint64_t x = ((uint64_t)r.v[0] << 32) | r.v[1];
    return (uint64_t)(((unsigned __int128)x * m) >> 64);
}

// Fisher-Yates shuffle of a[0..n) with draws keyed by (seed, stream, group).
void fl_shuffle_i64(int64_t* a, int64_t n, uint64_t seed, uint32_t stream, uint32_t group) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)fl_uniform_below(seed, stream, group, (uint32_t)i, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int fl_cmp_i64(const void* a, const void* b) {
    int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
    return (x > y) - (x < y);
}

// Buckets the positions 0..n) of labels by class: start (n_classes+1) offsets into order (n),
// each bucket in ascending position order. Labels outside [0, n_classes) are skipped.
static void fl_bucket_by_class(const int32_t* labels, const int64_t* idx, int64_t n, int n_classes,
                               int64_t** start_out, int64_t** order_out) {
    int64_t* start = (int64_t*)fl_calloc((size_t)n_classes + 1, sizeof(int64_t));
    int64_t* order = (int64_t*)fl_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        int64_t id = idx ? idx[i] : i;
        int y = labels[id];
        if (y >= 0 && y < n_classes) start[y + 1]++;
    }
    for (int k = 0; k < n_classes; k++) start[k + 1] += start[k];
    int64_t* fill = (int64_t*)fl_malloc((size_t)n_classes * sizeof(int64_t) + 1);
    memcpy(fill, start, (size_t)n_classes * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        int64_t id = idx ? idx[i] : i;
        int y = labels[id];
        if (y >= 0 && y < n_classes) order[fill[y]++] = id;
    }
    free(fill);
    *start_out = start;
    *order_out = order;
}

int64_t* fl_kshot_from_labels(const int32_t* labels, int64_t n, int n_classes, int k,
                              uint64_t seed, int64_t* n_out, int* short_classes) {
    if (short_classes) *short_classes = 0;
    if (k <= 0) {
        int64_t* all = (int64_t*)fl_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) all[i] = i;
        *n_out = n;
        return all;
    }
    int64_t *start, *order;
    fl_bucket_by_class(labels, NULL, n, n_classes, &start, &order);
    int64_t* out = (int64_t*)fl_malloc((size_t)n_classes * (size_t)k * sizeof(int64_t) + 1);
    int64_t m = 0;
    for (int c = 0; c < n_classes; c++) {
        int64_t* bucket = order + start[c];
        int64_t count = start[c + 1] - start[c];
        int64_t take = count < k ? count : k;
        if (count < k && short_classes) (*short_classes)++;
        // Shuffle the class's images, keep the first `take`, and list them in file order.
        fl_shuffle_i64(bucket, count, seed, FL_STREAM_KSHOT, (uint32_t)c);
        qsort(bucket, (size_t)take, sizeof(int64_t), fl_cmp_i64);
        memcpy(out + m, bucket, (size_t)take * sizeof(int64_t));
        m += take;
    }
    free(start);
    free(order);
    *n_out = m;
    return out;
}

int64_t* fl_kshot_indices(const fl_images* d, int k, uint64_t seed, int64_t* n_out,
                          int* short_classes) {
    return fl_kshot_from_labels(d->labels, d->n, d->n_classes, k, seed, n_out, short_classes);
}

void fl_split_holdout(const fl_images* d, const int64_t* idx, int64_t n, int val_per_class,
                      uint64_t seed, int64_t** train, int64_t* n_train, int64_t** val,
                      int64_t* n_val) {
    int64_t *start, *order;
    fl_bucket_by_class(d->labels, idx, n, d->n_classes, &start, &order);
    int64_t* tr = (int64_t*)fl_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t* va = (int64_t*)fl_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t nt = 0, nv = 0;
    for (int c = 0; c < d->n_classes; c++) {
        int64_t* bucket = order + start[c];
        int64_t count = start[c + 1] - start[c];
        // A class always keeps at least one training image: hold out min(val_per_class, count-1).
        int64_t hold = val_per_class < count - 1 ? val_per_class : count - 1;
        if (hold < 0) hold = 0;
        fl_shuffle_i64(bucket, count, seed, FL_STREAM_HOLDOUT, (uint32_t)c);
        qsort(bucket, (size_t)hold, sizeof(int64_t), fl_cmp_i64);
        qsort(bucket + hold, (size_t)(count - hold), sizeof(int64_t), fl_cmp_i64);
        memcpy(va + nv, bucket, (size_t)hold * sizeof(int64_t));
        memcpy(tr + nt, bucket + hold, (size_t)(count - hold) * sizeof(int64_t));
        nv += hold;
        nt += count - hold;
    }
    free(start);
    free(order);
    *train = tr;
    *n_train = nt;
    *val = va;
    *n_val = nv;
}

char* fl_strdup(const char* s) {
    size_t len = strlen(s);
    char* p = (char*)fl_malloc(len + 1);
    memcpy(p, s, len + 1);
    return p;
}
