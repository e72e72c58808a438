// cli.h: the subcommands of the flbench command line (one file each in bench/).
#pragma once
#include "../impl/run/train.h"

int fl_cmd_train(int argc, char** argv);
// Parses train options (shared by train, sweep cells and variance) into c.
// Returns 0, 1 after --help, or 2 after printing an error.
int fl_train_parse(fl_train_cfg* c, const char* cmd, int argc, char** argv, int first);
