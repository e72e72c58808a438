// sweep_config.c: reads a sweep configuration (format in sweep.h and docs/SWEEPS.md); its
// cells are expanded by sweep_cells.c. Every option is checked against `flbench train`'s
// option table and parser when the file is read, so a typo fails with the file and line
// before any cell runs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include "sweep.h"
#include "cli.h"

// ---------------------------------------------------------------------------------------
// option maps

void sw_map_set(sw_map* m, const char* name, const char* value, int line) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->kv[i].name, name)) {
            free(m->kv[i].value);
            m->kv[i].value = sw_strdup(value);
            m->kv[i].line = line;
            return;
        }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->kv = fl_realloc(m->kv, (size_t)m->cap * sizeof(sw_kv));
    }
    m->kv[m->n].name = sw_strdup(name);
    m->kv[m->n].value = sw_strdup(value);
    m->kv[m->n].line = line;
    m->n++;
}

const char* sw_map_get(const sw_map* m, const char* name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->kv[i].name, name)) return m->kv[i].value;
    return NULL;
}

void sw_map_copy(sw_map* dst, const sw_map* src) {
    for (int i = 0; i < src->n; i++) sw_map_set(dst, src->kv[i].name, src->kv[i].value, src->kv[i].line);
}

void sw_map_free(sw_map* m) {
    for (int i = 0; i < m->n; i++) {
        free(m->kv[i].name);
        free(m->kv[i].value);
    }
    free(m->kv);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------
// checking options with `flbench train`'s parser and its option table

int sw_parse_train(int argc, char** argv, fl_train_cfg* cfg, char* msg, size_t len) {
    fl_err err = {{0}};
    int rc = fl_train_parse_err(cfg, NULL, "train", argc, argv, 2, &err);
    const char* why = rc == 2 ? err.msg : rc == 1 ? "--help is not a train option here" : "";
    size_t n = strlen(why) < len ? strlen(why) : len - 1;  // cut to msg's size
    memcpy(msg, why, n);
    msg[n] = 0;
    return rc;
}

// Options the sweep sets itself for every cell.
static int reserved_option(const char* name) {
    return !strcmp(name, "out") || !strcmp(name, "cell-key") || !strcmp(name, "progress") ||
           !strcmp(name, "no-progress") || !strcmp(name, "quiet");
}

char* sw_substitute(const char* s, const char* out, const char* cell, const char* name) {
    size_t cap = strlen(s) + 1;
    const char* subs[3][2] = {{"{out}", out}, {"{cell}", cell}, {"{name}", name}};
    for (int k = 0; k < 3; k++)
        for (const char* p = strstr(s, subs[k][0]); p; p = strstr(p + 1, subs[k][0])) cap += strlen(subs[k][1]);
    char* r = fl_malloc(cap);
    size_t n = 0;
    while (*s) {
        int hit = 0;
        for (int k = 0; k < 3 && !hit; k++) {
            size_t l = strlen(subs[k][0]);
            if (!strncmp(s, subs[k][0], l)) {
                size_t vl = strlen(subs[k][1]);
                memcpy(r + n, subs[k][1], vl);
                n += vl;
                s += l;
                hit = 1;
            }
        }
        if (!hit) r[n++] = *s++;
    }
    r[n] = 0;
    return r;
}

static int flag_value(const char* v, const char** out) {
    if (!v || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) *out = "on";
    else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) *out = "off";
    else return -1;
    return 0;
}

// Checks NAME (and VALUE: NULL for a bare flag) as a train option. Fills *norm with the value
// to store (flags: "on"/"off"). Returns 0, or -1 with err naming file and line.
static int check_option(const char* file, int line, const char* name, const char* value, const char** norm,
                        fl_err* err) {
    if (reserved_option(name))
        return fl_fail(err, "%s:%d: --%s is set by the sweep for every cell; remove it from the configuration",
                       file, line, name);
    int kind = fl_train_option_kind(name);
    if (kind < 0)
        return fl_fail(err, "%s:%d: unknown train option '%s' (see flbench train --help)", file, line, name);
    if (kind == 1) {
        if (flag_value(value, norm))
            return fl_fail(err, "%s:%d: --%s is a flag: expected on or off, found '%s'", file, line, name, value);
        return 0;
    }
    if (!value) return fl_fail(err, "%s:%d: --%s needs a value", file, line, name);
    char* v = sw_substitute(value, "x", "x", "x");
    char arg[64];
    snprintf(arg, sizeof arg, "--%s", name);
    char* argv[] = {"flbench", "train", arg, v};
    fl_train_cfg cfg;
    char msg[512];
    int rc = sw_parse_train(4, argv, &cfg, msg, sizeof msg);
    free(v);
    if (rc) return fl_fail(err, "%s:%d: %s", file, line, msg);
    *norm = value;
    return 0;
}

// ---------------------------------------------------------------------------------------
// reading the file

typedef struct {
    char** t;
    int n, cap;
} tokens;

static void tokens_push(tokens* k, const char* s, size_t len) {
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 16;
        k->t = fl_realloc(k->t, (size_t)k->cap * sizeof(char*));
    }
    char* c = fl_malloc(len + 1);
    memcpy(c, s, len);
    c[len] = 0;
    k->t[k->n++] = c;
}

static void tokens_free(tokens* k) {
    for (int i = 0; i < k->n; i++) free(k->t[i]);
    free(k->t);
    memset(k, 0, sizeof *k);
}

// Expands ${VAR} and ${VAR:-default} into buf. Returns 0, or -1 with err.
static int expand_env(const char* file, int line, const char* s, char* buf, size_t cap, fl_err* err) {
    size_t n = 0;
    while (*s) {
        if (s[0] == '$' && s[1] == '{') {
            const char* close = strchr(s, '}');
            if (!close) return fl_fail(err, "%s:%d: '${' without a closing '}'", file, line);
            char var[128];
            size_t vl = (size_t)(close - s - 2);
            if (vl >= sizeof var) return fl_fail(err, "%s:%d: variable name too long", file, line);
            memcpy(var, s + 2, vl);
            var[vl] = 0;
            const char* def = NULL;
            char* colon = strstr(var, ":-");
            if (colon) {
                *colon = 0;
                def = colon + 2;
            }
            const char* v = getenv(var);
            if (!v || (!*v && def)) v = def;
            if (!v)
                return fl_fail(err, "%s:%d: environment variable %s is not set (write ${%s:-DEFAULT} for a default)",
                               file, line, var, var);
            size_t l = strlen(v);
            if (n + l >= cap) return fl_fail(err, "%s:%d: line too long after expanding ${%s}", file, line, var);
            memcpy(buf + n, v, l);
            n += l;
            s = close + 1;
        } else {
            if (n + 1 >= cap) return fl_fail(err, "%s:%d: line too long", file, line);
            buf[n++] = *s++;
        }
    }
    buf[n] = 0;
    return 0;
}

// Splits a line into whitespace-separated tokens; "..." quotes (\" and \\ inside); # outside
// quotes starts a comment. Returns 0, or -1 with err.
static int tokenize(const char* file, int line, const char* s, tokens* out, fl_err* err) {
    size_t cap = strlen(s) + 1;
    char* cur = fl_malloc(cap);
    int rc = 0;
    while (*s) {
        while (*s && isspace((unsigned char)*s)) s++;
        if (!*s || *s == '#') break;
        size_t n = 0;
        while (*s && !isspace((unsigned char)*s)) {
            if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                    if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) s++;
                    cur[n++] = *s++;
                }
                if (*s != '"') {
                    rc = fl_fail(err, "%s:%d: unterminated quote", file, line);
                    goto done;
                }
                s++;
            } else {
                cur[n++] = *s++;
            }
        }
        tokens_push(out, cur, n);
    }
done:
    free(cur);
    return rc;
}

static int valid_name(const char* s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-+", *s)) return 0;
    return 1;
}

static sw_axis* find_axis(sw_config* c, const char* name) {
    for (int i = 0; i < c->n_axes; i++)
        if (!strcmp(c->axes[i].name, name)) return &c->axes[i];
    return NULL;
}

// Parses NAME=VALUE (or a bare flag NAME) assignments of tokens t[from..to) into m.
static int parse_assignments(const char* file, int line, char** t, int from, int to, sw_map* m, fl_err* err) {
    for (int i = from; i < to; i++) {
        char* eq = strchr(t[i], '=');
        char name[64];
        const char* value = NULL;
        size_t nl = eq ? (size_t)(eq - t[i]) : strlen(t[i]);
        if (nl == 0 || nl >= sizeof name)
            return fl_fail(err, "%s:%d: expected OPTION=VALUE, found '%s'", file, line, t[i]);
        memcpy(name, t[i], nl);
        name[nl] = 0;
        if (eq) value = eq + 1;
        const char* norm;
        if (check_option(file, line, name, value, &norm, err)) return -1;
        sw_map_set(m, name, norm, line);
    }
    return 0;
}

// Parses NAME=VALUE or NAME!=VALUE conditions; NAME is an axis or a train option.
static int parse_conditions(const char* file, int line, sw_config* c, char** t, int from, int to, sw_map* m,
                            fl_err* err) {
    if (from >= to) return fl_fail(err, "%s:%d: expected at least one condition NAME=VALUE", file, line);
    for (int i = from; i < to; i++) {
        char* eq = strchr(t[i], '=');
        if (!eq || eq == t[i]) return fl_fail(err, "%s:%d: expected a condition NAME=VALUE, found '%s'", file, line, t[i]);
        char name[64];
        size_t nl = (size_t)(eq - t[i]);
        if (nl >= sizeof name) return fl_fail(err, "%s:%d: name too long in '%s'", file, line, t[i]);
        memcpy(name, t[i], nl);
        name[nl] = 0;
        int neg = nl > 1 && name[nl - 1] == '!';
        if (neg) name[nl - 1] = 0;
        if (!find_axis(c, name) && fl_train_option_kind(name) < 0)
            return fl_fail(err, "%s:%d: condition on '%s', which is neither an axis declared above nor a train option",
                           file, line, name);
        char stored[72];
        snprintf(stored, sizeof stored, "%s%s", name, neg ? "!" : "");
        sw_map_set(m, stored, eq + 1, line);
    }
    return 0;
}

static int parse_line(sw_config* c, const char* file, int line, char** t, int n, fl_err* err) {
    const char* d = t[0];
    if (!strcmp(d, "name")) {
        if (n != 2 || !valid_name(t[1]) || strlen(t[1]) >= sizeof c->name)
            return fl_fail(err, "%s:%d: expected 'name NAME' (letters, digits, . _ - +; under 64 characters)", file, line);
        snprintf(c->name, sizeof c->name, "%s", t[1]);
        return 0;
    }
    if (!strcmp(d, "set")) {
        if (n < 2 || n > 3) return fl_fail(err, "%s:%d: expected 'set OPTION [VALUE]', found %d words", file, line, n);
        const char* norm;
        if (check_option(file, line, t[1], n == 3 ? t[2] : NULL, &norm, err)) return -1;
        sw_map_set(&c->fixed, t[1], norm, line);
        return 0;
    }
    if (!strcmp(d, "axis")) {
        if (n < 3) return fl_fail(err, "%s:%d: expected 'axis OPTION VALUE...' with at least one value", file, line);
        sw_axis* prev = find_axis(c, t[1]);
        if (prev) return fl_fail(err, "%s:%d: axis '%s' is already declared on line %d", file, line, t[1], prev->line);
        c->axes = fl_realloc(c->axes, (size_t)(c->n_axes + 1) * sizeof(sw_axis));
        sw_axis* a = &c->axes[c->n_axes++];
        memset(a, 0, sizeof *a);
        snprintf(a->name, sizeof a->name, "%s", t[1]);
        a->line = line;
        a->values = fl_calloc((size_t)(n - 2), sizeof(char*));
        for (int i = 2; i < n; i++) {
            const char* norm;
            if (check_option(file, line, t[1], t[i], &norm, err)) return -1;
            for (int j = 0; j < a->n; j++)
                if (!strcmp(a->values[j], norm))
                    return fl_fail(err, "%s:%d: axis '%s' lists the value '%s' twice", file, line, t[1], norm);
            a->values[a->n++] = sw_strdup(norm);
        }
        return 0;
    }
    if (!strcmp(d, "variant")) {
        if (n < 3) return fl_fail(err, "%s:%d: expected 'variant AXIS LABEL [OPTION=VALUE]...'", file, line);
        if (!valid_name(t[1]) || strlen(t[1]) >= 48)
            return fl_fail(err, "%s:%d: variant axis name '%s': expected letters, digits, . _ - +", file, line, t[1]);
        if (!valid_name(t[2]))
            return fl_fail(err, "%s:%d: variant label '%s': expected letters, digits, . _ - +", file, line, t[2]);
        sw_axis* a = find_axis(c, t[1]);
        if (a && !a->is_variant)
            return fl_fail(err, "%s:%d: '%s' is a plain axis (line %d); a variant axis needs another name", file, line,
                           t[1], a->line);
        if (!a) {
            c->axes = fl_realloc(c->axes, (size_t)(c->n_axes + 1) * sizeof(sw_axis));
            a = &c->axes[c->n_axes++];
            memset(a, 0, sizeof *a);
            snprintf(a->name, sizeof a->name, "%s", t[1]);
            a->is_variant = 1;
            a->line = line;
        }
        for (int j = 0; j < a->n; j++)
            if (!strcmp(a->values[j], t[2]))
                return fl_fail(err, "%s:%d: variant %s '%s' is already defined", file, line, t[1], t[2]);
        a->values = fl_realloc(a->values, (size_t)(a->n + 1) * sizeof(char*));
        a->bundles = fl_realloc(a->bundles, (size_t)(a->n + 1) * sizeof(sw_map));
        memset(&a->bundles[a->n], 0, sizeof(sw_map));
        a->values[a->n] = sw_strdup(t[2]);
        a->n++;
        return parse_assignments(file, line, t, 3, n, &a->bundles[a->n - 1], err);
    }
    if (!strcmp(d, "when") || !strcmp(d, "skip")) {
        int is_skip = d[0] == 's';
        int colon = -1;
        for (int i = 1; i < n; i++)
            if (!strcmp(t[i], ":")) { colon = i; break; }
        if (is_skip && colon >= 0) return fl_fail(err, "%s:%d: 'skip' takes conditions only (no ':')", file, line);
        if (!is_skip && colon < 0)
            return fl_fail(err, "%s:%d: expected 'when NAME=VALUE... : OPTION=VALUE...' (a ':' word between)", file, line);
        c->rules = fl_realloc(c->rules, (size_t)(c->n_rules + 1) * sizeof(sw_rule));
        sw_rule* r = &c->rules[c->n_rules++];
        memset(r, 0, sizeof *r);
        r->skip = is_skip;
        r->line = line;
        if (parse_conditions(file, line, c, t, 1, is_skip ? n : colon, &r->cond, err)) return -1;
        if (!is_skip) {
            if (colon + 1 >= n) return fl_fail(err, "%s:%d: nothing to set after ':'", file, line);
            return parse_assignments(file, line, t, colon + 1, n, &r->assign, err);
        }
        return 0;
    }
    if (!strcmp(d, "timeout")) {
        char* end;
        double v = n == 2 ? strtod(t[1], &end) : -1;
        if (n != 2 || *end || v < 0)
            return fl_fail(err, "%s:%d: expected 'timeout SECONDS' (0 = none), found '%s'", file, line, n > 1 ? t[1] : "");
        c->timeout_s = v;
        return 0;
    }
    if (!strcmp(d, "require")) {
        if (n < 3) return fl_fail(err, "%s:%d: expected 'require PATH COMMAND...'", file, line);
        c->requires = fl_realloc(c->requires, (size_t)(c->n_requires + 1) * sizeof(sw_require));
        sw_require* q = &c->requires[c->n_requires++];
        memset(q, 0, sizeof *q);
        q->line = line;
        snprintf(q->path, sizeof q->path, "%s", t[1]);
        size_t len = 0;
        for (int i = 2; i < n && len < sizeof q->cmd - 1; i++)
            len += (size_t)snprintf(q->cmd + len, sizeof q->cmd - len, "%s%s", i > 2 ? " " : "", t[i]);
        return 0;
    }
    return fl_fail(err, "%s:%d: unknown directive '%s' (expected name, set, axis, variant, when, skip, timeout, require or include)",
                   file, line, d);
}

void sw_config_free(sw_config* c) {
    sw_map_free(&c->fixed);
    for (int i = 0; i < c->n_axes; i++) {
        for (int j = 0; j < c->axes[i].n; j++) {
            free(c->axes[i].values[j]);
            if (c->axes[i].bundles) sw_map_free(&c->axes[i].bundles[j]);
        }
        free(c->axes[i].values);
        free(c->axes[i].bundles);
    }
    free(c->axes);
    for (int i = 0; i < c->n_rules; i++) {
        sw_map_free(&c->rules[i].cond);
        sw_map_free(&c->rules[i].assign);
    }
    free(c->rules);
    free(c->requires);
    memset(c, 0, sizeof *c);
}

static int parse_file(sw_config* c, const char* path, int depth, fl_err* err);

// include FILE: read FILE (relative to the including file's folder) as if its lines were here.
static int parse_include(sw_config* c, const char* from, int line, char** t, int n, int depth, fl_err* err) {
    if (n != 2) return fl_fail(err, "%s:%d: expected 'include FILE'", from, line);
    if (depth >= 8) return fl_fail(err, "%s:%d: includes nested deeper than 8 (a loop?)", from, line);
    char path[1024];
    const char* slash = strrchr(from, '/');
    if (t[1][0] == '/' || !slash) snprintf(path, sizeof path, "%s", t[1]);
    else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - from), from, t[1]);
    FILE* f = fopen(path, "r");
    if (!f) return fl_fail(err, "%s:%d: include %s: cannot open %s", from, line, t[1], path);
    fclose(f);
    return parse_file(c, path, depth + 1, err);
}

static int parse_file(sw_config* c, const char* path, int depth, fl_err* err) {
    FILE* f = fopen(path, "r");
    if (!f) return fl_fail(err, "%s: cannot open the sweep configuration", path);
    char* buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    char* joined = NULL;      // a logical line (physical lines ending in '\' joined)
    size_t jlen = 0;
    int jline = 0;
    char* expanded = fl_malloc(65536);
    while ((n = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
        if (!joined) jline = lineno;
        int cont = n && buf[n - 1] == '\\';
        if (cont) buf[--n] = 0;
        joined = fl_realloc(joined, jlen + (size_t)n + 2);
        memcpy(joined + jlen, buf, (size_t)n);
        jlen += (size_t)n;
        joined[jlen++] = ' ';
        joined[jlen] = 0;
        if (cont) continue;
        tokens t = {0};
        rc = expand_env(path, jline, joined, expanded, 65536, err);
        if (!rc) rc = tokenize(path, jline, expanded, &t, err);
        if (!rc && t.n) {
            if (!strcmp(t.t[0], "include")) rc = parse_include(c, path, jline, t.t, t.n, depth, err);
            else rc = parse_line(c, path, jline, t.t, t.n, err);
        }
        tokens_free(&t);
        free(joined);
        joined = NULL;
        jlen = 0;
        if (rc) break;
    }
    if (!rc && joined) rc = fl_fail(err, "%s:%d: the last line ends in '\\' (a continuation of nothing)", path, jline);
    free(joined);
    free(expanded);
    free(buf);
    fclose(f);
    return rc;
}

int sw_config_load(const char* path, sw_config* c, fl_err* err) {
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    // default name: the file's base name without extension
    const char* base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(c->name, sizeof c->name, "%s", base);
    char* dot = strrchr(c->name, '.');
    if (dot && dot != c->name) *dot = 0;
    for (char* p = c->name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-+", *p)) *p = '_';
    int rc = parse_file(c, path, 0, err);
    if (!rc && c->n_axes == 0 && c->fixed.n == 0)
        rc = fl_fail(err, "%s: no 'set', 'axis' or 'variant' lines: nothing to run", path);
    if (rc) sw_config_free(c);
    return rc;
}
