# styles.gp: one line style per series name, the same in every figure (loaded by
# plots/common.gp and plots/var_common.gp, not run on its own). Colour, marker and dash type all
# differ between series, so that curves that lie on one another (lr-uniform, lr-flops and
# lr-neyman often do) can still be told apart, in print and for colour-vision deficiencies.
# sty(NAME, POS): the linetype of the series NAME (meta.gp series_name) at position POS (0-based);
# names outside the list get linetypes 10-16 by position. The estimator-quality figures name
# their series by allocator; they use sty("lr-".ALLOCATOR, POS), the allocator's LR style.
# BP and BP with checkpointing are drawn as reference lines without markers (their cost and
# accuracy do not depend on the budget).
style_names = " bp bp-ckpt mezo mezo-2q lr-uniform lr-flops lr-neyman lr-loss lr-oracle "
sty(n, pos) = (sty_p = strstrt(style_names, " ".n." "), sty_p > 0 ? words(style_names[1:sty_p]) + 1 : 10 + pos % 7)
is_ref(n) = strstrt(n, "bp") == 1
set linetype 1 lc rgb "#000000" pt 1 dt 2
set linetype 2 lc rgb "#d62728" pt 2 dt 4
set linetype 3 lc rgb "#ff7f0e" pt 3 dt 1
set linetype 4 lc rgb "#1f77b4" pt 4 dt 1
set linetype 5 lc rgb "#2ca02c" pt 5 dt 1
set linetype 6 lc rgb "#9467bd" pt 6 dt 2
set linetype 7 lc rgb "#8c564b" pt 9 dt 4
set linetype 8 lc rgb "#e377c2" pt 10 dt 3
set linetype 9 lc rgb "#bcbd22" pt 12 dt 5
set linetype 10 lc rgb "#17becf" pt 8 dt 1
set linetype 11 lc rgb "#00008b" pt 13 dt 2
set linetype 12 lc rgb "#006d5b" pt 11 dt 4
set linetype 13 lc rgb "#c51b8a" pt 7 dt 3
set linetype 14 lc rgb "#e6ab02" pt 14 dt 5
set linetype 15 lc rgb "#404040" pt 15 dt 1
set linetype 16 lc rgb "#66a61e" pt 3 dt 2
set linetype cycle 16
