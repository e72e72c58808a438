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

static int set_value(const fl_opt* o, const char* v, fl_err* err) {
    char* end;
    errno = 0;
    switch (o->type) {
    case FL_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < -2147483647L || x > 2147483647L) {
            fl_fail(err, "--%s: expected an integer, found '%s'", o->name, v);
            return 2;
        }
        *(int*)o->target = (int)x;
        return 0;
    }
    case FL_OPT_LONG: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno) {
            fl_fail(err, "--%s: expected an integer, found '%s'", o->name, v);
            return 2;
        }
        *(long*)o->target = x;
        return 0;
    }
    case FL_OPT_U64: {
        if (*v == '-') {
            fl_fail(err, "--%s: expected a non-negative integer, found '%s'", o->name, v);
            return 2;
        }
        unsigned long long x = strtoull(v, &end, 10);
        if (*v == 0 || *end || errno) {
            fl_fail(err, "--%s: expected a non-negative integer, found '%s'", o->name, v);
            return 2;
        }
        *(uint64_t*)o->target = (uint64_t)x;
        return 0;
    }
    case FL_OPT_FLOAT: {
        float x = strtof(v, &end);
        if (*v == 0 || *end || errno || !isfinite(x)) {
            fl_fail(err, "--%s: expected a number, found '%s'", o->name, v);
            return 2;
        }
        *(float*)o->target = x;
        return 0;
    }
    case FL_OPT_STR:
        if ((int)strlen(v) >= o->size) {
            fl_fail(err, "--%s: value longer than %d characters", o->name, o->size - 1);
            return 2;
        }
        snprintf((char*)o->target, (size_t)o->size, "%s", v);
        return 0;
    case FL_OPT_CHOICE: {
        int i = choice_index(o->choices, v);
        if (i < 0) {
            fl_fail(err, "--%s: expected one of %s, found '%s'", o->name, o->choices, v);
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

const fl_opt* fl_find_opt(const fl_opt* opts, int n_opts, const char* name) {
    for (int k = 0; k < n_opts; k++)
        if (!strcmp(opts[k].name, name)) return &opts[k];
    return NULL;
}

int fl_parse_opts_err(const char* cmd, const fl_opt* opts, int n_opts, int argc, char** argv, int first,
                      char** pos, int max_pos, int* n_pos, fl_err* err) {
    if (n_pos) *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        if (strncmp(a, "--", 2) != 0) {
            if (!pos || !n_pos || *n_pos >= max_pos) {
                fl_fail(err, "unexpected argument '%s' (options start with --; see --help)", a);
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
            fl_fail(err, "unknown option '--%.*s' (see flbench %s --help)", (int)nlen, name, cmd);
            return 2;
        }
        const char* v;
        if (o->type == FL_OPT_FLAG) {
            if (eq) {
                fl_fail(err, "--%s takes no value", o->name);
                return 2;
            }
            v = "";
        } else if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fl_fail(err, "--%s needs a value", o->name);
                return 2;
            }
            v = argv[++i];
        }
        int rc = set_value(o, v, err);
        if (rc) return rc;
    }
    return 0;
}

int fl_parse_opts(const char* cmd, const fl_opt* opts, int n_opts, int argc, char** argv, int first,
                  char** pos, int max_pos, int* n_pos) {
    fl_err err = {{0}};
    int rc = fl_parse_opts_err(cmd, opts, n_opts, argc, argv, first, pos, max_pos, n_pos, &err);
    if (rc == 1) fl_print_opts(cmd, opts, n_opts);
    if (rc == 2) fprintf(stderr, "flbench %s: %s\n", cmd, err.msg);
    return rc;
}

void fl_join_args(int argc, char** argv, char* out, int size) {
    int len = 0;
    out[0] = 0;
    for (int i = 0; i < argc && len < size - 1; i++)
        len += snprintf(out + len, (size_t)(size - len), "%s%s", i ? " " : "", argv[i]);
}
