// npy.c: NumPy .npy float32 reader (versions 1.0, 2.0, 3.0) and atomic writer (1.0).
// The header dict is parsed by a small parser for exactly the Python literals numpy writes:
// quoted strings, True/False and tuples of integers. See npy.h.
#include "npy.h"
#include "iofile.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

void fl_npy_free(fl_npy* arr) {
    if (!arr) return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}

// ---- header dict parser: a cursor over header bytes [at, end) -------------------------------
typedef struct {
    const char* s;
    size_t at, end;
    size_t base;          // file byte offset of s[0], for messages
    const char* path;
    fl_err* err;
} npy_cursor;

static void npy_skip_ws(npy_cursor* c) {
    while (c->at < c->end && (c->s[c->at] == ' ' || c->s[c->at] == '\t' || c->s[c->at] == '\n' || c->s[c->at] == '\r'))
        c->at++;
}

static int npy_bad(npy_cursor* c, const char* expected) {
    char found[24];
    if (c->at >= c->end) {
        snprintf(found, sizeof found, "end of header");
    } else {
        size_t k = 0;
        found[k++] = '\'';
        for (size_t i = c->at; i < c->end && k < 12; i++) {
            unsigned char ch = (unsigned char)c->s[i];
            found[k++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
        }
        found[k++] = '\'';
        found[k] = '\0';
    }
    return fl_fail(c->err, "%s: .npy header dict malformed at file byte offset %zu: expected %s, found %s", c->path,
                   c->base + c->at, expected, found);
}

static int npy_expect(npy_cursor* c, char ch, const char* what) {
    npy_skip_ws(c);
    if (c->at >= c->end || c->s[c->at] != ch) return npy_bad(c, what);
    c->at++;
    return 0;
}

// A quoted string ('..' or ".."), copied into out (truncated to size-1; no escapes in numpy's).
static int npy_string(npy_cursor* c, char* out, size_t size) {
    npy_skip_ws(c);
    if (c->at >= c->end || (c->s[c->at] != '\'' && c->s[c->at] != '"')) return npy_bad(c, "a quoted string");
    char q = c->s[c->at++];
    size_t k = 0;
    while (c->at < c->end && c->s[c->at] != q) {
        if (c->s[c->at] == '\\') return npy_bad(c, "a string without escapes");
        if (k + 1 < size) out[k++] = c->s[c->at];
        c->at++;
    }
    if (c->at >= c->end) return npy_bad(c, "a closing quote");
    c->at++;
    out[k] = '\0';
    return 0;
}

static int npy_word(npy_cursor* c, const char* w) {
    size_t n = strlen(w);
    if (c->end - c->at >= n && memcmp(c->s + c->at, w, n) == 0) {
        c->at += n;
        return 1;
    }
    return 0;
}

// A tuple of non-negative integers: (), (5,), (2, 3) ; Python 2 files may write 3L.
static int npy_shape(npy_cursor* c, int* ndim, int64_t* shape) {
    if (npy_expect(c, '(', "'(' starting the shape tuple")) return -1;
    int n = 0;
    int trailing_comma = 0;
    for (;;) {
        npy_skip_ws(c);
        if (c->at < c->end && c->s[c->at] == ')') {
            c->at++;
            break;
        }
        if (c->at >= c->end || c->s[c->at] < '0' || c->s[c->at] > '9')
            return npy_bad(c, "a non-negative integer in the shape tuple");
        if (n == FL_NPY_MAX_DIMS)
            return fl_fail(c->err, "%s: .npy array has more than %d dimensions (file byte offset %zu)", c->path,
                           FL_NPY_MAX_DIMS, c->base + c->at);
        uint64_t v = 0;
        while (c->at < c->end && c->s[c->at] >= '0' && c->s[c->at] <= '9') {
            if (v > (uint64_t)INT64_MAX / 10) return npy_bad(c, "a dimension that fits in 63 bits");
            v = v * 10 + (uint64_t)(c->s[c->at++] - '0');
        }
        if (v > (uint64_t)INT64_MAX) return npy_bad(c, "a dimension that fits in 63 bits");
        if (c->at < c->end && c->s[c->at] == 'L') c->at++;
        shape[n++] = (int64_t)v;
        npy_skip_ws(c);
        trailing_comma = 0;
        if (c->at < c->end && c->s[c->at] == ',') {
            c->at++;
            trailing_comma = 1;
        } else if (c->at < c->end && c->s[c->at] == ')') {
            c->at++;
            break;
        } else {
            return npy_bad(c, "',' or ')' in the shape tuple");
        }
    }
    if (n == 1 && !trailing_comma)
        return fl_fail(c->err, "%s: .npy shape (%lld) is an integer, not a tuple: expected (%lld,)", c->path,
                       (long long)shape[0], (long long)shape[0]);
    *ndim = n;
    return 0;
}

// Parses the dict; fills descr, fortran flag and shape. Every one of the three keys exactly once.
static int npy_parse_dict(npy_cursor* c, char* descr, size_t descr_size, int* fortran, int* ndim, int64_t* shape) {
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (npy_expect(c, '{', "'{' starting the header dict")) return -1;
    for (;;) {
        npy_skip_ws(c);
        if (c->at < c->end && c->s[c->at] == '}') {
            c->at++;
            break;
        }
        char key[64];
        if (npy_string(c, key, sizeof key)) return -1;
        if (npy_expect(c, ':', "':' after a dict key")) return -1;
        npy_skip_ws(c);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (c->at < c->end && c->s[c->at] == '[')
                return fl_fail(c->err, "%s: .npy descr is a structured dtype (a list), expected '<f4' (float32)",
                               c->path);
            if (npy_string(c, descr, descr_size)) return -1;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (npy_word(c, "False")) *fortran = 0;
            else if (npy_word(c, "True")) *fortran = 1;
            else return npy_bad(c, "True or False for fortran_order");
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (npy_shape(c, ndim, shape)) return -1;
            have_shape = 1;
        } else {
            return fl_fail(c->err, "%s: .npy header dict has %s key '%.40s' (file byte offset %zu), expected exactly "
                           "'descr', 'fortran_order' and 'shape'", c->path,
                           (strcmp(key, "descr") && strcmp(key, "fortran_order") && strcmp(key, "shape")) ? "unknown"
                                                                                                         : "repeated",
                           key, c->base + c->at);
        }
        npy_skip_ws(c);
        if (c->at < c->end && c->s[c->at] == ',') {
            c->at++;
            continue;
        }
        if (c->at < c->end && c->s[c->at] == '}') {
            c->at++;
            break;
        }
        return npy_bad(c, "',' or '}' in the header dict");
    }
    npy_skip_ws(c);
    if (c->at != c->end) return npy_bad(c, "only padding after the header dict");
    if (!have_descr || !have_fortran || !have_shape)
        return fl_fail(c->err, "%s: .npy header dict lacks '%s', expected 'descr', 'fortran_order' and 'shape'",
                       c->path, !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return 0;
}

int fl_npy_parse_header(const char* text, size_t len, size_t base, const char* where, char* descr,
                        size_t descr_size, int* fortran, int* ndim, int64_t* shape, fl_err* err) {
    npy_cursor c = {text, 0, len, base, where, err};
    return npy_parse_dict(&c, descr, descr_size, fortran, ndim, shape);
}

int fl_npy_read_f32(const char* path, fl_npy* arr, fl_err* err) {
    memset(arr, 0, sizeof *arr);
    FILE* f = fopen(path, "rb");
    if (!f) return fl_fail(err, "%s: cannot open .npy file: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return fl_fail(err, "%s: not a regular file (a .npy file was expected)", path);
    }
    uint64_t file_size = (uint64_t)sb.st_size;
    unsigned char pre[12];
    size_t got = fread(pre, 1, sizeof pre, f);
    int rc = 0;
    char* header = NULL;
    if (got < 10 || memcmp(pre, npy_magic, 6) != 0) {
        if (got >= 6 && memcmp(pre, npy_magic, 6) != 0)
            rc = fl_fail(err, "%s: not a .npy file: the first 6 bytes are not the magic \"\\x93NUMPY\"", path);
        else
            rc = fl_fail(err, "%s: truncated .npy file: %llu bytes, shorter than the 10-byte preamble", path,
                         (unsigned long long)file_size);
        goto done;
    }
    int major = pre[6], minor = pre[7];
    uint64_t hlen, hstart;
    if (major == 1 && minor == 0) {
        hlen = (uint64_t)pre[8] | ((uint64_t)pre[9] << 8);
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (got < 12) {
            rc = fl_fail(err, "%s: truncated .npy file: %llu bytes, shorter than the 12-byte version %d.0 preamble",
                         path, (unsigned long long)file_size, major);
            goto done;
        }
        hlen = (uint64_t)pre[8] | ((uint64_t)pre[9] << 8) | ((uint64_t)pre[10] << 16) | ((uint64_t)pre[11] << 24);
        hstart = 12;
    } else {
        rc = fl_fail(err, "%s: .npy format version %d.%d at byte offset 6, expected 1.0, 2.0 or 3.0", path, major,
                     minor);
        goto done;
    }
    if (hstart + hlen > file_size) {
        rc = fl_fail(err,
                     "%s: .npy header length at byte offset 8 says %llu bytes, but only %llu bytes follow it "
                     "(file is %llu bytes)",
                     path, (unsigned long long)hlen, (unsigned long long)(file_size - hstart),
                     (unsigned long long)file_size);
        goto done;
    }
    header = fl_malloc((size_t)hlen + 1);
    if (fseek(f, (long)hstart, SEEK_SET) != 0 || fread(header, 1, (size_t)hlen, f) != hlen) {
        rc = fl_fail(err, "%s: read error in the .npy header (%llu bytes at byte offset %llu)", path,
                     (unsigned long long)hlen, (unsigned long long)hstart);
        goto done;
    }
    header[hlen] = '\0';
    if (hlen == 0 || header[hlen - 1] != '\n') {
        rc = fl_fail(err, "%s: .npy header (bytes %llu..%llu) does not end with a newline: header length lies or "
                     "file is corrupt", path, (unsigned long long)hstart, (unsigned long long)(hstart + hlen));
        goto done;
    }
    char descr[32] = {0};
    int fortran = 0;
    if (fl_npy_parse_header(header, (size_t)hlen, (size_t)hstart, path, descr, sizeof descr, &fortran, &arr->ndim,
                            arr->shape, err)) {
        rc = -1;
        goto done;
    }
    if (strcmp(descr, "<f4") != 0) {
        if (strcmp(descr, ">f4") == 0)
            rc = fl_fail(err, "%s: .npy array is big-endian float32 (descr '>f4'), expected little-endian '<f4'",
                         path);
        else
            rc = fl_fail(err, "%s: .npy array has dtype '%s', expected little-endian float32 '<f4'", path, descr);
        goto done;
    }
    if (fortran) {
        rc = fl_fail(err, "%s: .npy array is in Fortran order (fortran_order True), expected C order (False)", path);
        goto done;
    }
    uint64_t numel = 1;
    for (int d = 0; d < arr->ndim; d++)
        if (__builtin_mul_overflow(numel, (uint64_t)arr->shape[d], &numel) || numel > (uint64_t)INT64_MAX / 4) {
            rc = fl_fail(err, "%s: .npy shape has more elements than fit in 64 bits", path);
            goto done;
        }
    uint64_t data_bytes = numel * 4, data_start = hstart + hlen;
    if (file_size - data_start != data_bytes) {
        char sbuf[256];
        rc = fl_fail(err, "%s: .npy array of shape %s needs %llu data bytes from byte offset %llu, but the file holds %llu",
                     path, fl_shape_str(sbuf, sizeof sbuf, arr->ndim, arr->shape), (unsigned long long)data_bytes,
                     (unsigned long long)data_start, (unsigned long long)(file_size - data_start));
        goto done;
    }
    arr->numel = (int64_t)numel;
    arr->data = fl_malloc((size_t)data_bytes);
    if (data_bytes && fread(arr->data, 1, (size_t)data_bytes, f) != data_bytes) {
        rc = fl_fail(err, "%s: read error in the .npy data (%llu bytes at byte offset %llu)", path,
                     (unsigned long long)data_bytes, (unsigned long long)data_start);
        goto done;
    }
done:
    free(header);
    fclose(f);
    if (rc != 0) fl_npy_free(arr);
    return rc;
}

int fl_npy_check_shape(const fl_npy* arr, const char* path, int ndim, const int64_t* shape, fl_err* err) {
    int same = arr->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] < 0 || arr->shape[d] == shape[d];
    if (same) return 0;
    char got[256], want[256];
    size_t at = 0;
    want[0] = '(';
    want[1] = '\0';
    at = 1;
    for (int d = 0; d < ndim && at < sizeof want; d++) {
        if (shape[d] < 0)
            at += (size_t)snprintf(want + at, sizeof want - at, d ? ", any" : "any");
        else
            at += (size_t)snprintf(want + at, sizeof want - at, d ? ", %lld" : "%lld", (long long)shape[d]);
    }
    if (at < sizeof want) snprintf(want + at, sizeof want - at, ")");
    return fl_fail(err, "%s: .npy array has shape %s, expected %s", path ? path : "array",
                   fl_shape_str(got, sizeof got, arr->ndim, arr->shape), want);
}

// Writes a C-order array of 4-byte elements of type descr ("<f4", "<i4").
static int fl_npy_write4(const char* path, const char* descr, int ndim, const int64_t* shape, const void* data,
                         fl_err* err) {
    if (ndim < 0 || ndim > FL_NPY_MAX_DIMS)
        return fl_fail(err, "%s: cannot write a .npy array of %d dimensions, expected 0 to %d", path, ndim,
                       FL_NPY_MAX_DIMS);
    uint64_t numel = 1;
    char dict[512];
    size_t at = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return fl_fail(err, "%s: cannot write a .npy array with negative dimension %d", path, d);
        numel *= (uint64_t)shape[d];
        at += (size_t)snprintf(dict + at, sizeof dict - at, d ? ", %lld" : "%lld", (long long)shape[d]);
    }
    at += (size_t)snprintf(dict + at, sizeof dict - at, "%s), }", ndim == 1 ? "," : "");
    if (numel && !data) return fl_fail(err, "%s: .npy array of %llu elements has no data", path, (unsigned long long)numel);
    // Version 1.0: preamble 10 bytes; pad so that preamble + header (ending in '\n') is a multiple of 64.
    size_t total = (10 + at + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    unsigned char buf[640];
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, at);
    memset(buf + 10 + at, ' ', hlen - at - 1);
    buf[total - 1] = '\n';
    fl_atomic_file af;
    if (fl_atomic_open(&af, path, err)) return -1;
    if (fl_atomic_write(&af, buf, total, err)) return -1;
    if (fl_atomic_write(&af, data, (size_t)numel * 4, err)) return -1;
    return fl_atomic_commit(&af, err);
}

int fl_npy_write_f32(const char* path, int ndim, const int64_t* shape, const float* data, fl_err* err) {
    return fl_npy_write4(path, "<f4", ndim, shape, data, err);
}

int fl_npy_write_i32(const char* path, int ndim, const int64_t* shape, const int32_t* data, fl_err* err) {
    return fl_npy_write4(path, "<i4", ndim, shape, data, err);
}
