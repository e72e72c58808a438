// fuzz_image.c: datasets/imageio.c, decoding (JPEG, PNG) and preprocessing. Input: either a
// whole JPEG or PNG file (it starts with FF D8 or 89 50): decoded to RGB and to gray, and
// preprocessed both ways (square and short-side crop) to 16 x 16; or 4 parameter bytes and the
// file: want_c (odd: 1, even: 3), the mode (bit 0: short-side crop), S = 1 + byte % 64, and
// crop_pct = 0.5 + byte / 510. Also written to a file and probed (fl_image_probe).
#include "fuzz.h"

static void decode_and_preprocess(const uint8_t* img, size_t n, int want_c, fl_preproc pp) {
    fl_image im;
    fl_err err;
    if (fl_image_decode(img, n, "fuzz", want_c, &im, &err) == 0) {
        if ((int64_t)im.w * im.h <= (1 << 24)) {
            uint8_t* out = (uint8_t*)malloc((size_t)im.c * (size_t)pp.size * (size_t)pp.size);
            fl_preprocess(&im, &pp, "fuzz", out, &err);
            free(out);
        }
        fl_image_free(&im);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size >= 2 && ((data[0] == 0xFF && data[1] == 0xD8) || (data[0] == 0x89 && data[1] == 0x50))) {
        for (int c = 1; c <= 3; c += 2)
            for (int m = 0; m < 2; m++) {
                fl_preproc pp = {16, m ? FL_RESIZE_SHORT_CROP : FL_RESIZE_SQUARE, 0.875f};
                decode_and_preprocess(data, size, c, pp);
            }
    } else {
        if (size < 4) return 0;
        fl_preproc pp = {1 + data[2] % 64, (data[1] & 1) ? FL_RESIZE_SHORT_CROP : FL_RESIZE_SQUARE,
                         0.5f + (float)data[3] / 510.0f};
        decode_and_preprocess(data + 4, size - 4, (data[0] & 1) ? 1 : 3, pp);
        data += 4;
        size -= 4;
    }
    const char* p = fz_file("in.img", data, size);
    int w, h, comps;
    const char* fmt;
    fl_err err;
    fl_image_probe(p, &w, &h, &comps, &fmt, &err);
    return 0;
}
