// cmd_variance.c: `flbench variance`: the estimator-quality study (bench/run/variance.c).
// Takes every train option (data, model, weights, method, scope, LR variants, flops options)
// plus the study's own, listed below.
#include <stdio.h>
#include <string.h>
#include "args.h"
#include "cli.h"
#include "run/variance.h"

void fl_variance_schema_markdown(FILE* f);

int fl_cmd_variance(int argc, char** argv) {
    fl_variance_cfg c;
    fl_variance_cfg_default(&c);
    int schema = 0;
    char checkpoint[512] = "";
    fl_opt own[] = {
        {"allocators", FL_OPT_STR, c.allocators, sizeof c.allocators, NULL, "comma list (default uniform,neyman,flops,oracle; uniform is always measured)"},
        {"budgets", FL_OPT_STR, c.budgets, sizeof c.budgets, NULL, "comma list of queries per datum (default 4,8,16,32,64)"},
        {"reps", FL_OPT_INT, &c.reps, 0, "2..", "M estimates per cell (default 50)"},
        {"batches", FL_OPT_INT, &c.batches, 0, "1..", "NB fixed batches (default 3)"},
        {"warmup", FL_OPT_INT, &c.warmup, 0, "0..", "unmeasured estimates per batch first: fill proxies, train flops (default 3)"},
        {"v-queries", FL_OPT_INT, &c.oracle_queries, 0, "2..", "extra queries per datum measuring v_i for the predicted ratio (default 64)"},
        {"alloc-out", FL_OPT_STR, c.alloc_out, sizeof c.alloc_out, NULL, "per-datum allocations (n_i, proxy, measured v_i) to this CSV"},
        {"variant", FL_OPT_STR, c.variant, sizeof c.variant, NULL, "label for the variant column (default: from --pairs/--baseline/--weighting)"},
        {"checkpoint", FL_OPT_STR, checkpoint, sizeof checkpoint, NULL, "model state saved by train --save/--save-every (same as --weights)"},
        {"schema", FL_OPT_FLAG, &schema, 0, NULL, "print the CSV schema (results/SCHEMA_VARIANCE.md) and exit"},
    };
    int n_own = (int)(sizeof own / sizeof own[0]);
    // split argv: the study's options here, the rest to the train parser
    char** rest = fl_calloc((size_t)argc + 1, sizeof(char*));
    char** mine = fl_calloc((size_t)argc + 1, sizeof(char*));
    int nr = 0, nm = 0;
    rest[nr++] = argv[0];
    rest[nr++] = argv[1];
    mine[nm++] = argv[0];
    mine[nm++] = argv[1];
    for (int i = 2; i < argc; i++) {
        int match = -1;
        for (int k = 0; k < n_own; k++) {
            size_t l = strlen(own[k].name);
            if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, own[k].name, l) &&
                (argv[i][2 + l] == 0 || argv[i][2 + l] == '='))
                match = k;
        }
        if (match < 0) { rest[nr++] = argv[i]; continue; }
        mine[nm++] = argv[i];
        if (own[match].type != FL_OPT_FLAG && !strchr(argv[i], '=') && i + 1 < argc) mine[nm++] = argv[++i];
    }
    int help = 0;
    for (int i = 2; i < argc; i++) help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    if (help) {
        fl_print_opts("variance (study options)", own, n_own);
        printf("and every option of `flbench train` (see flbench train --help); defaults here: --batch 32\n");
        free(rest); free(mine);
        return 0;
    }
    fl_train_runtime rt = {0};
    int rc = fl_parse_opts("variance", own, n_own, nm, mine, 2, NULL, 0, NULL);
    if (!rc && schema) { fl_variance_schema_markdown(stdout); free(rest); free(mine); return 0; }
    if (!rc) {
        int batch_given = 0;
        for (int i = 2; i < nr; i++) batch_given |= !strncmp(rest[i], "--batch", 7) && (rest[i][7] == 0 || rest[i][7] == '=');
        rc = fl_train_parse(&c.t, &rt, "variance", nr, rest, 2);
        if (!batch_given) c.t.batch = 32;
    }
    free(rest);
    free(mine);
    if (rc) return rc == 1 ? 0 : rc;
    fl_train_apply_runtime(&rt);
    if (checkpoint[0]) snprintf(c.t.weights, sizeof c.t.weights, "%s", checkpoint);
    // --out belongs to the study (its own schema), not to a training run
    snprintf(c.out, sizeof c.out, "%s", c.t.out);
    c.t.out[0] = 0;
    fl_err err = {{0}};
    if (fl_variance_run(&c, &err)) {
        fprintf(stderr, "flbench variance: %s\n", err.msg);
        return 2;
    }
    return 0;
}
