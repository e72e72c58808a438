#!/usr/bin/env python3
"""torch_lr.py: the PyTorch-eager peer of `flbench bench` on the CPU (what run_peers.py runs):
one full LR training step of workload W1 or W2, the authors' step of torch_peer.py, timed with
the same protocol as flbench (median, min and max of --reps steps after --warmup untimed steps).

Workloads (as bench/cmd_bench.c), scope all (noise on every linear layer):
  W1  MLP 784-512-512-10 (ReLU), batch 64, 32 queries per datum: the 3 linear layers
  W2  ViT (28x28x1, patch 4, dim 192, 6 blocks, 3 heads, MLP 768, exact-erf GELU, pre-LN,
      LayerNorm eps 1e-12; 50 tokens), batch 32, 16 queries per datum: the patch embedding
      (an nn.Linear over flattened 4x4 patches, the Conv2d of the checkpoints written as the
      linear layer it is), Q, K, V, output, MLP in and out, head
Prints one machine-readable line per measurement (key=value, space separated):
  peer=torch-eager workload=W1 method=lr budget=32 batch=64 threads=2 reps=7 warmup=2
  step_ms_median=... step_ms_min=... step_ms_max=... gemm_gflop=... gflops=... torch=2.x
(gemm_gflop: the linear layers' forward GEMMs of the clean and query passes, the attention
products, and the einsum gradients, 2 FLOP per multiply-add.)
"""
import argparse
import statistics
import sys

import torch

import torch_peer as tp

WORKLOADS = {
    "W1": dict(kind="mlp", widths=[784, 512, 512, 10], batch=64, queries=32),
    "W2": dict(kind="vit", image=28, channels=1, patch=4, dim=192, depth=6, heads=3, mlp=768,
               classes=10, embed="linear", batch=32, queries=16),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="W1")
    ap.add_argument("--budget", type=int, default=0, help="queries per datum (default: the workload's)")
    ap.add_argument("--reps", type=int, default=7, help="timed steps (median reported; at least 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    tp.add_options(ap, "cpu")
    a = ap.parse_args()
    if a.reps < 5:
        print(f"torch_lr.py: --reps: at least 5 timed steps, found {a.reps}", file=sys.stderr)
        return 2
    dev = tp.setup(a)
    if dev is None:
        return 3
    w = WORKLOADS[a.workload]
    B = w["batch"]
    n = a.budget if a.budget > 0 else w["queries"]
    model, perturbed, x, y = tp.build(w, "all", B, dev)
    times = tp.time_steps(tp.lr_step(model, perturbed, x, y, n), a.warmup, a.reps, dev)
    med = statistics.median(times)
    gf = tp.gemm_flop(w, perturbed, B, n) * 1e-9
    print(f"peer=torch-eager workload={a.workload} method=lr budget={n} batch={B} threads={torch.get_num_threads()} "
          f"reps={a.reps} warmup={a.warmup} step_ms_median={1e3 * med:.3f} step_ms_min={1e3 * min(times):.3f} "
          f"step_ms_max={1e3 * max(times):.3f} gemm_gflop={gf:.3f} gflops={gf / med:.1f} torch={torch.__version__}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
