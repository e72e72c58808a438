// cmd_merge.c: `flbench merge OUT IN... [--config CONFIG]`: combines the CSVs of a sharded
// sweep (or any results CSVs) into OUT, after checking that every cell is there exactly once:
//  - no cell has two final rows, and no row (cell, epoch, status) appears twice: duplicate;
//  - no cell has rows but no final row: incomplete (a shard still running, or killed);
//  - no input ends in a torn line (a killed writer; rerunning its sweep repairs it);
//  - with --config, every cell of the configuration (all shards) is present: missing.
// Any of these fails loudly, naming the cell and the file:line of its rows, and OUT is not
// written. Rows keep their bytes (rows of an older schema are written in this one,
// results/SCHEMA.md "Older schemas"); with --config they are ordered as the configuration's cells.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include "args.h"
#include "sweep.h"
#include "run/schema.h"
#include "run/schema_upgrade.h"

#define MAX_SHOWN 20

typedef struct {
    int file;
    long row;
    long order;   // sort key: configuration cell index (or first appearance), then input order
} row_ref;

static int cmp_ref(const void* a, const void* b) {
    const row_ref* x = a;
    const row_ref* y = b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    if (x->file != y->file) return x->file - y->file;
    return x->row < y->row ? -1 : x->row > y->row;
}

static int problems;
static void problem(const char* fmt, const char* a, const char* b, const char* c) {
    problems++;
    if (problems <= MAX_SHOWN) {
        fprintf(stderr, "flbench merge: ");
        fprintf(stderr, fmt, a, b, c);
        fprintf(stderr, "\n");
    }
}

int fl_cmd_merge(int argc, char** argv) {
    char config[1024] = "";
    fl_opt opts[] = {
        {"config", FL_OPT_STR, config, sizeof config, NULL, "check that every cell of this sweep configuration is present"},
    };
    char* pos[4096];
    int n_pos = 0;
    int rc = fl_parse_opts("merge", opts, 1, argc, argv, 2, pos, 4096, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos < 2) {
        fprintf(stderr, "flbench merge: expected OUT and at least one input CSV (flbench merge OUT IN... [--config CONFIG])\n");
        return 2;
    }
    const char* out = pos[0];
    int n_in = n_pos - 1;
    fl_csv* in = fl_calloc((size_t)n_in, sizeof(fl_csv));
    int* upgraded = fl_calloc((size_t)(n_in ? n_in : 1), sizeof(int));  // 1: read from an older schema
    fl_err err = {{0}};
    int status = 0;
    problems = 0;
    sw_config cfg;
    int have_cfg = 0;
    sw_cell* cells = NULL;
    long n_cells = 0;
    sw_table cell_index = {0};    // configuration key -> cell index
    sw_table finals = {0};        // key -> number of final rows
    sw_table first_final = {0};   // key -> file * 2^40 + row of its first final row
    sw_table rowkeys = {0};       // key\nepoch\nstatus -> file * 2^40 + row
    sw_table order = {0};         // key -> order
    sw_table dup_cells = {0};     // keys already reported as duplicated
    row_ref* refs = NULL;
    long n_refs = 0;
    int loaded = 0;
    for (int i = 0; i < n_in; i++, loaded++) {
        // a file of an older schema is read, and written, as one of this schema (results/SCHEMA.md)
        int rc = fl_csv_read(pos[i + 1], &in[i], &err);
        if (!rc && in[i].n_cols >= 2 && !strcmp(in[i].header[0], "schema") && !strcmp(in[i].header[1], "cell_key"))
            upgraded[i] = fl_results_upgrade(&in[i]);
        if (rc || fl_csv_check_results_header(&in[i], &err)) {
            if (in[i].header) fl_csv_free(&in[i]);
            fprintf(stderr, "flbench merge: %s\n", err.msg);
            status = 2;
            goto done;
        }
        if (in[i].torn_tail) {
            char line[32];
            snprintf(line, sizeof line, "%ld", in[i].torn_line);
            problem("%s:%s: the last line is incomplete (a writer was killed); run its sweep again to repair the file, then merge%s",
                    pos[i + 1], line, "");
        }
    }
    if (config[0]) {
        if (sw_config_load(config, &cfg, &err)) {
            fprintf(stderr, "flbench merge: %s\n", err.msg);
            status = 2;
            goto done;
        }
        have_cfg = 1;
        n_cells = sw_cells(&cfg, "results", &cells);
        for (long c = 0; c < n_cells; c++) *sw_table_slot(&cell_index, cells[c].key, NULL) = c;
    }
    long total_rows = 0;
    for (int i = 0; i < n_in; i++) total_rows += in[i].n_rows;
    refs = fl_malloc((size_t)(total_rows ? total_rows : 1) * sizeof(row_ref));
    for (int i = 0; i < n_in; i++) {
        int kc = fl_csv_col(&in[i], "cell_key");
        for (long r = 0; r < in[i].n_rows; r++) {
            const char* key = fl_csv_get(&in[i], r, kc);
            long where = ((long)i << 40) | r;
            char rk[400];
            snprintf(rk, sizeof rk, "%s\n%s\n%s", key, fl_csv_field(&in[i], r, "epoch"), fl_csv_field(&in[i], r, "status"));
            int created;
            long* prev = sw_table_slot(&rowkeys, rk, &created);
            int first_dup;
            if (!created) sw_table_slot(&dup_cells, key, &first_dup);
            if (!created && first_dup) {
                char a[1100], b[1100];
                snprintf(a, sizeof a, "%s:%ld", pos[1 + (*prev >> 40)], in[*prev >> 40].line[*prev & ((1L << 40) - 1)]);
                snprintf(b, sizeof b, "%s:%ld", pos[1 + i], in[i].line[r]);
                problem("duplicate cell %s: the same row (epoch and status) at %s and %s", key, a, b);
            } else if (created) {
                *prev = where;
            }
            if (sw_row_is_final(&in[i], r)) {
                long* nf = sw_table_slot(&finals, key, NULL);
                long* ff = sw_table_slot(&first_final, key, &created);
                if (created) *ff = where;
                else if (*nf == 1 && sw_table_get(&dup_cells, key) < 0) {
                    char a[1100], b[1100];
                    snprintf(a, sizeof a, "%s:%ld", pos[1 + (*ff >> 40)], in[*ff >> 40].line[*ff & ((1L << 40) - 1)]);
                    snprintf(b, sizeof b, "%s:%ld", pos[1 + i], in[i].line[r]);
                    problem("duplicate cell %s: final rows at %s and %s", key, a, b);
                }
                (*nf)++;
            }
            long* o = sw_table_slot(&order, key, &created);
            if (created) {
                long ci = have_cfg ? sw_table_get(&cell_index, key) : -1;
                *o = ci >= 0 ? ci : n_cells + order.n;
            }
            refs[n_refs++] = (row_ref){.file = i, .row = r, .order = *o};
        }
    }
    // incomplete cells: rows but no final row
    for (long r = 0; r < n_refs; r++) {
        const fl_csv* t = &in[refs[r].file];
        const char* key = fl_csv_field(t, refs[r].row, "cell_key");
        if (sw_table_get(&finals, key) < 0) {
            char a[1100];
            snprintf(a, sizeof a, "%s:%ld", t->path, t->line[refs[r].row]);
            problem("incomplete cell %s: rows (first at %s) but no final row; is its shard still running?%s", key, a, "");
            *sw_table_slot(&finals, key, NULL) = 0;  // report each cell once
        }
    }
    long extra = 0;
    if (have_cfg) {
        for (long c = 0; c < n_cells; c++)
            if (sw_table_get(&finals, cells[c].key) < 1)
                problem("missing cell %s (%s) of %s", cells[c].key, cells[c].label, config);
        for (long k = 0; k < order.cap; k++)
            if (order.keys[k] && sw_table_get(&cell_index, order.keys[k]) < 0) extra++;
        if (extra)
            fprintf(stderr, "flbench merge: note: %ld cells are not in %s (another sweep, or an edited configuration); they are kept\n",
                    extra, config);
    }
    if (problems) {
        if (problems > MAX_SHOWN) fprintf(stderr, "flbench merge: ... and %d more problems\n", problems - MAX_SHOWN);
        fprintf(stderr, "flbench merge: %d problem%s; %s not written\n", problems, problems == 1 ? "" : "s", out);
        status = 3;
        goto done;
    }
    qsort(refs, (size_t)n_refs, sizeof(row_ref), cmp_ref);
    // write OUT: a new file, fsync'd, renamed into place
    {
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.merge-%d", out, (int)getpid());
        FILE* o = fopen(tmp, "wb");
        FILE** src = fl_calloc((size_t)n_in, sizeof(FILE*));
        char* buf = NULL;
        size_t cap = 0;
        int werr = !o;
        char* header = fl_schema_header();
        if (!werr) werr = fprintf(o, "%s\n", header) < 0;
        free(header);
        for (long r = 0; r < n_refs && !werr; r++) {
            int f = refs[r].file;
            if (upgraded[f]) {  // its rows as this schema formats them
                char* line = fl_csv_line((const char* const*)in[f].cells + refs[r].row * in[f].n_cols, in[f].n_cols);
                werr = fprintf(o, "%s\n", line) < 0;
                free(line);
                continue;
            }
            if (!src[f] && !(src[f] = fopen(in[f].path, "rb"))) { werr = 1; break; }
            long from = in[f].offset[refs[r].row], to = in[f].end[refs[r].row];
            size_t len = (size_t)(to - from);
            if (len > cap) buf = fl_realloc(buf, cap = len);
            if (fseek(src[f], from, SEEK_SET) || fread(buf, 1, len, src[f]) != len || fwrite(buf, 1, len, o) != len) werr = 1;
        }
        for (int i = 0; i < n_in; i++)
            if (src[i]) fclose(src[i]);
        free(src);
        free(buf);
        if (o) {
            if (fflush(o) || fsync(fileno(o))) werr = 1;
            fclose(o);
        }
        if (werr || rename(tmp, out)) {
            fprintf(stderr, "flbench merge: cannot write %s: %s\n", out, strerror(errno));
            unlink(tmp);
            status = 2;
            goto done;
        }
    }
    fprintf(stderr, "flbench merge: %s: %ld rows of %ld cells from %d file%s%s\n", out, n_refs, order.n, n_in,
            n_in == 1 ? "" : "s", have_cfg ? ", every cell of the configuration present once" : ", no cell duplicated");
done:
    for (int i = 0; i < loaded; i++) fl_csv_free(&in[i]);
    free(in);
    free(upgraded);
    free(refs);
    sw_table_free(&cell_index);
    sw_table_free(&finals);
    sw_table_free(&first_final);
    sw_table_free(&rowkeys);
    sw_table_free(&order);
    sw_table_free(&dup_cells);
    if (have_cfg) {
        sw_cells_free(cells, n_cells);
        sw_config_free(&cfg);
    }
    return status;
}
