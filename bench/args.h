// args.h: the command-line option tables of the flbench subcommands.
// Each subcommand declares an array of fl_opt; fl_parse_opts fills the targets and reports
// the first bad option in one line ("--budget: expected an integer, found 'x'"), returning 2.
// Every number of an option goes through the checked parsers below (fl_parse_integer,
// fl_parse_float): the whole text, within the type and the option's range, or one line.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../impl/core/common.h"

typedef enum { FL_OPT_INT, FL_OPT_LONG, FL_OPT_U64, FL_OPT_FLOAT, FL_OPT_STR, FL_OPT_FLAG, FL_OPT_CHOICE } fl_opt_type;

typedef struct {
    const char* name;        // without the leading "--"
    fl_opt_type type;
    void* target;            // int*, long*, uint64_t*, float*, char[size], int* (flag, choice)
    int size;                // FL_OPT_STR: buffer size
    const char* values;      // FL_OPT_CHOICE: "a|b|c" -> index stored in an int. FL_OPT_INT, _LONG,
                             // _U64, _FLOAT: the accepted range, "LO..HI", "LO..", "..HI", ">LO" or
                             // ">LO..HI" (> : LO itself excluded); NULL: any value of the type
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
// Checked numbers, for the option tables and for options that hold numbers in another form
// (lists, ranges). The whole text must be the number, or err gets one line naming what:
//   "--budget: expected an integer, found 'x'"
//   "--budget: out of range: expected an integer in 1..2147483647, found '99999999999'"
// Integers: base 10, in lo..hi. Returns 0 or -1.
int fl_parse_integer(const char* what, const char* text, long long lo, long long hi, long long* out, fl_err* err);
// Floats: a finite float32 above lo (lo_open) or at least lo, and at most hi (-INFINITY,
// INFINITY: no bound). A text beyond float32 (1e999, or 1e-999, which would round to 0) is out
// of range, never inf or 0. Returns 0 or -1.
int fl_parse_float(const char* what, const char* text, double lo, int lo_open, double hi, float* out, fl_err* err);
// A comma list of integers in lo..hi, at most cap of them, into v. Returns the count (>= 1), or
// -1 with err ("--budgets: expected up to 16 integers separated by commas, found '4,,8'").
int fl_parse_int_list(const char* what, const char* text, long long lo, long long hi, int* v, int cap, fl_err* err);

// The option called name (without "--") in the table, NULL when there is none.
const fl_opt* fl_find_opt(const fl_opt* opts, int n_opts, const char* name);
// The usage line and one line per option, the help texts aligned in one column.
void fl_print_opts(const char* cmd, const fl_opt* opts, int n_opts);
// "Did you mean": the optimal-string-alignment distance (insertions, deletions, substitutions
// and swaps of neighbours) between a[0..na) and b[0..nb); INT_MAX past 63 characters.
int fl_edit_distance(const char* a, size_t na, const char* b, size_t nb);
// Keeps in *best the candidate nearest to typed[0..len) that is close enough to be a typo:
// at most 1 edit for up to 4 characters, 2 for up to 8, 3 beyond. Start with *best = NULL,
// *best_d = INT_MAX and call it for every candidate; the first of equally near ones wins.
void fl_suggest(const char* typed, size_t len, const char* cand, const char** best, int* best_d);
// The argv joined with spaces, for provenance.
void fl_join_args(int argc, char** argv, char* out, int size);
