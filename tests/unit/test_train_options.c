// test_train_options.c: the option table of `flbench train` and the table-driven parser:
//  - parsing has no side effects: --threads reaches OpenMP and OpenBLAS only through
//    fl_train_apply_runtime, never through the parse itself;
//  - fl_train_parse_err and fl_parse_opts_err report errors in fl_err and print nothing;
//  - fl_train_option_kind answers from the table (what the sweep asks of its configuration);
//  - `flbench data` and `flbench data bench` reject bad options with exit status 2.
#include <unistd.h>
#include <fcntl.h>
#include <omp.h>
#include <cblas.h>
#include "../test.h"
#include "../../bench/args.h"
#include "../../bench/cli.h"

// Runs fn with stderr sent to a file; returns the number of bytes fn wrote there.
static long stderr_bytes(void (*fn)(void* ctx), void* ctx) {
    const char* path = t_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (saved < 0 || fd < 0) return -1;
    dup2(fd, 2);
    close(fd);
    fn(ctx);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE* f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_parse_leaves_threads_unchanged(void) {
    int omp0 = omp_get_max_threads(), blas0 = openblas_get_num_threads();
    int want = omp0 + 1;
    char n[16];
    snprintf(n, sizeof n, "%d", want);
    char* argv[] = {"flbench", "train", "--threads", n, "--math", "tf32", "--budget", "4"};
    fl_train_cfg c;
    fl_train_runtime rt = {0};
    int rc = fl_train_parse(&c, &rt, "train", 8, argv, 2);
    CHECK(rc == 0, "rc %d", rc);
    CHECK(omp_get_max_threads() == omp0, "parsing changed the OpenMP threads: %d -> %d", omp0, omp_get_max_threads());
    CHECK(openblas_get_num_threads() == blas0, "parsing changed the OpenBLAS threads: %d -> %d", blas0,
          openblas_get_num_threads());
    CHECK(rt.threads == want && rt.tf32 == 1, "runtime: threads %d tf32 %d", rt.threads, rt.tf32);
    CHECK(c.eo.budget == 4, "budget %d", c.eo.budget);
    // the quiet form and the form without a runtime out-parameter do not apply either
    fl_err err = {{0}};
    rc = fl_train_parse_err(&c, NULL, "train", 8, argv, 2, &err);
    CHECK(rc == 0 && omp_get_max_threads() == omp0, "rc %d, threads %d", rc, omp_get_max_threads());
    // applying is what sets them
    rt.tf32 = 0;
    fl_train_apply_runtime(&rt);
    CHECK(omp_get_max_threads() == want, "after apply: %d, expected %d", omp_get_max_threads(), want);
    CHECK(openblas_get_num_threads() == want, "after apply: OpenBLAS %d, expected %d", openblas_get_num_threads(), want);
    omp_set_num_threads(omp0);
    openblas_set_num_threads(blas0);
}

typedef struct {
    char** argv;
    int argc;
    int rc;
    fl_err err;
} parse_case;

static void parse_quietly(void* ctx) {
    parse_case* p = ctx;
    fl_train_cfg c;
    p->rc = fl_train_parse_err(&c, NULL, "train", p->argc, p->argv, 2, &p->err);
}

static void test_errors_through_fl_err(void) {
    struct {
        char* args[4];
        int n;
        int rc;
        const char* msg;
    } cases[] = {
        {{"--budget", "x"}, 2, 2, "--budget: expected an integer, found 'x'"},
        {{"--bogus", "1"}, 2, 2, "unknown option '--bogus' (see flbench train --help)"},
        {{"--budget"}, 1, 2, "--budget needs a value"},
        {{"--fixed-sigma=1"}, 1, 2, "--fixed-sigma takes no value"},
        {{"--pairs", "sideways"}, 2, 2, "--pairs: expected one of same|cross|none, found 'sideways'"},
        {{"--classes", "7-3"}, 2, 2, "--classes: expected LO-HI with 0 <= LO <= HI, found '7-3'"},
        {{"--threads", "-1"}, 2, 2, "--threads: expected a positive count, found -1"},
        {{"--help"}, 1, 1, ""},
        {{"--track-schema"}, 1, 1, ""},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char* argv[6] = {"flbench", "train"};
        for (int k = 0; k < cases[i].n; k++) argv[2 + k] = cases[i].args[k];
        parse_case p = {argv, 2 + cases[i].n, -1, {{0}}};
        fflush(stdout);
        long out0 = ftell(stdout);
        long bytes = stderr_bytes(parse_quietly, &p);
        CHECK(p.rc == cases[i].rc && !strcmp(p.err.msg, cases[i].msg), "%s: rc %d, '%s'", cases[i].args[0], p.rc, p.err.msg);
        CHECK(bytes == 0, "%s: %ld bytes on stderr", cases[i].args[0], bytes);
        fflush(stdout);
        CHECK(out0 < 0 || ftell(stdout) == out0, "%s: printed on stdout", cases[i].args[0]);
    }
}

static void test_option_kinds_from_the_table(void) {
    CHECK(fl_train_option_kind("budget") == 0, "budget");
    CHECK(fl_train_option_kind("dataset") == 0, "dataset");
    CHECK(fl_train_option_kind("pairs") == 0, "pairs (a choice)");
    CHECK(fl_train_option_kind("threads") == 0, "threads");
    CHECK(fl_train_option_kind("fixed-sigma") == 1, "fixed-sigma");
    CHECK(fl_train_option_kind("eval-initial") == 1, "eval-initial");
    CHECK(fl_train_option_kind("bogus") == -1, "bogus");
    CHECK(fl_train_option_kind("budget=4") == -1, "budget=4");
    CHECK(fl_train_option_kind("help") == -1, "help is the parser's, not the table's");
    CHECK(fl_train_option_kind("track-schema") == -1, "track-schema prints and exits");
}

static void test_generic_parser(void) {
    int flag = 0, k = 7;
    char s[4] = "";
    const fl_opt opts[] = {
        {"flag", FL_OPT_FLAG, &flag, 0, NULL, "a flag"},
        {"k", FL_OPT_INT, &k, 0, NULL, "an integer"},
        {"s", FL_OPT_STR, s, sizeof s, NULL, "a short string"},
    };
    CHECK(fl_find_opt(opts, 3, "k") == &opts[1] && !fl_find_opt(opts, 3, "x"), "fl_find_opt");
    char* argv[] = {"flbench", "x", "--flag", "pos", "--k=3", "--s", "abc"};
    char* pos[2];
    int n_pos = 0;
    fl_err err = {{0}};
    int rc = fl_parse_opts_err("x", opts, 3, 7, argv, 2, pos, 2, &n_pos, &err);
    CHECK(rc == 0 && flag == 1 && k == 3 && !strcmp(s, "abc") && n_pos == 1 && !strcmp(pos[0], "pos"),
          "rc %d flag %d k %d s '%s' n_pos %d (%s)", rc, flag, k, s, n_pos, err.msg);
    char* bad[] = {"flbench", "x", "--s", "abcd"};
    rc = fl_parse_opts_err("x", opts, 3, 4, bad, 2, NULL, 0, NULL, &err);
    CHECK(rc == 2 && !strcmp(err.msg, "--s: value longer than 3 characters"), "rc %d '%s'", rc, err.msg);
    char* extra[] = {"flbench", "x", "word"};
    rc = fl_parse_opts_err("x", opts, 3, 3, extra, 2, NULL, 0, NULL, &err);
    CHECK(rc == 2 && strstr(err.msg, "unexpected argument 'word'"), "rc %d '%s'", rc, err.msg);
}

static void test_data_commands_reject_bad_options(void) {
    char* a1[] = {"flbench", "data", "list", "--bogus"};
    CHECK(fl_cmd_data(4, a1) == 2, "data list --bogus");
    char* a2[] = {"flbench", "data", "inspect", "eurosat", "--shots", "x"};
    CHECK(fl_cmd_data(6, a2) == 2, "data inspect --shots x");
    char* a3[] = {"flbench", "data", "inspect", "eurosat", "--sample", "-1"};
    CHECK(fl_cmd_data(6, a3) == 2, "data inspect --sample -1");
    char* a4[] = {"flbench", "data", "bench", "--mode", "sideways"};
    CHECK(fl_cmd_data(5, a4) == 2, "data bench --mode sideways");
    char* a5[] = {"flbench", "data", "bench", "--n", "0"};
    CHECK(fl_cmd_data(5, a5) == 2, "data bench --n 0");
    char* a6[] = {"flbench", "data", "bench", "--n"};
    CHECK(fl_cmd_data(4, a6) == 2, "data bench --n (no value)");
    char root[1100], format[256];
    CHECK(fl_data_locate("mnist", NULL, root, sizeof root, format, sizeof format) == -1, "not a dataset");
    CHECK(fl_data_locate("cifar10", t_path("nowhere"), root, sizeof root, format, sizeof format) == 0 &&
              strstr(root, "nowhere/cifar10"),
          "missing cifar10: root '%s'", root);
}

int main(void) {
    RUN(test_parse_leaves_threads_unchanged);
    RUN(test_errors_through_fl_err);
    RUN(test_option_kinds_from_the_table);
    RUN(test_generic_parser);
    RUN(test_data_commands_reject_bad_options);
    TEST_EXIT();
}
