// bench_ops_nn.c: the cases of `flbench bench --ops` (bench_ops.c) for the network ops:
// LayerNorm, softmax and cross-entropy with their backwards, the ViT ops (patchify, tokens,
// the CLS LayerNorm and its backward) and the fused attention, with the tolerances derived
// for each from float rounding.
#include <stdlib.h>
#include <math.h>
#include "bench_ops.h"

// ---------------------------------------------------------------------------------------
// row-wise

// LayerNorm tolerances of one row (C columns) against the body's own float result: the mean
// carries (C+2) u mean|x|, rstd (C/2 + 8) u rstd (a sum of C positive squares, a square root
// and a few roundings), y = (x - mean) rstd w + b both; each doubled.
static void ln_row_tol(double* ty, double* tm, double* tr, const float* x, const float* w, const float* b,
                       const float* y, float mean, float rstd, int C) {
    double mabs = 0;
    for (int j = 0; j < C; j++) mabs += fabs(x[j]);
    mabs /= C;
    for (int j = 0; j < C; j++)
        ty[j] = 2.0 * (fabs(w[j]) * rstd * ((C + 2) * U * mabs + (C / 2.0 + 8) * U * fabs(x[j] - mean)) +
                       U * (fabs(y[j]) + fabs(b[j])));
    if (tm) *tm = 2.0 * (C + 2) * U * mabs;
    if (tr) *tr = (C + 16) * U * rstd;
}

// layernorm: W2's ln1 over a chunk, (3200, 192), eps 1e-12 (vit.c); buffers y, mean, rstd, x, w, b
static void call_layernorm(opcase* c, const fl_ops* o) {
    o->layernorm(F(0), F(1), F(2), F(3), F(4), F(5), W2_ROWS, W2_D, c->f[0]);
}
void mk_layernorm(opcase* c) {
    const int rows = W2_ROWS, C = W2_D;
    int y = NEW(B_OUT, "y", (long)rows * C), m = NEW(B_OUT, "mean", rows), rs = NEW(B_OUT, "rstd", rows);
    int x = NEW(B_IN, "x", (long)rows * C), w = NEW(B_IN, "w", C), b = NEW(B_IN, "b", C);
    case_randn(X(x), (long)rows * C, 1.5f, 0.3f);
    case_randn(X(w), C, 0.1f, 1.f);
    case_randn(X(b), C, 0.1f, 0.f);
    c->f[0] = 1e-12f;
    float *yr = case_ref(c, y), *mr = case_ref(c, m), *rr = case_ref(c, rs);
    double *ty = case_tol(c, y), *tm = case_tol(c, m), *tr = case_tol(c, rs);
    for (int r = 0; r < rows; r++) {
        const float* xr = X(x) + (long)r * C;
        fl_body_layernorm_row(yr + (long)r * C, &mr[r], &rr[r], xr, X(w), X(b), C, c->f[0]);
        ln_row_tol(ty + (long)r * C, &tm[r], &tr[r], xr, X(w), X(b), yr + (long)r * C, mr[r], rr[r], C);
    }
    c->wl = "W2";
    c->rule = "layernorm bound";
    case_set_shape(c, "%dx%d", rows, C);
    c->call = call_layernorm;
}

// LayerNorm backward tolerance of one row: the two sums of C terms (of g = dy w and g xhat)
// carry (C+4) u of their magnitudes each, dx = rstd (g - sum_g / C - xhat sum_gx / C) a few
// roundings more; doubled.
static void ln_bwd_row_tol(double* t, const float* dy, const float* x, const float* w, float mean, float rstd,
                           const float* dx, int C) {
    double sg = 0, sgx = 0, ag = 0, agx = 0;
    for (int j = 0; j < C; j++) {
        double g = (double)dy[j] * w[j], xh = ((double)x[j] - mean) * rstd;
        sg += g; sgx += g * xh; ag += fabs(g); agx += fabs(g * xh);
    }
    for (int j = 0; j < C; j++) {
        double g = (double)dy[j] * w[j], xh = ((double)x[j] - mean) * rstd;
        t[j] = 2.0 * (rstd * ((C + 4) * U * (ag + fabs(xh) * agx) / C + 4 * U * (fabs(g) + fabs(sg) / C + fabs(xh * sgx) / C)) +
                      U * fabs(dx[j]));
    }
}

// layernorm_bwd: W2's ln1 backward over the batch's 32 x 50 rows (BP); dw, db += over the
// rows: 2 (rows+4) u sum|terms|. Buffers dx, dw, db, dy, x, mean, rstd, w.
static void call_layernorm_bwd(opcase* c, const fl_ops* o) {
    o->layernorm_bwd(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), c->i[0], W2_D);
}
void mk_layernorm_bwd(opcase* c) {
    const int rows = W2_B * W2_T, C = W2_D;
    int dx = NEW(B_OUT, "dx", (long)rows * C), dw = NEW(B_INOUT, "dw", C), db = NEW(B_INOUT, "db", C);
    int dy = NEW(B_IN, "dy", (long)rows * C), x = NEW(B_IN, "x", (long)rows * C), m = NEW(B_IN, "mean", rows);
    int rs = NEW(B_IN, "rstd", rows), w = NEW(B_IN, "w", C);
    case_randn(X(dy), (long)rows * C, 1.f, 0.f);
    case_randn(X(x), (long)rows * C, 1.5f, 0.3f);
    case_randn(X(w), C, 0.1f, 1.f);
    case_randn(X(dw), C, 1.f, 0.f);
    case_randn(X(db), C, 1.f, 0.f);
    float* yscratch = fl_malloc((size_t)C * 4);
    for (int r = 0; r < rows; r++)  // the statistics the forward saved
        fl_body_layernorm_row(yscratch, &X(m)[r], &X(rs)[r], X(x) + (long)r * C, X(w), X(w), C, 1e-12f);
    free(yscratch);
    float* dxr = case_ref(c, dx);
    double* tdx = case_tol(c, dx);
    for (int r = 0; r < rows; r++) {
        long o = (long)r * C;
        fl_body_layernorm_bwd_row(dxr + o, X(dy) + o, X(x) + o, X(m)[r], X(rs)[r], X(w), C);
        ln_bwd_row_tol(tdx + o, X(dy) + o, X(x) + o, X(w), X(m)[r], X(rs)[r], dxr + o, C);
    }
    float *dwr = case_ref(c, dw), *dbr = case_ref(c, db);
    double *tw = case_tol(c, dw), *tb = case_tol(c, db);
    for (int j = 0; j < C; j++) {
        double sw = 0, sb = 0, aw = 0, ab = 0;
        for (int r = 0; r < rows; r++) {
            double g = X(dy)[(long)r * C + j], xh = ((double)X(x)[(long)r * C + j] - X(m)[r]) * X(rs)[r];
            sw += g * xh; aw += fabs(g * xh); sb += g; ab += fabs(g);
        }
        dwr[j] = (float)(X(dw)[j] + sw);
        dbr[j] = (float)(X(db)[j] + sb);
        tw[j] = 2.0 * (rows + 4) * U * (aw + fabs(X(dw)[j]));
        tb[j] = 2.0 * (rows + 2) * U * (ab + fabs(X(db)[j]));
    }
    c->i[0] = rows;
    c->wl = "W2";
    c->rule = "layernorm bound";
    case_set_shape(c, "%dx%d", rows, C);
    c->call = call_layernorm_bwd;
}

// softmax: W2's attention probabilities of a chunk, (64 x 3 x 50 rows, 50), in place (vit.c).
// The sum of C exps carries (C+1) u on each side, the exps a few ulp (the same polynomial; a
// contracted multiply-add moves its argument by u |x| + u |max|): ((2C+16) u + 4u (|x| + |max|)) |y|
static void call_softmax(opcase* c, const fl_ops* o) { o->softmax(F(0), F(0), c->i[0], W2_T, c->f[0]); }
void mk_softmax(opcase* c) {
    const int rows = W2_Q * W2_H * W2_T, C = W2_T;
    int y = NEW(B_INOUT, "y", (long)rows * C);
    case_randn(X(y), (long)rows * C, 2.f, 0.f);
    c->f[0] = 1.0f;
    float* ref = case_ref(c, y);
    double* tol = case_tol(c, y);
    for (int r = 0; r < rows; r++) {
        const float* x = X(y) + (long)r * C;
        double mx = -INFINITY;
        for (int j = 0; j < C; j++) mx = x[j] > mx ? x[j] : mx;
        fl_body_softmax_row(ref + (long)r * C, x, C, c->f[0]);
        for (int j = 0; j < C; j++)
            tol[(long)r * C + j] = ((2.0 * C + 16) * U + 4 * U * (fabs(x[j]) + fabs(mx))) * fabs(ref[(long)r * C + j]) + 1e-37;
    }
    c->i[0] = rows;
    c->wl = "W2";
    c->rule = "(2C+16)u|y|";
    case_set_shape(c, "%dx%d in place", rows, C);
    c->call = call_softmax;
}

// softmax_bwd: its backward, dx = scale y (dy - <dy, y>), in place on dy (vit.c, BP): the sum
// carries (C+2) u sum|dy y|; doubled
static void call_softmax_bwd(opcase* c, const fl_ops* o) { o->softmax_bwd(F(0), F(0), F(1), c->i[0], W2_T, c->f[0]); }
void mk_softmax_bwd(opcase* c) {
    const int rows = W2_B * W2_H * W2_T, C = W2_T;
    int dx = NEW(B_INOUT, "dx", (long)rows * C), y = NEW(B_IN, "y", (long)rows * C);
    case_randn(X(dx), (long)rows * C, 1.f, 0.f);
    case_randn(X(y), (long)rows * C, 2.f, 0.f);
    for (int r = 0; r < rows; r++) fl_body_softmax_row(X(y) + (long)r * C, X(y) + (long)r * C, C, 1.0f);
    c->f[0] = 1.0f;
    float* ref = case_ref(c, dx);
    double* tol = case_tol(c, dx);
    for (int r = 0; r < rows; r++) {
        const float *dy = X(dx) + (long)r * C, *yr = X(y) + (long)r * C;
        double d = 0, a = 0;
        for (int j = 0; j < C; j++) { d += (double)dy[j] * yr[j]; a += fabs((double)dy[j] * yr[j]); }
        fl_body_softmax_bwd_row(ref + (long)r * C, dy, yr, C, c->f[0]);
        for (int j = 0; j < C; j++)
            tol[(long)r * C + j] = 2.0 * (fabs(c->f[0] * yr[j]) * ((C + 2) * U * a + 2 * U * (fabs(dy[j]) + fabs(d))) +
                                          U * fabs(ref[(long)r * C + j])) + 1e-37;
    }
    c->i[0] = rows;
    c->wl = "W2";
    c->rule = "2(C+2)u|y|sum|dy y|";
    case_set_shape(c, "%dx%d in place", rows, C);
    c->call = call_softmax_bwd;
}

// xent: cross-entropy of W1's logits (10 classes). The loss, mx + log(sum of C exps) - the
// label's logit: the sum carries (C+1) u, expf and logf (glibc against CUDA) a few ulp:
// 2 ((C+8) u + 2u (|lse - mx| + |lse| + |loss|)); argmax exact; dlogits = dscale (p - onehot),
// p = an expf over the sum: 2 |dscale| ((C+16) u p + 2u |p - onehot|).
// Forward on the 2048 query rows (loss, argmax; mlp.c): buffers loss, argmax, logits, labels.
static void call_xent_fwd(opcase* c, const fl_ops* o) { o->xent(F(0), FI(1), NULL, F(2), FI(3), NULL, W1_Q, W1_C); }
// BP on the batch's 64 rows (dlogits with the per-datum loss scale): dlogits, logits, labels, dscale.
static void call_xent_bwd(opcase* c, const fl_ops* o) { o->xent(NULL, NULL, F(0), F(1), FI(2), F(3), W1_B, W1_C); }
static void mk_xent(opcase* c, int bwd) {
    const int rows = bwd ? W1_B : W1_Q, C = W1_C;
    int loss = -1, am = -1, dl = -1, ds = -1;
    if (bwd) dl = NEW(B_OUT, "dlogits", (long)rows * C);
    else { loss = NEW(B_OUT, "loss", rows); am = NEWI(B_OUT, "argmax", rows); }
    int lg = NEW(B_IN, "logits", (long)rows * C), lab = NEWI(B_IN, "labels", rows);
    if (bwd) ds = NEW(B_IN, "dscale", rows);
    case_randn(X(lg), (long)rows * C, 3.f, 0.f);
    for (int r = 0; r < rows; r++) XI(lab)[r] = (r * 7) % C;
    if (bwd) { case_randn(X(ds), rows, 1.f / rows, 0.f); }
    float* dlr = bwd ? case_ref(c, dl) : NULL;
    double* tdl = bwd ? case_tol(c, dl) : NULL;
    float* lr = bwd ? NULL : case_ref(c, loss);
    double* tl = bwd ? NULL : case_tol(c, loss);
    int32_t* amr = bwd ? NULL : case_ref_int(c, am);
    for (int r = 0; r < rows; r++) {
        const float* l = X(lg) + (long)r * C;
        int a;
        float dscale = bwd ? X(ds)[r] : 1.0f;
        float v = fl_body_xent_row(dlr ? dlr + (long)r * C : NULL, &a, l, XI(lab)[r], C, dscale);
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < C; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < C; j++) s += exp(l[j] - mx);
        double lse = mx + log(s);
        if (!bwd) {
            lr[r] = v;
            amr[r] = a;
            tl[r] = 2.0 * ((C + 8) * U + 2 * U * (fabs(lse - mx) + fabs(lse) + fabs(v)));
        } else {
            for (int j = 0; j < C; j++) {
                double p = exp(l[j] - lse), oh = j == XI(lab)[r] ? 1.0 : 0.0;
                tdl[(long)r * C + j] = 2.0 * fabs(dscale) * ((C + 16) * U * p + 2 * U * fabs(p - oh)) + 1e-37;
            }
        }
    }
    c->wl = "W1";
    c->rule = bwd ? "2|ds|(C+16)u p" : "2(C+8)u+4u|loss|";
    case_set_shape(c, "%dx%d %s", rows, C, bwd ? "BP dlogits" : "loss argmax");
    c->call = bwd ? call_xent_bwd : call_xent_fwd;
}
void mk_xent_fwd(opcase* c) { mk_xent(c, 0); }
void mk_xent_bwd(opcase* c) { mk_xent(c, 1); }

// ---------------------------------------------------------------------------------------
// ViT ops

// vit_patchify: W2's batch of 32 images (1x28x28) into (32, 50, 16) patches; copies: exact
static void call_vit_patchify(opcase* c, const fl_ops* o) { o->vit_patchify(F(1), F(0), W2_B, 1, W2_IMG, W2_IMG, W2_P); }
void mk_vit_patchify(opcase* c) {
    const long img = (long)W2_IMG * W2_IMG, K = W2_P * W2_P;
    int x = NEW(B_IN, "img", W2_B * img), pt = NEW(B_OUT, "patches", (long)W2_B * W2_T * K);
    case_randn(X(x), W2_B * img, 1.f, 0.f);
    float* ref = case_ref(c, pt);
    for (int i = 0; i < W2_B; i++)
        for (int t = 0; t < W2_T; t++) fl_body_vit_patch_row(ref + ((long)i * W2_T + t) * K, X(x) + i * img, 1, W2_IMG, W2_IMG, W2_P, t);
    c->wl = "W2";
    c->rule = "exact";
    case_set_shape(c, "%dx1x%dx%d P%d", W2_B, W2_IMG, W2_IMG, W2_P);
    c->call = call_vit_patchify;
}

// vit_tokens: CLS token and position embeddings onto the batch's patch embeddings, in place
// (32, 50, 192), as vit.c calls it; one addition per element: exact. Buffers y, cls, pos.
static void call_vit_tokens(opcase* c, const fl_ops* o) { o->vit_tokens(F(0), F(0), F(1), F(2), W2_B, W2_T, W2_D); }
void mk_vit_tokens(opcase* c) {
    const long n = (long)W2_B * W2_T * W2_D;
    int y = NEW(B_INOUT, "y", n), cls = NEW(B_IN, "cls", W2_D), pos = NEW(B_IN, "pos", (long)W2_T * W2_D);
    case_randn(X(y), n, 1.f, 0.f);
    case_randn(X(cls), W2_D, 0.02f, 0.f);
    case_randn(X(pos), (long)W2_T * W2_D, 0.02f, 0.f);
    float* ref = case_ref(c, y);
    for (long r = 0; r < (long)W2_B * W2_T; r++) fl_body_vit_token_row(ref + r * W2_D, ref + r * W2_D, X(cls), X(pos), (int)(r % W2_T), W2_D);
    c->wl = "W2";
    c->rule = "exact";
    case_set_shape(c, "%dx%dx%d in place", W2_B, W2_T, W2_D);
    c->call = call_vit_tokens;
}

// vit_cls_layernorm: the final LayerNorm of the CLS tokens of a chunk's 64 sequences into the
// head's input (64, 1, 192); layernorm's bound. Buffers y, mean, rstd, x, w, b.
static void call_vit_cls_layernorm(opcase* c, const fl_ops* o) {
    o->vit_cls_layernorm(F(0), F(1), F(2), F(3), F(4), F(5), W2_Q, W2_T, 1, W2_D, c->f[0]);
}
void mk_vit_cls_layernorm(opcase* c) {
    const int S = W2_Q, T = W2_T, D = W2_D;
    int y = NEW(B_OUT, "y", (long)S * D), m = NEW(B_OUT, "mean", S), rs = NEW(B_OUT, "rstd", S);
    int x = NEW(B_IN, "x", (long)S * T * D), w = NEW(B_IN, "w", D), b = NEW(B_IN, "b", D);
    case_randn(X(x), (long)S * T * D, 1.5f, 0.3f);
    case_randn(X(w), D, 0.1f, 1.f);
    case_randn(X(b), D, 0.1f, 0.f);
    c->f[0] = 1e-12f;
    float *yr = case_ref(c, y), *mr = case_ref(c, m), *rr = case_ref(c, rs);
    double *ty = case_tol(c, y), *tm = case_tol(c, m), *tr = case_tol(c, rs);
    for (int s = 0; s < S; s++) {
        const float* xs = X(x) + (long)s * T * D;
        fl_body_layernorm_row(yr + (long)s * D, &mr[s], &rr[s], xs, X(w), X(b), D, c->f[0]);
        ln_row_tol(ty + (long)s * D, &tm[s], &tr[s], xs, X(w), X(b), yr + (long)s * D, mr[s], rr[s], D);
    }
    c->wl = "W2";
    c->rule = "layernorm bound";
    c->bytes = 4.0 * (2.0 * S * D + 2.0 * S + 2.0 * D);  // reads the CLS rows only
    case_set_shape(c, "%dx%dx%d -> %dx1x%d", S, T, D, S, D);
    c->call = call_vit_cls_layernorm;
}

// vit_cls_layernorm_bwd: its backward over the batch's 32 sequences (BP): dx (32, 50, 192),
// CLS rows layernorm_bwd's bound, the other rows exactly 0; dw, db +=. Buffers dx, dw, db, dy,
// x, mean, rstd, w.
static void call_vit_cls_layernorm_bwd(opcase* c, const fl_ops* o) {
    o->vit_cls_layernorm_bwd(F(0), F(1), F(2), F(3), W2_D, F(4), F(5), F(6), F(7), W2_B, W2_T, W2_D);
}
void mk_vit_cls_layernorm_bwd(opcase* c) {
    const int n = W2_B, T = W2_T, D = W2_D;
    int dx = NEW(B_OUT, "dx", (long)n * T * D), dw = NEW(B_INOUT, "dw", D), db = NEW(B_INOUT, "db", D);
    int dy = NEW(B_IN, "dy", (long)n * D), x = NEW(B_IN, "x", (long)n * T * D), m = NEW(B_IN, "mean", n);
    int rs = NEW(B_IN, "rstd", n), w = NEW(B_IN, "w", D);
    case_randn(X(dy), (long)n * D, 1.f, 0.f);
    case_randn(X(x), (long)n * T * D, 1.5f, 0.3f);
    case_randn(X(w), D, 0.1f, 1.f);
    case_randn(X(dw), D, 1.f, 0.f);
    case_randn(X(db), D, 1.f, 0.f);
    float* yscratch = fl_malloc((size_t)D * 4);
    for (int s = 0; s < n; s++) fl_body_layernorm_row(yscratch, &X(m)[s], &X(rs)[s], X(x) + (long)s * T * D, X(w), X(w), D, 1e-12f);
    free(yscratch);
    float* dxr = case_ref(c, dx);
    double* tdx = case_tol(c, dx);
    for (int s = 0; s < n; s++) {
        long o = (long)s * T * D;
        fl_body_layernorm_bwd_row(dxr + o, X(dy) + (long)s * D, X(x) + o, X(m)[s], X(rs)[s], X(w), D);
        ln_bwd_row_tol(tdx + o, X(dy) + (long)s * D, X(x) + o, X(w), X(m)[s], X(rs)[s], dxr + o, D);
    }
    float *dwr = case_ref(c, dw), *dbr = case_ref(c, db);
    double *tw = case_tol(c, dw), *tb = case_tol(c, db);
    for (int j = 0; j < D; j++) {
        double sw = 0, sb = 0, aw = 0, ab = 0;
        for (int s = 0; s < n; s++) {
            double g = X(dy)[(long)s * D + j], xh = ((double)X(x)[(long)s * T * D + j] - X(m)[s]) * X(rs)[s];
            sw += g * xh; aw += fabs(g * xh); sb += g; ab += fabs(g);
        }
        dwr[j] = (float)(X(dw)[j] + sw);
        dbr[j] = (float)(X(db)[j] + sb);
        tw[j] = 2.0 * (n + 4) * U * (aw + fabs(X(dw)[j]));
        tb[j] = 2.0 * (n + 2) * U * (ab + fabs(X(db)[j]));
    }
    c->wl = "W2";
    c->rule = "layernorm bound";
    c->bytes = 4.0 * ((double)n * T * D + 2.0 * n * D + 2.0 * n + 5.0 * D);  // x: the CLS rows only
    case_set_shape(c, "%dx%dx%d", n, T, D);
    c->call = call_vit_cls_layernorm_bwd;
}

// ---------------------------------------------------------------------------------------
// attention

// attention: one W2 block over a chunk, S = 64 sequences of 50 tokens, 3 heads of 64, the LR
// forward (no probabilities kept). Reference in double. The backend's error, per output: the
// scores carry ds = (hd+2) u scale sum|q k| each (and u |score| in the exponent), the softmax
// turns them into a relative error of at most 2 max ds + 2u (|z| + |max z|) + (T+8) u per
// probability (the sum of T exps and a few roundings), and ctx = sum_t p_t v_t adds (T+2) u;
// so |err| <= (2 max ds + 2u (|z| + |max z|) + (2T + 10) u) sum_t p_t |v_t|, doubled.
static void call_attention(opcase* c, const fl_ops* o) {
    c->rc = o->attention(F(3), NULL, F(0), F(1), F(2), W2_Q, W2_T, W2_H, W2_D, c->f[0]);
}
void mk_attention(opcase* c) {
    const int S = W2_Q, T = W2_T, D = W2_D, H = W2_H, hd = W2_HD;
    const long n = (long)S * T * D;
    const double scale = 0.125;
    int q = NEW(B_IN, "q", n), k = NEW(B_IN, "k", n), v = NEW(B_IN, "v", n), ctx = NEW(B_OUT, "ctx", n);
    case_randn(X(q), n, 1.f, 0.f);
    case_randn(X(k), n, 1.f, 0.f);
    case_randn(X(v), n, 1.f, 0.f);
    float* ref = case_ref(c, ctx);
    double* tol = case_tol(c, ctx);
    double z[W2_T], p[W2_T];
    for (int s = 0; s < S; s++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float* qi = X(q) + ((long)s * T + i) * D + h * hd;
                double mx = -INFINITY, ds = 0, zmax = 0, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float* kj = X(k) + ((long)s * T + j) * D + h * hd;
                    double d = 0, mag = 0;
                    for (int e = 0; e < hd; e++) { d += (double)qi[e] * kj[e]; mag += fabs((double)qi[e] * kj[e]); }
                    z[j] = scale * d;
                    double dsj = (hd + 2) * U * scale * mag;
                    ds = dsj > ds ? dsj : ds;
                    zmax = fabs(z[j]) > zmax ? fabs(z[j]) : zmax;
                    mx = z[j] > mx ? z[j] : mx;
                }
                for (int j = 0; j < T; j++) { p[j] = exp(z[j] - mx); sum += p[j]; }
                double rel = 2 * ds + 2 * U * (zmax + fabs(mx)) + (2.0 * T + 10) * U;
                for (int e = 0; e < hd; e++) {
                    double a = 0, mag = 0;
                    for (int j = 0; j < T; j++) {
                        double vj = X(v)[((long)s * T + j) * D + h * hd + e];
                        a += p[j] / sum * vj;
                        mag += p[j] / sum * fabs(vj);
                    }
                    long o = ((long)s * T + i) * D + h * hd + e;
                    ref[o] = (float)a;
                    tol[o] = 2 * rel * mag + U * fabs(a);
                }
            }
    c->f[0] = (float)scale;
    c->wl = "W2";
    c->flops = 4.0 * S * H * T * T * hd;
    c->rule = "attention bound";
    case_set_shape(c, "S%d T%d H%d D%d LR (no probs)", S, T, H, D);
    c->call = call_attention;
}
