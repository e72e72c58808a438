// test_blackbox.c: the black-box protocol (impl/blackbox/): client and server in C against
// each other (this executable, run as `test_blackbox --serve`, serves a trivial box whose loss
// is datum + sum of the prompt), the client against bench/blackbox/blackbox_numpy.py
// (SKIP without numpy), and every fault of tests/fixtures/faulty_blackbox.py (SKIP without
// python3): the call fails, the message names the fault, and no child is left behind.
#include "impl/blackbox/blackbox.h"
#include "impl/io/npyframe.h"
#include "tests/test.h"
#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

// ---- a trivial box: loss = datum + sum of its prompt, class = datum % n_classes --------------

typedef struct { int P, n_classes; } trivial;

static int trivial_setup(fl_blackbox* bb, const fl_bb_data* data, int P, int* D, double* flops, fl_err* err) {
    trivial* t = bb->impl;
    t->P = P;
    t->n_classes = data->n_classes;
    *D = 3;
    *flops = 7;
    return 0;
}

static int trivial_query(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax, double* compute_s,
                         fl_err* err) {
    trivial* t = bb->impl;
    for (int r = 0; r < req->n_rows; r++) {
        float s = (float)req->row_datum[r];
        const float* p = req->prompts + (size_t)req->row_prompt[r] * t->P * 3;
        for (int k = 0; k < t->P * 3; k++) s += p[k];
        loss[r] = s;
        argmax[r] = req->row_datum[r] % t->n_classes;
    }
    *compute_s = 0;
    return 0;
}

static void trivial_destroy(fl_blackbox* bb) {
    free(bb->impl);
    free(bb);
}

static const fl_blackbox_vt trivial_vt = {"trivial", trivial_setup, trivial_query, trivial_destroy};

static int serve_trivial(void) {
    fl_blackbox* bb = fl_calloc(1, sizeof *bb);
    bb->vt = &trivial_vt;
    bb->impl = fl_calloc(1, sizeof(trivial));
    fl_err err = {{0}};
    int rc = fl_blackbox_serve(bb, 0, 1, &err);
    if (rc) fprintf(stderr, "test_blackbox --serve: %s\n", err.msg);
    fl_blackbox_free(bb);
    return rc ? 1 : 0;
}

// ---- helpers ----------------------------------------------------------------------------------

enum { N_DATA = 40, N_CLASSES = 10, PROMPT_LEN = 2 };
static float images[N_DATA * 28 * 28];
static int32_t labels[N_DATA];

static fl_bb_data test_data(void) {
    for (int i = 0; i < N_DATA * 28 * 28; i++) images[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int i = 0; i < N_DATA; i++) labels[i] = i % N_CLASSES;
    fl_bb_data d = {N_DATA, 1, 28, 28, N_CLASSES, images, labels};
    return d;
}

// Our children that are left: 0 when none (every black box reaped), else how many are.
static int children_left(void) {
    int n = 0, status;
    while (waitpid(-1, &status, WNOHANG) > 0) n++;
    if (n == 0 && waitpid(-1, &status, WNOHANG) == 0) n = 1;  // one still running
    return n;
}

static int have(const char* cmd) {
    char c[300];
    snprintf(c, sizeof c, "%s >/dev/null 2>&1", cmd);
    return system(c) == 0;
}

static const char* python_with_numpy(void) {
    if (have("python3 -c 'import numpy'")) return "python3";
    if (have("/usr/bin/python3 -c 'import numpy'")) return "/usr/bin/python3";
    return NULL;
}

// A request of R rows over n_prompts prompts of P x D, rows r -> datum (r * 7) % N_DATA.
typedef struct {
    int32_t datum[256], prompt[256];
    float prompts[8 * 10 * 64];
    fl_bb_request req;
} request;

static void make_request(request* q, int R, int n_prompts, int P, int D) {
    for (int r = 0; r < R; r++) {
        q->datum[r] = (r * 7) % N_DATA;
        q->prompt[r] = r % n_prompts;
    }
    for (int i = 0; i < n_prompts * P * D; i++) q->prompts[i] = (float)((i * 40503u) % 200) / 100.0f - 1.0f;
    fl_bb_request req = {R, q->datum, q->prompt, n_prompts, q->prompts};
    q->req = req;
}

// ---- client and server in C -------------------------------------------------------------------

static void test_client_and_server_in_c(void) {
    char cmd[600], self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) SKIP("no /proc/self/exe");
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' --serve", self);
    fl_err err = {{0}};
    fl_blackbox* bb = fl_blackbox_process_new(cmd, 10, &err);
    CHECK(bb != NULL, "%s", err.msg);
    if (!bb) return;
    fl_bb_data d = test_data();
    CHECK(fl_blackbox_setup(bb, &d, PROMPT_LEN, &err) == 0, "setup: %s", err.msg);
    CHECK(bb->D == 3 && bb->P == PROMPT_LEN && bb->n_data == N_DATA && bb->flops_per_query == 7, "D %d flops %g", bb->D,
          bb->flops_per_query);
    static request q;
    float loss[256];
    int32_t argmax[256];
    for (int round = 0; round < 2; round++) {
        int R = round ? 200 : 5, n_prompts = round ? 8 : 1;
        make_request(&q, R, n_prompts, PROMPT_LEN, 3);
        CHECK(fl_blackbox_query(bb, &q.req, loss, argmax, &err) == 0, "query: %s", err.msg);
        for (int r = 0; r < R; r++) {
            float want = (float)q.datum[r];
            for (int k = 0; k < PROMPT_LEN * 3; k++) want += q.prompts[q.prompt[r] * PROMPT_LEN * 3 + k];
            CHECK(loss[r] == want && argmax[r] == q.datum[r] % N_CLASSES, "row %d: loss %g class %d, expected %g %d", r,
                  (double)loss[r], argmax[r], (double)want, q.datum[r] % N_CLASSES);
        }
    }
    CHECK(bb->requests == 2 && bb->queries == 205 && bb->wall_s > 0 && bb->compute_s > 0 && bb->compute_s <= bb->wall_s,
          "requests %ld queries %ld wall %g compute %g", bb->requests, bb->queries, bb->wall_s, bb->compute_s);
    fl_blackbox_free(bb);
    CHECK(children_left() == 0, "a child is left after free");
}

// The server on input written in advance: every malformed message refused with its message,
// QUIT and the end of input accepted.
static fl_blackbox* new_trivial(void) {
    fl_blackbox* bb = fl_calloc(1, sizeof *bb);
    bb->vt = &trivial_vt;
    bb->impl = fl_calloc(1, sizeof(trivial));
    return bb;
}

static int serve_input(int kind, fl_err* err) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -9;
    int64_t h1[1] = {1}, setup[5] = {FL_BB_SETUP, FL_BB_VERSION, PROMPT_LEN, 2, 10}, query[3] = {FL_BB_QUERY, 1, 1};
    int64_t quit[1] = {FL_BB_QUIT}, op9[1] = {9}, s5[1] = {5}, s3[1] = {3};
    int64_t xs[4] = {2, 1, 2, 2}, ys[1] = {2}, rs[1] = {1}, ps[3] = {1, PROMPT_LEN, 3}, ps_bad[3] = {1, PROMPT_LEN, 4};
    float x[8] = {0}, prompts[2 * 4] = {0};
    int32_t y[2] = {0, 1}, datum[1] = {1}, prompt[1] = {0};
    if (kind != 1) {  // a SETUP first, except for the QUERY-before-SETUP case
        fl_frame_write(in[1], FL_NPY_I64, 1, s5, setup, 0, NULL);
        fl_frame_write(in[1], FL_NPY_F32, 4, xs, x, 0, NULL);
        fl_frame_write(in[1], FL_NPY_I32, 1, ys, y, 0, NULL);
    }
    if (kind <= 1 || kind == 3) {  // a sound QUERY (kind 3: with prompts of the wrong width)
        fl_frame_write(in[1], FL_NPY_I64, 1, s3, query, 0, NULL);
        fl_frame_write(in[1], FL_NPY_I32, 1, rs, datum, 0, NULL);
        fl_frame_write(in[1], FL_NPY_I32, 1, rs, prompt, 0, NULL);
        fl_frame_write(in[1], FL_NPY_F32, 3, kind == 3 ? ps_bad : ps, prompts, 0, NULL);
    }
    if (kind == 2) fl_frame_write(in[1], FL_NPY_I64, 1, h1, op9, 0, NULL);
    if (kind == 4) fl_frame_write_bytes(in[1], "garbage", 7, 0, NULL);
    if (kind == 5) fl_frame_write(in[1], FL_NPY_I64, 1, h1, quit, 0, NULL);
    close(in[1]);
    fl_blackbox* bb = new_trivial();
    int rc = fl_blackbox_serve(bb, in[0], out[1], err);
    fl_blackbox_free(bb);
    close(in[0]);
    close(out[1]);
    if (rc == 0 && kind == 0) {  // the answers: SETUP's header, then QUERY's three frames
        fl_npy_array a;
        fl_err e2;
        int ok = fl_frame_read(out[0], fl_now() + 5, 0, "answer", &a, &e2) == 0 && a.numel == 4 &&
                 ((int64_t*)a.data)[2] == 3;
        fl_npy_array_free(&a);
        ok = ok && fl_frame_read(out[0], fl_now() + 5, 0, "answer", &a, &e2) == 0 && ((int64_t*)a.data)[1] == 1;
        fl_npy_array_free(&a);
        ok = ok && fl_frame_read(out[0], fl_now() + 5, 0, "answer", &a, &e2) == 0 && ((float*)a.data)[0] == 1.0f;
        fl_npy_array_free(&a);
        if (!ok) rc = -8;
    }
    close(out[0]);
    return rc;
}

static void test_server_input(void) {
    const char* needle[] = {NULL, "QUERY before SETUP", "operation 9, expected 0 (QUIT), 1 (SETUP) or 2 (QUERY)",
                            "frame 4 has dtype '<f4' and shape (1, 2, 4), expected '<f4' and shape (1, 2, 3)",
                            "message 2: frame 1 is not a valid .npy", NULL};
    for (int kind = 0; kind < 6; kind++) {
        fl_err err = {{0}};
        int rc = serve_input(kind, &err);
        if (!needle[kind]) {
            CHECK(rc == 0, "input %d: %d %s", kind, rc, err.msg);
        } else {
            CHECK(rc == -1 && strstr(err.msg, needle[kind]), "input %d: %d, message lacks '%s': %s", kind, rc,
                  needle[kind], err.msg);
            if (getenv("FL_TEST_VERBOSE")) printf("    %s\n", err.msg);
        }
    }
}

// ---- the numpy box ----------------------------------------------------------------------------

static void test_numpy_box(void) {
    const char* py = python_with_numpy();
    if (!py) SKIP("no python3 with numpy (apt-get install python3-numpy)");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "%s bench/blackbox/blackbox_numpy.py", py);
    fl_err err = {{0}};
    fl_blackbox* bb = fl_blackbox_process_new(cmd, 60, &err);
    CHECK(bb != NULL, "%s", err.msg);
    if (!bb) return;
    fl_bb_data d = test_data();
    int P = 10;
    if (fl_blackbox_setup(bb, &d, P, &err)) {
        CHECK(0, "setup: %s", err.msg);
        fl_blackbox_free(bb);
        return;
    }
    int D = bb->D;
    CHECK(D == 32 && bb->flops_per_query > 0, "D %d flops %g", D, bb->flops_per_query);
    static request q, perm, same;
    enum { R = 48 };
    static float l1[R], l2[R], l3[R], l4[R];
    static int32_t a1[R], a2[R], a3[R], a4[R];
    make_request(&q, R, 3, P, D);
    CHECK(fl_blackbox_query(bb, &q.req, l1, a1, &err) == 0, "query: %s", err.msg);
    for (int r = 0; r < R; r++)
        CHECK(isfinite(l1[r]) && l1[r] > 0 && a1[r] >= 0 && a1[r] < N_CLASSES, "row %d: loss %g class %d", r,
              (double)l1[r], a1[r]);
    // the same request again: the same answers
    CHECK(fl_blackbox_query(bb, &q.req, l2, a2, &err) == 0, "query again: %s", err.msg);
    CHECK(memcmp(l1, l2, sizeof l1) == 0 && memcmp(a1, a2, sizeof a1) == 0, "the same request answered differently");
    // rows in another order: the answers in that order
    perm = q;
    for (int r = 0; r < R; r++) {
        int from = (r * 5 + 3) % R;
        perm.datum[r] = q.datum[from];
        perm.prompt[r] = q.prompt[from];
    }
    perm.req.row_datum = perm.datum;
    perm.req.row_prompt = perm.prompt;
    perm.req.prompts = perm.prompts;
    CHECK(fl_blackbox_query(bb, &perm.req, l3, a3, &err) == 0, "permuted: %s", err.msg);
    for (int r = 0; r < R; r++) {
        int from = (r * 5 + 3) % R;
        CHECK(fabsf(l3[r] - l1[from]) <= 1e-5f * fabsf(l1[from]) && a3[r] == a1[from], "permuted row %d: %g vs %g", r,
              (double)l3[r], (double)l1[from]);
    }
    // one prompt shared by every row, against a copy of it per row
    make_request(&same, R, 1, P, D);
    CHECK(fl_blackbox_query(bb, &same.req, l4, a4, &err) == 0, "shared prompt: %s", err.msg);
    static request copies;
    make_request(&copies, R, 1, P, D);
    for (int r = 0; r < 8; r++) memcpy(copies.prompts + (size_t)r * P * D, same.prompts, (size_t)P * D * 4);
    for (int r = 0; r < R; r++) copies.prompt[r] = r % 8;
    copies.req.n_prompts = 8;
    float l5[R];
    int32_t a5[R];
    CHECK(fl_blackbox_query(bb, &copies.req, l5, a5, &err) == 0, "copied prompts: %s", err.msg);
    for (int r = 0; r < R; r++)
        CHECK(fabsf(l4[r] - l5[r]) <= 1e-5f * fabsf(l4[r]) && a4[r] == a5[r], "row %d: shared %g, copied %g", r,
              (double)l4[r], (double)l5[r]);
    // prompts steer: another prompt, other losses
    int differ = 0;
    for (int r = 0; r < R; r++) differ += q.prompt[r] != 0 && l1[r] != l4[r];
    CHECK(differ > 0, "the loss does not depend on the prompt");
    CHECK(bb->requests == 5 && bb->queries == 5 * R && bb->compute_s > 0, "requests %ld compute %g", bb->requests,
          bb->compute_s);
    // the largest request of a prompt run: 64 prompts x 60 rows; its times are printed, not judged
    enum { BIG_PROMPTS = 64, BIG_ROWS = 64 * 60 };
    static int32_t big_datum[BIG_ROWS], big_prompt[BIG_ROWS], big_class[BIG_ROWS];
    static float big_prompts[BIG_PROMPTS * 10 * 32], big_loss[BIG_ROWS];
    for (int r = 0; r < BIG_ROWS; r++) big_datum[r] = r % N_DATA, big_prompt[r] = r / 60;
    for (int i = 0; i < BIG_PROMPTS * P * D; i++) big_prompts[i] = (float)((i * 40503u) % 200) / 100.0f - 1.0f;
    fl_bb_request big = {BIG_ROWS, big_datum, big_prompt, BIG_PROMPTS, big_prompts};
    double best_wall = 1e30, best_compute = 0;
    for (int k = 0; k < 3; k++) {
        double w0 = bb->wall_s, c0 = bb->compute_s;
        CHECK(fl_blackbox_query(bb, &big, big_loss, big_class, &err) == 0, "3840 rows: %s", err.msg);
        if (bb->wall_s - w0 < best_wall) best_wall = bb->wall_s - w0, best_compute = bb->compute_s - c0;
    }
    printf("    blackbox_numpy.py, a request of %d rows (%d prompts of %d x %d): round trip %.3f s, of which the box "
           "computed %.3f s (best of 3)\n", BIG_ROWS, BIG_PROMPTS, P, D, best_wall, best_compute);
    fl_blackbox_free(bb);
    CHECK(children_left() == 0, "a child is left after free");
}

// ---- faults -----------------------------------------------------------------------------------

// Starts cmd, sets up, answers `good` requests, then expects the next call (setup if good < 0)
// to fail with a message holding needle1 and needle2. A fault of the process ends its connection
// (it is reaped at once); a non-finite loss is the caller's to refuse (fl_blackbox_query), and
// the box, sound as a process, is ended by fl_blackbox_free.
static void expect_fault(const char* cmd, int good, double timeout_s, const char* needle1, const char* needle2,
                         int ends_connection) {
    fl_err err = {{0}};
    fl_blackbox* bb = fl_blackbox_process_new(cmd, timeout_s, &err);
    CHECK(bb != NULL, "%s: %s", cmd, err.msg);
    if (!bb) return;
    fl_bb_data d = test_data();
    int rc = fl_blackbox_setup(bb, &d, PROMPT_LEN, &err);
    static request q;
    float loss[8];
    int32_t argmax[8];
    double t0 = fl_now();
    if (good >= 0) {
        CHECK(rc == 0, "%s: setup: %s", cmd, err.msg);
        make_request(&q, 5, 2, PROMPT_LEN, rc == 0 ? bb->D : 4);
        for (int k = 0; rc == 0 && k < good; k++) {
            rc = fl_blackbox_query(bb, &q.req, loss, argmax, &err);
            CHECK(rc == 0, "%s: request %d: %s", cmd, k + 1, err.msg);
        }
        t0 = fl_now();
        if (rc == 0) rc = fl_blackbox_query(bb, &q.req, loss, argmax, &err) ? 1 : 0;
        else rc = 0;
    } else {
        rc = rc ? 1 : 0;
    }
    double took = fl_now() - t0;
    CHECK(rc == 1, "%s: the faulty call succeeded", cmd);
    CHECK(strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2)), "%s: message lacks '%s' / '%s': %s", cmd,
          needle1, needle2 ? needle2 : "", err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
    CHECK(timeout_s <= 0 || took < timeout_s + 10, "%s: the fault took %.1f s to show, timeout %.1f s", cmd, took,
          timeout_s);
    if (getenv("FL_TEST_VERBOSE")) printf("    %s (%.2f s)\n", err.msg, took);
    if (ends_connection) CHECK(children_left() == 0, "%s: the box was not reaped after the fault", cmd);
    if (good >= 0 && ends_connection) {  // the connection is over: the next call fails at once
        CHECK(fl_blackbox_query(bb, &q.req, loss, argmax, &err) != 0 && strstr(err.msg, "earlier fault"),
              "%s: a call after the fault: %s", cmd, err.msg);
    }
    fl_blackbox_free(bb);
    CHECK(children_left() == 0, "%s: a child is left after free", cmd);
}

static void test_faults_of_the_shell(void) {
    expect_fault("exit 3", -1, 5, "exited with status 3 before answering the setup", "'exit 3'", 1);
    expect_fault("/nonexistent/box 2>/dev/null", -1, 5, "exited with status 127 before answering the setup", NULL, 1);
    expect_fault("kill -9 $$", -1, 5, "was killed by signal 9", "before answering the setup", 1);
    expect_fault("echo hello; cat >/dev/null", -1, 5, "length prefix says 1819043176 bytes",
                 "does the box print text to its standard output?", 1);
}

// Processes whose command line holds marker, after waiting up to 2 s for them to go.
static int processes_with(const char* marker) {
    for (double until = fl_now() + 2;; usleep(20000)) {
        int n = 0;
        DIR* d = opendir("/proc");
        struct dirent* e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            char path[300], line[4096];
            snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
            FILE* f = fopen(path, "rb");
            size_t k = f ? fread(line, 1, sizeof line - 1, f) : 0;
            if (f) fclose(f);
            for (size_t i = 0; i < k; i++) if (!line[i]) line[i] = ' ';
            line[k] = '\0';
            n += strstr(line, marker) != NULL;
        }
        if (d) closedir(d);
        if (n == 0 || fl_now() > until) return n;
    }
}

static void test_faults_of_a_box(void) {
    if (!have("python3 -c 'import ast, struct'")) SKIP("no python3");
    struct { const char* mode; const char* needle1; const char* needle2; } cases[] = {
        {"exit", "exited with status 3 before answering request 3", NULL},
        {"hang", "did not answer request 3 within 1.0 s (--blackbox-timeout)", NULL},
        {"count", "answered request 3 with 4 losses, expected 5", NULL},
        {"nan", "returned loss nan for row 2 (datum 14) of request 3: expected a finite loss", NULL},
        {"malformed", "answer to request 3: frame 2 is not a valid .npy: ", "magic"},
    };
    for (int k = 0; k < 5; k++) {
        char cmd[200];
        // "; exit $?": the shell forks python instead of becoming it, so that a kill of the shell
        // alone would leave python behind (the marker finds it)
        snprintf(cmd, sizeof cmd, "python3 tests/fixtures/faulty_blackbox.py %s 2 flbench-test-%d; exit $?", cases[k].mode,
                 (int)getpid());
        expect_fault(cmd, 2, 1.0, cases[k].needle1, cases[k].needle2, strcmp(cases[k].mode, "nan") != 0);
        char marker[64];
        snprintf(marker, sizeof marker, "flbench-test-%d", (int)getpid());
        CHECK(processes_with(marker) == 0, "%s: the box's python outlived the connection", cases[k].mode);
    }
    // mode ok: no fault, and QUIT ends it with status 0
    fl_err err = {{0}};
    fl_blackbox* bb = fl_blackbox_process_new("python3 tests/fixtures/faulty_blackbox.py ok", 5, &err);
    fl_bb_data d = test_data();
    CHECK(bb && fl_blackbox_setup(bb, &d, PROMPT_LEN, &err) == 0, "ok: %s", err.msg);
    static request q;
    float loss[8];
    int32_t argmax[8];
    make_request(&q, 5, 2, PROMPT_LEN, 4);
    for (int k = 0; bb && k < 4; k++) CHECK(fl_blackbox_query(bb, &q.req, loss, argmax, &err) == 0, "ok: %s", err.msg);
    if (bb) CHECK(bb->compute_s > 0 && fabs(bb->compute_s - 4e-6) < 1e-9, "compute_s %g, expected 4 x 1000 ns",
                  bb->compute_s);
    double t0 = fl_now();
    fl_blackbox_free(bb);
    CHECK(fl_now() - t0 < 1.5, "QUIT took %.2f s: the box was killed, not quit", fl_now() - t0);
    CHECK(children_left() == 0, "a child is left after free");
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve_trivial();
    RUN(test_client_and_server_in_c);
    RUN(test_server_input);
    RUN(test_numpy_box);
    RUN(test_faults_of_the_shell);
    RUN(test_faults_of_a_box);
    TEST_EXIT();
}
