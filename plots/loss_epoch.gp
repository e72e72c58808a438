# loss_epoch.gp: training loss against epoch, one panel per task, one line per series at
# the task's loss budget (meta.gp loss_budget; series without it at their nearest budget),
# mean over seeds with a band of +/- one sample std. Epoch ticks are whole numbers (a step of
# 1, 2, 5, 10, ... chosen from the panel's last epoch); the key sits inside each panel,
# above the curves (room made with the top offset), away from the x label. Series styles: plots/styles.gp.
# Reads DATADIR/loss_K.dat. Writes FIGDIR/loss_epoch.{png,pdf}.
load "plots/common.gp"
set xlabel "epoch"
set ylabel "training loss (nats)"
set style fill transparent solid 0.15 noborder
set key inside top right vertical maxrows 4 samplen 2 opaque
set offsets graph 0.04, graph 0.04, graph 0.55, graph 0.05   # room above the curves for the key
set mxtics 1
# a whole-number tick step that gives at most about 7 ticks up to epoch e
tick_step(e) = e <= 7 ? 1 : e <= 14 ? 2 : e <= 35 ? 5 : e <= 70 ? 10 : e <= 140 ? 20 : 50 * ceil(e / 350.0)
do for [fmt in "png pdf"] {
    eval begin(fmt, "loss_epoch")
    set multiplot layout nrows, ncols title sprintf("bands: ±1 sample std over %s", nseeds_text)
    do for [i = 1:npanels] {
        k = ptask[i]
        set title sprintf("%s, b = %d", task_title[k], loss_budget[k]) noenhanced font ",13"
        stats dat("loss", k) using 1 nooutput
        emax = STATS_max
        set xtics 0, tick_step(emax) format "%.0f"
        set xrange [0.5 : emax + 0.5]
        plot for [s in task_series[k]] dat("loss", k) index int(s) using 1:($2-$3):($2+$3) with filledcurves lt sty(nm(s), int(s)) notitle, \
             for [s in task_series[k]] dat("loss", k) index int(s) using 1:2 with linespoints lt sty(nm(s), int(s)) pointinterval -1 \
             title columnheader(1) noenhanced
    }
    unset multiplot
    set output
}
