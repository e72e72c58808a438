// sweep_preflight.c: what the cells of a sweep need before they run: their datasets (where
// `flbench data` looks for them), their initial weights and the configuration's required
// files; the missing ones are listed with the command that fetches them.
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "sweep.h"

int sw_preflight(const sw_config* c, const sw_cell* cells, long n, int verbose) {
    int missing = 0;
    sw_table seen = {0};
    for (long i = 0; i < n; i++) {
        if (!cells[i].parse_ok) continue;
        const fl_train_cfg* cfg = &cells[i].cfg;
        char k[800];
        snprintf(k, sizeof k, "data\n%s\n%s", cfg->dataset, cfg->data_root);
        int created;
        sw_table_slot(&seen, k, &created);
        if (created) {
            char root[1100], format[256];
            int found = fl_data_locate(cfg->dataset, cfg->data_root[0] ? cfg->data_root : NULL, root, sizeof root,
                                       format, sizeof format);
            if (found == 0) {
                missing++;
                if (!strcmp(cfg->dataset, "imagenet"))  // behind a login (datasets/fetch.sh)
                    fprintf(stderr, "missing dataset  imagenet  (expected in %s; download it by hand: it needs an account at "
                            "image-net.org; build/flbench data fetch imagenet says where to place the files)\n", root);
                else
                    fprintf(stderr, "missing dataset  %s  (expected in %s; fetch: build/flbench data fetch %s)\n", cfg->dataset,
                            root, cfg->dataset);
            } else if (found == 1 && verbose) {
                printf("found dataset    %-14s found     %s: %s\n", cfg->dataset, root, format);
            }
        }
        if (cfg->weights[0]) {
            snprintf(k, sizeof k, "weights\n%s", cfg->weights);
            sw_table_slot(&seen, k, &created);
            if (created) {
                const char* fetch = NULL;
                for (int r = 0; r < c->n_requires; r++)
                    if (!strcmp(c->requires[r].path, cfg->weights)) fetch = c->requires[r].cmd;
                if (!sw_file_exists(cfg->weights)) {
                    missing++;
                    fprintf(stderr, "missing weights  %s  (fetch: %s)\n", cfg->weights,
                            fetch ? fetch : "no command known: add 'require PATH COMMAND' to the configuration");
                } else if (verbose) {
                    printf("found weights    %s\n", cfg->weights);
                }
            }
        }
    }
    for (int r = 0; r < c->n_requires; r++) {
        char k[800];
        snprintf(k, sizeof k, "weights\n%s", c->requires[r].path);
        if (sw_table_get(&seen, k) >= 0) continue;
        if (!sw_file_exists(c->requires[r].path)) {
            missing++;
            fprintf(stderr, "missing file     %s  (fetch: %s)\n", c->requires[r].path, c->requires[r].cmd);
        } else if (verbose) {
            printf("found file       %s\n", c->requires[r].path);
        }
    }
    sw_table_free(&seen);
    return missing;
}
