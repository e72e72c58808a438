// cmd_data_export.c: `flbench data export NAME --out X.npy`, the preprocessed images of one
// split as the model is fed them, so that preprocessing can be checked against another tool.
//   X.npy  (N, C, H, W) float32: (x/255 - mean[c]) / std[c] of the resized uint8 pixels x, the
//          values fl_images_batch hands to the train loop (datasets/dataset.h)
//   Y.npy  (N,) int32 labels (--labels)
// The split is opened as `flbench train` opens it (fl_dataset_open: the same manifest, shots,
// seed, image size and cache), and the images keep the split's order.
#include <inttypes.h>
#include <string.h>
#include "../datasets/dataset.h"
#include "../impl/io/npy.h"
#include "args.h"
#include "cli.h"

int fl_data_export(const char* name, int argc, char** argv, int first) {
    char out[1024] = "", labels[1024] = "", data_root[1024] = "", root[1024] = "";
    int split = 0, shots = 0, image_size = 0;
    long limit = 0;
    uint64_t seed = 0;
    const fl_opt opts[] = {
        {"out", FL_OPT_STR, out, sizeof out, NULL, "the images, (N, C, H, W) float32 normalised as fed to the model (required)"},
        {"labels", FL_OPT_STR, labels, sizeof labels, NULL, "also write the labels, (N,) int32, to this file"},
        {"split", FL_OPT_CHOICE, &split, 0, "train|test", "which split (default train)"},
        {"shots", FL_OPT_INT, &shots, 0, "0..", "train: images per class, as train --shots (default 0, the whole split)"},
        {"seed", FL_OPT_U64, &seed, 0, NULL, "train: seed of the k-shot draw, as train --seed (default 0)"},
        {"image-size", FL_OPT_INT, &image_size, 0, "0..4096", "resize to this, as train --image-size (0: the dataset's default)"},
        {"limit", FL_OPT_LONG, &limit, 0, "0..", "write only the first N images of the split (0: all)"},
        {"data-root", FL_OPT_STR, data_root, sizeof data_root, NULL, "where the datasets live (default $FLBENCH_DATA, else datasets/data)"},
        {"root", FL_OPT_STR, root, sizeof root, NULL, "the dataset's own folder (default: found under the data root)"},
    };
    int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int rc = fl_parse_opts("data export", opts, n_opts, argc, argv, first, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (!out[0]) {
        fprintf(stderr, "flbench data export: --out: expected the .npy file to write, found none\n");
        return 2;
    }
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    o.data_root = data_root[0] ? data_root : NULL;
    o.dataset_dir = root[0] ? root : NULL;
    o.shots = shots;
    o.seed = seed;
    o.image_size = image_size;
    fl_images tr, te;
    fl_err err = {{0}};
    if (fl_dataset_open(name, &o, &tr, &te, NULL, &err)) {
        fprintf(stderr, "flbench data export: %s\n", err.msg);
        return 1;
    }
    const fl_images* d = split ? &te : &tr;
    int64_t n = limit > 0 && limit < d->n ? (int64_t)limit : d->n;
    int64_t dim = fl_images_dim(d);
    int64_t* idx = (int64_t*)fl_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    float* x = (float*)fl_malloc(sizeof(float) * (size_t)(n > 0 && dim > 0 ? n * dim : 1));
    for (int64_t i = 0; i < n; i += 1024) fl_images_batch(d, idx + i, (int)(n - i < 1024 ? n - i : 1024), x + i * dim);
    int64_t shape[4] = {n, d->c, d->h, d->w};
    rc = fl_npy_write_f32(out, 4, shape, x, &err);
    if (!rc && labels[0]) rc = fl_npy_write_i32(labels, 1, shape, d->labels, &err);
    if (rc) {
        fprintf(stderr, "flbench data export: %s\n", err.msg);
    } else {
        printf("wrote %s: (%" PRId64 ", %d, %d, %d) float32, %s split, (x/255 - mean) / std with mean (", out, n,
               d->c, d->h, d->w, split ? "test" : "train");
        for (int c = 0; c < d->c && c < 4; c++) printf("%s%.4f", c ? ", " : "", d->mean[c]);
        printf(") std (");
        for (int c = 0; c < d->c && c < 4; c++) printf("%s%.4f", c ? ", " : "", d->std[c]);
        printf(")\n");
        if (labels[0]) printf("wrote %s: (%" PRId64 ",) int32\n", labels, n);
    }
    free(x);
    free(idx);
    fl_images_free(&tr);
    fl_images_free(&te);
    return rc ? 1 : 0;
}
