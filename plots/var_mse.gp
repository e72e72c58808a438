# var_mse.gp: relative MSE of the gradient estimate against the query budget (log-log), one
# line per allocator, one panel per study; the dashed line has slope -1 (variance ~ 1/N)
# through uniform's first point. Also var_cos: the mean cosine with the BP gradient.
load "plots/var_common.gp"
do for [fmt in "png pdf"] {
    eval vbegin(fmt, "var_mse")
    set multiplot layout nrows, ncols title "error bars: ±1 standard error of the relative MSE over the repetitions"
    do for [k = 1:nvar] {
        set title vtitle(k) noenhanced
        set logscale xy 2
        set format y "10^{%L}"
        set logscale y 10
        set xlabel "budget: queries per datum per step, clean pass included"
        set ylabel "relative MSE  E|ĝ-g|^2/|g|^2"
        stats vdat(k) index 0 using 1:2 nooutput
        x0 = STATS_min_x; y0 = STATS_max_y
        plot for [a = 0:nalloc(k) - 1] vdat(k) index a using 1:2:3 with yerrorlines lt sty("lr-".valloc(k, a), a) title valloc(k, a), \
             y0 * x0 / x with lines dt 2 lc rgb "#888888" title "slope -1"
        unset logscale
        unset format
    }
    unset multiplot
    set output
    eval vbegin(fmt, "var_cos")
    set multiplot layout nrows, ncols title "error bars: ±1 sample std of the cosine over the repetitions (spread, not standard error)"
    do for [k = 1:nvar] {
        set title vtitle(k) noenhanced
        set logscale x 2
        set xlabel "budget: queries per datum per step, clean pass included"
        set ylabel "cosine with the BP gradient"
        set yrange [0:1]
        plot for [a = 0:nalloc(k) - 1] vdat(k) index a using 1:4:5 with yerrorlines lt sty("lr-".valloc(k, a), a) title valloc(k, a)
        unset logscale
        set autoscale y
    }
    unset multiplot
    set output
}
