# loss_epoch.gp: training loss against epoch, one panel per task, one line per series at
# the task's loss budget (meta.gp loss_budget; series without it at their nearest budget),
# mean over seeds with a band of +/- one sample std.
# Reads DATADIR/loss_K.dat. Writes FIGDIR/loss_epoch.{png,pdf}.
load "plots/common.gp"
set xlabel "epoch"
set ylabel "training loss (nats)"
set style fill transparent solid 0.15 noborder
do for [fmt in "png pdf"] {
    eval begin(fmt, "loss_epoch")
    set multiplot layout nrows, ncols
    do for [i = 1:npanels] {
        k = ptask[i]
        set title sprintf("%s, b = %d", task_title[k], loss_budget[k]) noenhanced
        plot for [s in task_series[k]] dat("loss", k) index int(s) using 1:($2-$3):($2+$3) with filledcurves lt int(s)+1 notitle, \
             for [s in task_series[k]] dat("loss", k) index int(s) using 1:2 with linespoints lt int(s)+1 pt int(s)+1 pointinterval -1 \
             dt 1+(int(s) == bp_index) title columnheader(1) noenhanced
    }
    unset multiplot
    set output
}
