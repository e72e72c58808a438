# written by flbench report: what the data files of this folder hold
npanels = 4
array ptask[4]
ptask[1] = 1
ptask[2] = 2
ptask[3] = 3
ptask[4] = 5
ntasks = 5
nseries = 7
array task_title[5]
array series_name[7]
array loss_budget[5]
array alloc_budget[5]
array task_series[5]   # the 0-based block indices holding data, per task
array task_allocs[5]   # the same for the allocation histograms
array task_scatter[5]  # and the scatter plots (only data with a proxy value)
array compress_n[5]
array compress_lo[5]
array compress_hi[5]
compress_n[1] = 4; compress_lo[1] = 4; compress_hi[1] = 32
compress_n[2] = 4; compress_lo[2] = 4; compress_hi[2] = 32
compress_n[3] = 4; compress_lo[3] = 4; compress_hi[3] = 32
compress_n[4] = 0; compress_lo[4] = 1; compress_hi[4] = 2
compress_n[5] = 0; compress_lo[5] = 20; compress_hi[5] = 40
nalloc = 2
array alloc_name[2]
alloc_name[1] = "flops"
alloc_name[2] = "neyman"
series_name[1] = "bp"
series_name[2] = "bp-ckpt"
series_name[3] = "mezo"
series_name[4] = "mezo-2q"
series_name[5] = "lr-uniform"
series_name[6] = "lr-flops"
series_name[7] = "lr-neyman"
bp_index = 0   # 0-based block index of the BP reference (-1: none)
task_title[1] = "fashion-mnist label-noise=0.3, mlp:784-64-64-10, 1000-shot"
task_series[1] = "0 1 2 3 4 5 6"
loss_budget[1] = 32
alloc_budget[1] = -1   # -1: no allocation logs for this task
task_allocs[1] = ""
task_scatter[1] = ""
task_title[2] = "fashion-mnist, mlp:784-64-64-10, full training set"
task_series[2] = "0 1 2 3 4 5 6"
loss_budget[2] = 32
alloc_budget[2] = -1   # -1: no allocation logs for this task
task_allocs[2] = ""
task_scatter[2] = ""
task_title[3] = "fashion-mnist[5-9], vit-tiny, 16-shot"
task_series[3] = "0 1 2 3 4 5 6"
loss_budget[3] = 32
alloc_budget[3] = -1   # -1: no allocation logs for this task
task_allocs[3] = ""
task_scatter[3] = ""
task_title[4] = "fashion-mnist[0-4], vit-tiny, full training set"
task_series[4] = "0"
loss_budget[4] = 1
alloc_budget[4] = -1   # -1: no allocation logs for this task
task_allocs[4] = ""
task_scatter[4] = ""
task_title[5] = "fashion-mnist[5-9], prompt, 16-shot (+20 held out) (val)"
task_series[5] = "2 4 5"
loss_budget[5] = 20
alloc_budget[5] = -1   # -1: no allocation logs for this task
task_allocs[5] = ""
task_scatter[5] = ""
