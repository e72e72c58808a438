// test_npyframe.c: in-memory .npy and length-prefixed frames (impl/io/npyframe.c).
// Round trips of every dtype and rank (0-d and empty arrays too), the largest request of a
// prompt run (prompts (3840, 10, 192) float32, 29 MB) through a pipe from a writer thread,
// every malformed input with its message, the end of a stream, a timeout, a reader that has
// gone (EPIPE, not SIGPIPE), and agreement with numpy itself both ways (SKIP without numpy).
#include "impl/io/npyframe.h"
#include "tests/test.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

static void fill(int dtype, int64_t numel, void* data) {
    for (int64_t i = 0; i < numel; i++) {
        if (dtype == FL_NPY_F32) ((float*)data)[i] = (float)i * 0.5f - 3.0f;
        else if (dtype == FL_NPY_I32) ((int32_t*)data)[i] = (int32_t)(i * 7 - 11);
        else ((int64_t*)data)[i] = (int64_t)i * 3000000000LL - 5;
    }
}

static void expect_decode_error(const void* buf, size_t len, const char* needle) {
    fl_npy_array arr;
    fl_err err = {{0}};
    int rc = fl_npy_decode(buf, len, "frame 2", &arr, &err);
    CHECK(rc == -1, "decoding succeeded, expected an error with '%s'", needle);
    CHECK(arr.data == NULL, "a failed decode left data");
    CHECK(strstr(err.msg, "frame 2") && strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
    if (getenv("FL_TEST_VERBOSE")) printf("    %s\n", err.msg);
    fl_npy_array_free(&arr);
}

static void test_roundtrip_dtypes_and_shapes(void) {
    int64_t shapes[][8] = {{0}, {5}, {0}, {2, 3}, {3, 0, 2}, {1, 2, 1, 2, 1, 2, 1, 2}};
    int ndims[] = {0, 1, 1, 2, 3, 8};
    static uint8_t data[64 * 8];
    for (int dtype = 0; dtype < 3; dtype++)
        for (int s = 0; s < 6; s++) {
            int64_t numel = 1;
            for (int d = 0; d < ndims[s]; d++) numel *= shapes[s][d];
            fill(dtype, numel, data);
            fl_err err = {{0}};
            unsigned char* buf;
            size_t len;
            if (fl_npy_encode(dtype, ndims[s], shapes[s], data, &buf, &len, &err)) {
                CHECK(0, "encode %s rank %d: %s", fl_npy_dtype_descr(dtype), ndims[s], err.msg);
                continue;
            }
            size_t hlen = (size_t)buf[8] | ((size_t)buf[9] << 8);
            CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0 && (10 + hlen) % 64 == 0 && buf[9 + hlen] == '\n',
                  "%s rank %d: preamble or padding", fl_npy_dtype_descr(dtype), ndims[s]);
            CHECK(len == 10 + hlen + (size_t)numel * (size_t)fl_npy_dtype_size(dtype), "length %zu", len);
            fl_npy_array arr;
            if (fl_npy_decode(buf, len, "frame", &arr, &err)) {
                CHECK(0, "decode %s rank %d: %s", fl_npy_dtype_descr(dtype), ndims[s], err.msg);
            } else {
                CHECK(arr.dtype == dtype && arr.ndim == ndims[s] && arr.numel == numel, "%s rank %d: dtype %d ndim %d",
                      fl_npy_dtype_descr(dtype), ndims[s], arr.dtype, arr.ndim);
                for (int d = 0; d < ndims[s] && d < arr.ndim; d++) CHECK(arr.shape[d] == shapes[s][d], "dim %d", d);
                CHECK(memcmp(arr.data, data, (size_t)numel * (size_t)fl_npy_dtype_size(dtype)) == 0, "data differs");
            }
            fl_npy_array_free(&arr);
            free(buf);
        }
}

static void test_malformed_arrays(void) {
    int64_t shape[2] = {2, 3};
    float v[6] = {1, 2, 3, 4, 5, 6};
    unsigned char* good;
    size_t len;
    fl_err err = {{0}};
    CHECK(fl_npy_encode(FL_NPY_F32, 2, shape, v, &good, &len, &err) == 0, "%s", err.msg);
    unsigned char b[256];
    expect_decode_error(good, 8, "truncated");
    expect_decode_error("this is not a .npy file", 23, "magic");
    expect_decode_error(good, 40, "header length");           // the header cut short
    expect_decode_error(good, len - 4, "needs 24 data bytes"); // data shorter than the shape
    memcpy(b, good, len);
    b[6] = 4;
    expect_decode_error(b, len, "version 4.0");
    const char* bad[][2] = {{"'<f4'", "'<f8'"}, {"'<f4'", "'>i4'"}, {"False", "True "}, {"(2, 3)", "(2, 4)"},
                            {"(2, 3)", "(9999999999, 9999999999, 9999999999)"}};
    const char* needle[] = {"dtype '<f8'", "big-endian", "Fortran order", "needs 32 data bytes", "fit in 64 bits"};
    for (int k = 0; k < 5; k++) {
        char dict[160];
        snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': %s, 'shape': %s, }", k == 0 || k == 1 ? bad[k][1] : "'<f4'",
                 k == 2 ? bad[k][1] : "False", k >= 3 ? bad[k][1] : "(2, 3)");
        size_t dl = strlen(dict), total = (10 + dl + 1 + 63) / 64 * 64;
        memcpy(b, "\x93NUMPY\x01\x00", 8);
        b[8] = (unsigned char)(total - 10);
        b[9] = 0;
        memcpy(b + 10, dict, dl);
        memset(b + 10 + dl, ' ', total - 10 - dl);
        b[total - 1] = '\n';
        memcpy(b + total, v, sizeof v);
        expect_decode_error(b, total + sizeof v, needle[k]);
    }
    free(good);
}

// ---- frames through pipes -------------------------------------------------------------------

typedef struct {
    int fd;
    const float* prompts;
    int rc;
} writer_args;

static void* writer(void* p) {
    writer_args* a = p;
    fl_err err = {{0}};
    int64_t pshape[3] = {3840, 10, 192}, none[1] = {0}, scalar = 42;
    a->rc = fl_frame_write(a->fd, FL_NPY_F32, 3, pshape, a->prompts, 0, &err);
    if (!a->rc) a->rc = fl_frame_write(a->fd, FL_NPY_I64, 0, none, &scalar, 0, &err);
    if (!a->rc) a->rc = fl_frame_write(a->fd, FL_NPY_I32, 1, none, NULL, 0, &err);
    if (a->rc) fprintf(stderr, "writer: %s\n", err.msg);
    close(a->fd);
    return NULL;
}

static void test_large_frames_through_a_pipe(void) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    size_t n = (size_t)3840 * 10 * 192;
    float* prompts = fl_malloc(n * sizeof *prompts);
    for (size_t i = 0; i < n; i++) prompts[i] = (float)(i % 1000003) * 1e-3f;
    writer_args a = {fds[1], prompts, 0};
    pthread_t th;
    pthread_create(&th, NULL, writer, &a);
    fl_err err = {{0}};
    fl_npy_array arr;
    int rc = fl_frame_read(fds[0], 0, 0, "frame 1", &arr, &err);
    CHECK(rc == 0, "large frame: %d %s", rc, err.msg);
    if (rc == 0) {
        CHECK(arr.dtype == FL_NPY_F32 && arr.ndim == 3 && arr.shape[0] == 3840 && arr.shape[1] == 10 &&
              arr.shape[2] == 192, "large frame: shape");
        CHECK(memcmp(arr.data, prompts, n * 4) == 0, "large frame: data differs");
    }
    fl_npy_array_free(&arr);
    rc = fl_frame_read(fds[0], fl_now() + 30, 0, "frame 2", &arr, &err);
    CHECK(rc == 0 && arr.ndim == 0 && arr.numel == 1 && arr.dtype == FL_NPY_I64 && ((int64_t*)arr.data)[0] == 42,
          "0-d frame: %d %s", rc, err.msg);
    fl_npy_array_free(&arr);
    rc = fl_frame_read(fds[0], fl_now() + 30, 0, "frame 3", &arr, &err);
    CHECK(rc == 0 && arr.ndim == 1 && arr.numel == 0 && arr.dtype == FL_NPY_I32, "empty frame: %d %s", rc, err.msg);
    fl_npy_array_free(&arr);
    rc = fl_frame_read(fds[0], fl_now() + 30, 0, "frame 4", &arr, &err);
    CHECK(rc == FL_FRAME_EOF, "after the writer closed: %d, expected FL_FRAME_EOF", rc);
    pthread_join(th, NULL);
    CHECK(a.rc == 0, "writer failed: %d", a.rc);
    close(fds[0]);
    free(prompts);
}

static void test_frame_faults(void) {
    fl_err err = {{0}};
    fl_npy_array arr;
    unsigned char* body;
    size_t len;
    int fds[2];
    // a length prefix above the limit
    CHECK(pipe(fds) == 0, "pipe");
    CHECK(write(fds[1], "\x00\x10\x00\x00", 4) == 4, "write");
    int rc = fl_frame_read_bytes(fds[0], fl_now() + 5, 100, &body, &len, &err);
    CHECK(rc == FL_FRAME_MALFORMED && strstr(err.msg, "4096 bytes") && strstr(err.msg, "limit of 100"), "%d %s", rc, err.msg);
    close(fds[0]);
    close(fds[1]);
    // a stream that ends inside the frame, then inside the prefix
    for (int k = 0; k < 2; k++) {
        CHECK(pipe(fds) == 0, "pipe");
        CHECK(write(fds[1], k == 0 ? "\x10\x00\x00\x00\x93NUMPY" : "\x10\x00", k == 0 ? 10 : 2) == (k == 0 ? 10 : 2), "write");
        close(fds[1]);
        rc = fl_frame_read(fds[0], fl_now() + 5, 0, "frame 2", &arr, &err);
        CHECK(rc == FL_FRAME_MALFORMED && strstr(err.msg, "frame 2") && strstr(err.msg, "truncated frame") &&
              strstr(err.msg, k == 0 ? "after 6 of its 16 bytes" : "after 2 of the 4 bytes"), "%d %s", rc, err.msg);
        close(fds[0]);
    }
    // a frame that is no .npy
    CHECK(pipe(fds) == 0, "pipe");
    fl_frame_write_bytes(fds[1], "this is not a .npy", 18, 0, &err);
    rc = fl_frame_read(fds[0], fl_now() + 5, 0, "answer to request 5: frame 2", &arr, &err);
    CHECK(rc == FL_FRAME_MALFORMED && strstr(err.msg, "answer to request 5: frame 2 is not a valid .npy: ") &&
          strstr(err.msg, "magic"), "%d %s", rc, err.msg);
    // a timeout: the writer is open and silent
    double t0 = fl_now();
    rc = fl_frame_read(fds[0], fl_now() + 0.2, 0, "frame 1", &arr, &err);
    double waited = fl_now() - t0;
    CHECK(rc == FL_FRAME_TIMEOUT && waited >= 0.19 && waited < 10, "timeout: %d after %.2f s", rc, waited);
    // a reader that has gone: EPIPE, not SIGPIPE
    close(fds[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    int64_t one[1] = {1}, shape[1] = {1};
    rc = fl_frame_write(fds[1], FL_NPY_I64, 1, shape, one, fl_now() + 5, &err);
    CHECK(rc == FL_FRAME_EOF, "write to a closed pipe: %d, expected FL_FRAME_EOF", rc);
    signal(SIGPIPE, old);
    close(fds[1]);
}

// ---- numpy ----------------------------------------------------------------------------------

// A python3 that imports numpy ("python3" on PATH first, then /usr/bin/python3), or NULL.
static const char* python_with_numpy(void) {
    const char* cands[] = {"python3", "/usr/bin/python3"};
    for (int i = 0; i < 2; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) return cands[i];
    }
    return NULL;
}

static void test_numpy_agrees(void) {
    const char* py = python_with_numpy();
    if (!py) SKIP("no python3 with numpy (apt-get install python3-numpy)");
    // C writes: a (2, 3) float32, a 0-d int64, an empty (0, 4) int32, a (3,) int32
    int64_t s_f[2] = {2, 3}, s_e[2] = {0, 4}, s_i[1] = {3};
    float f[6] = {0.5f, -1.25f, 3, 4, 5, 1e-30f};
    int64_t big = -1234567890123LL;
    int32_t i3[3] = {-7, 0, 2147483647};
    struct { int dtype, ndim; const int64_t* shape; const void* data; const char* name; } out[4] = {
        {FL_NPY_F32, 2, s_f, f, "c_f4.npy"}, {FL_NPY_I64, 0, s_i, &big, "c_i8.npy"},
        {FL_NPY_I32, 2, s_e, NULL, "c_empty.npy"}, {FL_NPY_I32, 1, s_i, i3, "c_i4.npy"}};
    fl_err err = {{0}};
    for (int k = 0; k < 4; k++) {
        unsigned char* buf;
        size_t len;
        CHECK(fl_npy_encode(out[k].dtype, out[k].ndim, out[k].shape, out[k].data, &buf, &len, &err) == 0, "%s", err.msg);
        t_write_bytes(t_path(out[k].name), buf, len);
        free(buf);
    }
    char script[2048];
    snprintf(script, sizeof script,
             "%s -c \"import numpy as np, io, sys; d=sys.argv[1]\n"
             "a=np.load(d+'/c_f4.npy'); assert a.dtype==np.float32 and a.shape==(2,3) and "
             "a.tolist()==np.array([0.5,-1.25,3,4,5,1e-30],np.float32).reshape(2,3).tolist(), a\n"
             "b=np.load(d+'/c_i8.npy'); assert b.dtype==np.int64 and b.shape==() and int(b)==-1234567890123, b\n"
             "e=np.load(d+'/c_empty.npy'); assert e.dtype==np.int32 and e.shape==(0,4), e\n"
             "c=np.load(d+'/c_i4.npy'); assert c.dtype==np.int32 and c.tolist()==[-7,0,2147483647], c\n"
             "np.save(d+'/py_f4.npy', np.arange(24,dtype=np.float32).reshape(2,3,4)/8)\n"
             "np.save(d+'/py_i8.npy', np.array(-5, np.int64)); np.save(d+'/py_i4.npy', np.arange(-3,3,dtype=np.int32))\n"
             "np.save(d+'/py_empty.npy', np.zeros((3,0),np.float32))\" %s",
             py, t_tmpdir());
    int rc = system(script);
    CHECK(rc == 0, "numpy did not read C's frames back as written (status %d)", rc);
    const char* names[4] = {"py_f4.npy", "py_i8.npy", "py_i4.npy", "py_empty.npy"};
    for (int k = 0; k < 4; k++) {
        static unsigned char buf[4096];
        FILE* fh = fopen(t_path(names[k]), "rb");
        size_t len = fh ? fread(buf, 1, sizeof buf, fh) : 0;
        if (fh) fclose(fh);
        fl_npy_array arr;
        if (fl_npy_decode(buf, len, names[k], &arr, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        if (k == 0) {
            int ok = arr.dtype == FL_NPY_F32 && arr.ndim == 3 && arr.shape[2] == 4;
            for (int i = 0; ok && i < 24; i++) ok = ((float*)arr.data)[i] == (float)i / 8;
            CHECK(ok, "numpy's float32 (2, 3, 4) read wrong");
        } else if (k == 1) {
            CHECK(arr.dtype == FL_NPY_I64 && arr.ndim == 0 && ((int64_t*)arr.data)[0] == -5, "numpy's 0-d int64");
        } else if (k == 2) {
            int ok = arr.dtype == FL_NPY_I32 && arr.ndim == 1 && arr.numel == 6;
            for (int i = 0; ok && i < 6; i++) ok = ((int32_t*)arr.data)[i] == i - 3;
            CHECK(ok, "numpy's int32 (6,) read wrong");
        } else {
            CHECK(arr.dtype == FL_NPY_F32 && arr.ndim == 2 && arr.shape[0] == 3 && arr.numel == 0, "numpy's empty (3, 0)");
        }
        fl_npy_array_free(&arr);
    }
}

int main(void) {
    RUN(test_roundtrip_dtypes_and_shapes);
    RUN(test_malformed_arrays);
    RUN(test_large_frames_through_a_pipe);
    RUN(test_frame_faults);
    RUN(test_numpy_agrees);
    TEST_EXIT();
}
