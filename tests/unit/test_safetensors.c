// test_safetensors.c: the safetensors reader and writer (impl/io/safetensors.c), the Hugging
// Face ViT config reader (impl/io/hfconfig.c) and the committed ViT golden fixtures
// (tests/fixtures/vit_golden, made by tests/golden/make_vit_golden.py).
// Every error case is a small file written by hand into t_tmpdir(); each must give -1 and one
// message naming the file and the problem, never a crash.
#include "impl/io/safetensors.h"
#include "impl/io/hfconfig.h"
#include "impl/io/npy.h"
#include "tests/test.h"
#include <dirent.h>
#include <sys/stat.h>
#include <stdint.h>
#include <string.h>

#define GOLDEN_DIR "tests/fixtures/vit_golden"



// A safetensors file by hand: u64 length (header_len_field), the header text, then data.
static void write_raw(const char* path, const char* header, uint64_t header_len_field, const void* data, size_t data_len) {
    size_t hlen = strlen(header);
    uint8_t* buf = malloc(8 + hlen + data_len + 1);
    memcpy(buf, &header_len_field, 8);
    memcpy(buf + 8, header, hlen);
    if (data_len) memcpy(buf + 8 + hlen, data, data_len);
    t_write_bytes(path, buf, 8 + hlen + data_len);
    free(buf);
}
static void write_st(const char* path, const char* header, const void* data, size_t data_len) {
    write_raw(path, header, strlen(header), data, data_len);
}

// Opens path, which must fail with a message containing the path and every one of the needles.
static void expect_open_error(const char* path, const char* needle1, const char* needle2) {
    fl_safetensors st;
    fl_err err = {{0}};
    int rc = fl_st_open(&st, path, &err);
    CHECK(rc == -1, "%s: open succeeded, expected an error with '%s'", path, needle1);
    CHECK(st.map == NULL && st.tensors == NULL, "%s: failed open left state behind", path);
    CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    CHECK(strstr(err.msg, needle1) != NULL, "message lacks '%s': %s", needle1, err.msg);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message lacks '%s': %s", needle2, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
    if (getenv("FL_TEST_VERBOSE")) printf("    %s\n", err.msg);
    fl_st_close(&st);
}

static int count_dir_entries(const char* dir) {
    DIR* d = opendir(dir);
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_roundtrip(void) {
    float a[6] = {1.5f, -2.25f, 3.0f, 0.0f, -0.0f, 1e-30f};
    float b[4] = {10, 20, 30, 40};
    float s[1] = {42.5f};
    int64_t sa[2] = {2, 3}, sb[1] = {4}, se[2] = {0, 3};
    fl_st_entry in[4] = {
        {"layer.a", 2, sa, a}, {"b", 1, sb, b}, {"scalar", 0, NULL, s}, {"empty", 2, se, NULL},
    };
    fl_st_meta meta[2] = {{"format", "pt"}, {"note", "flbench \"test\" \\ unicode \xc3\xa9"}};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rt", t_tmpdir());
    mkdir(dir, 0755);
    char path[600];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    fl_err err = {{0}};
    CHECK(fl_st_write_f32(path, in, 4, meta, 2, &err) == 0, "write: %s", err.msg);
    CHECK(count_dir_entries(dir) == 1, "temp file left behind: %d entries", count_dir_entries(dir));
    fl_safetensors st;
    if (fl_st_open(&st, path, &err) != 0) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    CHECK(st.header_len % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)st.header_len);
    CHECK(st.n_tensors == 4, "n_tensors %d", st.n_tensors);
    CHECK(st.n_meta == 2, "n_meta %d", st.n_meta);
    CHECK(fl_st_meta_get(&st, "format") && strcmp(fl_st_meta_get(&st, "format"), "pt") == 0, "meta format");
    CHECK(fl_st_meta_get(&st, "note") && strcmp(fl_st_meta_get(&st, "note"), meta[1].value) == 0, "meta note");
    CHECK(fl_st_meta_get(&st, "nothing") == NULL, "meta missing key");
    for (int i = 0; i < 4; i++) CHECK(strcmp(st.tensors[i].name, in[i].name) == 0, "order %d: %s", i, st.tensors[i].name);
    const fl_st_tensor* t = fl_st_find(&st, "layer.a");
    CHECK(t && t->dtype == FL_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6,
          "layer.a table entry");
    CHECK(t && t->begin == 0 && t->end == 24, "layer.a offsets");
    float out[6];
    CHECK(fl_st_read_f32(&st, "layer.a", 2, sa, out, &err) == 0, "read a: %s", err.msg);
    CHECK(memcmp(out, a, sizeof a) == 0, "a differs after round trip (bitwise)");
    CHECK(fl_st_read_f32(&st, "b", 1, sb, out, &err) == 0, "read b: %s", err.msg);
    CHECK(memcmp(out, b, sizeof b) == 0, "b differs");
    CHECK(fl_st_read_f32(&st, "scalar", 0, NULL, out, &err) == 0 && out[0] == 42.5f, "scalar: %s", err.msg);
    t = fl_st_find(&st, "empty");
    CHECK(t && t->numel == 0 && t->begin == t->end, "empty tensor");
    CHECK(fl_st_read_f32(&st, "empty", 2, se, out, &err) == 0, "read empty: %s", err.msg);
    fl_st_close(&st);
    CHECK(st.map == NULL, "close leaves a map");

    // Overwrite in place: readers see the new file, no temp file stays.
    float c[2] = {7, 8};
    int64_t sc[1] = {2};
    fl_st_entry in2[1] = {{"c", 1, sc, c}};
    CHECK(fl_st_write_f32(path, in2, 1, NULL, 0, &err) == 0, "rewrite: %s", err.msg);
    CHECK(count_dir_entries(dir) == 1, "temp file left behind after rewrite");
    CHECK(fl_st_open(&st, path, &err) == 0, "reopen: %s", err.msg);
    CHECK(st.n_tensors == 1 && st.n_meta == 0 && fl_st_find(&st, "layer.a") == NULL, "rewrite content");
    CHECK(fl_st_read_f32(&st, "c", 1, sc, out, &err) == 0 && out[0] == 7 && out[1] == 8, "c: %s", err.msg);
    fl_st_close(&st);
}

static void test_writer_errors(void) {
    float a[2] = {1, 2};
    int64_t s2[1] = {2}, neg[1] = {-1};
    fl_err err = {{0}};
    const char* p = t_path("werr.safetensors");
    fl_st_entry dup[2] = {{"x", 1, s2, a}, {"x", 1, s2, a}};
    CHECK(fl_st_write_f32(p, dup, 2, NULL, 0, &err) == -1 && strstr(err.msg, "twice"), "duplicate: %s", err.msg);
    fl_st_entry meta_name[1] = {{"__metadata__", 1, s2, a}};
    CHECK(fl_st_write_f32(p, meta_name, 1, NULL, 0, &err) == -1 && strstr(err.msg, "__metadata__"), "reserved: %s", err.msg);
    fl_st_entry empty_name[1] = {{"", 1, s2, a}};
    CHECK(fl_st_write_f32(p, empty_name, 1, NULL, 0, &err) == -1 && strstr(err.msg, "empty name"), "empty: %s", err.msg);
    fl_st_entry negative[1] = {{"n", 1, neg, a}};
    CHECK(fl_st_write_f32(p, negative, 1, NULL, 0, &err) == -1 && strstr(err.msg, "negative"), "negative: %s", err.msg);
    fl_st_entry nodata[1] = {{"n", 1, s2, NULL}};
    CHECK(fl_st_write_f32(p, nodata, 1, NULL, 0, &err) == -1 && strstr(err.msg, "no data"), "no data: %s", err.msg);
    fl_st_entry ok[1] = {{"n", 1, s2, a}};
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.safetensors", t_tmpdir());
    CHECK(fl_st_write_f32(bad, ok, 1, NULL, 0, &err) == -1 && strstr(err.msg, "no/such/dir"), "bad dir: %s", err.msg);
    FILE* f = fopen(p, "rb");
    CHECK(f == NULL, "a failed write left %s behind", p);
    if (f) fclose(f);
}

// Bit patterns written by hand (IEEE 754 binary16 and bfloat16) against their exact values.
static void test_half_conversions(void) {
    struct { uint16_t bits; float value; } f16[] = {
        {0x3C00, 1.0f}, {0xC000, -2.0f}, {0x3800, 0.5f}, {0x3555, 0.333251953125f}, {0x7BFF, 65504.0f},
        {0x0400, 6.103515625e-05f /* 2^-14, smallest normal */}, {0x0001, 5.9604644775390625e-08f /* 2^-24 */},
        {0x03FF, 6.097555160522461e-05f /* 1023 * 2^-24, largest subnormal */}, {0x0000, 0.0f},
        {0x7C00, INFINITY}, {0xFC00, -INFINITY}, {0x4248, 3.140625f},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++)
        CHECK(fl_f16_to_f32(f16[i].bits) == f16[i].value, "f16 0x%04x -> %.9g, expected %.9g", f16[i].bits,
              fl_f16_to_f32(f16[i].bits), f16[i].value);
    CHECK(fl_f16_to_f32(0x8000) == 0.0f && signbit(fl_f16_to_f32(0x8000)), "f16 -0");
    CHECK(isnan(fl_f16_to_f32(0x7E00)), "f16 nan");
    struct { uint16_t bits; float value; } bf[] = {
        {0x3F80, 1.0f}, {0xC040, -3.0f}, {0x3EAB, 0.333984375f}, {0x7F7F, 3.3895313892515355e38f},
        {0x0080, 1.1754943508222875e-38f /* 2^-126 */}, {0x0001, 9.183549615799121e-41f /* 2^-133 */},
        {0xFF80, -INFINITY}, {0x4049, 3.140625f},
    };
    for (size_t i = 0; i < sizeof bf / sizeof bf[0]; i++)
        CHECK(fl_bf16_to_f32(bf[i].bits) == bf[i].value, "bf16 0x%04x -> %.9g, expected %.9g", bf[i].bits,
              fl_bf16_to_f32(bf[i].bits), bf[i].value);
    CHECK(isnan(fl_bf16_to_f32(0x7FC0)), "bf16 nan");

    // The same patterns in a file: F16 (2, 2), BF16 (3,) at an odd offset (unaligned), F64 (1,).
    uint16_t h[4] = {0x3C00, 0xC000, 0x3555, 0x0001};
    uint16_t b[3] = {0x3F80, 0xC040, 0x3EAB};
    double d = 0.1;
    uint8_t data[8 + 6 + 8];
    memcpy(data, h, 8);
    memcpy(data + 8, b, 6);
    memcpy(data + 14, &d, 8);
    const char* p = t_path("half.safetensors");
    write_st(p,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},"
             "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[14,22]}}",
             data, sizeof data);
    fl_safetensors st;
    fl_err err = {{0}};
    if (fl_st_open(&st, p, &err) != 0) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    float out[4];
    int64_t s22[2] = {2, 2}, s3[1] = {3}, s1[1] = {1};
    CHECK(fl_st_read_f32(&st, "h", 2, s22, out, &err) == 0, "F16 read: %s", err.msg);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.333251953125f && out[3] == 5.9604644775390625e-08f,
          "F16 values %g %g %g %g", out[0], out[1], out[2], out[3]);
    CHECK(fl_st_read_f32(&st, "b", 1, s3, out, &err) == 0, "BF16 read: %s", err.msg);
    CHECK(out[0] == 1.0f && out[1] == -3.0f && out[2] == 0.333984375f, "BF16 values %g %g %g", out[0], out[1], out[2]);
    CHECK(fl_st_read_f32(&st, "d", 1, s1, out, &err) == 0 && out[0] == 0.1f, "F64 read: %s", err.msg);
    fl_st_close(&st);
}

static void test_error_cases(void) {
    uint8_t zeros[64] = {0};
    const char* p;

    p = t_path("empty.safetensors");
    t_write_bytes(p, "", 0);
    expect_open_error(p, "truncated", "0 bytes");
    p = t_path("five.safetensors");
    t_write_bytes(p, "\x10\0\0\0\0", 5);
    expect_open_error(p, "truncated", "5 bytes");

    // Header length that lies: beyond the end of the file...
    p = t_path("len_long.safetensors");
    write_raw(p, "{}", 1000, NULL, 0);
    expect_open_error(p, "header length", "1000");
    // ...a huge value (must not overflow or allocate)...
    p = t_path("len_huge.safetensors");
    write_raw(p, "{}", UINT64_MAX, NULL, 0);
    expect_open_error(p, "header length", "18446744073709551615");
    // ...or short, cutting the JSON: invalid JSON with the byte offset of the parse error.
    p = t_path("len_short.safetensors");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 20, zeros, 4);
    expect_open_error(p, "not valid JSON", "header length field says 20");
    p = t_path("garbage.safetensors");
    write_st(p, "this is not json", NULL, 0);
    expect_open_error(p, "not valid JSON", "byte offset 8");
    p = t_path("array.safetensors");
    write_st(p, "[1, 2, 3]", NULL, 0);
    expect_open_error(p, "not an object", NULL);
    p = t_path("after.safetensors");
    write_st(p, "{}  x", NULL, 0);
    expect_open_error(p, "other than padding", "byte offset 12");

    // Offsets: overlapping, out of range, size not dtype x numel, holes, trailing bytes.
    p = t_path("overlap.safetensors");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
             zeros, 24);
    expect_open_error(p, "overlap tensor 'a'", "tensor 'b'");
    p = t_path("same_range.safetensors");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
             zeros, 16);
    expect_open_error(p, "overlap", NULL);
    p = t_path("range.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 8);
    expect_open_error(p, "out of range", "tensor 'a'");
    p = t_path("range_far.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9007199254740000,9007199254740004]}}", zeros, 8);
    expect_open_error(p, "out of range", NULL);
    p = t_path("size.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", zeros, 16);
    expect_open_error(p, "needs 12 bytes", "hold 16");
    p = t_path("size_f16.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", zeros, 24);
    expect_open_error(p, "needs 12 bytes", "F16, shape (2, 3)");
    p = t_path("reversed.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", zeros, 8);
    expect_open_error(p, "end before they begin", NULL);
    p = t_path("hole.safetensors");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
             zeros, 24);
    expect_open_error(p, "hole", "tensor 'b'");
    p = t_path("trailing.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 12);
    expect_open_error(p, "4 trailing bytes", NULL);
    p = t_path("offs_neg.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", zeros, 8);
    expect_open_error(p, "not non-negative integers", NULL);
    p = t_path("offs_frac.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7.5]}}", zeros, 8);
    expect_open_error(p, "not non-negative integers", NULL);
    p = t_path("offs_three.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", zeros, 8);
    expect_open_error(p, "data_offsets", "2 integers");

    // dtype and shape.
    p = t_path("dtype.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_error(p, "unknown dtype 'F17'", "tensor 'a'");
    p = t_path("no_dtype.safetensors");
    write_st(p, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_error(p, "no \"dtype\"", NULL);
    p = t_path("shape_neg.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_error(p, "shape [-2]: entry 0", NULL);
    p = t_path("shape_9d.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_error(p, "9 dimensions", NULL);
    p = t_path("shape_overflow.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_error(p, "64 bits", NULL);
    p = t_path("dup.safetensors");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             zeros, 8);
    expect_open_error(p, "twice", NULL);
    p = t_path("meta.safetensors");
    write_st(p, "{\"__metadata__\":{\"k\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_error(p, "__metadata__", "not a string");
    p = t_path("entry.safetensors");
    write_st(p, "{\"a\":[1,2]}", NULL, 0);
    expect_open_error(p, "not a JSON object", NULL);

    // Valid file; missing tensor, shape mismatch and a dtype that is not a float.
    p = t_path("valid.safetensors");
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]}}   ",
             zeros, 40);
    fl_safetensors st;
    fl_err err = {{0}};
    if (fl_st_open(&st, p, &err) != 0) {
        CHECK(0, "valid file: %s", err.msg);
        return;
    }
    float out[8];
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6}, s2[1] = {2};
    CHECK(fl_st_read_f32(&st, "nope", 2, s23, out, &err) == -1 && strstr(err.msg, "tensor 'nope' not found") &&
              strstr(err.msg, p),
          "missing: %s", err.msg);
    CHECK(fl_st_read_f32(&st, "w", 2, s32, out, &err) == -1 && strstr(err.msg, "has shape (2, 3), expected (3, 2)"),
          "shape: %s", err.msg);
    CHECK(fl_st_read_f32(&st, "w", 1, s6, out, &err) == -1 && strstr(err.msg, "expected (6)"), "rank: %s", err.msg);
    CHECK(fl_st_read_f32(&st, "i", 1, s2, out, &err) == -1 && strstr(err.msg, "dtype I64"), "I64: %s", err.msg);
    CHECK(fl_st_read_f32(&st, "w", 2, s23, out, &err) == 0, "w: %s", err.msg);
    fl_st_close(&st);

    p = t_path("missing_file.safetensors");
    remove(p);
    expect_open_error(p, "cannot open", NULL);
    expect_open_error(t_tmpdir(), "not a regular file", NULL);
}

// Every truncation of a valid file, and every single-byte corruption of its header, must be
// refused with a message or (for harmless changes like a space) open fine; never crash.
static void test_truncation_and_corruption(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t sa[2] = {2, 3}, sb[1] = {1};
    fl_st_entry in[2] = {{"weight", 2, sa, a}, {"bias", 1, sb, a}};
    const char* p = t_path("good.safetensors");
    fl_err err = {{0}};
    CHECK(fl_st_write_f32(p, in, 2, NULL, 0, &err) == 0, "write: %s", err.msg);
    FILE* f = fopen(p, "rb");
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char* q = t_path("cut.safetensors");
    for (size_t len = 0; len < n; len++) {
        t_write_bytes(q, buf, len);
        fl_safetensors st;
        int rc = fl_st_open(&st, q, &err);
        CHECK(rc == -1 && err.msg[0], "truncated to %zu of %zu bytes opened", len, n);
        fl_st_close(&st);
    }
    uint64_t hlen;
    memcpy(&hlen, buf, 8);
    int opened = 0, refused = 0;
    const uint8_t values[] = {0x00, '"', '{', '}', '[', ']', ',', ':', '9', '-', ' ', 'x', 0xff};
    for (size_t at = 0; at < 8 + hlen; at++)
        for (size_t v = 0; v < sizeof values; v++) {
            uint8_t c[4096];
            memcpy(c, buf, n);
            if (c[at] == values[v]) continue;
            c[at] = values[v];
            t_write_bytes(q, c, n);
            fl_safetensors st;
            err.msg[0] = '\0';
            if (fl_st_open(&st, q, &err) == 0) {
                opened++;
                float out[6];
                for (int i = 0; i < st.n_tensors; i++)
                    if (st.tensors[i].numel <= 6) fl_st_tensor_to_f32(&st, &st.tensors[i], out, &err);
                fl_st_close(&st);
            } else {
                refused++;
                CHECK(err.msg[0] && strchr(err.msg, '\n') == NULL, "corruption at %zu gave no one-line message", at);
            }
        }
    CHECK(refused > 0 && opened > 0, "corruptions: %d opened, %d refused", opened, refused);
}


static void test_hfconfig(void) {
    fl_vit_hfconfig cfg;
    fl_err err = {{0}};
    const char* p = t_path("config.json");
    t_write_text(p,
               "{\"model_type\":\"vit\",\"image_size\":224,\"patch_size\":16,\"num_channels\":3,\"hidden_size\":768,"
               "\"num_hidden_layers\":12,\"num_attention_heads\":12,\"intermediate_size\":3072,"
               "\"layer_norm_eps\":1e-12,\"hidden_act\":\"gelu\",\"qkv_bias\":true}");
    CHECK(fl_vit_hfconfig_read(p, &cfg, &err) == 0, "in21k-like: %s", err.msg);
    CHECK(cfg.image_size == 224 && cfg.patch_size == 16 && cfg.num_channels == 3 && cfg.hidden_size == 768 &&
              cfg.num_hidden_layers == 12 && cfg.num_attention_heads == 12 && cfg.intermediate_size == 3072 &&
              cfg.layer_norm_eps == 1e-12f && cfg.qkv_bias == 1 && strcmp(cfg.hidden_act, "gelu") == 0 &&
              cfg.num_labels == 0 && cfg.defaults_used[0] == '\0',
          "in21k-like values");
    // Reading the directory finds config.json in it.
    CHECK(fl_vit_hfconfig_read(t_tmpdir(), &cfg, &err) == 0 && cfg.hidden_size == 768, "dir: %s", err.msg);

    t_write_text(p, "{\"image_size\":[32,32],\"patch_size\":4,\"num_channels\":1,\"hidden_size\":64,"
                  "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":128,"
                  "\"id2label\":{\"0\":\"a\",\"1\":\"b\",\"2\":\"c\"}}");
    CHECK(fl_vit_hfconfig_read(p, &cfg, &err) == 0, "defaults: %s", err.msg);
    CHECK(cfg.image_size == 32 && cfg.num_labels == 3 && cfg.qkv_bias == 1 && cfg.layer_norm_eps == 1e-12f,
          "defaults values");
    CHECK(strcmp(cfg.defaults_used, "layer_norm_eps, hidden_act, qkv_bias") == 0, "defaults_used '%s'",
          cfg.defaults_used);

    struct { const char* json; const char* needle; } bad[] = {
        {"{\"image_size\":224,\"patch_size\":16,\"num_channels\":3,\"num_hidden_layers\":12,\"num_attention_heads\":12,"
         "\"intermediate_size\":3072}", "'hidden_size' is missing"},
        {"{\"image_size\":224,\"patch_size\":16,\"num_channels\":3,\"hidden_size\":76.5,\"num_hidden_layers\":12,"
         "\"num_attention_heads\":12,\"intermediate_size\":3072}", "'hidden_size' is 76.5"},
        {"{\"image_size\":\"224\",\"patch_size\":16}", "'image_size' is \"224\""},
        {"{\"image_size\":[224,160],\"patch_size\":16}", "square"},
        {"{\"image_size\":224,\"patch_size\":16,\"num_channels\":0}", "'num_channels' is 0"},
        {"{\"image_size\":30,\"patch_size\":4,\"num_channels\":3,\"hidden_size\":64,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"intermediate_size\":8}", "not a multiple of patch_size"},
        {"{\"image_size\":32,\"patch_size\":4,\"num_channels\":3,\"hidden_size\":64,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":3,\"intermediate_size\":8}", "not a multiple of num_attention_heads"},
        {"{\"image_size\":32,\"patch_size\":4,\"num_channels\":3,\"hidden_size\":64,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"intermediate_size\":8,\"hidden_act\":\"gelu_new\"}", "\"gelu_new\", expected \"gelu\""},
        {"{\"image_size\":32,\"patch_size\":4,\"num_channels\":3,\"hidden_size\":64,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"intermediate_size\":8,\"layer_norm_eps\":-1}", "layer_norm_eps"},
        {"{\"image_size\":32,\"patch_size\":4,\"num_channels\":3,\"hidden_size\":64,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"intermediate_size\":8,\"qkv_bias\":1}", "qkv_bias"},
        {"{\"image_size\":32,\"patch_size\":4,\"num_channels\":3,\"hidden_size\":64,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"intermediate_size\":8,\"num_labels\":5,\"id2label\":{\"0\":\"a\"}}",
         "num_labels is 5 but id2label has 1"},
        {"{\"model_type\":\"deit\"}", "\"deit\", expected \"vit\""},
        {"{\"image_size\": 32,, }", "not valid JSON"},
        {"[1]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_write_text(p, bad[i].json);
        int rc = fl_vit_hfconfig_read(p, &cfg, &err);
        CHECK(rc == -1 && strstr(err.msg, bad[i].needle) && strstr(err.msg, p), "case %zu: expected '%s', got: %s", i,
              bad[i].needle, rc ? err.msg : "success");
    }
    CHECK(fl_vit_hfconfig_read(t_path("nothing.json"), &cfg, &err) == -1 && strstr(err.msg, "nothing.json"),
          "missing file: %s", err.msg);
}

// The committed golden fixtures: the tensor list of model.safetensors follows from config.json
// exactly (names of the layout in make_vit_golden.py, shapes from the config); gradients match
// the parameters one to one; arrays have the shapes the script documents.
static int expect_tensor(const fl_safetensors* st, const char* name, int ndim, int64_t d0, int64_t d1, int64_t d2,
                         int64_t d3) {
    int64_t want[4] = {d0, d1, d2, d3};
    const fl_st_tensor* t = fl_st_find(st, name);
    CHECK(t != NULL, "%s: tensor '%s' missing", st->path, name);
    if (!t) return 0;
    int same = t->ndim == ndim && t->dtype == FL_ST_F32;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == want[d];
    CHECK(same, "%s: tensor '%s' has the wrong dtype or shape", st->path, name);
    return 1;
}

static int expect_vit_tensors(const fl_safetensors* st, const fl_vit_hfconfig* c, const char* pre, int head, int pooler) {
    int64_t D = c->hidden_size, M = c->intermediate_size, P = c->patch_size, C = c->num_channels;
    int64_t T = (int64_t)(c->image_size / c->patch_size) * (c->image_size / c->patch_size) + 1;
    char n[256];
    int count = 0;
#define E(ndim, a, b, cc, d, ...) (snprintf(n, sizeof n, __VA_ARGS__), count += expect_tensor(st, n, ndim, a, b, cc, d))
    E(3, 1, 1, D, 0, "%sembeddings.cls_token", pre);
    E(3, 1, T, D, 0, "%sembeddings.position_embeddings", pre);
    E(4, D, C, P, P, "%sembeddings.patch_embeddings.projection.weight", pre);
    E(1, D, 0, 0, 0, "%sembeddings.patch_embeddings.projection.bias", pre);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const char* qkv[3] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            E(2, D, D, 0, 0, "%sencoder.layer.%d.attention.attention.%s.weight", pre, l, qkv[k]);
            E(1, D, 0, 0, 0, "%sencoder.layer.%d.attention.attention.%s.bias", pre, l, qkv[k]);
        }
        E(2, D, D, 0, 0, "%sencoder.layer.%d.attention.output.dense.weight", pre, l);
        E(1, D, 0, 0, 0, "%sencoder.layer.%d.attention.output.dense.bias", pre, l);
        E(2, M, D, 0, 0, "%sencoder.layer.%d.intermediate.dense.weight", pre, l);
        E(1, M, 0, 0, 0, "%sencoder.layer.%d.intermediate.dense.bias", pre, l);
        E(2, D, M, 0, 0, "%sencoder.layer.%d.output.dense.weight", pre, l);
        E(1, D, 0, 0, 0, "%sencoder.layer.%d.output.dense.bias", pre, l);
        const char* lns[2] = {"layernorm_before", "layernorm_after"};
        for (int k = 0; k < 2; k++) {
            E(1, D, 0, 0, 0, "%sencoder.layer.%d.%s.weight", pre, l, lns[k]);
            E(1, D, 0, 0, 0, "%sencoder.layer.%d.%s.bias", pre, l, lns[k]);
        }
    }
    E(1, D, 0, 0, 0, "%slayernorm.weight", pre);
    E(1, D, 0, 0, 0, "%slayernorm.bias", pre);
    if (head) {
        E(2, c->num_labels, D, 0, 0, "classifier.weight");
        E(1, c->num_labels, 0, 0, 0, "classifier.bias");
    }
    if (pooler) {
        E(2, D, D, 0, 0, "pooler.dense.weight");
        E(1, D, 0, 0, 0, "pooler.dense.bias");
    }
#undef E
    return count;
}

static void expect_npy(const char* dir, const char* file, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int64_t want[4] = {d0, d1, d2, d3};
    fl_npy arr;
    fl_err err = {{0}};
    if (fl_npy_read_f32(path, &arr, &err) != 0) {
        CHECK(0, "%s", err.msg);
        return;
    }
    CHECK(fl_npy_check_shape(&arr, path, ndim, want, &err) == 0, "%s", err.msg);
    int finite = 1;
    for (int64_t i = 0; i < arr.numel; i++) finite &= isfinite(arr.data[i]);
    CHECK(finite, "%s has non-finite values", path);
    fl_npy_free(&arr);
}

// loss.npy must be the mean cross-entropy of logits.npy against labels.npy. Computed here in
// double from the float32-rounded logits: rounding moves each logit by at most 6e-8 relative
// (|logit| < 4 here), so the loss moves by well under 1e-6.
static void check_loss_matches_logits(const char* dir) {
    char p1[512], p2[512], p3[512];
    snprintf(p1, sizeof p1, "%s/logits.npy", dir);
    snprintf(p2, sizeof p2, "%s/labels.npy", dir);
    snprintf(p3, sizeof p3, "%s/loss.npy", dir);
    fl_npy logits, labels, loss;
    fl_err err = {{0}};
    if (fl_npy_read_f32(p1, &logits, &err) || fl_npy_read_f32(p2, &labels, &err) || fl_npy_read_f32(p3, &loss, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    int64_t n = logits.shape[0], k = logits.shape[1];
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float* z = logits.data + i * k;
        double m = z[0], sum = 0;
        for (int64_t j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        for (int64_t j = 0; j < k; j++) sum += exp(z[j] - m);
        int y = (int)labels.data[i];
        CHECK(y >= 0 && y < k && labels.data[i] == (float)y, "%s: label %g is not a class index", p2, labels.data[i]);
        if (y >= 0 && y < k) total += m + log(sum) - z[y];
    }
    double ce = total / (double)n;
    CHECK(fabs(ce - loss.data[0]) < 1e-6, "%s: loss %.9g but cross-entropy of the logits is %.9g", p3, loss.data[0], ce);
    fl_npy_free(&logits);
    fl_npy_free(&labels);
    fl_npy_free(&loss);
}

static void test_golden_fixtures(void) {
    struct { const char* name; int head; int64_t batch; int classes; float eps; } fx[] = {
        {"gray16", 1, 4, 5, 1e-12f}, {"rgb12", 1, 3, 7, 1e-6f}, {"bare8", 0, 2, 0, 1e-12f},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        char dir[256], path[512];
        snprintf(dir, sizeof dir, GOLDEN_DIR "/%s", fx[i].name);
        fl_vit_hfconfig c;
        fl_err err = {{0}};
        if (fl_vit_hfconfig_read(dir, &c, &err) != 0) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        CHECK(c.num_labels == fx[i].classes && c.layer_norm_eps == fx[i].eps && c.qkv_bias == 1 &&
                  strcmp(c.hidden_act, "gelu") == 0 && c.defaults_used[0] == '\0',
              "%s: config num_labels %d eps %g defaults '%s'", dir, c.num_labels, c.layer_norm_eps, c.defaults_used);
        fl_safetensors st;
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (fl_st_open(&st, path, &err) != 0) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        int expected = expect_vit_tensors(&st, &c, fx[i].head ? "vit." : "", fx[i].head, !fx[i].head);
        int n_params = 4 + 16 * c.num_hidden_layers + 2 + (fx[i].head ? 2 : 2 /* pooler */);
        CHECK(expected == n_params && st.n_tensors == n_params, "%s: %d tensors, expected %d", path, st.n_tensors, n_params);
        // Every parameter converts (F32) and is finite.
        for (int k = 0; k < st.n_tensors; k++) {
            float* buf = malloc(sizeof(float) * (size_t)st.tensors[k].numel);
            CHECK(fl_st_tensor_to_f32(&st, &st.tensors[k], buf, &err) == 0, "%s", err.msg);
            free(buf);
        }
        int64_t T = (int64_t)(c.image_size / c.patch_size) * (c.image_size / c.patch_size) + 1, D = c.hidden_size;
        fl_safetensors hs;
        snprintf(path, sizeof path, "%s/hidden_states.safetensors", dir);
        if (fl_st_open(&hs, path, &err) == 0) {
            CHECK(hs.n_tensors == c.num_hidden_layers + 2, "%s: %d tensors", path, hs.n_tensors);
            expect_tensor(&hs, "embeddings", 3, fx[i].batch, T, D, 0);
            expect_tensor(&hs, "layernorm", 3, fx[i].batch, T, D, 0);
            for (int l = 0; l < c.num_hidden_layers; l++) {
                char n[32];
                snprintf(n, sizeof n, "layer.%d", l);
                expect_tensor(&hs, n, 3, fx[i].batch, T, D, 0);
            }
            fl_st_close(&hs);
        } else {
            CHECK(0, "%s", err.msg);
        }
        expect_npy(dir, "input.npy", 4, fx[i].batch, c.num_channels, c.image_size, c.image_size);
        if (fx[i].head) {
            expect_npy(dir, "logits.npy", 2, fx[i].batch, c.num_labels, 0, 0);
            expect_npy(dir, "labels.npy", 1, fx[i].batch, 0, 0, 0);
            expect_npy(dir, "loss.npy", 1, 1, 0, 0, 0);
            check_loss_matches_logits(dir);
            fl_safetensors gr;
            snprintf(path, sizeof path, "%s/grads.safetensors", dir);
            if (fl_st_open(&gr, path, &err) == 0) {
                CHECK(gr.n_tensors == st.n_tensors, "%s: %d gradients for %d parameters", path, gr.n_tensors, st.n_tensors);
                for (int k = 0; k < st.n_tensors; k++) {
                    const fl_st_tensor* g = fl_st_find(&gr, st.tensors[k].name);
                    CHECK(g && g->ndim == st.tensors[k].ndim &&
                              memcmp(g->shape, st.tensors[k].shape, sizeof(int64_t) * (size_t)g->ndim) == 0,
                          "%s: gradient of '%s' missing or of another shape", path, st.tensors[k].name);
                }
                CHECK(fl_st_meta_get(&gr, "reference") != NULL, "%s: no reference metadata", path);
                fl_st_close(&gr);
            } else {
                CHECK(0, "%s", err.msg);
            }
        } else {
            expect_npy(dir, "features.npy", 2, fx[i].batch, c.hidden_size, 0, 0);
        }
        fl_st_close(&st);
    }
}

int main(void) {
    RUN(test_roundtrip);
    RUN(test_writer_errors);
    RUN(test_half_conversions);
    RUN(test_error_cases);
    RUN(test_truncation_and_corruption);
    RUN(test_hfconfig);
    RUN(test_golden_fixtures);
    TEST_EXIT();
}
