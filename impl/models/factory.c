// factory.c: builds a model from its command-line specification.
//   mlp                    input-256-256-classes, ReLU
//   mlp:784-512-512-10     explicit widths (first = input size, last = classes)
//   vit-*                  vit.c, fl_vit_from_spec
#include <string.h>
#include "model.h"
#include "vit.h"

fl_model* fl_model_create(const fl_ops* ops, const char* spec, const char* act, int channels,
                          int height, int width, int n_classes, fl_err* err) {
    int in_dim = channels * height * width;
    if (!strcmp(spec, "mlp") || !strncmp(spec, "mlp:", 4)) {
        char widths[256];
        if (!strcmp(spec, "mlp")) snprintf(widths, sizeof widths, "%d-256-256-%d", in_dim, n_classes);
        else snprintf(widths, sizeof widths, "%s", spec + 4);
        fl_model* m = fl_mlp_new(ops, widths, act, err);
        if (!m) return NULL;
        if (m->in_dim != in_dim || m->n_classes != n_classes) {
            fl_fail(err, "--model %s: the data have %d inputs and %d classes, the model %d and %d",
                    spec, in_dim, n_classes, m->in_dim, m->n_classes);
            fl_model_free(m);
            return NULL;
        }
        return m;
    }
    if (!strncmp(spec, "vit", 3)) return fl_vit_from_spec(ops, spec, channels, height, width, n_classes, err);
    fl_fail(err, "--model: unknown model '%s' (expected mlp, mlp:W0-W1-...-C, vit-tiny, vit-b16, vit-l16 or vit:...)", spec);
    return NULL;
}
