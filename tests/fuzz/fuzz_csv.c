// fuzz_csv.c: bench/run/csvread.c. Input: a whole CSV file; an accepted one is checked against
// the results schema and every field is read by index and by column name.
#include "fuzz.h"
#include "bench/run/csvread.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = fz_file("in.csv", data, size);
    fl_csv t;
    fl_err err;
    if (fl_csv_read(p, &t, &err) == 0) {
        fl_csv_check_results_header(&t, &err);
        volatile size_t s = 0;
        for (long r = 0; r < t.n_rows; r++) {
            for (int c = 0; c < t.n_cols; c++) s += strlen(fl_csv_get(&t, r, c));
            s += strlen(fl_csv_field(&t, r, "method"));
        }
        (void)s;
        fl_csv_free(&t);
    }
    return 0;
}
