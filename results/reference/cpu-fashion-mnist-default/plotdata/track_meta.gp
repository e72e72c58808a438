# series of plots/track_ratio.gp
ntrack = 4
ttitle1 = "fashion-mnist, mlp:784-64-64-10 lr-neyman b=16"
ttitle2 = "fashion-mnist label-noise=0.3, mlp:784-64-64-10 lr-neyman b=16"
ttitle3 = "fashion-mnist, mlp:784-64-64-10 lr-flops b=16"
ttitle4 = "fashion-mnist[5-9], vit-tiny:patch=7 lr-neyman b=16"
