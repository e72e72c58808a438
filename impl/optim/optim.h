// optim.h: optimisers over the trainable tensors of one parameter buffer.
// Adam (0.9, 0.999, 1e-8 by default) or SGD with momentum; decoupled weight decay; global
// gradient-norm clipping; the StepLR schedule (lr * gamma^floor(epoch / step_size)).
#pragma once
#include "../backend/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_optim {
    int adam;               // 1 Adam, 0 SGD
    float lr, b1, b2, eps, weight_decay, momentum;
    float clip;             // global gradient-norm clip; 0 = off
    int step_size;          // StepLR: epochs per decay (0 = constant)
    float gamma;            // StepLR factor
    long t;                 // Adam step count
    float* m;               // (total) first moment / momentum, backend memory
    float* v;               // (total) second moment, backend memory
    double last_grad_norm;  // before clipping
} fl_optim;

// name: "adam" or "sgd". Returns 0, or -1 with err filled.
int fl_optim_init(fl_optim* o, const fl_params* p, const char* name, float lr, fl_err* err);
void fl_optim_free(fl_optim* o, const fl_params* p);
// Learning rate at an epoch under the StepLR schedule.
float fl_optim_lr_at(const fl_optim* o, int epoch);
// Clips (if set) and applies one update to the trainable tensors. Returns the gradient norm.
double fl_optim_step(fl_optim* o, fl_params* p, int epoch);
// Global L2 norm of the trainable part of the gradient.
double fl_grad_norm(const fl_params* p);
// The same update from MeZO directions, without a gradient buffer: g = sum_k s[k] z_k, with
// z_k regenerated from Philox (row k, stream, step) and s (K) in backend memory. Clipping
// scales g. Bit-identical to materialising g and calling fl_optim_step.
double fl_optim_step_dirs(fl_optim* o, fl_params* p, int epoch, int K, const float* s,
                          uint32_t key0, uint32_t key1, uint32_t stream, uint32_t step);

#ifdef __cplusplus
}
#endif
