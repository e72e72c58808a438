#!/usr/bin/env python3
"""torch_lr_gpu.py: one LR training step of ViT-B/16 in PyTorch eager, written the way the
paper's authors write it, timed on the same GPU as flbench (bench/gpu_check.sh runs both).

The step, as in the authors' code:
  - a clean forward of the batch (B queries) gives the baseline loss of each datum;
  - the query batch is built with repeat_interleave (B * n images) and the whole network runs
    on it (no clean prefix: layers before the first perturbed one run once per query);
  - forward hooks on the perturbed nn.Linear modules add sigma * eps to their outputs
    (eps = torch.randn_like, one per token; row k paired with row k + R/2 by -eps) and keep
    the layer input and eps;
  - per-row cross-entropy, coef = (L - L_clean) / R;
  - LR gradients with einsum: gW = einsum('rto,rti->oi', coef eps / sigma, x), gb, g_logsigma;
  - torch.optim.Adam on the perturbed parameters.
Scope attn:last:K: Q, K, V and output projections of the last K blocks plus the classifier.
Prints one line and appends a CSV row: device,what,ms,gflop,gflops,ratio_to_cublas,peak_mem_mb,detail
(GFLOP: forward GEMMs of the clean and query passes plus the einsum products.)
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(s, D, heads, mlp, eps):
        super().__init__()
        s.heads = heads
        s.ln1 = nn.LayerNorm(D, eps=eps)
        s.q, s.k, s.v, s.o = (nn.Linear(D, D) for _ in range(4))
        s.ln2 = nn.LayerNorm(D, eps=eps)
        s.fc1, s.fc2 = nn.Linear(D, mlp), nn.Linear(mlp, D)

    def forward(s, x):  # x (N, T, D)
        N, T, D = x.shape
        hd = D // s.heads
        h = s.ln1(x)
        q = s.q(h).view(N, T, s.heads, hd).transpose(1, 2)
        k = s.k(h).view(N, T, s.heads, hd).transpose(1, 2)
        v = s.v(h).view(N, T, s.heads, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(hd)), dim=-1) @ v
        x = x + s.o(a.transpose(1, 2).reshape(N, T, D))
        return x + s.fc2(F.gelu(s.fc1(s.ln2(x))))


class ViT(nn.Module):
    def __init__(s, image, patch, D, depth, heads, mlp, classes, eps=1e-12):
        super().__init__()
        s.embed = nn.Conv2d(3, D, patch, stride=patch)
        T = (image // patch) ** 2 + 1
        s.cls = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        s.pos = nn.Parameter(torch.randn(1, T, D) * 0.02)
        s.blocks = nn.ModuleList(Block(D, heads, mlp, eps) for _ in range(depth))
        s.ln = nn.LayerNorm(D, eps=eps)
        s.head = nn.Linear(D, classes)

    def forward(s, img):
        x = s.embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1) + s.pos
        for b in s.blocks:
            x = b(x)
        return s.head(s.ln(x[:, 0]))


class Noise:
    """Forward hook: out + sigma * eps on a perturbed linear layer while `on`; keeps x and eps."""

    def __init__(s, layer, sigma0):
        s.layer = layer
        s.log_sigma = nn.Parameter(torch.full((layer.out_features,), math.log(sigma0), device=layer.weight.device))
        s.on = False
        s.x = s.eps = None
        layer.register_forward_hook(s.hook)

    def hook(s, mod, inp, out):
        if not s.on:
            return out
        R = out.shape[0]
        half = torch.randn((R // 2,) + tuple(out.shape[1:]), device=out.device, dtype=out.dtype)
        eps = torch.cat([half, -half], 0) if R % 2 == 0 else torch.randn_like(out)
        s.x, s.eps = inp[0], eps
        return out + torch.exp(s.log_sigma) * eps


def main():
    ap = argparse.ArgumentParser()
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
    ap.add_argument("--math", choices=["fp32", "tf32"], default="fp32")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--ref-gflops", type=float, default=0.0)
    ap.add_argument("--csv", default="")
    ap.add_argument("--what", default="torch-eager lr authors-scope")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("SKIP torch: no CUDA device visible to PyTorch")
        return 3
    torch.backends.cuda.matmul.allow_tf32 = a.math == "tf32"
    torch.backends.cudnn.allow_tf32 = a.math == "tf32"
    torch.manual_seed(0)
    model = ViT(a.image, a.patch, a.dim, a.depth, a.heads, a.mlp, a.classes).to(dev)
    model.requires_grad_(False)
    K = min(a.scope_last, a.depth)
    layers = [getattr(b, n) for b in model.blocks[a.depth - K:] for n in ("q", "k", "v", "o")] + [model.head]
    noises = [Noise(l, 1e-3) for l in layers]
    params = []
    for nz in noises:
        params += [nz.layer.weight, nz.layer.bias, nz.log_sigma]
    opt = torch.optim.Adam(params, lr=1e-4)
    B, n = a.batch, a.queries
    R = B * n
    x = torch.randn(B, 3, a.image, a.image, device=dev)
    y = torch.arange(B, device=dev) % a.classes

    def step():
        with torch.no_grad():
            for nz in noises:
                nz.on = False
            l_clean = F.cross_entropy(model(x), y, reduction="none")
            xq = x.repeat_interleave(n, 0)
            yq = y.repeat_interleave(n, 0)
            for nz in noises:
                nz.on = True
            L = F.cross_entropy(model(xq), yq, reduction="none")
            coef = (L - l_clean.repeat_interleave(n, 0)) / R
            for nz in noises:
                sigma = torch.exp(nz.log_sigma)
                xi, eps = nz.x, nz.eps
                if xi.dim() == 2:  # the classifier: one row per query
                    xi, eps = xi.unsqueeze(1), eps.unsqueeze(1)
                G = coef.view(-1, 1, 1) * eps / sigma
                nz.layer.weight.grad = torch.einsum("rto,rti->oi", G, xi)
                nz.layer.bias.grad = G.sum((0, 1))
                nz.log_sigma.grad = torch.einsum("r,rto->o", coef, eps * eps - 1)
                nz.x = nz.eps = None
        opt.step()

    # GEMM FLOPs of one step (2 per multiply-add)
    T = (a.image // a.patch) ** 2 + 1
    D = a.dim
    per_image = 2 * (T - 1) * 3 * a.patch * a.patch * D  # patch embedding
    per_image += a.depth * (2 * T * D * D * 4 + 2 * T * D * a.mlp * 2 + 2 * 2 * T * T * D)
    per_image += 2 * D * a.classes
    grad = K * 4 * 2 * R * T * D * D + 2 * R * D * a.classes
    flop = (B + R) * per_image + grad

    times = []
    for s in range(a.steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if s > 0:
            times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times)
    rate = flop / (ms * 1e-3) * 1e-9
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else 0.0
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    detail = (f"torch {torch.__version__} eager; ViT {a.image}/{a.patch} D{D} depth {a.depth}; attn:last:{K}; "
              f"batch {B} x {n} queries; math {a.math}; median of {a.steps} steps after 1 warm-up")
    ratio = f"{rate / a.ref_gflops:.4f}" if a.ref_gflops > 0 else ""
    print(f"{a.what:<28} {ms:10.2f} ms {rate:10.1f} GFLOP/s  ratio {ratio or 'n/a'}  peak {peak:.0f} MB  ({detail})")
    if a.csv:
        with open(a.csv, "a") as f:
            f.write(f'"{name}","{a.what}",{ms:.3f},{flop * 1e-9:.3f},{rate:.1f},{ratio},{peak:.1f},"{detail}"\n')
    return 0


if __name__ == "__main__":
    sys.exit(main())
