// fuzz_cifar.c: datasets/cifar.c (binary version). Input: a whole CIFAR-10 test file when its
// size is a multiple of 3073 bytes, a CIFAR-100 one (read fine, then coarse) when a multiple of
// 3074; otherwise one flag byte (bit 0: CIFAR-100, bit 1: coarse labels) and the file.
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    int hundred, coarse = 0, both = 0;
    if (size && size % 3073 == 0) hundred = 0;
    else if (size && size % 3074 == 0) hundred = 1, both = 1;
    else {
        if (size < 1) return 0;
        hundred = data[0] & 1;
        coarse = (data[0] >> 1) & 1;
        data++;
        size--;
    }
    unlink(fz_path("test_batch.bin"));
    unlink(fz_path("test.bin"));
    fz_file(hundred ? "test.bin" : "test_batch.bin", data, size);
    for (int pass = 0; pass <= both; pass++) {
        fl_images d;
        fl_record_files rf;
        fl_err err;
        if (fl_load_cifar_ex(fz_dir(), hundred, 0, both ? pass : coarse, &d, &rf, &err) == 0)
            fl_images_free(&d);
    }
    return 0;
}
