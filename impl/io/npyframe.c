// npyframe.c: .npy arrays in memory (encode, decode) and length-prefixed frames on file
// descriptors, with deadlines through poll(2). See npyframe.h.
#include "npyframe.h"
#include "iofile.h"
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npyframe.c assumes a little-endian host"
#endif

static const char frame_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

const char* fl_npy_dtype_descr(int dtype) {
    switch (dtype) {
    case FL_NPY_F32: return "<f4";
    case FL_NPY_I32: return "<i4";
    case FL_NPY_I64: return "<i8";
    default: return "?";
    }
}

int fl_npy_dtype_size(int dtype) {
    return dtype == FL_NPY_F32 || dtype == FL_NPY_I32 ? 4 : dtype == FL_NPY_I64 ? 8 : 0;
}

void fl_npy_array_free(fl_npy_array* arr) {
    if (!arr) return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}

// ---- encode ---------------------------------------------------------------------------------

int fl_npy_encode_header(int dtype, int ndim, const int64_t* shape, unsigned char* hdr, size_t hdr_size,
                         int64_t* numel, fl_err* err) {
    if (!fl_npy_dtype_size(dtype)) return fl_fail(err, "cannot encode a .npy of dtype code %d, expected float32, int32 or int64", dtype);
    if (ndim < 0 || ndim > FL_NPY_MAX_DIMS)
        return fl_fail(err, "cannot encode a .npy array of %d dimensions, expected 0 to %d", ndim, FL_NPY_MAX_DIMS);
    char dict[512];
    size_t at = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                 fl_npy_dtype_descr(dtype));
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return fl_fail(err, "cannot encode a .npy array with dimension %d of size %lld", d, (long long)shape[d]);
        if (__builtin_mul_overflow(n, (uint64_t)shape[d], &n) || n > FL_FRAME_MAX_BYTES)
            return fl_fail(err, "cannot encode a .npy array of more than %u elements", FL_FRAME_MAX_BYTES);
        at += (size_t)snprintf(dict + at, sizeof dict - at, d ? ", %lld" : "%lld", (long long)shape[d]);
    }
    at += (size_t)snprintf(dict + at, sizeof dict - at, "%s), }", ndim == 1 ? "," : "");
    // version 1.0: 10-byte preamble; preamble + dict + padding + '\n' a multiple of 64
    size_t total = (10 + at + 1 + 63) / 64 * 64, hlen = total - 10;
    if (total > hdr_size) return fl_fail(err, "cannot encode a .npy header of %zu bytes into %zu", total, hdr_size);
    memcpy(hdr, frame_magic, 6);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (unsigned char)(hlen & 0xff);
    hdr[9] = (unsigned char)(hlen >> 8);
    memcpy(hdr + 10, dict, at);
    memset(hdr + 10 + at, ' ', hlen - at - 1);
    hdr[total - 1] = '\n';
    *numel = (int64_t)n;
    return (int)total;
}

int fl_npy_encode(int dtype, int ndim, const int64_t* shape, const void* data, unsigned char** out,
                  size_t* out_len, fl_err* err) {
    unsigned char hdr[640];
    int64_t numel;
    int hlen = fl_npy_encode_header(dtype, ndim, shape, hdr, sizeof hdr, &numel, err);
    if (hlen < 0) return -1;
    size_t data_bytes = (size_t)numel * (size_t)fl_npy_dtype_size(dtype);
    if (data_bytes && !data) return fl_fail(err, "cannot encode a .npy array of %lld elements without data", (long long)numel);
    *out = fl_malloc((size_t)hlen + data_bytes + 1);
    memcpy(*out, hdr, (size_t)hlen);
    if (data_bytes) memcpy(*out + hlen, data, data_bytes);
    *out_len = (size_t)hlen + data_bytes;
    return 0;
}

// ---- decode ---------------------------------------------------------------------------------

int fl_npy_decode(const void* buf, size_t len, const char* where, fl_npy_array* arr, fl_err* err) {
    memset(arr, 0, sizeof *arr);
    const unsigned char* b = buf;
    if (len >= 6 && memcmp(b, frame_magic, 6) != 0)
        return fl_fail(err, "%s: its first 6 bytes are not the .npy magic \"\\x93NUMPY\"", where);
    if (len < 10) return fl_fail(err, "%s: truncated .npy: %zu bytes, shorter than the 10-byte preamble", where, len);
    int major = b[6], minor = b[7];
    size_t hlen, hstart;
    if (major == 1 && minor == 0) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12)
            return fl_fail(err, "%s: truncated .npy: %zu bytes, shorter than the 12-byte version %d.0 preamble", where,
                           len, major);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hstart = 12;
    } else {
        return fl_fail(err, "%s: .npy format version %d.%d at byte offset 6, expected 1.0, 2.0 or 3.0", where, major,
                       minor);
    }
    if (hlen > len - hstart)
        return fl_fail(err, "%s: truncated .npy: the header length at byte offset 8 says %zu bytes, but only %zu follow",
                       where, hlen, len - hstart);
    const char* text = (const char*)b + hstart;
    if (hlen == 0 || text[hlen - 1] != '\n')
        return fl_fail(err, "%s: .npy header (bytes %zu..%zu) does not end with a newline", where, hstart, hstart + hlen);
    char descr[32] = {0};
    int fortran = 0, ndim = 0;
    int64_t shape[FL_NPY_MAX_DIMS] = {0};
    if (fl_npy_parse_header(text, hlen, hstart, where, descr, sizeof descr, &fortran, &ndim, shape, err)) return -1;
    int dtype = strcmp(descr, "<f4") == 0 ? FL_NPY_F32 : strcmp(descr, "<i4") == 0 ? FL_NPY_I32
              : strcmp(descr, "<i8") == 0 ? FL_NPY_I64 : -1;
    if (dtype < 0) {
        if (descr[0] == '>')
            return fl_fail(err, "%s: .npy array is big-endian (descr '%s'), expected little-endian '<f4', '<i4' or '<i8'",
                           where, descr);
        return fl_fail(err, "%s: .npy array has dtype '%s', expected '<f4' (float32), '<i4' (int32) or '<i8' (int64)",
                       where, descr);
    }
    if (fortran)
        return fl_fail(err, "%s: .npy array is in Fortran order (fortran_order True), expected C order (False)", where);
    int itemsize = fl_npy_dtype_size(dtype);
    uint64_t numel = 1;
    char sbuf[256];
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(numel, (uint64_t)shape[d], &numel) || numel > (uint64_t)INT64_MAX / 8)
            return fl_fail(err, "%s: .npy shape %s has more elements than fit in 64 bits", where,
                           fl_shape_str(sbuf, sizeof sbuf, ndim, shape));
    uint64_t data_bytes = numel * (uint64_t)itemsize, have = len - hstart - hlen;
    if (have != data_bytes)
        return fl_fail(err, "%s: .npy array of shape %s and dtype '%s' needs %llu data bytes, but %llu follow its header",
                       where, fl_shape_str(sbuf, sizeof sbuf, ndim, shape), descr, (unsigned long long)data_bytes,
                       (unsigned long long)have);
    arr->dtype = dtype;
    arr->ndim = ndim;
    memcpy(arr->shape, shape, sizeof shape);
    arr->numel = (int64_t)numel;
    arr->data = fl_malloc((size_t)data_bytes + 1);
    if (data_bytes) memcpy(arr->data, text + hlen, (size_t)data_bytes);
    return 0;
}

int fl_npy_array_check(const fl_npy_array* arr, const char* where, int dtype, int ndim, const int64_t* shape,
                       fl_err* err) {
    int same = arr->dtype == dtype && arr->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] < 0 || arr->shape[d] == shape[d];
    if (same) return 0;
    char got[256], want[256];
    size_t at = (size_t)snprintf(want, sizeof want, "(");
    for (int d = 0; d < ndim && at < sizeof want; d++)
        at += shape[d] < 0 ? (size_t)snprintf(want + at, sizeof want - at, d ? ", any" : "any")
                           : (size_t)snprintf(want + at, sizeof want - at, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (at < sizeof want) snprintf(want + at, sizeof want - at, ndim == 1 ? ",)" : ")");
    return fl_fail(err, "%s has dtype '%s' and shape %s, expected '%s' and shape %s", where,
                   fl_npy_dtype_descr(arr->dtype), fl_shape_str(got, sizeof got, arr->ndim, arr->shape),
                   fl_npy_dtype_descr(dtype), want);
}

// ---- frames on file descriptors -------------------------------------------------------------

// Waits until fd is ready for events or the deadline passes: 1 ready, 0 timeout, -1 error.
static int frame_wait(int fd, short events, double deadline, fl_err* err) {
    for (;;) {
        int ms = -1;
        if (deadline > 0) {
            double left = deadline - fl_now();
            if (left <= 0) return 0;
            ms = (int)(left * 1000) + 1;
        }
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, ms);
        if (rc > 0) return 1;  // readable, writable, or hung up: the read or write says which
        if (rc == 0) continue; // re-check the deadline (poll may round down)
        if (errno == EINTR) continue;
        return fl_fail(err, "poll on descriptor %d failed: %s", fd, strerror(errno));
    }
}

// Writes n bytes: 0, FL_FRAME_EOF (EPIPE), FL_FRAME_TIMEOUT or -1.
static int frame_write_all(int fd, const unsigned char* p, size_t n, double deadline, fl_err* err) {
    while (n > 0) {
        ssize_t k = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EPIPE) return FL_FRAME_EOF;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = frame_wait(fd, POLLOUT, deadline, err);
            if (w < 0) return -1;
            if (w == 0) return FL_FRAME_TIMEOUT;
            continue;
        }
        return fl_fail(err, "write to descriptor %d failed: %s", fd, k < 0 ? strerror(errno) : "wrote nothing");
    }
    return 0;
}

int fl_frame_write_bytes(int fd, const void* body, size_t len, double deadline, fl_err* err) {
    if (len > FL_FRAME_MAX_BYTES)
        return fl_fail(err, "cannot write a frame of %zu bytes, more than the limit of %u", len, FL_FRAME_MAX_BYTES);
    unsigned char prefix[4] = {(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16),
                               (unsigned char)(len >> 24)};
    int rc = frame_write_all(fd, prefix, 4, deadline, err);
    return rc ? rc : frame_write_all(fd, body, len, deadline, err);
}

int fl_frame_write(int fd, int dtype, int ndim, const int64_t* shape, const void* data, double deadline,
                   fl_err* err) {
    unsigned char hdr[4 + 640];
    int64_t numel;
    int hlen = fl_npy_encode_header(dtype, ndim, shape, hdr + 4, sizeof hdr - 4, &numel, err);
    if (hlen < 0) return -1;
    uint64_t data_bytes = (uint64_t)numel * (uint64_t)fl_npy_dtype_size(dtype), len = (uint64_t)hlen + data_bytes;
    if (len > FL_FRAME_MAX_BYTES)
        return fl_fail(err, "cannot write a frame of %llu bytes, more than the limit of %u", (unsigned long long)len,
                       FL_FRAME_MAX_BYTES);
    if (data_bytes && !data) return fl_fail(err, "cannot write a frame of %lld elements without data", (long long)numel);
    for (int i = 0; i < 4; i++) hdr[i] = (unsigned char)(len >> (8 * i));
    int rc = frame_write_all(fd, hdr, 4 + (size_t)hlen, deadline, err);
    return rc ? rc : frame_write_all(fd, data, (size_t)data_bytes, deadline, err);
}

// Reads n bytes: 0; FL_FRAME_EOF after *got < n bytes; FL_FRAME_TIMEOUT; -1.
static int frame_read_all(int fd, unsigned char* p, size_t n, size_t* got, double deadline, fl_err* err) {
    *got = 0;
    while (*got < n) {
        int w = frame_wait(fd, POLLIN, deadline, err);
        if (w < 0) return -1;
        if (w == 0) return FL_FRAME_TIMEOUT;
        size_t want = n - *got;
        ssize_t k = read(fd, p + *got, want > (1u << 30) ? (1u << 30) : want);
        if (k > 0) {
            *got += (size_t)k;
            continue;
        }
        if (k == 0) return FL_FRAME_EOF;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        return fl_fail(err, "read from descriptor %d failed: %s", fd, strerror(errno));
    }
    return 0;
}

int fl_frame_read_bytes(int fd, double deadline, size_t max_len, unsigned char** body, size_t* len, fl_err* err) {
    *body = NULL;
    *len = 0;
    if (max_len == 0 || max_len > FL_FRAME_MAX_BYTES) max_len = FL_FRAME_MAX_BYTES;
    unsigned char prefix[4];
    size_t got;
    int rc = frame_read_all(fd, prefix, 4, &got, deadline, err);
    if (rc == FL_FRAME_EOF && got > 0) {
        fl_fail(err, "truncated frame: the stream ends after %zu of the 4 bytes of its length prefix", got);
        return FL_FRAME_MALFORMED;
    }
    if (rc) return rc;
    uint64_t n = (uint64_t)prefix[0] | ((uint64_t)prefix[1] << 8) | ((uint64_t)prefix[2] << 16) |
                 ((uint64_t)prefix[3] << 24);
    if (n > max_len) {
        fl_fail(err, "frame length prefix says %llu bytes (bytes %02x %02x %02x %02x), more than the limit of %zu",
                (unsigned long long)n, prefix[0], prefix[1], prefix[2], prefix[3], max_len);
        return FL_FRAME_MALFORMED;
    }
    unsigned char* b = fl_malloc((size_t)n + 1);
    rc = frame_read_all(fd, b, (size_t)n, &got, deadline, err);
    if (rc == FL_FRAME_EOF) {
        free(b);
        fl_fail(err, "truncated frame: the stream ends after %zu of its %llu bytes", got, (unsigned long long)n);
        return FL_FRAME_MALFORMED;
    }
    if (rc) {
        free(b);
        return rc;
    }
    *body = b;
    *len = (size_t)n;
    return 0;
}

int fl_frame_read(int fd, double deadline, size_t max_len, const char* where, fl_npy_array* arr, fl_err* err) {
    memset(arr, 0, sizeof *arr);
    unsigned char* body;
    size_t len;
    int rc = fl_frame_read_bytes(fd, deadline, max_len, &body, &len, err);
    if (rc == FL_FRAME_MALFORMED && err) {
        fl_err inner = *err;
        fl_fail(err, "%s: %s", where, inner.msg);
    }
    if (rc) return rc;
    char what[300];
    snprintf(what, sizeof what, "%s is not a valid .npy", where);
    rc = fl_npy_decode(body, len, what, arr, err);
    free(body);
    return rc ? FL_FRAME_MALFORMED : 0;
}
