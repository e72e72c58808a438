# bench_budget.gp: cost of one LR training step against the query budget (make bench;
# bench/run_bench.sh). Forward learning's cost must grow linearly in queries: points are the
# median ms per step (bars min..max), solid lines least-squares fits a + b*budget, dashed the
# GEMM floor (the step's own GEMMs replayed alone through OpenBLAS, where measured). The y
# range follows the medians: a max bar beyond it is clipped.
# Reads DATADIR/budget_W1.dat and budget_W2.dat (blocks per method: method budget median min
# max floor). Writes FIGDIR/bench_budget.{png,pdf}.
if (!exists("datadir")) datadir = "results/bench"
if (!exists("figdir")) figdir = "results/figures"
system("mkdir -p '".figdir."'")
wls = "W1 W2"
wl_title(w) = w eq "W1" ? "W1: MLP 784-512-512-10, batch 64" : "W2: vit-tiny, batch 32"
f(w) = sprintf("%s/budget_%s.dat", datadir, w)
nblocks(w) = int(system(sprintf("cat '%s' 2>/dev/null | grep -c '^\"'; true", f(w))))
names(w) = system(sprintf("sed -n 's/^\"\\(.*\\)\"$/\\1/p' '%s' 2>/dev/null", f(w)))
set linetype 1 lc rgb "#1f77b4" pt 7
set linetype 2 lc rgb "#2ca02c" pt 5
set linetype cycle 2
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
set key top left samplen 2
set xlabel "perturbed queries per datum (the workload's budget; the clean pass comes on top)"
set ylabel "ms per step"
set xrange [0:*]
set yrange [0:*]
set datafile missing "NaN"
# linear fits, one per workload and method (at most 2 methods per workload)
array A[4]; array Bc[4]; array NB[2]
lin(x) = a + b * x
set fit quiet nolog
i = 0
do for [w in wls] {
    i = i + 1
    NB[i] = nblocks(w)
    do for [k = 0:NB[i]-1] {
        a = 1.0; b = 1.0
        fit lin(x) f(w) index k using 2:3 via a, b
        A[2 * (i - 1) + k + 1] = a; Bc[2 * (i - 1) + k + 1] = b
    }
}
do for [fmt in "png pdf"] {
    if (fmt eq "png") {
        set terminal pngcairo enhanced size 1320,520 font "sans,16" linewidth 2
    } else {
        set terminal pdfcairo enhanced size 6.6in,2.6in font "sans,8" linewidth 1
    }
    set output sprintf("%s/bench_budget.%s", figdir, fmt)
    set multiplot layout 1,2
    i = 0
    do for [w in wls] {
        i = i + 1
        n = NB[i]
        nm = names(w)
        set title wl_title(w) noenhanced
        if (n > 0) {
            # y range from the medians (and floors), so that one outlier's max bar cannot flatten the rest
            set yrange [*:*]
            stats f(w) using 3 nooutput
            ymax = STATS_max
            stats f(w) using 6 nooutput
            ymax = STATS_max > ymax ? STATS_max : ymax
            set yrange [0:1.3 * ymax]
            plot for [k = 0:n-1] f(w) index k using 2:3:4:5 with yerrorbars lt k+1 title word(nm, k+1), \
                 for [k = 0:n-1] A[2*(i-1)+k+1] + Bc[2*(i-1)+k+1] * x with lines lt k+1 \
                     title sprintf("fit %.0f + %.2f b ms", A[2*(i-1)+k+1], Bc[2*(i-1)+k+1]), \
                 for [k = 0:n-1] f(w) index k using 2:6 with linespoints dt 2 lt k+1 pt 6 title word(nm, k+1)." floor"
        } else {
            set label 1 "no data" at graph 0.5, graph 0.5 center
            set xrange [0:1]; set yrange [0.5:2]
            plot 1 lc rgb "white" notitle
            set xrange [0:*]; set yrange [0:*]
            unset label 1
        }
    }
    unset multiplot
    set output
}
