// cache.c: the preprocessed cache, one file per (dataset, split source, split, shots, seed,
// preprocessing), holding uint8 images exactly as fl_images wants them, memory-mapped when used
// so a test set as large as ImageNet's validation set streams from disk and is never resident
// all at once.
//
// File layout (little-endian):
//   [0, 4096)              fl_cache_header (below), zero-padded
//   [4096, ...)            labels, int32 (n)
//   [pixels_offset, end)   pixels, uint8 (n, c, h, w); pixels_offset is 4096-aligned
// The header carries what the file must match to be used (shape, count, preprocessing options,
// the manifest checksum of the split) plus a CRC of itself and of the data, a completion flag
// and the file size. Anything that differs makes the cache stale; a bad CRC, a wrong size or a
// missing completion flag makes it corrupt; either way it is rebuilt. A file is written under a
// temporary name and renamed into place only when complete, so readers never see half a cache.
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <omp.h>

#define FL_CACHE_MAGIC "FLBCACHE"
#define FL_CACHE_VERSION 1u
#define FL_CACHE_HEADER_BYTES 4096u
#define FL_CACHE_VERIFY_AUTO_MAX (1ull << 30)

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    char dataset[64];
    char split[32];
    int64_t n;
    int32_t c, h, w, n_classes;
    int32_t resize_mode, image_size;
    float crop_pct;
    uint32_t pad0;
    uint64_t manifest_checksum;
    uint64_t labels_offset, pixels_offset, file_bytes;
    uint32_t data_crc;    // zlib crc32 of the label bytes, then the pixel bytes
    uint32_t complete;    // 1 once every image is written
    uint32_t header_crc;  // crc32 of the header bytes before this field
    uint32_t pad1;
} fl_cache_header;

_Static_assert(sizeof(fl_cache_header) <= FL_CACHE_HEADER_BYTES, "cache header too large");

static uint32_t fl_header_crc(const fl_cache_header* h) {
    return (uint32_t)crc32_z(0, (const Bytef*)h, offsetof(fl_cache_header, header_crc));
}

static uint64_t fl_align4k(uint64_t x) { return (x + 4095u) & ~(uint64_t)4095u; }

static void fl_header_from_key(const fl_cache_key* k, fl_cache_header* h) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, FL_CACHE_MAGIC, 8);
    h->version = FL_CACHE_VERSION;
    h->header_bytes = FL_CACHE_HEADER_BYTES;
    snprintf(h->dataset, sizeof h->dataset, "%s", k->dataset);
    snprintf(h->split, sizeof h->split, "%s", k->split);
    h->n = k->n;
    h->c = k->c;
    h->h = k->h;
    h->w = k->w;
    h->n_classes = k->n_classes;
    h->resize_mode = k->resize_mode;
    h->image_size = k->image_size;
    h->crop_pct = k->crop_pct;
    h->manifest_checksum = k->manifest_checksum;
    h->labels_offset = FL_CACHE_HEADER_BYTES;
    h->pixels_offset = fl_align4k(FL_CACHE_HEADER_BYTES + 4ull * (uint64_t)k->n);
    h->file_bytes = h->pixels_offset + (uint64_t)k->n * k->c * k->h * k->w;
}

// The first field where the file's header differs from the expected one, or NULL.
static const char* fl_header_diff(const fl_cache_header* f, const fl_cache_header* e, char* buf,
                                  size_t len) {
    if (strncmp(f->dataset, e->dataset, sizeof f->dataset) != 0 ||
        strncmp(f->split, e->split, sizeof f->split) != 0) {
        snprintf(buf, len, "holds %.64s/%.32s, expected %.64s/%.32s", f->dataset, f->split,
                 e->dataset, e->split);
        return buf;
    }
    if (f->manifest_checksum != e->manifest_checksum) {
        snprintf(buf, len, "manifest checksum %016" PRIx64 ", expected %016" PRIx64,
                 f->manifest_checksum, e->manifest_checksum);
        return buf;
    }
    if (f->n != e->n || f->c != e->c || f->h != e->h || f->w != e->w ||
        f->n_classes != e->n_classes) {
        snprintf(buf, len, "shape %" PRId64 "x%dx%dx%d (%d classes), expected %" PRId64
                           "x%dx%dx%d (%d classes)",
                 f->n, f->c, f->h, f->w, f->n_classes, e->n, e->c, e->h, e->w, e->n_classes);
        return buf;
    }
    if (f->resize_mode != e->resize_mode || f->image_size != e->image_size ||
        f->crop_pct != e->crop_pct) {
        snprintf(buf, len, "preprocessing (mode %d, size %d, crop %.3f), expected (mode %d, "
                           "size %d, crop %.3f)",
                 f->resize_mode, f->image_size, f->crop_pct, e->resize_mode, e->image_size,
                 e->crop_pct);
        return buf;
    }
    return NULL;
}

int fl_cache_open(const char* path, const fl_cache_key* key, int verify, fl_images* out,
                  char* note, size_t note_len, fl_err* err) {
    memset(out, 0, sizeof *out);
    if (note && note_len) note[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            if (note) snprintf(note, note_len, "no cache yet");
            return 1;
        }
        return fl_fail(err, "cache %s: cannot open: %m", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return fl_fail(err, "cache %s: cannot stat: %m", path);
    }
    fl_cache_header h, want;
    fl_header_from_key(key, &want);
    char why[400];
    const char* stale = NULL;
    if ((uint64_t)st.st_size < FL_CACHE_HEADER_BYTES ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        snprintf(why, sizeof why, "corrupt: %lld bytes, shorter than its header", (long long)st.st_size);
        stale = why;
    } else if (memcmp(h.magic, FL_CACHE_MAGIC, 8) != 0) {
        stale = "corrupt: byte 0: not an flbench cache (bad magic)";
    } else if (h.version != FL_CACHE_VERSION) {
        snprintf(why, sizeof why, "stale: format version %u, expected %u", h.version, FL_CACHE_VERSION);
        stale = why;
    } else if (h.header_crc != fl_header_crc(&h)) {
        stale = "corrupt: header checksum mismatch";
    } else if (!h.complete) {
        stale = "corrupt: incomplete (its build was interrupted)";
    } else if (h.file_bytes != (uint64_t)st.st_size || h.labels_offset != want.labels_offset ||
               h.pixels_offset != want.pixels_offset) {
        snprintf(why, sizeof why, "corrupt: %lld bytes, the header says %" PRIu64,
                 (long long)st.st_size, h.file_bytes);
        stale = why;
    } else {
        char diff[300];
        const char* d = fl_header_diff(&h, &want, diff, sizeof diff);
        if (d) {
            snprintf(why, sizeof why, "stale: %s", d);
            stale = why;
        }
    }
    if (stale) {
        close(fd);
        if (note) snprintf(note, note_len, "cache %s: %s", path, stale);
        return 1;
    }
    void* base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return fl_fail(err, "cache %s: cannot map %lld bytes: %m", path, (long long)st.st_size);
    const uint8_t* b = (const uint8_t*)base;
    int do_verify = verify > 0 || (verify == 0 && (uint64_t)st.st_size <= FL_CACHE_VERIFY_AUTO_MAX);
    if (do_verify) {
        uLong crc = crc32_z(0, b + h.labels_offset, 4u * (size_t)h.n);
        crc = crc32_z(crc, b + h.pixels_offset, (size_t)(h.file_bytes - h.pixels_offset));
        if ((uint32_t)crc != h.data_crc) {
            munmap(base, (size_t)st.st_size);
            if (note) snprintf(note, note_len, "cache %s: corrupt: data checksum mismatch", path);
            return 1;
        }
    }
    int32_t* labels = (int32_t*)fl_malloc(4u * (size_t)(h.n ? h.n : 1));
    memcpy(labels, b + h.labels_offset, 4u * (size_t)h.n);
    for (int64_t i = 0; i < h.n; i++)
        if (labels[i] < 0 || labels[i] >= h.n_classes) {
            int32_t found = labels[i];
            free(labels);
            munmap(base, (size_t)st.st_size);
            if (note)
                snprintf(note, note_len, "cache %s: corrupt: byte %" PRIu64 ": record %" PRId64
                                         ": label %d out of range, expected 0..%d",
                         path, h.labels_offset + 4u * (uint64_t)i, i, found, h.n_classes - 1);
            return 1;
        }
    snprintf(out->name, sizeof out->name, "%s", h.dataset);
    out->n = h.n;
    out->c = h.c;
    out->h = h.h;
    out->w = h.w;
    out->n_classes = h.n_classes;
    out->labels = labels;
    out->map_base = base;
    out->map_len = (size_t)st.st_size;
    out->pix = b + h.pixels_offset;
    return 0;
}

int fl_cache_build(const char* path, const fl_cache_key* key, const int32_t* labels,
                   fl_cache_fill_fn fill, void* ctx, int quiet, fl_images* out, fl_err* err) {
    fl_cache_header h;
    fl_header_from_key(key, &h);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE* f = fopen(tmp, "wb");
    if (!f) return fl_fail(err, "cache %s: cannot create: %m", tmp);
    static const uint8_t zeros[4096];
    size_t dim = (size_t)key->c * key->h * key->w;
    int64_t chunk = 256;
    uint8_t* buf = (uint8_t*)fl_malloc((size_t)chunk * dim);
    uLong crc = 0;
    int rc = -1;
    // Header placeholder (complete = 0), labels, padding up to the pixels.
    if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(zeros, FL_CACHE_HEADER_BYTES - sizeof h, 1, f) != 1)
        goto io_fail;
    if (key->n && fwrite(labels, 4, (size_t)key->n, f) != (size_t)key->n) goto io_fail;
    crc = crc32_z(crc, (const Bytef*)labels, 4u * (size_t)key->n);
    size_t pad = (size_t)(h.pixels_offset - FL_CACHE_HEADER_BYTES - 4u * (uint64_t)key->n);
    if (pad && fwrite(zeros, pad, 1, f) != 1) goto io_fail;

    int tty = !quiet && isatty(2);
    double t0 = fl_now(), t_last = t0;
    for (int64_t s = 0; s < key->n; s += chunk) {
        int64_t m = key->n - s < chunk ? key->n - s : chunk;
        int64_t bad_i = -1;
        fl_err first = {{0}};
#pragma omp parallel for schedule(dynamic, 4)
        for (int64_t j = 0; j < m; j++) {
            fl_err e;
            if (fill(ctx, s + j, buf + (size_t)j * dim, &e) != 0) {
#pragma omp critical(fl_cache_err)
                if (bad_i < 0 || s + j < bad_i) {
                    bad_i = s + j;
                    first = e;
                }
            }
        }
        if (bad_i >= 0) {
            if (err) *err = first;
            fclose(f);
            unlink(tmp);
            free(buf);
            return -1;
        }
        if (fwrite(buf, dim, (size_t)m, f) != (size_t)m) goto io_fail;
        crc = crc32_z(crc, buf, (size_t)m * dim);
        double now = fl_now();
        if (tty && (now - t_last > 0.5 || s + m == key->n)) {
            fprintf(stderr, "\rcache: %s %s: %" PRId64 "/%" PRId64 " images, %.0f images/s   ",
                    key->dataset, key->split, s + m, key->n, (double)(s + m) / (now - t0 + 1e-9));
            t_last = now;
        }
    }
    if (tty) fputc('\n', stderr);
    h.data_crc = (uint32_t)crc;
    h.complete = 1;
    h.header_crc = fl_header_crc(&h);
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0 || fwrite(&h, sizeof h, 1, f) != 1 ||
        fflush(f) != 0 || fsync(fileno(f)) != 0)
        goto io_fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto io_fail;
    }
    f = NULL;
    free(buf);
    buf = NULL;
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return fl_fail(err, "cache %s: cannot rename %s into place: %m", path, tmp);
    }
    char note[600];
    rc = fl_cache_open(path, key, -1, out, note, sizeof note, err);
    if (rc == 1) return fl_fail(err, "cache %s: unusable right after writing it: %s", path, note);
    return rc;
io_fail:
    fl_fail(err, "cache %s: write failed: %m (disk full?)", tmp);
    if (f) fclose(f);
    unlink(tmp);
    free(buf);
    return -1;
}
