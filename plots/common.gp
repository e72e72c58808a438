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
load "plots/styles.gp"
# Error bars: every figure says what they are in its title line (the multiplot title).
# nseeds_text: "N seeds" (or "N-M seeds") over the tasks' accuracy data (acc_K.dat, column 4:
# seeds), for the figures whose error bars are over seeds.
smin = 1e9; smax = 0
do for [i = 1:npanels] {
    if (system("test -s '".dat("acc", ptask[i])."' && echo yes") eq "yes") {
        stats dat("acc", ptask[i]) using 4 nooutput
        smin = STATS_min < smin ? STATS_min : smin; smax = STATS_max > smax ? STATS_max : smax
    }
}
nseeds_text = smax == 0 ? "seeds" : (smin == smax ? sprintf("%d seeds", smax) : sprintf("%d-%d seeds", smin, smax))
# split(k): sets ref_series and fg_series to the block indices of task k's reference series
# (BP, drawn as plain lines) and of the others (drawn with error bars); rs(j) and fs(j) are the
# j-th of each (plot for [j = 1:words(ref_series)]: no iteration when a list is empty); nm(s) is
# the name of block s.
nm(s) = series_name[int(s) + 1]
rs(j) = j <= words(ref_series) ? word(ref_series, j) : "0"   # "0": gnuplot evaluates an empty iteration once
fs(j) = j <= words(fg_series) ? word(fg_series, j) : "0"
split(k) = sprintf("ref_series = ''; fg_series = ''; do for [s in task_series[%d]] { if (is_ref(nm(s))) { ref_series = ref_series.' '.s } else { fg_series = fg_series.' '.s } }", k)
