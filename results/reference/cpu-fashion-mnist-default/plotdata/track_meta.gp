# series of plots/track_ratio.gp
ntrack = 4
ttitle1 = "mlp:784-64-64-10 lr-neyman b=16"
ttitle2 = "mlp:784-64-64-10 lr-neyman b=16"
ttitle3 = "mlp:784-64-64-10 lr-flops b=16"
ttitle4 = "vit-tiny:patch=7 lr-neyman b=16"
