// cmd_sweep.c: `flbench sweep CONFIG [--shard I/N] [--out DIR] [--dry-run] [--check]`: runs
// the cells of a sweep configuration (sweep.h, docs/SWEEPS.md), resumably.
//
// How a cell runs, and why a killed sweep neither loses nor duplicates rows:
//  - each cell runs in a child process (`flbench sweep --cell TMP KEY -- TRAIN OPTIONS`, a
//    fresh exec of this binary: its own peak memory, and a crash or out-of-memory kill marks
//    the cell failed instead of ending the sweep); the child dies with the sweep
//    (PR_SET_PDEATHSIG), so no orphan writes after a kill -9;
//  - the child appends its per-epoch rows to a per-cell temporary file DIR/.tmp/ID.csv;
//  - when the child has exited, the sweep appends all of the cell's rows to the sweep CSV in
//    one write() under an exclusive lock, then fsyncs; the temporary file is removed;
//  - a cell is finished when its final row (status other than ok, last epoch, or step limit)
//    is in the sweep CSV; a restarted sweep skips finished cells;
//  - should a kill land inside that one write (possible for large blocks), the restarted
//    sweep finds a torn last line or rows of a cell without its final row: it rewrites the
//    CSV without them (write, fsync, rename) and runs that cell again.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "args.h"
#include "cli.h"
#include "sweep.h"
#include "run/schema.h"

#if defined(__has_include)
#if __has_include("../impl/core/nvtx.h")
#include "../impl/core/nvtx.h"
#endif
#endif
#ifndef FL_NVTX_PUSH
#define FL_NVTX_PUSH(name) ((void)(name))
#define FL_NVTX_POP() ((void)0)
#endif

// `flbench data` (datasets/cmd_data.c): used to list missing datasets before a sweep runs.
int fl_cmd_data(int argc, char** argv);


static int file_exists(const char* p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void fmt_duration(double s, char* out, size_t len) {
    if (s < 0 || s != s) snprintf(out, len, "?");
    else if (s < 60) snprintf(out, len, "%.0fs", s);
    else if (s < 3600) snprintf(out, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(out, len, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

// ---------------------------------------------------------------------------------------
// the child: one cell

static int run_cell_child(int argc, char** argv) {
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
    fl_train_cfg cfg;
    fl_train_runtime rt;
    int rc = fl_train_parse(&cfg, &rt, "train", targc, targv, 2);
    free(targv);
    if (rc) return 2;
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
    if (fl_train(&cfg, &res, &err)) {
        fprintf(stderr, "flbench sweep: cell %s: %s\n", res.status, err.msg);
        return 2;
    }
    if (strcmp(res.status, "ok")) {
        fprintf(stderr, "flbench sweep: cell %s: %s\n", res.status, res.message);
        return 3;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------
// rows the sweep writes itself

// The last non-empty line of a log file (the child's error, usually).
static void last_log_line(const char* path, char* out, size_t len) {
    out[0] = 0;
    FILE* f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        char* p = strrchr(line, '\r');  // progress lines overwrite themselves
        p = p ? p + 1 : line;
        if (*p) snprintf(out, len, "%s", p);
    }
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
// the sweep CSV: what is finished, and repair after a kill

typedef struct {
    sw_table finished;   // cell key -> 1 (final row present)
    long rows;
    long foreign_cells;  // finished cells not in this configuration's shard
} sweep_state;

static int want_retry(const char* status, int retry_failed) {
    return retry_failed && (!strcmp(status, "failed") || !strncmp(status, "missing", 7));
}

// Reads csv (if present), repairs it when a kill left a torn line or a partial cell, drops the
// cells to retry, and fills st. Returns 0, or -1 with err.
static int load_state(const char* csv, const sw_cell* cells, long n_cells, int retry_failed, sweep_state* st,
                      fl_err* err) {
    memset(st, 0, sizeof *st);
    struct stat sb;
    if (stat(csv, &sb) != 0 || sb.st_size == 0) return 0;
    fl_csv t;
    if (fl_csv_read(csv, &t, err)) {
        // a header cut short by a kill before any row: start the file again
        FILE* f = fopen(csv, "r");
        int c, newline = 0;
        while (f && (c = fgetc(f)) != EOF)
            if (c == '\n') newline = 1;
        if (f) fclose(f);
        if (!newline && truncate(csv, 0) == 0) return 0;
        return -1;
    }
    if (fl_csv_check_results_header(&t, err)) {
        fl_csv_free(&t);
        return -1;
    }
    int key_col = fl_csv_col(&t, "cell_key");
    // per key: has a final row? (value: 1 final, 2 final and to be retried)
    sw_table keys = {0};
    for (long r = 0; r < t.n_rows; r++) {
        long* v = sw_table_slot(&keys, fl_csv_get(&t, r, key_col), NULL);
        if (sw_row_is_final(&t, r)) *v = want_retry(fl_csv_field(&t, r, "status"), retry_failed) ? 2 : 1;
    }
    long drop_rows = 0, partial = 0, retried = 0;
    for (long i = 0; i < keys.cap; i++) {
        if (!keys.keys[i]) continue;
        partial += keys.vals[i] == 0;
        retried += keys.vals[i] == 2;
    }
    for (long r = 0; r < t.n_rows; r++) drop_rows += sw_table_get(&keys, fl_csv_get(&t, r, key_col)) != 1;
    if (drop_rows || t.torn_tail) {
        // rewrite without them: a new file, fsync'd, renamed over the old one
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.repair", csv);
        FILE* in = fopen(csv, "rb");
        FILE* out = fopen(tmp, "wb");
        int rc = 0;
        if (!in || !out) rc = fl_fail(err, "%s: cannot rewrite (to drop partial rows): %s", csv, strerror(errno));
        char* buf = NULL;
        size_t cap = 0;
        long header_end = t.n_rows ? t.offset[0] : 0;
        if (!rc && !t.n_rows) {
            // the header ends at the first newline
            char* line = NULL;
            size_t lc = 0;
            ssize_t hn = getline(&line, &lc, in);
            header_end = hn > 0 ? hn : 0;
            free(line);
        }
        for (long r = -1; !rc && r < t.n_rows; r++) {
            long from = r < 0 ? 0 : t.offset[r], to = r < 0 ? header_end : t.end[r];
            if (r >= 0 && sw_table_get(&keys, fl_csv_get(&t, r, key_col)) != 1) continue;
            size_t len = (size_t)(to - from);
            if (len > cap) buf = fl_realloc(buf, cap = len);
            if (fseek(in, from, SEEK_SET) || fread(buf, 1, len, in) != len || fwrite(buf, 1, len, out) != len)
                rc = fl_fail(err, "%s: cannot copy rows while repairing: %s", csv, strerror(errno));
        }
        free(buf);
        if (in) fclose(in);
        if (out) {
            if (!rc && (fflush(out) || fsync(fileno(out)))) rc = fl_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
            fclose(out);
        }
        if (!rc && rename(tmp, csv)) rc = fl_fail(err, "%s: cannot replace with the repaired file: %s", csv, strerror(errno));
        if (rc) {
            unlink(tmp);
            fl_csv_free(&t);
            sw_table_free(&keys);
            return -1;
        }
        if (partial || t.torn_tail)
            fprintf(stderr, "flbench sweep: %s: removed %s%ld rows of %ld unfinished cell%s (left by a killed sweep); they run again\n",
                    csv, t.torn_tail ? "a torn last line and " : "", drop_rows, partial, partial == 1 ? "" : "s");
        if (retried)
            fprintf(stderr, "flbench sweep: %s: removed the rows of %ld failed cell%s (--retry-failed)\n", csv, retried,
                    retried == 1 ? "" : "s");
    }
    st->rows = t.n_rows - drop_rows;
    for (long i = 0; i < keys.cap; i++)
        if (keys.keys[i] && keys.vals[i] == 1) *sw_table_slot(&st->finished, keys.keys[i], NULL) = 1;
    sw_table_free(&keys);
    fl_csv_free(&t);
    // finished cells this configuration does not have (an edited configuration, or rows of
    // another sweep in the same file)
    sw_table mine = {0};
    for (long i = 0; i < n_cells; i++) *sw_table_slot(&mine, cells[i].key, NULL) = 1;
    for (long i = 0; i < st->finished.cap; i++)
        if (st->finished.keys[i] && sw_table_get(&mine, st->finished.keys[i]) < 0) st->foreign_cells++;
    sw_table_free(&mine);
    return 0;
}

// ---------------------------------------------------------------------------------------
// preflight: datasets and weights

// Runs `flbench data list [--data-root R]` with stdout captured; returns its output (malloc'd).
static char* data_list(const char* root) {
    fflush(stdout);
    FILE* tmp = tmpfile();
    if (!tmp) return NULL;
    int saved = dup(1);
    dup2(fileno(tmp), 1);
    char* argv[] = {"data", "list", "--data-root", (char*)root, NULL};
    fl_cmd_data(root ? 4 : 2, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    long n = ftell(tmp);
    rewind(tmp);
    char* s = fl_malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = n > 0 ? fread(s, 1, (size_t)n, tmp) : 0;
    s[got] = 0;
    fclose(tmp);
    return s;
}

// Lists missing datasets, weights and required files of the cells; returns how many.
static int preflight(const sw_config* c, const sw_cell* cells, long n, int verbose) {
    int missing = 0;
    sw_table seen = {0};
    for (long i = 0; i < n; i++) {
        if (!cells[i].parse_ok) continue;
        const fl_train_cfg* cfg = &cells[i].cfg;
        char k[800];
        snprintf(k, sizeof k, "data\n%s\n%s", cfg->dataset, cfg->data_root);
        int created;
        sw_table_slot(&seen, k, &created);
        if (created) {
            char* out = data_list(cfg->data_root[0] ? cfg->data_root : NULL);
            const char* line = NULL;
            size_t dl = strlen(cfg->dataset);
            for (const char* p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (!strncmp(p, cfg->dataset, dl) && p[dl] == ' ') { line = p; break; }
            if (line) {
                const char* eol = strchr(line, '\n');
                int len = eol ? (int)(eol - line) : (int)strlen(line);
                int is_missing = strstr(line, " missing ") && (!eol || strstr(line, " missing ") < eol);
                if (is_missing) {
                    // "NAME  missing  ROOT (flbench data fetch NAME)" from `flbench data list`
                    char root[600] = "", fetch[300] = "";
                    const char* m = strstr(line, " missing ") + 9;
                    while (*m == ' ') m++;
                    const char* paren = strchr(m, '(');
                    if (paren && (!eol || paren < eol)) {
                        snprintf(root, sizeof root, "%.*s", (int)(paren - m), m);
                        const char* close = strchr(paren, ')');
                        if (close && (!eol || close < eol)) snprintf(fetch, sizeof fetch, "%.*s", (int)(close - paren - 1), paren + 1);
                    }
                    size_t rl = strlen(root);
                    while (rl && root[rl - 1] == ' ') root[--rl] = 0;
                    missing++;
                    if (root[0] && !strncmp(fetch, "flbench ", 8))
                        fprintf(stderr, "missing dataset  %s  (expected in %s; fetch: build/%s)\n", cfg->dataset, root, fetch);
                    else
                        fprintf(stderr, "missing dataset  %.*s\n", len, line);
                } else if (verbose) {
                    printf("found dataset    %.*s\n", len, line);
                }
            }
            free(out);
        }
        if (cfg->weights[0]) {
            snprintf(k, sizeof k, "weights\n%s", cfg->weights);
            sw_table_slot(&seen, k, &created);
            if (created) {
                const char* fetch = NULL;
                for (int r = 0; r < c->n_requires; r++)
                    if (!strcmp(c->requires[r].path, cfg->weights)) fetch = c->requires[r].cmd;
                if (!file_exists(cfg->weights)) {
                    missing++;
                    fprintf(stderr, "missing weights  %s  (fetch: %s)\n", cfg->weights,
                            fetch ? fetch : "no command known: add 'require PATH COMMAND' to the configuration");
                } else if (verbose) {
                    printf("found weights    %s\n", cfg->weights);
                }
            }
        }
    }
    for (int r = 0; r < c->n_requires; r++) {
        char k[800];
        snprintf(k, sizeof k, "weights\n%s", c->requires[r].path);
        if (sw_table_get(&seen, k) >= 0) continue;
        if (!file_exists(c->requires[r].path)) {
            missing++;
            fprintf(stderr, "missing file     %s  (fetch: %s)\n", c->requires[r].path, c->requires[r].cmd);
        } else if (verbose) {
            printf("found file       %s\n", c->requires[r].path);
        }
    }
    sw_table_free(&seen);
    return missing;
}

// ---------------------------------------------------------------------------------------
// running one cell

typedef struct {
    const char* out_dir;
    const char* csv;
    const char* header;
    double timeout_s;
    int tty;
    long done_before, total;  // for the progress line
    double t_start;
    double mean_cell_s;       // of the cells run so far (0 = none yet)
    long remaining;
} run_ctx;

static void progress_line(const run_ctx* x, const sw_cell* cell, double cell_elapsed) {
    char el[32], eta[32], ce[32];
    fmt_duration(fl_now() - x->t_start, el, sizeof el);
    fmt_duration(x->mean_cell_s > 0 ? x->mean_cell_s * (double)x->remaining - cell_elapsed : -1, eta, sizeof eta);
    fmt_duration(cell_elapsed, ce, sizeof ce);
    fprintf(stderr, "\r\033[K[%ld/%ld] %3.0f%%  elapsed %s  ETA %s  running %.60s (%s)", x->done_before + 1, x->total,
            100.0 * (double)x->done_before / (double)(x->total ? x->total : 1), el, eta, cell->label, ce);
    fflush(stderr);
}

// Runs one cell and appends its rows. Returns 0 (status in status_out), or -1 with err when
// the sweep CSV cannot be written (the sweep then stops).
static int run_cell(const run_ctx* x, const sw_cell* cell, char* status_out, size_t slen, char* summary, size_t sumlen,
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
    const char* self = "/proc/self/exe";
    int cargc = 6 + cell->argc - 2;
    char** cargv = fl_calloc((size_t)cargc + 1, sizeof(char*));
    cargv[0] = "flbench";
    cargv[1] = "sweep";
    cargv[2] = "--cell";
    cargv[3] = tmp;
    cargv[4] = (char*)cell->key;
    cargv[5] = "--";
    for (int i = 2; i < cell->argc; i++) cargv[4 + i] = cell->argv[i];
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
        execv(self, cargv);
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
    int have_rows = file_exists(tmp) && fl_csv_read(tmp, &t, &rerr) == 0;
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
        const char* acc = fl_csv_field(&t, n_rows - 1, "test_acc");
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

// ---------------------------------------------------------------------------------------
// the command

// --only NAME=V[|V...][,NAME=V...]: does the cell match every condition? NAME is an axis of
// the cell's key (its label) or an option (its value in the cell).
static int matches_only(const sw_cell* c, const char* only) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", only);
    char* save = NULL;
    for (char* cond = strtok_r(buf, ",", &save); cond; cond = strtok_r(NULL, ",", &save)) {
        char* eq = strchr(cond, '=');
        if (!eq) return 0;
        *eq = 0;
        const char* have = NULL;
        char lab[256];
        snprintf(lab, sizeof lab, "%s", c->label);
        char* s2 = NULL;
        for (char* part = strtok_r(lab, ";", &s2); part && !have; part = strtok_r(NULL, ";", &s2)) {
            char* e2 = strchr(part, '=');
            if (e2 && (size_t)(e2 - part) == strlen(cond) && !strncmp(part, cond, strlen(cond))) have = e2 + 1;
        }
        if (!have) have = sw_map_get(&c->opts, cond);
        if (!have) return 0;
        int any = 0;
        for (const char* v = eq + 1;;) {
            const char* bar = strchr(v, '|');
            size_t len = bar ? (size_t)(bar - v) : strlen(v);
            if (strlen(have) == len && !strncmp(have, v, len)) any = 1;
            if (!bar) break;
            v = bar + 1;
        }
        if (!any) return 0;
    }
    return 1;
}

static int parse_shard(const char* s, int* i, int* n) {
    char* end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '/') return -1;
    const char* t = end + 1;
    long b = strtol(t, &end, 10);
    if (end == t || *end || b < 1 || a < 0 || a >= b) return -1;
    *i = (int)a;
    *n = (int)b;
    return 0;
}

int fl_cmd_sweep(int argc, char** argv) {
    if (argc >= 3 && !strcmp(argv[2], "--cell")) return run_cell_child(argc, argv);
    char shard[32] = "", out_dir[900] = "", only[512] = "";
    int dry_run = 0, check = 0, retry_failed = 0, progress = 0, no_progress = 0;
    double timeout_s = -1;
    float timeout_f = -1;
    fl_opt opts[] = {
        {"shard", FL_OPT_STR, shard, sizeof shard, NULL, "run shard I of N (0 <= I < N): the cells whose index % N == I"},
        {"out", FL_OPT_STR, out_dir, sizeof out_dir, NULL, "output directory (default results/runs/NAME)"},
        {"dry-run", FL_OPT_FLAG, &dry_run, 0, NULL, "list the cells, their state and command lines; run nothing"},
        {"check", FL_OPT_FLAG, &check, 0, NULL, "list missing datasets, weights and required files with their fetch commands; run nothing"},
        {"retry-failed", FL_OPT_FLAG, &retry_failed, 0, NULL, "run again the cells that finished failed or missing-*"},
        {"only", FL_OPT_STR, only, sizeof only, NULL, "run only the cells matching NAME=V[|V...][,NAME=V...] (axes or options), e.g. seed=0"},
        {"timeout", FL_OPT_FLOAT, &timeout_f, 0, NULL, "per-cell wall-clock limit in seconds (overrides the configuration's)"},
        {"progress", FL_OPT_FLAG, &progress, 0, NULL, "progress line even when stderr is not a terminal"},
        {"no-progress", FL_OPT_FLAG, &no_progress, 0, NULL, "plain log lines even on a terminal"},
    };
    char* pos[2];
    int n_pos = 0;
    int rc = fl_parse_opts("sweep", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 2, pos, 2, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "flbench sweep: expected one configuration file (flbench sweep CONFIG [--shard I/N] [--out DIR]), found %d\n", n_pos);
        return 2;
    }
    int shard_i = 0, shard_n = 1;
    if (shard[0] && parse_shard(shard, &shard_i, &shard_n)) {
        fprintf(stderr, "flbench sweep: --shard: expected I/N with 0 <= I < N, found '%s'\n", shard);
        return 2;
    }
    if (timeout_f < -0.5f) timeout_s = -1;
    else if (timeout_f < 0) {
        fprintf(stderr, "flbench sweep: --timeout: expected seconds >= 0, found %g\n", (double)timeout_f);
        return 2;
    } else timeout_s = timeout_f;
    sw_config cfg;
    fl_err err = {{0}};
    if (sw_config_load(pos[0], &cfg, &err)) {
        fprintf(stderr, "flbench sweep: %s\n", err.msg);
        return 2;
    }
    if (!out_dir[0]) snprintf(out_dir, sizeof out_dir, "results/runs/%s", cfg.name);
    sw_cell* all;
    long n_all = sw_cells(&cfg, out_dir, &all);
    // this shard's cells
    sw_cell** cells = fl_calloc((size_t)(n_all ? n_all : 1), sizeof(sw_cell*));
    long n = 0;
    for (long i = 0; i < n_all; i++)
        if (sw_in_shard(all[i].index, shard_i, shard_n) && (!only[0] || matches_only(&all[i], only))) cells[n++] = &all[i];
    char csv[1100];
    if (shard_n > 1) snprintf(csv, sizeof csv, "%s/%s.shard-%d-of-%d.csv", out_dir, cfg.name, shard_i, shard_n);
    else snprintf(csv, sizeof csv, "%s/%s.csv", out_dir, cfg.name);
    int status = 0;
    // the shard's cells, --only aside (shallow copies): what the CSV may hold
    sw_cell* mine = fl_calloc((size_t)(n_all ? n_all : 1), sizeof(sw_cell));
    long n_mine = 0;
    for (long i = 0; i < n_all; i++)
        if (sw_in_shard(all[i].index, shard_i, shard_n)) mine[n_mine++] = all[i];
    int lockfd = -1;
    sweep_state st = {0};
    if (check) {
        int missing = preflight(&cfg, all, n_all, 1);
        printf("%s: %ld cells; %d missing item%s\n", pos[0], n_all, missing, missing == 1 ? "" : "s");
        status = missing ? 2 : 0;
        goto done;
    }
    if (!dry_run) {
        char d1[1100], d2[1100];
        snprintf(d1, sizeof d1, "%s/logs", out_dir);
        snprintf(d2, sizeof d2, "%s/.tmp", out_dir);
        if (fl_mkdirs(out_dir, NULL) || fl_mkdirs(d1, NULL) || fl_mkdirs(d2, NULL)) {
            fprintf(stderr, "flbench sweep: --out %s: cannot create the directory: %s\n", out_dir, strerror(errno));
            status = 1;
            goto done;
        }
        // one sweep at a time per CSV
        char lock[1200];
        snprintf(lock, sizeof lock, "%s.lock", csv);
        lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
            fprintf(stderr, "flbench sweep: %s is in use by another sweep (lock %s held)\n", csv, lock);
            status = 1;
            goto done;
        }
    }
    if (file_exists(csv) && (dry_run ? 0 : 1)) {
        if (load_state(csv, mine, n_mine, retry_failed, &st, &err)) {
            fprintf(stderr, "flbench sweep: %s\n", err.msg);
            status = 1;
            goto done;
        }
    } else if (dry_run && file_exists(csv)) {
        // read only: which cells are finished
        fl_csv t;
        if (fl_csv_read(csv, &t, &err) == 0) {
            for (long r = 0; r < t.n_rows; r++)
                if (sw_row_is_final(&t, r)) *sw_table_slot(&st.finished, fl_csv_field(&t, r, "cell_key"), NULL) = 1;
            fl_csv_free(&t);
        }
    }
    if (!dry_run) {
        // temporary rows left by a sweep killed between appending a cell and removing them
        for (long i = 0; i < n_mine; i++) {
            char tmp[1100];
            snprintf(tmp, sizeof tmp, "%s/.tmp/%s.csv", out_dir, mine[i].id);
            unlink(tmp);
        }
    }
    long pending = 0, invalid = 0;
    for (long i = 0; i < n; i++) {
        if (sw_table_get(&st.finished, cells[i]->key) < 0) pending++;
        invalid += !cells[i]->parse_ok;
    }
    if (dry_run) {
        printf("# %s: %ld cells in all, %ld in shard %d/%d, %ld finished, %ld to run; results %s\n", pos[0], n_all, n,
               shard_i, shard_n, n - pending, pending, csv);
        for (long i = 0; i < n; i++) {
            const sw_cell* c = cells[i];
            int fin = sw_table_get(&st.finished, c->key) >= 0;
            char cmd[2048];
            fl_join_args(c->argc, c->argv, cmd, sizeof cmd);
            printf("%4ld  %-8s %s\n      %s\n", c->index, fin ? "done" : c->parse_ok ? "pending" : "invalid", c->key,
                   c->parse_ok ? cmd : c->parse_msg);
        }
        goto done;
    }
    int missing = preflight(&cfg, all, n_all, 0);
    if (missing)
        fprintf(stderr, "flbench sweep: %d missing item%s (listed above): the cells that need them are recorded as missing-*\n",
                missing, missing == 1 ? "" : "s");
    if (st.foreign_cells)
        fprintf(stderr, "flbench sweep: note: %s holds %ld finished cells that this configuration does not have (edited configuration?); they are kept\n",
                csv, st.foreign_cells);
    if (invalid)
        fprintf(stderr, "flbench sweep: %ld cells have options train rejects; they are recorded as failed\n", invalid);
    fprintf(stderr, "flbench sweep: %s: %ld of its %ld cells here (shard %d/%d%s%s), %ld finished, %ld to run -> %s\n", cfg.name,
            n, n_all, shard_i, shard_n, only[0] ? ", --only " : "", only, n - pending, pending, csv);
    char* header = fl_schema_header();
    run_ctx x = {.out_dir = out_dir, .csv = csv, .header = header,
                 .timeout_s = timeout_s >= 0 ? timeout_s : cfg.timeout_s,
                 .tty = progress ? 1 : no_progress ? 0 : isatty(2), .total = pending, .t_start = fl_now()};
    long done_now = 0, n_ok = 0, n_bad = 0;
    double run_time = 0;
    for (long i = 0; i < n; i++) {
        const sw_cell* c = cells[i];
        if (sw_table_get(&st.finished, c->key) >= 0) continue;
        x.done_before = done_now;
        x.remaining = pending - done_now;
        char cstatus[32], summary[800];
        double t0 = fl_now();
        FL_NVTX_PUSH(c->key);
        int crc = run_cell(&x, c, cstatus, sizeof cstatus, summary, sizeof summary, &err);
        FL_NVTX_POP();
        if (crc) {
            if (x.tty) fprintf(stderr, "\n");
            fprintf(stderr, "flbench sweep: %s\n", err.msg);
            status = 1;
            break;
        }
        double dt = fl_now() - t0;
        run_time += dt;
        done_now++;
        x.mean_cell_s = run_time / (double)done_now;
        if (!strcmp(cstatus, "ok")) n_ok++;
        else n_bad++;
        char eta[32], d[32];
        fmt_duration(x.mean_cell_s * (double)(pending - done_now), eta, sizeof eta);
        fmt_duration(dt, d, sizeof d);
        if (x.tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "[%ld/%ld] %-9s %6s  %s  %s  (ETA %s)\n", done_now, pending, cstatus, d, c->label, summary, eta);
    }
    free(header);
    char el[32];
    fmt_duration(fl_now() - x.t_start, el, sizeof el);
    fprintf(stderr, "flbench sweep: %s: ran %ld cells in %s: %ld ok, %ld not ok (see the status and message columns of %s; logs in %s/logs/)\n",
            cfg.name, done_now, el, n_ok, n_bad, csv, out_dir);
done:
    if (lockfd >= 0) close(lockfd);
    sw_table_free(&st.finished);
    free(mine);
    free(cells);
    sw_cells_free(all, n_all);
    sw_config_free(&cfg);
    return status;
}
