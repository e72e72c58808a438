// fuzz_sweepconf.c: bench/sweep_config.c, then the cell expansion of bench/sweep_cells.c.
// Input: a whole sweep configuration; `include a.inc` finds a small fixed include file.
#include "fuzz.h"
#include "bench/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int ready;
    if (!ready) {
        const char* inc = "set epochs 1\naxis seed 0 1\n";
        fz_file("a.inc", (const uint8_t*)inc, strlen(inc));
        ready = 1;
    }
    const char* p = fz_file("fuzz.conf", data, size);
    sw_config c;
    fl_err err;
    if (sw_config_load(p, &c, &err) == 0) {
        sw_cell* cells = NULL;
        long n = sw_cells(&c, "out", &cells);
        if (n > 0) sw_cells_free(cells, n);
        else free(cells);
        sw_config_free(&c);
    }
    return 0;
}
