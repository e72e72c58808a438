#!/usr/bin/env python3
"""torch_lr.py: the PyTorch-eager peer of `flbench bench` on the CPU: one full LR training step
of workload W1 or W2, written the way the paper's authors write it, timed with the same protocol
as flbench (median, min and max of --reps steps after --warmup untimed steps).

Workloads (as bench/cmd_bench.c):
  W1  MLP 784-512-512-10 (ReLU), batch 64, 32 queries per datum, noise on all 3 linear layers
  W2  ViT (28x28x1, patch 4, dim 192, 6 blocks, 3 heads, MLP 768, exact-erf GELU, pre-LN,
      LayerNorm eps 1e-12; 50 tokens), batch 32, 16 queries per datum, noise on every linear
      layer: the patch embedding (an nn.Linear over flattened 4x4 patches, the Conv2d of the
      checkpoints written as the linear layer it is), Q, K, V, output, MLP in and out, head
The step, as in the authors' code:
  - a clean forward of the batch gives each datum's baseline loss (B rows);
  - the query batch is built with repeat_interleave (B * n rows) and the whole network runs on it;
  - forward hooks on the perturbed nn.Linear modules add sigma * eps to their outputs, with one
    eps per token (torch.randn), row k paired with row k + R/2 by -eps (the authors' pairing),
    and keep the layer input and eps;
  - per-row cross-entropy, coef = (L - L_clean) / R (the authors' equal-row weighting);
  - LR gradients with einsum: gW = einsum('rto,rti->oi', coef eps / sigma, x), gb, g_log_sigma;
  - torch.optim.Adam over W, b and log sigma of the perturbed layers.
Prints one machine-readable line per measurement (key=value, space separated):
  peer=torch-eager workload=W1 method=lr budget=32 batch=64 threads=2 reps=7 warmup=2
  step_ms_median=... step_ms_min=... step_ms_max=... gemm_gflop=... gflops=... torch=2.x
(gemm_gflop: the linear layers' forward GEMMs of the clean and query passes, the attention
products, and the einsum gradients, 2 FLOP per multiply-add.)
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WORKLOADS = {
    "W1": dict(kind="mlp", widths=[784, 512, 512, 10], batch=64, queries=32),
    "W2": dict(kind="vit", image=28, channels=1, patch=4, dim=192, depth=6, heads=3, mlp=768,
               classes=10, batch=32, queries=16),
}


class MLP(nn.Module):
    def __init__(s, widths):
        super().__init__()
        s.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(s, x):  # x (N, 784)
        for i, l in enumerate(s.layers):
            x = l(x)
            if i + 1 < len(s.layers):
                x = F.relu(x)
        return x


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
    def __init__(s, image, channels, patch, D, depth, heads, mlp, classes, eps=1e-12):
        super().__init__()
        s.patch = patch
        s.embed = nn.Linear(channels * patch * patch, D)  # = Conv2d(channels, D, patch, stride=patch)
        T = (image // patch) ** 2 + 1
        s.cls = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        s.pos = nn.Parameter(torch.randn(1, T, D) * 0.02)
        s.blocks = nn.ModuleList(Block(D, heads, mlp, eps) for _ in range(depth))
        s.ln = nn.LayerNorm(D, eps=eps)
        s.head = nn.Linear(D, classes)

    def forward(s, img):  # img (N, C, H, W)
        N, C = img.shape[:2]
        P = s.patch
        p = img.unfold(2, P, P).unfold(3, P, P)  # (N, C, H/P, W/P, P, P)
        p = p.permute(0, 2, 3, 1, 4, 5).reshape(N, -1, C * P * P)  # (N, patches, C*P*P)
        x = s.embed(p)
        x = torch.cat([s.cls.expand(N, -1, -1), x], 1) + s.pos
        for b in s.blocks:
            x = b(x)
        return s.head(s.ln(x[:, 0]))


class Noise:
    """Forward hook: out + sigma * eps on a perturbed linear layer while `on`; keeps x and eps."""

    def __init__(s, layer, sigma0):
        s.layer = layer
        s.log_sigma = nn.Parameter(torch.full((layer.out_features,), math.log(sigma0)))
        s.on = False
        s.x = s.eps = None
        layer.register_forward_hook(s.hook)

    def hook(s, mod, inp, out):
        if not s.on:
            return out
        R = out.shape[0]
        half = torch.randn((R // 2,) + tuple(out.shape[1:]), dtype=out.dtype)
        eps = torch.cat([half, -half], 0) if R % 2 == 0 else torch.randn_like(out)
        s.x, s.eps = inp[0], eps
        return out + torch.exp(s.log_sigma) * eps


def build(wl):
    w = WORKLOADS[wl]
    torch.manual_seed(0)
    if w["kind"] == "mlp":
        model = MLP(w["widths"])
        layers = list(model.layers)
        x = torch.randn(w["batch"], w["widths"][0])
        classes = w["widths"][-1]
    else:
        model = ViT(w["image"], w["channels"], w["patch"], w["dim"], w["depth"], w["heads"], w["mlp"], w["classes"])
        layers = [model.embed] + [getattr(b, n) for b in model.blocks for n in ("q", "k", "v", "o", "fc1", "fc2")] + [model.head]
        x = torch.randn(w["batch"], w["channels"], w["image"], w["image"])
        classes = w["classes"]
    model.requires_grad_(False)
    y = torch.arange(w["batch"]) % classes
    return w, model, layers, x, y


def gemm_gflop(w, B, n):
    """Linear-layer and attention GEMM GFLOP of one step: clean pass (B) + queries (B n) + einsum."""
    R = B * n
    if w["kind"] == "mlp":
        macs = sum(a * b for a, b in zip(w["widths"][:-1], w["widths"][1:]))
        return 2 * ((B + R) * macs + R * macs) * 1e-9
    D, M, d, P = w["dim"], w["mlp"], w["depth"], w["patch"]
    T = (w["image"] // P) ** 2 + 1
    emb = (T - 1) * w["channels"] * P * P * D
    lin = d * T * (4 * D * D + 2 * D * M)
    att = d * 2 * T * T * D
    head = D * w["classes"]
    fwd = emb + lin + att + head
    grad = emb + lin + head
    return 2 * ((B + R) * fwd + R * grad) * 1e-9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="W1")
    ap.add_argument("--budget", type=int, default=0, help="queries per datum (default: the workload's)")
    ap.add_argument("--reps", type=int, default=7, help="timed steps (median reported; at least 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    a = ap.parse_args()
    if a.reps < 5:
        print(f"torch_lr.py: --reps: at least 5 timed steps, found {a.reps}", file=sys.stderr)
        return 2
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    w, model, layers, x, y = build(a.workload)
    noises = [Noise(l, 1e-3) for l in layers]
    params = []
    for nz in noises:
        params += [nz.layer.weight, nz.layer.bias, nz.log_sigma]
    opt = torch.optim.Adam(params, lr=1e-4)
    B = w["batch"]
    n = a.budget if a.budget > 0 else w["queries"]
    R = B * n

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
                if xi.dim() == 2:  # MLP layers and the ViT head: one row per query
                    xi, eps = xi.unsqueeze(1), eps.unsqueeze(1)
                G = coef.view(-1, 1, 1) * eps / sigma
                nz.layer.weight.grad = torch.einsum("rto,rti->oi", G, xi)
                nz.layer.bias.grad = G.sum((0, 1))
                nz.log_sigma.grad = torch.einsum("r,rto->o", coef, eps * eps - 1)
                nz.x = nz.eps = None
        opt.step()

    times = []
    for s in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        step()
        t = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(t)
    med = statistics.median(times)
    gf = gemm_gflop(w, B, n)
    print(f"peer=torch-eager workload={a.workload} method=lr budget={n} batch={B} threads={torch.get_num_threads()} "
          f"reps={a.reps} warmup={a.warmup} step_ms_median={1e3 * med:.3f} step_ms_min={1e3 * min(times):.3f} "
          f"step_ms_max={1e3 * max(times):.3f} gemm_gflop={gf:.3f} gflops={gf / med:.1f} torch={torch.__version__}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
