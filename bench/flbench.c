// flbench.c: the command line. Dispatches to one subcommand per file of bench/.
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <unistd.h>
#include <limits.h>
#include "args.h"
#include "cli.h"
#include "run/schema.h"


static int cmd_schema(int argc, char** argv) {
    fl_schema_markdown(stdout);
    return 0;
}

static int cmd_version(int argc, char** argv) {
    // the revision, and what the build can do: the CUDA backend, data-parallel runs (dist.h)
#ifdef FL_WITH_CUDA
    const char* backends = "CPU+CUDA";
#else
    const char* backends = "CPU-only";
#endif
    printf("flbench %s (%s, %s)\n", fl_git_rev(), backends, fl_dist_build());
    return 0;
}

typedef struct {
    const char* name;
    int (*fn)(int, char**);
    const char* help;
} command;

static void usage(const command* cmds, int n) {
    printf("flbench: forward-learning benchmark (MeZO, LR with uniform and allocated queries, BP)\n\n"
           "usage: flbench COMMAND [options]   (flbench COMMAND --help for its options;\n"
           "       flbench --version as flbench version)\n\n");
    for (int i = 0; i < n; i++)
        if (cmds[i].fn) printf("  %-10s %s\n", cmds[i].name, cmds[i].help);
}

// Two settings that must be in the environment before the libraries load (libgomp and OpenBLAS
// read them at load time, before main), so flbench sets them and re-executes itself once:
//
// OMP_WAIT_POLICY. OpenMP threads that spin while waiting steal the CPU from real work whenever
// the machine is shared: on a 2-core machine with other processes busy, a MeZO training step
// (budget 8, batch 64) took 100 ms with the default spinning and 16-20 ms with passive
// waiting; with little else running, passive waiting cost 0-7% on W1 (flbench bench). When the
// user has not chosen a policy, flbench sets "passive".
//
// OPENBLAS_CORETYPE. OpenBLAS picks its kernels from the CPU's model number, and a release
// older than the CPU falls back to its generic SSE3 kernels ("Prescott"): Debian 12's 0.3.21
// does so on Intel Xeons of model 207 (Emerald Rapids), which have AVX-512. There a MeZO run of
// the default MLP (mlp:784-64-64-10, batch 128, budget 32, 1000 shots, 1 epoch, 1 thread) took
// 3.24 s with the fallback and 1.94 s with the SkylakeX kernels, measured by timing the same
// `flbench train` command with OPENBLAS_CORETYPE set each way. When OpenBLAS reports the
// fallback on a CPU with AVX-512F or AVX2, flbench names the matching kernels (SkylakeX,
// Haswell). Set OPENBLAS_CORETYPE yourself to override (ci/perf_check pins it).
char* openblas_get_corename(void);

static const char* openblas_core_for_this_cpu(void) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    const char* core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott")) return NULL;  // OpenBLAS knows this CPU
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2")) return "Haswell";
    return NULL;
}

static void runtime_environment(char** argv) {
    if (getenv("FLBENCH_REEXEC")) return;
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        again = 1;
    }
    const char* core = openblas_core_for_this_cpu();
    if (core) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        again = 1;
    }
    if (!again) return;
    setenv("FLBENCH_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

int main(int argc, char** argv) {
    runtime_environment(argv);
    const command cmds[] = {
        {"train", fl_cmd_train, "train one configuration; one CSV row per epoch"},
        {"prompt", fl_cmd_prompt, "tune a prompt of a frozen model through its losses only (black box)"},
        {"blackbox", fl_cmd_blackbox, "serve a frozen ViT as a black box on stdin/stdout (docs/BLACKBOX.md)"},
        {"sweep", fl_cmd_sweep, "run the cells of a sweep configuration (resumable, shardable)"},
        {"merge", fl_cmd_merge, "merge shard CSVs, checking for missing or duplicate cells"},
        {"report", fl_cmd_report, "write REPORT.md from results CSV"},
        {"variance", fl_cmd_variance, "estimator-quality study against the true gradient"},
        {"model", fl_cmd_model, "inspect weights, run inference on .npy input"},
        {"data", fl_cmd_data, "fetch and inspect datasets"},
        {"bench", fl_cmd_bench, "performance benchmarks"},
        {"schema", cmd_schema, "print the results CSV schema (results/SCHEMA.md)"},
        {"version", cmd_version, "print the git revision"},
    };
    int n = (int)(sizeof cmds / sizeof cmds[0]);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(cmds, n);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(argc, argv);
    for (int i = 0; i < n; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            if (!cmds[i].fn) {
                fprintf(stderr, "flbench: '%s' is not built into this binary\n", argv[1]);
                return 2;
            }
            return cmds[i].fn(argc, argv);
        }
    const char* near = NULL;
    int near_d = INT_MAX;
    for (int i = 0; i < n; i++) fl_suggest(argv[1], strlen(argv[1]), cmds[i].name, &near, &near_d);
    if (near)
        fprintf(stderr, "flbench: unknown command '%s' (did you mean '%s'? see flbench --help)\n", argv[1], near);
    else
        fprintf(stderr, "flbench: unknown command '%s' (see flbench --help)\n", argv[1]);
    return 2;
}
