// cpu_elementwise.c: the CPU backend's element-wise ops and optimisers (the ops table,
// ops.h): OpenMP loops over the shared bodies of impl/kernels/bodies.h.
#include "cpu_internal.h"

// ---------------------------------------------------------------------------------------
// element-wise

void cpu_exp(float* y, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] = expf(x[i]);
}
void cpu_scale(float* x, float a, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) x[i] *= a;
}
void cpu_axpy(float* y, float a, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] += a * x[i];
}
void cpu_relu(float* y, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] = fl_body_relu(x[i]);
}
void cpu_relu_bwd(float* dx, const float* dy, const float* y, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) dx[i] = fl_body_relu_bwd(dy[i], y[i]);
}
void cpu_gelu(float* y, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) y[i] = fl_body_gelu(x[i]);
}
void cpu_gelu_bwd(float* dx, const float* dy, const float* x, long n) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) dx[i] = fl_body_gelu_bwd(dy[i], x[i]);
}

// ---------------------------------------------------------------------------------------
// optimisers

void cpu_adam(float* p, const float* g, float* m, float* v, long n, float lr, float b1,
              float b2, float eps, float bc1, float bc2, float wd) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) fl_body_adam(&p[i], g[i], &m[i], &v[i], lr, b1, b2, eps, bc1, bc2, wd);
}

void cpu_sgd(float* p, const float* g, float* mom, long n, float lr, float momentum, float wd) {
#pragma omp parallel for schedule(static) if (n > 4096)
    for (long i = 0; i < n; i++) fl_body_sgd(&p[i], g[i], &mom[i], lr, momentum, wd);
}
