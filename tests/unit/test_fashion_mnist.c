// test_fashion_mnist.c: the Fashion-MNIST IDX reader on fixtures written here (good and corrupt,
// gzip-compressed with zlib), the real Debian files when installed, and the seeded k-shot and
// hold-out samplers.
#include "../test.h"
#include "../../datasets/dataset.h"
#include <zlib.h>
#include <sys/stat.h>
#include <ftw.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>

// ---------------------------------------------------------------- fixtures

static void be32(unsigned char* p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

// Writes bytes to path, gzip-compressed when gz, else raw.
static void write_file(const char* path, const unsigned char* b, size_t len, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f) { perror(path); exit(2); }
        if (len && gzwrite(f, b, (unsigned)len) != (int)len) { perror(path); exit(2); }
        gzclose(f);
    } else {
        FILE* f = fopen(path, "wb");
        if (!f) { perror(path); exit(2); }
        fwrite(b, 1, len, f);
        fclose(f);
    }
}

// The pixel of image i at (r, c) in the fixtures: a pattern that differs per image and position.
static uint8_t fixture_pixel(int i, int r, int c) { return (uint8_t)(i * 77 + r * 28 + c * 3); }

typedef struct {
    uint32_t img_magic, lab_magic;
    uint32_t n_img, n_lab, rows, cols;
    int n_pixels_written;     // images whose pixel data is written (fewer = truncated)
    int bad_label_at;         // index whose label is written as 10, or -1
    int trailing;             // extra bytes after the image data
} idx_spec;

static idx_spec good_spec(int n) {
    idx_spec s = {0x803, 0x801, (uint32_t)n, (uint32_t)n, 28, 28, n, -1, 0};
    return s;
}

static int fixture_label(int i) { return (i * 3 + 1) % 10; }

// Makes dir/<prefix>-images-idx3-ubyte.gz and the labels file from spec.
static void make_idx(const char* dir, const char* prefix, idx_spec s) {
    mkdir(dir, 0755);
    size_t dim = (size_t)s.rows * s.cols;
    size_t len = 16 + (size_t)s.n_pixels_written * dim + (size_t)s.trailing;
    unsigned char* b = calloc(len, 1);
    be32(b, s.img_magic);
    be32(b + 4, s.n_img);
    be32(b + 8, s.rows);
    be32(b + 12, s.cols);
    for (int i = 0; i < s.n_pixels_written; i++)
        for (uint32_t r = 0; r < s.rows; r++)
            for (uint32_t c = 0; c < s.cols; c++)
                b[16 + i * dim + r * s.cols + c] = fixture_pixel(i, (int)r, (int)c);
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    write_file(path, b, len, 1);
    free(b);
    // A corrupt header may claim a huge count: at most 4096 labels are actually written.
    size_t n_lab_written = s.n_lab < 4096 ? s.n_lab : 4096;
    unsigned char* l = calloc(8 + n_lab_written, 1);
    be32(l, s.lab_magic);
    be32(l + 4, s.n_lab);
    for (uint32_t i = 0; i < n_lab_written; i++)
        l[8 + i] = (unsigned char)((int)i == s.bad_label_at ? 10 : fixture_label((int)i));
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    write_file(path, l, 8 + n_lab_written, 1);
    free(l);
}

static const char* subdir(const char* name) {
    static char bufs[16][512];
    static int next;
    char* p = bufs[next++ & 15];
    snprintf(p, 512, "%s/%s", t_tmpdir(), name);
    return p;
}

// Loads the train split of dir expecting failure; checks the message contains each needle.
static void expect_error(const char* dir, const char* needle1, const char* needle2) {
    fl_images d;
    fl_err err = {{0}};
    int rc = fl_load_fashion_mnist(dir, 1, &d, &err);
    CHECK(rc == -1, "expected failure for %s", dir);
    CHECK(d.n == 0 && d.pix == NULL && d.labels == NULL, "output not left zeroed");
    CHECK(strchr(err.msg, '\n') == NULL, "error must be one line: %s", err.msg);
    CHECK(strstr(err.msg, needle1) != NULL, "message '%s' lacks '%s'", err.msg, needle1);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
    fl_images_free(&d);
}

// ---------------------------------------------------------------- reader tests

static void test_reads_exact_pixels_and_labels(void) {
    const char* dir = subdir("good");
    make_idx(dir, "train", good_spec(5));
    make_idx(dir, "t10k", good_spec(3));
    fl_images d;
    fl_err err = {{0}};
    CHECK(fl_load_fashion_mnist(dir, 1, &d, &err) == 0, "%s", err.msg);
    CHECK(d.n == 5 && d.c == 1 && d.h == 28 && d.w == 28 && d.n_classes == 10, "shape");
    int bad = 0;
    for (int i = 0; i < d.n; i++) {
        if (d.labels[i] != fixture_label(i)) bad++;
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++)
                if (d.pix[i * 784 + r * 28 + c] != fixture_pixel(i, r, c)) bad++;
    }
    CHECK(bad == 0, "%d pixels or labels differ", bad);
    CHECK(strcmp(d.name, "fashion-mnist") == 0, "name %s", d.name);
    CHECK(d.class_names && strcmp(d.class_names[9], "Ankle boot") == 0, "class names");
    // The batch is (x/255 - 0.2860) / 0.3530, compared to the same float expression.
    int64_t idx[2] = {4, 1};
    float* x = malloc(2 * 784 * sizeof(float));
    fl_images_batch(&d, idx, 2, x);
    float want = ((float)fixture_pixel(4, 3, 5) / 255.0f - 0.2860f) / 0.3530f;
    CHECK(x[3 * 28 + 5] == want, "batch value %g vs %g", x[3 * 28 + 5], want);
    want = ((float)fixture_pixel(1, 27, 27) / 255.0f - 0.2860f) / 0.3530f;
    CHECK(x[784 + 783] == want, "batch value %g vs %g", x[784 + 783], want);
    free(x);
    fl_images_free(&d);
    CHECK(d.n == 0 && d.pix == NULL, "free zeroes");
    fl_images_free(&d);  // safe twice

    CHECK(fl_load_fashion_mnist(dir, 0, &d, &err) == 0, "%s", err.msg);
    CHECK(d.n == 3, "test split count %lld", (long long)d.n);
    fl_images_free(&d);
}

static void test_uncompressed_fallback(void) {
    const char* dir = subdir("plain");
    mkdir(dir, 0755);
    unsigned char b[16 + 784];
    be32(b, 0x803); be32(b + 4, 1); be32(b + 8, 28); be32(b + 12, 28);
    for (int i = 0; i < 784; i++) b[16 + i] = (unsigned char)i;
    char path[512];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_file(path, b, sizeof b, 0);
    unsigned char l[9];
    be32(l, 0x801); be32(l + 4, 1); l[8] = 7;
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_file(path, l, sizeof l, 0);
    fl_images d;
    fl_err err = {{0}};
    CHECK(fl_load_fashion_mnist(dir, 1, &d, &err) == 0, "%s", err.msg);
    CHECK(d.n == 1 && d.labels[0] == 7 && d.pix[783] == (783 & 255), "content");
    fl_images_free(&d);
}

static void test_error_cases(void) {
    idx_spec s;
    // Missing directory.
    expect_error(subdir("nonexistent"), "nonexistent/train-images-idx3-ubyte", "cannot open");
    // Wrong image magic at byte 0.
    s = good_spec(3); s.img_magic = 0x804;
    make_idx(subdir("magic"), "train", s);
    expect_error(subdir("magic"), "train-images-idx3-ubyte.gz: byte 0: wrong magic", "0x00000804");
    // Wrong label magic.
    s = good_spec(3); s.lab_magic = 0x803;
    make_idx(subdir("lmagic"), "train", s);
    expect_error(subdir("lmagic"), "train-labels-idx1-ubyte.gz: byte 0: wrong magic", NULL);
    // Dimension mismatch.
    s = good_spec(3); s.rows = 27;
    make_idx(subdir("dims"), "train", s);
    expect_error(subdir("dims"), "train-images-idx3-ubyte.gz: byte 8", "found 27x28");
    // Count mismatch between image and label files.
    s = good_spec(3); s.n_lab = 2;
    make_idx(subdir("count"), "train", s);
    expect_error(subdir("count"), "train-labels-idx1-ubyte.gz: byte 4", "label count 2 does not match the image count 3");
    // Truncated pixel data: header promises 3 images, 2 are written -> data ends at 16 + 2*784.
    s = good_spec(3); s.n_pixels_written = 2;
    make_idx(subdir("trunc"), "train", s);
    expect_error(subdir("trunc"), "train-images-idx3-ubyte.gz: truncated at byte 1584", "784 more bytes");
    // Trailing data after the promised images.
    s = good_spec(3); s.trailing = 5;
    make_idx(subdir("trail"), "train", s);
    expect_error(subdir("trail"), "unexpected data at byte 2368", NULL);
    // Label out of range at index 2 -> byte 8 + 2.
    s = good_spec(3); s.bad_label_at = 2;
    make_idx(subdir("label"), "train", s);
    expect_error(subdir("label"), "train-labels-idx1-ubyte.gz: byte 10: label out of range", "found 10");
    // Implausible count (a corrupt header) fails before any allocation.
    s = good_spec(1); s.n_img = 0xFFFFFFFFu; s.n_lab = 0xFFFFFFFFu; s.n_pixels_written = 1;
    make_idx(subdir("huge"), "train", s);
    expect_error(subdir("huge"), "byte 4: implausible image count", NULL);
    // Header cut short: only 6 bytes.
    make_idx(subdir("short"), "train", good_spec(1));
    {
        char path[512];
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", subdir("short"));
        unsigned char b[6] = {0, 0, 8, 3, 0, 0};
        write_file(path, b, sizeof b, 1);
    }
    expect_error(subdir("short"), "truncated at byte 6 while reading the image count", NULL);
    // A gzip stream cut in the middle (the compressed file itself truncated).
    make_idx(subdir("gzcut"), "train", good_spec(40));
    {
        char path[512];
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", subdir("gzcut"));
        struct stat st;
        stat(path, &st);
        CHECK(truncate(path, st.st_size / 2) == 0, "truncate");
    }
    expect_error(subdir("gzcut"), "train-images-idx3-ubyte.gz", "byte");
    // Corrupt compressed bytes (header intact, deflate data garbled).
    make_idx(subdir("gzbad"), "train", good_spec(40));
    {
        char path[512];
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", subdir("gzbad"));
        FILE* f = fopen(path, "r+b");
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        for (long p = 12; p < len - 8; p += 7) {
            fseek(f, p, SEEK_SET);
            fputc(0xA5, f);
        }
        fclose(f);
    }
    expect_error(subdir("gzbad"), "train-images-idx3-ubyte.gz", "byte");
}

// Runs fn in a child process whose address space may grow by at most `extra` bytes beyond
// what it holds now (RLIMIT_AS). Returns 1 when fn returned 1 there; 0 when it returned 0 or
// the child died (an allocation past the cap ends in "out of host memory").
static int within_memory_cap(int (*fn)(void), size_t extra) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned long pages = 0;
        FILE* f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%lu", &pages) != 1) _exit(3);
        fclose(f);
        struct rlimit lim;
        lim.rlim_cur = lim.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
        if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(3);
        int ok = fn();
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A 26-byte images file whose header claims the largest count the reader accepts, 10,000,000
// images (7.8 GB of pixels), and holds 10 bytes of them.
static const char* make_lying_count(void) {
    const char* dir = subdir("lying");
    mkdir(dir, 0755);
    unsigned char b[26] = {0};
    be32(b, 0x803); be32(b + 4, 10000000u); be32(b + 8, 28); be32(b + 12, 28);
    char path[512];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_file(path, b, sizeof b, 0);
    unsigned char l[8];
    be32(l, 0x801); be32(l + 4, 10000000u);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_file(path, l, sizeof l, 0);
    return dir;
}

static int alloc_what_the_count_asks(void) {
    int null_fd = open("/dev/null", O_WRONLY);  // the failure expected here is reported on
    if (null_fd >= 0) dup2(null_fd, 2);          // stderr, which is only noise in this child
    uint8_t* volatile p = malloc((size_t)10000000u * 784);
    int ok = p != NULL;
    free(p);
    return ok;
}

static int load_lying_count(void) {
    fl_images d;
    fl_err err = {{0}};
    int rc = fl_load_fashion_mnist(subdir("lying"), 1, &d, &err);
    if (rc == 0) fl_images_free(&d);
    return rc == -1 && strstr(err.msg, "truncated at byte 26 while reading the pixels") != NULL;
}

static void test_count_beyond_file(void) {
    // The count is believed only as far as the data goes: the read fails at byte 26 naming
    // what it expected, having allocated about what was read, within a 256 MiB cap on the
    // address space (the count alone asks for 7.8 GB).
    const char* dir = make_lying_count();
    expect_error(dir, "train-images-idx3-ubyte: truncated at byte 26 while reading the pixels",
                 "expected 7839999990 more bytes, found the end of the data");
    CHECK(within_memory_cap(load_lying_count, (size_t)256 << 20),
          "reading a 26-byte file that claims 10,000,000 images needs more than 256 MiB");
    // Negative control: the cap does stop an allocation of the size the count asks for.
    CHECK(!within_memory_cap(alloc_what_the_count_asks, (size_t)256 << 20),
          "a 7.8 GB allocation succeeded under the 256 MiB cap: the cap proves nothing");
    // A real file of more than one growth step still reads exactly (3000 images, 2.2 MiB).
    const char* big = subdir("grow");
    make_idx(big, "train", good_spec(3000));
    fl_images d;
    fl_err err = {{0}};
    CHECK(fl_load_fashion_mnist(big, 1, &d, &err) == 0, "%s", err.msg);
    if (d.n == 3000) {
        int bad = 0;
        for (int i = 0; i < 3000; i += 7)
            for (int r = 0; r < 28; r++) bad += d.pix[(size_t)i * 784 + r * 28 + 5] != fixture_pixel(i, r, 5);
        CHECK(bad == 0 && d.pix[2999 * 784 + 783] == fixture_pixel(2999, 27, 27), "%d pixels differ", bad);
    }
    fl_images_free(&d);
}

// ---------------------------------------------------------------- real data

static void test_real_debian_files(void) {
    struct stat st;
    if (stat(FL_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &st) != 0)
        SKIP("Debian's dataset-fashion-mnist is not installed (" FL_FASHION_MNIST_DIR ")");
    fl_images tr, te;
    fl_err err = {{0}};
    CHECK(fl_load_fashion_mnist(NULL, 1, &tr, &err) == 0, "%s", err.msg);
    CHECK(fl_load_fashion_mnist(NULL, 0, &te, &err) == 0, "%s", err.msg);
    CHECK(tr.n == 60000 && te.n == 10000, "counts %lld %lld", (long long)tr.n, (long long)te.n);
    CHECK(tr.h == 28 && tr.w == 28 && tr.c == 1 && tr.n_classes == 10, "shape");
    // Fashion-MNIST is balanced: 6000 train and 1000 test images per class.
    int64_t ctr[10] = {0}, cte[10] = {0};
    for (int64_t i = 0; i < tr.n; i++) ctr[tr.labels[i]]++;
    for (int64_t i = 0; i < te.n; i++) cte[te.labels[i]]++;
    for (int k = 0; k < 10; k++) CHECK(ctr[k] == 6000 && cte[k] == 1000, "class %d: %lld %lld", k, (long long)ctr[k], (long long)cte[k]);
    // The normalisation constants: recompute mean and std of x/255 over the training pixels.
    // 0.2860 and 0.3530 are the published 4-digit values, so they must agree to 5e-4.
    double s = 0, s2 = 0;
    int64_t npx = tr.n * 784;
    for (int64_t i = 0; i < npx; i++) {
        double v = tr.pix[i] / 255.0;
        s += v;
        s2 += v * v;
    }
    double mean = s / (double)npx, sd = sqrt(s2 / (double)npx - mean * mean);
    CHECK(fabs(mean - tr.mean[0]) < 5e-4, "mean %.5f vs %.4f", mean, tr.mean[0]);
    CHECK(fabs(sd - tr.std[0]) < 5e-4, "std %.5f vs %.4f", sd, tr.std[0]);
    fl_images_free(&tr);
    fl_images_free(&te);
}

// ---------------------------------------------------------------- samplers

// A label-only dataset: class k has counts[k] images, interleaved.
static fl_images synthetic(const int* counts, int n_classes) {
    fl_images d;
    memset(&d, 0, sizeof d);
    int64_t n = 0;
    for (int k = 0; k < n_classes; k++) n += counts[k];
    d.n = n;
    d.n_classes = n_classes;
    d.c = 1; d.h = 1; d.w = 1;
    d.labels = malloc((size_t)n * sizeof(int32_t));
    d.pix_owner = malloc((size_t)n);
    d.pix = d.pix_owner;
    int left[64];
    memcpy(left, counts, (size_t)n_classes * sizeof(int));
    int64_t i = 0;
    while (i < n)
        for (int k = 0; k < n_classes; k++)
            if (left[k] > 0) { left[k]--; d.pix_owner[i] = (uint8_t)i; d.labels[i++] = k; }
    return d;
}

static void test_kshot(void) {
    int counts[5] = {40, 40, 3, 40, 16};
    fl_images d = synthetic(counts, 5);
    int64_t na, nb, nc;
    int sa, sb, sc;
    int64_t* a = fl_kshot_indices(&d, 16, 0, &na, &sa);
    int64_t* b = fl_kshot_indices(&d, 16, 0, &nb, &sb);
    int64_t* c = fl_kshot_indices(&d, 16, 1, &nc, &sc);
    // Exactly 16 per class except class 2 (3 images): all 3 taken and one short class reported.
    CHECK(na == 16 * 4 + 3 && sa == 1, "n %lld short %d", (long long)na, sa);
    CHECK(nb == na && memcmp(a, b, (size_t)na * sizeof(int64_t)) == 0, "same seed must give the same split");
    CHECK(nc == na, "n for seed 1");
    CHECK(memcmp(a, c, (size_t)na * sizeof(int64_t)) != 0, "seeds 0 and 1 gave the same split");
    int per[5] = {0}, dup = 0;
    char* seen = calloc((size_t)d.n, 1);
    for (int64_t i = 0; i < na; i++) {
        per[d.labels[a[i]]]++;
        dup += seen[a[i]]++;
    }
    CHECK(per[0] == 16 && per[1] == 16 && per[2] == 3 && per[3] == 16 && per[4] == 16, "per-class counts");
    CHECK(dup == 0, "%d duplicates", dup);
    // Class order, then ascending index inside a class.
    for (int64_t i = 1; i < na; i++) {
        int y0 = d.labels[a[i - 1]], y1 = d.labels[a[i]];
        CHECK(y0 < y1 || (y0 == y1 && a[i - 1] < a[i]), "order at %lld", (long long)i);
    }
    // Pinned: the exact selection for seed 0 must not change across machines or releases
    // (Philox, not libc rand): the first four class-0 picks, recorded when this was written.
    CHECK(a[0] == 10 && a[1] == 15 && a[2] == 27 && a[3] == 31,
          "pinned selection changed: %lld %lld %lld %lld", (long long)a[0], (long long)a[1],
          (long long)a[2], (long long)a[3]);
    // k = 0: every index.
    int64_t nall;
    int64_t* all = fl_kshot_indices(&d, 0, 5, &nall, &sa);
    CHECK(nall == d.n && all[0] == 0 && all[nall - 1] == d.n - 1 && sa == 0, "k=0");
    free(all);
    free(seen); free(a); free(b); free(c);
    fl_images_free(&d);
}

static void test_holdout_and_select(void) {
    int counts[3] = {10, 1, 6};
    fl_images d = synthetic(counts, 3);
    int64_t n;
    int64_t* all = fl_kshot_indices(&d, 0, 0, &n, NULL);
    int64_t *tr, *va, ntr, nva;
    fl_split_holdout(&d, all, n, 4, 7, &tr, &ntr, &va, &nva);
    // Class 1 has one image: it stays in train. Others lose 4 each.
    CHECK(nva == 8 && ntr == 9, "sizes %lld %lld", (long long)ntr, (long long)nva);
    char* seen = calloc((size_t)d.n, 1);
    for (int64_t i = 0; i < ntr; i++) seen[tr[i]]++;
    for (int64_t i = 0; i < nva; i++) seen[va[i]]++;
    int ok = 1;
    for (int64_t i = 0; i < d.n; i++) ok &= seen[i] == 1;
    CHECK(ok, "train and val must partition the indices");
    free(seen); free(tr); free(va); free(all);

    // select_classes(1, 2): keeps classes 1 and 2 relabelled to 0 and 1, pixels follow.
    uint8_t first_c2 = 0;
    for (int64_t i = 0; i < d.n; i++) if (d.labels[i] == 2) { first_c2 = d.pix[i]; break; }
    fl_images_select_classes(&d, 1, 2);
    CHECK(d.n == 7 && d.n_classes == 2, "n %lld classes %d", (long long)d.n, d.n_classes);
    int c0 = 0;
    uint8_t got_c2 = 255;
    for (int64_t i = 0; i < d.n; i++) {
        c0 += d.labels[i] == 0;
        if (d.labels[i] == 1 && got_c2 == 255) got_c2 = d.pix[i];
    }
    CHECK(c0 == 1 && got_c2 == first_c2, "relabel and pixels");
    fl_images_free(&d);
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    return remove(path);
}

int main(void) {
    RUN(test_reads_exact_pixels_and_labels);
    RUN(test_uncompressed_fallback);
    RUN(test_error_cases);
    RUN(test_count_beyond_file);
    RUN(test_real_debian_files);
    RUN(test_kshot);
    RUN(test_holdout_and_select);
    nftw(t_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
