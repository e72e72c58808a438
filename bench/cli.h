// cli.h: the subcommands of the flbench command line (one file each in bench/).
#pragma once
#include "run/train.h"

int fl_cmd_train(int argc, char** argv);
int fl_cmd_data(int argc, char** argv);       // datasets/cmd_data.c
int fl_cmd_sweep(int argc, char** argv);
int fl_cmd_merge(int argc, char** argv);
int fl_cmd_report(int argc, char** argv);
int fl_cmd_variance(int argc, char** argv);
int fl_cmd_model(int argc, char** argv);
int fl_cmd_bench(int argc, char** argv);
// Parses train options (shared by train, sweep cells and variance) into c.
// Returns 0, 1 after --help, or 2 after printing an error.
int fl_train_parse(fl_train_cfg* c, const char* cmd, int argc, char** argv, int first);
