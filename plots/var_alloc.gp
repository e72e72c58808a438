# var_alloc.gp: the allocation of the last estimate of the variance study, n_i against the
# measured sqrt(v_i), for neyman and flops at the largest budget (variance/alloc_*.csv).
# Neyman's optimum is a line through the origin.
if (!exists("datadir")) datadir = "results/reproduce/plotdata"
if (!exists("figdir")) figdir = "results/figures"
load "plots/styles.gp"
vdir = datadir."/../variance"
files = system("ls ".vdir."/alloc_*.csv 2>/dev/null")
if (words(files) == 0) { print "var_alloc.gp: no allocation data in ".vdir; exit }
system("mkdir -p '".figdir."'")
set datafile separator ","
set key top left samplen 2
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
nf = words(files)
do for [fmt in "png pdf"] {
    if (fmt eq "png") { set terminal pngcairo enhanced size int(3.3*200*nf), int(2.6*200) font 'sans,16' linewidth 2 }
    else { set terminal pdfcairo enhanced size 3.3*nf, 2.6 font 'sans,8' linewidth 1 }
    set output sprintf("%s/var_alloc.%s", figdir, fmt)
    set multiplot layout 1, nf
    do for [i = 1:nf] {
        f = word(files, i)
        stats f using 4 nooutput
        bmax = STATS_max
        set title system("basename ".f." .csv") noenhanced
        set xlabel "sqrt(v_i), measured"
        set ylabel "queries n_i"
        plot f using (strcol(3) eq "neyman" && $4 == bmax ? sqrt($9) : 1/0):7 with points lt sty("lr-neyman", 1) pt 7 ps 0.6 title "neyman", \
             f using (strcol(3) eq "flops" && $4 == bmax ? sqrt($9) : 1/0):7 with points lt sty("lr-flops", 2) pt 6 ps 0.6 title "flops"
    }
    unset multiplot
    set output
}
