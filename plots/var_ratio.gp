# var_ratio.gp: measured variance ratio against uniform (rel MSE / uniform's) against the ratio
# predicted from measured per-datum variances for the best integer allocation; points on the
# diagonal mean the allocator reaches the predicted reduction. One panel per study that has an
# allocator besides uniform (a study with uniform alone has no ratio: no panel). Error bars:
# +/- one standard error of the ratio (var_K.dat column 9, ratio_se). Styles: plots/styles.gp.
load "plots/var_common.gp"
vr_list = ""
do for [k = 1:nvar] { if (nalloc(k) > 1) { vr_list = vr_list." ".k } }
vr_n = words(vr_list)
if (vr_n < 1) { print sprintf("%s: no study with an allocator besides uniform in %s: no figure", ARG0, datadir); exit }
ncols = vr_n <= 3 ? vr_n : 2
nrows = (vr_n + ncols - 1) / ncols
do for [fmt in "png pdf"] {
    eval vbegin(fmt, "var_ratio")
    set multiplot layout nrows, ncols title "error bars: ±1 standard error of the ratio (from the two MSEs' standard errors over the repetitions)"
    do for [k in vr_list] {
        k = int(k)
        set title vtitle(k) noenhanced
        set key bottom right
        set xlabel "predicted ratio (integer allocation, n_i >= 2)"
        set ylabel "measured ratio to uniform"
        set xrange [0:1.2]
        set yrange [0:*]
        plot for [a = 1:nalloc(k) - 1] vdat(k) index a using 8:6:9 with yerrorbars lt sty("lr-".valloc(k, a), a) ps 0.8 title valloc(k, a), \
             x with lines dt 2 lc rgb "#888888" title "measured = predicted"
    }
    unset multiplot
    set output
}
