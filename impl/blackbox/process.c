// process.c: a black box that is another process (blackbox.h, docs/BLACKBOX.md): started with
// /bin/sh -c CMD in a process group of its own, spoken to in length-prefixed .npy frames over pipes to its stdin and from its
// stdout; its stderr is ours. Every fault (the box exits, is silent past the timeout, answers
// the wrong thing) is one line through fl_err, and the process is then killed and reaped: the
// connection is over, later calls fail at once. Starting a box sets SIGPIPE to SIG_IGN in this
// process, so that a box that dies makes writes fail with EPIPE instead of ending flbench.
#include "blackbox.h"
#include "impl/io/npyframe.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// Setup hands over every datum and the box may load a model first: it gets at least this long.
#define BB_SETUP_MIN_TIMEOUT_S 60.0
// How long a box that closed its stdout, or was sent QUIT, may take to exit before SIGKILL.
#define BB_EXIT_GRACE_S 2.0

typedef struct {
    char cmd[200];        // for messages, shortened
    double timeout_s;     // 0: wait forever
    pid_t pid;            // 0 once reaped
    int to_box, from_box; // our ends of its stdin and stdout, -1 once closed
    int broken;           // an earlier fault ended the connection
    int n_classes;
    char what[48];        // "the setup", "request 5": the message being answered
} bb_process;

static const fl_blackbox_vt process_vt;

// ---- the child process ----------------------------------------------------------------------

static void close_fd(int* fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

// Waits up to grace_s for the box to exit, then kills its process group (what it left
// behind, or all of it: a shell's children too) and reaps it; *status its wait status. The
// group is killed before the reaping, while its id cannot yet belong to another process.
static void bb_reap(bb_process* p, double grace_s, int* status) {
    *status = 0;
    if (p->pid <= 0) return;
    double until = fl_now() + grace_s;
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        int w = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (w == 0 && si.si_pid == p->pid) break;  // exited, not yet reaped
        if ((w < 0 && errno != EINTR) || fl_now() >= until) break;
        usleep(5000);
    }
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);  // in case it left the group
    while (waitpid(p->pid, status, 0) < 0 && errno == EINTR) {}
    p->pid = 0;
}

// Ends the connection after a fault: pipes closed, the process killed and reaped.
static void bb_kill(bb_process* p) {
    close_fd(&p->to_box);
    close_fd(&p->from_box);
    int status;
    bb_reap(p, 0, &status);
    p->broken = 1;
}

// The box closed its end: how it ended, as a fault.
static int bb_ended(bb_process* p, fl_err* err) {
    close_fd(&p->to_box);
    close_fd(&p->from_box);
    int status = 0;
    double t0 = fl_now();
    bb_reap(p, BB_EXIT_GRACE_S, &status);
    p->broken = 1;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && fl_now() - t0 >= BB_EXIT_GRACE_S)
        return fl_fail(err, "black box '%s' closed its standard output before answering %s (it was then killed)", p->cmd,
                       p->what);
    if (WIFEXITED(status))
        return fl_fail(err, "black box '%s' exited with status %d before answering %s", p->cmd, WEXITSTATUS(status), p->what);
    if (WIFSIGNALED(status))
        return fl_fail(err, "black box '%s' was killed by signal %d (%s) before answering %s", p->cmd, WTERMSIG(status),
                       strsignal(WTERMSIG(status)), p->what);
    return fl_fail(err, "black box '%s' ended before answering %s", p->cmd, p->what);
}

// Turns a frame outcome (not 0) into the connection's end and one message.
static int bb_fault(bb_process* p, int rc, double timeout_s, fl_err* err) {
    if (rc == FL_FRAME_EOF) return bb_ended(p, err);
    bb_kill(p);
    if (rc == FL_FRAME_TIMEOUT)
        return fl_fail(err, "black box '%s' did not answer %s within %.1f s (--blackbox-timeout)", p->cmd, p->what,
                       timeout_s);
    if (err && strstr(err->msg, "length prefix says")) {
        fl_err inner = *err;
        return fl_fail(err, "%s (does the box print text to its standard output?)", inner.msg);
    }
    return -1;  // err already says what was wrong
}

fl_blackbox* fl_blackbox_process_new(const char* cmd, double timeout_s, fl_err* err) {
    if (!cmd || !*cmd) {
        fl_fail(err, "black box command is empty, expected a shell command line");
        return NULL;
    }
    if (!(timeout_s >= 0)) {
        fl_fail(err, "black box '%.100s': timeout %g s, expected >= 0 (0: none)", cmd, timeout_s);
        return NULL;
    }
    signal(SIGPIPE, SIG_IGN);  // a box that dies makes our writes fail with EPIPE, not end us
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        fl_fail(err, "black box '%.100s': cannot create a pipe: %s", cmd, strerror(errno));
        return NULL;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        fl_fail(err, "black box '%.100s': cannot create a pipe: %s", cmd, strerror(errno));
        close(in[0]);
        close(in[1]);
        return NULL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fl_fail(err, "black box '%.100s': fork failed: %s", cmd, strerror(errno));
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return NULL;
    }
    if (pid == 0) {
        // the child: its own process group (killed whole), pipes on 0 and 1 (dup2 clears
        // close-on-exec), nothing else of ours open
        setpgid(0, 0);
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) _exit(127);
        if (close_range(3, ~0u, 0) != 0)
            for (int fd = 3; fd < 4096; fd++) close(fd);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
        _exit(127);
    }
    setpgid(pid, pid);  // also here, so that it holds before either side goes on
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    bb_process* p = fl_calloc(1, sizeof *p);
    snprintf(p->cmd, sizeof p->cmd, "%s", cmd);
    if (strlen(cmd) >= sizeof p->cmd) memcpy(p->cmd + sizeof p->cmd - 4, "...", 4);
    p->timeout_s = timeout_s;
    p->pid = pid;
    p->to_box = in[1];
    p->from_box = out[0];
    fl_blackbox* bb = fl_calloc(1, sizeof *bb);
    bb->vt = &process_vt;
    bb->impl = p;
    snprintf(bb->name, sizeof bb->name, "black box '%.140s'", cmd);
    return bb;
}

// ---- the protocol client --------------------------------------------------------------------

static int bb_usable(bb_process* p, fl_err* err) {
    if (!p->broken) return 0;
    return fl_fail(err, "black box '%s' cannot answer %s: its connection ended at an earlier fault", p->cmd, p->what);
}

// Reads frame k of the answer, of dtype and shape (entries -1: any).
static int bb_read(bb_process* p, int k, double deadline, double timeout_s, size_t max_len, int dtype, int ndim,
                   const int64_t* shape, fl_npy_array* arr, fl_err* err) {
    char where[400];
    snprintf(where, sizeof where, "black box '%s': answer to %s: frame %d", p->cmd, p->what, k);
    int rc = fl_frame_read(p->from_box, deadline, max_len, where, arr, err);
    if (rc) return bb_fault(p, rc, timeout_s, err);
    if (fl_npy_array_check(arr, where, dtype, ndim, shape, err)) {
        fl_npy_array_free(arr);
        bb_kill(p);
        return -1;
    }
    return 0;
}

static int process_setup(fl_blackbox* bb, const fl_bb_data* data, int P, int* D, double* flops_per_query,
                         fl_err* err) {
    bb_process* p = bb->impl;
    snprintf(p->what, sizeof p->what, "the setup");
    if (bb_usable(p, err)) return -1;
    p->n_classes = data->n_classes;
    double timeout_s = p->timeout_s > 0 && p->timeout_s < BB_SETUP_MIN_TIMEOUT_S ? BB_SETUP_MIN_TIMEOUT_S : p->timeout_s;
    double deadline = timeout_s > 0 ? fl_now() + timeout_s : 0;
    int64_t header[5] = {FL_BB_SETUP, FL_BB_VERSION, P, data->n, data->n_classes};
    int64_t hshape[1] = {5}, xshape[4] = {data->n, data->channels, data->height, data->width}, yshape[1] = {data->n};
    int rc = fl_frame_write(p->to_box, FL_NPY_I64, 1, hshape, header, deadline, err);
    if (!rc) rc = fl_frame_write(p->to_box, FL_NPY_F32, 4, xshape, data->x, deadline, err);
    if (!rc) rc = fl_frame_write(p->to_box, FL_NPY_I32, 1, yshape, data->y, deadline, err);
    if (rc) return bb_fault(p, rc, timeout_s, err);
    fl_npy_array h;
    int64_t any[1] = {-1};
    if (bb_read(p, 1, deadline, timeout_s, 4096, FL_NPY_I64, 1, any, &h, err)) return -1;
    const int64_t* a = h.data;
    int ok = h.numel >= 4 && a[0] == FL_BB_SETUP && a[1] == FL_BB_VERSION && a[2] >= 1 && a[2] <= (1 << 24) && a[3] >= 0;
    if (!ok) {
        char got[160] = "";
        size_t at = 0;
        for (int64_t i = 0; i < h.numel && i < 6 && at < sizeof got; i++)
            at += (size_t)snprintf(got + at, sizeof got - at, i ? ", %lld" : "%lld", (long long)a[i]);
        fl_npy_array_free(&h);
        bb_kill(p);
        return fl_fail(err, "black box '%s' answered the setup with header [%s], expected [1, %d, D >= 1, flops >= 0]",
                       p->cmd, got, FL_BB_VERSION);
    }
    *D = (int)a[2];
    *flops_per_query = (double)a[3];
    fl_npy_array_free(&h);
    return 0;
}

static int process_query(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax, double* compute_s,
                         fl_err* err) {
    bb_process* p = bb->impl;
    snprintf(p->what, sizeof p->what, "request %ld", bb->requests + 1);
    if (bb_usable(p, err)) return -1;
    int R = req->n_rows;
    double deadline = p->timeout_s > 0 ? fl_now() + p->timeout_s : 0;
    int64_t header[3] = {FL_BB_QUERY, R, req->n_prompts};
    int64_t hshape[1] = {3}, rshape[1] = {R}, pshape[3] = {req->n_prompts, bb->P, bb->D};
    int rc = fl_frame_write(p->to_box, FL_NPY_I64, 1, hshape, header, deadline, err);
    if (!rc) rc = fl_frame_write(p->to_box, FL_NPY_I32, 1, rshape, req->row_datum, deadline, err);
    if (!rc) rc = fl_frame_write(p->to_box, FL_NPY_I32, 1, rshape, req->row_prompt, deadline, err);
    if (!rc) rc = fl_frame_write(p->to_box, FL_NPY_F32, 3, pshape, req->prompts, deadline, err);
    if (rc) return bb_fault(p, rc, p->timeout_s, err);

    size_t max_len = 65536 + 8 * (size_t)R;
    fl_npy_array h, l, a;
    int64_t any[1] = {-1};
    if (bb_read(p, 1, deadline, p->timeout_s, max_len, FL_NPY_I64, 1, any, &h, err)) return -1;
    const int64_t* hv = h.data;
    if (h.numel < 3 || hv[0] != FL_BB_QUERY || hv[2] < 0) {
        long long op = h.numel ? (long long)hv[0] : -1, ns = h.numel >= 3 ? (long long)hv[2] : -1;
        int64_t n = h.numel;
        fl_npy_array_free(&h);
        bb_kill(p);
        if (n >= 1 && op != FL_BB_QUERY)
            return fl_fail(err, "black box '%s' answered %s with operation %lld, expected %d (QUERY)", p->cmd, p->what, op,
                           FL_BB_QUERY);
        return fl_fail(err, "black box '%s' answered %s with a header of %lld elements (compute_ns %lld), expected "
                       "[2, R, compute_ns >= 0]", p->cmd, p->what, (long long)n, ns);
    }
    int64_t R_said = hv[1], compute_ns = hv[2];
    fl_npy_array_free(&h);
    if (R_said != R) {
        bb_kill(p);
        return fl_fail(err, "black box '%s' answered %s with %lld losses, expected %d", p->cmd, p->what,
                       (long long)R_said, R);
    }
    if (bb_read(p, 2, deadline, p->timeout_s, max_len, FL_NPY_F32, 1, any, &l, err)) return -1;
    if (l.numel != R) {
        long long n = (long long)l.numel;
        fl_npy_array_free(&l);
        bb_kill(p);
        return fl_fail(err, "black box '%s' answered %s with %lld losses, expected %d", p->cmd, p->what, n, R);
    }
    if (bb_read(p, 3, deadline, p->timeout_s, max_len, FL_NPY_I32, 1, rshape, &a, err)) {
        fl_npy_array_free(&l);
        return -1;
    }
    const int32_t* av = a.data;
    for (int r = 0; r < R; r++)
        if (av[r] < -1 || av[r] >= p->n_classes) {
            int bad = av[r];
            fl_npy_array_free(&l);
            fl_npy_array_free(&a);
            bb_kill(p);
            return fl_fail(err, "black box '%s' answered %s with class %d for row %d, expected -1..%d", p->cmd, p->what, bad,
                           r, p->n_classes - 1);
        }
    memcpy(loss, l.data, (size_t)R * sizeof *loss);
    memcpy(argmax, a.data, (size_t)R * sizeof *argmax);
    fl_npy_array_free(&l);
    fl_npy_array_free(&a);
    *compute_s = (double)compute_ns * 1e-9;
    return 0;
}

// QUIT, then the box's exit (SIGKILL after a grace time), the pipes closed, all freed.
static void process_destroy(fl_blackbox* bb) {
    if (!bb) return;
    bb_process* p = bb->impl;
    if (p->pid > 0 && !p->broken && p->to_box >= 0) {
        int64_t quit[1] = {FL_BB_QUIT}, shape[1] = {1};
        fl_frame_write(p->to_box, FL_NPY_I64, 1, shape, quit, fl_now() + 1.0, NULL);
    }
    close_fd(&p->to_box);
    close_fd(&p->from_box);
    int status;
    bb_reap(p, BB_EXIT_GRACE_S, &status);
    free(p);
    free(bb);
}

static const fl_blackbox_vt process_vt = {"process", process_setup, process_query, process_destroy};
