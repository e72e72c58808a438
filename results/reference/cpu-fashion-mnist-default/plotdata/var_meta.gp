# studies of the estimator-quality section (plots/var_*.gp)
nvar = 4
vtitle1 = "lr, mlp:784-64-64-10"
nalloc1 = 5
valloc1_0 = "uniform"
valloc1_1 = "neyman"
valloc1_2 = "flops"
valloc1_3 = "loss"
valloc1_4 = "oracle"
vtitle2 = "lr, vit-tiny:patch=7 (few-shot)"
nalloc2 = 3
valloc2_0 = "uniform"
valloc2_1 = "neyman"
valloc2_2 = "flops"
vtitle3 = "mezo, mlp:784-64-64-10"
nalloc3 = 2
valloc3_0 = "uniform"
valloc3_1 = "neyman"
vtitle4 = "mezo, vit-tiny:patch=7 (few-shot)"
nalloc4 = 1
valloc4_0 = "uniform"
