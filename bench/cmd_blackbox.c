// cmd_blackbox.c: `flbench blackbox`: flbench's frozen ViT served as a black box over the
// protocol of docs/BLACKBOX.md, on standard input and output, so that `flbench prompt
// --blackbox "build/flbench blackbox --weights W"` tunes across a real process boundary what the
// built-in box computes in process (the same losses, bit for bit).
//   flbench blackbox --weights FILE|DIR [--heads H] [--backend cpu|cuda] [--threads N]
// The model is the ViT the weights describe (a checkpoint of train --save, or a Hugging Face
// directory); its classifier must have the classes of the box's data. Standard output carries frames
// only; notes and errors go to standard error. Exit status: 0 after QUIT or the end of input,
// 1 on a malformed request, 2 with one line for bad options or weights.
#include <stdio.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>
#include "args.h"
#include "cli.h"
#include "../impl/models/vit.h"
#include "../impl/models/vit_prompt.h"

int fl_cmd_blackbox(int argc, char** argv) {
    char weights[4096] = "", backend[16] = "cpu";
    int heads = 0, threads = 0;
    fl_opt opts[] = {
        {"weights", FL_OPT_STR, weights, sizeof weights, NULL, "the frozen ViT: safetensors file or Hugging Face model directory"},
        {"heads", FL_OPT_INT, &heads, 0, "0..", "attention heads when nothing says (default dim / 64)"},
        {"backend", FL_OPT_STR, backend, sizeof backend, NULL, "cpu (default) or cuda"},
        {"threads", FL_OPT_INT, &threads, 0, "0..1024", "CPU threads (default: all)"},
    };
    int rc = fl_parse_opts("blackbox", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!weights[0]) {
        fprintf(stderr, "flbench blackbox: --weights is required (the frozen ViT to serve; see --help)\n");
        return 2;
    }
    if (threads > 0) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    fl_err err = {{0}};
    const fl_ops* ops = fl_ops_by_name(backend, &err);
    fl_model* m = ops ? fl_vit_from_weights(ops, weights, heads, NULL, &err) : NULL;
    if (!m || fl_vit_load_weights(m, weights, 0, NULL, &err)) {
        fprintf(stderr, "flbench blackbox: %s\n", err.msg);
        fl_model_free(m);
        return 2;
    }
    fl_blackbox* box = fl_blackbox_vit_new(m, &err);
    rc = box && fl_blackbox_serve(box, 0, 1, &err) == 0 ? 0 : 1;
    if (rc) fprintf(stderr, "flbench blackbox: %s\n", err.msg);
    fl_blackbox_free(box);
    fl_model_free(m);
    return rc;
}
