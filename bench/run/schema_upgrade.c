// schema_upgrade.c: an older results CSV read as one of this schema (schema_upgrade.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema_upgrade.h"
#include "schema.h"
#include "series.h"
#include "../../impl/estimators/estimator.h"

static char* dup(const char* s) {
    size_t n = strlen(s) + 1;
    char* d = fl_malloc(n);
    memcpy(d, s, n);
    return d;
}

// The value of --NAME in a command line (schema_upgrade.h).
void fl_config_option(const char* config, const char* name, char* out, size_t len) {
    out[0] = 0;
    char pat[64];
    size_t pl = (size_t)snprintf(pat, sizeof pat, "--%s", name);
    for (const char* p = strstr(config, pat); p; p = strstr(p + 1, pat)) {
        if (p != config && p[-1] != ' ') continue;
        const char* v = p + pl;
        if (*v != ' ' && *v != '=') continue;
        v++;
        size_t n = strcspn(v, " ");
        if (n >= len) n = len - 1;
        memcpy(out, v, n);
        out[n] = 0;
        return;
    }
}

// The column of the old table that holds the schema's column `name`, or -1.
static int source_col(const fl_csv* t, const char* name) {
    int c = fl_csv_col(t, name);
    if (c >= 0) return c;
    if (!strcmp(name, "eval_loss")) return fl_csv_col(t, "test_loss");
    if (!strcmp(name, "eval_acc")) return fl_csv_col(t, "test_acc");
    return -1;
}

void fl_results_dataset_desc(const fl_csv* t, long r, char* out, size_t len) {
    const char* ds = fl_csv_field(t, r, "dataset");
    const char* classes = fl_csv_field(t, r, "classes");
    size_t nl = strcspn(ds, " ");
    if (classes[0]) snprintf(out, len, "%.*s[%s]%s", (int)nl, ds, classes, ds + nl);
    else snprintf(out, len, "%s", ds);
}

int fl_results_upgrade(fl_csv* t) {
    if (fl_csv_check_results_header(t, &(fl_err){{0}}) == 0) return 0;
    int nc = fl_n_columns;
    int* src = fl_malloc((size_t)nc * sizeof(int));
    for (int i = 0; i < nc; i++) src[i] = source_col(t, fl_columns[i].name);
    char** cells = fl_calloc((size_t)(t->n_rows ? t->n_rows : 1) * (size_t)nc, sizeof(char*));
    int c_ds = fl_column_index("dataset"), c_cl = fl_column_index("classes");
    for (long r = 0; r < t->n_rows; r++) {
        char** row = cells + r * nc;
        for (int i = 0; i < nc; i++) row[i] = dup(fl_csv_get(t, r, src[i]));
        // schema 4 and older: one process, one slice
        static const char* one[] = {"world_size", "slices", NULL};
        for (int k = 0; one[k]; k++) {
            int i = fl_column_index(one[k]);
            if (src[i] < 0) {
                free(row[i]);
                row[i] = dup("1");
            }
        }
        int old = atoi(fl_csv_field(t, r, "schema")) < 4;
        if (!old) continue;
        // placeholders of the not applicable: empty
        static const char* dash[] = {"allocator", "scope", "pairing", "baseline", NULL};
        for (int k = 0; dash[k]; k++) {
            int i = fl_column_index(dash[k]);
            if (!strcmp(row[i], "-")) row[i][0] = 0;
        }
        if (!strcmp(fl_csv_field(t, r, "backend"), "cpu")) row[fl_column_index("peak_dev_mb")][0] = 0;
        // "NAME[LO-HI] REST": dataset "NAME REST", classes "LO-HI"
        char* lb = strchr(row[c_ds], '[');
        char* rb = lb ? strchr(lb, ']') : NULL;
        if (src[c_cl] < 0 && rb) {
            free(row[c_cl]);
            row[c_cl] = fl_malloc((size_t)(rb - lb));
            memcpy(row[c_cl], lb + 1, (size_t)(rb - lb - 1));
            row[c_cl][rb - lb - 1] = 0;
            memmove(lb, rb + 1, strlen(rb + 1) + 1);
        }
        const char* method = row[fl_column_index("method")];
        const char* config = fl_csv_field(t, r, "config");
        int i_series = fl_column_index("series"), i_final = fl_column_index("final"), i_w = fl_column_index("init_weights");
        if (src[i_series] < 0) {
            char label[200];
            int ckpt = fl_method_is_exact(method) && !strcmp(row[fl_column_index("checkpoint")], "block");
            fl_series_label(row[fl_column_index("cell_key")], method, row[fl_column_index("allocator")], ckpt, label, sizeof label);
            free(row[i_series]);
            row[i_series] = dup(label);
        }
        if (src[i_final] < 0) {  // the rule of sweep_results.c's sw_row_is_final
            char ms[32];
            fl_config_option(config, "max-steps", ms, sizeof ms);
            long epoch = atol(fl_csv_field(t, r, "epoch")), epochs = atol(fl_csv_field(t, r, "epochs"));
            long steps = atol(fl_csv_field(t, r, "steps")), max_steps = ms[0] ? atol(ms) : 0;
            int fin = strcmp(fl_csv_field(t, r, "status"), "ok") != 0 || epoch >= epochs || (max_steps > 0 && steps >= max_steps);
            free(row[i_final]);
            row[i_final] = dup(fin ? "1" : "0");
        }
        if (src[i_w] < 0) {
            char w[512];
            fl_config_option(config, "weights", w, sizeof w);
            free(row[i_w]);
            row[i_w] = dup(w);
        }
    }
    for (long i = 0; i < t->n_rows * (long)t->n_cols; i++) free(t->cells[i]);
    free(t->cells);
    for (int i = 0; i < t->n_cols; i++) free(t->header[i]);
    free(t->header);
    t->header = fl_malloc((size_t)nc * sizeof(char*));
    for (int i = 0; i < nc; i++) t->header[i] = dup(fl_columns[i].name);
    t->n_cols = nc;
    t->cells = cells;
    free(src);
    return 1;
}
