// cpu_attention.h: the CPU backend's fused multi-head attention (cpu_attention.c), the ops
// table's `attention` (ops.h).
#pragma once

// Returns 0 when done; 1 when this shape has no fused path here (hd = D / H not a multiple
// of 8, or no AVX2), and nothing was written.
int fl_cpu_attention(float* ctx, float* probs, const float* q, const float* k, const float* v,
                     int S, int T, int H, int D, float scale);
