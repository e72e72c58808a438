#!/usr/bin/env python3
"""torch_lr_gpu.py: the PyTorch-eager peer of bench_gpu (bench/gpu_check.sh runs both): one LR
training step of ViT-B/16, the authors' step of torch_peer.py, timed on the same GPU as flbench
(the median of --steps steps after 1 warm-up, synchronized around each).

Model: ViT 224/16, dim 768, 12 blocks, 12 heads, MLP 3072, 10 classes (the options below change
it), patch embedding as the checkpoints' Conv2d, 3 channels; scope attn:last:K (--scope-last).
Prints one line and appends a CSV row: device,what,ms,gflop,gflops,ratio_to_cublas,peak_mem_mb,detail
(GFLOP: forward GEMMs of the clean and query passes plus the einsum products.)
"""
import argparse
import statistics
import sys

import torch

import torch_peer as tp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--queries", type=int, default=20, help="queries per datum")
    ap.add_argument("--scope-last", type=int, default=4, help="K of attn:last:K")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--mlp", type=int, default=3072)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--ref-gflops", type=float, default=0.0)
    ap.add_argument("--csv", default="")
    ap.add_argument("--what", default="torch-eager lr authors-scope")
    tp.add_options(ap, "cuda")
    a = ap.parse_args()
    dev = tp.setup(a)
    if dev is None:
        return 3
    w = dict(kind="vit", image=a.image, channels=3, patch=a.patch, dim=a.dim, depth=a.depth, heads=a.heads,
             mlp=a.mlp, classes=a.classes, embed="conv")
    K = min(a.scope_last, a.depth)
    B, n = a.batch, a.queries
    model, perturbed, x, y = tp.build(w, f"attn:last:{K}", B, dev)
    flop = tp.gemm_flop(w, perturbed, B, n)
    times = tp.time_steps(tp.lr_step(model, perturbed, x, y, n), 1, a.steps, dev)
    ms = 1e3 * statistics.median(times)
    rate = flop / (ms * 1e-3) * 1e-9
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else 0.0
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    detail = (f"torch {torch.__version__} eager; ViT {a.image}/{a.patch} D{a.dim} depth {a.depth}; attn:last:{K}; "
              f"batch {B} x {n} queries; math {a.math}; median of {a.steps} steps after 1 warm-up")
    ratio = f"{rate / a.ref_gflops:.4f}" if a.ref_gflops > 0 else ""
    print(f"{a.what:<28} {ms:10.2f} ms {rate:10.1f} GFLOP/s  ratio {ratio or 'n/a'}  peak {peak:.0f} MB  ({detail})")
    if a.csv:
        with open(a.csv, "a") as f:
            f.write(f'"{name}","{a.what}",{ms:.3f},{flop * 1e-9:.3f},{rate:.1f},{ratio},{peak:.1f},"{detail}"\n')
    return 0


if __name__ == "__main__":
    sys.exit(main())
