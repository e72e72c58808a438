// schema_upgrade.h: reading a results CSV of an older schema as one of this schema
// (results/SCHEMA.md, "Older schemas"): renamed columns under their new names, split columns
// split, `-` placeholders emptied, and the columns it lacks derived from its rows.
#pragma once
#include "csvread.h"

#ifdef __cplusplus
extern "C" {
#endif

// Rewrites t in memory to the columns of bench/run/schema.c, in their order: a column of the
// schema that t lacks is derived (series, final, init_weights, classes) or empty; a column of
// t that the schema lacks is dropped. Row lines and byte ranges are kept. A table that has the
// schema's header already is left as it is. Returns 1 when t was rewritten, 0 when not.
int fl_results_upgrade(fl_csv* t);

// The dataset of row r of a table of this schema as one string, NAME[CLASSES] REST (e.g.
// "fashion-mnist[5-9] label-noise=0.3"; schema 3's `dataset` column; the tracking CSV's).
void fl_results_dataset_desc(const fl_csv* t, long r, char* out, size_t len);

// The value of --NAME in a command line (a row's `config`: "--NAME V" or "--NAME=V") into out,
// "" when absent.
void fl_config_option(const char* config, const char* name, char* out, size_t len);

#ifdef __cplusplus
}
#endif
