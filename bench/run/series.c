// series.c: the series name of a run (series.h), shared by the train loop's rows and the report.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "series.h"
#include "../../impl/estimators/estimator.h"

static int is_number(const char* s) {
    char* end;
    if (!*s) return 0;
    strtod(s, &end);
    return *end == 0;
}

// Axes of a sweep key that are not part of a series' name.
static int axis_not_in_label(const char* axis) {
    static const char* drop[] = {"seed", "budget", "dataset", "model", "shots", "classes", "val-per-class", "data-root", NULL};
    for (int i = 0; drop[i]; i++)
        if (!strcmp(drop[i], axis)) return 1;
    return 0;
}

static void key_label(const char* key, const char* method, const char* allocator, char* out, size_t len) {
    out[0] = 0;
    const char* h = strstr(key, ";h=");
    const char* semi = strchr(key, ';');
    if (h && semi && semi < h) {
        size_t n = 0;
        const char* p = semi + 1;
        while (p < h + 1) {
            const char* e = strchr(p, ';');
            if (!e || e > h) e = h;
            char part[256];
            size_t pl = (size_t)(e - p);
            if (pl >= sizeof part) pl = sizeof part - 1;
            memcpy(part, p, pl);
            part[pl] = 0;
            char* eq = strchr(part, '=');
            if (eq) {
                *eq = 0;
                const char* v = eq + 1;
                if (!axis_not_in_label(part)) {
                    if (is_number(v)) n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s=%s", n ? " " : "", part, v);
                    else n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? " " : "", v);
                }
            }
            p = e + 1;
            if (e == h) break;
        }
        if (n >= len) out[len - 1] = 0;
        // words (e.g. "lr-flops") before axis=value parts (e.g. "lr=1e-3")
        char words[512] = "", pairs[512] = "";
        char copy[512];
        snprintf(copy, sizeof copy, "%s", out);
        for (char* tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
            char* dst = strchr(tok, '=') ? pairs : words;
            size_t dl = strlen(dst);
            snprintf(dst + dl, 512 - dl, "%s%s", dl ? " " : "", tok);
        }
        snprintf(out, len, "%s%s%s", words, words[0] && pairs[0] ? " " : "", pairs);
    }
    if (!out[0]) {
        if (fl_method_is_exact(method)) snprintf(out, len, "%s", method);
        else snprintf(out, len, "%s-%s", method, allocator[0] ? allocator : "-");
    }
}

// The exact method with activation checkpointing is its own method, "bp-ckpt" (METHOD-ckpt), in
// every table: a label "bp" (the method's name) becomes "bp-ckpt"; another label without
// "ckpt" in it gets "bp-ckpt" in front.
static void ckpt_label(char* label, size_t len, const char* method) {
    if (strstr(label, "ckpt")) return;
    char rest[200];
    size_t ml = strlen(method);
    if (!strncmp(label, method, ml) && (label[ml] == 0 || label[ml] == ' ')) snprintf(rest, sizeof rest, "%s", label + ml);
    else snprintf(rest, sizeof rest, " %s", label);
    snprintf(label, len, "%s-ckpt%.180s", method, rest);
}

void fl_series_label(const char* key, const char* method, const char* allocator, int ckpt, char* out, size_t len) {
    key_label(key, method, allocator, out, len);
    if (ckpt) ckpt_label(out, len, method);
}
