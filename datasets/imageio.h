// imageio.h: image files in and out (JPEG through libjpeg-turbo, PNG through libpng) and the
// resampling that brings them to the model's resolution.
//
// Conventions, chosen to reproduce what the Hugging Face ViT image processor feeds a model
// (PIL decode -> convert("RGB") -> PIL resize BILINEAR -> rescale -> normalise):
//  - JPEG is decoded with libjpeg's defaults (islow DCT, fancy upsampling), as PIL does.
//  - Grayscale becomes RGB by replication; CMYK/YCCK JPEGs are read as Adobe-inverted CMYK and
//    converted with PIL's formula (nk = 255 - K; R = nk - nk*C/255 in PIL's rounding).
//  - PNG: palette and gray are expanded, 16-bit keeps its high byte, alpha is dropped.
//  - Resampling is PIL's: a separable triangle filter whose support widens with the
//    downscale factor (antialiased), 22-bit fixed-point coefficients, horizontal pass first
//    with a uint8 intermediate. Upscaling (scale < 1) is plain bilinear with half-pixel centres.
#pragma once
#include <stdint.h>
#include <stddef.h>
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

// A decoded image, interleaved (h, w, c), c = 1 or 3.
typedef struct {
    int w, h, c;
    uint8_t* pix;
} fl_image;

void fl_image_free(fl_image* im);

// Decodes a JPEG or PNG held in memory (the format is detected from its first bytes), into
// want_c = 3 (RGB) or 1 (PIL "L": (R*19595 + G*38470 + B*7471 + 0x8000) >> 16) channels.
// name is used only in error messages. A truncated or corrupt file fails with its byte offset.
int fl_image_decode(const uint8_t* data, size_t len, const char* name, int want_c, fl_image* out,
                    fl_err* err);
// Reads and decodes a file.
int fl_image_read(const char* path, int want_c, fl_image* out, fl_err* err);

// Header only: width, height, stored components and "jpeg"/"png". For `data inspect`.
int fl_image_probe(const char* path, int* w, int* h, int* comps, const char** fmt, fl_err* err);

// Writers, for fixtures and benchmarks. pix is (h, w, c) interleaved. JPEG: c = 1 (gray),
// 3 (RGB, 4:4:4) or 4 (CMYK, written with an Adobe marker); PNG: c = 1, 3 or 4 (RGBA).
int fl_write_jpeg(const char* path, const uint8_t* pix, int w, int h, int c, int quality,
                  fl_err* err);
int fl_write_png(const char* path, const uint8_t* pix, int w, int h, int c, fl_err* err);

// PIL-exact resampling of an interleaved (sh, sw, c) image to (dh, dw, c), bilinear filter.
// box = {x0, y0, x1, y1} is the source region (NULL: the whole image).
void fl_resample_u8(const uint8_t* src, int sw, int sh, int c, const float* box, uint8_t* dst,
                    int dw, int dh);
// The (oh, ow, c) window at column ox, row oy of that resize, into dst: the same pixels as
// resizing to (dh, dw) and cutting the window out, for the work and memory of the window alone
// (the source rows it reads, times ow). 0 <= ox, ox + ow <= dw, 0 <= oy, oy + oh <= dh.
void fl_resample_window_u8(const uint8_t* src, int sw, int sh, int c, const float* box, int dw,
                           int dh, int ox, int oy, int ow, int oh, uint8_t* dst);

// The preprocessing of one image up to uint8: what the cache stores.
typedef struct {
    int size;              // S (output S x S)
    fl_resize_mode mode;   // FL_RESIZE_SQUARE or FL_RESIZE_SHORT_CROP
    float crop_pct;        // FL_RESIZE_SHORT_CROP: shorter side = floor(S / crop_pct)
} fl_preproc;

// Brings im to (c, S, S) planar uint8 in out. Square: PIL resize to S x S (skipped when the
// image already is S x S). Short-crop: shorter side to T = floor(S / crop_pct), longer side
// to int(T * long / short) (torchvision), then a center crop with torchvision's offsets
// (round half to even of (size - S) / 2); only the crop is resampled (fl_resample_window_u8),
// so an extreme aspect ratio costs what an ordinary one does. Returns 0, or -1 with err naming
// name when a side of the resized image would not fit an int (e.g. 4096 x 1 at T = 2^20).
int fl_preprocess(const fl_image* im, const fl_preproc* p, const char* name, uint8_t* out,
                  fl_err* err);

// Decode + preprocess in one call, into (want_c, S, S) planar out. orig_w/orig_h may be NULL.
int fl_load_preprocessed(const char* path, const fl_preproc* p, int want_c, uint8_t* out,
                         int* orig_w, int* orig_h, fl_err* err);

#ifdef __cplusplus
}
#endif
