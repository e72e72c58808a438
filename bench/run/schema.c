// schema.c: the results CSV columns, the row type, and the atomic appender (libcsv quoting).
#include <string.h>
#include <stdarg.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <csv.h>
#include "schema.h"

const fl_column fl_columns[] = {
    {"schema", "", "schema version of this row (see FL_SCHEMA_VERSION)"},
    {"cell_key", "", "identity of the run: sweep cell key, or train:<hash of the configuration>"},
    {"series", "", "series the run belongs to: the variant words of a sweep cell key (e.g. lr-flops, mezo-2q, bp-ckpt), else METHOD-ALLOCATOR (e.g. lr-uniform; bp for the exact method); the report's series label"},
    {"status", "", "ok; diverged (a non-finite loss or gradient, or an epoch's mean training loss above max(10 L0, L0 + 10), L0 the first batch's clean loss: docs/METHOD.md, \"Divergence\"; the diverged epoch is not evaluated); failed, missing-data or missing-weights"},
    {"git_rev", "", "git revision flbench was built from (-dirty when the tree had changes)"},
    {"timestamp", "UTC", "when the row was written, ISO 8601"},
    {"host", "", "machine name"},
    {"backend", "", "cpu or cuda"},
    {"device", "", "CPU model and thread count, or GPU name"},
    {"threads", "", "OpenMP threads on the host"},
    {"world_size", "ranks", "processes of the run (mpirun or srun; 1 without a launcher): a timing column, the numbers do not depend on it"},
    {"slices", "", "slices each batch is cut into (--slices; data-parallel ranks compute whole slices; docs/SCALING.md)"},
    {"dataset", "", "dataset name (with \" label-noise=P\" under --label-noise)"},
    {"classes", "", "class range trained and evaluated on (--classes), e.g. 5-9; empty: all classes"},
    {"model", "", "model specification, e.g. mlp:784-256-256-10 or vit-tiny"},
    {"method", "", "bp, mezo or lr"},
    {"allocator", "", "query allocator (uniform, flops, neyman, oracle, bernoulli, loss); empty for bp"},
    {"budget", "queries/datum", "network queries per datum per step that a step may spend: perturbed + clean + pilot (oracle apart)"},
    {"batch", "data", "batch size B"},
    {"shots", "images/class", "k-shot training split (0 = full training set)"},
    {"seed", "", "seed of initialisation, split, batches and noise"},
    {"epoch", "", "epoch this row reports, 1-based (0 = before training)"},
    {"epochs", "", "epochs planned"},
    {"final", "", "1 on the run's last row (its final evaluation: the last epoch, --max-steps reached, or a run that diverged or failed), 0 on the others"},
    {"stop_epoch", "", "with --early-stop, on the final row: the epoch whose parameters the run ends with (the lowest validation loss), whose evaluation the final row reports; empty otherwise"},
    {"steps", "", "optimisation steps so far"},
    {"lr", "", "base learning rate"},
    {"optimizer", "", "adam or sgd"},
    {"scope", "", "perturbed layers (lr): all, head, attn:last:K, mlp:last:K, layers:...; empty for methods that perturb no layers"},
    {"pairing", "", "antithetic pairs: same (same datum), cross (authors' cross-datum), none; empty for methods that perturb no layers"},
    {"baseline", "", "lr baseline: clean, mean (leave-one-pair-out), none; empty for methods that perturb no layers"},
    {"weighting", "", "unbiased (1/(B n_i)) or equal-row (authors' 1/N)"},
    {"proxy", "", "source of the proxy variance: prev (previous visit) or pilot"},
    {"sigma0", "", "lr initial noise std"},
    {"mu", "", "mezo perturbation scale"},
    {"checkpoint", "", "bp activation checkpointing: none, or block (keep block inputs, recompute each block in the backward)"},
    {"train_loss", "nats", "mean training loss over the epoch's batches (clean loss where a clean pass ran)"},
    {"eval_split", "", "test, or val (held out from the training split, for tuning)"},
    {"eval_loss", "nats", "mean cross-entropy on the evaluation split named by eval_split (schema 3 and older: test_loss)"},
    {"eval_acc", "fraction", "accuracy on the evaluation split named by eval_split (schema 3 and older: test_acc)"},
    {"queries", "queries", "network queries so far, all kinds (perturbed, clean, pilot, oracle)"},
    {"queries_clean", "queries", "clean (noise-free) passes so far, included in queries"},
    {"queries_pilot", "queries", "pilot queries so far, included in queries"},
    {"queries_oracle", "queries", "oracle queries so far, included in queries"},
    {"spend_per_datum", "queries/datum", "queries per datum per step so far, oracle excluded: (queries - queries_oracle) / data visited; at most budget"},
    {"fwd_gflop", "GFLOP", "forward GEMM work so far"},
    {"wall_s", "s", "training wall time so far, evaluation excluded"},
    {"step_ms", "ms", "mean time per step in this epoch"},
    {"t_clean_ms", "ms", "mean time per step in the clean pass"},
    {"t_alloc_ms", "ms", "mean time per step in allocation (allocator and pilot)"},
    {"t_forward_ms", "ms", "mean time per step in perturbed forwards"},
    {"t_grad_ms", "ms", "mean time per step forming the gradient (LR GEMMs, BP backward)"},
    {"t_update_ms", "ms", "mean time per step in the optimiser update"},
    {"t_blackbox_ms", "ms", "prompt tuning: mean time per step inside the black box, each request's round trip (included in step_ms); empty for a model flbench computes"},
    {"t_blackbox_compute_ms", "ms", "prompt tuning: of t_blackbox_ms, the compute time the black box reports (0 when it does not say); the rest is the protocol's"},
    {"t_comm_ms", "ms", "mean time per step communicating between ranks (rank 0's; 0 in a world of one)"},
    {"comm_bytes", "bytes", "mean bytes per step that rank 0 sent to the other ranks"},
    {"reduce_bytes", "bytes", "mean bytes per step of the vectors reduced over the slices: 4 x trainable parameters (lr, bp), 4 x K direction scalars (mezo, spsa1); 0 with one slice"},
    {"peak_rss_mb", "MiB", "peak resident host memory of the process"},
    {"peak_dev_mb", "MiB", "peak device memory (cuda); empty on the cpu backend (see peak_rss_mb)"},
    {"peak_model_mb", "MiB", "peak bytes held through the backend's allocator during training steps: parameters, gradients, optimiser state, activations, scratch (no dataset, no evaluation)"},
    {"n_lo", "queries", "smallest per-datum allocation n_i seen in this epoch"},
    {"n_hi", "queries", "largest per-datum allocation n_i seen in this epoch"},
    {"mislabelled_share", "fraction", "with --label-noise: share of this epoch's allocated queries that went to mislabelled data (their fraction of the data under uniform)"},
    {"alloc_nonuniform_frac", "fraction", "fraction of this epoch's steps whose allocation differed from the uniform rule's"},
    {"grad_norm", "", "mean gradient-estimate norm per step in this epoch, before clipping"},
    {"init_weights", "", "initial weights the run loaded (--weights: safetensors file or model directory); empty: random initialisation"},
    {"config", "", "the full command-line configuration"},
    {"message", "", "error message when status is not ok (for diverged: the rule that fired and its numbers)"},
};
const int fl_n_columns = (int)(sizeof fl_columns / sizeof fl_columns[0]);

int fl_column_index(const char* name) {
    for (int i = 0; i < fl_n_columns; i++)
        if (!strcmp(fl_columns[i].name, name)) return i;
    return -1;
}

void fl_row_init(fl_row* r) { r->val = fl_calloc((size_t)fl_n_columns, sizeof(char*)); }

void fl_row_free(fl_row* r) {
    if (!r->val) return;
    for (int i = 0; i < fl_n_columns; i++) free(r->val[i]);
    free(r->val);
    r->val = NULL;
}

void fl_row_set(fl_row* r, const char* column, const char* fmt, ...) {
    int i = fl_column_index(column);
    FL_CHECK(i >= 0, "results schema has no column '%s'", column);
    va_list ap;
    va_start(ap, fmt);
    char* s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) FL_FATAL("out of memory formatting column %s", column);
    va_end(ap);
    free(r->val[i]);
    r->val[i] = s;
}

const char* fl_row_get(const fl_row* r, const char* column) {
    int i = fl_column_index(column);
    return i >= 0 && r->val[i] ? r->val[i] : "";
}

char* fl_csv_line(const char* const* fields, int n) {
    size_t cap = 0;
    for (int i = 0; i < n; i++) cap += 2 * strlen(fields[i] ? fields[i] : "") + 3;
    char* line = fl_malloc(cap + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char* f = fields[i] ? fields[i] : "";
        if (i) line[len++] = ',';
        int needs_quotes = strpbrk(f, ",\"\r\n") != NULL || (f[0] == ' ');
        if (needs_quotes)
            len += csv_write(line + len, cap - len, f, strlen(f));  // quotes and doubles quotes
        else {
            memcpy(line + len, f, strlen(f));
            len += strlen(f);
        }
    }
    line[len] = 0;
    return line;
}

int fl_write_all(int fd, const char* buf, size_t len) {
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int fl_csv_append(const char* path, const char* header, const char* line, fl_err* err) {
    int rc = 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return fl_fail(err, "--out %s: cannot open for appending: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX) != 0) {
        rc = fl_fail(err, "--out %s: cannot lock: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    struct stat st;
    fstat(fd, &st);
    size_t hl = strlen(header), ll = strlen(line);
    char* buf = fl_malloc(hl + ll + 3);
    size_t n = 0;
    if (st.st_size == 0) {  // a new file: the header and the row in one write
        memcpy(buf, header, hl);
        buf[hl] = '\n';
        n = hl + 1;
    } else {
        // the existing header must be this schema's
        FILE* f = fopen(path, "r");
        char* first = NULL;
        size_t cap = 0;
        ssize_t got = f ? getline(&first, &cap, f) : -1;
        if (f) fclose(f);
        if (got > 0 && first[got - 1] == '\n') first[--got] = 0;
        if (got < 0 || strcmp(first, header) != 0)
            rc = fl_fail(err, "--out %s: existing file has a different header (expected %.60s...)", path, header);
        free(first);
    }
    if (!rc) {
        memcpy(buf + n, line, ll);
        buf[n + ll] = '\n';
        if (fl_write_all(fd, buf, n + ll + 1)) rc = fl_fail(err, "--out %s: write failed: %s", path, strerror(errno));
        if (!rc && fsync(fd) != 0) rc = fl_fail(err, "--out %s: fsync failed: %s", path, strerror(errno));
    }
    free(buf);
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}

char* fl_schema_header(void) {
    const char** names = fl_malloc((size_t)fl_n_columns * sizeof(char*));
    for (int i = 0; i < fl_n_columns; i++) names[i] = fl_columns[i].name;
    char* header = fl_csv_line(names, fl_n_columns);
    free(names);
    return header;
}

int fl_row_append(const fl_row* r, const char* path, fl_err* err) {
    char* header = fl_schema_header();
    char* line = fl_csv_line((const char* const*)r->val, fl_n_columns);
    int rc = fl_csv_append(path, header, line, err);
    free(header);
    free(line);
    return rc;
}

void fl_schema_markdown(FILE* f) {
    fprintf(f, "# Results CSV schema (version %d)\n\n", FL_SCHEMA_VERSION);
    fprintf(f, "Every results CSV written by flbench (`train --out`, `sweep`) has one header line and these\n"
               "columns, in this order. One row per epoch of a run (epoch 0 is the state before training\n"
               "when evaluated). Rows are appended atomically, so a killed run never leaves half a row.\n"
               "This file is generated by `build/flbench schema`; a test keeps it in step with the code.\n\n");
    fprintf(f, "| # | column | unit | meaning |\n|---|---|---|---|\n");
    for (int i = 0; i < fl_n_columns; i++)
        fprintf(f, "| %d | `%s` | %s | %s |\n", i + 1, fl_columns[i].name, fl_columns[i].unit, fl_columns[i].help);
    fprintf(f, "\nAn empty field is missing or not applicable (no evaluation in that epoch, no allocator for the\n"
               "exact method, no device memory on the cpu backend); there is no placeholder such as `-`.\n"
               "`eval_loss` and `eval_acc` are on the split that `eval_split` names: compare runs of one split.\n\n"
               "## Older schemas\n\n"
               "`flbench report` reads files of older schemas and maps them to this one as they are read:\n"
               "`test_loss`, `test_acc` become `eval_loss`, `eval_acc`; a `dataset` such as `fashion-mnist[5-9]`\n"
               "becomes `dataset` fashion-mnist and `classes` 5-9; `-` in `allocator`, `scope`, `pairing`,\n"
               "`baseline` becomes empty, as does `peak_dev_mb` on the cpu backend; `series`, `final` and\n"
               "`init_weights` are derived from `cell_key`, the rows and `config`. Rows of schema 4 and older\n"
               "were one process with one slice: `world_size` and `slices` read 1, and `t_comm_ms`,\n"
               "`comm_bytes`, `reduce_bytes` are empty. `flbench merge OUT OLD.csv`\n"
               "writes such a file in this schema (each row keeps, in `schema`, the version it was written\n"
               "under). `flbench sweep` appends only to a file of this schema: resume an older sweep after\n"
               "merging its file into this schema in its place.\n\n"
               "## Reading with pandas\n\n"
               "A file of this schema (one of an older schema: through `flbench merge OUT OLD.csv` first, above):\n\n"
               "```python\n"
               "import pandas as pd\n"
               "df = pd.read_csv(\"results.csv\", keep_default_na=False, na_values=[\"\"])\n"
               "last = df[df.final == 1]\n"
               "print(last.groupby([\"series\", \"budget\"]).eval_acc.agg([\"mean\", \"std\", \"count\"]))\n"
               "```\n\n"
               "`keep_default_na=False, na_values=[\"\"]` reads only empty fields as missing and keeps every\n"
               "other field as written (pandas' default list also reads strings such as `NA`, `null` or `nan`\n"
               "as missing).\n");
}

#ifndef FL_GIT_REV
#define FL_GIT_REV "unknown"
#endif
const char* fl_git_rev(void) { return FL_GIT_REV; }
