// vit_spec.c: the ViT's specifications (vit.h): the named configurations (vit-tiny, vit-b16,
// vit-l16), their parsing with key=value fields (vit:image=HxW,patch=P,dim=D,...), the checks
// of a configuration, and the specification string of one (a model's desc, from which
// fl_vit_from_spec rebuilds it). Building the model from a checked configuration is vit.c's.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vit_internal.h"

// ---------------------------------------------------------------------------------------
// configurations

void fl_vit_desc(const fl_vit_cfg* c, char* out, size_t size) {
    char img[32];
    if (c->image_h == c->image_w) snprintf(img, sizeof img, "%d", c->image_h);
    else snprintf(img, sizeof img, "%dx%d", c->image_h, c->image_w);
    snprintf(out, size, "vit:image=%s,channels=%d,patch=%d,dim=%d,depth=%d,heads=%d,mlp=%d,classes=%d,eps=%g",
             img, c->channels, c->patch, c->dim, c->depth, c->heads, c->mlp, c->classes, (double)c->eps);
}

int fl_vit_check_cfg(const fl_vit_cfg* c, const char* what, fl_err* err) {
    const int lim = 1 << 16;
    struct { const char* name; int v; } f[] = {
        {"image height", c->image_h}, {"image width", c->image_w}, {"channels", c->channels},
        {"patch", c->patch}, {"dim", c->dim}, {"depth", c->depth}, {"heads", c->heads},
        {"mlp", c->mlp}, {"classes", c->classes},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < 1 || f[i].v > lim)
            return fl_fail(err, "%s: %s is %d, expected an integer in [1, %d]", what, f[i].name, f[i].v, lim);
    if (c->image_h % c->patch || c->image_w % c->patch)
        return fl_fail(err, "%s: image %dx%d is not a multiple of patch %d (resize the data with --image-size)", what,
                       c->image_h, c->image_w, c->patch);
    if (c->dim % c->heads)
        return fl_fail(err, "%s: dim %d is not a multiple of heads %d", what, c->dim, c->heads);
    long T = (long)(c->image_h / c->patch) * (c->image_w / c->patch) + 1;
    if (T > 65536) return fl_fail(err, "%s: %ld tokens, expected at most 65536", what, T);
    if (!(c->eps > 0.f && c->eps <= 1.f))
        return fl_fail(err, "%s: eps is %g, expected a number in (0, 1]", what, (double)c->eps);
    return 0;
}

// ---------------------------------------------------------------------------------------
// specifications

typedef struct {
    const char* name;
    int patch, dim, depth, heads, mlp;
} vit_named;

static const vit_named vit_names[] = {
    {"vit-tiny", 4, 192, 6, 3, 768},
    {"vit-b16", 16, 768, 12, 12, 3072},
    {"vit-l16", 16, 1024, 24, 16, 4096},
    {"vit", 16, 768, 12, 12, 3072},
};

static int parse_pos_int(const char* v, int* out) {
    char* end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < 1 || x > (1 << 20)) return -1;
    *out = (int)x;
    return 0;
}

fl_model* fl_vit_from_spec(const fl_ops* ops, const char* spec, int channels, int height, int width,
                           int n_classes, fl_err* err) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    char* fields = strchr(buf, ':');
    if (fields) *fields++ = 0;
    const vit_named* base = NULL;
    for (size_t i = 0; i < sizeof vit_names / sizeof vit_names[0]; i++)
        if (!strcmp(buf, vit_names[i].name)) base = &vit_names[i];
    if (!base) {
        fl_fail(err, "--model %s: unknown ViT '%s' (expected vit-tiny, vit-b16, vit-l16 or vit:image=...,patch=...,dim=...)", spec, buf);
        return NULL;
    }
    fl_vit_cfg c = {.image_h = height, .image_w = width, .channels = channels, .patch = base->patch,
                    .dim = base->dim, .depth = base->depth, .heads = base->heads, .mlp = base->mlp,
                    .classes = n_classes, .eps = 1e-12f};
    int img_h = 0, img_w = 0, ch = 0, cls = 0;
    for (char* tok = fields ? strtok(fields, ",") : NULL; tok; tok = strtok(NULL, ",")) {
        char* eq = strchr(tok, '=');
        if (!eq) {
            fl_fail(err, "--model %s: field '%s' is not key=value", spec, tok);
            return NULL;
        }
        *eq = 0;
        const char* k = tok;
        const char* v = eq + 1;
        int bad = 0;
        if (!strcmp(k, "image")) {
            char* x = strchr(v, 'x');
            if (x) {
                char hs[32];
                snprintf(hs, sizeof hs, "%.*s", (int)(x - v), v);
                bad = parse_pos_int(hs, &img_h) || parse_pos_int(x + 1, &img_w);
            } else {
                bad = parse_pos_int(v, &img_h);
                img_w = img_h;
            }
        } else if (!strcmp(k, "channels")) bad = parse_pos_int(v, &ch);
        else if (!strcmp(k, "patch")) bad = parse_pos_int(v, &c.patch);
        else if (!strcmp(k, "dim")) bad = parse_pos_int(v, &c.dim);
        else if (!strcmp(k, "depth")) bad = parse_pos_int(v, &c.depth);
        else if (!strcmp(k, "heads")) bad = parse_pos_int(v, &c.heads);
        else if (!strcmp(k, "mlp")) bad = parse_pos_int(v, &c.mlp);
        else if (!strcmp(k, "classes")) bad = parse_pos_int(v, &cls);
        else if (!strcmp(k, "eps")) {
            char* end;
            double e = strtod(v, &end);
            bad = end == v || *end || !(e > 0 && e <= 1);
            c.eps = (float)e;
            c.eps_given = 1;
        } else {
            fl_fail(err, "--model %s: unknown field '%s' (expected image, channels, patch, dim, depth, heads, mlp, classes, eps)", spec, k);
            return NULL;
        }
        if (bad) {
            fl_fail(err, "--model %s: field %s=%s, expected a positive %s", spec, k, v,
                    !strcmp(k, "eps") ? "number at most 1" : !strcmp(k, "image") ? "integer N or HxW" : "integer");
            return NULL;
        }
    }
    if (img_h) {
        if (height > 0 && (img_h != height || img_w != width)) {
            fl_fail(err, "--model %s: image=%dx%d but the data are %dx%d (resize with --image-size)", spec,
                    img_h, img_w, height, width);
            return NULL;
        }
        c.image_h = img_h;
        c.image_w = img_w;
    }
    if (ch) {
        if (channels > 0 && ch != channels) {
            fl_fail(err, "--model %s: channels=%d but the data have %d channels", spec, ch, channels);
            return NULL;
        }
        c.channels = ch;
    }
    if (cls) {
        if (n_classes > 0 && cls != n_classes) {
            fl_fail(err, "--model %s: classes=%d but the data have %d classes", spec, cls, n_classes);
            return NULL;
        }
        c.classes = cls;
    }
    char what[600];
    snprintf(what, sizeof what, "--model %s", spec);
    if (c.image_h < 1 || c.image_w < 1 || c.channels < 1) {
        fl_fail(err, "%s: image size and channels unknown (give image=N,channels=C or use data)", what);
        return NULL;
    }
    if (fl_vit_check_cfg(&c, what, err)) return NULL;
    return fl_vit_new(ops, &c, err);
}
