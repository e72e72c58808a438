// serve.c: the server side of the black-box protocol (docs/BLACKBOX.md) for any fl_blackbox:
// reads SETUP and QUERY messages from fd_in, answers on fd_out through fl_blackbox_setup and
// fl_blackbox_query (so their checks and counts apply), until QUIT or the end of fd_in.
#include "blackbox.h"
#include "impl/io/npyframe.h"
#include <signal.h>
#include <string.h>

// Reads frame k of message m, of dtype and shape (entries -1: any). A stream that ends here is
// malformed: only a message's first frame may be followed by the end.
static int serve_read(int fd, long m, int k, int dtype, int ndim, const int64_t* shape, fl_npy_array* arr,
                      fl_err* err) {
    char where[96];
    snprintf(where, sizeof where, "black box server: message %ld: frame %d", m, k);
    int rc = fl_frame_read(fd, 0, 0, where, arr, err);
    if (rc == FL_FRAME_EOF) return fl_fail(err, "%s: the input ends inside the message", where);
    if (rc) return -1;
    if (fl_npy_array_check(arr, where, dtype, ndim, shape, err)) {
        fl_npy_array_free(arr);
        return -1;
    }
    return 0;
}

static int serve_answer_setup(fl_blackbox* bb, int fd_in, int fd_out, long m, const int64_t* h, int64_t hn,
                              fl_err* err) {
    if (bb->D > 0) return fl_fail(err, "black box server: message %ld is a second SETUP, expected QUERY or QUIT", m);
    if (hn < 5 || h[1] != FL_BB_VERSION || h[2] < 1 || h[2] > (1 << 24) || h[3] < 1 || h[3] > INT32_MAX || h[4] < 1 ||
        h[4] > INT32_MAX)
        return fl_fail(err, "black box server: message %ld: SETUP header of %lld elements [1, %lld, %lld, ...], expected "
                       "[1, %d, P >= 1, n >= 1, n_classes >= 1]", m, (long long)hn, hn > 1 ? (long long)h[1] : -1LL,
                       hn > 2 ? (long long)h[2] : -1LL, FL_BB_VERSION);
    int64_t n = h[3];
    int64_t xshape[4] = {n, -1, -1, -1}, yshape[1] = {n};
    fl_npy_array x, y;
    if (serve_read(fd_in, m, 2, FL_NPY_F32, 4, xshape, &x, err)) return -1;
    if (serve_read(fd_in, m, 3, FL_NPY_I32, 1, yshape, &y, err)) {
        fl_npy_array_free(&x);
        return -1;
    }
    fl_bb_data data = {n, (int)x.shape[1], (int)x.shape[2], (int)x.shape[3], (int)h[4], x.data, y.data};
    int rc = fl_blackbox_setup(bb, &data, (int)h[2], err);
    fl_npy_array_free(&x);
    fl_npy_array_free(&y);
    if (rc) return -1;
    int64_t answer[4] = {FL_BB_SETUP, FL_BB_VERSION, bb->D, (int64_t)bb->flops_per_query}, ashape[1] = {4};
    if (fl_frame_write(fd_out, FL_NPY_I64, 1, ashape, answer, 0, err))
        return fl_fail(err, "black box server: cannot write the answer to SETUP (message %ld)", m);
    return 0;
}

static int serve_answer_query(fl_blackbox* bb, int fd_in, int fd_out, long m, const int64_t* h, int64_t hn,
                              fl_err* err) {
    if (bb->D < 1) return fl_fail(err, "black box server: message %ld is a QUERY before SETUP", m);
    if (hn < 3 || h[1] < 0 || h[1] > INT32_MAX || h[2] < 0 || h[2] > INT32_MAX)
        return fl_fail(err, "black box server: message %ld: QUERY header of %lld elements, expected [2, R >= 0, "
                       "n_prompts >= 0]", m, (long long)hn);
    int R = (int)h[1];
    int64_t rshape[1] = {R}, pshape[3] = {h[2], bb->P, bb->D};
    fl_npy_array datum, prompt, prompts;
    if (serve_read(fd_in, m, 2, FL_NPY_I32, 1, rshape, &datum, err)) return -1;
    if (serve_read(fd_in, m, 3, FL_NPY_I32, 1, rshape, &prompt, err)) {
        fl_npy_array_free(&datum);
        return -1;
    }
    if (serve_read(fd_in, m, 4, FL_NPY_F32, 3, pshape, &prompts, err)) {
        fl_npy_array_free(&datum);
        fl_npy_array_free(&prompt);
        return -1;
    }
    fl_bb_request req = {R, datum.data, prompt.data, (int)h[2], prompts.data};
    float* loss = fl_malloc((size_t)R * sizeof *loss + 1);
    int32_t* argmax = fl_malloc((size_t)R * sizeof *argmax + 1);
    double compute0 = bb->compute_s, wall0 = bb->wall_s;
    int rc = fl_blackbox_query(bb, &req, loss, argmax, err);
    // the box's own compute time when it says, else the time of the call
    double compute_s = bb->compute_s > compute0 ? bb->compute_s - compute0 : bb->wall_s - wall0;
    int64_t answer[3] = {FL_BB_QUERY, R, (int64_t)(compute_s * 1e9)}, ashape[1] = {3};
    if (!rc && (fl_frame_write(fd_out, FL_NPY_I64, 1, ashape, answer, 0, err) ||
                fl_frame_write(fd_out, FL_NPY_F32, 1, rshape, loss, 0, err) ||
                fl_frame_write(fd_out, FL_NPY_I32, 1, rshape, argmax, 0, err)))
        rc = fl_fail(err, "black box server: cannot write the answer to QUERY (message %ld)", m);
    free(loss);
    free(argmax);
    fl_npy_array_free(&datum);
    fl_npy_array_free(&prompt);
    fl_npy_array_free(&prompts);
    return rc;
}

int fl_blackbox_serve(fl_blackbox* bb, int fd_in, int fd_out, fl_err* err) {
    signal(SIGPIPE, SIG_IGN);  // a client that has gone makes writes fail, not end the server
    for (long m = 1;; m++) {
        char where[96];
        snprintf(where, sizeof where, "black box server: message %ld: frame 1", m);
        fl_npy_array h;
        int rc = fl_frame_read(fd_in, 0, 0, where, &h, err);
        if (rc == FL_FRAME_EOF) return 0;
        if (rc) return -1;
        int64_t any[1] = {-1};
        if (fl_npy_array_check(&h, where, FL_NPY_I64, 1, any, err)) {
            fl_npy_array_free(&h);
            return -1;
        }
        const int64_t* hv = h.data;
        int64_t op = h.numel ? hv[0] : -1;
        if (op == FL_BB_QUIT) rc = 1;
        else if (op == FL_BB_SETUP) rc = serve_answer_setup(bb, fd_in, fd_out, m, hv, h.numel, err);
        else if (op == FL_BB_QUERY) rc = serve_answer_query(bb, fd_in, fd_out, m, hv, h.numel, err);
        else rc = fl_fail(err, "%s: operation %lld, expected 0 (QUIT), 1 (SETUP) or 2 (QUERY)", where, (long long)op);
        fl_npy_array_free(&h);
        if (rc) return rc > 0 ? 0 : -1;
    }
}
