# track_ratio.gp: variance ratio to uniform (relative MSE of the allocator / uniform's, same
# budget and batch) against epoch, measured along training by `train --track-variance`
# (docs/METHOD.md, "Variance during training"): mean over the tracked steps of each epoch with
# its standard error, one line per series (task, allocator, budget), against the fraction of
# training done at the end of the epoch (tasks differ in their number of epochs). Below 1: less variance.
# Styles: the unnamed linetypes of plots/styles.gp (10-13), one per series.
load "plots/var_common.gp"
if (system("test -f '".datadir."/track_meta.gp' && echo yes") ne "yes") {
    print sprintf("%s: no variance-tracking data in %s (train --track-variance, then flbench report)", ARG0, datadir)
    exit
}
load datadir."/track_meta.gp"
tdat = sprintf("%s/track_ratio.dat", datadir)
ttitle(k) = value(sprintf("ttitle%d", k))
do for [fmt in "png pdf"] {
    pw = 4.4; ph = 3.2
    if (fmt eq "png") {
        eval sprintf("set terminal pngcairo enhanced size %d,%d font 'sans,16' linewidth 2; set output '%s/track_ratio.png'", int(pw * 200), int(ph * 200), figdir)
    } else {
        eval sprintf("set terminal pdfcairo enhanced size %gin,%gin font 'sans,8' linewidth 1; set output '%s/track_ratio.pdf'", pw, ph, figdir)
    }
    set title "variance ratio to uniform along training\n{/*0.8 error bars: ±1 standard error over the tracked steps of each epoch}"
    eval sprintf("set key bottom left samplen 2 noenhanced font ',%d'", fmt eq "png" ? 12 : 6)
    set xlabel "fraction of training (epoch / epochs)"
    set ylabel "rel. MSE / uniform's"
    set xrange [0:1.05]
    set yrange [0:1.6]
    plot for [k = 1:ntrack] tdat index (k - 1) using ($1 / $5):2:3 with yerrorlines lt 9 + k ps 0.8 title ttitle(k), \
         1 with lines dt 2 lc rgb "#888888" title "uniform"
    set output
}
