# written by flbench report: what the data files of this folder hold
npanels = 2
array ptask[2]
ptask[1] = 1
ptask[2] = 2
ntasks = 3
nseries = 6
array task_title[3]
array series_name[6]
array loss_budget[3]
array alloc_budget[3]
array task_series[3]   # the 0-based block indices holding data, per task
array task_allocs[3]   # the same for the allocation histograms
array task_scatter[3]  # and the scatter plots (only data with a proxy value)
nalloc = 2
array alloc_name[2]
alloc_name[1] = "flops"
alloc_name[2] = "neyman"
series_name[1] = "bp"
series_name[2] = "mezo"
series_name[3] = "mezo-2q"
series_name[4] = "lr-uniform"
series_name[5] = "lr-flops"
series_name[6] = "lr-neyman"
bp_index = 0   # 0-based block index of the BP reference (-1: none)
task_title[1] = "fashion-mnist, mlp:784-64-64-10, full training set"
task_series[1] = "0 1 2 3 4 5"
loss_budget[1] = 32
alloc_budget[1] = -1   # -1: no allocation logs for this task
task_allocs[1] = ""
task_scatter[1] = ""
task_title[2] = "fashion-mnist[5-9], vit-tiny, 16-shot"
task_series[2] = "0 1 2 3 4 5"
loss_budget[2] = 32
alloc_budget[2] = -1   # -1: no allocation logs for this task
task_allocs[2] = ""
task_scatter[2] = ""
task_title[3] = "fashion-mnist[0-4], vit-tiny, full training set"
task_series[3] = "0"
loss_budget[3] = 1
alloc_budget[3] = -1   # -1: no allocation logs for this task
task_allocs[3] = ""
task_scatter[3] = ""
