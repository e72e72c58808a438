// fuzz_idx.c: datasets/fashion_mnist.c (IDX, plain or gzip). Input: either a whole images file
// (it starts with the IDX3 magic 00 00 08 03; the labels file is then a well-formed one for
// the count in its header, at most 4096 labels), or u32 little-endian L, L bytes of the images
// file, and the labels file in the rest. Both are read as the t10k (test) pair.
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const uint8_t *img = data, *lab = NULL;
    size_t n_img = size, n_lab = 0;
    uint8_t made[8 + 4096];
    if (size >= 8 && !memcmp(data, "\0\0\x08\x03", 4)) {
        uint32_t count = ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16) | ((uint32_t)data[6] << 8) | data[7];
        uint32_t k = count < 4096 ? count : 4096;
        memcpy(made, "\0\0\x08\x01", 4);
        memcpy(made + 4, data + 4, 4);
        for (uint32_t i = 0; i < k; i++) made[8 + i] = (uint8_t)(i % 10);
        lab = made;
        n_lab = 8 + k;
    } else {
        if (size < 4) return 0;
        size_t len = (size_t)data[0] | ((size_t)data[1] << 8) | ((size_t)data[2] << 16) | ((size_t)data[3] << 24);
        if (len > size - 4) len = size - 4;
        img = data + 4;
        n_img = len;
        lab = data + 4 + len;
        n_lab = size - 4 - len;
    }
    fz_file("t10k-images-idx3-ubyte", img, n_img);
    fz_file("t10k-labels-idx1-ubyte", lab, n_lab);
    fl_images d;
    fl_err err;
    if (fl_load_fashion_mnist(fz_dir(), 0, &d, &err) == 0) fl_images_free(&d);
    return 0;
}
