// args.c: option parsing for the flbench subcommands (see args.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include "args.h"

static int choice_index(const char* choices, const char* v) {
    int idx = 0;
    const char* p = choices;
    size_t n = strlen(v);
    while (*p) {
        const char* bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return idx;
        idx++;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

static int set_value(const char* cmd, const fl_opt* o, const char* v) {
    char* end;
    errno = 0;
    switch (o->type) {
    case FL_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < -2147483647L || x > 2147483647L) {
            fprintf(stderr, "flbench %s: --%s: expected an integer, found '%s'\n", cmd, o->name, v);
            return 2;
        }
        *(int*)o->target = (int)x;
        return 0;
    }
    case FL_OPT_LONG: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno) {
            fprintf(stderr, "flbench %s: --%s: expected an integer, found '%s'\n", cmd, o->name, v);
            return 2;
        }
        *(long*)o->target = x;
        return 0;
    }
    case FL_OPT_U64: {
        if (*v == '-') {
            fprintf(stderr, "flbench %s: --%s: expected a non-negative integer, found '%s'\n", cmd, o->name, v);
            return 2;
        }
        unsigned long long x = strtoull(v, &end, 10);
        if (*v == 0 || *end || errno) {
            fprintf(stderr, "flbench %s: --%s: expected a non-negative integer, found '%s'\n", cmd, o->name, v);
            return 2;
        }
        *(uint64_t*)o->target = (uint64_t)x;
        return 0;
    }
    case FL_OPT_FLOAT: {
        float x = strtof(v, &end);
        if (*v == 0 || *end || errno || !isfinite(x)) {
            fprintf(stderr, "flbench %s: --%s: expected a number, found '%s'\n", cmd, o->name, v);
            return 2;
        }
        *(float*)o->target = x;
        return 0;
    }
    case FL_OPT_STR:
        if ((int)strlen(v) >= o->size) {
            fprintf(stderr, "flbench %s: --%s: value longer than %d characters\n", cmd, o->name, o->size - 1);
            return 2;
        }
        snprintf((char*)o->target, (size_t)o->size, "%s", v);
        return 0;
    case FL_OPT_CHOICE: {
        int i = choice_index(o->choices, v);
        if (i < 0) {
            fprintf(stderr, "flbench %s: --%s: expected one of %s, found '%s'\n", cmd, o->name, o->choices, v);
            return 2;
        }
        *(int*)o->target = i;
        return 0;
    }
    case FL_OPT_FLAG:
        *(int*)o->target = 1;
        return 0;
    }
    return 2;
}

void fl_print_opts(const char* cmd, const fl_opt* opts, int n_opts) {
    printf("usage: flbench %s [options]\n", cmd);
    for (int i = 0; i < n_opts; i++) {
        const fl_opt* o = &opts[i];
        const char* arg = o->type == FL_OPT_FLAG ? "" : o->type == FL_OPT_CHOICE ? o->choices
                        : o->type == FL_OPT_STR ? "S" : o->type == FL_OPT_FLOAT ? "X" : "N";
        printf("  --%s %-22s %s\n", o->name, arg, o->help);
    }
}

int fl_parse_opts(const char* cmd, const fl_opt* opts, int n_opts, int argc, char** argv, int first,
                  char** pos, int max_pos, int* n_pos) {
    if (n_pos) *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fl_print_opts(cmd, opts, n_opts);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!pos || !n_pos || *n_pos >= max_pos) {
                fprintf(stderr, "flbench %s: unexpected argument '%s' (options start with --; see --help)\n", cmd, a);
                return 2;
            }
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        const char* name = a + 2;
        const char* eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const fl_opt* o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, name, nlen)) { o = &opts[k]; break; }
        if (!o) {
            fprintf(stderr, "flbench %s: unknown option '--%.*s' (see flbench %s --help)\n", cmd, (int)nlen, name, cmd);
            return 2;
        }
        const char* v;
        if (o->type == FL_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "flbench %s: --%s takes no value\n", cmd, o->name);
                return 2;
            }
            v = "";
        } else if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "flbench %s: --%s needs a value\n", cmd, o->name);
                return 2;
            }
            v = argv[++i];
        }
        int rc = set_value(cmd, o, v);
        if (rc) return rc;
    }
    return 0;
}

void fl_join_args(int argc, char** argv, char* out, int size) {
    int len = 0;
    out[0] = 0;
    for (int i = 0; i < argc && len < size - 1; i++)
        len += snprintf(out + len, (size_t)(size - len), "%s%s", i ? " " : "", argv[i]);
}
