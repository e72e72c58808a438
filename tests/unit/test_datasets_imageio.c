// test_datasets_imageio.c: JPEG and PNG decoding (gray, RGB, CMYK, alpha, broken files) on
// fixtures written here with libjpeg and libpng, and the PIL-convention resampling and
// center-crop preprocessing (only the crop resampled: same bytes, bounded memory, absurd sizes
// refused).
#include "../test.h"
#include "../../datasets/imageio.h"
#include <jpeglib.h>
#include <ftw.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>

static char* tpath(const char* name) {
    static char bufs[8][512];
    static int next;
    char* p = bufs[next++ & 7];
    snprintf(p, 512, "%s/%s", t_tmpdir(), name);
    return p;
}

// A smooth pattern (JPEG-friendly) or a noisy one (PNG, lossless).
static uint8_t* pattern(int w, int h, int c, int noisy) {
    uint8_t* p = malloc((size_t)w * h * c);
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                s = s * 1664525u + 1013904223u;
                p[((size_t)y * w + x) * c + k] =
                    noisy ? (uint8_t)(s >> 24) : (uint8_t)(x * 120 / (w - 1) + y * 60 / h + k * 30);
            }
    return p;
}

// A reference decode with plain libjpeg defaults (what PIL does), to RGB or gray as stored.
static uint8_t* ref_decode_jpeg(const char* path, int* w, int* h, int* c) {
    FILE* f = fopen(path, "rb");
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr je;
    ci.err = jpeg_std_error(&je);
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    jpeg_start_decompress(&ci);
    *w = ci.output_width; *h = ci.output_height; *c = ci.output_components;
    uint8_t* p = malloc((size_t)*w * *h * *c);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = p + (size_t)ci.output_scanline * *w * *c;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    fclose(f);
    return p;
}

static void test_png_exact(void) {
    fl_err err = {{0}};
    fl_image im;
    // RGB noise: lossless, so every byte must come back.
    uint8_t* rgb = pattern(37, 23, 3, 1);
    CHECK(fl_write_png(tpath("rgb.png"), rgb, 37, 23, 3, &err) == 0, "%s", err.msg);
    CHECK(fl_image_read(tpath("rgb.png"), 3, &im, &err) == 0, "%s", err.msg);
    CHECK(im.w == 37 && im.h == 23 && im.c == 3 && memcmp(im.pix, rgb, 37 * 23 * 3) == 0, "rgb png differs");
    fl_image_free(&im);
    // Gray -> RGB replicates; gray -> gray is exact.
    uint8_t* g = pattern(19, 11, 1, 1);
    CHECK(fl_write_png(tpath("g.png"), g, 19, 11, 1, &err) == 0, "%s", err.msg);
    CHECK(fl_image_read(tpath("g.png"), 3, &im, &err) == 0, "%s", err.msg);
    int bad = 0;
    for (int i = 0; i < 19 * 11; i++) bad += im.pix[3 * i] != g[i] || im.pix[3 * i + 1] != g[i] || im.pix[3 * i + 2] != g[i];
    CHECK(bad == 0, "%d gray pixels not replicated", bad);
    fl_image_free(&im);
    CHECK(fl_image_read(tpath("g.png"), 1, &im, &err) == 0 && memcmp(im.pix, g, 19 * 11) == 0, "gray png");
    fl_image_free(&im);
    // RGBA: alpha is dropped (PIL's convert("RGB")), colour kept.
    uint8_t* rgba = pattern(8, 5, 4, 1);
    CHECK(fl_write_png(tpath("a.png"), rgba, 8, 5, 4, &err) == 0, "%s", err.msg);
    CHECK(fl_image_read(tpath("a.png"), 3, &im, &err) == 0, "%s", err.msg);
    bad = 0;
    for (int i = 0; i < 40; i++)
        for (int k = 0; k < 3; k++) bad += im.pix[3 * i + k] != rgba[4 * i + k];
    CHECK(bad == 0, "%d rgba pixels differ", bad);
    fl_image_free(&im);
    // RGB -> L uses PIL's luma: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
    CHECK(fl_image_read(tpath("rgb.png"), 1, &im, &err) == 0, "%s", err.msg);
    uint8_t want = (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
    CHECK(im.c == 1 && im.pix[0] == want, "luma %d vs %d", im.pix[0], want);
    fl_image_free(&im);
    free(rgb); free(g); free(rgba);
}

static void test_jpeg_decode(void) {
    fl_err err = {{0}};
    fl_image im;
    // Gray constant at quality 100: DC-only blocks with unit quantisation decode exactly.
    uint8_t gray[16 * 16];
    memset(gray, 137, sizeof gray);
    CHECK(fl_write_jpeg(tpath("g.jpg"), gray, 16, 16, 1, 100, &err) == 0, "%s", err.msg);
    CHECK(fl_image_read(tpath("g.jpg"), 3, &im, &err) == 0, "%s", err.msg);
    int bad = 0;
    for (int i = 0; i < 16 * 16 * 3; i++) bad += im.pix[i] != 137;
    CHECK(im.c == 3 && bad == 0, "gray jpeg -> rgb: %d bytes differ from 137", bad);
    fl_image_free(&im);
    // RGB: exactly what libjpeg's defaults give (as PIL decodes), and close to what was written:
    // a smooth image at quality 95 without chroma subsampling stays within 4 levels (2 measured).
    uint8_t* rgb = pattern(48, 40, 3, 0);
    CHECK(fl_write_jpeg(tpath("rgb.jpg"), rgb, 48, 40, 3, 95, &err) == 0, "%s", err.msg);
    CHECK(fl_image_read(tpath("rgb.jpg"), 3, &im, &err) == 0, "%s", err.msg);
    int w, h, c;
    uint8_t* ref = ref_decode_jpeg(tpath("rgb.jpg"), &w, &h, &c);
    CHECK(w == im.w && h == im.h && c == 3 && memcmp(ref, im.pix, (size_t)w * h * 3) == 0, "differs from libjpeg's decode");
    int maxd = 0;
    for (int i = 0; i < 48 * 40 * 3; i++) { int d = abs(im.pix[i] - rgb[i]); if (d > maxd) maxd = d; }
    CHECK(maxd <= 4, "max deviation %d from the written pixels", maxd);
    free(ref);
    fl_image_free(&im);
    free(rgb);
    // CMYK (Adobe, as Photoshop writes them in Caltech101/ImageNet): read as inverted CMYK,
    // converted by PIL's cmyk2rgb. Constant blocks at quality 100 decode exactly.
    uint8_t cmyk[8 * 8 * 4];
    const uint8_t px[4] = {10, 200, 50, 220};
    for (int i = 0; i < 64; i++) memcpy(cmyk + 4 * i, px, 4);
    CHECK(fl_write_jpeg(tpath("cmyk.jpg"), cmyk, 8, 8, 4, 100, &err) == 0, "%s", err.msg);
    CHECK(fl_image_read(tpath("cmyk.jpg"), 3, &im, &err) == 0, "%s", err.msg);
    // Stored values are Adobe-inverted: C = 255 - 10 = 245, nk = 255 - K = 220;
    // R = nk - round(C * nk / 255) = 220 - 211 = 9; G: M = 55 -> 220 - 47 = 173;
    // B: Y = 205 -> 220 - 177 = 43 (rounding of 211.37, 47.45, 176.86).
    CHECK(im.c == 3 && im.pix[0] == 9 && im.pix[1] == 173 && im.pix[2] == 43,
          "cmyk -> rgb gave %d %d %d, expected 9 173 43", im.pix[0], im.pix[1], im.pix[2]);
    CHECK(im.pix[3 * 63] == 9 && im.pix[3 * 63 + 1] == 173, "last pixel");
    fl_image_free(&im);
    // Probe reads only the header.
    int pw, ph, pc;
    const char* fmt;
    CHECK(fl_image_probe(tpath("cmyk.jpg"), &pw, &ph, &pc, &fmt, &err) == 0 && pw == 8 && ph == 8 && pc == 4 && !strcmp(fmt, "jpeg"), "probe jpeg");
    CHECK(fl_image_probe(tpath("a.png"), &pw, &ph, &pc, &fmt, &err) == 0 && pw == 8 && ph == 5 && pc == 4 && !strcmp(fmt, "png"), "probe png");
    // A PNG header's size is 1 .. 2^31 - 1 each: 0xFFFFFFFF wide (which came back as -1) and 0 high are refused.
    static const uint8_t bad_ihdr[2][26] = {
        {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 5, 8, 2},
        {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 8, 0, 0, 0, 0, 8, 2},
    };
    for (int t = 0; t < 2; t++) {
        t_write_bytes(tpath("ihdr.png"), bad_ihdr[t], sizeof bad_ihdr[t]);
        pw = ph = 0;
        int rc = fl_image_probe(tpath("ihdr.png"), &pw, &ph, &pc, &fmt, &err);
        CHECK(rc == -1, "probe of a %s PNG size returned %d (%dx%d)", t ? "zero" : "2^32 - 1", rc, pw, ph);
        CHECK(strstr(err.msg, "ihdr.png: byte 16: PNG size") && strstr(err.msg, t ? "8x0" : "4294967295x5") &&
                  strstr(err.msg, "expected 1..2147483647 each"),
              "message: %s", err.msg);
    }
}

static void expect_fail(const char* path, const char* needle) {
    fl_err err = {{0}};
    fl_image im;
    int rc = fl_image_read(path, 3, &im, &err);
    CHECK(rc == -1 && im.pix == NULL, "%s should fail", path);
    CHECK(strstr(err.msg, path) != NULL, "message '%s' does not name the file", err.msg);
    CHECK(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    CHECK(strchr(err.msg, '\n') == NULL, "one line");
}

static void cut_file(const char* src, const char* dst, long keep) {
    FILE* f = fopen(src, "rb");
    FILE* g = fopen(dst, "wb");
    for (long i = 0; i < keep; i++) { int ch = fgetc(f); if (ch == EOF) break; fputc(ch, g); }
    fclose(f);
    fclose(g);
}

static void test_broken_files(void) {
    fl_err err = {{0}};
    uint8_t* rgb = pattern(64, 64, 3, 1);
    CHECK(fl_write_jpeg(tpath("n.jpg"), rgb, 64, 64, 3, 90, &err) == 0, "%s", err.msg);
    CHECK(fl_write_png(tpath("n.png"), rgb, 64, 64, 3, &err) == 0, "%s", err.msg);
    struct stat st;
    stat(tpath("n.jpg"), &st);
    cut_file(tpath("n.jpg"), tpath("cut.jpg"), st.st_size / 2);
    expect_fail(tpath("cut.jpg"), "broken JPEG: truncated");
    cut_file(tpath("n.jpg"), tpath("hdr.jpg"), 40);
    expect_fail(tpath("hdr.jpg"), "broken JPEG");
    // Garbage after the SOI marker: libjpeg's own error, with the byte offset.
    FILE* f = fopen(tpath("junk.jpg"), "wb");
    fwrite("\xFF\xD8\xFF\x01garbagegarbagegarbage", 1, 25, f);
    fclose(f);
    expect_fail(tpath("junk.jpg"), "broken JPEG near byte");
    f = fopen(tpath("text.jpg"), "wb");
    fputs("hello, not an image", f);
    fclose(f);
    expect_fail(tpath("text.jpg"), "not a JPEG or PNG");
    stat(tpath("n.png"), &st);
    cut_file(tpath("n.png"), tpath("cut.png"), st.st_size / 2);
    expect_fail(tpath("cut.png"), "broken PNG");
    expect_fail(tpath("missing.jpg"), "cannot open");
    free(rgb);
}

// Separable triangle filter in double, support scaled by the downscale factor: the textbook
// definition PIL implements in fixed point. Used to check fl_resample_u8 within 1 level
// (the fixed point rounds once per pass).
static void ref_resample(const uint8_t* src, int sw, int sh, double* dst, int dw, int dh) {
    double* tmp = malloc(sizeof(double) * dw * sh);
    for (int pass = 0; pass < 2; pass++) {
        int in = pass ? sh : sw, out = pass ? dh : dw;
        double scale = (double)in / out, fs = scale < 1 ? 1 : scale;
        for (int o = 0; o < out; o++) {
            double center = (o + 0.5) * scale, ws = 0, acc[4096 / 8];
            int n_other = pass ? dw : sh;
            for (int j = 0; j < n_other; j++) acc[j] = 0;
            for (int i = 0; i < in; i++) {
                double wgt = 1 - fabs((i + 0.5 - center) / fs);
                if (wgt <= 0) continue;
                ws += wgt;
                for (int j = 0; j < n_other; j++)
                    acc[j] += wgt * (pass ? tmp[(size_t)i * dw + j] : src[(size_t)j * sw + i]);
            }
            for (int j = 0; j < n_other; j++) {
                if (pass) dst[(size_t)o * dw + j] = acc[j] / ws;
                else tmp[(size_t)j * dw + o] = acc[j] / ws;
            }
        }
    }
    free(tmp);
}

static void test_resample(void) {
    // Known answer (worked by hand from PIL's definition): 4 -> 2 pixels, scale 2, support 2:
    // out0 taps x=0..2 with weights 3/7, 3/7, 1/7 -> 0*3/7 + 70*3/7 + 140/7 = 50;
    // out1 taps x=1..3 with 1/7, 3/7, 3/7 -> 10 + 60 + 90 = 160. (A 2x box filter gives 35, 175.)
    uint8_t row[4] = {0, 70, 140, 210}, out2[2];
    fl_resample_u8(row, 4, 1, 1, NULL, out2, 2, 1);
    CHECK(out2[0] == 50 && out2[1] == 160, "4->2 gave %d %d, expected 50 160", out2[0], out2[1]);
    // Identity and constants.
    uint8_t* img = pattern(31, 17, 3, 1);
    uint8_t* same = malloc(31 * 17 * 3);
    fl_resample_u8(img, 31, 17, 3, NULL, same, 31, 17);
    CHECK(memcmp(img, same, 31 * 17 * 3) == 0, "identity resize changed pixels");
    uint8_t flat[50 * 30], flat_out[224 * 224];
    memset(flat, 201, sizeof flat);
    fl_resample_u8(flat, 50, 30, 1, NULL, flat_out, 224, 224);
    int bad = 0;
    for (int i = 0; i < 224 * 224; i++) bad += flat_out[i] != 201;
    CHECK(bad == 0, "constant image not constant after resize (%d)", bad);
    // Down (antialiased) and up, against the double-precision reference, within 1 level.
    int cases[3][4] = {{97, 61, 24, 24}, {20, 13, 64, 48}, {300, 200, 224, 224}};
    for (int t = 0; t < 3; t++) {
        int sw = cases[t][0], sh = cases[t][1], dw = cases[t][2], dh = cases[t][3];
        uint8_t* src = pattern(sw, sh, 1, 1);
        uint8_t* got = malloc((size_t)dw * dh);
        double* want = malloc(sizeof(double) * dw * dh);
        fl_resample_u8(src, sw, sh, 1, NULL, got, dw, dh);
        ref_resample(src, sw, sh, want, dw, dh);
        double maxd = 0;
        for (int i = 0; i < dw * dh; i++) { double d = fabs(got[i] - want[i]); if (d > maxd) maxd = d; }
        CHECK(maxd <= 1.0, "%dx%d -> %dx%d: max deviation %.3f from the reference", sw, sh, dw, dh, maxd);
        free(src); free(got); free(want);
    }
    free(img); free(same);
}

static void test_preprocess(void) {
    // Square: (c, S, S) planar of the resized image.
    fl_image im = {40, 20, 3, pattern(40, 20, 3, 1)};
    fl_preproc sq = {8, FL_RESIZE_SQUARE, 0};
    uint8_t out[3 * 8 * 8], hwc[8 * 8 * 3];
    fl_err err = {{0}};
    CHECK(fl_preprocess(&im, &sq, "sq", out, &err) == 0, "%s", err.msg);
    fl_resample_u8(im.pix, 40, 20, 3, NULL, hwc, 8, 8);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 64; i++) bad += out[c * 64 + i] != hwc[i * 3 + c];
    CHECK(bad == 0, "square preprocessing is not the planar resize (%d)", bad);
    // Short side + crop: S = 8, crop_pct 0.5 -> shorter side 16, 40x20 -> 32x16, crop at
    // (top 4, left 12).
    fl_preproc sc = {8, FL_RESIZE_SHORT_CROP, 0.5f};
    uint8_t big[32 * 16 * 3];
    CHECK(fl_preprocess(&im, &sc, "sc", out, &err) == 0, "%s", err.msg);
    fl_resample_u8(im.pix, 40, 20, 3, NULL, big, 32, 16);
    bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) bad += out[(c * 8 + y) * 8 + x] != big[((y + 4) * 32 + x + 12) * 3 + c];
    CHECK(bad == 0, "short-crop differs (%d)", bad);
    fl_image_free(&im);
    // torchvision's crop offset rounds half to even: 13 -> 8 starts at 2 (2.5), 15 -> 8 at 4
    // (3.5). crop_pct chosen so the shorter side stays 13 (resp. 15): no resampling.
    for (int t = 0; t < 2; t++) {
        int n = t ? 15 : 13, want = t ? 4 : 2;
        fl_image sq_im = {n, n, 1, pattern(n, n, 1, 1)};
        fl_preproc p = {8, FL_RESIZE_SHORT_CROP, 8.0f / (n + 0.5f)};
        uint8_t o[64];
        CHECK(fl_preprocess(&sq_im, &p, "odd", o, &err) == 0, "%s", err.msg);
        CHECK(o[0] == sq_im.pix[want * n + want] && o[63] == sq_im.pix[(want + 7) * n + want + 7],
              "crop offset for %d -> 8 should be %d", n, want);
        fl_image_free(&sq_im);
    }
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

// FNV-1a of a buffer: pins outputs bit for bit.
static uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

// Short-crop by the straightforward route: the whole image resized to (nh, nw) as torchvision
// sizes it, then the S x S center cut out, planar.
static void ref_short_crop(const fl_image* im, int S, float pct, uint8_t* out) {
    int T = (int)floor((double)S / pct), c = im->c;
    if (T < S) T = S;
    int nw = im->w <= im->h ? T : (int)((double)T * im->w / im->h);
    int nh = im->w <= im->h ? (int)((double)T * im->h / im->w) : T;
    uint8_t* big = malloc((size_t)nw * nh * c);
    fl_resample_u8(im->pix, im->w, im->h, c, NULL, big, nw, nh);
    // torchvision's offsets, round half to even of (size - S) / 2
    int dt = nh - S, dl = nw - S;
    int top = dt % 2 == 0 ? dt / 2 : (dt / 2) % 2 == 0 ? dt / 2 : dt / 2 + 1;
    int left = dl % 2 == 0 ? dl / 2 : (dl / 2) % 2 == 0 ? dl / 2 : dl / 2 + 1;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                out[((size_t)ch * S + y) * S + x] = big[(((size_t)y + top) * nw + x + left) * c + ch];
    free(big);
}

static void test_crop_before_resize(void) {
    // Only the crop is resampled now. Ordinary and elongated images give the same bytes as
    // before: FNV-1a of fl_preprocess's output recorded from the full resize + crop of the
    // previous revision, and the same bytes as the straightforward route here.
    static const struct { int S, pct_milli, w, h, c; uint64_t before; } cases[] = {
        {8, 500, 40, 20, 3, 0x6f0d37f6aac963ffull},    {16, 875, 53, 37, 3, 0x5e511994b365bde8ull},
        {16, 875, 11, 29, 1, 0x6e0b1bd4921938d6ull},   {24, 875, 300, 200, 3, 0xb3b08bc6fe9d0273ull},
        {24, 875, 200, 300, 1, 0x25bd31d8ae3f7193ull}, {7, 900, 101, 13, 3, 0x234e1abcef2f7f95ull},
        {10, 875, 9, 9, 3, 0xa165dceb7eb2bc6full},     {16, 875, 2000, 3, 3, 0x60eb0066cc5205d2ull},
        {16, 875, 2, 1500, 1, 0xb09b9591812021ceull},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int S = cases[t].S, c = cases[t].c;
        fl_image im = {cases[t].w, cases[t].h, c, pattern(cases[t].w, cases[t].h, c, 1)};
        fl_preproc p = {S, FL_RESIZE_SHORT_CROP, cases[t].pct_milli / 1000.0f};
        uint8_t* got = malloc((size_t)c * S * S);
        uint8_t* want = malloc((size_t)c * S * S);
        fl_err err = {{0}};
        CHECK(fl_preprocess(&im, &p, "case", got, &err) == 0, "%s", err.msg);
        ref_short_crop(&im, S, p.crop_pct, want);
        uint64_t h = fnv1a(got, (size_t)c * S * S);
        CHECK(h == cases[t].before, "%dx%d c %d at %d: hash 0x%016llx, before 0x%016llx", im.w, im.h, c, S,
              (unsigned long long)h, (unsigned long long)cases[t].before);
        CHECK(memcmp(got, want, (size_t)c * S * S) == 0, "%dx%d c %d at %d differs from resize + crop", im.w,
              im.h, c, S);
        free(got); free(want); fl_image_free(&im);
    }
    // A window of a resize is the resize cut: width and height each kept or changed, a box.
    static const int rs[5][11] = {
        // sw, sh, c, dw, dh, ox, oy, ow, oh, box?
        {37, 23, 3, 91, 11, 30, 2, 17, 7, 0}, {37, 23, 1, 37, 50, 5, 9, 20, 30, 0},
        {37, 23, 3, 12, 23, 1, 3, 10, 15, 0}, {37, 23, 3, 37, 23, 4, 4, 9, 9, 0},
        {37, 23, 1, 40, 40, 7, 11, 25, 21, 1},
    };
    for (int t = 0; t < 5; t++) {
        const int* r = rs[t];
        uint8_t* src = pattern(r[0], r[1], r[2], 1);
        uint8_t* full = malloc((size_t)r[3] * r[4] * r[2]);
        uint8_t* win = malloc((size_t)r[7] * r[8] * r[2]);
        float box[4] = {2.5f, 1.0f, 30.0f, 20.5f};
        fl_resample_u8(src, r[0], r[1], r[2], r[9] ? box : NULL, full, r[3], r[4]);
        fl_resample_window_u8(src, r[0], r[1], r[2], r[9] ? box : NULL, r[3], r[4], r[5], r[6], r[7], r[8], win);
        int bad = 0;
        for (int y = 0; y < r[8]; y++)
            bad += memcmp(win + (size_t)y * r[7] * r[2], full + (((size_t)y + r[6]) * r[3] + r[5]) * r[2],
                          (size_t)r[7] * r[2]) != 0;
        CHECK(bad == 0, "window %d: %d rows differ from the cut resize", t, bad);
        free(src); free(full); free(win);
    }
}

// 65535 x 1 RGB at 224 (shorter side 256): the resized image would be 16776960 x 256, 12.9 GB.
static fl_image wide_image(void) {
    fl_image im = {65535, 1, 3, pattern(65535, 1, 3, 1)};
    return im;
}

static uint8_t wide_out[3 * 224 * 224];

static int preprocess_wide(void) {
    fl_image im = wide_image();
    fl_preproc p = {224, FL_RESIZE_SHORT_CROP, 0.875f};
    fl_err err = {{0}};
    int rc = fl_preprocess(&im, &p, "wide", wide_out, &err);
    fl_image_free(&im);
    return rc == 0;
}

static int alloc_what_the_resize_asks(void) {
    int null_fd = open("/dev/null", O_WRONLY);  // the failure expected here is reported on
    if (null_fd >= 0) dup2(null_fd, 2);          // stderr, which is only noise in this child
    uint8_t* volatile p = malloc((size_t)16776960 * 256 * 3);
    int ok = p != NULL;
    free(p);
    return ok;
}

static void test_extreme_aspect_bounded(void) {
    // The work is the crop's: 65535 x 1 preprocesses within a 256 MiB cap on the address
    // space, which does stop an allocation of the whole resized image (negative control).
    CHECK(within_memory_cap(preprocess_wide, (size_t)256 << 20),
          "65535x1 at 224 needs more than 256 MiB: the whole image is resized before cropping");
    CHECK(!within_memory_cap(alloc_what_the_resize_asks, (size_t)256 << 20),
          "a 12.9 GB allocation succeeded under the 256 MiB cap: the cap proves nothing");
    // The pixels: one source row, so every row of the crop is the width-only resize of it
    // (to 16776960 columns, 50 MB, cut at torchvision's left offset 8388368).
    CHECK(preprocess_wide(), "preprocessing 65535x1 failed");
    fl_image im = wide_image();
    uint8_t* row = malloc((size_t)16776960 * 3);
    fl_resample_u8(im.pix, 65535, 1, 3, NULL, row, 16776960, 1);
    int bad = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++) bad += wide_out[((size_t)ch * 224 + y) * 224 + x] != row[((size_t)8388368 + x) * 3 + ch];
    CHECK(bad == 0, "%d pixels differ from the width-only resize", bad);
    free(row);
    fl_image_free(&im);
}

static void test_absurd_size_refused(void) {
    // A resized side past INT_MAX is refused with one line naming the file: 4096 x 1 with the
    // shorter side to 2^20 (S 8, crop_pct 2^-17) would be 2^32 wide. 1024 x 1 (2^30) is read.
    uint8_t* px = pattern(4096, 1, 3, 1);
    fl_err err = {{0}};
    CHECK(fl_write_png(tpath("wide4096.png"), px, 4096, 1, 3, &err) == 0, "%s", err.msg);
    CHECK(fl_write_png(tpath("wide1024.png"), px, 1024, 1, 3, &err) == 0, "%s", err.msg);
    fl_preproc p = {8, FL_RESIZE_SHORT_CROP, 1.0f / 131072.0f};
    uint8_t out[3 * 8 * 8];
    int rc = fl_load_preprocessed(tpath("wide4096.png"), &p, 3, out, NULL, NULL, &err);
    CHECK(rc == -1, "4096x1 to a shorter side of 2^20 is refused");
    CHECK(strstr(err.msg, "wide4096.png: 4096x1 image") && strstr(err.msg, "shorter side to 1048576") &&
              strstr(err.msg, "longer one 4294967296; expected at most 2147483647") && !strchr(err.msg, '\n'),
          "message: %s", err.msg);
    rc = fl_load_preprocessed(tpath("wide1024.png"), &p, 3, out, NULL, NULL, &err);
    CHECK(rc == 0, "1024x1: %s", err.msg);
    int bad = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 1; y < 8; y++) bad += memcmp(out + (ch * 8 + y) * 8, out + ch * 64, 8) != 0;
    CHECK(rc || bad == 0, "rows of a one-row image differ (%d)", bad);
    free(px);
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) { return remove(path); }

int main(void) {
    RUN(test_png_exact);
    RUN(test_jpeg_decode);
    RUN(test_broken_files);
    RUN(test_resample);
    RUN(test_preprocess);
    RUN(test_crop_before_resize);
    RUN(test_extreme_aspect_bounded);
    RUN(test_absurd_size_refused);
    nftw(t_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
