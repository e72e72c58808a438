# cost.gp: time per step and peak memory against query budget for each series (mean over
# seeds; BP and BP with checkpointing as plain reference lines at their single cost). Time per
# step is training wall time over steps; memory is peak device memory on GPU runs and peak
# resident host memory on CPU. The time axis is logarithmic, so its error bars are drawn in
# log space: mean ×/÷ exp(std/mean), ±1 sample std of log time to first order (always
# positive, unlike mean - std); the memory axis is linear, with mean +/- std.
# Reads DATADIR/cost_K.dat. Writes FIGDIR/cost_time.{png,pdf} and FIGDIR/cost_memory.{png,pdf}.
load "plots/common.gp"
set logscale x 2
set logscale y
set autoscale yfix   # no padding to whole decades on the log axis (the offsets keep a margin)
set offsets graph 0.04, graph 0.04, graph 0.05, graph 0.05
# labels at 1, 2, 5 of each decade: a panel's range often spans one decade or less
do for [d = -3:5] { set ytics add (sprintf("%g", 2 * 10.0**d) 2 * 10.0**d, sprintf("%g", 5 * 10.0**d) 5 * 10.0**d) }
set xlabel "budget b (queries per datum per step)"
do for [fmt in "png pdf"] {
    eval begin(fmt, "cost_time")
    set ylabel "time per step (ms)"
    set multiplot layout nrows, ncols title sprintf("error bars: mean ×/÷ exp(std/mean), ±1 sample std over %s on the log scale; BP lines: mean", nseeds_text)
    do for [i = 1:npanels] {
        k = ptask[i]
        eval split(k)
        set title task_title[k] noenhanced
        plot for [j = 1:words(ref_series)] dat("cost", k) index int(rs(j)) using 1:2 with lines lt sty(nm(rs(j)), int(rs(j))) title nm(rs(j)) noenhanced, \
             for [j = 1:words(fg_series)] dat("cost", k) index int(fs(j)) using 1:2:($2 * exp(-$3 / $2)):($2 * exp($3 / $2)) \
             with yerrorlines lt sty(nm(fs(j)), int(fs(j))) title nm(fs(j)) noenhanced
    }
    unset multiplot
    set output
}
unset logscale y
set ytics autofreq
set autoscale y
set offsets graph 0.04, graph 0.04, graph 0.05, graph 0.05
do for [fmt in "png pdf"] {
    eval begin(fmt, "cost_memory")
    set ylabel "peak memory (MiB)"
    set multiplot layout nrows, ncols title sprintf("error bars: ±1 sample std over %s; BP lines: mean", nseeds_text)
    do for [i = 1:npanels] {
        k = ptask[i]
        eval split(k)
        set title task_title[k] noenhanced
        plot for [j = 1:words(ref_series)] dat("cost", k) index int(rs(j)) using 1:4 with lines lt sty(nm(rs(j)), int(rs(j))) title nm(rs(j)) noenhanced, \
             for [j = 1:words(fg_series)] dat("cost", k) index int(fs(j)) using 1:4:5 with yerrorlines lt sty(nm(fs(j)), int(fs(j))) title nm(fs(j)) noenhanced
    }
    unset multiplot
    set output
}
