// imageio.c: JPEG (libjpeg-turbo) and PNG (libpng) decoding and writing, and PIL-exact
// bilinear resampling. See imageio.h for the conventions and why they are these.
#include "imageio.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <limits.h>
#include <inttypes.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

// Largest decoded image accepted (pixels), so a corrupt header cannot ask for gigabytes.
#define FL_MAX_PIXELS (1u << 28)

void fl_image_free(fl_image* im) {
    if (!im) return;
    free(im->pix);
    memset(im, 0, sizeof *im);
}

// PIL's RGB -> L: ITU-R 601-2 luma in 16-bit fixed point.
static inline uint8_t fl_luma(const uint8_t* rgb) {
    return (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

// PIL's MULDIV255: a*b/255 rounded, in integers.
static inline int fl_muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

// Converts one decoded row of `comps` components to want_c in dst.
// comps: 1 gray, 3 RGB, 4 CMYK as stored (Adobe-inverted, as PIL's "CMYK;I" assumes).
static void fl_convert_row(const uint8_t* src, int comps, uint8_t* dst, int want_c, int w) {
    if (comps == want_c) {
        memcpy(dst, src, (size_t)w * comps);
    } else if (comps == 1) {  // want 3
        for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x];
    } else if (comps == 3) {  // want 1
        for (int x = 0; x < w; x++) dst[x] = fl_luma(src + 3 * x);
    } else {  // CMYK
        for (int x = 0; x < w; x++) {
            const uint8_t* p = src + 4 * x;
            int c = 255 - p[0], m = 255 - p[1], y = 255 - p[2], nk = p[3];  // nk = 255 - K
            uint8_t rgb[3];
            int r = nk - fl_muldiv255(c, nk), g = nk - fl_muldiv255(m, nk),
                b = nk - fl_muldiv255(y, nk);
            rgb[0] = (uint8_t)(r < 0 ? 0 : r);
            rgb[1] = (uint8_t)(g < 0 ? 0 : g);
            rgb[2] = (uint8_t)(b < 0 ? 0 : b);
            if (want_c == 3)
                memcpy(dst + 3 * x, rgb, 3);
            else
                dst[x] = fl_luma(rgb);
        }
    }
}

// ------------------------------------------------------------------------------ JPEG decode

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int premature_eof;
    char msg[JMSG_LENGTH_MAX];
} fl_jpeg_err;

static void fl_jpeg_error_exit(j_common_ptr cinfo) {
    fl_jpeg_err* e = (fl_jpeg_err*)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

// Warnings are silent, except a premature end of data, which makes the image an error (PIL
// refuses truncated images too); libjpeg would otherwise fill the rest with gray.
static void fl_jpeg_emit(j_common_ptr cinfo, int level) {
    fl_jpeg_err* e = (fl_jpeg_err*)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF && !e->premature_eof) {
            e->premature_eof = 1;
            (*cinfo->err->format_message)(cinfo, e->msg);
        }
        cinfo->err->num_warnings++;
    }
}

static int fl_decode_jpeg(const uint8_t* data, size_t len, const char* name, int want_c,
                          fl_image* out, fl_err* err) {
    struct jpeg_decompress_struct cinfo;
    fl_jpeg_err jerr;
    uint8_t* volatile pix = NULL;
    uint8_t* volatile row = NULL;
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = fl_jpeg_error_exit;
    jerr.pub.emit_message = fl_jpeg_emit;
    if (setjmp(jerr.jump)) {
        size_t off = cinfo.src ? len - cinfo.src->bytes_in_buffer : 0;
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row);
        return fl_fail(err, "%s: broken JPEG near byte %zu of %zu: %s", name, off, len, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    int comps;
    switch (cinfo.jpeg_color_space) {
        case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; comps = 1; break;
        case JCS_CMYK:
        case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; comps = 4; break;
        default: cinfo.out_color_space = JCS_RGB; comps = 3; break;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    if (w <= 0 || h <= 0 || (uint64_t)w * h > FL_MAX_PIXELS || cinfo.output_components != comps) {
        jpeg_destroy_decompress(&cinfo);
        return fl_fail(err, "%s: unsupported JPEG: %dx%d with %d components", name, w, h,
                       cinfo.output_components);
    }
    pix = (uint8_t*)fl_malloc((size_t)w * h * want_c);
    int direct = comps == want_c;
    if (!direct) row = (uint8_t*)fl_malloc((size_t)w * comps);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t* dst = pix + (size_t)cinfo.output_scanline * w * want_c;
        JSAMPROW r = direct ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) break;
        if (!direct) fl_convert_row(row, comps, dst, want_c, w);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (jerr.premature_eof) {
        free(pix);
        return fl_fail(err, "%s: broken JPEG: truncated at byte %zu (%s)", name, len, jerr.msg);
    }
    out->w = w;
    out->h = h;
    out->c = want_c;
    out->pix = pix;
    return 0;
}

// ------------------------------------------------------------------------------- PNG decode

typedef struct {
    const uint8_t* data;
    size_t len, pos;
    char msg[256];
} fl_png_src;

static void fl_png_read_fn(png_structp png, png_bytep buf, png_size_t n) {
    fl_png_src* s = (fl_png_src*)png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        snprintf(s->msg, sizeof s->msg, "truncated: needed %zu bytes at byte %zu of %zu",
                 (size_t)n, s->pos, s->len);
        png_longjmp(png, 1);
    }
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
}

static void fl_png_error_fn(png_structp png, png_const_charp msg) {
    fl_png_src* s = (fl_png_src*)png_get_error_ptr(png);
    if (!s->msg[0]) snprintf(s->msg, sizeof s->msg, "%s (near byte %zu)", msg, s->pos);
    png_longjmp(png, 1);
}

static void fl_png_warn_fn(png_structp png, png_const_charp msg) {}

static int fl_decode_png(const uint8_t* data, size_t len, const char* name, int want_c,
                         fl_image* out, fl_err* err) {
    fl_png_src src = {data, len, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, fl_png_error_fn,
                                             fl_png_warn_fn);
    if (!png) return fl_fail(err, "%s: libpng could not start", name);
    png_infop info = png_create_info_struct(png);
    uint8_t* volatile buf = NULL;
    png_bytep* volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(buf);
        free(rows);
        return fl_fail(err, "%s: broken PNG: %s", name, src.msg[0] ? src.msg : "libpng error");
    }
    png_set_read_fn(png, &src, fl_png_read_fn);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    if ((uint64_t)w * h > FL_MAX_PIXELS) {
        snprintf(src.msg, sizeof src.msg, "image too large: %ux%u", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    // To 8-bit gray or RGB: palette -> RGB, low bit depths -> 8, 16-bit -> its high byte,
    // alpha dropped (as PIL's convert("RGB") drops it).
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int comps = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((comps != 1 && comps != 3) || rowbytes != (size_t)w * comps) {
        snprintf(src.msg, sizeof src.msg, "unsupported PNG layout (%d channels)", comps);
        png_longjmp(png, 1);
    }
    buf = (uint8_t*)fl_malloc(rowbytes * h);
    rows = (png_bytep*)fl_malloc(sizeof(png_bytep) * h);
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (comps == want_c) {
        out->pix = buf;
    } else {
        out->pix = (uint8_t*)fl_malloc((size_t)w * h * want_c);
        for (png_uint_32 y = 0; y < h; y++)
            fl_convert_row(buf + y * rowbytes, comps, out->pix + (size_t)y * w * want_c, want_c,
                           (int)w);
        free(buf);
    }
    out->w = (int)w;
    out->h = (int)h;
    out->c = want_c;
    return 0;
}

// ------------------------------------------------------------------------------ dispatch

int fl_image_decode(const uint8_t* data, size_t len, const char* name, int want_c, fl_image* out,
                    fl_err* err) {
    memset(out, 0, sizeof *out);
    if (want_c != 1 && want_c != 3) return fl_fail(err, "%s: want_c must be 1 or 3", name);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return fl_decode_jpeg(data, len, name, want_c, out, err);
    if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
        return fl_decode_png(data, len, name, want_c, out, err);
    if (len == 0) return fl_fail(err, "%s: empty file: expected a JPEG or PNG image", name);
    return fl_fail(err, "%s: byte 0: not a JPEG or PNG image (starts with %02x %02x %02x)", name,
                   data[0], len > 1 ? data[1] : 0, len > 2 ? data[2] : 0);
}

// Reads a whole file into a malloc'd buffer.
static int fl_read_all(const char* path, uint8_t** data, size_t* len, fl_err* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return fl_fail(err, "%s: cannot open: %m", path);
    size_t cap = 1 << 16, n = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > 0) cap = (size_t)sz + 1;
        fseek(f, 0, SEEK_SET);
    }
    uint8_t* buf = (uint8_t*)fl_malloc(cap);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        cap *= 2;
        buf = (uint8_t*)fl_realloc(buf, cap);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return fl_fail(err, "%s: read error after byte %zu", path, n);
    }
    *data = buf;
    *len = n;
    return 0;
}

int fl_image_read(const char* path, int want_c, fl_image* out, fl_err* err) {
    memset(out, 0, sizeof *out);
    uint8_t* data = NULL;
    size_t len = 0;
    if (fl_read_all(path, &data, &len, err)) return -1;
    int rc = fl_image_decode(data, len, path, want_c, out, err);
    free(data);
    return rc;
}

int fl_image_probe(const char* path, int* w, int* h, int* comps, const char** fmt, fl_err* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return fl_fail(err, "%s: cannot open: %m", path);
    // A JPEG's SOF can sit after large EXIF blocks: read up to 256 KiB.
    size_t cap = 1 << 18;
    uint8_t* buf = (uint8_t*)fl_malloc(cap);
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    int rc = -1;
    if (len >= 26 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(buf + 12, "IHDR", 4) == 0) {
        // IHDR: width and height big-endian at bytes 16 and 20 (1 .. 2^31 - 1), colour type at 25
        uint32_t pw = ((uint32_t)buf[16] << 24) | ((uint32_t)buf[17] << 16) | ((uint32_t)buf[18] << 8) | buf[19];
        uint32_t ph = ((uint32_t)buf[20] << 24) | ((uint32_t)buf[21] << 16) | ((uint32_t)buf[22] << 8) | buf[23];
        if (pw == 0 || ph == 0 || pw > (uint32_t)INT_MAX || ph > (uint32_t)INT_MAX) {
            free(buf);
            return fl_fail(err, "%s: byte 16: PNG size %" PRIu32 "x%" PRIu32 "; expected 1..%d each", path,
                           pw, ph, INT_MAX);
        }
        *w = (int)pw;
        *h = (int)ph;
        int ct = buf[25];
        *comps = ct == 0 ? 1 : ct == 2 ? 3 : ct == 3 ? 3 : ct == 4 ? 2 : 4;
        *fmt = "png";
        rc = 0;
    } else if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8) {
        struct jpeg_decompress_struct cinfo;
        fl_jpeg_err jerr;
        memset(&jerr, 0, sizeof jerr);
        cinfo.err = jpeg_std_error(&jerr.pub);
        jerr.pub.error_exit = fl_jpeg_error_exit;
        jerr.pub.emit_message = fl_jpeg_emit;
        if (setjmp(jerr.jump)) {
            jpeg_destroy_decompress(&cinfo);
            free(buf);
            return fl_fail(err, "%s: broken JPEG header: %s", path, jerr.msg);
        }
        jpeg_create_decompress(&cinfo);
        jpeg_mem_src(&cinfo, buf, (unsigned long)len);
        jpeg_read_header(&cinfo, TRUE);
        *w = (int)cinfo.image_width;
        *h = (int)cinfo.image_height;
        *comps = cinfo.num_components;
        *fmt = "jpeg";
        jpeg_destroy_decompress(&cinfo);
        rc = 0;
    } else {
        fl_fail(err, "%s: not a JPEG or PNG image", path);
    }
    free(buf);
    return rc;
}

// ------------------------------------------------------------------------------ writers

int fl_write_jpeg(const char* path, const uint8_t* pix, int w, int h, int c, int quality,
                  fl_err* err) {
    if (c != 1 && c != 3 && c != 4) return fl_fail(err, "%s: cannot write %d channels as JPEG", path, c);
    FILE* f = fopen(path, "wb");
    if (!f) return fl_fail(err, "%s: cannot create: %m", path);
    struct jpeg_compress_struct cinfo;
    fl_jpeg_err jerr;
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = fl_jpeg_error_exit;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&cinfo);
        fclose(f);
        return fl_fail(err, "%s: JPEG write failed: %s", path, jerr.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = c;
    cinfo.in_color_space = c == 1 ? JCS_GRAYSCALE : c == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    for (int i = 0; i < cinfo.num_components; i++) {  // 4:4:4, no chroma subsampling
        cinfo.comp_info[i].h_samp_factor = 1;
        cinfo.comp_info[i].v_samp_factor = 1;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW r = (JSAMPROW)(pix + (size_t)cinfo.next_scanline * w * c);
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (fclose(f) != 0) return fl_fail(err, "%s: write failed: %m", path);
    return 0;
}

int fl_write_png(const char* path, const uint8_t* pix, int w, int h, int c, fl_err* err) {
    if (c != 1 && c != 3 && c != 4) return fl_fail(err, "%s: cannot write %d channels as PNG", path, c);
    FILE* f = fopen(path, "wb");
    if (!f) return fl_fail(err, "%s: cannot create: %m", path);
    fl_png_src dummy = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &dummy, fl_png_error_fn,
                                              fl_png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        fclose(f);
        return fl_fail(err, "%s: PNG write failed: %s", path, dummy.msg);
    }
    png_init_io(png, f);
    int ct = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, ct, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(pix + (size_t)y * w * c));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) return fl_fail(err, "%s: write failed: %m", path);
    return 0;
}

// ------------------------------------------------------------------------------ resampling

#define FL_PRECISION_BITS (32 - 8 - 2)

static double fl_triangle(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter, for the n_out
// output indices out0 .. out0 + n_out - 1 of a resize to out_size: for each, the first input
// index (bounds[2i]), the tap count (bounds[2i+1]) and ksize int32 coefficients in 22-bit
// fixed point. An index's taps depend on nothing but the index. Returns ksize.
static int fl_coeffs(int in_size, float in0, float in1, int out_size, int out0, int n_out,
                     int** bounds_out, int32_t** kk_out) {
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int* bounds = (int*)fl_malloc(sizeof(int) * 2 * n_out);
    int32_t* kk = (int32_t*)fl_calloc((size_t)n_out * ksize, sizeof(int32_t));
    double* k = (double*)fl_malloc(sizeof(double) * ksize);
    for (int xx = 0; xx < n_out; xx++) {
        double center = in0 + ((double)out0 + xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double wgt = fl_triangle((x + xmin - center + 0.5) * ss);
            k[x] = wgt;
            ww += wgt;
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            kk[(size_t)xx * ksize + x] =
                v < 0 ? (int32_t)(-0.5 + v * (1 << FL_PRECISION_BITS))
                      : (int32_t)(0.5 + v * (1 << FL_PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t fl_clip8(int32_t v) {
    v >>= FL_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void fl_resample_window_u8(const uint8_t* src, int sw, int sh, int c, const float* box, int dw,
                           int dh, int ox, int oy, int ow, int oh, uint8_t* dst) {
    float b[4] = {0.0f, 0.0f, (float)sw, (float)sh};
    if (box) memcpy(b, box, sizeof b);
    int need_h = dw != sw || b[0] != 0.0f || b[2] != (float)dw;
    int need_v = dh != sh || b[1] != 0.0f || b[3] != (float)dh;
    // Source rows [y_first, y_last) feed the window's rows.
    int *bv = NULL, *bh = NULL;
    int32_t *kv = NULL, *kh = NULL;
    int ksv = 0, y_first = oy, y_last = oy + oh;
    if (need_v) {
        ksv = fl_coeffs(sh, b[1], b[3], dh, oy, oh, &bv, &kv);
        y_first = bv[0];
        y_last = bv[2 * oh - 2] + bv[2 * oh - 1];
    }
    // Horizontal pass (when the width changes) of those rows, window columns only, into tmp.
    const uint8_t* in = src;  // rows of the horizontal pass's output, or the source's
    int in_w = sw, row0 = 0, col0 = ox;  // in's width; which source row and column in starts at
    uint8_t* tmp = NULL;
    if (need_h) {
        int ksh = fl_coeffs(sw, b[0], b[2], dw, ox, ow, &bh, &kh);
        int rows = y_last - y_first;
        tmp = (uint8_t*)fl_malloc((size_t)rows * ow * c + 1);
        for (int yy = 0; yy < rows; yy++) {
            const uint8_t* s = src + (size_t)(yy + y_first) * sw * c;
            uint8_t* o = tmp + (size_t)yy * ow * c;
            for (int xx = 0; xx < ow; xx++) {
                int xmin = bh[2 * xx], xn = bh[2 * xx + 1];
                const int32_t* k = kh + (size_t)xx * ksh;
                const uint8_t* p = s + (size_t)xmin * c;
                if (c == 3) {
                    int32_t a0 = 1 << (FL_PRECISION_BITS - 1), a1 = a0, a2 = a0;
                    for (int x = 0; x < xn; x++) {
                        a0 += p[3 * x] * k[x];
                        a1 += p[3 * x + 1] * k[x];
                        a2 += p[3 * x + 2] * k[x];
                    }
                    o[3 * xx] = fl_clip8(a0);
                    o[3 * xx + 1] = fl_clip8(a1);
                    o[3 * xx + 2] = fl_clip8(a2);
                } else {
                    for (int ch = 0; ch < c; ch++) {
                        int32_t a = 1 << (FL_PRECISION_BITS - 1);
                        for (int x = 0; x < xn; x++) a += p[x * c + ch] * k[x];
                        o[xx * c + ch] = fl_clip8(a);
                    }
                }
            }
        }
        free(bh);
        free(kh);
        in = tmp;
        in_w = ow;
        row0 = y_first;
        col0 = 0;
    }
    // Vertical pass (when the height changes), or the rows as they are.
    size_t rowlen = (size_t)ow * c;
    const uint8_t* in_at = in + (size_t)col0 * c;  // column ox of in's first row
    size_t in_stride = (size_t)in_w * c;
    if (need_v) {
        int32_t* acc = (int32_t*)fl_malloc(sizeof(int32_t) * rowlen);
        for (int yy = 0; yy < oh; yy++) {
            int ymin = bv[2 * yy], yn = bv[2 * yy + 1];
            const int32_t* k = kv + (size_t)yy * ksv;
            for (size_t i = 0; i < rowlen; i++) acc[i] = 1 << (FL_PRECISION_BITS - 1);
            for (int y = 0; y < yn; y++) {
                const uint8_t* r = in_at + (size_t)(ymin + y - row0) * in_stride;
                int32_t kw = k[y];
                for (size_t i = 0; i < rowlen; i++) acc[i] += r[i] * kw;
            }
            uint8_t* o = dst + (size_t)yy * rowlen;
            for (size_t i = 0; i < rowlen; i++) o[i] = fl_clip8(acc[i]);
        }
        free(acc);
    } else {
        for (int yy = 0; yy < oh; yy++)
            memcpy(dst + (size_t)yy * rowlen, in_at + (size_t)(oy + yy - row0) * in_stride, rowlen);
    }
    free(tmp);
    free(bv);
    free(kv);
}

void fl_resample_u8(const uint8_t* src, int sw, int sh, int c, const float* box, uint8_t* dst,
                    int dw, int dh) {
    fl_resample_window_u8(src, sw, sh, c, box, dw, dh, 0, 0, dw, dh, dst);
}

// (h, w, c) interleaved -> (c, S, S) planar, taking the S x S window at (top, left).
static void fl_to_planar(const uint8_t* src, int w, int c, int top, int left, int S,
                         uint8_t* out) {
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < S; y++) {
            const uint8_t* s = src + ((size_t)(y + top) * w + left) * c + ch;
            uint8_t* o = out + ((size_t)ch * S + y) * S;
            for (int x = 0; x < S; x++) o[x] = s[(size_t)x * c];
        }
}

// torchvision's center-crop offset: int(round((size - crop) / 2.0)), Python rounding
// (half to even).
static int fl_crop_offset(int size, int crop) {
    int d = size - crop;
    if (d % 2 == 0) return d / 2;
    int k = d / 2;  // d = 2k + 1: (2k+1)/2 = k + 0.5 rounds to the even of k, k+1
    return (k % 2 == 0) ? k : k + 1;
}

int fl_preprocess(const fl_image* im, const fl_preproc* p, const char* name, uint8_t* out,
                  fl_err* err) {
    int S = p->size, c = im->c;
    if (p->mode == FL_RESIZE_SHORT_CROP) {
        float pct = p->crop_pct > 0.0f ? p->crop_pct : 0.875f;
        double T_d = floor((double)S / pct);
        if (T_d < S) T_d = S;
        // The resized image, (nh, nw), is never made: only its S x S center is resampled, so
        // the work is that of the crop, whatever the aspect ratio. Its sides must fit an int.
        double long_d = T_d * (im->w <= im->h ? im->h : im->w) / (im->w <= im->h ? im->w : im->h);
        if (T_d > INT_MAX || long_d >= (double)INT_MAX + 1.0)
            return fl_fail(err, "%s: %dx%d image: resizing its shorter side to %.0f makes the "
                                "longer one %.0f; expected at most %d", name, im->w, im->h, T_d,
                           floor(long_d), INT_MAX);
        int T = (int)T_d, nw, nh;
        if (im->w <= im->h) {
            nw = T;
            nh = (int)((double)T * im->h / im->w);
        } else {
            nh = T;
            nw = (int)((double)T * im->w / im->h);
        }
        int top = fl_crop_offset(nh, S), left = fl_crop_offset(nw, S);
        const uint8_t* r = im->pix;
        int r_w = im->w;  // width of r, which holds the crop at (top, left)
        uint8_t* tmp = NULL;
        if (nw != im->w || nh != im->h) {
            tmp = (uint8_t*)fl_malloc((size_t)S * S * c);
            fl_resample_window_u8(im->pix, im->w, im->h, c, NULL, nw, nh, left, top, S, S, tmp);
            r = tmp;
            r_w = S;
            top = left = 0;
        }
        fl_to_planar(r, r_w, c, top, left, S, out);
        free(tmp);
    } else {
        if (im->w == S && im->h == S) {
            fl_to_planar(im->pix, S, c, 0, 0, S, out);
            return 0;
        }
        uint8_t* tmp = (uint8_t*)fl_malloc((size_t)S * S * c);
        fl_resample_u8(im->pix, im->w, im->h, c, NULL, tmp, S, S);
        fl_to_planar(tmp, S, c, 0, 0, S, out);
        free(tmp);
    }
    return 0;
}

int fl_load_preprocessed(const char* path, const fl_preproc* p, int want_c, uint8_t* out,
                         int* orig_w, int* orig_h, fl_err* err) {
    fl_image im;
    if (fl_image_read(path, want_c, &im, err)) return -1;
    if (orig_w) *orig_w = im.w;
    if (orig_h) *orig_h = im.h;
    int rc = fl_preprocess(&im, p, path, out, err);
    fl_image_free(&im);
    return rc;
}
