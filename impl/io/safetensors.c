// safetensors.c: safetensors reader (mmap + cJSON header, full validation) and atomic F32
// writer. See safetensors.h for the format and the API.
#include "safetensors.h"
#include "iofile.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

// The reference implementation refuses headers above 100 MB; so do we (it also bounds malloc).
#define FL_ST_MAX_HEADER ((uint64_t)100000000)
// Offsets and sizes come from JSON doubles: integers are exact up to 2^53.
#define FL_ST_MAX_JSON_INT 9007199254740992.0

static const struct {
    const char* name;
    size_t size;
} st_dtypes[FL_ST_N_DTYPES] = {
    [FL_ST_BOOL] = {"BOOL", 1}, [FL_ST_U8] = {"U8", 1},     [FL_ST_I8] = {"I8", 1},
    [FL_ST_F8_E5M2] = {"F8_E5M2", 1}, [FL_ST_F8_E4M3] = {"F8_E4M3", 1},
    [FL_ST_I16] = {"I16", 2},   [FL_ST_U16] = {"U16", 2},   [FL_ST_F16] = {"F16", 2},
    [FL_ST_BF16] = {"BF16", 2}, [FL_ST_I32] = {"I32", 4},   [FL_ST_U32] = {"U32", 4},
    [FL_ST_F32] = {"F32", 4},   [FL_ST_F64] = {"F64", 8},   [FL_ST_I64] = {"I64", 8},
    [FL_ST_U64] = {"U64", 8},
};

const char* fl_st_dtype_name(fl_st_dtype dtype) {
    return (unsigned)dtype < FL_ST_N_DTYPES ? st_dtypes[dtype].name : "?";
}
size_t fl_st_dtype_size(fl_st_dtype dtype) { return (unsigned)dtype < FL_ST_N_DTYPES ? st_dtypes[dtype].size : 0; }

static int st_dtype_from_name(const char* s, fl_st_dtype* out) {
    for (int i = 0; i < FL_ST_N_DTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *out = (fl_st_dtype)i;
            return 0;
        }
    return -1;
}

float fl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {                      // inf / nan (payload kept)
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {                  // normal: rebias 15 -> 127
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {                 // signed zero
        bits = sign;
    } else {                                // subnormal: mant * 2^-24, normalise
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float fl_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void fl_st_close(fl_safetensors* st) {
    if (!st) return;
    if (st->map) munmap((void*)st->map, st->file_size);
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    char path[sizeof st->path];
    memcpy(path, st->path, sizeof path);
    memset(st, 0, sizeof *st);
    memcpy(st->path, path, sizeof path);
}

static char* st_strdup(const char* s) {
    size_t n = strlen(s) + 1;
    char* d = fl_malloc(n);
    memcpy(d, s, n);
    return d;
}

// A JSON number that must be a non-negative integer (exact in a double).
static int json_uint(const cJSON* item, uint64_t* out) {
    if (!cJSON_IsNumber(item)) return -1;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= FL_ST_MAX_JSON_INT)) return -1;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return -1;
    *out = u;
    return 0;
}

// Parses one tensor entry of the header into t (name already set). Checks dtype, shape,
// offset form, size against dtype x numel, and range against the data section.
static int st_parse_entry(fl_safetensors* st, const cJSON* entry, fl_st_tensor* t, fl_err* err) {
    const char* path = st->path;
    const char* name = t->name;
    if (!cJSON_IsObject(entry))
        return fl_fail(err, "%s: safetensors header entry '%s' is not a JSON object", path, name);
    const cJSON* dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON* shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON* offs = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype))
        return fl_fail(err, "%s: tensor '%s' has no \"dtype\" string in the safetensors header", path, name);
    if (st_dtype_from_name(dtype->valuestring, &t->dtype) != 0)
        return fl_fail(err,
                       "%s: tensor '%s' has unknown dtype '%.40s', expected one of F32, F16, BF16, F64, "
                       "I64, I32, I16, I8, U8, U16, U32, U64, BOOL, F8_E5M2, F8_E4M3",
                       path, name, dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return fl_fail(err, "%s: tensor '%s' has no \"shape\" array in the safetensors header", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > FL_ST_MAX_DIMS)
        return fl_fail(err, "%s: tensor '%s' has %d dimensions, at most %d supported", path, name, ndim,
                       FL_ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON* dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (json_uint(dim, &v) != 0) {
            char* txt = cJSON_PrintUnformatted(shape);
            int rc = fl_fail(err, "%s: tensor '%s' shape %.80s: entry %d is not a non-negative integer", path, name,
                             txt ? txt : "?", d);
            cJSON_free(txt);
            return rc;
        }
        t->shape[d] = (int64_t)v;
        if (__builtin_mul_overflow(numel, v, &numel) || numel > (uint64_t)INT64_MAX)
            return fl_fail(err, "%s: tensor '%s' shape has more elements than fit in 64 bits", path, name);
    }
    t->numel = (int64_t)numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return fl_fail(err, "%s: tensor '%s' has no \"data_offsets\" array of 2 integers in the safetensors header",
                       path, name);
    if (json_uint(offs->child, &t->begin) != 0 || json_uint(offs->child->next, &t->end) != 0) {
        char* txt = cJSON_PrintUnformatted(offs);
        int rc = fl_fail(err, "%s: tensor '%s' data_offsets %.80s are not non-negative integers", path, name,
                         txt ? txt : "?");
        cJSON_free(txt);
        return rc;
    }
    uint64_t data_size = st->file_size - st->data_start;
    if (t->end < t->begin)
        return fl_fail(err, "%s: tensor '%s' data_offsets [%llu, %llu] end before they begin", path, name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return fl_fail(err,
                       "%s: tensor '%s' data_offsets [%llu, %llu] are out of range: the data section "
                       "(file byte offset %llu) holds %llu bytes, so the tensor would end at file byte "
                       "offset %llu past the file size %zu",
                       path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)st->data_start, (unsigned long long)data_size,
                       (unsigned long long)(st->data_start + t->end), st->file_size);
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)fl_st_dtype_size(t->dtype), &nbytes))
        return fl_fail(err, "%s: tensor '%s' byte size overflows 64 bits", path, name);
    if (t->end - t->begin != nbytes) {
        char sbuf[256];
        return fl_fail(err,
                       "%s: tensor '%s' (%s, shape %s) needs %llu bytes, but data_offsets [%llu, %llu] "
                       "hold %llu (file byte offset %llu)",
                       path, name, fl_st_dtype_name(t->dtype), fl_shape_str(sbuf, sizeof sbuf, t->ndim, t->shape),
                       (unsigned long long)nbytes, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin), (unsigned long long)(st->data_start + t->begin));
    }
    return 0;
}

static int st_cmp_by_offset(const void* a, const void* b) {
    const fl_st_tensor* x = *(const fl_st_tensor* const*)a;
    const fl_st_tensor* y = *(const fl_st_tensor* const*)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

// The data section must be covered exactly once: sorted by offset, each tensor starts where
// the previous one ended, the first at 0, the last at the end of the file.
static int st_check_coverage(fl_safetensors* st, fl_err* err) {
    int n = st->n_tensors;
    uint64_t data_size = st->file_size - st->data_start;
    const fl_st_tensor** order = fl_malloc(sizeof(*order) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = &st->tensors[i];
    qsort(order, (size_t)n, sizeof(*order), st_cmp_by_offset);
    uint64_t at = 0;
    const fl_st_tensor* prev = NULL;
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        const fl_st_tensor* t = order[k];
        if (t->begin < at) {
            rc = fl_fail(err,
                         "%s: tensor '%s' data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu] "
                         "(file byte offset %llu)",
                         st->path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end, prev->name,
                         (unsigned long long)prev->begin, (unsigned long long)prev->end,
                         (unsigned long long)(st->data_start + t->begin));
        } else if (t->begin > at) {
            rc = fl_fail(err,
                         "%s: tensor '%s' data_offsets [%llu, %llu] leave a hole: bytes [%llu, %llu) of the data "
                         "section (file byte offset %llu) belong to no tensor",
                         st->path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)at, (unsigned long long)t->begin,
                         (unsigned long long)(st->data_start + at));
        }
        at = t->end;
        prev = t;
    }
    if (rc == 0 && at != data_size)
        rc = fl_fail(err,
                     "%s: the tensors cover %llu bytes of the data section but it holds %llu: %llu trailing "
                     "bytes from file byte offset %llu belong to no tensor",
                     st->path, (unsigned long long)at, (unsigned long long)data_size,
                     (unsigned long long)(data_size - at), (unsigned long long)(st->data_start + at));
    free(order);
    return rc;
}

static int st_parse_header(fl_safetensors* st, fl_err* err) {
    const char* path = st->path;
    size_t hlen = (size_t)st->header_len;
    char* text = fl_malloc(hlen + 1);
    memcpy(text, st->map + 8, hlen);
    text[hlen] = '\0';
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text, hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + hlen ? (size_t)(end - text) : hlen;
        free(text);
        return fl_fail(err,
                       "%s: safetensors header is not valid JSON: parse error at file byte offset %zu (the header "
                       "length field says %llu bytes, file is %zu bytes)",
                       path, 8 + at, (unsigned long long)hlen, st->file_size);
    }
    // After the JSON object only padding (whitespace) may follow.
    size_t used = end ? (size_t)(end - text) : hlen;
    for (size_t i = used; i < hlen; i++) {
        char c = text[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            cJSON_Delete(root);
            free(text);
            return fl_fail(err,
                           "%s: safetensors header has bytes other than padding after the JSON object, at file "
                           "byte offset %zu (header length field says %llu bytes)",
                           path, 8 + i, (unsigned long long)hlen);
        }
    }
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = fl_fail(err, "%s: safetensors header is JSON but not an object (it must start with '{')", path);
        goto done;
    }
    int n_entries = cJSON_GetArraySize(root);
    st->tensors = fl_calloc((size_t)(n_entries ? n_entries : 1), sizeof(fl_st_tensor));
    for (const cJSON* item = root->child; item && rc == 0; item = item->next) {
        const char* key = item->string ? item->string : "";
        if (strcmp(key, "__metadata__") == 0) {
            if (st->meta) {
                rc = fl_fail(err, "%s: safetensors header has \"__metadata__\" twice", path);
                break;
            }
            if (!cJSON_IsObject(item)) {
                rc = fl_fail(err, "%s: safetensors \"__metadata__\" is not a JSON object", path);
                break;
            }
            int nm = cJSON_GetArraySize(item);
            st->meta = fl_calloc((size_t)(nm ? nm : 1), sizeof(fl_st_meta));
            for (const cJSON* m = item->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    rc = fl_fail(err, "%s: safetensors \"__metadata__\" value of '%.200s' is not a string", path,
                                 m->string ? m->string : "");
                    break;
                }
                st->meta[st->n_meta].key = st_strdup(m->string ? m->string : "");
                st->meta[st->n_meta].value = st_strdup(m->valuestring);
                st->n_meta++;
            }
            continue;
        }
        if (!key[0]) {
            rc = fl_fail(err, "%s: safetensors header has a tensor with an empty name", path);
            break;
        }
        if (fl_st_find(st, key)) {
            rc = fl_fail(err, "%s: safetensors header names tensor '%.200s' twice", path, key);
            break;
        }
        fl_st_tensor* t = &st->tensors[st->n_tensors++];
        t->name = st_strdup(key);
        rc = st_parse_entry(st, item, t, err);
    }
    if (rc == 0) rc = st_check_coverage(st, err);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

int fl_st_open(fl_safetensors* st, const char* path, fl_err* err) {
    memset(st, 0, sizeof *st);
    if (!path) return fl_fail(err, "safetensors: no path given");
    snprintf(st->path, sizeof st->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fl_fail(err, "%s: cannot open safetensors file: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fl_fail(err, "%s: cannot stat safetensors file: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return fl_fail(err, "%s: not a regular file (a safetensors file was expected)", path);
    }
    st->file_size = (size_t)sb.st_size;
    if (st->file_size < 8) {
        close(fd);
        return fl_fail(err, "%s: truncated safetensors file: %zu bytes, shorter than the 8-byte header length field",
                       path, st->file_size);
    }
    void* map = mmap(NULL, st->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return fl_fail(err, "%s: cannot map safetensors file (%zu bytes): %s", path, st->file_size, strerror(e));
    st->map = map;
    uint64_t n;
    memcpy(&n, st->map, 8);
    if (n > st->file_size - 8) {
        int rc = fl_fail(err,
                         "%s: safetensors header length at byte offset 0 says %llu bytes, but only %zu bytes "
                         "follow it (file is %zu bytes): truncated file or corrupt length",
                         path, (unsigned long long)n, st->file_size - 8, st->file_size);
        fl_st_close(st);
        return rc;
    }
    if (n > FL_ST_MAX_HEADER || n < 2) {
        int rc = fl_fail(err, "%s: safetensors header length at byte offset 0 is %llu bytes, expected 2 to %llu", path,
                         (unsigned long long)n, (unsigned long long)FL_ST_MAX_HEADER);
        fl_st_close(st);
        return rc;
    }
    st->header_len = n;
    st->data_start = 8 + n;
    if (st_parse_header(st, err) != 0) {
        fl_st_close(st);
        return -1;
    }
    return 0;
}

const fl_st_tensor* fl_st_find(const fl_safetensors* st, const char* name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char* fl_st_meta_get(const fl_safetensors* st, const char* key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

const void* fl_st_data(const fl_safetensors* st, const fl_st_tensor* t) { return st->map + st->data_start + t->begin; }

int fl_st_tensor_to_f32(const fl_safetensors* st, const fl_st_tensor* t, float* out, fl_err* err) {
    if (!st->map) return fl_fail(err, "%s: safetensors file is not open", st->path);
    const uint8_t* src = fl_st_data(st, t);
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case FL_ST_F32:
        memcpy(out, src, n * 4);
        return 0;
    case FL_ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = fl_f16_to_f32(h);
        }
        return 0;
    case FL_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = fl_bf16_to_f32(h);
        }
        return 0;
    case FL_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            out[i] = (float)v;
        }
        return 0;
    default:
        return fl_fail(err, "%s: tensor '%s' has dtype %s, expected a float dtype (F32, F16, BF16 or F64)", st->path,
                       t->name, fl_st_dtype_name(t->dtype));
    }
}

int fl_st_read_f32(const fl_safetensors* st, const char* name, int ndim, const int64_t* shape, float* out,
                   fl_err* err) {
    const fl_st_tensor* t = fl_st_find(st, name);
    if (!t) return fl_fail(err, "%s: tensor '%s' not found (the file has %d tensors)", st->path, name, st->n_tensors);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[256], got[256];
        return fl_fail(err, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                       fl_shape_str(got, sizeof got, t->ndim, t->shape), fl_shape_str(want, sizeof want, ndim, shape));
    }
    return fl_st_tensor_to_f32(st, t, out, err);
}

// ---------------------------------------------------------------------------------------------
// Writer

int fl_st_write_f32(const char* path, const fl_st_entry* tensors, int n_tensors, const fl_st_meta* meta,
                    int n_meta, fl_err* err) {
    if (n_tensors < 0 || n_meta < 0) return fl_fail(err, "%s: negative tensor or metadata count", path);
    // Check the table before anything touches the disk.
    for (int i = 0; i < n_tensors; i++) {
        const fl_st_entry* e = &tensors[i];
        if (!e->name || !e->name[0]) return fl_fail(err, "%s: tensor %d to write has an empty name", path, i);
        if (strcmp(e->name, "__metadata__") == 0)
            return fl_fail(err, "%s: a tensor cannot be called \"__metadata__\"", path);
        if (e->ndim < 0 || e->ndim > FL_ST_MAX_DIMS)
            return fl_fail(err, "%s: tensor '%s' has %d dimensions, expected 0 to %d", path, e->name, e->ndim,
                           FL_ST_MAX_DIMS);
        for (int d = 0; d < e->ndim; d++)
            if (e->shape[d] < 0) return fl_fail(err, "%s: tensor '%s' has negative dimension %d", path, e->name, d);
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j].name, e->name) == 0)
                return fl_fail(err, "%s: tensor name '%s' given twice", path, e->name);
    }
    cJSON* root = cJSON_CreateObject();
    FL_CHECK(root, "cJSON out of memory");
    if (n_meta > 0) {
        cJSON* m = cJSON_AddObjectToObject(root, "__metadata__");
        FL_CHECK(m, "cJSON out of memory");
        for (int i = 0; i < n_meta; i++) {
            if (!meta[i].key || !meta[i].value) {
                cJSON_Delete(root);
                return fl_fail(err, "%s: metadata entry %d has a NULL key or value", path, i);
            }
            FL_CHECK(cJSON_AddStringToObject(m, meta[i].key, meta[i].value), "cJSON out of memory");
        }
    }
    uint64_t offset = 0;
    uint64_t* nbytes = fl_malloc(sizeof(uint64_t) * (size_t)(n_tensors ? n_tensors : 1));
    for (int i = 0; i < n_tensors; i++) {
        const fl_st_entry* e = &tensors[i];
        cJSON* t = cJSON_AddObjectToObject(root, e->name);
        FL_CHECK(t, "cJSON out of memory");
        FL_CHECK(cJSON_AddStringToObject(t, "dtype", "F32"), "cJSON out of memory");
        cJSON* shape = cJSON_AddArrayToObject(t, "shape");
        FL_CHECK(shape, "cJSON out of memory");
        uint64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            numel *= (uint64_t)e->shape[d];
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        }
        nbytes[i] = numel * 4;
        if (nbytes[i] && !e->data) {
            free(nbytes);
            cJSON_Delete(root);
            return fl_fail(err, "%s: tensor '%s' has %llu elements but no data", path, e->name,
                           (unsigned long long)numel);
        }
        cJSON* offs = cJSON_AddArrayToObject(t, "data_offsets");
        FL_CHECK(offs, "cJSON out of memory");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + nbytes[i])));
        offset += nbytes[i];
    }
    char* header = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    FL_CHECK(header, "cJSON out of memory printing a safetensors header");
    // Pad with spaces so the data section starts at a multiple of 8 bytes.
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) / 8 * 8;
    uint64_t n_le = padded;
    char pad[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    fl_atomic_file af;
    int rc = fl_atomic_open(&af, path, err);
    if (rc == 0) rc = fl_atomic_write(&af, &n_le, 8, err);
    if (rc == 0) rc = fl_atomic_write(&af, header, hlen, err);
    if (rc == 0) rc = fl_atomic_write(&af, pad, padded - hlen, err);
    for (int i = 0; i < n_tensors && rc == 0; i++) rc = fl_atomic_write(&af, tensors[i].data, nbytes[i], err);
    if (rc == 0) rc = fl_atomic_commit(&af, err);
    else fl_atomic_abort(&af);
    cJSON_free(header);
    free(nbytes);
    return rc;
}
