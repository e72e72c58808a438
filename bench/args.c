// args.c: option parsing for the flbench subcommands (see args.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <float.h>
#include <limits.h>
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

int fl_parse_integer(const char* what, const char* text, long long lo, long long hi, long long* out, fl_err* err) {
    char* end;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (end == text || *end) return fl_fail(err, "%s: expected an integer, found '%s'", what, text);
    if (errno == ERANGE || x < lo || x > hi)
        return fl_fail(err, "%s: out of range: expected an integer in %lld..%lld, found '%s'", what, lo, hi, text);
    *out = x;
    return 0;
}

// "a finite number > 0", "a number in 0..1", ...: what fl_parse_float accepts.
static void float_range_text(char* out, size_t n, double lo, int lo_open, double hi) {
    int has_lo = isfinite(lo), has_hi = isfinite(hi);
    if (has_lo && has_hi && !lo_open) snprintf(out, n, "a number in %g..%g", lo, hi);
    else if (has_lo && has_hi) snprintf(out, n, "a number > %g and <= %g", lo, hi);
    else if (has_lo) snprintf(out, n, "a finite number %s %g", lo_open ? ">" : ">=", lo);
    else if (has_hi) snprintf(out, n, "a finite number <= %g", hi);
    else snprintf(out, n, "a finite number");
}

int fl_parse_float(const char* what, const char* text, double lo, int lo_open, double hi, float* out, fl_err* err) {
    char* end;
    errno = 0;
    float x = strtof(text, &end);
    if (end == text || *end) return fl_fail(err, "%s: expected a number, found '%s'", what, text);
    char range[96];
    float_range_text(range, sizeof range, lo, lo_open, hi);
    if (errno == ERANGE)  // beyond float32, or so small it would round to 0 (or lose precision)
        return fl_fail(err, "%s: out of range: expected %s within float32 (magnitude %g..%g, or 0), found '%s'", what,
                       range, (double)FLT_MIN, (double)FLT_MAX, text);
    if (!isfinite(x)) return fl_fail(err, "%s: expected %s, found '%s'", what, range, text);
    int below = lo_open ? !(x > lo) : !(x >= lo);
    if (below || !(x <= hi)) return fl_fail(err, "%s: out of range: expected %s, found '%s'", what, range, text);
    *out = x;
    return 0;
}

int fl_parse_int_list(const char* what, const char* text, long long lo, long long hi, int* v, int cap, fl_err* err) {
    int n = 0;
    const char* p = text;
    char item[64];
    for (;;) {
        const char* comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == cap || len == 0 || len >= sizeof item)
            return fl_fail(err, "%s: expected up to %d integers in %lld..%lld separated by commas, found '%s'", what, cap,
                           lo, hi, text);
        memcpy(item, p, len);
        item[len] = 0;
        long long x = 0;
        if (fl_parse_integer(what, item, lo, hi, &x, err)) return -1;
        v[n++] = (int)x;
        if (!comma) return n;
        p = comma + 1;
    }
}

// The range of a numeric option (fl_opt.values): lo, hi (+-INFINITY when open-ended), lo_open.
typedef struct {
    double lo, hi;
    int lo_open;
} opt_range;

static opt_range range_of(const fl_opt* o) {
    opt_range r = {-INFINITY, INFINITY, 0};
    const char* s = o->values;
    if (!s) return r;
    if (*s == '>') {
        r.lo_open = 1;
        s++;
    }
    const char* dots = strstr(s, "..");
    char* end = NULL;
    int ok = 1;
    if (!dots) {
        r.lo = strtod(s, &end);
        ok = r.lo_open && end != s && !*end;
    } else {
        char lo[32];  // strtod would read the "1." of "1..": LO is read on its own
        snprintf(lo, sizeof lo, "%.*s", (int)(dots - s), s);
        if (dots != s) r.lo = strtod(lo, &end), ok = end != lo && !*end;
        if (ok && dots[2]) r.hi = strtod(dots + 2, &end), ok = end != dots + 2 && !*end;
        ok = ok && !(r.lo_open && dots == s);
    }
    FL_CHECK(ok, "option table: --%s has the range '%s'; expected LO..HI, LO.., ..HI, >LO or >LO..HI", o->name, o->values);
    return r;
}

// An integer option's bounds: its range within the type's [tlo, thi].
static void int_bounds(const fl_opt* o, long long tlo, long long thi, long long* lo, long long* hi) {
    opt_range r = range_of(o);
    *lo = tlo;
    *hi = thi;
    if (isfinite(r.lo) && r.lo > (double)tlo) *lo = (long long)ceil(r.lo) + (r.lo_open && ceil(r.lo) == r.lo);
    if (isfinite(r.hi) && r.hi < (double)thi) *hi = (long long)floor(r.hi);
}

static int set_value(const fl_opt* o, const char* v, fl_err* err) {
    char what[80];
    snprintf(what, sizeof what, "--%s", o->name);
    switch (o->type) {
    case FL_OPT_INT: {  // INT_MIN is never given: a table may use it for "not given"
        long long lo, hi, x = 0;
        int_bounds(o, -INT_MAX, INT_MAX, &lo, &hi);
        if (fl_parse_integer(what, v, lo, hi, &x, err)) return 2;
        *(int*)o->target = (int)x;
        return 0;
    }
    case FL_OPT_LONG: {
        long long lo, hi, x = 0;
        int_bounds(o, LONG_MIN, LONG_MAX, &lo, &hi);
        if (fl_parse_integer(what, v, lo, hi, &x, err)) return 2;
        *(long*)o->target = (long)x;
        return 0;
    }
    case FL_OPT_U64: {
        char* end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (end == v || *end) {
            fl_fail(err, "%s: expected an integer, found '%s'", what, v);
            return 2;
        }
        if (errno == ERANGE || strchr(v, '-')) {  // strtoull would wrap "-1" around
            fl_fail(err, "%s: out of range: expected an integer in 0..%llu, found '%s'", what, (unsigned long long)UINT64_MAX, v);
            return 2;
        }
        *(uint64_t*)o->target = (uint64_t)x;
        return 0;
    }
    case FL_OPT_FLOAT: {
        opt_range r = range_of(o);
        if (fl_parse_float(what, v, r.lo, r.lo_open, r.hi, (float*)o->target, err)) return 2;
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
        int i = choice_index(o->values, v);
        if (i < 0) {
            fl_fail(err, "--%s: expected one of %s, found '%s'", o->name, o->values, v);
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

// "--name N 1..": an option as its help line shows it.
static void fl_opt_shown(const fl_opt* o, char* out, size_t len) {
    const char* arg = o->type == FL_OPT_FLAG ? "" : o->type == FL_OPT_CHOICE ? o->values
                    : o->type == FL_OPT_STR ? "S" : o->type == FL_OPT_FLOAT ? "X" : "N";
    int range = o->type != FL_OPT_CHOICE && o->values;  // a number's range after its letter
    snprintf(out, len, "--%s%s%s%s%s", o->name, arg[0] ? " " : "", arg, range ? " " : "", range ? o->values : "");
}

void fl_print_opts(const char* cmd, const fl_opt* opts, int n_opts) {
    printf("usage: flbench %s [options]\n", cmd);
    int width = 0;  // the help texts start in one column, two spaces after the longest option
    for (int i = 0; i < n_opts; i++) {
        char shown[160];
        fl_opt_shown(&opts[i], shown, sizeof shown);
        if ((int)strlen(shown) > width) width = (int)strlen(shown);
    }
    for (int i = 0; i < n_opts; i++) {
        char shown[160];
        fl_opt_shown(&opts[i], shown, sizeof shown);
        printf("  %-*s  %s\n", width, shown, opts[i].help);
    }
}

int fl_edit_distance(const char* a, size_t na, const char* b, size_t nb) {
    if (na > 63 || nb > 63) return INT_MAX;  // no option or command is that long
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

void fl_suggest(const char* typed, size_t len, const char* cand, const char** best, int* best_d) {
    int d = fl_edit_distance(typed, len, cand, strlen(cand));
    int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    if (d <= limit && d < *best_d) {
        *best = cand;
        *best_d = d;
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
    for (int k = 0; k < n_opts; k++)  // every range of the table is well formed, given or not
        if (opts[k].type != FL_OPT_CHOICE) (void)range_of(&opts[k]);
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
            const char* near = NULL;
            int near_d = INT_MAX;
            for (int k = 0; k < n_opts; k++) fl_suggest(name, nlen, opts[k].name, &near, &near_d);
            if (near)
                fl_fail(err, "unknown option '--%.*s' (did you mean '--%s'? see flbench %s --help)", (int)nlen, name,
                        near, cmd);
            else
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
