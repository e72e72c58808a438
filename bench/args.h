// args.h: the command-line option tables of the flbench subcommands.
// Each subcommand declares an array of fl_opt; fl_parse_opts fills the targets and reports
// the first bad option in one line ("--budget: expected an integer, found 'x'"), returning 2.
#pragma once
#include <stdint.h>
#include "../impl/core/common.h"

typedef enum { FL_OPT_INT, FL_OPT_LONG, FL_OPT_U64, FL_OPT_FLOAT, FL_OPT_STR, FL_OPT_FLAG, FL_OPT_CHOICE } fl_opt_type;

typedef struct {
    const char* name;        // without the leading "--"
    fl_opt_type type;
    void* target;            // int*, long*, uint64_t*, float*, char[size], int* (flag, choice)
    int size;                // FL_OPT_STR: buffer size
    const char* choices;     // FL_OPT_CHOICE: "a|b|c" -> index stored in an int
    const char* help;
} fl_opt;

// Parses argv[first..argc). Positional arguments are collected into pos (up to max_pos).
// Returns 0, or 2 after printing one error line. --help prints the table and returns 1.
int fl_parse_opts(const char* cmd, const fl_opt* opts, int n_opts, int argc, char** argv, int first,
                  char** pos, int max_pos, int* n_pos);
// The same without printing anything: 2 with the error in err ("--budget: expected an integer,
// found 'x'", without the "flbench CMD: " of the printed line); 1 for --help, table unprinted.
int fl_parse_opts_err(const char* cmd, const fl_opt* opts, int n_opts, int argc, char** argv, int first,
                      char** pos, int max_pos, int* n_pos, fl_err* err);
// The option called name (without "--") in the table, NULL when there is none.
const fl_opt* fl_find_opt(const fl_opt* opts, int n_opts, const char* name);
void fl_print_opts(const char* cmd, const fl_opt* opts, int n_opts);
// The argv joined with spaces, for provenance.
void fl_join_args(int argc, char** argv, char* out, int size);
