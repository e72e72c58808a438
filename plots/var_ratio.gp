# var_ratio.gp: measured variance ratio against uniform (rel MSE / uniform's) against the ratio
# predicted from measured per-datum variances for the best integer allocation; points on the
# diagonal mean the allocator reaches the predicted reduction. One panel per study.
load "plots/var_common.gp"
do for [fmt in "png pdf"] {
    eval vbegin(fmt, "var_ratio")
    set multiplot layout nrows, ncols
    do for [k = 1:nvar] {
        set title vtitle(k) noenhanced
        set key bottom right
        set xlabel "predicted ratio (integer allocation, n_i >= 2)"
        set ylabel "measured ratio to uniform"
        set xrange [0:1.2]
        set yrange [0:*]
        plot for [a = 1:nalloc(k) - 1] vdat(k) index a using 8:6 with points pt 7 ps 0.8 title valloc(k, a), \
             x with lines dt 2 lc rgb "#888888" title "measured = predicted"
    }
    unset multiplot
    set output
}
