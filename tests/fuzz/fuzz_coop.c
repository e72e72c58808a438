// fuzz_coop.c: datasets/listing_coop.c (CoOp split_zhou_*.json). Input: the whole JSON file.
// The image folder holds a.jpg, b/c.jpg and d e.jpg, which the seeds name.
#include "fuzz.h"
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int ready;
    if (!ready) {
        mkdir(fz_path("img"), 0755);
        mkdir(fz_path("img/b"), 0755);
        fz_file("img/a.jpg", (const uint8_t*)"x", 1);
        fz_file("img/b/c.jpg", (const uint8_t*)"x", 1);
        fz_file("img/d e.jpg", (const uint8_t*)"x", 1);
        ready = 1;
    }
    fl_listing L;
    memset(&L, 0, sizeof L);
    snprintf(L.layout.name, sizeof L.layout.name, "eurosat");
    snprintf(L.layout.image_dir, sizeof L.layout.image_dir, "%s", fz_path("img"));
    snprintf(L.layout.coop_json, sizeof L.layout.coop_json, "%s", fz_file("split.json", data, size));
    fl_err err;
    fl_read_coop(&L, &err);
    fl_listing_free(&L);
    return 0;
}
