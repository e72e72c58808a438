// bench_ops.c: `flbench bench --ops`, the per-op kernel benchmark. Every op of the ops table
// (impl/backend/ops.h) runs at one or two shapes of the workloads of cmd_bench.c (W1, W2), on
// the CPU backend and, where a device is present, on CUDA. Before an op is timed, one call is
// checked against a host reference on the same inputs: the shared bodies of
// impl/kernels/bodies.h run serially, one row at a time (so the backends' threads, vector paths
// and kernels are compared with the body they must reproduce), or a plain loop in double (the
// products and the sums). The noise ops, and the ops that round at most once per element
// (copies, gathers, relu, scale), must match bit for bit; every other op within a bound stated
// at its case, from float rounding: u = 2^-24, and a sum of n terms in any order is within
// (n+2) u sum|terms| of the exact sum (Higham's gamma_n bound), doubled to cover both sides.
// An op that fails its check is reported FAIL and not timed, and the command exits 1.
//
// Timing: a repetition restores the op's in/out buffers (untimed), then times `calls`
// back-to-back calls between two syncs (as many as take about 2 ms, at least one). Reported:
// the median over --reps repetitions after --warmup ones, per call (fl_median). Rates: GFLOP/s
// for the products (attention: the two products it replaces), GB/s otherwise: the bytes of the
// buffers the op reads or writes, each counted once (twice when both read and written).
//
// Test hook: FLBENCH_OPS_PERTURB=OP moves the first element of OP's first checked output one
// ulp up after its checked call (a kernel one ulp off); tests/cli/test_bench_cli.sh uses it to
// see the check fail.
//
// This file is the command: its options, the table of cases, checking and timing a case on a
// backend, the printed table and the CSV. The cases (mk_NAME: the inputs, the reference and
// the tolerance of one op at one shape) are in bench_ops_linalg.c, bench_ops_elementwise.c,
// bench_ops_noise.c and bench_ops_nn.c, by kind of op; bench_ops.h holds what they share.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <math.h>
#include <time.h>
#include <errno.h>
#include <omp.h>
#include <cblas.h>
#include "args.h"
#include "run/schema.h"
#include "bench_ops.h"

int fl_bench_ops(int argc, char** argv);

// ---------------------------------------------------------------------------------------
// The table of cases, in ops.h's order (the order in which the cases are made fixes their
// inputs: case_randn draws a new seed per call).

typedef struct {
    const char* op;
    size_t off;
    void (*make)(opcase*);
} case_def;
#define CASE(member, fn) {#member, offsetof(fl_ops, member), fn}

static const case_def cases[] = {
    CASE(copy, mk_copy), CASE(zero, mk_zero),
    CASE(gemm, mk_gemm_w1), CASE(gemm, mk_gemm_w2),
    CASE(gemm_strided, mk_gemm_strided_scores), CASE(gemm_strided, mk_gemm_strided_ctx),
    CASE(gather_rows, mk_gather_rows), CASE(segment_sum, mk_segment_sum),
    CASE(exp, mk_exp), CASE(scale, mk_scale), CASE(axpy, mk_axpy), CASE(relu, mk_relu),
    CASE(relu_bwd, mk_relu_bwd), CASE(gelu, mk_gelu), CASE(gelu_bwd, mk_gelu_bwd),
    CASE(bias_noise, mk_bias_noise), CASE(bias_noise_set, mk_bias_noise_set), CASE(lr_grad, mk_lr_grad),
    CASE(lr_unit_noise, mk_lr_unit_noise), CASE(bias_noise_keep, mk_bias_noise_keep),
    CASE(lr_unit_kept, mk_lr_unit_kept), CASE(lr_unit_fold, mk_lr_unit_fold), CASE(noise_axpy, mk_noise_axpy),
    CASE(layernorm, mk_layernorm), CASE(layernorm_bwd, mk_layernorm_bwd), CASE(softmax, mk_softmax),
    CASE(softmax_bwd, mk_softmax_bwd), CASE(xent, mk_xent_fwd), CASE(xent, mk_xent_bwd),
    CASE(col_sum, mk_col_sum), CASE(row_sumsq, mk_row_sumsq),
    CASE(dot, mk_dot), CASE(adam, mk_adam), CASE(sgd, mk_sgd),
    CASE(dirs_adam, mk_dirs_adam), CASE(dirs_sgd, mk_dirs_sgd), CASE(dirs_sumsq, mk_dirs_sumsq),
    CASE(vit_patchify, mk_vit_patchify), CASE(vit_tokens, mk_vit_tokens),
    CASE(vit_cls_layernorm, mk_vit_cls_layernorm), CASE(vit_cls_layernorm_bwd, mk_vit_cls_layernorm_bwd),
    CASE(attention, mk_attention), CASE(gather_add_rows, mk_gather_add_rows),
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static void free_case(opcase* c) {
    for (int k = 0; k < c->nb; k++) {
        free(c->b[k].init);
        free(c->b[k].ref);
        free(c->b[k].tol);
    }
}

// ---------------------------------------------------------------------------------------
// Running a case on one backend.

typedef struct {
    int reps, warmup, threads;
    const char* perturb;  // FLBENCH_OPS_PERTURB
    FILE* csv;
    char ts[32];
    int ok, fail, absent;
} run_state;

static double time_calls(opcase* c, const fl_ops* o, int calls) {
    o->sync();
    double t0 = fl_now();
    for (int k = 0; k < calls; k++) c->call(c, o);
    o->sync();
    return (fl_now() - t0) / calls;
}

static void restore_inout(opcase* c, const fl_ops* o) {
    for (int k = 0; k < c->nb; k++)
        if (c->b[k].role == B_INOUT) o->upload(c->b[k].dev, c->b[k].init, (size_t)c->b[k].n * 4);
}

// Worst |got - ref| / tol of buffer k (0 for matching bit-exact elements); the number of
// elements out of tolerance in *bad, the first described in msg.
static double compare_buf(const obuf* b, const void* got, long* bad, char* msg, size_t msz) {
    double worst = 0;
    *bad = 0;
    for (long i = 0; i < b->n; i++) {
        double t = b->tol ? b->tol[i] : 0.0;
        if (t < 0) continue;
        int out;
        double d = 0;
        if (b->isint) {
            out = ((const int32_t*)got)[i] != ((const int32_t*)b->ref)[i];
        } else if (!b->tol) {
            out = memcmp((const float*)got + i, (const float*)b->ref + i, 4) != 0;
        } else {
            d = fabs((double)((const float*)got)[i] - ((const float*)b->ref)[i]);
            out = !(d <= t);
            if (!out && t > 0 && d / t > worst) worst = d / t;
        }
        if (out) {
            if (*bad == 0) {
                if (b->isint)
                    snprintf(msg, msz, "%s[%ld]: got %d, reference %d", b->name, i, ((const int32_t*)got)[i],
                             ((const int32_t*)b->ref)[i]);
                else if (!b->tol)
                    snprintf(msg, msz, "%s[%ld]: got %.9g, reference %.9g (bit-exact expected)", b->name, i,
                             ((const float*)got)[i], ((const float*)b->ref)[i]);
                else
                    snprintf(msg, msz, "%s[%ld]: got %.9g, reference %.9g, |diff| %.3g > tol %.3g", b->name, i,
                             ((const float*)got)[i], ((const float*)b->ref)[i], d, t);
            }
            (*bad)++;
        }
    }
    return worst;
}

static void csv_row(run_state* st, const opcase* c, const fl_ops* o, int calls, double med, double mn, double mx,
                    double rate, const char* unit, const char* check, double worst) {
    if (!st->csv) return;
    char n[16] = "", t[64] = "", r[32] = "", w[32] = "";  // empty when not timed
    if (med > 0) {
        snprintf(n, sizeof n, "%d", calls);
        snprintf(t, sizeof t, "%.3f,%.3f,%.3f", 1e6 * med, 1e6 * mn, 1e6 * mx);
        snprintf(r, sizeof r, "%.4g", rate);
    } else {
        snprintf(t, sizeof t, ",,");
    }
    if (worst >= 0) snprintf(w, sizeof w, "%.4g", worst);
    fprintf(st->csv, "%s,%s,%s,\"%s\",%d,%s,%s,\"%s\",%s,%d,%d,%s,%s,%s,%s,%s,\"%s\"\n", fl_git_rev(), st->ts, o->name,
            o->device_name, omp_get_max_threads(), c->wl, c->op, c->shape, n, st->reps, st->warmup, t, r, unit, check, w,
            c->rule);
}

static void print_row(const opcase* c, const fl_ops* o, const char* calls, const char* med, const char* rate,
                      const char* check, const char* err, const char* tail) {
    printf("%-22s %-3s %-34s %-5s %5s %10s %-17s %-6s %7s  %s\n", c->op, c->wl, c->shape, o->name, calls, med, rate, check,
           err, tail);
}

// Checks, then times, one case on one backend; returns 1 when the check failed.
static int run_case(opcase* c, const fl_ops* o, run_state* st) {
    void (*const* fn)(void) = (void (*const*)(void))((const char*)o + c->off);
    if (!*fn) {
        print_row(c, o, "-", "-", "       -", "absent", "-", "(NULL in this backend's table)");
        csv_row(st, c, o, 0, 0, 0, 0, 0, "", "absent", -1);
        st->absent++;
        return 0;
    }
    // buffers in backend memory; outputs poisoned (NaN, or -1 for integers) so that an element
    // the op forgets to write fails
    for (int k = 0; k < c->nb; k++) {
        obuf* b = &c->b[k];
        size_t bytes = (size_t)(b->n > 0 ? b->n : 1) * 4;
        b->dev = o->alloc(bytes);
        if (b->role == B_OUT) {
            void* poison = fl_malloc(bytes);
            memset(poison, 0xff, bytes);  // 0xffffffff: a NaN as a float, -1 as an integer
            o->upload(b->dev, poison, bytes);
            free(poison);
        } else {
            o->upload(b->dev, b->init, (size_t)b->n * 4);
        }
    }
    c->rc = 0;
    c->call(c, o);
    o->sync();
    int failed = 0, nofused = c->rc != 0;
    double worst = 0;
    char msg[512] = "";
    if (!nofused && st->perturb && !strcmp(st->perturb, c->op)) {  // the test hook: one ulp up
        int k = 0;
        while (k < c->nb && !c->b[k].ref) k++;
        if (k < c->nb) {
            float v;
            o->download(&v, c->b[k].dev, 4);
            if (c->b[k].isint) {
                int32_t iv;
                memcpy(&iv, &v, 4);
                iv++;
                memcpy(&v, &iv, 4);
            } else {
                v = nextafterf(v, INFINITY);
            }
            o->upload(c->b[k].dev, &v, 4);
        } else if (c->has_ret) {
            c->ret = nextafter(c->ret, INFINITY);
        }
    }
    for (int k = 0; k < c->nb && !nofused; k++) {
        obuf* b = &c->b[k];
        if (!b->ref) continue;
        void* got = fl_malloc((size_t)(b->n > 0 ? b->n : 1) * 4);
        o->download(got, b->dev, (size_t)b->n * 4);
        long bad;
        char m[256] = "";
        double w = compare_buf(b, got, &bad, m, sizeof m);
        worst = w > worst ? w : worst;
        if (bad && !failed) snprintf(msg, sizeof msg, "%s (%ld of %ld out of tolerance)", m, bad, b->n);
        failed |= bad != 0;
        free(got);
    }
    if (c->has_ret && !nofused) {
        double d = fabs(c->ret - c->ret_ref);
        if (!(d <= c->ret_tol)) {
            if (!failed) snprintf(msg, sizeof msg, "returned %.17g, reference %.17g, |diff| %.3g > tol %.3g", c->ret, c->ret_ref, d, c->ret_tol);
            failed = 1;
        } else if (c->ret_tol > 0 && d / c->ret_tol > worst) {
            worst = d / c->ret_tol;
        }
    }
    int exact = !strcmp(c->rule, "exact");
    char wbuf[16];
    snprintf(wbuf, sizeof wbuf, exact ? "-" : "%.2g", worst);
    if (nofused) {
        print_row(c, o, "-", "-", "       -", "n/a", "-", "(no fused path for this shape)");
        csv_row(st, c, o, 0, 0, 0, 0, 0, "", "n/a", -1);
        st->absent++;
    } else if (failed) {
        print_row(c, o, "-", "-", "       -", "FAIL", "-", c->rule);
        printf("    %s %s: %s\n", o->name, c->op, msg);
        csv_row(st, c, o, 0, 0, 0, 0, 0, "", "FAIL", -1);
        st->fail++;
    } else {
        // calls per repetition: about 2 ms of them, from the fastest of three warm calls
        double t1 = INFINITY;
        for (int k = 0; k < 3; k++) {
            restore_inout(c, o);
            double tk = time_calls(c, o, 1);
            t1 = tk < t1 ? tk : t1;
        }
        int calls = t1 > 0 ? (int)ceil(2e-3 / t1) : 1000;
        calls = calls < 1 ? 1 : calls > 1000 ? 1000 : calls;
        double* t = fl_malloc((size_t)st->reps * sizeof(double));
        for (int r = 0; r < st->warmup + st->reps; r++) {
            restore_inout(c, o);
            double tr = time_calls(c, o, calls);
            if (r >= st->warmup) t[r - st->warmup] = tr;
        }
        double med = fl_median(t, st->reps), mn = t[0], mx = t[st->reps - 1];
        free(t);
        double bytes = c->bytes;
        for (int k = 0; k < c->nb && c->bytes == 0; k++) bytes += (c->b[k].role == B_INOUT ? 2.0 : 1.0) * 4.0 * c->b[k].n;
        double work = c->flops > 0 ? c->flops : c->normals > 0 ? c->normals : bytes;
        const char* unit = c->flops > 0 ? "GFLOP/s" : c->normals > 0 ? "Gnorm/s" : "GB/s";
        double rate = work / med * 1e-9;
        char cs[16], ms[32], rs[32];
        snprintf(cs, sizeof cs, "%d", calls);
        snprintf(ms, sizeof ms, "%.1f", 1e6 * med);
        snprintf(rs, sizeof rs, "%8.2f %s", rate, unit);
        print_row(c, o, cs, ms, rs, "ok", wbuf, c->rule);
        csv_row(st, c, o, calls, med, mn, mx, rate, unit, "ok", exact ? 0 : worst);
        st->ok++;
    }
    fflush(stdout);
    if (st->csv) fflush(st->csv);
    for (int k = 0; k < c->nb; k++) o->free(c->b[k].dev);
    return failed;
}

// ---------------------------------------------------------------------------------------

#define OPS_CSV_HEADER "git_rev,timestamp,backend,device,threads,workload,op,shape,calls,reps,warmup,median_us,min_us,max_us,rate,rate_unit,check,err_over_tol,tolerance\n"

// Opens --out for appending; a new or empty file gets the header, an existing one must have it.
static FILE* open_ops_csv(const char* out) {
    fl_err err = {{0}};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", out);
    char* slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (fl_mkdirs(dir, &err)) { fprintf(stderr, "flbench bench --ops: --out %s: %s\n", out, err.msg); return NULL; }
    }
    FILE* f = fopen(out, "r");
    int empty = 1;
    if (f) {
        char line[512] = "";
        empty = fgets(line, sizeof line, f) == NULL;
        fclose(f);
        if (!empty && strcmp(line, OPS_CSV_HEADER)) {
            fprintf(stderr, "flbench bench --ops: --out %s: its header is not the per-op columns; move it away or pick another file\n", out);
            return NULL;
        }
    }
    f = fopen(out, "a");
    if (!f) { fprintf(stderr, "flbench bench --ops: --out %s: cannot open for appending (%s)\n", out, strerror(errno)); return NULL; }
    if (empty) fputs(OPS_CSV_HEADER, f);
    return f;
}

static int in_names(const char* list, const char* name) {
    if (!strcmp(list, "all")) return 1;
    size_t n = strlen(name);
    for (const char* p = list; *p;) {
        const char* e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p += len + (e != NULL);
    }
    return 0;
}

int fl_bench_ops(int argc, char** argv) {
    int ops_flag = 0, reps = 7, warmup = 1, threads = 0;
    char backend[8] = "all", only[512] = "all", out[512] = "";
    fl_opt opts[] = {
        {"ops", FL_OPT_FLAG, &ops_flag, 0, NULL, "time and check every op of the ops table (this benchmark)"},
        {"reps", FL_OPT_INT, &reps, 0, NULL, "timed repetitions per op, median reported (default 7)"},
        {"warmup", FL_OPT_INT, &warmup, 0, NULL, "untimed repetitions first (default 1)"},
        {"threads", FL_OPT_INT, &threads, 0, NULL, "CPU threads (default: all)"},
        {"backend", FL_OPT_STR, backend, sizeof backend, NULL, "cpu, cuda or all (default all: cpu, and cuda where a device is present)"},
        {"only", FL_OPT_STR, only, sizeof only, NULL, "comma list of op names (default all)"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "also append the rows to this CSV (default none)"},
    };
    int rc = fl_parse_opts("bench --ops", opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (reps < 1) { fprintf(stderr, "flbench bench --ops: --reps: expected a positive integer, found %d\n", reps); return 2; }
    if (warmup < 0) { fprintf(stderr, "flbench bench --ops: --warmup: expected 0 or more, found %d\n", warmup); return 2; }
    if (threads < 0) { fprintf(stderr, "flbench bench --ops: --threads: expected a positive integer, found %d\n", threads); return 2; }
    if (strcmp(backend, "cpu") && strcmp(backend, "cuda") && strcmp(backend, "all")) {
        fprintf(stderr, "flbench bench --ops: --backend: expected cpu, cuda or all, found '%s'\n", backend);
        return 2;
    }
    if (strcmp(only, "all")) {  // every name given must be an op of the table
        char list[512];
        snprintf(list, sizeof list, "%s", only);
        for (char* name = strtok(list, ","); name; name = strtok(NULL, ",")) {
            int known = 0;
            for (int i = 0; i < N_CASES; i++) known |= !strcmp(cases[i].op, name);
            if (!known) { fprintf(stderr, "flbench bench --ops: --only: '%s' is not an op of the table (see impl/backend/ops.h)\n", name); return 2; }
        }
    }
    if (threads > 0) { omp_set_num_threads(threads); openblas_set_num_threads(threads); }
    const fl_ops* be[2];
    int nbe = 0;
    char no_cuda[1100] = "";
    if (strcmp(backend, "cuda")) be[nbe++] = fl_cpu_ops();
    if (strcmp(backend, "cpu")) {
        fl_err err = {{0}};
        const fl_ops* g = fl_cuda_ops(&err);
        if (g) be[nbe++] = g;
        else if (!strcmp(backend, "cuda")) { fprintf(stderr, "flbench bench --ops: %s\n", err.msg); return 2; }
        else snprintf(no_cuda, sizeof no_cuda, "%s", err.msg);
    }
    run_state st = {.reps = reps, .warmup = warmup, .perturb = getenv("FLBENCH_OPS_PERTURB")};
    if (st.perturb && !st.perturb[0]) st.perturb = NULL;
    time_t now = time(NULL);
    strftime(st.ts, sizeof st.ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (out[0] && !(st.csv = open_ops_csv(out))) return 2;

    printf("flbench bench --ops  %s  threads %d  %s\n", fl_git_rev(), omp_get_max_threads(), openblas_get_config());
    for (int k = 0; k < nbe; k++) printf("%-5s %s\n", be[k]->name, be[k]->device_name);
    if (no_cuda[0]) printf("cuda  not run: %s\n", no_cuda);
    if (st.perturb) printf("FLBENCH_OPS_PERTURB=%s: that op's first output is moved one ulp (a test of the check)\n", st.perturb);
    printf("%-22s %-3s %-34s %-5s %5s %10s %-17s %-6s %7s  %s\n", "op", "wl", "shape", "back", "calls", "median us",
           "     rate", "check", "err/tol", "tolerance");
    for (int i = 0; i < N_CASES; i++) {
        if (!in_names(only, cases[i].op)) continue;
        opcase c;
        memset(&c, 0, sizeof c);
        c.op = cases[i].op;
        c.off = cases[i].off;
        c.qc = -1;
        cases[i].make(&c);
        FL_CHECK(c.call && c.wl && c.rule, "bench --ops: case %d (%s) is incomplete", i, c.op);
        for (int k = 0; k < nbe; k++) run_case(&c, be[k], &st);
        free_case(&c);
    }
    if (st.csv && fclose(st.csv) != 0) { fprintf(stderr, "flbench bench --ops: --out %s: write failed\n", out); st.fail++; }
    printf("%d checked and timed, %d FAIL, %d not run (absent, or no fused path); u = 2^-24; err/tol = the largest "
           "|got - reference| / tolerance over the outputs\n", st.ok, st.fail, st.absent);
    return st.fail ? 1 : 0;
}
