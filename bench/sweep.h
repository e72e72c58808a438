// sweep.h: sweep configurations and their cells (`flbench sweep`), the results-file helpers
// shared by sweep, merge and report, and what the sweep's files share: running a cell
// (sweep_run.c), resuming (sweep_resume.c), preflight (sweep_preflight.c). The configuration
// format is documented in docs/SWEEPS.md; in short:
//
//   name fmnist-mlp                         the sweep's name (default: the file's base name)
//   set epochs 3                            a fixed train option (any `flbench train` option)
//   axis seed 0 1 2                         an axis: one cell per value (cross product)
//   variant method lr-flops method=lr allocator=flops lr=1e-3
//                                           a named bundle of options; the variants of one
//                                           name form one axis; a bundle overrides axes
//   when method=mezo budget=32 : lr=3e-4    options for the cells that match
//   skip method=bp seed=2                   drop the cells that match
//   timeout 600                             per-cell wall-clock limit in seconds
//   require PATH COMMAND...                 a file the cells need, and how to fetch it
//   include FILE                            the lines of FILE (relative to this file)
#pragma once
#include <stdint.h>
#include "run/train.h"
#include "run/csvread.h"

// ---------------------------------------------------------------------------------------
// option maps: ordered (name, value) lists; setting an existing name replaces its value

typedef struct {
    char* name;
    char* value;     // flags: "on" or "off"
    int line;        // configuration line that set it
} sw_kv;

typedef struct {
    sw_kv* kv;
    int n, cap;
} sw_map;

void sw_map_set(sw_map* m, const char* name, const char* value, int line);
const char* sw_map_get(const sw_map* m, const char* name);   // NULL when unset
void sw_map_copy(sw_map* dst, const sw_map* src);           // dst must be empty
void sw_map_free(sw_map* m);

// ---------------------------------------------------------------------------------------
// configuration

typedef struct {
    char name[48];
    int is_variant;  // 0: values are option values; 1: values are labels of option bundles
    int line;
    int n;
    char** values;   // (n) the value or label
    sw_map* bundles; // (n) variants only
} sw_axis;

typedef struct {
    int skip;        // 1: skip the cells that match; 0: set `assign` on them
    int line;
    sw_map cond;     // NAME=VALUE, value may be a|b|c; name may end in '!' for "not equal"
    sw_map assign;
} sw_rule;

typedef struct {
    char path[512];  // file the cells need
    char cmd[512];   // how to fetch it
    int line;
} sw_require;

typedef struct {
    char path[512];
    char name[64];
    sw_map fixed;
    sw_axis* axes;
    int n_axes;
    sw_rule* rules;
    int n_rules;
    sw_require* requires;
    int n_requires;
    double timeout_s;       // 0 = no limit
} sw_config;

// Parses a configuration file (sweep_config.c). Returns 0, or -1 with err "FILE:LINE: what,
// expected vs found".
int sw_config_load(const char* path, sw_config* c, fl_err* err);
void sw_config_free(sw_config* c);

// ---------------------------------------------------------------------------------------
// cells

typedef struct {
    long index;             // position in the configuration's full cell list
    char key[256];          // NAME;axis=value;...;h=ID, the cell_key column
    char id[17];            // 16 hex digits: hash of the options that define the result
    char label[200];        // axis=value pairs, for log lines
    sw_map opts;            // effective train options (placeholders not yet substituted)
    int argc;
    char** argv;            // "flbench" "train" --opt value ... (placeholders substituted)
    fl_train_cfg cfg;       // argv parsed by fl_train_parse
    int parse_ok;
    char parse_msg[512];    // why argv does not parse (then the cell fails without running)
} sw_cell;

// Expands the configuration into its cells (sweep_cells.c), in a fixed order, with duplicates
// (cells whose options are equal, e.g. bp crossed with a budget axis its variant overrides)
// removed. out_dir fills the {out} placeholder. Returns the number of cells (*cells malloc'd).
long sw_cells(const sw_config* c, const char* out_dir, sw_cell** cells);
void sw_cells_free(sw_cell* cells, long n);

// The shard I of N (0 <= I < N) holds the cells whose index % N == I.
static inline int sw_in_shard(long index, int shard_i, int shard_n) { return (int)(index % shard_n) == shard_i; }

// Replaces {out}, {cell} and {name} in s (other braces are kept). Returns a malloc'd string.
char* sw_substitute(const char* s, const char* out, const char* cell, const char* name);

// Parses argv as `flbench train` would (fl_train_parse_err), its error into msg.
// Returns the parser's status (0, or 2 with msg filled; 1, with msg, for --help).
int sw_parse_train(int argc, char** argv, fl_train_cfg* cfg, char* msg, size_t len);

// ---------------------------------------------------------------------------------------
// results files

// Whether row r ends its cell: a status other than ok, the last planned epoch, or the step
// limit (--max-steps, read from the config column) reached.
int sw_row_is_final(const fl_csv* t, long r);

// A string -> index table (open addressing), for grouping rows by cell key.
typedef struct {
    char** keys;
    long* vals;
    long cap, n;
} sw_table;
long* sw_table_slot(sw_table* t, const char* key, int* created);   // never NULL
long sw_table_get(const sw_table* t, const char* key);             // -1 when absent
void sw_table_free(sw_table* t);

// Appends len bytes (whole CSV lines) to path in one write() on an O_APPEND descriptor under
// an exclusive flock, writing header_line first when the file is empty, then fsync. Returns
// 0, or -1 with err.
int sw_append_block(const char* path, const char* header_line, const char* block, size_t len, fl_err* err);

// A checked strdup.
char* sw_strdup(const char* s);
// Whether path exists (stat).
int sw_file_exists(const char* path);

// The start of the cell keys' FNV-1a hash (fl_fnv1a_str). It is one digit short of FNV's
// offset basis (FL_FNV1A_INIT); kept, because the cell ids of existing results depend on it.
#define SW_FNV_INIT 1469598103934665603ull

// ---------------------------------------------------------------------------------------
// running cells (sweep_run.c)

typedef struct {
    const char* out_dir;
    const char* csv;
    const char* header;
    double timeout_s;
    int tty;
    long done_before, total;  // for the progress line
    double t_start;
    double mean_cell_s;       // of the cells run so far (0 = none yet)
    long remaining;
    int ranks;                // > 1: each cell is one data-parallel run on this many ranks
    const char* launcher;     // its launcher, the rank count appended ("mpirun -np")
} sw_run_ctx;

// Runs one cell in a child process and appends its rows to x->csv. Returns 0 (status in
// status_out, a one-line summary in summary), or -1 with err when the sweep CSV cannot be
// written (the sweep then stops).
int sw_run_cell(const sw_run_ctx* x, const sw_cell* cell, char* status_out, size_t slen, char* summary, size_t sumlen,
                fl_err* err);
// The child: `flbench sweep --cell TMP KEY -- TRAIN OPTIONS` runs one cell into TMP.
int sw_cell_child(int argc, char** argv);
// "12s", "3m05s", "2h10m"; "?" for a negative or NaN duration.
void sw_fmt_duration(double s, char* out, size_t len);

// ---------------------------------------------------------------------------------------
// resuming (sweep_resume.c)

typedef struct {
    sw_table finished;   // cell key -> 1 (final row present)
    long rows;
    long foreign_cells;  // finished cells not in this configuration's shard
} sw_state;

// Reads csv (if present), repairs it when a kill left a torn line or a partial cell, drops the
// cells to retry, and fills st. Returns 0, or -1 with err.
int sw_load_state(const char* csv, const sw_cell* cells, long n_cells, int retry_failed, sw_state* st,
                  fl_err* err);
// Read only (--dry-run): the finished cells of csv into st->finished; nothing when unreadable.
void sw_read_finished(const char* csv, sw_state* st);

// ---------------------------------------------------------------------------------------
// preflight (sweep_preflight.c)

// Lists on stderr the missing datasets, weights and required files of the cells, with their
// fetch commands (verbose: the found ones too, on stdout); returns how many are missing.
int sw_preflight(const sw_config* c, const sw_cell* cells, long n, int verbose);
