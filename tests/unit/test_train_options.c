// test_train_options.c: the option table of `flbench train` and the table-driven parser:
//  - parsing has no side effects: --threads reaches OpenMP and OpenBLAS only through
//    fl_train_apply_runtime, never through the parse itself;
//  - fl_train_parse_err and fl_parse_opts_err report errors in fl_err and print nothing;
//  - every number goes through the checked parsers: the option's range (sigma and mu > 0,
//    threads 1..1024, batch >= 1, epochs >= 0, ...) and the type's (an integer or a float
//    beyond it is "out of range", never wrapped, inf or 0), in one line naming the option;
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
        {{"--threads", "-1"}, 2, 2, "--threads: out of range: expected an integer in 1..1024, found '-1'"},
        {{"--threads", "0"}, 2, 2, "--threads: out of range: expected an integer in 1..1024, found '0'"},
        {{"--threads", "1025"}, 2, 2, "--threads: out of range: expected an integer in 1..1024, found '1025'"},
        {{"--sigma", "0"}, 2, 2, "--sigma: out of range: expected a finite number > 0, found '0'"},
        {{"--sigma", "-0.5"}, 2, 2, "--sigma: out of range: expected a finite number > 0, found '-0.5'"},
        {{"--mu", "0"}, 2, 2, "--mu: out of range: expected a finite number > 0, found '0'"},
        {{"--batch", "0"}, 2, 2, "--batch: out of range: expected an integer in 1..2147483647, found '0'"},
        {{"--epochs", "-1"}, 2, 2, "--epochs: out of range: expected an integer in 0..2147483647, found '-1'"},
        {{"--budget", "99999999999"}, 2, 2, "--budget: out of range: expected an integer in 1..2147483647, found '99999999999'"},
        {{"--budget", "2147483648"}, 2, 2, "--budget: out of range: expected an integer in 1..2147483647, found '2147483648'"},
        {{"--max-steps", "9223372036854775808"}, 2, 2,
         "--max-steps: out of range: expected an integer in 0..9223372036854775807, found '9223372036854775808'"},
        {{"--seed", "-1"}, 2, 2, "--seed: out of range: expected an integer in 0..18446744073709551615, found '-1'"},
        {{"--seed", "18446744073709551616"}, 2, 2,
         "--seed: out of range: expected an integer in 0..18446744073709551615, found '18446744073709551616'"},
        {{"--seed", "x"}, 2, 2, "--seed: expected an integer, found 'x'"},
        {{"--lr", "1e999"}, 2, 2,
         "--lr: out of range: expected a finite number > 0 within float32 (magnitude 1.17549e-38..3.40282e+38, or 0), found '1e999'"},
        {{"--lr", "1e-999"}, 2, 2,
         "--lr: out of range: expected a finite number > 0 within float32 (magnitude 1.17549e-38..3.40282e+38, or 0), found '1e-999'"},
        {{"--lr", "inf"}, 2, 2, "--lr: expected a finite number > 0, found 'inf'"},
        {{"--gamma", "nan"}, 2, 2, "--gamma: expected a finite number > 0, found 'nan'"},
        {{"--momentum", "1.5"}, 2, 2, "--momentum: out of range: expected a number in 0..1, found '1.5'"},
        {{"--proxy-ema", "0"}, 2, 2, "--proxy-ema: out of range: expected a number > 0 and <= 1, found '0'"},
        {{"--classes", "5-99999999999"}, 2, 2, "--classes: out of range: expected an integer in 0..2147483647, found '99999999999'"},
        {{"--classes", "-5"}, 2, 2, "--classes: expected LO-HI with 0 <= LO <= HI, found '-5'"},
        // the edges of the ranges are accepted
        {{"--threads", "1024"}, 2, 0, ""},
        {{"--epochs", "0"}, 2, 0, ""},
        {{"--sigma", "1e-30"}, 2, 0, ""},
        {{"--budget", "2147483647"}, 2, 0, ""},
        {{"--seed", "18446744073709551615"}, 2, 0, ""},
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

// The checked parsers on their own, and ranges of every form in a table.
static void test_checked_numbers(void) {
    fl_err err = {{0}};
    long long x = 0;
    CHECK(fl_parse_integer("--n", "42", 1, 64, &x, &err) == 0 && x == 42, "42: %s", err.msg);
    CHECK(fl_parse_integer("--n", "65", 1, 64, &x, &err) == -1 &&
              !strcmp(err.msg, "--n: out of range: expected an integer in 1..64, found '65'"), "65: %s", err.msg);
    CHECK(fl_parse_integer("--n", "99999999999999999999", 1, 64, &x, &err) == -1 && strstr(err.msg, "out of range"),
          "beyond long long: %s", err.msg);
    CHECK(fl_parse_integer("--n", "4x", 1, 64, &x, &err) == -1 && !strcmp(err.msg, "--n: expected an integer, found '4x'"),
          "4x: %s", err.msg);
    CHECK(fl_parse_integer("--n", "", 1, 64, &x, &err) == -1 && strstr(err.msg, "expected an integer"), "empty: %s", err.msg);
    float f = 0;
    CHECK(fl_parse_float("--x", "0.25", 0, 1, 1, &f, &err) == 0 && f == 0.25f, "0.25: %s", err.msg);
    CHECK(fl_parse_float("--x", "1", 0, 1, 1, &f, &err) == 0 && f == 1.0f, "1 (hi is inclusive): %s", err.msg);
    CHECK(fl_parse_float("--x", "0", 0, 1, 1, &f, &err) == -1 && strstr(err.msg, "> 0 and <= 1"), "0 (lo is open): %s", err.msg);
    CHECK(fl_parse_float("--x", "3.5e38", -INFINITY, 0, INFINITY, &f, &err) == -1 && strstr(err.msg, "out of range"),
          "beyond float32: %s", err.msg);
    CHECK(fl_parse_float("--x", "-3e38", -INFINITY, 0, INFINITY, &f, &err) == 0 && f == -3e38f, "-3e38: %s", err.msg);
    CHECK(fl_parse_float("--x", "1.5.", -INFINITY, 0, INFINITY, &f, &err) == -1 && strstr(err.msg, "expected a number"),
          "1.5.: %s", err.msg);
    int v[4];
    CHECK(fl_parse_int_list("--b", "4,8,16", 1, 64, v, 4, &err) == 3 && v[0] == 4 && v[2] == 16, "4,8,16: %s", err.msg);
    CHECK(fl_parse_int_list("--b", "4,,8", 1, 64, v, 4, &err) == -1 && strstr(err.msg, "separated by commas"), "4,,8: %s", err.msg);
    CHECK(fl_parse_int_list("--b", "4,", 1, 64, v, 4, &err) == -1, "4,: %s", err.msg);
    CHECK(fl_parse_int_list("--b", "1,2,3,4,5", 1, 64, v, 4, &err) == -1 && strstr(err.msg, "up to 4"), "five: %s", err.msg);
    CHECK(fl_parse_int_list("--b", "4,4294967300", 1, 64, v, 4, &err) == -1 &&
              !strcmp(err.msg, "--b: out of range: expected an integer in 1..64, found '4294967300'"), "wrap: %s", err.msg);
    // a table with every form of range
    int a = 0, b = 0;
    long l = 0;
    float p = 0, q = 0;
    const fl_opt opts[] = {
        {"a", FL_OPT_INT, &a, 0, "-3..3", ""},
        {"b", FL_OPT_INT, &b, 0, ">0", ""},
        {"l", FL_OPT_LONG, &l, 0, "..10", ""},
        {"p", FL_OPT_FLOAT, &p, 0, "0.5..", ""},
        {"q", FL_OPT_FLOAT, &q, 0, ">-1..1", ""},
    };
    struct {
        const char* opt;
        const char* val;
        const char* msg;  // "" = accepted
    } cases[] = {
        {"--a", "-3", ""}, {"--a", "4", "--a: out of range: expected an integer in -3..3, found '4'"},
        {"--b", "1", ""}, {"--b", "0", "--b: out of range: expected an integer in 1..2147483647, found '0'"},
        {"--l", "-99", ""}, {"--l", "11", "out of range: expected an integer in -9223372036854775808..10"},
        {"--p", "0.5", ""}, {"--p", "0.49", "--p: out of range: expected a finite number >= 0.5, found '0.49'"},
        {"--q", "1", ""}, {"--q", "-1", "--q: out of range: expected a number > -1 and <= 1, found '-1'"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char* argv[] = {"flbench", "x", (char*)cases[i].opt, (char*)cases[i].val};
        fl_err e = {{0}};
        int rc = fl_parse_opts_err("x", opts, 5, 4, argv, 2, NULL, 0, NULL, &e);
        CHECK(cases[i].msg[0] ? rc == 2 && strstr(e.msg, cases[i].msg) : rc == 0, "%s %s: rc %d '%s'", cases[i].opt,
              cases[i].val, rc, e.msg);
    }
    CHECK(a == -3 && b == 1 && l == -99 && p == 0.5f && q == 1.0f, "values a %d b %d l %ld p %g q %g", a, b, l, (double)p,
          (double)q);
}

// The printing form prints exactly one line for a bad option; `variance` reads the same table.
static void print_bad_sigma(void* ctx) {
    char* argv[] = {"flbench", "train", "--sigma", "0"};
    fl_train_cfg c;
    *(int*)ctx = fl_train_parse(&c, NULL, "train", 4, argv, 2);
}
static void variance_bad_mu(void* ctx) {
    // no data there: were --mu accepted, the study would stop at once with another message
    char* argv[] = {"flbench", "variance", "--method", "mezo", "--mu", "-1", "--dataset", "cifar10", "--data-root",
                    (char*)t_path("no-data")};
    *(int*)ctx = fl_cmd_variance(10, argv);
}

static void test_one_line_and_status_2(void) {
    void (*fns[])(void*) = {print_bad_sigma, variance_bad_mu};
    const char* want[] = {"flbench train: --sigma: out of range: expected a finite number > 0, found '0'\n",
                          "flbench variance: --mu: out of range: expected a finite number > 0, found '-1'\n"};
    for (int i = 0; i < 2; i++) {
        int rc = -1;
        long bytes = stderr_bytes(fns[i], &rc);
        char text[300] = "";
        FILE* f = fopen(t_path("stderr.txt"), "rb");
        if (f) {
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = 0;
            fclose(f);
        }
        CHECK(rc == 2 && bytes == (long)strlen(want[i]) && !strcmp(text, want[i]), "rc %d, %ld bytes: '%s'", rc, bytes, text);
    }
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
    RUN(test_checked_numbers);
    RUN(test_one_line_and_status_2);
    RUN(test_data_commands_reject_bad_options);
    TEST_EXIT();
}
