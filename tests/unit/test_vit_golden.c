// test_vit_golden.c: the ViT (impl/models/vit.c) against Hugging Face transformers, through
// the committed fixtures of tests/golden/make_vit_golden.py (tests/fixtures/vit_golden), and
// weight loading at the model level: naming conventions, F16/BF16, our own checkpoints, the
// classifier head, and every error case (missing tensor, shape mismatch, config contradicting
// the tensors or the model, tensors the model lacks, a NaN or an infinity in the weights).
//
// Tolerances. The references are float64 computations of the float32 weights and inputs, so
// they carry only our float32 error. Our forward accumulates dot products of at most
// max(D, M, C*P*P, T) <= 64 terms in float32 through 2-3 blocks: relative errors of a few 1e-7
// per layer, far below the bounds (logits max relative error 1e-4, loss 1e-5, every BP
// gradient tensor 1e-3 in relative norm), which are the bounds checked here.
#include "impl/models/vit.h"
#include "impl/io/safetensors.h"
#include "impl/io/npy.h"
#include "tests/test.h"
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLDEN "tests/fixtures/vit_golden"

static const fl_ops* ops;


static int read_npy(const char* dir, const char* name, fl_npy* a) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fl_err err = {{0}};
    int rc = fl_npy_read_f32(path, a, &err);
    CHECK(rc == 0, "%s", err.msg);
    return rc;
}

// max |a - b| / max |b|
static double max_rel(const float* a, const float* b, long n) {
    double d = 0, s = 0;
    for (long i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? d / s : d;
}

// Builds the model of a fixture directory and loads it.
static fl_model* load_dir(const char* dir, int* has_head) {
    fl_err err = {{0}};
    fl_model* m = fl_vit_from_weights(ops, dir, 0, has_head, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return NULL;
    int head_init = -1;
    int rc = fl_vit_load_weights(m, dir, 7, &head_init, &err);
    CHECK(rc == 0, "%s", err.msg);
    CHECK(head_init == !*has_head, "head_initialised %d, has_head %d", head_init, *has_head);
    return m;
}

// Logits (clean inference), loss and BP gradients against a fixture with a classifier.
static void golden_one(const char* name) {
    char dir[256];
    snprintf(dir, sizeof dir, GOLDEN "/%s", name);
    int has_head = 0;
    fl_model* m = load_dir(dir, &has_head);
    if (!m) return;
    CHECK(has_head, "%s has a classifier", name);
    fl_npy x = {0}, lab = {0}, logit_ref = {0}, loss_ref = {0};
    if (read_npy(dir, "input.npy", &x) || read_npy(dir, "labels.npy", &lab) ||
        read_npy(dir, "logits.npy", &logit_ref) || read_npy(dir, "loss.npy", &loss_ref))
        goto out;
    int N = (int)x.shape[0], K = m->n_classes;
    CHECK(logit_ref.shape[1] == K, "classes %d vs %lld", K, (long long)logit_ref.shape[1]);
    // logits through the inference path, in two batches to exercise batching
    float* logits = malloc((size_t)N * K * sizeof(float));
    fl_err err = {{0}};
    CHECK(fl_vit_infer(m, x.data, N, 2, 0, logits, &err) == 0, "%s", err.msg);
    double e_logit = max_rel(logits, logit_ref.data, (long)N * K);
    CHECK(e_logit <= 1e-4, "%s: logits max relative error %.3g > 1e-4", name, e_logit);
    // BP: loss and every gradient
    int32_t* y = malloc((size_t)N * sizeof(int32_t));
    for (int i = 0; i < N; i++) y[i] = (int32_t)lab.data[i];
    float* loss = malloc((size_t)N * sizeof(float));
    float* dloss = malloc((size_t)N * sizeof(float));
    for (int i = 0; i < N; i++) dloss[i] = 1.0f / N;
    m->vt->reserve(m, N, N);
    fl_params_zero_grad(&m->params);
    fl_fwd f = {.x = x.data, .B = N, .Q = N, .labels = y, .keep = FL_KEEP_BP, .loss = loss};
    m->vt->forward(m, &f);
    double mean = 0;
    for (int i = 0; i < N; i++) mean += loss[i] / N;
    double e_loss = fabs(mean - loss_ref.data[0]) / fabs(loss_ref.data[0]);
    CHECK(e_loss <= 1e-5, "%s: loss %.8g vs %.8g, relative error %.3g > 1e-5", name, mean, loss_ref.data[0], e_loss);
    // hidden states, layer by layer (a failure here says where a forward bug is)
    fl_safetensors hs;
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/hidden_states.safetensors");
    CHECK(fl_st_open(&hs, dir, &err) == 0, "%s", err.msg);
    dir[strlen(dir) - strlen("/hidden_states.safetensors")] = 0;
    const fl_vit_cfg* c = fl_vit_config(m);
    long n_h = (long)N * m->tokens * c->dim;
    float* got = malloc((size_t)n_h * sizeof(float));
    float* ref = malloc((size_t)n_h * sizeof(float));
    for (int k = -1; k < c->depth; k++) {
        char hn[32];
        if (k < 0) snprintf(hn, sizeof hn, "embeddings");
        else snprintf(hn, sizeof hn, "layer.%d", k);
        const fl_st_tensor* t = fl_st_find(&hs, hn);
        CHECK(t && t->numel == n_h, "%s: hidden state %s", name, hn);
        if (!t || t->numel != n_h) continue;
        fl_st_tensor_to_f32(&hs, t, ref, &err);
        fl_vit_hidden(m, k, got);
        double e = max_rel(got, ref, n_h);
        CHECK(e <= 1e-5, "%s: hidden state %s max relative error %.3g", name, hn, e);
    }
    fl_st_close(&hs);
    free(got);
    free(ref);
    m->vt->backward(m, dloss);
    // gradients, tensor by tensor, under the Hugging Face names
    fl_safetensors gs;
    char gpath[512];
    snprintf(gpath, sizeof gpath, "%s/grads.safetensors", dir);
    CHECK(fl_st_open(&gs, gpath, &err) == 0, "%s", err.msg);
    float* host = malloc(m->params.total * sizeof(float));
    ops->download(host, m->params.grad, m->params.total * sizeof(float));
    int compared = 0;
    double worst = 0;
    char worst_name[128] = "";
    for (int i = 0; i < m->params.n; i++) {
        const fl_tensor* t = &m->params.t[i];
        if (t->kind == FL_KIND_LOGSIGMA) continue;
        char hf[160];
        if (!strncmp(t->name, "head.", 5)) snprintf(hf, sizeof hf, "classifier.%s", t->name + 5);
        else snprintf(hf, sizeof hf, "vit.%s", t->name);
        const fl_st_tensor* gt = fl_st_find(&gs, hf);
        CHECK(gt && (size_t)gt->numel == t->numel, "%s: gradient %s missing or of another size", name, hf);
        if (!gt || (size_t)gt->numel != t->numel) continue;
        float* r = malloc(t->numel * sizeof(float));
        fl_st_tensor_to_f32(&gs, gt, r, &err);
        const float* g = host + t->offset;
        double d2 = 0, r2 = 0, gmax = 0;
        for (size_t e = 0; e < t->numel; e++) {
            d2 += ((double)g[e] - r[e]) * ((double)g[e] - r[e]);
            r2 += (double)r[e] * r[e];
            gmax = fmax(gmax, fabs(g[e]));
        }
        if (strstr(t->name, "attention.key.bias")) {
            // Zero in exact arithmetic (softmax is shift-invariant per row); ours is float32
            // round-off of sums of O(1) terms that cancel: |g| ~ 1e-8, against O(0.01..1)
            // for the other gradients. 1e-5 is 1000x above that round-off.
            CHECK(gmax <= 1e-5, "%s: %s max |g| = %.3g, expected ~0", name, t->name, gmax);
        } else {
            double rel = sqrt(d2 / r2);
            if (rel > worst) { worst = rel; snprintf(worst_name, sizeof worst_name, "%s", t->name); }
            CHECK(rel <= 1e-3, "%s: gradient %s relative error %.3g > 1e-3", name, t->name, rel);
        }
        free(r);
        compared++;
    }
    CHECK(compared == gs.n_tensors, "%s: compared %d gradients, the file has %d", name, compared, gs.n_tensors);
    if (getenv("FL_TEST_VERBOSE"))
        printf("    %s: logits %.2g, loss %.2g, worst gradient %.2g (%s)\n", name, e_logit, e_loss, worst, worst_name);
    fl_st_close(&gs);
    free(host);
    free(logits);
    free(y);
    free(loss);
    free(dloss);
out:
    fl_npy_free(&x);
    fl_npy_free(&lab);
    fl_npy_free(&logit_ref);
    fl_npy_free(&loss_ref);
    fl_model_free(m);
}

static void test_golden_gray16(void) { golden_one("gray16"); }
static void test_golden_rgb12(void) { golden_one("rgb12"); }

// bare in21k names, no classifier (pooler.* ignored): the final-LN CLS features.
static void test_golden_bare8_features(void) {
    int has_head = 1;
    fl_model* m = load_dir(GOLDEN "/bare8", &has_head);
    if (!m) return;
    CHECK(!has_head, "bare8 has no classifier");
    fl_npy x = {0}, feat = {0};
    if (!read_npy(GOLDEN "/bare8", "input.npy", &x) && !read_npy(GOLDEN "/bare8", "features.npy", &feat)) {
        int N = (int)x.shape[0], D = fl_vit_config(m)->dim;
        float* out = malloc((size_t)N * D * sizeof(float));
        fl_err err = {{0}};
        CHECK(fl_vit_infer(m, x.data, N, 8, 1, out, &err) == 0, "%s", err.msg);
        double e = max_rel(out, feat.data, (long)N * D);
        CHECK(e <= 1e-4, "bare8 features max relative error %.3g", e);
        free(out);
    }
    fl_npy_free(&x);
    fl_npy_free(&feat);
    fl_model_free(m);
}

// ---------------------------------------------------------------------------------------
// writing variants of a fixture

// All tensors of a safetensors file as float32 (names and shapes kept), for rewriting.
typedef struct {
    int n;
    char** name;
    int* ndim;
    int64_t (*shape)[8];
    float** data;
} tensors;

static int load_all(const char* path, tensors* ts) {
    fl_safetensors st;
    fl_err err = {{0}};
    memset(ts, 0, sizeof *ts);
    if (fl_st_open(&st, path, &err)) { CHECK(0, "%s", err.msg); return -1; }
    ts->n = st.n_tensors;
    ts->name = calloc((size_t)ts->n, sizeof(char*));
    ts->ndim = calloc((size_t)ts->n, sizeof(int));
    ts->shape = calloc((size_t)ts->n, sizeof *ts->shape);
    ts->data = calloc((size_t)ts->n, sizeof(float*));
    for (int i = 0; i < ts->n; i++) {
        const fl_st_tensor* t = &st.tensors[i];
        ts->name[i] = strdup(t->name);
        ts->ndim[i] = t->ndim;
        memcpy(ts->shape[i], t->shape, sizeof ts->shape[i]);
        ts->data[i] = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
        fl_st_tensor_to_f32(&st, t, ts->data[i], &err);
    }
    fl_st_close(&st);
    return 0;
}

static void free_all(tensors* ts) {
    for (int i = 0; i < ts->n; i++) { free(ts->name[i]); free(ts->data[i]); }
    free(ts->name); free(ts->ndim); free(ts->shape); free(ts->data);
    memset(ts, 0, sizeof *ts);
}

// Writes ts as F32, skipping tensor `skip` (-1: none).
static void write_all(const char* path, const tensors* ts, int skip) {
    fl_st_entry* e = calloc((size_t)ts->n, sizeof(fl_st_entry));
    int k = 0;
    for (int i = 0; i < ts->n; i++) {
        if (i == skip) continue;
        e[k].name = ts->name[i];
        e[k].ndim = ts->ndim[i];
        e[k].shape = ts->shape[i];
        e[k].data = ts->data[i];
        k++;
    }
    fl_err err = {{0}};
    CHECK(fl_st_write_f32(path, e, k, NULL, 0, &err) == 0, "%s", err.msg);
    free(e);
}

// Appends a copy of tensor i under another name.
static void add_copy(tensors* ts, int i, const char* name) {
    int n = ts->n + 1;
    ts->name = realloc(ts->name, (size_t)n * sizeof(char*));
    ts->ndim = realloc(ts->ndim, (size_t)n * sizeof(int));
    ts->shape = realloc(ts->shape, (size_t)n * sizeof *ts->shape);
    ts->data = realloc(ts->data, (size_t)n * sizeof(float*));
    size_t numel = 1;
    for (int d = 0; d < ts->ndim[i]; d++) numel *= (size_t)ts->shape[i][d];
    ts->name[n - 1] = strdup(name);
    ts->ndim[n - 1] = ts->ndim[i];
    memcpy(ts->shape[n - 1], ts->shape[i], sizeof ts->shape[i]);
    ts->data[n - 1] = malloc(numel * sizeof(float));
    memcpy(ts->data[n - 1], ts->data[i], numel * sizeof(float));
    ts->n = n;
}

static int find_name(const tensors* ts, const char* name) {
    for (int i = 0; i < ts->n; i++) if (!strcmp(ts->name[i], name)) return i;
    return -1;
}

static void copy_file(const char* from, const char* to) {
    FILE* a = fopen(from, "rb");
    FILE* b = fopen(to, "wb");
    if (!a || !b) { perror(from); exit(2); }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
}

// A model directory in tmp named dir: config (from the fixture, with sed-like replacement
// of `from` by `to`) and the tensors ts minus `skip`.
static const char* make_dir(const char* dirname, const char* fixture, const char* from, const char* to,
                            const tensors* ts, int skip) {
    const char* dir = t_path(dirname);
    mkdir(dir, 0755);
    char src[512], dst[512];
    snprintf(src, sizeof src, GOLDEN "/%s/config.json", fixture);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE* f = fopen(src, "rb");
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (from) {
        char* at = strstr(text, from);
        CHECK(at != NULL, "config has no '%s'", from);
        if (at) {
            char out[8192];
            snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
            snprintf(text, sizeof text, "%s", out);
        }
    }
    f = fopen(dst, "wb");
    fputs(text, f);
    fclose(f);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    write_all(dst, ts, skip);
    return dir;
}

// Loading dir into a model built for the fixture must fail with a message holding needle.
static void expect_load_error(fl_model* m, const char* path, const char* needle) {
    fl_err err = {{0}};
    int hi = 0;
    int rc = fl_vit_load_weights(m, path, 0, &hi, &err);
    CHECK(rc == -1, "%s: load succeeded, expected an error with '%s'", path, needle);
    CHECK(strstr(err.msg, needle) != NULL, "message lacks '%s': %s", needle, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
    if (getenv("FL_TEST_VERBOSE")) printf("    %s\n", err.msg);
}

static void test_load_errors(void) {
    tensors ts;
    if (load_all(GOLDEN "/gray16/model.safetensors", &ts)) return;
    int has_head;
    fl_model* m = load_dir(GOLDEN "/gray16", &has_head);
    if (!m) { free_all(&ts); return; }
    // a missing tensor
    int i_ln = find_name(&ts, "vit.encoder.layer.1.layernorm_after.bias");
    CHECK(i_ln >= 0, "fixture tensor names");
    const char* d1 = make_dir("missing", "gray16", NULL, NULL, &ts, i_ln);
    expect_load_error(m, d1, "missing tensor 'vit.encoder.layer.1.layernorm_after.bias'");
    // a shape mismatch
    int i_fc = find_name(&ts, "vit.encoder.layer.0.intermediate.dense.weight");
    int64_t saved = ts.shape[i_fc][0];
    ts.shape[i_fc][0] = saved / 2;
    const char* d2 = make_dir("shape", "gray16", NULL, NULL, &ts, -1);
    expect_load_error(m, d2, "vit.encoder.layer.0.intermediate.dense.weight");
    ts.shape[i_fc][0] = saved;
    // config contradicting the model (and the tensors)
    const char* d3 = make_dir("config", "gray16", "\"intermediate_size\": 48", "\"intermediate_size\": 64", &ts, -1);
    expect_load_error(m, d3, "intermediate_size is 64");
    // ... and a model built from that config fails on the tensors
    fl_err err = {{0}};
    int hh = 0;
    fl_model* m3 = fl_vit_from_weights(ops, d3, 0, &hh, &err);
    CHECK(m3 != NULL, "%s", err.msg);
    if (m3) expect_load_error(m3, d3, "intermediate.dense.weight");
    fl_model_free(m3);
    // config num_labels contradicting the classifier tensor
    const char* d5 = make_dir("labels2", "gray16", "\"4\": \"LABEL_4\"", "\"4\": \"LABEL_4\", \"5\": \"LABEL_5\"", &ts, -1);
    expect_load_error(m, d5, "num_labels is 6");
    // a checkpoint with a tensor the model does not have (a deeper one)
    int i_q = find_name(&ts, "vit.encoder.layer.1.attention.attention.query.bias");
    add_copy(&ts, i_q, "vit.encoder.layer.2.attention.attention.query.bias");
    const char* d6 = make_dir("deeper", "gray16", NULL, NULL, &ts, -1);
    expect_load_error(m, d6, "'vit.encoder.layer.2.attention.attention.query.bias' is not part of the model");
    // a NaN or an infinity in the weights: the file, the tensor and the element are named
    int i_kb = find_name(&ts, "vit.encoder.layer.0.attention.attention.key.bias");
    CHECK(i_kb >= 0, "fixture tensor names");
    if (i_kb >= 0) {
        float saved_kb = ts.data[i_kb][5];
        ts.data[i_kb][5] = NAN;
        const char* d7 = make_dir("nan", "gray16", NULL, NULL, &ts, -1);
        expect_load_error(m, d7, "nan/model.safetensors: tensor 'vit.encoder.layer.0.attention.attention.key.bias' element 5 is nan");
        ts.data[i_kb][5] = -INFINITY;
        const char* d8 = make_dir("ninf", "gray16", NULL, NULL, &ts, -1);
        expect_load_error(m, d8, "tensor 'vit.encoder.layer.0.attention.attention.key.bias' element 5 is -inf");
        ts.data[i_kb][5] = saved_kb;
    }
    // a file that is not there, a directory without model.safetensors
    expect_load_error(m, t_path("nothing-here"), "no such file");
    const char* empty = t_path("emptydir");
    mkdir(empty, 0755);
    expect_load_error(m, empty, "no model.safetensors");
    // a truncated file
    const char* trunc = t_path("trunc.safetensors");
    copy_file(GOLDEN "/gray16/model.safetensors", trunc);
    CHECK(truncate(trunc, 20000) == 0, "truncate");
    expect_load_error(m, trunc, trunc);
    fl_model_free(m);
    free_all(&ts);
}

// An MLP checkpoint with a NaN or an infinity (fl_model_load, which --weights uses for any model
// that is not a ViT): refused, naming the file, the tensor and the element; the finite file loads.
static void test_load_nonfinite_mlp(void) {
    fl_err err = {{0}};
    fl_model* m = fl_model_create(ops, "mlp:16-8-4", "relu", 1, 4, 4, 4, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    fl_params* P = &m->params;
    float* host = malloc(P->total * sizeof(float));
    fl_params_download(P, host);
    fl_st_entry* ent = calloc((size_t)P->n, sizeof(fl_st_entry));
    int64_t(*shapes)[FL_MAX_DIMS] = calloc((size_t)P->n, sizeof *shapes);
    int w = -1;
    for (int i = 0; i < P->n; i++) {
        for (int d = 0; d < P->t[i].ndim; d++) shapes[i][d] = P->t[i].shape[d];
        ent[i] = (fl_st_entry){P->t[i].name, P->t[i].ndim, shapes[i], host + P->t[i].offset};
        if (w < 0 && !strcmp(P->t[i].name, "head.weight")) w = i;
    }
    CHECK(w >= 0, "the MLP has a head.weight");
    if (w >= 0) {
        const float bad[] = {NAN, INFINITY};
        const char* want[] = {"mlp_nan.safetensors: tensor 'head.weight' element 17 is nan; expected finite weights",
                              "mlp_inf.safetensors: tensor 'head.weight' element 17 is inf; expected finite weights"};
        const char* name[] = {"mlp_nan.safetensors", "mlp_inf.safetensors"};
        float saved = host[P->t[w].offset + 17];
        for (int k = 0; k < 2; k++) {
            host[P->t[w].offset + 17] = bad[k];
            const char* path = t_path(name[k]);
            CHECK(fl_st_write_f32(path, ent, P->n, NULL, 0, &err) == 0, "%s", err.msg);
            int hi = 0;
            int rc = fl_model_load(m, path, 1, &hi, &err);
            CHECK(rc == -1 && strstr(err.msg, want[k]) && !strchr(err.msg, '\n'), "%s: rc %d '%s'", name[k], rc, err.msg);
        }
        host[P->t[w].offset + 17] = saved;
        const char* good = t_path("mlp_finite.safetensors");
        CHECK(fl_st_write_f32(good, ent, P->n, NULL, 0, &err) == 0, "%s", err.msg);
        int hi = 0;
        CHECK(fl_model_load(m, good, 1, &hi, &err) == 0, "the finite file: %s", err.msg);
    }
    free(shapes);
    free(ent);
    free(host);
    fl_model_free(m);
}

// The same weights under other names and dtypes give the same model; a head of another class
// count is initialised from the seed; our own checkpoints load back.
static void test_load_variants(void) {
    tensors ts;
    if (load_all(GOLDEN "/gray16/model.safetensors", &ts)) return;
    int has_head;
    fl_model* ref = load_dir(GOLDEN "/gray16", &has_head);
    if (!ref) { free_all(&ts); return; }
    size_t total = ref->params.total;
    float* want = malloc(total * sizeof(float));
    float* got = malloc(total * sizeof(float));
    fl_params_download(&ref->params, want);
    fl_err err = {{0}};
    // 1. bare names (vit. prefix dropped), classifier.* kept, as a lone file (no config.json)
    for (int i = 0; i < ts.n; i++)
        if (!strncmp(ts.name[i], "vit.", 4)) memmove(ts.name[i], ts.name[i] + 4, strlen(ts.name[i]) - 3);
    const char* bare = t_path("bare.safetensors");
    write_all(bare, &ts, -1);
    fl_model* m = fl_vit_from_spec(ops, "vit:patch=4,dim=32,depth=2,heads=4,mlp=48", 1, 16, 16, 5, &err);
    CHECK(m != NULL, "%s", err.msg);
    int hi = -1;
    CHECK(fl_vit_load_weights(m, bare, 3, &hi, &err) == 0, "%s", err.msg);
    CHECK(hi == 0, "head kept");
    fl_params_download(&m->params, got);
    int same = 1;
    for (int i = 0; i < m->params.n; i++) {
        const fl_tensor* t = &m->params.t[i];
        if (t->kind != FL_KIND_LOGSIGMA)
            same &= !memcmp(got + t->offset, want + t->offset, t->numel * sizeof(float));
    }
    CHECK(same, "bare-name file loads the same parameters as the fixture directory");
    // 2. our own checkpoint (2-D patch embedding, head.*, log sigma) round-trips exactly
    const char* ours = t_path("ours.safetensors");
    CHECK(fl_model_save(m, ours, NULL, 0, &err) == 0, "%s", err.msg);
    int hh = 0;
    fl_model* m2 = fl_vit_from_weights(ops, ours, 0, &hh, &err);
    CHECK(m2 && hh, "rebuilt from metadata: %s", err.msg);
    if (m2) {
        CHECK(!strcmp(m2->desc, m->desc), "desc %s vs %s", m2->desc, m->desc);
        CHECK(fl_vit_load_weights(m2, ours, 3, &hi, &err) == 0, "%s", err.msg);
        float* g2 = malloc(total * sizeof(float));
        fl_params_download(&m2->params, g2);
        CHECK(!memcmp(g2, got, total * sizeof(float)), "checkpoint round trip");
        free(g2);
    }
    fl_model_free(m2);
    // 3. another class count: the head comes from the seed, the rest from the file
    fl_model* m7 = fl_vit_from_spec(ops, "vit:patch=4,dim=32,depth=2,heads=4,mlp=48", 1, 16, 16, 7, &err);
    CHECK(fl_vit_load_weights(m7, GOLDEN "/gray16", 11, &hi, &err) == 0, "%s", err.msg);
    CHECK(hi == 1, "head initialised");
    fl_model* m7b = fl_vit_from_spec(ops, "vit:patch=4,dim=32,depth=2,heads=4,mlp=48", 1, 16, 16, 7, &err);
    fl_model_init_weights(m7b, 11);  // the head the seed gives
    float* a = malloc(m7->params.total * sizeof(float));
    float* b = malloc(m7->params.total * sizeof(float));
    fl_params_download(&m7->params, a);
    fl_params_download(&m7b->params, b);
    const fl_linear* h7 = &m7->lin[m7->n_lin - 1];
    const fl_tensor* hw = &m7->params.t[h7->w];
    CHECK(!memcmp(a + hw->offset, b + hw->offset, hw->numel * sizeof(float)), "seeded head equals fl_model_init_weights'");
    int t_cls = fl_params_find(&m7->params, "embeddings.cls_token");
    CHECK(!memcmp(a + m7->params.t[t_cls].offset, want + ref->params.t[t_cls].offset, 32 * sizeof(float)),
          "the rest comes from the checkpoint");
    free(a);
    free(b);
    fl_model_free(m7);
    fl_model_free(m7b);
    fl_model_free(m);
    fl_model_free(ref);
    free(want);
    free(got);
    free_all(&ts);
}

// F16 and BF16 files (written by hand: our writer writes F32) load as their rounded values.
static uint16_t to_bf16(float f) {  // round to nearest even
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static uint16_t to_f16(float f) {  // normal range only (the fixture's values), nearest even
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    uint32_t mant = u & 0x7fffffu;
    if (e <= 0) return (uint16_t)sign;  // flush tiny values (none in the fixture)
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

static void write_half(const char* path, const tensors* ts, int bf16) {
    char header[65536];
    size_t at = 0, off = 0;
    at += snprintf(header + at, sizeof header - at, "{");
    for (int i = 0; i < ts->n; i++) {
        size_t numel = 1;
        for (int d = 0; d < ts->ndim[i]; d++) numel *= (size_t)ts->shape[i][d];
        at += snprintf(header + at, sizeof header - at, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                       ts->name[i], bf16 ? "BF16" : "F16");
        for (int d = 0; d < ts->ndim[i]; d++)
            at += snprintf(header + at, sizeof header - at, "%s%lld", d ? "," : "", (long long)ts->shape[i][d]);
        at += snprintf(header + at, sizeof header - at, "],\"data_offsets\":[%zu,%zu]}", off, off + 2 * numel);
        off += 2 * numel;
    }
    at += snprintf(header + at, sizeof header - at, "}");
    while (at % 8) header[at++] = ' ';
    FILE* f = fopen(path, "wb");
    uint64_t n = at;
    fwrite(&n, 8, 1, f);
    fwrite(header, 1, at, f);
    for (int i = 0; i < ts->n; i++) {
        size_t numel = 1;
        for (int d = 0; d < ts->ndim[i]; d++) numel *= (size_t)ts->shape[i][d];
        for (size_t e = 0; e < numel; e++) {
            uint16_t h = bf16 ? to_bf16(ts->data[i][e]) : to_f16(ts->data[i][e]);
            fwrite(&h, 2, 1, f);
        }
    }
    fclose(f);
}

static float from_bf16(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

static void test_load_half(void) {
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        tensors ts;
        if (load_all(GOLDEN "/rgb12/model.safetensors", &ts)) return;
        const char* half = t_path(bf16 ? "rgb12.bf16.safetensors" : "rgb12.f16.safetensors");
        write_half(half, &ts, bf16);
        // the expected values: each float rounded to the half type, as an F32 file
        for (int i = 0; i < ts.n; i++) {
            size_t numel = 1;
            for (int d = 0; d < ts.ndim[i]; d++) numel *= (size_t)ts.shape[i][d];
            for (size_t e = 0; e < numel; e++)
                ts.data[i][e] = bf16 ? from_bf16(to_bf16(ts.data[i][e])) : fl_f16_to_f32(to_f16(ts.data[i][e]));
        }
        const char* rounded = t_path(bf16 ? "rgb12.bf16r.safetensors" : "rgb12.f16r.safetensors");
        write_all(rounded, &ts, -1);
        fl_err err = {{0}};
        const char* spec = "vit:patch=4,dim=24,depth=3,heads=2,mlp=40,eps=1e-6";
        fl_model* a = fl_vit_from_spec(ops, spec, 3, 12, 12, 7, &err);
        fl_model* b = fl_vit_from_spec(ops, spec, 3, 12, 12, 7, &err);
        int hi;
        CHECK(a && fl_vit_load_weights(a, half, 0, &hi, &err) == 0, "%s: %s", half, err.msg);
        CHECK(b && fl_vit_load_weights(b, rounded, 0, &hi, &err) == 0, "%s: %s", rounded, err.msg);
        float* pa = malloc(a->params.total * sizeof(float));
        float* pb = malloc(b->params.total * sizeof(float));
        fl_params_download(&a->params, pa);
        fl_params_download(&b->params, pb);
        CHECK(!memcmp(pa, pb, a->params.total * sizeof(float)), "%s loads as its rounded F32 values", bf16 ? "BF16" : "F16");
        free(pa);
        free(pb);
        fl_model_free(a);
        fl_model_free(b);
        free_all(&ts);
    }
}

static void test_specs(void) {
    fl_err err = {{0}};
    fl_model* m = fl_vit_from_spec(ops, "vit-tiny", 1, 28, 28, 10, &err);
    CHECK(m && m->tokens == 50 && fl_vit_config(m)->dim == 192 && fl_vit_config(m)->depth == 6 &&
          fl_vit_config(m)->heads == 3 && fl_vit_config(m)->mlp == 768, "vit-tiny on 28x28: %s", err.msg);
    CHECK(m && m->n_lin == 1 + 6 * 6 + 1, "linear layers");
    if (m) {
        CHECK(fl_model_set_scope(m, "attn:last:2", &err) == 0, "%s", err.msg);
        int n = 0;
        for (int i = 0; i < m->n_lin; i++) n += m->lin[i].perturbed;
        CHECK(n == 2 * 4 + 1, "attn:last:2 perturbs 8 attention layers and the head, got %d", n);
        CHECK(fl_model_set_scope(m, "mlp:last:1", &err) == 0, "%s", err.msg);
        n = 0;
        for (int i = 0; i < m->n_lin; i++) n += m->lin[i].perturbed;
        CHECK(n == 3, "mlp:last:1 perturbs 2 MLP layers and the head, got %d", n);
    }
    fl_model_free(m);
    m = fl_vit_from_spec(ops, "vit-tiny", 3, 32, 32, 100, &err);
    CHECK(m && m->tokens == 65 && m->in_dim == 3072, "vit-tiny on 32x32x3: %s", err.msg);
    fl_model_free(m);
    m = fl_vit_from_spec(ops, "vit:image=224,channels=3,patch=16,dim=768,depth=1,heads=12,mlp=3072", 0, 0, 0, 10, &err);
    CHECK(m && m->tokens == 197, "full spec: %s", err.msg);
    // one ViT-B/16 block with its embeddings, final LayerNorm and a 10-class head:
    // patch 768*768+768, CLS 768, positions 197*768, block 4*(768^2+768) + 4*768 +
    // (768*3072+3072) + (3072*768+768), LayerNorm 2*768, head 768*10+10 = 7,839,754
    size_t n_params = 0;
    if (m) for (int i = 0; i < m->params.n; i++) if (m->params.t[i].kind != FL_KIND_LOGSIGMA) n_params += m->params.t[i].numel;
    CHECK(n_params == 7839754, "vit-b16 block parameters %zu", n_params);
    fl_model_free(m);
    m = fl_vit_from_spec(ops, "vit-l16:depth=1", 3, 224, 224, 1000, &err);
    CHECK(m && fl_vit_config(m)->dim == 1024 && fl_vit_config(m)->heads == 16 && fl_vit_config(m)->mlp == 4096 &&
          fl_vit_config(m)->patch == 16, "vit-l16: %s", err.msg);
    fl_model_free(m);
    // errors
    struct { const char* spec; const char* needle; } bad[] = {
        {"vit-tiny:image=32", "image=32x32 but the data are 28x28"},
        {"vit-tiny:patch=5", "not a multiple of patch 5"},
        {"vit-tiny:heads=5", "not a multiple of heads 5"},
        {"vit-tiny:depth=0", "depth=0"},
        {"vit-tiny:colour=3", "unknown field 'colour'"},
        {"vit-huge", "unknown ViT 'vit-huge'"},
        {"vit-tiny:classes=3", "classes=3 but the data have 10"},
        {"vit-tiny:eps=-1", "eps=-1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        m = fl_vit_from_spec(ops, bad[i].spec, 1, 28, 28, 10, &err);
        CHECK(!m && strstr(err.msg, bad[i].needle), "%s: '%s'", bad[i].spec, err.msg);
        fl_model_free(m);
    }
}

int main(void) {
    ops = fl_cpu_ops();
    RUN(test_golden_gray16);
    RUN(test_golden_rgb12);
    RUN(test_golden_bare8_features);
    RUN(test_load_variants);
    RUN(test_load_half);
    RUN(test_load_errors);
    RUN(test_load_nonfinite_mlp);
    RUN(test_specs);
    TEST_EXIT();
}
