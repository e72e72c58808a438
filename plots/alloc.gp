# alloc.gp: the allocation itself, for the flops and neyman allocators (meta.gp alloc_name)
# at the largest budget with allocation logs (train --alloc-log; sweep configs log seed 0):
#  - alloc_hist: fraction of data given n_i queries (bins of width bin_width), over the
#    allocations made with a proxy value (a datum's first visit gets the uniform n_i);
#  - alloc_scatter: n_i against the datum's proxy variance (log scale), a sample of points
#    (a datum's first visit has no proxy yet: those points are left out).
# Reads DATADIR/alloc_hist_K.dat, alloc_scatter_K.dat. Writes FIGDIR/alloc_hist.{png,pdf},
# FIGDIR/alloc_scatter.{png,pdf}. A task without logs gets an empty panel saying so.
load "plots/common.gp"
set style fill transparent solid 0.45 noborder
set offsets 0, 0, graph 0.05, 0
set key width 2
do for [fmt in "png pdf"] {
    eval begin(fmt, "alloc_hist")
    set xlabel "queries given to a datum, n_i"
    set ylabel "fraction of data"
    set yrange [0:*]
    set multiplot layout nrows, ncols
    do for [i = 1:npanels] {
        k = ptask[i]
        set title sprintf("%s\nb = %d", task_title[k], alloc_budget[k]) noenhanced
        if (alloc_budget[k] < 0) {
            set title sprintf("%s: no allocation logs", task_title[k]) noenhanced
            set xrange [0:1]; set yrange [0:1]
            plot 2 notitle
            set autoscale x; set yrange [0:*]
        } else {
            plot for [s in task_allocs[k]] dat("alloc_hist", k) index int(s) using 1:2:($3 * 0.9) with boxes lt sty("lr-".alloc_name[int(s) + 1], int(s)) title columnheader(1) noenhanced
        }
    }
    unset multiplot
    set output
}
set logscale x
do for [fmt in "png pdf"] {
    eval begin(fmt, "alloc_scatter")
    set xlabel "proxy variance of the datum (previous visit)"
    set ylabel "queries given to the datum, n_i"
    set autoscale y
    set multiplot layout nrows, ncols
    do for [i = 1:npanels] {
        k = ptask[i]
        set title sprintf("%s\nb = %d", task_title[k], alloc_budget[k]) noenhanced
        if (alloc_budget[k] < 0 || strlen(task_scatter[k]) == 0) {
            set title sprintf("%s: no allocation logs with proxy values", task_title[k]) noenhanced
            set xrange [1:10]; set yrange [0:1]
            plot 2 notitle
            set autoscale x; set autoscale y
        } else {
            plot for [s in task_scatter[k]] dat("alloc_scatter", k) index int(s) using 1:2 with points lt sty("lr-".alloc_name[int(s) + 1], int(s)) pt 7 ps 0.3 title columnheader(1) noenhanced
        }
    }
    unset multiplot
    set output
}
