// cmd_data.c: `flbench data fetch|inspect|list|bench|export`, the dataset commands of the CLI.
//   flbench data fetch NAME            runs datasets/fetch.sh NAME (download, verify, unpack)
//   flbench data inspect NAME [opts]   root, format, classes, counts per split, image sizes
//                                      seen, the manifest checksum for --shots/--seed, missing
//   flbench data list [opts]           one line per dataset: found or missing, where
//   flbench data export NAME [opts]    a split's preprocessed images to .npy (cmd_data_export.c)
//   flbench data bench [opts]          the decode + resize benchmark (cmd_data_bench.c)
// Options (one table, data_opts): --data-root R (default $FLBENCH_DATA, else datasets/data),
// --root DIR (the dataset's own folder), --shots K (16), --seed S (0), --sample N (images
// probed for sizes, 200), --no-coop (ignore a CoOp split file).
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "../datasets/internal.h"
#include "args.h"
#include "cli.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"  // long paths are cut, never overflowed

typedef struct {
    const char* data_root;  // NULL: $FLBENCH_DATA, else datasets/data
    const char* root;       // NULL: found under the data root
    int shots;
    uint64_t seed;
    int sample;
    int no_coop;
} fl_data_args;

static void fl_data_usage(FILE* f) {
    fprintf(f, "usage: flbench data fetch NAME\n"
               "       flbench data inspect NAME [--data-root R] [--root DIR] [--shots K] [--seed S]\n"
               "                                 [--sample N] [--no-coop]\n"
               "       flbench data list [--data-root R]\n"
               "       flbench data export NAME --out X.npy [--split train|test] [--labels Y.npy] [options]\n"
               "                                 (the images as fed to the model, float32; --help)\n"
               "       flbench data bench [--dataset NAME] [options] (decode + resize images/s; --help)\n"
               "NAME: fashion-mnist cifar10 cifar100 eurosat caltech101 food101 flowers102 imagenet\n");
}

// Parses options after the subcommand and its NAME into a (whose strings then point into
// data_root and root); returns 0, 1 after --help, or 2 after one error line.
static int fl_data_parse(const char* sub, int argc, char** argv, int first, fl_data_args* a,
                         char* data_root, char* root, int len) {
    data_root[0] = root[0] = 0;
    a->shots = 16;
    a->seed = 0;
    a->sample = 200;
    a->no_coop = 0;
    const fl_opt opts[] = {
        {"data-root", FL_OPT_STR, data_root, len, NULL, "where the datasets live (default $FLBENCH_DATA, else datasets/data)"},
        {"root", FL_OPT_STR, root, len, NULL, "the dataset's own folder (default: found under the data root)"},
        {"shots", FL_OPT_INT, &a->shots, 0, NULL, "inspect: images per class of the manifest (default 16)"},
        {"seed", FL_OPT_U64, &a->seed, 0, NULL, "inspect: seed of the manifest (default 0)"},
        {"sample", FL_OPT_INT, &a->sample, 0, NULL, "inspect: images probed for their sizes (default 200)"},
        {"no-coop", FL_OPT_FLAG, &a->no_coop, 0, NULL, "ignore a CoOp split file"},
    };
    int n_opts = (int)(sizeof opts / sizeof opts[0]);
    fl_err err = {{0}};
    int rc = fl_parse_opts_err("data", opts, n_opts, argc, argv, first, NULL, 0, NULL, &err);
    if (rc == 1) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "data %s%s", sub, strcmp(sub, "list") ? " NAME" : "");
        fl_print_opts(cmd, opts, n_opts);
        return 1;
    }
    if (!rc && a->shots < 0) fl_fail(&err, "--shots: expected a non-negative integer, found %d", a->shots), rc = 2;
    if (!rc && a->sample < 0) fl_fail(&err, "--sample: expected a non-negative integer, found %d", a->sample), rc = 2;
    if (rc) {
        fprintf(stderr, "flbench data: %s\n", err.msg);
        return 2;
    }
    a->data_root = data_root[0] ? data_root : NULL;
    a->root = root[0] ? root : NULL;
    return 0;
}

static int fl_known_dataset(const char* name) {
    for (int i = 0; fl_dataset_names[i]; i++)
        if (!strcmp(fl_dataset_names[i], name)) return 1;
    return 0;
}

// datasets/fetch.sh: under $FLBENCH_HOME, the working directory, or next to the binary
// (build/flbench -> ../datasets/fetch.sh).
static int fl_find_fetch_script(char* out, size_t len) {
    const char* home = getenv("FLBENCH_HOME");
    if (home) {
        snprintf(out, len, "%s/datasets/fetch.sh", home);
        if (fl_is_file(out)) return 1;
    }
    snprintf(out, len, "datasets/fetch.sh");
    if (fl_is_file(out)) return 1;
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char* slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, len, "%s/../datasets/fetch.sh", exe);
            if (fl_is_file(out)) return 1;
        }
    }
    return 0;
}

static int fl_data_fetch(const char* name, const fl_data_args* a) {
    char script[1200];
    if (!fl_find_fetch_script(script, sizeof script)) {
        fprintf(stderr, "flbench data fetch: datasets/fetch.sh not found (run from the repository "
                        "root or set FLBENCH_HOME)\n");
        return 1;
    }
    if (a->data_root) setenv("FLBENCH_DATA", a->data_root, 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("flbench data fetch: fork");
        return 1;
    }
    if (pid == 0) {
        execlp("sh", "sh", script, name, (char*)NULL);
        perror("flbench data fetch: sh");
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("flbench data fetch: waitpid");
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void fl_set_opts(fl_dataset_opts* o, const char* name, const fl_data_args* a, char* root,
                        size_t len) {
    fl_dataset_opts_default(o);
    o->data_root = a->data_root;
    o->no_coop_split = a->no_coop;
    o->dataset_dir = a->root;
    fl_dataset_root(name, o, root, len);  // the same folder fl_dataset_open reads (open.c)
}

// Image sizes over up to `sample` items spread evenly over train and test.
static void fl_print_sizes(const fl_listing* L, int sample) {
    if (L->layout.is_array) {
        printf("images      %dx%d, %d channel%s (fixed by the format)\n", L->layout.native_size,
               L->layout.native_size, L->layout.channels, L->layout.channels > 1 ? "s" : "");
        return;
    }
    int64_t total = L->train.n + L->test.n;
    if (sample <= 0 || total == 0) return;
    int64_t step = total > sample ? total / sample : 1;
    int n = 0, n_bad = 0, minw = 1 << 30, minh = 1 << 30, maxw = 0, maxh = 0;
    int comps_count[5] = {0};
    int n_png = 0;
    // Most common size: a small table of (w, h, count).
    int tw[64], th[64], tc[64], nt = 0;
    char first_bad[1400] = "";
    for (int64_t i = 0; i < total && n + n_bad < sample; i += step) {
        const fl_item* it = i < L->train.n ? &L->train.v[i] : &L->test.v[i - L->train.n];
        char path[2400];
        snprintf(path, sizeof path, "%s/%s", L->layout.image_dir, it->path);
        int w, h, c;
        const char* fmt;
        fl_err e;
        if (fl_image_probe(path, &w, &h, &c, &fmt, &e)) {
            if (!first_bad[0]) snprintf(first_bad, sizeof first_bad, "%s", e.msg);
            n_bad++;
            continue;
        }
        n++;
        n_png += fmt[0] == 'p';
        if (c >= 1 && c <= 4) comps_count[c]++;
        if (w < minw) minw = w;
        if (h < minh) minh = h;
        if (w > maxw) maxw = w;
        if (h > maxh) maxh = h;
        int k;
        for (k = 0; k < nt; k++)
            if (tw[k] == w && th[k] == h) break;
        if (k == nt && nt < 64) { tw[nt] = w; th[nt] = h; tc[nt] = 0; nt++; }
        if (k < nt) tc[k]++;
    }
    if (!n) {
        printf("images      none of %d sampled could be read%s%s\n", n_bad, first_bad[0] ? ": " : "", first_bad);
        return;
    }
    int best = 0;
    for (int k = 1; k < nt; k++)
        if (tc[k] > tc[best]) best = k;
    printf("images      %d sampled: %dx%d .. %dx%d, most common %dx%d (%d); %d gray, %d RGB, %d CMYK; %d PNG\n",
           n, minw, minh, maxw, maxh, tw[best], th[best], tc[best], comps_count[1], comps_count[3],
           comps_count[4], n_png);
    if (n_bad) printf("unreadable  %d of the sampled images, e.g. %s\n", n_bad, first_bad);
}

static int fl_data_inspect(const char* name, const fl_data_args* a) {
    fl_dataset_opts o;
    char root[1100];
    fl_set_opts(&o, name, a, root, sizeof root);
    printf("dataset     %s\n", name);
    fl_layout lay;
    fl_err err = {{0}};
    if (fl_detect_layout(name, root, &o, &lay, &err)) {
        printf("root        %s\n", root);
        printf("missing     %s\n", lay.missing[0] ? lay.missing : err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("root        %s\n", lay.root);
    printf("format      %s\n", lay.format);
    fl_listing L;
    if (fl_list_dataset(&lay, &o, &L, &err)) {
        printf("error       %s\n", err.msg);
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("classes     %d:", L.n_classes);
    for (int k = 0; k < L.n_classes && k < 6; k++) printf("%s %s", k ? "," : "", L.class_names[k]);
    printf("%s\n", L.n_classes > 6 ? ", ..." : "");
    printf("train       %" PRId64 " images\n", L.train.n);
    if (L.val.n) printf("val         %" PRId64 " images\n", L.val.n);
    printf("test        %" PRId64 " images\n", L.test.n);
    // Per-class extremes of the training split, which decide whether K shots fit.
    int64_t* per = (int64_t*)fl_calloc((size_t)L.n_classes, sizeof(int64_t));
    for (int64_t i = 0; i < L.train.n; i++) per[L.train.v[i].label]++;
    int64_t lo = INT64_MAX, hi = 0;
    for (int k = 0; k < L.n_classes; k++) {
        if (per[k] < lo) lo = per[k];
        if (per[k] > hi) hi = per[k];
    }
    free(per);
    printf("per class   %" PRId64 " .. %" PRId64 " training images\n", lo, hi);
    fl_print_sizes(&L, a->sample);
    fl_manifest m;
    fl_manifest_from_listing(&L, 0, a->shots, a->seed, &m);
    printf("manifest    --shots %d --seed %" PRIu64 ": %" PRId64 " images, checksum fnv1a64:%016" PRIx64
           ", %d class%s short of %d\n",
           a->shots, a->seed, m.items.n, m.checksum, m.short_classes, m.short_classes == 1 ? "" : "es",
           a->shots);
    fl_manifest_free(&m);
    fl_manifest_from_listing(&L, 1, 0, 0, &m);
    printf("test split  checksum fnv1a64:%016" PRIx64 "\n", m.checksum);
    fl_manifest_free(&m);
    if (!L.layout.coop_json[0] && !L.layout.is_array && strcmp(name, "imagenet") && strcmp(name, "food101") &&
        strcmp(name, "flowers102"))
        printf("missing     nothing required; CoOp's split file would replace the seeded split\n");
    else
        printf("missing     nothing\n");
    fl_listing_free(&L);
    return 0;
}

// fl_data_locate with every option of the command line.
static int fl_data_find(const char* name, const fl_data_args* a, char* root, size_t rlen, char* format, size_t flen) {
    if (!fl_known_dataset(name)) return -1;
    fl_dataset_opts o;
    char where[1100];
    fl_set_opts(&o, name, a, where, sizeof where);
    fl_layout lay;
    fl_err err;
    if (fl_detect_layout(name, where, &o, &lay, &err)) {
        snprintf(root, rlen, "%s", where);
        if (flen) format[0] = 0;
        return 0;
    }
    snprintf(root, rlen, "%s", lay.root);
    snprintf(format, flen, "%s", lay.format);
    return 1;
}

int fl_data_locate(const char* name, const char* data_root, char* root, size_t rlen, char* format, size_t flen) {
    fl_data_args a = {.data_root = data_root};
    return fl_data_find(name, &a, root, rlen, format, flen);
}

static int fl_data_list(const fl_data_args* a) {
    for (int i = 0; fl_dataset_names[i]; i++) {
        const char* name = fl_dataset_names[i];
        char root[1100], format[256];
        if (fl_data_find(name, a, root, sizeof root, format, sizeof format) == 1)
            printf("%-14s found     %s: %s\n", name, root, format);
        else
            printf("%-14s missing   %s (flbench data fetch %s)\n", name, root, name);
    }
    return 0;
}

int fl_cmd_data(int argc, char** argv) {
    // Accept argv as the CLI passes it ("flbench data SUB ...") or starting at SUB.
    int i = 0;
    while (i < argc && strcmp(argv[i], "fetch") && strcmp(argv[i], "inspect") && strcmp(argv[i], "list") &&
           strcmp(argv[i], "bench") && strcmp(argv[i], "export") && strcmp(argv[i], "--help") && strcmp(argv[i], "-h") && i < 2)
        i++;
    if (i >= argc || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
        fl_data_usage(i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    const char* sub = argv[i];
    static const char* const subs[] = {"fetch", "inspect", "list", "export", "bench"};
    int known = 0;
    const char* near = NULL;
    int near_d = INT_MAX;
    for (int k = 0; k < 5; k++) {
        known |= !strcmp(sub, subs[k]);
        fl_suggest(sub, strlen(sub), subs[k], &near, &near_d);
    }
    if (!known) {
        fprintf(stderr, "flbench data: unknown subcommand '%s' (%s%s%sexpected fetch, inspect, list, export or bench)\n",
                sub, near ? "did you mean '" : "", near ? near : "", near ? "'? " : "");
        return 2;
    }
    if (!strcmp(sub, "bench")) return fl_bench_images(argc - i, argv + i);
    fl_data_args a;
    char data_root[1024], root[1024];
    int rc;
    if (!strcmp(sub, "list")) {
        if ((rc = fl_data_parse(sub, argc, argv, i + 1, &a, data_root, root, (int)sizeof root))) return rc == 1 ? 0 : 2;
        return fl_data_list(&a);
    }
    if (i + 1 >= argc || argv[i + 1][0] == '-') {
        if (!strcmp(sub, "export") && i + 1 < argc && (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h")))
            return fl_data_export("", argc, argv, i + 1);
        if (i + 1 < argc && (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h")))
            return fl_data_parse(sub, argc, argv, i + 1, &a, data_root, root, (int)sizeof root) == 1 ? 0 : 2;
        fprintf(stderr, "flbench data %s: which dataset?\n", sub);
        fl_data_usage(stderr);
        return 2;
    }
    const char* name = argv[i + 1];
    if (!fl_known_dataset(name)) {
        fprintf(stderr, "flbench data %s: unknown dataset '%s'\n", sub, name);
        fl_data_usage(stderr);
        return 2;
    }
    if (!strcmp(sub, "export")) return fl_data_export(name, argc, argv, i + 2);
    if ((rc = fl_data_parse(sub, argc, argv, i + 2, &a, data_root, root, (int)sizeof root))) return rc == 1 ? 0 : 2;
    if (!strcmp(sub, "fetch")) return fl_data_fetch(name, &a);
    return fl_data_inspect(name, &a);
}
