"""torch_peer.py: what the PyTorch-eager peers of flbench share (torch_lr.py on the CPU,
torch_lr_gpu.py on a GPU): the models, the LR training step written the way the paper's authors
write it, its GEMM FLOP count, the timing loop and the options every peer takes. Imported by
them; not a program of its own.

Models (a spec dict each, as the peers' workload tables write them):
  kind=mlp  widths [784, 512, ...]: nn.Linear layers, ReLU between them
  kind=vit  image, channels, patch, dim, depth, heads, mlp, classes, embed: pre-LN blocks,
            exact-erf GELU, LayerNorm eps 1e-12, a class token; embed=conv: the patch embedding
            as the checkpoints' Conv2d; embed=linear: as the nn.Linear over flattened patches
            that it is (then it can be perturbed)
Scopes (the perturbed layers): all (every nn.Linear: the MLP's layers; the ViT's patch
embedding when it is one, Q, K, V, output, MLP in and out of every block, and the head), or
attn:last:K (Q, K, V and output projections of the last K blocks plus the head).
The step, as in the authors' code:
  - a clean forward of the batch gives each datum's baseline loss (B rows);
  - the query batch is built with repeat_interleave (B * n rows) and the whole network runs on
    it (no clean prefix: layers before the first perturbed one run once per query);
  - forward hooks on the perturbed nn.Linear modules add sigma * eps to their outputs, with one
    eps per token (torch.randn), row k paired with row k + R/2 by -eps (the authors' pairing),
    and keep the layer input and eps;
  - per-row cross-entropy, coef = (L - L_clean) / R (the authors' equal-row weighting);
  - LR gradients with einsum: gW = einsum('rto,rti->oi', coef eps / sigma, x), gb, g_log_sigma;
  - torch.optim.Adam over W, b and log sigma of the perturbed layers.
GEMM FLOP of a step: the forward GEMMs of the clean and query passes (linear layers, patch
embedding, attention products) and the einsum gradients, 2 FLOP per multiply-add.
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(s, widths):
        super().__init__()
        s.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(s, x):  # x (N, widths[0])
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
    def __init__(s, image, channels, patch, D, depth, heads, mlp, classes, embed, eps=1e-12):
        super().__init__()
        s.patch = patch
        if embed == "conv":
            s.embed = nn.Conv2d(channels, D, patch, stride=patch)
        else:  # the same map, written as the linear layer it is
            s.embed = nn.Linear(channels * patch * patch, D)
        T = (image // patch) ** 2 + 1
        s.cls = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        s.pos = nn.Parameter(torch.randn(1, T, D) * 0.02)
        s.blocks = nn.ModuleList(Block(D, heads, mlp, eps) for _ in range(depth))
        s.ln = nn.LayerNorm(D, eps=eps)
        s.head = nn.Linear(D, classes)

    def forward(s, img):  # img (N, C, H, W)
        N, C = img.shape[:2]
        if isinstance(s.embed, nn.Conv2d):
            x = s.embed(img).flatten(2).transpose(1, 2)
        else:
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


def tokens(w):
    """Tokens of a ViT spec: the patches and the class token."""
    return (w["image"] // w["patch"]) ** 2 + 1


def build(w, scope, batch, dev):
    """The model of spec w on dev (seed 0, frozen), its perturbed layers under scope as
    (nn.Linear, tokens per datum) pairs, a random batch x and its labels y."""
    torch.manual_seed(0)
    if w["kind"] == "mlp":
        if scope != "all":
            raise ValueError(f"scope {scope}: an MLP has scope all only")
        model = MLP(w["widths"]).to(dev)
        perturbed = [(l, 1) for l in model.layers]
        x = torch.randn(batch, w["widths"][0], device=dev)
        classes = w["widths"][-1]
    else:
        model = ViT(w["image"], w["channels"], w["patch"], w["dim"], w["depth"], w["heads"], w["mlp"], w["classes"],
                    w["embed"]).to(dev)
        T = tokens(w)
        if scope == "all":
            blocks, names = model.blocks, ("q", "k", "v", "o", "fc1", "fc2")
            first = [(model.embed, T - 1)] if isinstance(model.embed, nn.Linear) else []
        elif scope.startswith("attn:last:") and scope[10:].isdigit():
            blocks, names = model.blocks[w["depth"] - min(int(scope[10:]), w["depth"]):], ("q", "k", "v", "o")
            first = []
        else:
            raise ValueError(f"scope {scope}: expected all or attn:last:K")
        perturbed = first + [(getattr(b, n), T) for b in blocks for n in names] + [(model.head, 1)]
        x = torch.randn(batch, w["channels"], w["image"], w["image"], device=dev)
        classes = w["classes"]
    model.requires_grad_(False)
    y = torch.arange(batch, device=dev) % classes
    return model, perturbed, x, y


def gemm_flop(w, perturbed, B, n):
    """GEMM FLOP of one LR step (an integer): forward GEMMs of the clean pass (B) and the queries
    (R = B n), and the einsum gradients of the perturbed layers over the R query rows."""
    R = B * n
    if w["kind"] == "mlp":
        fwd = sum(a * b for a, b in zip(w["widths"][:-1], w["widths"][1:]))
    else:
        D, M, d, P, T = w["dim"], w["mlp"], w["depth"], w["patch"], tokens(w)
        fwd = (T - 1) * w["channels"] * P * P * D + d * T * (4 * D * D + 2 * D * M) + d * 2 * T * T * D + D * w["classes"]
    grad = sum(t * l.in_features * l.out_features for l, t in perturbed)
    return 2 * ((B + R) * fwd + R * grad)


def lr_step(model, perturbed, x, y, n, sigma0=1e-3, lr=1e-4):
    """Hooks Noise on the perturbed layers; returns one LR training step (n queries per datum)."""
    noises = [Noise(l, sigma0) for l, _ in perturbed]
    params = []
    for nz in noises:
        params += [nz.layer.weight, nz.layer.bias, nz.log_sigma]
    opt = torch.optim.Adam(params, lr=lr)
    R = x.shape[0] * n

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

    return step


def time_steps(step, warmup, reps, dev):
    """Seconds of each of reps steps after warmup untimed ones (a CUDA device synchronized around each)."""
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    for s in range(warmup + reps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        if s >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def add_options(ap, device):
    """The options every peer takes: --device (default device), --math, --threads."""
    ap.add_argument("--device", default=device, help=f"torch device (default {device})")
    ap.add_argument("--math", choices=["fp32", "tf32"], default="fp32", help="matmul precision on CUDA (default fp32)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")


def setup(a):
    """Applies --threads and --math; returns the torch.device of --device, or None after printing
    a SKIP line when it is CUDA and PyTorch sees none."""
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("SKIP torch: no CUDA device visible to PyTorch")
        return None
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = a.math == "tf32"
    torch.backends.cudnn.allow_tf32 = a.math == "tf32"
    return dev
