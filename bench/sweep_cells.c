// sweep_cells.c: expands a sweep configuration (sweep_config.c) into its cells: the cross
// product of the axes, the variants' bundles, the when/skip rules, each cell's identity (key
// and the hash of the options that define its result) and its `flbench train` command line,
// parsed by train's own parser.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sweep.h"
#include "cli.h"

// Options that change nothing in the results: left out of the cell's hash, so that moving the
// data, changing threads or adding an allocation log does not make a finished cell new.
static int hash_excluded(const char* name) {
    static const char* ex[] = {"data-root", "threads", "eval-batch", "alloc-log", "alloc-log-every",
                               "save", "save-every", NULL};
    for (int i = 0; ex[i]; i++)
        if (!strcmp(ex[i], name)) return 1;
    return 0;
}

static int cmp_kv(const void* a, const void* b) {
    return strcmp(((const sw_kv*)a)->name, ((const sw_kv*)b)->name);
}

static uint64_t hash_options(const sw_map* m) {
    sw_kv* s = fl_malloc((size_t)(m->n ? m->n : 1) * sizeof(sw_kv));
    if (m->n) memcpy(s, m->kv, (size_t)m->n * sizeof(sw_kv));  // kv is NULL when n is 0
    qsort(s, (size_t)m->n, sizeof(sw_kv), cmp_kv);
    uint64_t h = SW_FNV_INIT;
    for (int i = 0; i < m->n; i++) {
        if (hash_excluded(s[i].name)) continue;
        h = fl_fnv1a_str(h, s[i].name);
        h = fl_fnv1a_str(h, "=");
        h = fl_fnv1a_str(h, s[i].value);
        h = fl_fnv1a_str(h, "\n");
    }
    free(s);
    return h;
}

// Does the cell (axis labels, options before the rules) match every condition of r?
static int rule_matches(const sw_config* c, const sw_rule* r, const int* choice, const sw_map* opts) {
    for (int i = 0; i < r->cond.n; i++) {
        char name[72];
        snprintf(name, sizeof name, "%s", r->cond.kv[i].name);
        size_t nl = strlen(name);
        int neg = nl && name[nl - 1] == '!';
        if (neg) name[nl - 1] = 0;
        const char* have = NULL;
        for (int a = 0; a < c->n_axes; a++)
            if (c->axes[a].is_variant && !strcmp(c->axes[a].name, name)) have = c->axes[a].values[choice[a]];
        if (!have) have = sw_map_get(opts, name);
        if (!have) have = "";
        // value list a|b|c
        int any = 0;
        const char* v = r->cond.kv[i].value;
        while (1) {
            const char* bar = strchr(v, '|');
            size_t len = bar ? (size_t)(bar - v) : strlen(v);
            if (strlen(have) == len && !strncmp(have, v, len)) any = 1;
            if (!bar) break;
            v = bar + 1;
        }
        if (any == neg) return 0;
    }
    return 1;
}

static void build_argv(sw_cell* cell, const char* out_dir, const char* name) {
    int cap = 2 + 2 * cell->opts.n + 2;
    cell->argv = fl_calloc((size_t)cap, sizeof(char*));
    cell->argv[cell->argc++] = sw_strdup("flbench");
    cell->argv[cell->argc++] = sw_strdup("train");
    for (int i = 0; i < cell->opts.n; i++) {
        const sw_kv* kv = &cell->opts.kv[i];
        int kind = fl_train_option_kind(kv->name);
        if (kind == 1 && !strcmp(kv->value, "off")) continue;
        char arg[64];
        snprintf(arg, sizeof arg, "--%s", kv->name);
        cell->argv[cell->argc++] = sw_strdup(arg);
        if (kind != 1) cell->argv[cell->argc++] = sw_substitute(kv->value, out_dir, cell->id, name);
    }
}

long sw_cells(const sw_config* c, const char* out_dir, sw_cell** cells_out) {
    long total = 1;
    for (int a = 0; a < c->n_axes; a++) total *= c->axes[a].n;
    sw_cell* cells = fl_calloc((size_t)(total ? total : 1), sizeof(sw_cell));
    long n = 0;
    int* choice = fl_calloc((size_t)(c->n_axes ? c->n_axes : 1), sizeof(int));
    for (long k = 0; k < total; k++) {
        // mixed radix, the last axis fastest
        long r = k;
        for (int a = c->n_axes - 1; a >= 0; a--) {
            choice[a] = (int)(r % c->axes[a].n);
            r /= c->axes[a].n;
        }
        sw_map m = {0};
        sw_map_copy(&m, &c->fixed);
        for (int a = 0; a < c->n_axes; a++)
            if (!c->axes[a].is_variant) sw_map_set(&m, c->axes[a].name, c->axes[a].values[choice[a]], c->axes[a].line);
        for (int a = 0; a < c->n_axes; a++)
            if (c->axes[a].is_variant) sw_map_copy(&m, &c->axes[a].bundles[choice[a]]);
        // rules see the options before any rule applies
        sw_map before = {0};
        sw_map_copy(&before, &m);
        int skipped = 0;
        for (int i = 0; i < c->n_rules && !skipped; i++) {
            if (!rule_matches(c, &c->rules[i], choice, &before)) continue;
            if (c->rules[i].skip) skipped = 1;
            else sw_map_copy(&m, &c->rules[i].assign);
        }
        sw_map_free(&before);
        // flags switched off are the same as unset
        sw_map eff = {0};
        for (int i = 0; i < m.n; i++)
            if (!(fl_train_option_kind(m.kv[i].name) == 1 && !strcmp(m.kv[i].value, "off")))
                sw_map_set(&eff, m.kv[i].name, m.kv[i].value, m.kv[i].line);
        sw_map_free(&m);
        if (skipped) {
            sw_map_free(&eff);
            continue;
        }
        char id[17];
        snprintf(id, sizeof id, "%016llx", (unsigned long long)hash_options(&eff));
        int dup = 0;
        for (long j = 0; j < n && !dup; j++) dup = !strcmp(cells[j].id, id);
        if (dup) {
            sw_map_free(&eff);
            continue;
        }
        sw_cell* cell = &cells[n];
        cell->index = n;
        snprintf(cell->id, sizeof cell->id, "%s", id);
        cell->opts = eff;
        size_t len = 0;
        for (int a = 0; a < c->n_axes; a++) {
            const char* v = c->axes[a].is_variant ? c->axes[a].values[choice[a]] : sw_map_get(&cell->opts, c->axes[a].name);
            if (!v) v = "off";
            len += (size_t)snprintf(cell->label + len, len < sizeof cell->label ? sizeof cell->label - len : 0, "%s%s=%s",
                                    a ? ";" : "", c->axes[a].name, v);
            if (len >= sizeof cell->label) len = sizeof cell->label - 1;
        }
        // the key: NAME;LABEL;h=ID, with the label cut so that the whole fits the column
        int room = (int)sizeof cell->key - 1 - (int)strlen(c->name) - 2 - 19;
        snprintf(cell->key, sizeof cell->key, "%s;%.*s%sh=%s", c->name, room > 0 ? room : 0, cell->label,
                 cell->label[0] ? ";" : "", id);
        // a cell of 0 epochs still writes its one row: the evaluation before training
        const char* ep = sw_map_get(&cell->opts, "epochs");
        if (ep && atoi(ep) == 0 && !sw_map_get(&cell->opts, "eval-initial")) sw_map_set(&cell->opts, "eval-initial", "on", 0);
        build_argv(cell, out_dir, c->name);
        cell->parse_ok = sw_parse_train(cell->argc, cell->argv, &cell->cfg, cell->parse_msg, sizeof cell->parse_msg) == 0;
        n++;
    }
    free(choice);
    *cells_out = cells;
    return n;
}

void sw_cells_free(sw_cell* cells, long n) {
    for (long i = 0; i < n; i++) {
        sw_map_free(&cells[i].opts);
        for (int j = 0; j < cells[i].argc; j++) free(cells[i].argv[j]);
        free(cells[i].argv);
    }
    free(cells);
}
