# bench_threads.gp: thread scaling of one training step (make bench; bench/run_bench.sh).
# Left panels: ms per step (median, bars min..max) against threads, log scale; right panels:
# speedup over 1 thread, with the ideal (linear) scaling dashed. One row per workload, one
# line per estimator. Reads DATADIR/threads_W1.dat and threads_W2.dat (blocks per method:
# method threads median min max floor speedup). Writes FIGDIR/bench_threads.{png,pdf}.
if (!exists("datadir")) datadir = "results/bench"
if (!exists("figdir")) figdir = "results/figures"
system("mkdir -p '".figdir."'")
wls = "W1 W2"
wl_title(w) = w eq "W1" ? "W1: MLP 784-512-512-10, batch 64, 32 queries" : \
                          "W2: vit-tiny, batch 32, 16 queries"
f(w) = sprintf("%s/threads_%s.dat", datadir, w)
nblocks(w) = int(system(sprintf("cat '%s' 2>/dev/null | grep -c '^\"'; true", f(w))))
names(w) = system(sprintf("sed -n 's/^\"\\(.*\\)\"$/\\1/p' '%s' 2>/dev/null", f(w)))
set linetype 1 lc rgb "#000000" pt 1
set linetype 2 lc rgb "#d62728" pt 2
set linetype 3 lc rgb "#1f77b4" pt 4
set linetype 4 lc rgb "#2ca02c" pt 5
set linetype cycle 4
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
set key top left samplen 2
set xlabel "threads"
set xtics 1
set offsets graph 0.08, graph 0.08, graph 0.05, graph 0.05
do for [fmt in "png pdf"] {
    if (fmt eq "png") {
        set terminal pngcairo enhanced size 1320,1000 font "sans,16" linewidth 2
    } else {
        set terminal pdfcairo enhanced size 6.6in,5in font "sans,8" linewidth 1
    }
    set output sprintf("%s/bench_threads.%s", figdir, fmt)
    set multiplot layout 2,2
    do for [w in wls] {
        n = nblocks(w)
        nm = names(w)
        set title wl_title(w) noenhanced
        set logscale y
        set ylabel "ms per step"
        if (n > 0) {
            plot for [k = 0:n-1] f(w) index k using 2:3:4:5 with yerrorlines lt k+1 title word(nm, k+1)
        } else {
            set label 1 "no data" at graph 0.5, graph 0.5 center
            set xrange [0:1]; set yrange [0.5:2]
            plot 1 lc rgb "white" notitle
            set autoscale x; set autoscale y
            unset label 1
        }
        unset logscale y
        set ylabel "speedup over 1 thread"
        if (n > 0) {
            plot for [k = 0:n-1] f(w) index k using 2:7 with linespoints lt k+1 title word(nm, k+1), \
                 x with lines dt 2 lc rgb "#888888" title "ideal"
        } else {
            set label 1 "no data" at graph 0.5, graph 0.5 center
            set xrange [0:1]; set yrange [0.5:2]
            plot 1 lc rgb "white" notitle
            set autoscale x; set autoscale y
            unset label 1
        }
    }
    unset multiplot
    set output
}
