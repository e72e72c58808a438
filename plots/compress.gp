# compress.gp: query compression, one panel per task: the equivalent uniform-LR budget b' of
# each LR allocator and MeZO series at budget b (the uniform-LR budget with the same mean
# accuracy, bootstrap 95 % interval over seeds), against b, with the line b' = b: above the
# line a series needs fewer queries than uniform LR for its accuracy. Points outside the swept
# uniform budgets are left out (the report prints them as "< min" / "> max").
# Reads DATADIR/compress_K.dat and meta.gp's compress_n, compress_lo, compress_hi (written by
# `flbench report`; docs/SWEEPS.md). Writes FIGDIR/compress.{png,pdf}.
load "plots/common.gp"
# the series name of block j of compress_K.dat (its column header)
compress_name(k, j) = system(sprintf("awk '/^\"/ { if (n++ == %d) { gsub(/\"/, \"\", $1); print $1 } }' '%s'", j, dat("compress", k)))
set logscale xy 2
set xlabel "budget b of the series (queries per datum per step)"
set ylabel "equivalent uniform-LR budget b'"
do for [fmt in "png pdf"] {
    eval begin(fmt, "compress")
    set multiplot layout nrows, ncols title "error bars: bootstrap 95 % interval of b' (over seeds)"
    do for [i = 1:npanels] {
        k = ptask[i]
        set title task_title[k] noenhanced
        lo = compress_lo[k] / 2.0
        hi = compress_hi[k] * 2.0
        set xrange [lo:hi]
        set yrange [lo:hi]
        if (compress_n[k] > 0) {
            plot x with lines lt 1 dt 2 title "b' = b", \
                 for [j = 0:compress_n[k] - 1] dat("compress", k) index j using 1:2:3:4 with yerrorlines \
                 lt sty(compress_name(k, j), j) title columnheader(1) noenhanced
        } else {
            plot x with lines lt 1 dt 2 title "b' = b (no uniform-LR sweep to compare with)"
        }
    }
    unset multiplot
    set output
}
