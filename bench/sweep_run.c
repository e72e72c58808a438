// sweep_run.c: runs one cell of a sweep: the child process (fork, exec of this binary as
// `flbench sweep --cell`, its log, the timeout, the wait), the cell child itself, and the rows
// of the cell appended to the sweep CSV, with a failure row when the child wrote no final one.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "args.h"
#include "cli.h"
#include "sweep.h"
#include "../impl/backend/dist.h"
#include "run/schema.h"

void sw_fmt_duration(double s, char* out, size_t len) {
    if (s < 0 || s != s) snprintf(out, len, "?");
    else if (s < 60) snprintf(out, len, "%.0fs", s);
    else if (s < 3600) snprintf(out, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(out, len, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

// ---------------------------------------------------------------------------------------
// the child: one cell

int sw_cell_child(int argc, char** argv) {
    // argv: flbench sweep --cell TMP KEY -- TRAIN OPTIONS...
    if (argc < 6 || strcmp(argv[5], "--")) {
        fprintf(stderr, "flbench sweep --cell: expected --cell TMP KEY -- OPTIONS (internal use)\n");
        return 2;
    }
    int targc = argc - 6 + 2;
    char** targv = fl_calloc((size_t)targc + 1, sizeof(char*));
    targv[0] = "flbench";
    targv[1] = "train";
    for (int i = 6; i < argc; i++) targv[i - 4] = argv[i];
    fl_dist* d = fl_dist_world();  // a cell of `sweep --ranks N`: one rank of its run
    fl_train_cfg cfg;
    fl_train_runtime rt;
    int rc = fl_train_parse(&cfg, &rt, "train", targc, targv, 2);
    free(targv);
    if (rc) {
        fl_dist_finalize();
        return 2;
    }
    fl_train_apply_runtime(&rt);
    snprintf(cfg.out, sizeof cfg.out, "%s", argv[3]);
    snprintf(cfg.cell_key, sizeof cfg.cell_key, "%s", argv[4]);
    cfg.progress = 0;
    // --track-variance: next to the sweep's CSV, DIR/track/ID.track.csv (not in DIR/.tmp/)
    const char* tmpdir = strstr(argv[3], "/.tmp/");
    if (cfg.track_every && !cfg.track_out[0] && tmpdir)
        snprintf(cfg.track_out, sizeof cfg.track_out, "%.*s/track/%.*s.track.csv", (int)(tmpdir - argv[3]), argv[3],
                 (int)strcspn(tmpdir + 6, "."), tmpdir + 6);
    fl_train_result res;
    fl_err err = {{0}};
    rc = 0;
    if (fl_train(&cfg, &res, &err)) {
        if (!res.quiet_error && d->size > 1) fprintf(stderr, "flbench sweep: cell %s: rank %d of %d: %s\n", res.status, d->rank, d->size, err.msg);
        else if (!res.quiet_error) fprintf(stderr, "flbench sweep: cell %s: %s\n", res.status, err.msg);
        if (res.abort_job) fl_dist_abort(2);
        rc = 2;
    } else if (strcmp(res.status, "ok")) {
        if (d->rank == 0) fprintf(stderr, "flbench sweep: cell %s: %s\n", res.status, res.message);
        rc = 3;
    }
    fl_dist_finalize();
    return rc;
}

// ---------------------------------------------------------------------------------------
// rows the sweep writes itself

// The line of a cell's log that says why it ended: a launcher's line naming the rank that
// died (Open MPI's "mpirun noticed that process rank N ...", Slurm's "srun: error: ... task N")
// where there is one, else the last line that is not a rule of dashes.
static void last_log_line(const char* path, char* out, size_t len) {
    out[0] = 0;
    FILE* f = fopen(path, "r");
    if (!f) return;
    char line[1024], rank_line[1024] = "";
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        char* p = strrchr(line, '\r');  // progress lines overwrite themselves
        p = p ? p + 1 : line;
        if (*p && strspn(p, "-") < strlen(p)) snprintf(out, len, "%s", p);  // not a launcher's rule of dashes
        if (strstr(p, "noticed that process rank") || (strstr(p, "srun: error:") && strstr(p, "task")))
            snprintf(rank_line, sizeof rank_line, "%s", p);
    }
    if (rank_line[0]) snprintf(out, len, "%s", rank_line);
    fclose(f);
}

// A failure row for a cell that did not write its own: status, message, and what the cell's
// options say. Returns the CSV line with its newline (malloc'd).
static char* failure_row(const sw_cell* cell, const char* status, int epoch, const char* message) {
    fl_row row;
    fl_row_init(&row);
    char host[128] = "", ts[32];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const fl_train_cfg* c = &cell->cfg;
    fl_row_set(&row, "schema", "%d", FL_SCHEMA_VERSION);
    fl_row_set(&row, "cell_key", "%s", cell->key);
    fl_row_set(&row, "status", "%s", status);
    fl_row_set(&row, "git_rev", "%s", fl_git_rev());
    fl_row_set(&row, "timestamp", "%s", ts);
    fl_row_set(&row, "host", "%s", host);
    fl_row_set(&row, "epoch", "%d", epoch);
    char cmdline[2048];
    fl_join_args(cell->argc, cell->argv, cmdline, sizeof cmdline);
    fl_row_set(&row, "config", "%s", cmdline);
    fl_row_set(&row, "message", "%s", message);
    if (cell->parse_ok) {
        int is_bp = fl_method_is_exact(c->method);
        fl_row_set(&row, "backend", "%s", c->backend);
        if (c->class_lo >= 0) fl_row_set(&row, "dataset", "%s[%d-%d]", c->dataset, c->class_lo, c->class_hi);
        else fl_row_set(&row, "dataset", "%s", c->dataset);
        fl_row_set(&row, "model", "%s", c->model);
        fl_row_set(&row, "method", "%s", c->method);
        fl_row_set(&row, "allocator", "%s", is_bp ? "-" : c->allocator);
        fl_row_set(&row, "budget", "%d", is_bp ? 1 : c->eo.budget);
        fl_row_set(&row, "batch", "%d", c->batch);
        fl_row_set(&row, "shots", "%d", c->shots);
        fl_row_set(&row, "seed", "%llu", (unsigned long long)c->seed);
        fl_row_set(&row, "epochs", "%d", c->epochs);
        fl_row_set(&row, "lr", "%g", (double)c->lr);
        fl_row_set(&row, "optimizer", "%s", c->optim);
        fl_row_set(&row, "eval_split", "%s", c->val_per_class > 0 ? "val" : "test");
    } else {
        const char* names[] = {"dataset", "model", "method", "allocator", "budget", "batch", "shots", "seed",
                               "epochs", "lr", "backend"};
        for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
            const char* v = sw_map_get(&cell->opts, names[i]);
            if (v) fl_row_set(&row, names[i], "%s", v);
        }
    }
    char* line = fl_csv_line((const char* const*)row.val, fl_n_columns);
    fl_row_free(&row);
    size_t n = strlen(line);
    line = fl_realloc(line, n + 2);
    line[n] = '\n';
    line[n + 1] = 0;
    return line;
}

// ---------------------------------------------------------------------------------------
// running one cell

static void progress_line(const sw_run_ctx* x, const sw_cell* cell, double cell_elapsed) {
    char el[32], eta[32], ce[32];
    sw_fmt_duration(fl_now() - x->t_start, el, sizeof el);
    sw_fmt_duration(x->mean_cell_s > 0 ? x->mean_cell_s * (double)x->remaining - cell_elapsed : -1, eta, sizeof eta);
    sw_fmt_duration(cell_elapsed, ce, sizeof ce);
    fprintf(stderr, "\r\033[K[%ld/%ld] %3.0f%%  elapsed %s  ETA %s  running %.60s (%s)", x->done_before + 1, x->total,
            100.0 * (double)x->done_before / (double)(x->total ? x->total : 1), el, eta, cell->label, ce);
    fflush(stderr);
}

int sw_run_cell(const sw_run_ctx* x, const sw_cell* cell, char* status_out, size_t slen, char* summary, size_t sumlen,
                    fl_err* err) {
    char tmp[1100], log[1100];
    snprintf(tmp, sizeof tmp, "%s/.tmp/%s.csv", x->out_dir, cell->id);
    snprintf(log, sizeof log, "%s/logs/%s.log", x->out_dir, cell->id);
    unlink(tmp);
    summary[0] = 0;
    if (!cell->parse_ok) {
        char* line = failure_row(cell, "failed", 0, cell->parse_msg);
        int rc = sw_append_block(x->csv, x->header, line, strlen(line), err);
        free(line);
        snprintf(status_out, slen, "failed");
        snprintf(summary, sumlen, "%s", cell->parse_msg);
        return rc;
    }
    // the folders of the files the cell writes (--alloc-log, --save)
    for (int i = 2; i + 1 < cell->argc; i++) {
        if (strcmp(cell->argv[i], "--alloc-log") && strcmp(cell->argv[i], "--save")) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", cell->argv[i + 1]);
        char* slash = strrchr(dir, '/');
        if (!slash || slash == dir) continue;
        *slash = 0;
        if (fl_mkdirs(dir, NULL)) return fl_fail(err, "%s %s: cannot create the folder %s: %s", cell->argv[i], cell->argv[i + 1], dir, strerror(errno));
    }
    // the child: this binary, `sweep --cell TMP KEY -- OPTIONS`; /proc/self/exe runs the very
    // file this sweep started from even when `make` has replaced build/flbench since, so every
    // cell of a sweep runs the same code (and records the same git revision)
    // With --ranks N the child is the launcher (mpirun -np N), which starts N copies of that
    // file: one data-parallel run, whose rank 0 writes TMP (docs/SCALING.md).
    char self_path[4096] = "/proc/self/exe", ranks_s[16], launcher_buf[256];
    char* lwords[32];
    int n_l = 0;
    if (x->ranks > 1) {
        ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
        if (n > 0) self_path[n] = 0;
        snprintf(launcher_buf, sizeof launcher_buf, "%s", x->launcher);
        for (char* w = strtok(launcher_buf, " "); w && n_l < 30; w = strtok(NULL, " ")) lwords[n_l++] = w;
        snprintf(ranks_s, sizeof ranks_s, "%d", x->ranks);
        lwords[n_l++] = ranks_s;
    }
    const char* self = x->ranks > 1 ? lwords[0] : self_path;
    int cargc = n_l + 6 + cell->argc - 2;
    char** cargv = fl_calloc((size_t)cargc + 1, sizeof(char*));
    for (int i = 0; i < n_l; i++) cargv[i] = lwords[i];
    char** a = cargv + n_l;
    a[0] = x->ranks > 1 ? self_path : "flbench";
    a[1] = "sweep";
    a[2] = "--cell";
    a[3] = tmp;
    a[4] = (char*)cell->key;
    a[5] = "--";
    for (int i = 2; i < cell->argc; i++) a[4 + i] = cell->argv[i];
    int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (logfd < 0) {
        free(cargv);
        return fl_fail(err, "%s: cannot create the cell log: %s", log, strerror(errno));
    }
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    double t0 = fl_now();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        free(cargv);
        return fl_fail(err, "fork failed: %s", strerror(errno));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   // die with the sweep: no orphan writing rows later
        if (getppid() != parent) _exit(125);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close(logfd);
        if (x->ranks > 1) execvp(self, cargv);
        else execv(self, cargv);
        fprintf(stderr, "flbench sweep: cannot run %s: %s\n", self, strerror(errno));
        _exit(126);
    }
    close(logfd);
    free(cargv);
    int wstatus = 0, timed_out = 0;
    double last_draw = 0;
    while (1) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            wstatus = -1;
            break;
        }
        double now = fl_now();
        if (x->timeout_s > 0 && now - t0 > x->timeout_s && !timed_out) {
            kill(pid, SIGKILL);
            timed_out = 1;
        }
        if (x->tty && now - last_draw > 0.5) {
            progress_line(x, cell, now - t0);
            last_draw = now;
        }
        usleep(50000);
    }
    // the child's rows
    fl_csv t;
    fl_err rerr = {{0}};
    int have_rows = sw_file_exists(tmp) && fl_csv_read(tmp, &t, &rerr) == 0;
    long n_rows = have_rows ? t.n_rows : 0;
    int final = n_rows > 0 && sw_row_is_final(&t, n_rows - 1);
    char* block = NULL;
    size_t blen = 0;
    int last_epoch = 0;
    if (n_rows) {
        // the bytes of the complete rows, as the child wrote them
        FILE* f = fopen(tmp, "rb");
        blen = (size_t)(t.end[n_rows - 1] - t.offset[0]);
        block = fl_malloc(blen + 1);
        if (!f || fseek(f, t.offset[0], SEEK_SET) || fread(block, 1, blen, f) != blen) {
            blen = 0;
            final = 0;
            n_rows = 0;
        }
        if (f) fclose(f);
        last_epoch = n_rows ? atoi(fl_csv_field(&t, n_rows - 1, "epoch")) : 0;
    }
    if (final) {
        snprintf(status_out, slen, "%s", fl_csv_field(&t, n_rows - 1, "status"));
        const char* acc = fl_csv_field(&t, n_rows - 1, "eval_acc");
        const char* msg = fl_csv_field(&t, n_rows - 1, "message");
        if (strcmp(status_out, "ok") == 0) snprintf(summary, sumlen, "%s_acc %s", fl_csv_field(&t, n_rows - 1, "eval_split"), acc);
        else snprintf(summary, sumlen, "%s", msg);
    } else {
        // the child ended without a final row: say why in one
        char why[700], last[512];
        last_log_line(log, last, sizeof last);
        if (timed_out) snprintf(why, sizeof why, "timeout: killed after %.0f s (the configuration's limit)", x->timeout_s);
        else if (wstatus == -1) snprintf(why, sizeof why, "lost the child process");
        else if (WIFSIGNALED(wstatus))
            snprintf(why, sizeof why, "killed by signal %d%s; last log line: %s", WTERMSIG(wstatus),
                     WTERMSIG(wstatus) == SIGKILL ? " (out of memory?)" : "", last[0] ? last : "(none)");
        else snprintf(why, sizeof why, "exited with status %d without a final row; last log line: %s",
                      WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1, last[0] ? last : "(none)");
        char* line = failure_row(cell, "failed", n_rows ? last_epoch + 1 : 0, why);
        size_t ll = strlen(line);
        block = fl_realloc(block, blen + ll + 1);
        memcpy(block + blen, line, ll);
        blen += ll;
        free(line);
        snprintf(status_out, slen, "failed");
        snprintf(summary, sumlen, "%s", why);
    }
    if (have_rows) fl_csv_free(&t);
    int rc = sw_append_block(x->csv, x->header, block, blen, err);
    free(block);
    if (!rc) unlink(tmp);
    return rc;
}
