// test_npy.c: the NumPy .npy float32 reader and writer (impl/io/npy.c).
// Round trips for every rank 0..8, byte-for-byte agreement with a file numpy itself wrote
// (the committed golden input.npy), versions 2.0 and 3.0, and every malformed-file case as a
// small file written by hand into t_tmpdir(): each must give -1 and one message, never a crash.
#include "impl/io/npy.h"
#include "tests/test.h"
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>



static size_t read_bytes(const char* path, uint8_t* buf, size_t cap) {
    FILE* f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

// A .npy file by hand: version major.0, the dict text padded with spaces to pad_to bytes of
// header (plus '\n' unless no_newline), then data_len bytes of data.
static void write_npy_raw(const char* path, int major, const char* dict, int no_newline, const void* data,
                          size_t data_len) {
    uint8_t buf[1024];
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (uint8_t)hlen;
        buf[9] = (uint8_t)(hlen >> 8);
    } else {
        uint32_t h32 = (uint32_t)hlen;
        memcpy(buf + 8, &h32, 4);
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl);
    if (!no_newline) buf[total - 1] = '\n';
    if (data_len) memcpy(buf + total, data, data_len);
    t_write_bytes(path, buf, total + data_len);
}

static void expect_read_error(const char* path, const char* needle1, const char* needle2) {
    fl_npy arr;
    fl_err err = {{0}};
    int rc = fl_npy_read_f32(path, &arr, &err);
    CHECK(rc == -1, "%s: read succeeded, expected an error with '%s'", path, needle1);
    CHECK(arr.data == NULL && arr.ndim == 0, "%s: failed read left data behind", path);
    CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    CHECK(strstr(err.msg, needle1) != NULL, "message lacks '%s': %s", needle1, err.msg);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message lacks '%s': %s", needle2, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
    if (getenv("FL_TEST_VERBOSE")) printf("    %s\n", err.msg);
    fl_npy_free(&arr);
}

static void test_roundtrip_all_ranks(void) {
    int64_t dims[8] = {2, 1, 3, 2, 1, 2, 1, 2};
    float data[96];
    for (int i = 0; i < 96; i++) data[i] = (float)i * 0.25f - 7.0f;
    for (int ndim = 0; ndim <= FL_NPY_MAX_DIMS; ndim++) {
        int64_t numel = 1;
        for (int d = 0; d < ndim; d++) numel *= dims[d];
        char name[32];
        snprintf(name, sizeof name, "rank%d.npy", ndim);
        const char* p = t_path(name);
        fl_err err = {{0}};
        CHECK(fl_npy_write_f32(p, ndim, dims, data, &err) == 0, "write rank %d: %s", ndim, err.msg);
        uint8_t raw[1024];
        size_t n = read_bytes(p, raw, sizeof raw);
        // numpy's layout: magic, version 1.0, header ending in '\n', preamble+header a multiple of 64.
        size_t hlen = (size_t)raw[8] | ((size_t)raw[9] << 8);
        CHECK(n >= 10 && memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0, "rank %d: magic/version", ndim);
        CHECK((10 + hlen) % 64 == 0 && raw[10 + hlen - 1] == '\n', "rank %d: header length %zu", ndim, hlen);
        CHECK(n == 10 + hlen + (size_t)numel * 4, "rank %d: file size %zu", ndim, n);
        fl_npy arr;
        if (fl_npy_read_f32(p, &arr, &err) != 0) {
            CHECK(0, "read rank %d: %s", ndim, err.msg);
            continue;
        }
        CHECK(arr.ndim == ndim && arr.numel == numel, "rank %d: ndim %d numel %lld", ndim, arr.ndim, (long long)arr.numel);
        for (int d = 0; d < ndim && d < arr.ndim; d++) CHECK(arr.shape[d] == dims[d], "rank %d dim %d", ndim, d);
        CHECK(memcmp(arr.data, data, (size_t)numel * 4) == 0, "rank %d: data differs", ndim);
        fl_npy_free(&arr);
    }
    // Zero-size arrays are legal: shape (0, 3) has no data bytes.
    int64_t z[2] = {0, 3};
    fl_err err = {{0}};
    const char* p = t_path("zero.npy");
    CHECK(fl_npy_write_f32(p, 2, z, NULL, &err) == 0, "write (0, 3): %s", err.msg);
    fl_npy arr;
    CHECK(fl_npy_read_f32(p, &arr, &err) == 0 && arr.numel == 0 && arr.ndim == 2 && arr.shape[1] == 3,
          "read (0, 3): %s", err.msg);
    fl_npy_free(&arr);
}

// Our writer must produce exactly the bytes numpy's np.save wrote for the golden input
// (tests/golden/make_vit_golden.py): same header text, padding and data.
static void test_matches_numpy_bytes(void) {
    const char* golden[] = {"tests/fixtures/vit_golden/gray16/input.npy", "tests/fixtures/vit_golden/rgb12/logits.npy",
                            "tests/fixtures/vit_golden/gray16/loss.npy"};
    for (int i = 0; i < 3; i++) {
        fl_npy arr;
        fl_err err = {{0}};
        if (fl_npy_read_f32(golden[i], &arr, &err) != 0) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        const char* p = t_path("again.npy");
        CHECK(fl_npy_write_f32(p, arr.ndim, arr.shape, arr.data, &err) == 0, "write: %s", err.msg);
        static uint8_t a[1 << 16], b[1 << 16];
        size_t na = read_bytes(golden[i], a, sizeof a), nb = read_bytes(p, b, sizeof b);
        CHECK(na == nb && na > 0 && memcmp(a, b, na) == 0, "%s: rewritten file differs from numpy's (%zu vs %zu bytes)",
              golden[i], na, nb);
        fl_npy_free(&arr);
    }
}

static void test_versions_and_dialects(void) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    fl_err err = {{0}};
    fl_npy arr;
    const char* dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\": (2,3), \"descr\": \"<f4\", \"fortran_order\": False}",   // any key order, no spaces
        "{'descr':'<f4','fortran_order':False,'shape':(2L, 3L)}",           // Python 2 longs
    };
    for (int major = 1; major <= 3; major++)
        for (int k = 0; k < 3; k++) {
            const char* p = t_path("ver.npy");
            write_npy_raw(p, major, dicts[k], 0, v, sizeof v);
            int rc = fl_npy_read_f32(p, &arr, &err);
            CHECK(rc == 0, "version %d.0 dict %d: %s", major, k, err.msg);
            if (rc == 0)
                CHECK(arr.ndim == 2 && arr.shape[0] == 2 && arr.shape[1] == 3 && memcmp(arr.data, v, sizeof v) == 0,
                      "version %d.0 dict %d: content", major, k);
            fl_npy_free(&arr);
        }
    const char* p = t_path("one.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 0, v, sizeof v);
    CHECK(fl_npy_read_f32(p, &arr, &err) == 0 && arr.ndim == 1 && arr.shape[0] == 6, "1-d: %s", err.msg);
    fl_npy_free(&arr);
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, v, 4);
    CHECK(fl_npy_read_f32(p, &arr, &err) == 0 && arr.ndim == 0 && arr.numel == 1 && arr.data[0] == 1, "0-d: %s", err.msg);
    fl_npy_free(&arr);
}

static void test_error_cases(void) {
    float v[8] = {0};
    const char* p;
    const char* ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

    p = t_path("empty.npy");
    t_write_bytes(p, "", 0);
    expect_read_error(p, "truncated", "0 bytes");
    p = t_path("short.npy");
    t_write_bytes(p, "\x93NUMPY\x01", 7);
    expect_read_error(p, "truncated", "7 bytes");
    p = t_path("magic.npy");
    t_write_bytes(p, "PK\x03\x04 this is a zip file", 24);
    expect_read_error(p, "magic", NULL);
    p = t_path("v4.npy");
    write_npy_raw(p, 1, ok, 0, v, 24);
    { uint8_t b[256]; size_t n = read_bytes(p, b, sizeof b); b[6] = 4; t_write_bytes(p, b, n); }
    expect_read_error(p, "version 4.0", "expected 1.0, 2.0 or 3.0");
    p = t_path("v11.npy");
    { uint8_t b[256]; write_npy_raw(p, 1, ok, 0, v, 24); size_t n = read_bytes(p, b, sizeof b); b[7] = 1; t_write_bytes(p, b, n); }
    expect_read_error(p, "version 1.1", NULL);
    p = t_path("hlen.npy");
    { uint8_t b[256]; write_npy_raw(p, 1, ok, 0, v, 24); size_t n = read_bytes(p, b, sizeof b); b[8] = 0xff; b[9] = 0x7f;
      t_write_bytes(p, b, n); }
    expect_read_error(p, "header length", "32767");
    p = t_path("hlen2.npy");
    { uint8_t b[256]; write_npy_raw(p, 2, ok, 0, v, 24); size_t n = read_bytes(p, b, sizeof b); b[11] = 0xff;
      t_write_bytes(p, b, n); }
    expect_read_error(p, "header length", NULL);
    p = t_path("hlen_short.npy");
    { uint8_t b[256]; write_npy_raw(p, 1, ok, 0, v, 24); size_t n = read_bytes(p, b, sizeof b); b[8] = 40;
      t_write_bytes(p, b, n); }
    expect_read_error(p, "newline", NULL);
    p = t_path("nonewline.npy");
    write_npy_raw(p, 1, ok, 1, v, 24);
    expect_read_error(p, "newline", NULL);

    p = t_path("big_endian.npy");
    write_npy_raw(p, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 0, v, 24);
    expect_read_error(p, "big-endian", "'<f4'");
    p = t_path("f8.npy");
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 0, v, 24);
    expect_read_error(p, "dtype '<f8'", "'<f4'");
    p = t_path("u1.npy");
    write_npy_raw(p, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (24,), }", 0, v, 24);
    expect_read_error(p, "dtype '|u1'", NULL);
    p = t_path("struct.npy");
    write_npy_raw(p, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", 0, v, 24);
    expect_read_error(p, "structured", NULL);
    p = t_path("fortran.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 0, v, 24);
    expect_read_error(p, "Fortran order", NULL);
    p = t_path("fortran_bad.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", 0, v, 24);
    expect_read_error(p, "True or False", NULL);
    p = t_path("nokey.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'shape': (2, 3), }", 0, v, 24);
    expect_read_error(p, "lacks 'fortran_order'", NULL);
    p = t_path("extrakey.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 0, v, 24);
    expect_read_error(p, "unknown key 'x'", NULL);
    p = t_path("dupkey.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 0, v, 24);
    expect_read_error(p, "repeated key 'descr'", NULL);
    p = t_path("notuple.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 0, v, 24);
    expect_read_error(p, "not a tuple", "(6,)");
    p = t_path("badshape.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 0, v, 24);
    expect_read_error(p, "malformed", "',' or ')'");
    p = t_path("negshape.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 0, v, 24);
    expect_read_error(p, "non-negative integer", NULL);
    p = t_path("ninedims.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", 0, v, 24);
    expect_read_error(p, "more than 8 dimensions", NULL);
    p = t_path("overflow.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0, v, 24);
    expect_read_error(p, "64 bits", NULL);
    p = t_path("huge_dim.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0, v, 24);
    expect_read_error(p, "63 bits", NULL);
    p = t_path("unterminated.npy");
    write_npy_raw(p, 1, "{'descr': '<f4, 'fortran_order': False", 0, v, 24);
    expect_read_error(p, "malformed", NULL);
    p = t_path("nobrace.npy");
    write_npy_raw(p, 1, "'descr': '<f4'", 0, v, 24);
    expect_read_error(p, "'{'", NULL);
    p = t_path("trailing_junk.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk", 0, v, 24);
    expect_read_error(p, "only padding", NULL);

    // The file must hold exactly prod(shape) x 4 data bytes.
    p = t_path("data_short.npy");
    write_npy_raw(p, 1, ok, 0, v, 20);
    expect_read_error(p, "needs 24 data bytes", "holds 20");
    p = t_path("data_long.npy");
    write_npy_raw(p, 1, ok, 0, v, 28);
    expect_read_error(p, "needs 24 data bytes", "holds 28");

    p = t_path("missing.npy");
    remove(p);
    expect_read_error(p, "cannot open", NULL);
    expect_read_error(t_tmpdir(), "not a regular file", NULL);

    int64_t neg[1] = {-1}, s1[1] = {1};
    fl_err err = {{0}};
    CHECK(fl_npy_write_f32(t_path("w.npy"), 9, s1, v, &err) == -1 && strstr(err.msg, "9 dimensions"), "%s", err.msg);
    CHECK(fl_npy_write_f32(t_path("w.npy"), 1, neg, v, &err) == -1 && strstr(err.msg, "negative"), "%s", err.msg);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/w.npy", t_tmpdir());
    CHECK(fl_npy_write_f32(bad, 1, s1, v, &err) == -1 && strstr(err.msg, "no/such/dir"), "%s", err.msg);
}

static void test_truncations(void) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t s[2] = {2, 3};
    fl_err err = {{0}};
    const char* p = t_path("full.npy");
    CHECK(fl_npy_write_f32(p, 2, s, v, &err) == 0, "%s", err.msg);
    uint8_t buf[512];
    size_t n = read_bytes(p, buf, sizeof buf);
    const char* q = t_path("cut.npy");
    for (size_t len = 0; len < n; len++) {
        t_write_bytes(q, buf, len);
        fl_npy arr;
        CHECK(fl_npy_read_f32(q, &arr, &err) == -1 && err.msg[0], "truncated to %zu of %zu bytes read", len, n);
        fl_npy_free(&arr);
    }
    // Every single-byte change of the header is refused or harmless; never a crash.
    const uint8_t values[] = {0x00, '\'', '{', '}', '(', ')', ',', ':', '9', ' ', '\n', 'x', 0xff};
    for (size_t at = 0; at < n - 24; at++)
        for (size_t k = 0; k < sizeof values; k++) {
            uint8_t c[512];
            memcpy(c, buf, n);
            c[at] = values[k];
            t_write_bytes(q, c, n);
            fl_npy arr;
            if (fl_npy_read_f32(q, &arr, &err) == 0) CHECK(arr.numel == 6, "changed byte %zu: read %lld elements", at, (long long)arr.numel);
            fl_npy_free(&arr);
        }
}

static void test_check_shape(void) {
    fl_npy arr = {.ndim = 4, .shape = {8, 1, 28, 28}, .numel = 8 * 28 * 28, .data = NULL};
    int64_t want[4] = {-1, 1, 28, 28}, wrong[4] = {-1, 3, 28, 28};
    fl_err err = {{0}};
    CHECK(fl_npy_check_shape(&arr, "x.npy", 4, want, &err) == 0, "wildcard batch: %s", err.msg);
    CHECK(fl_npy_check_shape(&arr, "x.npy", 4, wrong, &err) == -1 &&
              strstr(err.msg, "x.npy: .npy array has shape (8, 1, 28, 28), expected (any, 3, 28, 28)"),
          "mismatch: %s", err.msg);
    CHECK(fl_npy_check_shape(&arr, "x.npy", 2, want, &err) == -1 && strstr(err.msg, "expected (any, 1)"), "rank: %s",
          err.msg);
}

int main(void) {
    RUN(test_roundtrip_all_ranks);
    RUN(test_matches_numpy_bytes);
    RUN(test_versions_and_dialects);
    RUN(test_error_cases);
    RUN(test_truncations);
    RUN(test_check_shape);
    TEST_EXIT();
}
