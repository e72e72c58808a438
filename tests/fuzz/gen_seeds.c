// gen_seeds.c: writes the seed corpus of the harnesses into DIR/<parser>/ (make fuzz: DIR is
// tests/fuzz/seeds), from the project's own writers where it has one (safetensors, npy,
// manifest, cache, JPEG, PNG) and in the documented formats otherwise (IDX, CIFAR, CoOp).
// tests/fuzz/seeds.sh adds copies of committed files (configs, fixtures, reference CSVs).
#include "fuzz.h"
#include <sys/stat.h>
#include "impl/io/npy.h"
#include "impl/io/safetensors.h"

static char root[1024];

static const char* out(const char* parser, const char* name) {
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", root, parser);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", root, parser, name);
    return p;
}

static void put(const char* parser, const char* name, const void* a, size_t na, const void* b, size_t nb) {
    FILE* f = fopen(out(parser, name), "wb");
    if (!f) { perror(name); exit(1); }
    fwrite(a, 1, na, f);
    if (nb) fwrite(b, 1, nb, f);
    fclose(f);
}

static void check(int rc, const fl_err* err) {
    if (rc) { fprintf(stderr, "gen_seeds: %s\n", err->msg); exit(1); }
}

// The bytes of a file the writers just made (malloc'd), for seeds with a prefix.
static uint8_t* slurp(const char* path, size_t* n) {
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t* b = (uint8_t*)malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) exit(1);
    fclose(f);
    return b;
}

static int fill(void* ctx, int64_t i, uint8_t* px, fl_err* e) {
    for (int k = 0; k < 16; k++) px[k] = (uint8_t)(i * 16 + k);
    return 0;
}

static void be32(uint8_t* p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

int main(int argc, char** argv) {
    if (argc != 2) { fprintf(stderr, "usage: gen_seeds DIR\n"); return 2; }
    snprintf(root, sizeof root, "%s", argv[1]);
    mkdir(root, 0755);
    fl_err err = {{0}};

    // safetensors: two tensors and metadata; a scalar; no tensors at all
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i * 0.5f - 2.0f;
    int64_t s23[2] = {2, 3}, s6[1] = {6};
    fl_st_entry two[2] = {{"encoder.weight", 2, s23, w}, {"encoder.bias", 1, s6, w + 6}};
    fl_st_meta meta[1] = {{"format", "pt"}};
    check(fl_st_write_f32(out("safetensors", "two.safetensors"), two, 2, meta, 1, &err), &err);
    fl_st_entry scalar[1] = {{"s", 0, NULL, w + 3}};
    check(fl_st_write_f32(out("safetensors", "scalar.safetensors"), scalar, 1, NULL, 0, &err), &err);
    check(fl_st_write_f32(out("safetensors", "empty.safetensors"), NULL, 0, NULL, 0, &err), &err);

    // npy: (2, 3), a scalar, (0,), (1, 1, 2, 2)
    int64_t z[1] = {0}, s4[4] = {1, 1, 2, 2};
    check(fl_npy_write_f32(out("npy", "a23.npy"), 2, s23, w, &err), &err);
    check(fl_npy_write_f32(out("npy", "scalar.npy"), 0, NULL, w, &err), &err);
    check(fl_npy_write_f32(out("npy", "empty.npy"), 1, z, NULL, &err), &err);
    check(fl_npy_write_f32(out("npy", "a1122.npy"), 4, s4, w, &err), &err);

    // IDX: 3 images of 2 x 2 with their labels, in both input forms of fuzz_idx.c
    uint8_t img[16 + 12], lab[8 + 3];
    be32(img, 0x803); be32(img + 4, 3); be32(img + 8, 2); be32(img + 12, 2);
    for (int i = 0; i < 12; i++) img[16 + i] = (uint8_t)(i * 20);
    be32(lab, 0x801); be32(lab + 4, 3);
    lab[8] = 0; lab[9] = 9; lab[10] = 4;
    put("idx", "images_only.idx", img, sizeof img, NULL, 0);
    uint8_t len[4] = {sizeof img, 0, 0, 0};
    uint8_t pair[4 + sizeof img];
    memcpy(pair, len, 4);
    memcpy(pair + 4, img, sizeof img);
    put("idx", "pair.idx", pair, sizeof pair, lab, sizeof lab);

    // CIFAR: two CIFAR-10 records; one CIFAR-100 record; the same with the flag byte
    uint8_t rec[2 * 3074];
    for (size_t i = 0; i < sizeof rec; i++) rec[i] = (uint8_t)(i * 7);
    rec[0] = 3; rec[3073] = 9;
    put("cifar", "cifar10.bin", rec, 2 * 3073, NULL, 0);
    rec[0] = 19; rec[1] = 99;
    put("cifar", "cifar100.bin", rec, 3074, NULL, 0);
    uint8_t flag = 3;
    put("cifar", "cifar100_coarse_flag.bin", &flag, 1, rec, 3074);

    // CoOp split files naming the harness's images
    const char* coop =
        "{\"train\": [[\"a.jpg\", 0, \"AnnualCrop\"], [\"b/c.jpg\", 1, \"Forest\"]],\n"
        " \"val\": [[\"d e.jpg\", 1, \"Forest\"]],\n \"test\": [[\"a.jpg\", 0, \"AnnualCrop\"]]}\n";
    put("coop", "split.json", coop, strlen(coop), NULL, 0);
    const char* coop2 = "{\"train\": [], \"val\": [], \"test\": [[\"b/c.jpg\", 2, \"River\"]]}";
    put("coop", "sparse_labels.json", coop2, strlen(coop2), NULL, 0);

    // manifest, written by fl_manifest_write
    fl_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.dataset, sizeof m.dataset, "eurosat");
    snprintf(m.split, sizeof m.split, "train");
    snprintf(m.source, sizeof m.source, "class folders");
    m.shots = 2;
    m.seed = 9;
    m.n_classes = 2;
    char* names[2] = {"a cat", "dog"};
    m.class_names = names;
    fl_items_push(&m.items, "a/1.jpg", 0, -1);
    fl_items_push(&m.items, "b/2 with space.jpg", 1, -1);
    fl_items_push(&m.items, "b/3.png", 1, -1);
    m.checksum = fl_manifest_checksum(m.n_classes, m.class_names, &m.items);
    check(fl_manifest_write(out("manifest", "train.tsv"), &m, &err), &err);
    fl_items_free(&m.items);

    // cache, built by fl_cache_build under the harness's key
    fl_cache_key key = fz_cache_key();
    int32_t labels[3] = {0, 1, 1};
    fl_images d;
    check(fl_cache_build(out("cache", "cache.u8"), &key, labels, fill, NULL, 1, &d, &err), &err);
    fl_images_free(&d);

    // images: gray, RGB, CMYK JPEG; gray, RGB, RGBA PNG; odd sizes; raw and with parameters
    uint8_t px[24 * 10 * 4];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 13 + (i >> 3));
    const int jc[3] = {1, 3, 4}, pc[3] = {1, 3, 4};
    for (int k = 0; k < 3; k++) {
        char n1[64], n2[64];
        snprintf(n1, sizeof n1, "c%d.jpg", jc[k]);
        check(fl_write_jpeg(out("image", n1), px, 24, 10, jc[k], 90, &err), &err);
        snprintf(n2, sizeof n2, "c%d.png", pc[k]);
        check(fl_write_png(out("image", n2), px, 10, 24, pc[k], &err), &err);
    }
    check(fl_write_png(out("image", "tall.png"), px, 1, 40, 3, &err), &err);
    const uint8_t prm[2][4] = {{0, 1, 31, 200}, {1, 0, 7, 0}};
    const char* from[2] = {"c3.jpg", "c3.png"};
    for (int k = 0; k < 2; k++) {
        size_t n;
        uint8_t* b = slurp(out("image", from[k]), &n);
        char nm[64];
        snprintf(nm, sizeof nm, "param_%s", from[k]);
        put("image", nm, prm[k], 4, b, n);
        free(b);
    }
    return 0;
}
