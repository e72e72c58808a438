// test_datasets_cifar.c: the CIFAR-10 and CIFAR-100 binary readers on record files written
// here (good, truncated, label out of range), and fl_dataset_open on them: native size in
// memory, resized through the cache.
#include "../test.h"
#include "../../datasets/internal.h"
#include <ftw.h>
#include <unistd.h>
#include <sys/stat.h>

static const char* sub(const char* name) {
    static char bufs[16][512];
    static int next;
    char* p = bufs[next++ & 15];
    snprintf(p, 512, "%s/%s", t_tmpdir(), name);
    return p;
}

// Pixel c,p of record r of file f: a pattern unique to (file, record, channel, position).
static uint8_t px(int f, int r, int c, int p) { return (uint8_t)(f * 53 + r * 31 + c * 85 + p * 7); }
static int lab10(int f, int r) { return (f * 3 + r) % 10; }

// Writes n records; bad_label_at (record index) gets label 10 (or fine label 100), cut_bytes
// removes that many bytes from the end.
static void write_cifar(const char* path, int hundred, int f, int n, int bad_label_at, int cut_bytes) {
    FILE* fp = fopen(path, "wb");
    for (int r = 0; r < n; r++) {
        if (hundred) {
            fputc((lab10(f, r) * 2) % 20, fp);                               // coarse
            fputc(r == bad_label_at ? 100 : (f * 37 + r * 11) % 100, fp);    // fine
        } else {
            fputc(r == bad_label_at ? 10 : lab10(f, r), fp);
        }
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++) fputc(px(f, r, c, p), fp);
    }
    fclose(fp);
    if (cut_bytes) {
        struct stat st;
        stat(path, &st);
        CHECK(truncate(path, st.st_size - cut_bytes) == 0, "truncate");
    }
}

// A CIFAR-10 tree: cifar-10-batches-bin/ with 5 training files of `per` records and a test file.
static const char* make_cifar10(const char* name, int per) {
    const char* root = sub(name);
    char d[600], p[700];
    mkdir(root, 0755);
    snprintf(d, sizeof d, "%s/cifar-10-batches-bin", root);
    mkdir(d, 0755);
    for (int f = 1; f <= 5; f++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", d, f);
        write_cifar(p, 0, f, per, -1, 0);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", d);
    write_cifar(p, 0, 0, 7, -1, 0);
    snprintf(p, sizeof p, "%s/batches.meta.txt", d);
    FILE* fp = fopen(p, "w");
    fputs("plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n", fp);
    fclose(fp);
    return root;
}

static void test_cifar10_exact(void) {
    const char* root = make_cifar10("c10", 4);
    fl_images tr, te;
    fl_err err = {{0}};
    CHECK(fl_load_cifar10(root, 1, &tr, &err) == 0, "%s", err.msg);
    CHECK(fl_load_cifar10(root, 0, &te, &err) == 0, "%s", err.msg);
    CHECK(tr.n == 20 && te.n == 7 && tr.c == 3 && tr.h == 32 && tr.n_classes == 10, "shape");
    int bad = 0;
    for (int f = 1; f <= 5; f++)
        for (int r = 0; r < 4; r++) {
            int64_t i = (f - 1) * 4 + r;
            bad += tr.labels[i] != lab10(f, r);
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 1024; p += 17) bad += tr.pix[i * 3072 + c * 1024 + p] != px(f, r, c, p);
        }
    CHECK(bad == 0, "%d pixels or labels differ", bad);
    CHECK(!strcmp(tr.class_names[1], "car") && !strcmp(tr.class_names[9], "truck"), "names from batches.meta.txt");
    CHECK(te.labels[6] == lab10(0, 6), "test label");
    fl_images_free(&tr);
    fl_images_free(&te);
}

static void expect_fail(int rc, const fl_err* err, const char* n1, const char* n2) {
    CHECK(rc == -1, "expected failure");
    CHECK(strstr(err->msg, n1) != NULL, "'%s' lacks '%s'", err->msg, n1);
    if (n2) CHECK(strstr(err->msg, n2) != NULL, "'%s' lacks '%s'", err->msg, n2);
}

static void test_cifar_errors(void) {
    fl_images d;
    fl_err err = {{0}};
    char p[700];
    // Truncated record: data_batch_3.bin loses 100 bytes; its last record starts at 3*3073.
    const char* root = make_cifar10("trunc", 4);
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin/data_batch_3.bin", root);
    write_cifar(p, 0, 3, 4, -1, 100);
    expect_fail(fl_load_cifar10(root, 1, &d, &err), &err, "data_batch_3.bin: truncated record at byte 9219", "not a multiple");
    // Label out of range: record 2 of data_batch_2.bin, byte 2 * 3073 = 6146.
    root = make_cifar10("label", 4);
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin/data_batch_2.bin", root);
    write_cifar(p, 0, 2, 4, 2, 0);
    expect_fail(fl_load_cifar10(root, 1, &d, &err), &err, "data_batch_2.bin: byte 6146: label out of range", "found 10");
    // Missing file.
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin/data_batch_5.bin", root);
    unlink(p);
    expect_fail(fl_load_cifar10(root, 1, &d, &err), &err, "data_batch_5.bin: cannot open", NULL);
    // CIFAR-100 fine label out of range at record 1: byte 3074 + 1.
    const char* r100 = sub("c100bad");
    mkdir(r100, 0755);
    snprintf(p, sizeof p, "%s/train.bin", r100);
    write_cifar(p, 1, 1, 3, 1, 0);
    snprintf(p, sizeof p, "%s/test.bin", r100);
    write_cifar(p, 1, 0, 2, -1, 0);
    expect_fail(fl_load_cifar100(r100, 1, 0, &d, &err), &err, "train.bin: byte 3075: fine label out of range", "found 100");
}

static void test_cifar100(void) {
    const char* root = sub("c100");
    char d[600], p[700];
    mkdir(root, 0755);
    snprintf(d, sizeof d, "%s/cifar-100-binary", root);
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/train.bin", d);
    write_cifar(p, 1, 1, 5, -1, 0);
    snprintf(p, sizeof p, "%s/test.bin", d);
    write_cifar(p, 1, 0, 3, -1, 0);
    fl_images fine, coarse;
    fl_err err = {{0}};
    CHECK(fl_load_cifar100(root, 1, 0, &fine, &err) == 0, "%s", err.msg);
    CHECK(fl_load_cifar100(root, 1, 1, &coarse, &err) == 0, "%s", err.msg);
    CHECK(fine.n == 5 && fine.n_classes == 100 && coarse.n_classes == 20, "counts");
    int bad = 0;
    for (int r = 0; r < 5; r++) {
        bad += fine.labels[r] != (37 + r * 11) % 100;
        bad += coarse.labels[r] != (lab10(1, r) * 2) % 20;
        bad += fine.pix[r * 3072 + 2 * 1024 + 5] != px(1, r, 2, 5);
    }
    CHECK(bad == 0, "%d labels or pixels differ", bad);
    fl_images_free(&fine);
    fl_images_free(&coarse);
}

static void test_open_native_and_resized(void) {
    const char* root = make_cifar10("open", 6);  // 30 training images, 3 per class
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    o.dataset_dir = root;
    o.data_root = sub("open-data");
    o.shots = 2;
    o.seed = 7;
    o.quiet = 1;
    fl_images tr, te, ref;
    fl_dataset_info info;
    fl_err err = {{0}};
    CHECK(fl_load_cifar10(root, 1, &ref, &err) == 0, "%s", err.msg);
    // Native 32x32: in memory, 2 per class, pixels identical to the records.
    CHECK(fl_dataset_open("cifar10", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(tr.n == 20 && te.n == 7 && tr.c == 3 && tr.h == 32, "n %lld", (long long)tr.n);
    CHECK(tr.map_base == NULL && info.short_classes == 0, "native size stays in memory");
    CHECK(tr.mean[0] == 0.5f && tr.std[2] == 0.5f, "HF normalisation by default");
    int found = 0;
    for (int64_t i = 0; i < tr.n; i++)
        for (int64_t j = 0; j < ref.n; j++)
            if (!memcmp(tr.pix + i * 3072, ref.pix + j * 3072, 3072) && tr.labels[i] == ref.labels[j]) { found++; break; }
    CHECK(found == tr.n, "%d of %lld training images match a record exactly", found, (long long)tr.n);
    fl_images_free(&tr);
    fl_images_free(&te);
    // Resized to 48: through the cache; the test image 3 equals the PIL resize of record 3.
    o.image_size = 48;
    int rc = fl_dataset_open("cifar10", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) { fl_images_free(&ref); return; }
    CHECK(info.test_rebuilt && te.map_base != NULL && te.h == 48, "test set built and mapped");
    fl_images t10;
    CHECK(fl_load_cifar10(root, 0, &t10, &err) == 0, "%s", err.msg);
    uint8_t hwc[32 * 32 * 3], small[48 * 48 * 3];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 1024; p++) hwc[p * 3 + c] = t10.pix[3 * 3072 + c * 1024 + p];
    fl_resample_u8(hwc, 32, 32, 3, NULL, small, 48, 48);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 48 * 48; p++) bad += te.pix[3 * 3 * 48 * 48 + c * 48 * 48 + p] != small[p * 3 + c];
    CHECK(bad == 0, "%d resized pixels differ", bad);
    fl_images_free(&t10);
    fl_images_free(&tr);
    fl_images_free(&te);
    CHECK(fl_dataset_open("cifar10", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(info.train_from_cache && info.test_from_cache && !info.train_rebuilt, "second open uses the cache");
    fl_images_free(&tr);
    fl_images_free(&te);
    fl_images_free(&ref);
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) { return remove(path); }

int main(void) {
    RUN(test_cifar10_exact);
    RUN(test_cifar_errors);
    RUN(test_cifar100);
    RUN(test_open_native_and_resized);
    nftw(t_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
