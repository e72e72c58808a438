// cmd_report.c: `flbench report DIR [CSV...]`: reads the results CSVs in DIR (and those named)
// and writes DIR/REPORT.md (accuracy tables, costs, the paper's directional claims checked on
// the data, query compression, estimator quality) and the small derived tables the gnuplot
// scripts of plots/ read (DIR/plotdata/). This file is the command: its options, the paths,
// and the order of the steps; the steps are the report_*.c files (report.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include "args.h"
#include "report.h"

// The path of `to` relative to the folder `from` (both existing).
static void relative_path(const char* from, const char* to, char* out, size_t len) {
    char a[4096], b[4096];
    if (!realpath(from, a) || !realpath(to, b)) {
        snprintf(out, len, "%s", to);
        return;
    }
    size_t common = 0, i = 0;
    while (a[i] && a[i] == b[i]) {
        if (a[i] == '/') common = i;
        i++;
    }
    if (!a[i] && (b[i] == '/' || !b[i])) common = i;
    size_t n = 0;
    out[0] = 0;
    for (const char* p = a + common; *p; p++)
        if (*p == '/') n += (size_t)snprintf(out + n, n < len ? len - n : 0, "../");
    const char* rest = b + common + (b[common] == '/');
    if (*rest) snprintf(out + n, n < len ? len - n : 0, "%s", rest);
    else if (n) out[n - 1] = 0;
    else snprintf(out, len, ".");
}

int fl_cmd_report(int argc, char** argv) {
    char figdir[1024] = "results/figures", out[1100] = "";
    int loss_budget = 0;
    fl_opt opts[] = {
        {"figures", FL_OPT_STR, figdir, sizeof figdir, NULL, "folder of the figures the report links to (default results/figures)"},
        {"loss-budget", FL_OPT_INT, &loss_budget, 0, NULL, "budget of the training-loss figure (default: each task's largest)"},
        {"out", FL_OPT_STR, out, sizeof out, NULL, "write the report here (default DIR/REPORT.md)"},
    };
    char* pos[1024];
    int n_pos = 0;
    int rc = fl_parse_opts("report", opts, 3, argc, argv, 2, pos, 1024, &n_pos);
    if (rc) return rc == 1 ? 0 : rc;
    if (n_pos < 1) {
        fprintf(stderr, "flbench report: expected DIR (flbench report DIR [CSV...] [--figures DIR])\n");
        return 2;
    }
    const char* dir = pos[0];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "flbench report: %s: not a folder of results\n", dir);
        return 2;
    }
    rdata d;
    memset(&d, 0, sizeof d);
    fl_csv* files = NULL;
    int n_files = 0;
    rp_load(dir, pos + 1, n_pos - 1, &files, &n_files, &d);
    if (!d.n_cells) {
        int vrc = fl_report_variance_only(dir);  // a folder of `flbench variance` results only
        if (vrc <= 0) {
            for (int i = 0; i < n_files; i++) fl_csv_free(&files[i]);
            free(files);
            return vrc == 0 ? 0 : 2;
        }
        fprintf(stderr, "flbench report: %s: no results CSV with finished cells (expected DIR/*.csv written by flbench sweep or train --out)\n", dir);
        for (int i = 0; i < n_files; i++) fl_csv_free(&files[i]);
        free(files);
        return 2;
    }
    rp_organise(&d);
    char plotdir[1200];
    snprintf(plotdir, sizeof plotdir, "%s/plotdata", dir);
    if (fl_mkdirs(plotdir, NULL) || fl_mkdirs(figdir, NULL)) {
        fprintf(stderr, "flbench report: cannot create %s or %s: %s\n", plotdir, figdir, strerror(errno));
        return 2;
    }
    if (!out[0]) snprintf(out, sizeof out, "%s/REPORT.md", dir);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE* md = fopen(tmp, "w");
    if (!md) {
        fprintf(stderr, "flbench report: cannot write %s: %s\n", tmp, strerror(errno));
        return 2;
    }
    char figrel[2048];
    char outdir[1100];
    snprintf(outdir, sizeof outdir, "%s", out);
    char* slash = strrchr(outdir, '/');
    if (slash) *slash = 0;
    else snprintf(outdir, sizeof outdir, ".");
    relative_path(outdir, figdir, figrel, sizeof figrel);
    rp_write_markdown(md, &d, files, n_files, dir, figrel, plotdir);
    int werr = ferror(md);
    if (fclose(md) || werr || rename(tmp, out)) {
        fprintf(stderr, "flbench report: cannot write %s: %s\n", out, strerror(errno));
        return 2;
    }
    int prc = rp_write_plotdata(&d, dir, plotdir, loss_budget);
    fprintf(stderr, "flbench report: wrote %s (%d task%s, %ld cells) and plot data in %s/\n", out, d.n_tasks,
            d.n_tasks == 1 ? "" : "s", d.n_cells, plotdir);
    rp_free(&d);
    for (int i = 0; i < n_files; i++) fl_csv_free(&files[i]);
    free(files);
    return prc ? 2 : 0;
}
