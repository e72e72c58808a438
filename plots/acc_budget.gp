# acc_budget.gp: test accuracy against query budget, one panel per task, one line per
# series (method / allocator), mean +/- sample std over seeds; BP dashed as the reference.
# Reads DATADIR/acc_K.dat (written by `flbench report`). Writes FIGDIR/acc_budget.{png,pdf}.
load "plots/common.gp"
set logscale x 2
set xlabel "budget b: queries per datum per step, every kind counted (clean pass included)"
set ylabel "test accuracy (%)"
do for [fmt in "png pdf"] {
    eval begin(fmt, "acc_budget")
    set multiplot layout nrows, ncols
    do for [i = 1:npanels] {
        k = ptask[i]
        set title task_title[k] noenhanced
        plot for [s in task_series[k]] dat("acc", k) index int(s) using 1:2:3 with yerrorlines lt int(s)+1 pt int(s)+1 \
             dt 1+(int(s) == bp_index) title columnheader(1) noenhanced
    }
    unset multiplot
    set output
}
