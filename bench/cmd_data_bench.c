// cmd_data_bench.c: `flbench data bench`, the decode + resize benchmark (what building a
// cache costs per image). Options (the table in fl_bench_images):
//     --dataset NAME [--data-root R] [--root DIR]   real files: images spread over the test split
//     (default) synthetic JPEGs made in memory: --width 500 --height 375 --quality 90 (4:2:0,
//               ImageNet's typical size and encoding)
//     --n N (256 images per pass)  --size S (224)  --mode square|crop  --threads T (0: all)
//     --min-time SEC (1.0: each measurement repeats passes until this long)
// Prints images/s with 1 thread and with T threads, and for 1 thread the split between
// decoding and resizing. Synthetic images decode from memory (no I/O); dataset images are
// read from their files (page cache after the warm-up pass).
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>
#include <omp.h>
#include "../datasets/internal.h"
#include "args.h"
#include "cli.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"  // long paths are cut, never overflowed

typedef struct {
    uint8_t* data;
    size_t len;
    char path[1400];
} fl_bench_src;

// A photo-like image: smooth colour fields, edges and fine noise, so the JPEG has the size and
// entropy of real photographs rather than of a flat test card.
static void fl_bench_make_jpeg(int w, int h, int quality, uint32_t seed, fl_bench_src* s) {
    uint8_t* pix = (uint8_t*)fl_malloc((size_t)w * h * 3);
    uint32_t r = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            for (int c = 0; c < 3; c++) {
                r = r * 1664525u + 1013904223u;
                double v = 128 + 60 * sin((x * (0.02 + 0.01 * c) + y * 0.013) + seed) +
                           40 * cos(y * (0.031 + 0.005 * c) - x * 0.007) + ((x / 37 + y / 29) % 2 ? 25 : -25) +
                           (double)((r >> 24) % 24) - 12;
                pix[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    unsigned char* buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&ci, &buf, &len);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);  // 4:2:0 chroma subsampling, as cameras and ImageNet use
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = pix + (size_t)ci.next_scanline * w * 3;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(pix);
    s->data = (uint8_t*)fl_malloc(len);
    memcpy(s->data, buf, len);
    s->len = len;
    free(buf);
}

// One timed measurement: passes over the n sources until min_time has elapsed.
// what: 0 decode + preprocess, 1 decode only, 2 preprocess only (of pre-decoded images).
static double fl_bench_run(fl_bench_src* src, int n_src, int n, const fl_preproc* pp, int threads,
                           double min_time, int what, fl_image* decoded, int* failed) {
    int S = pp->size;
    int64_t done = 0;
    double t0 = fl_now(), t = t0;
    *failed = 0;
    do {
        int bad = 0;
#pragma omp parallel num_threads(threads) reduction(+ : bad)
        {
            uint8_t* out = (uint8_t*)fl_malloc((size_t)3 * S * S);
#pragma omp for schedule(dynamic, 4)
            for (int i = 0; i < n; i++) {
                fl_bench_src* s = &src[i % n_src];
                fl_err e;
                const char* name = s->data ? "synthetic" : s->path;
                if (what == 2) {
                    bad += fl_preprocess(&decoded[i % n_src], pp, name, out, &e) != 0;
                    continue;
                }
                fl_image im;
                int rc = s->data ? fl_image_decode(s->data, s->len, name, 3, &im, &e)
                                 : fl_image_read(s->path, 3, &im, &e);
                if (rc) {
                    bad++;
                    continue;
                }
                if (what == 0) bad += fl_preprocess(&im, pp, name, out, &e) != 0;
                fl_image_free(&im);
            }
            free(out);
        }
        *failed += bad;
        done += n;
        t = fl_now();
    } while (t - t0 < min_time);
    return (double)done / (t - t0);
}

int fl_bench_images(int argc, char** argv) {
    char dataset_s[64] = "", data_root[1024] = "", dataset_dir[1024] = "";
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    int n = 256, S = 224, threads = 0, w = 500, h = 375, quality = 90, mode_i = 0;
    float min_time_f = 1.0f;
    const fl_opt opts[] = {
        {"dataset", FL_OPT_STR, dataset_s, sizeof dataset_s, NULL, "decode this dataset's files (test split) instead of synthetic JPEGs"},
        {"data-root", FL_OPT_STR, data_root, sizeof data_root, NULL, "where the datasets live (default $FLBENCH_DATA, else datasets/data)"},
        {"root", FL_OPT_STR, dataset_dir, sizeof dataset_dir, NULL, "the dataset's own folder"},
        {"n", FL_OPT_INT, &n, 0, NULL, "images per pass (default 256)"},
        {"size", FL_OPT_INT, &S, 0, NULL, "output size S x S (default 224)"},
        {"mode", FL_OPT_CHOICE, &mode_i, 0, "square|crop", "resize to S x S (HF ViT, default) or shorter side + center crop"},
        {"threads", FL_OPT_INT, &threads, 0, NULL, "threads of the second measurement (default 0: all)"},
        {"width", FL_OPT_INT, &w, 0, NULL, "synthetic JPEG width (default 500)"},
        {"height", FL_OPT_INT, &h, 0, NULL, "synthetic JPEG height (default 375)"},
        {"quality", FL_OPT_INT, &quality, 0, NULL, "synthetic JPEG quality 1..100 (default 90)"},
        {"min-time", FL_OPT_FLOAT, &min_time_f, 0, NULL, "seconds each measurement repeats passes for (default 1.0)"},
    };
    // words that are not options (the CLI's own: "bench") are collected and ignored
    char** words = (char**)fl_calloc((size_t)argc + 1, sizeof(char*));
    int n_words = 0;
    int rc = fl_parse_opts("data bench", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 0, words, argc, &n_words);
    free(words);
    if (rc) return rc == 1 ? 0 : rc;
    const char* dataset = dataset_s[0] ? dataset_s : NULL;
    if (data_root[0]) o.data_root = data_root;
    if (dataset_dir[0]) o.dataset_dir = dataset_dir;
    double min_time = min_time_f;
    fl_resize_mode mode = mode_i ? FL_RESIZE_SHORT_CROP : FL_RESIZE_SQUARE;
    if (n <= 0 || S <= 0 || S > 4096 || w <= 0 || h <= 0 || quality < 1 || quality > 100) {
        fprintf(stderr, "flbench data bench: --n, --size, --width, --height must be positive, --quality 1..100\n");
        return 2;
    }
    if (threads <= 0) threads = omp_get_max_threads();
    fl_preproc pp = {S, mode, mode == FL_RESIZE_SHORT_CROP ? 0.875f : 0.0f};

    int n_src;
    fl_bench_src* src;
    char what[512];
    if (dataset) {
        char root[1100];
        const char* R = o.data_root ? o.data_root : getenv("FLBENCH_DATA");
        if (!R || !R[0]) R = "datasets/data";
        if (o.dataset_dir) snprintf(root, sizeof root, "%s", o.dataset_dir);
        else snprintf(root, sizeof root, "%s/%s", R, dataset);
        fl_layout lay;
        fl_listing L;
        fl_err err;
        if (fl_detect_layout(dataset, root, &o, &lay, &err) || fl_list_dataset(&lay, &o, &L, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        if (lay.is_array) {
            fprintf(stderr, "flbench data bench: %s is stored as raw pixels; nothing to decode\n", dataset);
            fl_listing_free(&L);
            return 2;
        }
        n_src = L.test.n < n ? (int)L.test.n : n;
        src = (fl_bench_src*)fl_calloc((size_t)n_src, sizeof *src);
        int64_t step = L.test.n / n_src;
        for (int i = 0; i < n_src; i++)
            snprintf(src[i].path, sizeof src[i].path, "%s/%s", lay.image_dir, L.test.v[i * step].path);
        snprintf(what, sizeof what, "%s: %d test images (files)", dataset, n_src);
        fl_listing_free(&L);
    } else {
        n_src = n < 32 ? n : 32;
        src = (fl_bench_src*)fl_calloc((size_t)n_src, sizeof *src);
        size_t bytes = 0;
        for (int i = 0; i < n_src; i++) {
            fl_bench_make_jpeg(w, h, quality, (uint32_t)i, &src[i]);
            bytes += src[i].len;
        }
        snprintf(what, sizeof what, "synthetic %dx%d JPEG q%d 4:2:0, %d distinct (avg %.0f KB), from memory",
                 w, h, quality, n_src, (double)bytes / n_src / 1024.0);
    }
    // Pre-decoded copies for the resize-only measurement (and a warm-up pass over the files).
    fl_image* dec = (fl_image*)fl_calloc((size_t)n_src, sizeof(fl_image));
    for (int i = 0; i < n_src; i++) {
        fl_err e;
        int rc = src[i].data ? fl_image_decode(src[i].data, src[i].len, "synthetic", 3, &dec[i], &e)
                             : fl_image_read(src[i].path, 3, &dec[i], &e);
        if (rc) {
            fprintf(stderr, "flbench data bench: %s\n", e.msg);
            return 1;
        }
    }
    printf("bench images: %s -> %dx%d %s, %d images per pass\n", what, S, S,
           mode == FL_RESIZE_SQUARE ? "square (HF ViT)" : "shorter side + center crop", n);
    int failed;
    double r1 = fl_bench_run(src, n_src, n, &pp, 1, min_time, 0, dec, &failed);
    double d1 = fl_bench_run(src, n_src, n, &pp, 1, min_time, 1, dec, &failed);
    double p1 = fl_bench_run(src, n_src, n, &pp, 1, min_time, 2, dec, &failed);
    printf("  decode+resize, 1 thread:   %8.1f images/s  (%.2f ms/image: decode %.2f, resize %.2f)\n",
           r1, 1e3 / r1, 1e3 / d1, 1e3 / p1);
    if (threads > 1) {
        double rt = fl_bench_run(src, n_src, n, &pp, threads, min_time, 0, dec, &failed);
        printf("  decode+resize, %d threads: %8.1f images/s  (%.2fx)\n", threads, rt, rt / r1);
    }
    if (failed) printf("  %d images failed to decode or preprocess\n", failed);
    for (int i = 0; i < n_src; i++) {
        free(src[i].data);
        fl_image_free(&dec[i]);
    }
    free(dec);
    free(src);
    return failed ? 1 : 0;
}
