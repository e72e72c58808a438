// fuzz_npy.c: impl/io/npy.c. Input: a whole .npy file; an accepted array is shape-checked.
#include "fuzz.h"
#include "impl/io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = fz_file("in.npy", data, size);
    fl_npy arr;
    fl_err err;
    if (fl_npy_read_f32(p, &arr, &err) == 0) {
        const int64_t any[2] = {-1, -1};
        fl_npy_check_shape(&arr, p, arr.ndim < 2 ? arr.ndim : 2, any, &err);
        volatile float s = 0;
        for (int64_t i = 0; i < arr.numel; i++) s += arr.data[i];
        (void)s;
        fl_npy_free(&arr);
    }
    return 0;
}
