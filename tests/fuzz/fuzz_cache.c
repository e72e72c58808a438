// fuzz_cache.c: datasets/cache.c. Input: a whole cache file, opened under fz_cache_key()
// (fuzz.h) twice: with the pixel CRC checked and without. A used cache's labels and pixels
// are all read.
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = fz_file("cache.u8", data, size);
    fl_cache_key key = fz_cache_key();
    const int verify[2] = {1, -1};
    for (int v = 0; v < 2; v++) {
        fl_images d;
        fl_err err;
        char note[512];
        memset(&d, 0, sizeof d);
        if (fl_cache_open(p, &key, verify[v], &d, note, sizeof note, &err) == 0) {
            volatile unsigned s = 0;
            for (int64_t i = 0; i < d.n; i++) s += (unsigned)d.labels[i];
            for (int64_t i = 0; i < d.n * fl_images_dim(&d); i++) s += d.pix[i];
            (void)s;
            fl_images_free(&d);
        }
    }
    return 0;
}
