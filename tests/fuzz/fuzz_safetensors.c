// fuzz_safetensors.c: impl/io/safetensors.c. Input: a whole .safetensors file. Every tensor the
// reader accepts is looked up by name and converted to float32 (those up to 2^20 elements).
#include "fuzz.h"
#include "impl/io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = fz_file("in.safetensors", data, size);
    fl_safetensors st;
    fl_err err;
    if (fl_st_open(&st, p, &err) == 0) {
        for (int i = 0; i < st.n_tensors; i++) {
            const fl_st_tensor* t = fl_st_find(&st, st.tensors[i].name);
            if (!t || t->numel > (1 << 20)) continue;
            float* out = (float*)malloc(sizeof(float) * (size_t)(t->numel + 1));
            fl_st_tensor_to_f32(&st, t, out, &err);
            free(out);
        }
        for (int i = 0; i < st.n_meta; i++) fl_st_meta_get(&st, st.meta[i].key);
    }
    fl_st_close(&st);
    return 0;
}
