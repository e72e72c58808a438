// fuzz_manifest.c: datasets/manifest.c. Input: a whole manifest file (as fl_manifest_write
// writes it).
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = fz_file("manifest.tsv", data, size);
    fl_manifest m;
    fl_err err;
    if (fl_manifest_read(p, &m, &err) == 0) fl_manifest_free(&m);
    return 0;
}
