// cmd_sweep.c: `flbench sweep CONFIG [--shard I/N] [--out DIR] [--dry-run] [--check]`: the
// command line, the cells of this shard, and the loop that runs them; resumably. The other
// jobs have their own files: the configuration and its cells (sweep_config.c), running one
// cell in a child process (sweep_run.c), resuming from the sweep CSV (sweep_resume.c), the
// datasets and files the cells need (sweep_preflight.c); sweep.h declares what they share.
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
#include <limits.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
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

// Parses "I/N" with 0 <= I < N. Returns 0, or -1 with err.
static int parse_shard(const char* s, int* i, int* n, fl_err* err) {
    char buf[32];
    snprintf(buf, sizeof buf, "%s", s);
    char* slash = strchr(buf, '/');
    int digits = slash && slash != buf && slash[1];
    for (const char* p = buf; digits && *p; p++) digits = p == slash || (*p >= '0' && *p <= '9');
    long long a = 0, b = 0;
    if (digits) {
        *slash = 0;
        if (fl_parse_integer("--shard", buf, 0, INT_MAX, &a, err) || fl_parse_integer("--shard", slash + 1, 1, INT_MAX, &b, err))
            return -1;
    }
    if (!digits || a >= b) return fl_fail(err, "--shard: expected I/N with 0 <= I < N, found '%s'", s);
    *i = (int)a;
    *n = (int)b;
    return 0;
}

int fl_cmd_sweep(int argc, char** argv) {
    if (argc >= 3 && !strcmp(argv[2], "--cell")) return sw_cell_child(argc, argv);
    char shard[32] = "", out_dir[900] = "", only[512] = "", launcher[256] = "mpirun -np";
    int ranks = 1;
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
        {"timeout", FL_OPT_FLOAT, &timeout_f, 0, "0..", "per-cell wall-clock limit in seconds (overrides the configuration's)"},
        {"ranks", FL_OPT_INT, &ranks, 0, "1..", "run each cell data-parallel on N ranks (its options need --slices S >= N; docs/SCALING.md)"},
        {"launcher", FL_OPT_STR, launcher, sizeof launcher, NULL, "with --ranks: the launcher, the rank count appended (default \"mpirun -np\"; e.g. \"srun -n\")"},
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
    sw_config cfg;
    fl_err err = {{0}};
    if (shard[0] && parse_shard(shard, &shard_i, &shard_n, &err)) {
        fprintf(stderr, "flbench sweep: %s\n", err.msg);
        return 2;
    }
    if (timeout_f >= 0) timeout_s = timeout_f;  // -1: not given
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
    sw_state st = {0};
    if (check) {
        int missing = sw_preflight(&cfg, all, n_all, 1);
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
    if (sw_file_exists(csv) && !dry_run) {
        if (sw_load_state(csv, mine, n_mine, retry_failed, &st, &err)) {
            fprintf(stderr, "flbench sweep: %s\n", err.msg);
            status = 1;
            goto done;
        }
    } else if (dry_run && sw_file_exists(csv)) {
        sw_read_finished(csv, &st);  // read only: which cells are finished
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
    int missing = sw_preflight(&cfg, all, n_all, 0);
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
    sw_run_ctx x = {.out_dir = out_dir, .csv = csv, .header = header,
                 .timeout_s = timeout_s >= 0 ? timeout_s : cfg.timeout_s,
                 .tty = progress ? 1 : no_progress ? 0 : isatty(2), .total = pending, .t_start = fl_now(),
                 .ranks = ranks, .launcher = launcher};
    long done_now = 0, n_ok = 0, n_diverged = 0, n_bad = 0;  // n_diverged: a result (docs/SWEEPS.md), not a failure
    double run_time = 0;
    for (long i = 0; i < n; i++) {
        const sw_cell* c = cells[i];
        if (sw_table_get(&st.finished, c->key) >= 0) continue;
        x.done_before = done_now;
        x.remaining = pending - done_now;
        char cstatus[32], summary[800];
        double t0 = fl_now();
        FL_NVTX_PUSH(c->key);
        int crc = sw_run_cell(&x, c, cstatus, sizeof cstatus, summary, sizeof summary, &err);
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
        else if (!strcmp(cstatus, "diverged")) n_diverged++;
        else n_bad++;
        char eta[32], d[32];
        sw_fmt_duration(x.mean_cell_s * (double)(pending - done_now), eta, sizeof eta);
        sw_fmt_duration(dt, d, sizeof d);
        if (x.tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "[%ld/%ld] %-9s %6s  %s  %s  (ETA %s)\n", done_now, pending, cstatus, d, c->label, summary, eta);
    }
    free(header);
    char el[32];
    sw_fmt_duration(fl_now() - x.t_start, el, sizeof el);
    fprintf(stderr, "flbench sweep: %s: ran %ld cells in %s: %ld ok, %ld diverged, %ld failed or missing (see the status and message columns of %s; logs in %s/logs/)\n",
            cfg.name, done_now, el, n_ok, n_diverged, n_bad, csv, out_dir);
done:
    if (lockfd >= 0) close(lockfd);
    sw_table_free(&st.finished);
    free(mine);
    free(cells);
    sw_cells_free(all, n_all);
    sw_config_free(&cfg);
    return status;
}
