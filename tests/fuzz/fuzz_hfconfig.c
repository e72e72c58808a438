// fuzz_hfconfig.c: impl/io/hfconfig.c. Input: a whole config.json.
#include "fuzz.h"
#include "impl/io/hfconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = fz_file("config.json", data, size);
    fl_vit_hfconfig cfg;
    fl_err err;
    fl_vit_hfconfig_read(p, &cfg, &err);
    return 0;
}
