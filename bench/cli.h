// cli.h: the subcommands of the flbench command line (one file each in bench/).
#pragma once
#include "run/train.h"

int fl_cmd_train(int argc, char** argv);
// `flbench prompt`: train's options, tuning a prompt of a frozen model behind a black box.
int fl_cmd_prompt(int argc, char** argv);
// `flbench blackbox`: the frozen ViT served over the black-box protocol (cmd_blackbox.c).
int fl_cmd_blackbox(int argc, char** argv);
// `flbench data fetch|inspect|list|bench|export` (cmd_data.c); argv as the CLI passes it or starting
// at the subcommand. 0 ok, 1 failed, 2 bad usage.
int fl_cmd_data(int argc, char** argv);
int fl_cmd_sweep(int argc, char** argv);
int fl_cmd_merge(int argc, char** argv);
int fl_cmd_report(int argc, char** argv);
int fl_cmd_variance(int argc, char** argv);
int fl_cmd_model(int argc, char** argv);
// `flbench model export` (cmd_model_export.c); argv as fl_cmd_model passes it.
int fl_cmd_model_export(int argc, char** argv);
int fl_cmd_bench(int argc, char** argv);

// Where `flbench data list` finds dataset NAME under data_root (NULL: $FLBENCH_DATA, else
// datasets/data): 1 found (root: its folder, format: its layout), 0 missing (root: where it
// is expected; `flbench data fetch NAME` fetches it), -1 not a dataset name (cmd_data.c).
int fl_data_locate(const char* name, const char* data_root, char* root, size_t rlen, char* format, size_t flen);
// `flbench data bench`, the decode + resize benchmark (cmd_data_bench.c): prints images/s.
// argv as fl_cmd_data passes it; words that are not options are ignored. Returns the exit status.
int fl_bench_images(int argc, char** argv);
// `flbench data export NAME`, a split's preprocessed images to .npy (cmd_data_export.c): options
// from argv[first]. Returns the exit status (2 bad usage, 1 the data or the write failed).
int fl_data_export(const char* name, int argc, char** argv, int first);

// ---------------------------------------------------------------------------------------
// train options (cmd_train.c), shared by train, sweep cells and configurations, and variance

// What a run sets in its process rather than in its configuration: OpenMP and OpenBLAS
// threads (--threads; 0 = leave them) and the CUDA GEMM precision (--math tf32).
typedef struct {
    int threads;
    int tf32;
} fl_train_runtime;

// Parses train options into c and, when rt is not NULL, rt. Parsing changes nothing else: the
// commands call fl_train_apply_runtime(rt) before they run. Returns 0, 1 after --help or
// --track-schema (printed), or 2 after printing one error line ("flbench CMD: --budget: ...").
int fl_train_parse(fl_train_cfg* c, fl_train_runtime* rt, const char* cmd, int argc, char** argv, int first);
// The same, printing nothing: 2 with the error in err (the line without "flbench CMD: "); 1
// for --help and --track-schema.
int fl_train_parse_err(fl_train_cfg* c, fl_train_runtime* rt, const char* cmd, int argc, char** argv, int first,
                       fl_err* err);
// Sets the threads and the GEMM precision of rt for this process.
void fl_train_apply_runtime(const fl_train_runtime* rt);
// Whether a run of `flbench train` takes the option NAME (without "--"), as its table says: 1 a
// flag, 0 an option with a value, -1 no such option, or one that prints and exits instead of
// running (--track-schema; --help is the parser's own, in no table).
int fl_train_option_kind(const char* name);
