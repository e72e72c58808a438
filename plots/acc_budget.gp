# acc_budget.gp: test accuracy against query budget, one panel per task, one line per
# series (method / allocator), mean +/- sample std over seeds; BP (and BP with checkpointing)
# as plain reference lines at their mean. Series styles: plots/styles.gp.
# Reads DATADIR/acc_K.dat (written by `flbench report`). Writes FIGDIR/acc_budget.{png,pdf}.
load "plots/common.gp"
set logscale x 2
set xlabel "budget b (queries per datum per step)"
set ylabel "test accuracy (%)"
do for [fmt in "png pdf"] {
    eval begin(fmt, "acc_budget")
    set multiplot layout nrows, ncols title sprintf("error bars: ±1 sample std over %s; BP lines: mean (no budget)", nseeds_text)
    do for [i = 1:npanels] {
        k = ptask[i]
        eval split(k)
        set title task_title[k] noenhanced
        plot for [j = 1:words(ref_series)] dat("acc", k) index int(rs(j)) using 1:2 with lines lt sty(nm(rs(j)), int(rs(j))) title nm(rs(j)) noenhanced, \
             for [j = 1:words(fg_series)] dat("acc", k) index int(fs(j)) using 1:2:3 with yerrorlines lt sty(nm(fs(j)), int(fs(j))) title nm(fs(j)) noenhanced
    }
    unset multiplot
    set output
}
