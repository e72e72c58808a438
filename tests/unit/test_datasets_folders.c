// test_datasets_folders.c: the image-folder datasets on fixtures written here in each native
// layout: EuroSAT (class folders, seeded split and CoOp JSON), Caltech101 (BACKGROUND_Google,
// gray and CMYK JPEGs, PNG), Food101 (meta/*.txt), Flowers102 (.mat through libmatio),
// ImageNet (class-folder val, flat val with the devkit's ground truth and meta.mat), their
// error cases, the missing-data message and `data inspect`.
#include "../test.h"
#include "../../datasets/internal.h"
#include "../../bench/cli.h"  // fl_cmd_data
#include <ftw.h>
#include <unistd.h>
#include <sys/stat.h>
#include <matio.h>

static const char* sub(const char* name) {
    static char bufs[32][600];
    static int next;
    char* p = bufs[next++ & 31];
    snprintf(p, 600, "%s/%s", t_tmpdir(), name);
    return p;
}

static void mkdirs(const char* p) {
    fl_err e;
    CHECK(fl_mkdirs(p, &e) == 0, "%s", e.msg);
}

// The fixture pixel of image `id` at (x, y, channel c).
// Smooth (no wrap-around) so that JPEG's error stays small: at most 49 + 63 + 63 + 80 = 255.
static uint8_t fpx(int id, int x, int y, int c) { return (uint8_t)((id * 7) % 50 + x + y + c * 40); }

// Writes dir/name as 'p' PNG (exact), 'j' RGB JPEG q95, 'g' gray constant JPEG q100 (exact:
// value id*10), 'c' CMYK constant JPEG q100, 'x' broken JPEG (the first 60 bytes of one).
static void write_image(const char* dir, const char* name, int id, int w, int h, char kind) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fl_err e = {{0}};
    int c = kind == 'g' ? 1 : kind == 'c' ? 4 : 3;
    uint8_t* pix = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                uint8_t v = kind == 'g' ? (uint8_t)(id * 10) : kind == 'c' ? (uint8_t)(k == 3 ? 220 : k == 0 ? 10 : k == 1 ? 200 : 50)
                                                                            : fpx(id, x, y, k);
                pix[((size_t)y * w + x) * c + k] = v;
            }
    int rc = kind == 'p' ? fl_write_png(path, pix, w, h, 3, &e)
                         : fl_write_jpeg(path, pix, w, h, c, kind == 'j' ? 95 : 100, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (kind == 'x') CHECK(truncate(path, 60) == 0, "truncate");
    free(pix);
}

static fl_dataset_opts opts_for(const char* root, int size) {
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    o.dataset_dir = root;
    static int calls;
    char name[64];
    snprintf(name, sizeof name, "data-root-%d", calls++);
    o.data_root = sub(name);
    o.image_size = size;
    o.quiet = 1;
    return o;
}

// Class folders under base/sub: classes[k] gets n images named NAME_i.ext, alternately PNG and
// JPEG. Image ids are k*100 + i.
static void class_tree(const char* base, const char* const* classes, int n_classes, int n) {
    for (int k = 0; k < n_classes; k++) {
        char d[800];
        snprintf(d, sizeof d, "%s/%s", base, classes[k]);
        mkdirs(d);
        for (int i = 0; i < n; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%d.%s", classes[k], i + 1, i % 2 ? "jpg" : "png");
            write_image(d, name, k * 100 + i, 64, 64, i % 2 ? 'j' : 'p');
        }
    }
}

// Checks the (3, 64, 64) image i of d against fixture id: exact for PNG, within 3 levels for
// the q95 4:4:4 RGB JPEGs (measured 2 in test_datasets_imageio).
static int image_matches(const fl_images* d, int64_t i, int id, int exact) {
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 64; y += 7)
            for (int x = 0; x < 64; x += 5) {
                int got = d->pix[((i * 3 + c) * 64 + y) * 64 + x], want = fpx(id, x, y, c);
                bad += exact ? got != want : abs(got - want) > 3;
            }
    return bad == 0;
}

static const char* const euro_classes[3] = {"AnnualCrop", "Forest", "River"};

static void test_eurosat_seeded(void) {
    const char* root = sub("eurosat");
    char base[700];
    snprintf(base, sizeof base, "%s/2750", root);
    class_tree(base, euro_classes, 3, 10);
    fl_dataset_opts o = opts_for(root, 64);
    o.no_cache = 1;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("eurosat", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    // Seeded 50/20/30: 10 per class -> 5 train, 2 val, 3 test.
    CHECK(tr.n == 15 && te.n == 9 && tr.n_classes == 3, "train %lld test %lld", (long long)tr.n, (long long)te.n);
    CHECK(strstr(info.format, "seeded") != NULL, "format %s", info.format);
    CHECK(!strcmp(te.class_names[2], "River"), "class names");
    // Every test image is exactly its file (64x64: no resampling).
    fl_manifest m;
    CHECK(fl_manifest_read(info.test_manifest, &m, &err) == 0, "%s", err.msg);
    int ok = 0;
    for (int64_t i = 0; i < te.n; i++) {
        int k, idx;
        char cls[64];
        sscanf(m.items.v[i].path, "%63[^/]/%*[^_]_%d", cls, &idx);
        k = te.labels[i];
        ok += image_matches(&te, i, k * 100 + idx - 1, (idx - 1) % 2 == 0) && !strcmp(cls, euro_classes[k]);
    }
    CHECK(ok == te.n, "%d of %lld test images match their files", ok, (long long)te.n);
    fl_manifest_free(&m);
    fl_images_free(&tr);
    fl_images_free(&te);
}


static void test_eurosat_coop(void) {
    const char* root = sub("eurosat-coop");
    char base[700], p[800];
    snprintf(base, sizeof base, "%s/2750", root);
    class_tree(base, euro_classes, 3, 4);
    snprintf(p, sizeof p, "%s/split_zhou_EuroSAT.json", root);
    t_write_text(p, "{\"train\": [[\"AnnualCrop/AnnualCrop_1.png\", 0, \"Annual Crop Land\"],"
                  " [\"AnnualCrop/AnnualCrop_2.jpg\", 0, \"Annual Crop Land\"],"
                  " [\"Forest/Forest_1.png\", 1, \"Forest\"], [\"River/River_2.jpg\", 2, \"River\"]],"
                  " \"val\": [[\"Forest/Forest_2.jpg\", 1, \"Forest\"]],"
                  " \"test\": [[\"AnnualCrop/AnnualCrop_3.png\", 0, \"Annual Crop Land\"],"
                  " [\"River/River_3.png\", 2, \"River\"]]}");
    fl_dataset_opts o = opts_for(root, 64);
    o.no_cache = 1;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("eurosat", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(strstr(info.format, "CoOp split split_zhou_EuroSAT.json") != NULL, "format %s", info.format);
    CHECK(tr.n == 4 && te.n == 2 && !strcmp(tr.class_names[0], "Annual Crop Land"), "coop split used");
    CHECK(te.labels[1] == 2 && image_matches(&te, 1, 2 * 100 + 2, 1), "test image River_3 exact");
    fl_images_free(&tr);
    fl_images_free(&te);
    // --no-coop falls back to the seeded split (a different manifest file).
    o.no_coop_split = 1;
    CHECK(fl_dataset_open("eurosat", &o, &tr, &te, &info, &err) == 0, "%s", err.msg);
    CHECK(strstr(info.format, "seeded") && tr.n_classes == 3 && !strcmp(tr.class_names[0], "AnnualCrop"), "seeded without coop");
    fl_images_free(&tr);
    fl_images_free(&te);
    // A split file naming a missing image: one line naming the JSON and the image. (Fresh data
    // roots: a manifest already drawn from the good file would be reused without the JSON.)
    o = opts_for(root, 64);
    t_write_text(p, "{\"train\": [[\"Forest/Forest_9.jpg\", 0, \"Forest\"]], \"val\": [], \"test\": []}");
    rc = fl_dataset_open("eurosat", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "split_zhou_EuroSAT.json: train[0] names") && strstr(err.msg, "Forest/Forest_9.jpg, which does not exist"),
          "message: %s", err.msg);
    t_write_text(p, "{\"train\": [[\"Forest/Forest_1.png\", 0]], \"val\": [], \"test\": []}");
    o = opts_for(root, 64);
    rc = fl_dataset_open("eurosat", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "train[0]: expected [path, label >= 0, classname]"), "message: %s", err.msg);
    t_write_text(p, "{\"train\": [[\"Forest/Forest_1.png\", 0, \"x\"],");
    o = opts_for(root, 64);
    rc = fl_dataset_open("eurosat", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "invalid JSON near byte"), "message: %s", err.msg);
}

static void test_caltech101(void) {
    const char* root = sub("caltech");
    char base[700], d[800];
    snprintf(base, sizeof base, "%s/101_ObjectCategories", root);
    static const char* const classes[4] = {"BACKGROUND_Google", "Faces", "accordion", "airplanes"};
    class_tree(base, classes, 4, 6);
    // Gray and CMYK JPEGs, as Caltech101 really holds; constant so their value is known.
    snprintf(d, sizeof d, "%s/accordion", base);
    write_image(d, "image_gray.jpg", 13, 40, 30, 'g');
    write_image(d, "image_cmyk.jpg", 0, 24, 40, 'c');
    fl_dataset_opts o = opts_for(root, 16);
    o.no_cache = 1;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("caltech101", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(tr.n_classes == 3 && !strcmp(tr.class_names[0], "Faces") && !strcmp(tr.class_names[1], "accordion"),
          "BACKGROUND_Google excluded: %d classes, first %s", tr.n_classes, tr.class_names[0]);
    CHECK(tr.n + te.n == 3 * 6 + 2 - (int64_t)(0.2 * 6 + 0.5) * 2 - (int64_t)(0.2 * 8 + 0.5), "all but val");
    CHECK(tr.c == 3 && tr.h == 16, "resized to 16");
    fl_images_free(&tr);
    fl_images_free(&te);
    // Gray and CMYK JPEGs through a CoOp split that places them (train and test): constant
    // images stay constant through the resize: gray 130 -> (130, 130, 130), CMYK -> (9, 173, 43).
    char js[800];
    snprintf(js, sizeof js, "%s/split_zhou_Caltech101.json", root);
    t_write_text(js, "{\"train\": [[\"accordion/image_gray.jpg\", 0, \"accordion\"], [\"Faces/Faces_1.png\", 1, \"face\"]],"
                   " \"val\": [], \"test\": [[\"accordion/image_cmyk.jpg\", 0, \"accordion\"], [\"Faces/Faces_3.png\", 1, \"face\"]]}");
    o = opts_for(root, 16);
    rc = fl_dataset_open("caltech101", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    const uint8_t* g = tr.pix;
    const uint8_t* k = te.pix;
    CHECK(tr.n == 2 && te.n == 2 && !strcmp(tr.class_names[1], "face"), "coop caltech");
    CHECK(g[0] == 130 && g[256 + 77] == 130 && g[512 + 255] == 130, "gray image %d %d %d", g[0], g[256 + 77], g[512 + 255]);
    CHECK(k[5] == 9 && k[256 + 5] == 173 && k[512 + 5] == 43, "cmyk image %d %d %d", k[5], k[256 + 5], k[512 + 5]);
    CHECK(info.test_rebuilt && te.map_base != NULL, "through the cache");
    fl_images_free(&tr);
    fl_images_free(&te);
    unlink(js);
    // A broken JPEG in the data: the open fails naming that file.
    snprintf(d, sizeof d, "%s/Faces", base);
    for (int i = 1; i <= 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "Faces_%d.%s", i, (i - 1) % 2 ? "jpg" : "png");
        if ((i - 1) % 2) write_image(d, name, 100 + i - 1, 64, 64, 'x');
    }
    o.data_root = sub("data-root-broken");
    rc = fl_dataset_open("caltech101", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "/Faces/Faces_") && strstr(err.msg, "broken JPEG"), "message: %s", err.msg);
}

static void test_food101(void) {
    const char* root = sub("food");
    char base[700], p[800];
    snprintf(base, sizeof base, "%s/food-101/images", root);
    static const char* const classes[2] = {"apple_pie", "bibimbap"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", base, classes[k]);
        mkdirs(p);
        for (int i = 0; i < 4; i++) {
            char name[32];
            snprintf(name, sizeof name, "%d.jpg", 1000 + i);
            write_image(p, name, k * 100 + i, 20, 20, 'j');
        }
    }
    snprintf(p, sizeof p, "%s/food-101/meta", root);
    mkdirs(p);
    char f[900];
    snprintf(f, sizeof f, "%s/classes.txt", p);
    t_write_text(f, "apple_pie\nbibimbap\n");
    snprintf(f, sizeof f, "%s/train.txt", p);
    t_write_text(f, "apple_pie/1000\napple_pie/1001\napple_pie/1002\nbibimbap/1000\nbibimbap/1003\n");
    snprintf(f, sizeof f, "%s/test.txt", p);
    t_write_text(f, "apple_pie/1003\nbibimbap/1001\nbibimbap/1002\n");
    fl_dataset_opts o = opts_for(root, 20);
    o.no_cache = 1;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("food101", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(tr.n == 5 && te.n == 3 && te.labels[0] == 0 && te.labels[2] == 1, "food101 meta split");
    fl_images_free(&tr);
    fl_images_free(&te);
    o.data_root = sub("data-root-food2");
    t_write_text(f, "apple_pie/1003\nbibimbap/9999\n");
    rc = fl_dataset_open("food101", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "meta/test.txt: line 2 names") && strstr(err.msg, "bibimbap/9999.jpg, which does not exist"), "message: %s", err.msg);
    t_write_text(f, "sushi/1003\n");
    rc = fl_dataset_open("food101", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "meta/test.txt: line 1: class 'sushi' is not in meta/classes.txt"), "message: %s", err.msg);
}

// Writes a .mat (v5) holding double row vectors.
static void write_mat(const char* path, int n_vars, const char** names, const double** data, const size_t* lens) {
    mat_t* mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    CHECK(mat != NULL, "create %s", path);
    for (int v = 0; v < n_vars; v++) {
        size_t dims[2] = {1, lens[v]};
        matvar_t* mv = Mat_VarCreate(names[v], MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, (void*)data[v], 0);
        Mat_VarWrite(mat, mv, MAT_COMPRESSION_NONE);
        Mat_VarFree(mv);
    }
    Mat_Close(mat);
}

static void test_flowers102(void) {
    const char* root = sub("flowers");
    char jpg[700], lab[800], set[800], p[800];
    snprintf(jpg, sizeof jpg, "%s/jpg", root);
    mkdirs(jpg);
    for (int i = 1; i <= 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "image_%05d.jpg", i);
        write_image(jpg, name, i, 16, 16, 'j');
    }
    snprintf(lab, sizeof lab, "%s/imagelabels.mat", root);
    snprintf(set, sizeof set, "%s/setid.mat", root);
    double labels[12] = {1, 1, 2, 2, 3, 3, 1, 2, 3, 1, 2, 3};
    double trn[3] = {1, 3, 5}, val[3] = {2, 4, 6}, tst[6] = {7, 8, 9, 10, 11, 12};
    const char* ln[1] = {"labels"};
    const double* ld[1] = {labels};
    size_t ll[1] = {12};
    write_mat(lab, 1, ln, ld, ll);
    const char* sn[3] = {"trnid", "valid", "tstid"};
    const double* sd[3] = {trn, val, tst};
    size_t sl[3] = {3, 3, 6};
    write_mat(set, 3, sn, sd, sl);
    snprintf(p, sizeof p, "%s/cat_to_name.json", root);
    t_write_text(p, "{\"1\": \"pink primrose\", \"2\": \"hard-leaved pocket orchid\", \"3\": \"canterbury bells\"}");
    fl_dataset_opts o = opts_for(root, 16);
    o.no_cache = 1;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("flowers102", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    // train = trnid + valid (ids 1..6 -> labels 0,1,2,0,1,2 in manifest order), test = tstid.
    CHECK(tr.n == 6 && te.n == 6 && tr.n_classes == 3, "sizes %lld %lld", (long long)tr.n, (long long)te.n);
    CHECK(te.labels[0] == 0 && te.labels[1] == 1 && te.labels[5] == 2, "test labels");
    CHECK(!strcmp(tr.class_names[2], "canterbury bells"), "names from cat_to_name.json");
    fl_images_free(&tr);
    fl_images_free(&te);
    // Wrong variable name.
    o.data_root = sub("data-root-fl2");
    const char* bad_name[1] = {"labelz"};
    write_mat(lab, 1, bad_name, ld, ll);
    rc = fl_dataset_open("flowers102", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "imagelabels.mat: no variable 'labels' (found: labelz)"), "message: %s", err.msg);
    // Label out of range and image id out of range.
    labels[4] = 0;
    write_mat(lab, 1, ln, ld, ll);
    rc = fl_dataset_open("flowers102", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "imagelabels.mat: labels(5) = 0: expected an integer class"), "message: %s", err.msg);
    labels[4] = 3;
    write_mat(lab, 1, ln, ld, ll);
    tst[2] = 99;
    write_mat(set, 3, sn, sd, sl);
    rc = fl_dataset_open("flowers102", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "setid.mat: tstid(3) = 99: expected an image id 1..12"), "message: %s", err.msg);
}

static const char* const wnids[3] = {"n01440764", "n01443537", "n01484850"};

// The devkit's meta.mat: synsets(i) = {ILSVRC2012_ID, WNID, words}; ids 1..3 map to
// wnids 2, 0, 1 (not the sorted order, as in the real devkit).
static void write_meta_mat(const char* path) {
    const char* fields[3] = {"ILSVRC2012_ID", "WNID", "words"};
    size_t dims[2] = {3, 1};
    matvar_t* st = Mat_VarCreateStruct("synsets", 2, dims, fields, 3);
    const int map[3] = {2, 0, 1};
    const char* words[3] = {"tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark"};
    for (int i = 0; i < 3; i++) {
        double id = i + 1;
        size_t d1[2] = {1, 1};
        Mat_VarSetStructFieldByName(st, "ILSVRC2012_ID", i, Mat_VarCreate("ILSVRC2012_ID", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &id, 0));
        size_t dw[2] = {1, strlen(wnids[map[i]])};
        Mat_VarSetStructFieldByName(st, "WNID", i, Mat_VarCreate("WNID", MAT_C_CHAR, MAT_T_UINT8, 2, dw, (void*)wnids[map[i]], 0));
        size_t dd[2] = {1, strlen(words[map[i]])};
        Mat_VarSetStructFieldByName(st, "words", i, Mat_VarCreate("words", MAT_C_CHAR, MAT_T_UINT8, 2, dd, (void*)words[map[i]], 0));
    }
    mat_t* mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    Mat_VarWrite(mat, st, MAT_COMPRESSION_NONE);
    Mat_VarFree(st);
    Mat_Close(mat);
}

static void test_imagenet(void) {
    const char* root = sub("imagenet");
    char d[800];
    for (int k = 0; k < 3; k++) {
        snprintf(d, sizeof d, "%s/train/%s", root, wnids[k]);
        mkdirs(d);
        for (int i = 0; i < 3; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%d.JPEG", wnids[k], i);
            write_image(d, name, k * 10 + i, 20, 12, i == 2 ? 'p' : 'j');  // one PNG named .JPEG, as in ImageNet
        }
        snprintf(d, sizeof d, "%s/val/%s", root, wnids[k]);
        mkdirs(d);
        for (int i = 0; i < 2; i++) {
            char name[64];
            snprintf(name, sizeof name, "ILSVRC2012_val_%08d.JPEG", k * 2 + i + 1);
            write_image(d, name, 50 + k * 2 + i, 12, 20, 'j');
        }
    }
    fl_dataset_opts o = opts_for(root, 8);
    o.shots = 2;
    fl_images tr, te;
    fl_dataset_info info;
    fl_err err = {{0}};
    int rc = fl_dataset_open("imagenet", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(tr.n == 6 && te.n == 6 && tr.n_classes == 3 && te.labels[5] == 2, "class-folder val");
    fl_images_free(&tr);
    fl_images_free(&te);
    // Flat val/ with the devkit: files sorted by name, line i = ILSVRC2012_ID of image i+1.
    const char* flat = sub("imagenet-flat");
    for (int k = 0; k < 3; k++) {
        snprintf(d, sizeof d, "%s/train/%s", flat, wnids[k]);
        mkdirs(d);
        write_image(d, "a.JPEG", k, 8, 8, 'j');
    }
    snprintf(d, sizeof d, "%s/val", flat);
    mkdirs(d);
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "ILSVRC2012_val_%08d.JPEG", i + 1);
        write_image(d, name, i, 8, 8, 'j');
    }
    snprintf(d, sizeof d, "%s/ILSVRC2012_devkit_t12/data", flat);
    mkdirs(d);
    char p[900];
    snprintf(p, sizeof p, "%s/ILSVRC2012_validation_ground_truth.txt", d);
    t_write_text(p, "1\n2\n3\n1\n");  // ids 1, 2, 3 -> wnids 2, 0, 1 -> labels 2, 0, 1
    snprintf(p, sizeof p, "%s/meta.mat", d);
    write_meta_mat(p);
    o = opts_for(flat, 8);
    o.data_root = sub("data-root-in2");
    rc = fl_dataset_open("imagenet", &o, &tr, &te, &info, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(te.n == 4 && te.labels[0] == 2 && te.labels[1] == 0 && te.labels[2] == 1 && te.labels[3] == 2,
          "devkit labels %d %d %d %d", te.labels[0], te.labels[1], te.labels[2], te.labels[3]);
    CHECK(!strcmp(te.class_names[0], "n01440764 tench, Tinca tinca"), "name from meta.mat: %s", te.class_names[0]);
    CHECK(strstr(info.format, "devkit") != NULL, "format %s", info.format);
    fl_images_free(&tr);
    fl_images_free(&te);
    // One label too few in the ground truth.
    snprintf(p, sizeof p, "%s/ILSVRC2012_validation_ground_truth.txt", d);
    t_write_text(p, "1\n2\n3\n");
    o.data_root = sub("data-root-in3");
    rc = fl_dataset_open("imagenet", &o, &tr, &te, &info, &err);
    CHECK(rc == -1 && strstr(err.msg, "ILSVRC2012_validation_ground_truth.txt: 3 labels for 4 images"), "message: %s", err.msg);
}

static void test_missing_and_inspect(void) {
    fl_dataset_opts o = opts_for(sub("nowhere/food101"), 0);
    fl_images tr, te;
    fl_err err = {{0}};
    int rc = fl_dataset_open("food101", &o, &tr, &te, NULL, &err);
    CHECK(rc == -1 && strstr(err.msg, "run `flbench data fetch food101`") && !strchr(err.msg, '\n'), "message: %s", err.msg);
    CHECK(fl_dataset_available("food101", &o, &err) == 0 && strstr(err.msg, "flbench data fetch food101"), "available: %s", err.msg);
    CHECK(fl_dataset_available("mnist", &o, &err) == -1, "unknown name");
    fl_dataset_opts present = opts_for(sub("eurosat"), 0);
    CHECK(fl_dataset_available("eurosat", &present, &err) == 1, "eurosat fixture present: %s", err.msg);
    rc = fl_dataset_open("mnist", &o, &tr, &te, NULL, &err);
    CHECK(rc == -1 && strstr(err.msg, "unknown dataset 'mnist'"), "message: %s", err.msg);
    // `data inspect` on the EuroSAT fixture: exit 0; on a missing dataset 1; bad usage 2.
    // (Its printout goes to stdout, shown in this test's log.)
    char root[700];
    snprintf(root, sizeof root, "%s", sub("eurosat"));
    char* argv1[] = {"flbench", "data", "inspect", "eurosat", "--root", root, "--data-root", (char*)sub("data-root-inspect"), "--shots", "4"};
    CHECK(fl_cmd_data(10, argv1) == 0, "inspect eurosat");
    char* argv2[] = {"inspect", "food101", "--root", (char*)sub("nowhere/food101")};
    CHECK(fl_cmd_data(4, argv2) == 1, "inspect missing");
    char* argv3[] = {"inspect", "eurosat", "--bogus", "1"};
    CHECK(fl_cmd_data(4, argv3) == 2, "bad option");
    char* argv4[] = {"inspect", "mnist"};
    CHECK(fl_cmd_data(2, argv4) == 2, "unknown dataset");
    fflush(stdout);
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) { return remove(path); }

int main(void) {
    RUN(test_eurosat_seeded);
    RUN(test_eurosat_coop);
    RUN(test_caltech101);
    RUN(test_food101);
    RUN(test_flowers102);
    RUN(test_imagenet);
    RUN(test_missing_and_inspect);
    nftw(t_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
