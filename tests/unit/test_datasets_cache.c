// test_datasets_cache.c: manifests (round trip, damage detected), the shared k-shot split
// through fl_dataset_open (deterministic, seeds differ, short classes reported, reused when
// present), and the preprocessed cache (round trip, memory-mapped streaming, staleness and
// corruption detected and rebuilt). Fixtures: EuroSAT-style class folders of PNGs written here.
#include "../test.h"
#include "../../datasets/internal.h"
#include <ftw.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

static const char* sub(const char* name) {
    static char bufs[32][600];
    static int next;
    char* p = bufs[next++ & 31];
    snprintf(p, 600, "%s/%s", t_tmpdir(), name);
    return p;
}

// class k gets counts[k] PNGs of 24x20 under root/2750/Ck/.
static const char* make_tree(const char* name, const int* counts, int n_classes) {
    const char* root = sub(name);
    for (int k = 0; k < n_classes; k++) {
        char d[800];
        snprintf(d, sizeof d, "%s/2750/C%d", root, k);
        fl_err e;
        CHECK(fl_mkdirs(d, &e) == 0, "%s", e.msg);
        for (int i = 0; i < counts[k]; i++) {
            uint8_t pix[24 * 20 * 3];
            for (int j = 0; j < 24 * 20 * 3; j++) pix[j] = (uint8_t)(k * 50 + i * 7 + j);
            char p[900];
            snprintf(p, sizeof p, "%s/img_%03d.png", d, i);
            CHECK(fl_write_png(p, pix, 24, 20, 3, &e) == 0, "%s", e.msg);
        }
    }
    return root;
}

static fl_dataset_opts opts(const char* root, const char* data_root, int shots, uint64_t seed) {
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    o.dataset_dir = root;
    o.data_root = data_root;
    o.shots = shots;
    o.seed = seed;
    o.image_size = 16;
    o.quiet = 1;
    return o;
}

static void test_manifest_roundtrip_and_damage(void) {
    fl_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.dataset, sizeof m.dataset, "eurosat");
    snprintf(m.split, sizeof m.split, "train");
    snprintf(m.source, sizeof m.source, "test fixture");
    m.shots = 2;
    m.seed = 9;
    m.n_classes = 2;
    m.class_names = malloc(2 * sizeof(char*));
    m.class_names[0] = fl_strdup("a cat");
    m.class_names[1] = fl_strdup("dog");
    fl_items_push(&m.items, "a/1.jpg", 0, -1);
    fl_items_push(&m.items, "b/2 with space.jpg", 1, -1);
    m.checksum = fl_manifest_checksum(m.n_classes, m.class_names, &m.items);
    const char* path = sub("m.tsv");
    fl_err err = {{0}};
    CHECK(fl_manifest_write(path, &m, &err) == 0, "%s", err.msg);
    fl_manifest r;
    CHECK(fl_manifest_read(path, &r, &err) == 0, "%s", err.msg);
    CHECK(r.checksum == m.checksum && r.items.n == 2 && !strcmp(r.items.v[1].path, "b/2 with space.jpg") &&
          r.items.v[1].label == 1 && !strcmp(r.class_names[0], "a cat") && r.seed == 9 && r.shots == 2,
          "round trip");
    fl_manifest_free(&r);
    // The checksum covers class names and files: renaming a class changes it.
    free(m.class_names[1]);
    m.class_names[1] = fl_strdup("wolf");
    CHECK(fl_manifest_checksum(m.n_classes, m.class_names, &m.items) != m.checksum, "class names in checksum");
    // An edited label is detected.
    FILE* f = fopen(path, "r+");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    char* at = strstr(buf, "i\t1\tb/2");
    at[2] = '0';
    rewind(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    CHECK(fl_manifest_read(path, &r, &err) == -1 && strstr(err.msg, "checksum mismatch") && strstr(err.msg, path), "edit: %s", err.msg);
    // A truncated one too.
    CHECK(truncate(path, (off_t)(at - buf)) == 0, "truncate");
    CHECK(fl_manifest_read(path, &r, &err) == -1 && strstr(err.msg, "no checksum line"), "truncated: %s", err.msg);
    fl_manifest_free(&m);
    // A second classes line is refused before it changes the class count: a larger count
    // read past the array when it was freed, a smaller one leaked the names beyond it
    // (tests/fuzz/regress/manifest/).
    const char* dup[2] = {"# flbench manifest 1\nclasses\t1\nclasses\t2\n",
                          "# flbench manifest 1\nclasses\t2\nc\t0\ta\nc\t1\tb\nclasses\t1\n"};
    const char* where[2] = {"line 3: duplicate classes line", "line 5: duplicate classes line"};
    for (int t = 0; t < 2; t++) {
        t_write_text(path, dup[t]);
        CHECK(fl_manifest_read(path, &r, &err) == -1 && strstr(err.msg, path) && strstr(err.msg, where[t]) &&
                  !strchr(err.msg, '\n') && r.class_names == NULL && r.n_classes == 0,
              "duplicate classes line (%d): %s", t, err.msg);
    }
}

static void test_kshot_through_open(void) {
    int counts[4] = {9, 9, 3, 9};  // class 2 has 3 images -> round(1.5)=2 train: short of 3 shots
    const char* root = make_tree("kshot", counts, 4);
    fl_images tr, te, tr2, te2;
    fl_dataset_info a, b, c;
    fl_err err = {{0}};
    fl_dataset_opts o = opts(root, sub("k-root-a"), 3, 0);
    int rc = fl_dataset_open("eurosat", &o, &tr, &te, &a, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    // Seeded 50/20/30: 9 -> 4 train (round half even of 4.5); 3 -> 2. So 3 + 3 + 2 + 3 shots.
    CHECK(tr.n == 11 && a.short_classes == 1, "n %lld short %d", (long long)tr.n, a.short_classes);
    int per[4] = {0};
    for (int64_t i = 0; i < tr.n; i++) per[tr.labels[i]]++;
    CHECK(per[0] == 3 && per[1] == 3 && per[2] == 2 && per[3] == 3, "per class %d %d %d %d", per[0], per[1], per[2], per[3]);
    // Same seed, fresh data root (no manifest to reuse): the identical split.
    o = opts(root, sub("k-root-b"), 3, 0);
    CHECK(fl_dataset_open("eurosat", &o, &tr2, &te2, &b, &err) == 0, "%s", err.msg);
    CHECK(b.train_checksum == a.train_checksum && b.test_checksum == a.test_checksum, "same seed, same split");
    CHECK(tr2.n == tr.n && !memcmp(tr2.pix, tr.pix, (size_t)(tr.n * fl_images_dim(&tr))), "same pixels");
    fl_images_free(&tr2);
    fl_images_free(&te2);
    // Another seed: another split (same test set).
    o = opts(root, sub("k-root-b"), 3, 1);
    CHECK(fl_dataset_open("eurosat", &o, &tr2, &te2, &c, &err) == 0, "%s", err.msg);
    CHECK(c.train_checksum != a.train_checksum && c.test_checksum == a.test_checksum, "seed 1 differs");
    fl_images_free(&tr2);
    fl_images_free(&te2);
    // The manifest is reused: new images added to the data do not change a drawn split.
    int more[4] = {12, 9, 3, 9};
    make_tree("kshot", more, 4);
    o = opts(root, sub("k-root-a"), 3, 0);
    CHECK(fl_dataset_open("eurosat", &o, &tr2, &te2, &b, &err) == 0, "%s", err.msg);
    CHECK(b.train_checksum == a.train_checksum && b.test_checksum == a.test_checksum, "manifest reused");
    CHECK(b.train_from_cache && b.test_from_cache, "caches still valid");
    fl_images_free(&tr2);
    fl_images_free(&te2);
    // A manifest naming a file that is gone fails clearly once the cache must be rebuilt.
    char gone[900];
    snprintf(gone, sizeof gone, "%s/cache", sub("k-root-a"));
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", gone);
    CHECK(system(cmd) == 0, "rm cache");
    fl_manifest m;
    CHECK(fl_manifest_read(a.train_manifest, &m, &err) == 0, "%s", err.msg);
    char victim[1200];
    snprintf(victim, sizeof victim, "%s/2750/%s", root, m.items.v[0].path);
    unlink(victim);
    rc = fl_dataset_open("eurosat", &o, &tr2, &te2, &b, &err);
    CHECK(rc == -1 && strstr(err.msg, "manifest") && strstr(err.msg, m.items.v[0].path) && strstr(err.msg, "does not exist"), "message: %s", err.msg);
    fl_manifest_free(&m);
    fl_images_free(&tr);
    fl_images_free(&te);
}

// Flips one byte of a file at offset.
static void flip_byte(const char* path, off_t off) {
    int fd = open(path, O_RDWR);
    unsigned char b;
    CHECK(pread(fd, &b, 1, off) == 1, "read");
    b ^= 0x5A;
    CHECK(pwrite(fd, &b, 1, off) == 1, "write");
    close(fd);
}

static void cache_path_of(const fl_dataset_info* info, const char* data_root, char* out, size_t len, const char* split) {
    (void)info;
    snprintf(out, len, "%s/cache/eurosat-seeded-%s-16sq.u8", data_root, split);
}

static void test_cache_roundtrip_and_staleness(void) {
    int counts[3] = {6, 6, 6};
    const char* root = make_tree("cache", counts, 3);
    const char* dr = sub("c-root");
    fl_dataset_opts o = opts(root, dr, 2, 3);
    fl_images tr, te, mem_tr, mem_te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("eurosat", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(info.train_rebuilt && info.test_rebuilt && te.map_base && tr.map_base, "built and mapped");
    // Round trip: the mapped cache holds what an uncached open decodes, byte for byte.
    fl_dataset_opts on = o;
    on.no_cache = 1;
    CHECK(fl_dataset_open("eurosat", &on, &mem_tr, &mem_te, NULL, &err) == 0, "%s", err.msg);
    int64_t dim = fl_images_dim(&te);
    CHECK(te.n == mem_te.n && !memcmp(te.pix, mem_te.pix, (size_t)(te.n * dim)) &&
          !memcmp(te.labels, mem_te.labels, (size_t)te.n * 4), "cache differs from a fresh decode");
    // Batches fetched from the mapping: (x/255 - 0.5)/0.5.
    int64_t idx[2] = {te.n - 1, 0};
    float* x = malloc(sizeof(float) * 2 * dim);
    fl_images_batch(&te, idx, 2, x);
    CHECK(x[0] == ((float)te.pix[(te.n - 1) * dim] / 255.0f - 0.5f) / 0.5f, "batch from the mapping");
    free(x);
    // Releasing the pages of a mapped range (batch-wise evaluation) keeps the data readable.
    fl_images_release(&te, 0, te.n);
    CHECK(!memcmp(te.pix, mem_te.pix, (size_t)(te.n * dim)), "readable again after release");
    fl_images_release(&mem_te, 0, mem_te.n);  // heap sets: no effect
    fl_images_free(&mem_tr);
    fl_images_free(&mem_te);
    fl_images_free(&tr);
    fl_images_free(&te);
    // Reopen: both from the cache.
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0 && info.train_from_cache && info.test_from_cache, "reuse");
    fl_images_free(&tr);
    fl_images_free(&te);

    char test_cache[900];
    cache_path_of(&info, dr, test_cache, sizeof test_cache, "test");
    struct stat st;
    CHECK(stat(test_cache, &st) == 0, "cache file %s", test_cache);
    // (a) corrupt header byte -> rebuilt
    flip_byte(test_cache, 70);
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(info.test_rebuilt && strstr(info.cache_note, "corrupt: header checksum"), "note: %s", info.cache_note);
    fl_images_free(&tr);
    fl_images_free(&te);
    // (b) truncated -> rebuilt
    CHECK(truncate(test_cache, st.st_size - 100) == 0, "truncate");
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(info.test_rebuilt && strstr(info.cache_note, "corrupt:") && strstr(info.cache_note, "the header says"), "note: %s", info.cache_note);
    fl_images_free(&tr);
    fl_images_free(&te);
    // (c) a pixel flipped: caught by the data CRC (small caches are always verified)
    flip_byte(test_cache, st.st_size - 10);
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(info.test_rebuilt && strstr(info.cache_note, "data checksum mismatch"), "note: %s", info.cache_note);
    fl_images_free(&tr);
    fl_images_free(&te);
    // ... and not caught when verification is off (the header alone is checked).
    flip_byte(test_cache, st.st_size - 10);
    o.verify_cache = -1;
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0 && info.test_from_cache, "verify off");
    fl_images_free(&tr);
    fl_images_free(&te);
    o.verify_cache = 0;
    // (d) stale: the split changed (a new test manifest after the data grew) -> rebuilt, with why.
    char man[1000];
    snprintf(man, sizeof man, "%s/manifests/eurosat-seeded-test.tsv", dr);
    unlink(man);
    int more[3] = {6, 6, 10};
    make_tree("cache", more, 3);
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(info.test_rebuilt && !info.test_from_cache && strstr(info.cache_note, "stale: manifest checksum"), "note: %s", info.cache_note);
    fl_images_free(&tr);
    fl_images_free(&te);
    // (e) not a cache at all
    FILE* f = fopen(test_cache, "w");
    fputs("hello", f);
    fclose(f);
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(info.test_rebuilt && strstr(info.cache_note, "shorter than its header"), "note: %s", info.cache_note);
    fl_images_free(&tr);
    fl_images_free(&te);
    // (f) other preprocessing (crop mode) uses its own file; both stay valid.
    o.resize = FL_RESIZE_SHORT_CROP;
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0 && info.test_rebuilt, "crop build");
    fl_images_free(&tr);
    fl_images_free(&te);
    o.resize = FL_RESIZE_SQUARE;
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0 && info.test_from_cache, "square still cached");
    fl_images_free(&tr);
    fl_images_free(&te);
}

static int fill(void* ctx, int64_t i, uint8_t* out, fl_err* e) {
    for (int j = 0; j < 16; j++) out[j] = (uint8_t)(i * 16 + j);
    return 0;
}

static int fail_at_2(void* ctx, int64_t i, uint8_t* out, fl_err* e) {
    if (i == 2) return fl_fail(e, "image %lld: broken", (long long)i);
    return 0;
}

static void test_cache_api_direct(void) {
    // A cache file under another key is stale, with the differing field named.
    fl_cache_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.dataset, sizeof k.dataset, "x");
    snprintf(k.split, sizeof k.split, "test");
    k.n = 3;
    k.c = 1;
    k.h = k.w = 4;
    k.n_classes = 2;
    k.image_size = 4;
    k.manifest_checksum = 42;
    int32_t labels[3] = {0, 1, 1};
    const char* p = sub("direct.u8");
    fl_images d;
    fl_err err = {{0}};
    CHECK(fl_cache_build(p, &k, labels, fill, NULL, 1, &d, &err) == 0, "%s", err.msg);
    CHECK(d.n == 3 && d.pix[2 * 16 + 5] == 37 && d.labels[2] == 1, "content");
    fl_images_free(&d);
    char note[600];
    k.image_size = 8;
    CHECK(fl_cache_open(p, &k, 1, &d, note, sizeof note, &err) == 1 && strstr(note, "stale: preprocessing"), "note %s", note);
    k.image_size = 4;
    k.n_classes = 3;
    CHECK(fl_cache_open(p, &k, 1, &d, note, sizeof note, &err) == 1 && strstr(note, "stale: shape"), "note %s", note);
    k.n_classes = 2;
    CHECK(fl_cache_open(p, &k, 1, &d, note, sizeof note, &err) == 0, "valid again");
    fl_images_free(&d);
    // A label out of range (byte 4096, record 0's label, set to 5 of 2 classes), verification
    // off so that the data CRC does not catch it first: corrupt, with the record and the range
    // (the note is written after the labels are released; tests/fuzz/regress/cache/).
    const char* bad = sub("bad-label.u8");
    fl_images b;
    CHECK(fl_cache_build(bad, &k, labels, fill, NULL, 1, &b, &err) == 0, "%s", err.msg);
    fl_images_free(&b);
    int fd = open(bad, O_RDWR);
    unsigned char five = 5;
    CHECK(fd >= 0 && pwrite(fd, &five, 1, 4096) == 1, "write byte 4096");
    if (fd >= 0) close(fd);
    note[0] = 0;
    CHECK(fl_cache_open(bad, &k, -1, &b, note, sizeof note, &err) == 1 && strstr(note, bad) &&
              strstr(note, "corrupt: byte 4096: record 0: label 5 out of range, expected 0..1") &&
              !strchr(note, '\n'),
          "note %s", note);
    // A fill error aborts the build, leaves no file, and reports the first failing image.
    const char* q = sub("failed.u8");
    CHECK(fl_cache_build(q, &k, labels, fail_at_2, NULL, 1, &d, &err) == -1 && strstr(err.msg, "image 2: broken"), "%s", err.msg);
    CHECK(access(q, F_OK) != 0, "no partial cache left");
}

static void test_fashion_mnist_open(void) {
    struct stat st;
    if (stat(FL_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &st) != 0)
        SKIP("Debian's dataset-fashion-mnist is not installed");
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    o.data_root = sub("fm-root");  // no fashion-mnist/ there: falls back to the Debian files
    o.shots = 16;
    o.seed = 0;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    CHECK(fl_dataset_open("fashion-mnist", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(tr.n == 160 && te.n == 10000 && tr.c == 1 && tr.h == 28 && tr.n_classes == 10, "shape");
    CHECK(tr.mean[0] == 0.2860f && tr.std[0] == 0.3530f, "native normalisation at native size");
    CHECK(!strcmp(info.root, FL_FASHION_MNIST_DIR), "root %s", info.root);
    // The same 160 images fl_kshot_indices picks on the full training set (one sampler).
    fl_images full;
    CHECK(fl_load_fashion_mnist(NULL, 1, &full, &err) == 0, "%s", err.msg);
    int64_t n;
    int64_t* idx = fl_kshot_indices(&full, 16, 0, &n, NULL);
    int same = n == tr.n;
    for (int64_t i = 0; same && i < n; i++) same = !memcmp(full.pix + idx[i] * 784, tr.pix + i * 784, 784) && full.labels[idx[i]] == tr.labels[i];
    CHECK(same, "dataset_open and fl_kshot_indices disagree");
    free(idx);
    fl_images_free(&full);
    fl_images_free(&tr);
    fl_images_free(&te);
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) { return remove(path); }

int main(void) {
    RUN(test_manifest_roundtrip_and_damage);
    RUN(test_kshot_through_open);
    RUN(test_cache_roundtrip_and_staleness);
    RUN(test_cache_api_direct);
    RUN(test_fashion_mnist_open);
    nftw(t_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
