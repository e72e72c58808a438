# cost.gp: time per step and peak memory against query budget for each series (mean +/-
# sample std over seeds; BP dashed at its single cost). Time per step is training wall time
# over steps; memory is peak device memory on GPU runs and peak resident host memory on CPU.
# Reads DATADIR/cost_K.dat. Writes FIGDIR/cost_time.{png,pdf} and FIGDIR/cost_memory.{png,pdf}.
load "plots/common.gp"
set logscale x 2
set logscale y
set xlabel "budget b: queries per datum per step, every kind counted (clean pass included)"
do for [fmt in "png pdf"] {
    eval begin(fmt, "cost_time")
    set ylabel "time per step (ms)"
    set multiplot layout nrows, ncols
    do for [i = 1:npanels] {
        k = ptask[i]
        set title task_title[k] noenhanced
        plot for [s in task_series[k]] dat("cost", k) index int(s) using 1:2:3 with yerrorlines lt int(s)+1 pt int(s)+1 \
             dt 1+(int(s) == bp_index) title columnheader(1) noenhanced
    }
    unset multiplot
    set output
}
unset logscale y
do for [fmt in "png pdf"] {
    eval begin(fmt, "cost_memory")
    set ylabel "peak memory (MiB)"
    set multiplot layout nrows, ncols
    do for [i = 1:npanels] {
        k = ptask[i]
        set title task_title[k] noenhanced
        plot for [s in task_series[k]] dat("cost", k) index int(s) using 1:4:5 with yerrorlines lt int(s)+1 pt int(s)+1 \
             dt 1+(int(s) == bp_index) title columnheader(1) noenhanced
    }
    unset multiplot
    set output
}
