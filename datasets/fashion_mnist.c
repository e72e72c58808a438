// fashion_mnist.c: the Fashion-MNIST reader for the IDX format, gzip-compressed as Debian's
// dataset-fashion-mnist installs it (/usr/share/datasets/fashion-mnist), read through zlib's
// gzread (which also reads an uncompressed file transparently).
//
// IDX layout (big-endian): images "00 00 08 03", count, rows, cols, then count*rows*cols bytes;
// labels "00 00 08 01", count, then count bytes. Every check names the file and the byte offset
// in the uncompressed stream; nothing is read past what the header promises, the data must
// end exactly where it says, and memory grows with the data read, not with the header's count.
#include "dataset.h"
#include <string.h>
#include <zlib.h>

// Per-pixel mean and standard deviation of x/255 over the 60,000 training images, the values
// used throughout the literature (e.g. torchvision examples for FashionMNIST). The unit test
// test_fashion_mnist.c recomputes both from the Debian files and checks them to 5e-4.
#define FL_FMNIST_MEAN 0.2860f
#define FL_FMNIST_STD 0.3530f

static const char* const fl_fmnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// An open IDX stream: its path, the zlib handle and how many uncompressed bytes were read.
typedef struct {
    char path[1024];
    gzFile f;
    int64_t off;
} fl_idx_file;

// Opens dir/base.gz, falling back to dir/base (uncompressed).
static int fl_idx_open(fl_idx_file* x, const char* dir, const char* base, fl_err* err) {
    memset(x, 0, sizeof *x);
    snprintf(x->path, sizeof x->path, "%s/%s.gz", dir, base);
    x->f = gzopen(x->path, "rb");
    if (!x->f) {
        char plain[1024];
        snprintf(plain, sizeof plain, "%s/%s", dir, base);
        x->f = gzopen(plain, "rb");
        if (!x->f)
            return fl_fail(err, "fashion-mnist: cannot open %s (nor %s): expected the IDX files of "
                                "Debian's dataset-fashion-mnist", x->path, plain);
        memcpy(x->path, plain, sizeof plain);
    }
    gzbuffer(x->f, 1 << 17);
    return 0;
}

static void fl_idx_close(fl_idx_file* x) {
    if (x->f) gzclose(x->f);
    x->f = NULL;
}

// zlib's message without the "path: " prefix gzerror puts on it (the caller names the file).
static const char* fl_gz_msg(fl_idx_file* x, int* zerr) {
    const char* m = gzerror(x->f, zerr);
    size_t plen = strlen(x->path);
    if (m && strncmp(m, x->path, plen) == 0 && m[plen] == ':') m += plen + 1;
    while (m && *m == ' ') m++;
    return m ? m : "";
}

// Reads exactly len bytes, or fails naming the offset where the data ran out or was corrupt.
// rest: bytes the caller reads right after these ones (counted in "expected N more bytes").
static int fl_idx_read_part(fl_idx_file* x, void* buf, size_t len, size_t rest, const char* what,
                            fl_err* err) {
    size_t got = 0;
    while (got < len) {
        size_t chunk = len - got > (1u << 30) ? (1u << 30) : len - got;
        int r = gzread(x->f, (char*)buf + got, (unsigned)chunk);
        if (r < 0) {
            int zerr;
            const char* zmsg = fl_gz_msg(x, &zerr);
            return fl_fail(err, "%s: corrupt gzip data near byte %lld of the uncompressed stream "
                                "while reading %s: %s",
                           x->path, (long long)(x->off + (int64_t)got), what, zmsg);
        }
        if (r == 0) {
            int zerr;
            const char* zmsg = fl_gz_msg(x, &zerr);
            return fl_fail(err, "%s: truncated at byte %lld while reading %s: expected %zu more "
                                "bytes, found the end of the data%s%s",
                           x->path, (long long)(x->off + (int64_t)got), what, len - got + rest,
                           zerr != Z_OK ? ", zlib: " : "", zerr != Z_OK ? zmsg : "");
        }
        got += (size_t)r;
    }
    x->off += (int64_t)len;
    return 0;
}

static int fl_idx_read(fl_idx_file* x, void* buf, size_t len, const char* what, fl_err* err) {
    return fl_idx_read_part(x, buf, len, 0, what, err);
}

// First size of the buffer fl_idx_read_new grows.
#define FL_IDX_FIRST_CHUNK ((size_t)1 << 20)

// Reads exactly len bytes into a new buffer (*out) that grows with what was read: 1 MiB, then
// doubling. A header that promises more than the file holds (a 26-byte file may claim ten
// million images, 7.8 GB) costs at most twice what the file does hold before it fails.
static int fl_idx_read_new(fl_idx_file* x, size_t len, const char* what, uint8_t** out,
                           fl_err* err) {
    size_t cap = len < FL_IDX_FIRST_CHUNK ? len : FL_IDX_FIRST_CHUNK, got = 0;
    uint8_t* buf = (uint8_t*)fl_malloc(cap);
    while (got < len) {
        if (got == cap) {
            cap = len - cap < cap ? len : 2 * cap;
            buf = (uint8_t*)fl_realloc(buf, cap);
        }
        if (fl_idx_read_part(x, buf + got, cap - got, len - cap, what, err)) {
            free(buf);
            return -1;
        }
        got = cap;
    }
    *out = buf;
    return 0;
}

static int fl_idx_u32(fl_idx_file* x, uint32_t* v, const char* what, fl_err* err) {
    unsigned char b[4];
    if (fl_idx_read(x, b, 4, what, err)) return -1;
    *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    return 0;
}

// After the promised data, the stream must end (trailing bytes mean the header is wrong).
static int fl_idx_expect_end(fl_idx_file* x, fl_err* err) {
    char c;
    int r = gzread(x->f, &c, 1);
    if (r < 0) {
        int zerr;
        return fl_fail(err, "%s: corrupt gzip data after byte %lld: %s", x->path,
                       (long long)x->off, fl_gz_msg(x, &zerr));
    }
    if (r > 0)
        return fl_fail(err, "%s: unexpected data at byte %lld: the header's count says the file "
                            "ends there", x->path, (long long)x->off);
    return 0;
}

// Largest image count accepted from a header before allocating (guards a corrupt count).
#define FL_IDX_MAX_COUNT 10000000u

int fl_load_fashion_mnist(const char* dir, int train, fl_images* out, fl_err* err) {
    memset(out, 0, sizeof *out);
    if (!dir) dir = FL_FASHION_MNIST_DIR;
    const char* img_base = train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
    const char* lab_base = train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
    fl_idx_file fi, fla;
    if (fl_idx_open(&fi, dir, img_base, err)) return -1;
    if (fl_idx_open(&fla, dir, lab_base, err)) {
        fl_idx_close(&fi);
        return -1;
    }
    uint8_t* pix = NULL;
    int32_t* labels = NULL;
    uint8_t* raw_labels = NULL;
    uint32_t magic, n, rows, cols, n_lab, lab_magic;

    // --- image header
    if (fl_idx_u32(&fi, &magic, "the magic number", err)) goto fail;
    if (magic != 0x00000803u) {
        fl_fail(err, "%s: byte 0: wrong magic number: expected 0x00000803 (IDX uint8, 3 dims), "
                     "found 0x%08x", fi.path, magic);
        goto fail;
    }
    if (fl_idx_u32(&fi, &n, "the image count", err)) goto fail;
    if (fl_idx_u32(&fi, &rows, "the row count", err)) goto fail;
    if (fl_idx_u32(&fi, &cols, "the column count", err)) goto fail;
    if (rows != 28 || cols != 28) {
        fl_fail(err, "%s: byte 8: wrong image size: expected 28x28, found %ux%u", fi.path, rows,
                cols);
        goto fail;
    }
    if (n == 0 || n > FL_IDX_MAX_COUNT) {
        fl_fail(err, "%s: byte 4: implausible image count: expected 1..%u, found %u", fi.path,
                FL_IDX_MAX_COUNT, n);
        goto fail;
    }
    // --- label header
    if (fl_idx_u32(&fla, &lab_magic, "the magic number", err)) goto fail;
    if (lab_magic != 0x00000801u) {
        fl_fail(err, "%s: byte 0: wrong magic number: expected 0x00000801 (IDX uint8, 1 dim), "
                     "found 0x%08x", fla.path, lab_magic);
        goto fail;
    }
    if (fl_idx_u32(&fla, &n_lab, "the label count", err)) goto fail;
    if (n_lab != n) {
        fl_fail(err, "%s: byte 4: label count %u does not match the image count %u of %s",
                fla.path, n_lab, n, fi.path);
        goto fail;
    }
    // --- data (the labels are allocated once the pixels, 784 bytes per label, were read)
    size_t dim = (size_t)rows * cols;
    if (fl_idx_read_new(&fi, (size_t)n * dim, "the pixels", &pix, err)) goto fail;
    if (fl_idx_expect_end(&fi, err)) goto fail;
    raw_labels = (uint8_t*)fl_malloc(n);
    if (fl_idx_read(&fla, raw_labels, n, "the labels", err)) goto fail;
    if (fl_idx_expect_end(&fla, err)) goto fail;
    labels = (int32_t*)fl_malloc((size_t)n * sizeof(int32_t));
    for (uint32_t i = 0; i < n; i++) {
        if (raw_labels[i] > 9) {
            fl_fail(err, "%s: byte %u: label out of range: expected 0..9, found %u", fla.path,
                    8 + i, raw_labels[i]);
            goto fail;
        }
        labels[i] = raw_labels[i];
    }
    free(raw_labels);
    fl_idx_close(&fi);
    fl_idx_close(&fla);

    snprintf(out->name, sizeof out->name, "fashion-mnist");
    out->n = n;
    out->c = 1;
    out->h = (int)rows;
    out->w = (int)cols;
    out->n_classes = 10;
    out->pix_owner = pix;
    out->pix = pix;
    out->labels = labels;
    out->mean[0] = FL_FMNIST_MEAN;
    out->std[0] = FL_FMNIST_STD;
    out->class_names = (char**)fl_malloc(10 * sizeof(char*));
    for (int k = 0; k < 10; k++) out->class_names[k] = fl_strdup(fl_fmnist_classes[k]);
    return 0;

fail:
    free(pix);
    free(labels);
    free(raw_labels);
    fl_idx_close(&fi);
    fl_idx_close(&fla);
    return -1;
}
