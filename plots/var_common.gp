# var_common.gp: shared by the estimator-quality figures (plots/var_*.gp), loaded, not run.
# The caller sets datadir (DIR/plotdata written by `flbench report DIR`) and figdir; the
# section's studies are described in datadir/var_meta.gp (nvar, vtitleK, nallocK, vallocK_A).
if (!exists("datadir")) datadir = "results/reproduce/plotdata"
if (!exists("figdir")) figdir = "results/figures"
if (system("test -f '".datadir."/var_meta.gp' && echo yes") ne "yes") {
    print sprintf("%s: no estimator-quality data in %s (flbench variance, then flbench report)", ARG0, datadir)
    exit
}
load datadir."/var_meta.gp"
system("mkdir -p '".figdir."'")
ncols = nvar < 2 ? nvar : 2
nrows = (nvar + ncols - 1) / ncols
pw = 3.3; ph = 2.6
vbegin(fmt, name) = (fmt eq "png") ? \
    sprintf("set terminal pngcairo enhanced size %d,%d font 'sans,16' linewidth 2; set output '%s/%s.png'", \
            int(pw * 200 * ncols), int(ph * 200 * nrows), figdir, name) : \
    sprintf("set terminal pdfcairo enhanced size %gin,%gin font 'sans,8' linewidth 1; set output '%s/%s.pdf'", \
            pw * ncols, ph * nrows, figdir, name)
vtitle(k) = value(sprintf("vtitle%d", k))
nalloc(k) = value(sprintf("nalloc%d", k))
valloc(k, a) = value(sprintf("valloc%d_%d", k, a))
vdat(k) = sprintf("%s/var_%d.dat", datadir, k)
load "plots/styles.gp"
set key top right samplen 2 spacing 1.0
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
