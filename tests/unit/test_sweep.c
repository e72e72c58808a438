// test_sweep.c: `flbench sweep` and `flbench merge`, through the built binary:
//  - configuration errors name the file and line;
//  - cells: variants override axes (bp is not crossed with the budget axis), when/skip rules,
//    shards partition the cells;
//  - a sweep killed with kill -9 mid-way (and, on top, a torn append) and restarted yields
//    exactly the rows of an uninterrupted sweep, apart from timing columns;
//  - failing cells (rejected options, missing data, a timeout) are recorded and skipped on
//    restart, and --retry-failed runs them again;
//  - merge detects a missing cell, a duplicated cell and a torn file.
// The training cells are tiny MLP runs on 8-shot Fashion-MNIST (Debian's package): seconds.
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "../test.h"
#include "../../bench/run/csvread.h"

#define FLBENCH t_flbench()
#define FMNIST "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static int have_binary(void) { return access(FLBENCH, X_OK) == 0; }
static int have_fmnist(void) { return access(FMNIST, R_OK) == 0; }



// Runs a shell command, capturing stdout and stderr into out; returns the exit status.
static int run(const char* cmd, char* out, size_t len) {
    char full[2048];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE* p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out && len) out[0] = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        if (out && n + 1 < len) {
            size_t take = got < len - 1 - n ? got : len - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
            out[n] = 0;
        }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// ---------------------------------------------------------------------------------------

typedef struct {
    const char* name;
    const char* text;
    const char* where;    // expected "FILE:LINE:" fragment (FILE without the folder)
    const char* what;     // and a fragment of the message
} bad_config;

static void test_config_errors_name_the_line(void) {
    if (!have_binary()) SKIP("no flbench binary (FLBENCH or build/flbench)");
    t_write_text(t_path("inc_bad.inc"), "# included\nset budget eight\n");
    const bad_config cases[] = {
        {"e1.conf", "name x\n\nfrobnicate 3\n", "e1.conf:3:", "unknown directive 'frobnicate'"},
        {"e2.conf", "set epochs 1\nset bugdet 4\n", "e2.conf:2:", "unknown train option 'bugdet'"},
        {"e3.conf", "# c\naxis budget 4 x 8\n", "e3.conf:2:", "expected an integer, found 'x'"},
        {"e4.conf", "set out a.csv\n", "e4.conf:1:", "set by the sweep"},
        {"e5.conf", "axis seed 0 1\nwhen seed=0 lr=1e-3\n", "e5.conf:2:", "':'"},
        {"e6.conf", "set data-root \"/tmp/x\nset seed 1\n", "e6.conf:1:", "unterminated quote"},
        {"e7.conf", "axis seed 0 1\nskip colour=red\n", "e7.conf:2:", "neither an axis"},
        {"e8.conf", "variant m a method=bp\nvariant m a method=lr\n", "e8.conf:2:", "already defined"},
        {"e9.conf", "set seed 0\nset data-root ${FLBENCH_TEST_SURELY_UNSET}\n", "e9.conf:2:", "is not set"},
        {"e10.conf", "set seed 0\n\ninclude inc_bad.inc\n", "inc_bad.inc:2:", "found 'eight'"},
        {"e11.conf", "set seed 0\ninclude nope.inc\n", "e11.conf:2:", "cannot open"},
        {"e12.conf", "axis seed 0 1 0\n", "e12.conf:1:", "twice"},
        {"e13.conf", "set eval-initial maybe\n", "e13.conf:1:", "is a flag"},
        {"e14.conf", "set seed 0\nvariant method lr-x method=lr \\\n   sigma=abc\n", "e14.conf:2:", "expected a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char* path = t_path(cases[i].name);
        t_write_text(path, cases[i].text);
        char cmd[2000], out[4096];
        snprintf(cmd, sizeof cmd, "%s sweep %s --dry-run", FLBENCH, path);
        int rc = run(cmd, out, sizeof out);
        CHECK(rc == 2, "%s: exit status %d, expected 2; output: %s", cases[i].name, rc, out);
        CHECK(strstr(out, cases[i].where) != NULL, "%s: expected '%s' in: %s", cases[i].name, cases[i].where, out);
        CHECK(strstr(out, cases[i].what) != NULL, "%s: expected '%s' in: %s", cases[i].name, cases[i].what, out);
        // one line: what, where, expected vs found
        const char* nl = strchr(out, '\n');
        CHECK(nl && !strchr(nl + 1, '\n'), "%s: expected one line, found: %s", cases[i].name, out);
    }
}

// Cells of `flbench sweep --dry-run` output: lines "  IDX  STATE KEY".
static int dry_cells(const char* conf, const char* extra, char keys[][256], int max, int quiet) {
    char cmd[2000];
    static char out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s sweep %s --dry-run --out %s %s", FLBENCH, conf, t_path("dry"), extra);
    if (run(cmd, out, sizeof out) != 0) {
        if (!quiet) printf("    dry run failed: %s\n", out);
        return -1;
    }
    int n = 0;
    for (char* line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        long idx;
        char state[32], key[256];
        if (line[0] == '#' || sscanf(line, "%ld %31s %255s", &idx, state, key) != 3) continue;
        if (n < max) snprintf(keys[n], 256, "%s", key);
        n++;
    }
    return n;
}

static void test_cells_variants_rules_shards(void) {
    if (!have_binary()) SKIP("no flbench binary (FLBENCH or build/flbench)");
    char conf[600];  // (tmp_path's buffers are reused)
    snprintf(conf, sizeof conf, "%s", t_path("cells.conf"));
    t_write_text(conf,
               "name cells\n"
               "set model mlp:784-16-10\n"
               "axis seed 0 1 2\n"
               "axis budget 4 8\n"
               "variant method bp    method=bp budget=1\n"
               "variant method mezo2 method=mezo budget=2\n"
               "variant method lr    method=lr allocator=uniform\n"
               "variant method lrf   method=lr allocator=flops\n"
               "skip method=lrf budget=8 seed=2\n"
               "when method=lr|lrf budget=4 : lr=3e-3\n");
    char keys[64][256];
    // per seed: bp 1 + mezo2 1 + lr 2 + lrf 2 = 6; seed 2 loses lrf at budget 8: 17
    int n = dry_cells(conf, "", keys, 64, 0);
    CHECK(n == 17, "expected 17 cells, found %d", n);
    int bp = 0, lr3 = 0;
    for (int i = 0; i < n && i < 64; i++) bp += strstr(keys[i], "method=bp;") != NULL;
    CHECK(bp == 3, "bp once per seed (not crossed with budget), found %d", bp);
    // the when rule: lr=3e-3 on lr and lrf cells at budget 4 only
    char cmd[2000];
    static char out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s sweep %s --dry-run --out %s", FLBENCH, conf, t_path("dry"));
    run(cmd, out, sizeof out);
    for (char* p = strstr(out, "--lr 3e-3"); p; p = strstr(p + 1, "--lr 3e-3")) lr3++;
    CHECK(lr3 == 6, "the when rule applies to 6 cells, found %d", lr3);
    CHECK(strstr(out, "--budget 8 --method lr --allocator uniform --lr") == NULL, "no lr override at budget 8");
    // shards: disjoint, and together every cell
    char all[3][64][256];
    int ns[3], total = 0;
    for (int s = 0; s < 3; s++) {
        char extra[32];
        snprintf(extra, sizeof extra, "--shard %d/3", s);
        ns[s] = dry_cells(conf, extra, all[s], 64, 0);
        total += ns[s];
    }
    CHECK(total == n, "shards hold %d cells in all, expected %d", total, n);
    for (int i = 0; i < n && i < 64; i++) {
        int found = 0;
        for (int s = 0; s < 3; s++)
            for (int j = 0; j < ns[s] && j < 64; j++) found += !strcmp(all[s][j], keys[i]);
        CHECK(found == 1, "cell %s is in %d shards", keys[i], found);
    }
    CHECK(dry_cells(conf, "--shard 3/3", keys, 64, 1) < 0, "--shard 3/3 is rejected");
    // --only: by axis label and by option value
    CHECK(dry_cells(conf, "--only seed=1", keys, 64, 0) == 6, "--only seed=1: 6 cells");
    CHECK(dry_cells(conf, "--only 'method=lr|lrf,budget=8'", keys, 64, 0) == 5, "--only lr and lrf at budget 8: 5 cells");
    CHECK(dry_cells(conf, "--only allocator=flops", keys, 64, 0) == 5, "--only by option value: 5 flops cells");
}

// ---------------------------------------------------------------------------------------
// resumption

static const char* RESUME_CONF =
    "name resume\n"
    "set model mlp:784-16-10\n"
    "set shots 8\n"
    "set batch 16\n"
    "set epochs 3\n"
    "set threads 1\n"
    "set eval-batch 2000\n"
    "axis seed 0 1\n"
    "variant method bp  method=bp budget=1\n"
    "variant method mezo method=mezo budget=4\n"
    "variant method lrf method=lr allocator=flops budget=4\n";

// Columns that measure time or memory: they differ between two runs of the same cell.
static int timing_column(const char* name) {
    static const char* t[] = {"timestamp", "wall_s", "step_ms", "t_clean_ms", "t_alloc_ms", "t_forward_ms",
                              "t_grad_ms", "t_update_ms", "peak_rss_mb", "peak_dev_mb", NULL};
    for (int i = 0; t[i]; i++)
        if (!strcmp(t[i], name)) return 1;
    return 0;
}

static int cmp_str(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

// The rows of a CSV without timing columns, sorted. Returns the count (-1 on error).
static long canonical_rows(const char* path, char*** out) {
    fl_csv t;
    fl_err err;
    if (fl_csv_read(path, &t, &err)) {
        printf("    %s\n", err.msg);
        return -1;
    }
    char** rows = calloc((size_t)t.n_rows + 1, sizeof(char*));
    for (long r = 0; r < t.n_rows; r++) {
        size_t len = 1;
        for (int c = 0; c < t.n_cols; c++) len += strlen(fl_csv_get(&t, r, c)) + 1;
        rows[r] = malloc(len);
        rows[r][0] = 0;
        for (int c = 0; c < t.n_cols; c++) {
            if (timing_column(t.header[c])) continue;
            strcat(rows[r], fl_csv_get(&t, r, c));
            strcat(rows[r], "\x1f");
        }
    }
    qsort(rows, (size_t)t.n_rows, sizeof(char*), cmp_str);
    long n = t.n_rows;
    fl_csv_free(&t);
    *out = rows;
    return n;
}

static void free_rows(char** rows, long n) {
    for (long i = 0; i < n; i++) free(rows[i]);
    free(rows);
}

// Cells of a results CSV that have their last epoch (3 in RESUME_CONF).
static int finished_cells(const char* csv) {
    fl_csv t;
    fl_err err;
    if (access(csv, R_OK) || fl_csv_read(csv, &t, &err)) return 0;
    int n = 0;
    for (long r = 0; r < t.n_rows; r++) n += !strcmp(fl_csv_field(&t, r, "epoch"), "3");
    fl_csv_free(&t);
    return n;
}

static void test_resume_after_kill(void) {
    if (!have_binary()) SKIP("no flbench binary (FLBENCH or build/flbench)");
    if (!have_fmnist()) SKIP("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)");
    const char* conf = t_path("resume.conf");
    t_write_text(conf, RESUME_CONF);
    const char* dir_a = t_path("resume_a");
    const char* dir_b = t_path("resume_b");
    char cmd[2000], out[8192], csv_a[700], csv_b[700];
    snprintf(csv_a, sizeof csv_a, "%s/resume.csv", dir_a);
    snprintf(csv_b, sizeof csv_b, "%s/resume.csv", dir_b);
    // A: uninterrupted
    snprintf(cmd, sizeof cmd, "%s sweep %s --out %s --no-progress", FLBENCH, conf, dir_a);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "uninterrupted sweep: status %d: %s", rc, out);
    CHECK(finished_cells(csv_a) == 6, "6 finished cells, found %d", finished_cells(csv_a));
    // B: killed with SIGKILL once 2 cells are in, while the third runs
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(FLBENCH, "flbench", "sweep", conf, "--out", dir_b, "--no-progress", (char*)NULL);
        _exit(127);
    }
    int killed = 0;
    for (int i = 0; i < 6000 && !killed; i++) {  // up to 60 s
        if (finished_cells(csv_b) >= 2) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        int st;
        if (!killed && waitpid(pid, &st, WNOHANG) == pid) break;
        usleep(10000);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(killed && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the sweep was killed mid-way (killed %d)", killed);
    int after_kill = finished_cells(csv_b);
    printf("    killed after %d of 6 cells\n", after_kill);
    CHECK(after_kill >= 2 && after_kill < 6, "%d cells finished when killed", after_kill);
    usleep(200000);  // the cell's child dies with the sweep (PR_SET_PDEATHSIG)
    // on top: a torn append, as if the kill had landed inside the one write of a cell's rows:
    // the first row of an unfinished cell (from A) and half of its second row
    {
        fl_csv ta, tb;
        fl_err err;
        int ok = fl_csv_read(csv_a, &ta, &err) == 0 && fl_csv_read(csv_b, &tb, &err) == 0;
        CHECK(ok, "read: %s", err.msg);
        if (!ok) return;
        long pick = -1;
        for (long r = 0; r < ta.n_rows && pick < 0; r++) {
            int in_b = 0;
            for (long q = 0; q < tb.n_rows; q++) in_b |= !strcmp(fl_csv_field(&tb, q, "cell_key"), fl_csv_field(&ta, r, "cell_key"));
            if (!in_b) pick = r;
        }
        CHECK(pick >= 0 && pick + 1 < ta.n_rows, "an unfinished cell to tear");
        if (pick >= 0 && pick + 1 < ta.n_rows) {
            FILE* fa = fopen(csv_a, "rb");
            FILE* fb = fopen(csv_b, "ab");
            long from = ta.offset[pick], to = ta.offset[pick + 1] + (ta.end[pick + 1] - ta.offset[pick + 1]) / 2;
            char* buf = malloc((size_t)(to - from));
            fseek(fa, from, SEEK_SET);
            size_t got = fread(buf, 1, (size_t)(to - from), fa);
            fwrite(buf, 1, got, fb);
            free(buf);
            fclose(fa);
            fclose(fb);
        }
        fl_csv_free(&ta);
        fl_csv_free(&tb);
    }
    // restart B: it repairs the file, skips the finished cells, runs the rest
    snprintf(cmd, sizeof cmd, "%s sweep %s --out %s --no-progress", FLBENCH, conf, dir_b);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "restarted sweep: status %d: %s", rc, out);
    char expect[64];
    snprintf(expect, sizeof expect, "%d finished, %d to run", after_kill, 6 - after_kill);
    CHECK(strstr(out, expect) != NULL, "expected '%s' in: %s", expect, out);
    CHECK(strstr(out, "torn last line") != NULL, "the repair is reported: %s", out);
    char** ra;
    char** rb;
    long na = canonical_rows(csv_a, &ra), nb = canonical_rows(csv_b, &rb);
    CHECK(na == 18 && nb == na, "rows: uninterrupted %ld, killed and restarted %ld (expected 18: 6 cells x 3 epochs)", na, nb);
    if (na == nb && na > 0) {
        long diff = 0;
        for (long i = 0; i < na; i++) diff += strcmp(ra[i], rb[i]) != 0;
        CHECK(diff == 0, "%ld rows differ beyond timing columns", diff);
    }
    if (na >= 0) free_rows(ra, na);
    if (nb >= 0) free_rows(rb, nb);
    // nothing left behind, and a third run has nothing to do
    char tmpdir[720];
    snprintf(tmpdir, sizeof tmpdir, "%s/.tmp", dir_b);
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", tmpdir);
    run(cmd, out, sizeof out);
    CHECK(atoi(out) == 0, "per-cell temporary files left: %s", out);
    snprintf(cmd, sizeof cmd, "%s sweep %s --out %s --no-progress", FLBENCH, conf, dir_b);
    run(cmd, out, sizeof out);
    CHECK(strstr(out, "6 finished, 0 to run") != NULL, "a finished sweep runs nothing: %s", out);
}

// ---------------------------------------------------------------------------------------
// failing cells

static void test_failing_cells_recorded(void) {
    if (!have_binary()) SKIP("no flbench binary (FLBENCH or build/flbench)");
    if (!have_fmnist()) SKIP("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)");
    const char* conf = t_path("fail.conf");
    char text[1500];
    snprintf(text, sizeof text,
             "name fail\n"
             "set model mlp:784-16-10\n"
             "set shots 8\n"
             "set batch 16\n"
             "set threads 1\n"
             "timeout 2\n"
             "variant case good     method=bp\n"
             // the spend rule: a clean pass and one direction need 3 queries per datum
             "variant case lowmezo  method=mezo allocator=neyman budget=2\n"
             "variant case nodata   dataset=cifar10 data-root=%s/nothing-here\n"
             // one epoch of this cell is ~3750 steps of a 784-512-512-10 MLP with 64 queries
             // per datum (tens of seconds here), so the 2 s limit kills it inside epoch 1
             "variant case slow     method=lr shots=0 epochs=50 budget=64 model=mlp:784-512-512-10\n",
             t_tmpdir());
    t_write_text(conf, text);
    const char* dir = t_path("fail_out");
    char cmd[2000], out[8192], csv[700];
    snprintf(csv, sizeof csv, "%s/fail.csv", dir);
    snprintf(cmd, sizeof cmd, "%s sweep %s --out %s --no-progress", FLBENCH, conf, dir);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "a sweep with failing cells finishes: status %d: %s", rc, out);
    fl_csv t;
    fl_err err;
    int rrc = fl_csv_read(csv, &t, &err);
    CHECK(rrc == 0, "read: %s", err.msg);
    if (rrc) return;
    const char* want[][3] = {{"case=good", "ok", ""},
                             {"case=lowmezo", "failed", "--budget 2"},
                             {"case=nodata", "missing-data", "cifar10"},
                             {"case=slow", "failed", "timeout"}};
    for (int w = 0; w < 4; w++) {
        int found = 0;
        for (long r = 0; r < t.n_rows; r++) {
            if (!strstr(fl_csv_field(&t, r, "cell_key"), want[w][0])) continue;
            found++;
            CHECK(!strcmp(fl_csv_field(&t, r, "status"), want[w][1]), "%s: status %s, expected %s", want[w][0],
                  fl_csv_field(&t, r, "status"), want[w][1]);
            CHECK(strstr(fl_csv_field(&t, r, "message"), want[w][2]) != NULL, "%s: message '%s' lacks '%s'", want[w][0],
                  fl_csv_field(&t, r, "message"), want[w][2]);
        }
        CHECK(found == 1, "%s: %d rows, expected 1", want[w][0], found);
    }
    fl_csv_free(&t);
    run(cmd, out, sizeof out);
    CHECK(strstr(out, "4 finished, 0 to run") != NULL, "failed cells are finished cells: %s", out);
    snprintf(cmd, sizeof cmd, "%s sweep %s --out %s --no-progress --retry-failed", FLBENCH, conf, dir);
    run(cmd, out, sizeof out);
    CHECK(strstr(out, "1 finished, 3 to run") != NULL, "--retry-failed runs the 3 failed cells again: %s", out);
    rrc = fl_csv_read(csv, &t, &err);
    if (!rrc) {
        CHECK(t.n_rows == 4, "still one row per cell after the retry, found %ld rows", t.n_rows);
        fl_csv_free(&t);
    }
}

// ---------------------------------------------------------------------------------------
// merge

static void test_merge_detects_missing_and_duplicate(void) {
    if (!have_binary()) SKIP("no flbench binary (FLBENCH or build/flbench)");
    if (!have_fmnist()) SKIP("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)");
    const char* conf = t_path("merge.conf");
    t_write_text(conf,
               "name mrg\n"
               "set model mlp:784-16-10\n"
               "set shots 4\n"
               "set batch 20\n"
               "set method bp\n"
               "set threads 1\n"
               "axis seed 0 1 2 3\n");
    const char* dir = t_path("merge_out");
    char cmd[3000], out[8192];
    for (int s = 0; s < 2; s++) {
        snprintf(cmd, sizeof cmd, "%s sweep %s --out %s --shard %d/2 --no-progress", FLBENCH, conf, dir, s);
        int rc = run(cmd, out, sizeof out);
        CHECK(rc == 0, "shard %d: status %d: %s", s, rc, out);
    }
    char s0[700], s1[700], merged[700], torn[700];
    snprintf(s0, sizeof s0, "%s/mrg.shard-0-of-2.csv", dir);
    snprintf(s1, sizeof s1, "%s/mrg.shard-1-of-2.csv", dir);
    snprintf(merged, sizeof merged, "%s/merged.csv", dir);
    snprintf(torn, sizeof torn, "%s/torn.csv", dir);
    snprintf(cmd, sizeof cmd, "%s merge %s %s %s --config %s", FLBENCH, merged, s0, s1, conf);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0 && access(merged, R_OK) == 0, "merge of both shards: status %d: %s", rc, out);
    fl_csv t;
    fl_err err;
    if (fl_csv_read(merged, &t, &err) == 0) {
        CHECK(t.n_rows == 4, "4 rows merged, found %ld", t.n_rows);
        // ordered as the configuration's cells
        CHECK(t.n_rows == 4 && strstr(fl_csv_field(&t, 0, "cell_key"), "seed=0") && strstr(fl_csv_field(&t, 3, "cell_key"), "seed=3"),
              "rows in configuration order");
        fl_csv_free(&t);
    }
    // a missing cell: shard 1 left out
    unlink(merged);
    snprintf(cmd, sizeof cmd, "%s merge %s %s --config %s", FLBENCH, merged, s0, conf);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 3, "missing cells: status %d, expected 3", rc);
    CHECK(strstr(out, "missing cell mrg;seed=1;") && strstr(out, "missing cell mrg;seed=3;"), "names the missing cells: %s", out);
    CHECK(access(merged, F_OK) != 0, "nothing written when a check fails");
    // a duplicated cell: shard 0 twice
    snprintf(cmd, sizeof cmd, "%s merge %s %s %s %s", FLBENCH, merged, s0, s1, s0);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 3, "duplicate cells: status %d, expected 3", rc);
    CHECK(strstr(out, "duplicate cell mrg;seed=0;") && strstr(out, "duplicate cell mrg;seed=2;"), "names the duplicates: %s", out);
    CHECK(strstr(out, "mrg.shard-0-of-2.csv:2") != NULL, "names file:line of the duplicate: %s", out);
    // a torn file
    snprintf(cmd, sizeof cmd, "cp %s %s && printf 'garbage,without,newline' >> %s", s1, torn, torn);
    run(cmd, out, sizeof out);
    snprintf(cmd, sizeof cmd, "%s merge %s %s %s", FLBENCH, merged, s0, torn);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 3 && strstr(out, "torn.csv:4: the last line is incomplete"), "torn file: status %d: %s", rc, out);
}

int main(void) {
    RUN(test_config_errors_name_the_line);
    RUN(test_cells_variants_rules_shards);
    RUN(test_resume_after_kill);
    RUN(test_failing_cells_recorded);
    RUN(test_merge_detects_missing_and_duplicate);
    TEST_EXIT();
}
