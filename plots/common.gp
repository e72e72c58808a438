# common.gp: shared by the figure scripts of the results report (loaded, not run on its own).
# `make plots`, `make reproduce` and tests/unit/test_report.c run every plots/*.gp that has
# the line  load "plots/common.gp"  : a new report figure only needs that line and its data in
# the plotdata/ folder. A script whose data is absent should print a note and exit 0.
# The caller sets datadir (the plotdata/ folder written by `flbench report DIR`) and figdir
# (where PNG and PDF go); both have defaults so that `gnuplot plots/NAME.gp` works from the
# repository root after `make reproduce`.
if (!exists("datadir")) datadir = "results/reproduce/plotdata"
if (!exists("figdir")) figdir = "results/figures"
if (system("test -f '".datadir."/meta.gp' && echo yes") ne "yes") {
    print sprintf("%s: no plot data in %s (run build/flbench report DIR first)", ARG0, datadir)
    exit status 1
}
load datadir."/meta.gp"
system("mkdir -p '".figdir."'")

# Layout: one panel per task where a forward-gradient method ran (meta.gp: npanels, ptask),
# up to 3 per row. Panel size: 3.3 in (one paper column) by 2.5 in for PDF; PNG at 200 pixels
# per inch.
if (npanels < 1) {
    print sprintf("%s: no task with a forward-gradient method in %s: no figure", ARG0, datadir)
    exit
}
ncols = npanels < 3 ? npanels : 3
nrows = (npanels + ncols - 1) / ncols
pw = 3.3; ph = 2.5
dat(name, k) = sprintf("%s/%s_%d.dat", datadir, name, k)

# Starts one output file of the figure `name` in format fmt ("png" or "pdf").
# Usage: do for [fmt in "png pdf"] { eval begin(fmt, "acc_budget"); ...; unset multiplot; set output }
begin(fmt, name) = (fmt eq "png") ? \
    sprintf("set terminal pngcairo enhanced size %d,%d font 'sans,16' linewidth 2; set output '%s/%s.png'", \
            int(pw * 200 * ncols), int(ph * 200 * nrows), figdir, name) : \
    sprintf("set terminal pdfcairo enhanced size %gin,%gin font 'sans,8' linewidth 1; set output '%s/%s.pdf'", \
            pw * ncols, ph * nrows, figdir, name)

set key below center horizontal maxcols 3 samplen 2 spacing 1.0 width -1
set offsets graph 0.04, graph 0.04, graph 0.05, graph 0.05
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
set style data lines
set datafile missing "NaN"
# Colours by series position (meta.gp series order: bp, mezo..., lr-uniform, lr-flops, ...),
# distinguishable in print and for common colour-vision deficiencies.
set linetype 1 lc rgb "#000000" pt 1
set linetype 2 lc rgb "#d62728" pt 2
set linetype 3 lc rgb "#ff7f0e" pt 3
set linetype 4 lc rgb "#1f77b4" pt 4
set linetype 5 lc rgb "#2ca02c" pt 5
set linetype 6 lc rgb "#9467bd" pt 6
set linetype 7 lc rgb "#8c564b" pt 8
set linetype 8 lc rgb "#e377c2" pt 10
set linetype cycle 8
