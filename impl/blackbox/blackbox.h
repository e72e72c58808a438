// blackbox.h: a model seen only through its losses (docs/BLACKBOX.md). The tuner names data and
// sends prompt vectors; the black box answers one loss per query row. Two kinds answer it: a
// process spoken to over stdin/stdout in length-prefixed .npy frames (process.c), and
// flbench's own frozen ViT with prompt tokens (impl/models/vit_prompt.c). serve.c puts any
// black box behind the protocol, so the two sides can be tested against each other.
//
// Shapes: the data of a box are fixed at setup, x (n, C, H, W) normalised floats and
// y (n) labels; a request has R query rows, row r asking for the loss of datum row_datum[r]
// with prompt row_prompt[r] of `prompts` (n_prompts, P, D).
#pragma once
#include <stdint.h>
#include "../core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_BB_VERSION 1
// Protocol operations (the first element of every message's header frame).
enum { FL_BB_QUIT = 0, FL_BB_SETUP = 1, FL_BB_QUERY = 2 };

// The data of a box, host memory, borrowed for the call.
typedef struct fl_bb_data {
    int64_t n;                // data
    int channels, height, width;
    int n_classes;
    const float* x;           // (n, C, H, W)
    const int32_t* y;         // (n)
} fl_bb_data;

// One request: R query rows, host memory, borrowed for the call.
typedef struct fl_bb_request {
    int n_rows;               // R
    const int32_t* row_datum; // (R) index into the box's data
    const int32_t* row_prompt;// (R) index into prompts
    int n_prompts;
    const float* prompts;     // (n_prompts, P, D)
} fl_bb_request;

typedef struct fl_blackbox fl_blackbox;

typedef struct fl_blackbox_vt {
    const char* kind;         // "process", "vit"
    // Hands over the box's data and the prompt length P. Writes the width D of one
    // prompt token and the forward FLOPs of one query (0: unknown). 0, or -1 with err.
    int (*setup)(fl_blackbox* bb, const fl_bb_data* data, int P, int* D, double* flops_per_query,
                 fl_err* err);
    // Answers a request: loss (R) and argmax (R, the predicted class, -1 if the box has none),
    // and the box's own compute time in seconds (*compute_s; 0 when it does not say).
    // 0, or -1 with err (the box is then unusable).
    int (*query)(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax,
                 double* compute_s, fl_err* err);
    void (*destroy)(fl_blackbox* bb);  // ends the connection and frees bb
} fl_blackbox_vt;

struct fl_blackbox {
    const fl_blackbox_vt* vt;
    void* impl;
    char name[160];           // how messages name the box ("black box 'CMD'"); "": by its kind
    int P, D;                 // prompt length and token width, after setup
    int64_t n_data;           // data set up
    double flops_per_query;   // 0: unknown
    // what the box was asked and how long it took (fl_blackbox_query)
    long requests;
    long queries;             // query rows answered
    double wall_s;            // seconds inside query calls, round trip included
    double compute_s;         // of which the box says it computed (0 when it does not say)
};

// Both check what the box returns: setup's D >= 1; every loss finite (a NaN or infinite loss
// is an error naming the row, the datum and the request). They count and time every call.
int fl_blackbox_setup(fl_blackbox* bb, const fl_bb_data* data, int P, fl_err* err);
int fl_blackbox_query(fl_blackbox* bb, const fl_bb_request* req, float* loss, int32_t* argmax,
                      fl_err* err);
void fl_blackbox_free(fl_blackbox* bb);

// A process started with /bin/sh -c cmd, spoken to over its stdin and stdout (process.c); its
// stderr is flbench's. timeout_s > 0: an answer not complete within it ends the connection (the
// process is killed). Never fails to start for a bad command: that shows at setup, when the
// shell exits.
fl_blackbox* fl_blackbox_process_new(const char* cmd, double timeout_s, fl_err* err);

// Serves bb over the protocol, reading requests from fd_in and answering on fd_out, until a
// QUIT message or the end of fd_in (serve.c). 0, or -1 with err on a malformed request.
int fl_blackbox_serve(fl_blackbox* bb, int fd_in, int fd_out, fl_err* err);

#ifdef __cplusplus
}
#endif
