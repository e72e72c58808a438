#!/usr/bin/env python3
"""make_vit_golden.py: golden fixtures for the C Vision Transformer, made with Hugging Face
transformers (the reference implementation) on small random models.

    python3 tests/golden/make_vit_golden.py --install   # make .venv/ (repo root), pip-install
                                                        # CPU torch, transformers, safetensors,
                                                        # numpy, then write the fixtures
    python3 tests/golden/make_vit_golden.py             # write the fixtures (re-runs itself
                                                        # under .venv/bin/python if needed)

CI does not run this: the fixtures it writes are committed (tests/fixtures/vit_golden/, well
under 2 MB) and the C tests read them.

Fixtures: tests/fixtures/vit_golden/NAME/ for three models (all hidden_act "gelu" = exact erf
GELU, qkv_bias true, dropout 0):

  NAME      image  patch  C  dim  depth  heads  mlp  classes  layer_norm_eps  N  names
  gray16    16     4      1  32   2      4      48   5        1e-12           4  vit.* + classifier.*
  rgb12     12     4      3  24   3      2      40   7        1e-6            3  vit.* + classifier.*
  bare8     8      4      3  16   2      2      64   (none)   1e-12           2  bare in21k names + pooler

  config.json        from save_pretrained (bare8: id2label/label2id removed, as in the in21k
                     checkpoints, whose config.json has neither num_labels nor id2label)
  model.safetensors  from save_pretrained(safe_serialization=True), all F32
  input.npy          (N, C, H, W) float32, standard normal pixels (already "preprocessed")
  hidden_states.safetensors  F32, for debugging a layer at a time:
                     "embeddings" (N, T, dim)   patch embedding + CLS + position embeddings
                     "layer.K"    (N, T, dim)   output of encoder block K (before final LN)
                     "layernorm"  (N, T, dim)   after the final LayerNorm
  gray16 and rgb12 only:
  labels.npy         (N,) float32 class indices (integers stored as float)
  logits.npy         (N, classes) float32
  loss.npy           (1,) float32: mean cross-entropy of logits against labels
  grads.safetensors  F32 d loss / d parameter for every parameter, under the same names and
                     shapes as in model.safetensors (so every tensor of model.safetensors has
                     exactly one gradient here). Note: the gradient of every
                     attention key bias is ZERO in exact arithmetic (adding q.b_k to every
                     score of a softmax row changes nothing); the file holds float64 round-off
                     there (~1e-9, against ~0.05..1 for the other tensors). Compare those
                     tensors with an absolute tolerance (e.g. max|g| <= 1e-6), not a relative one.
  bare8 only:
  features.npy       (N, dim) float32: the final-LayerNorm CLS token, i.e. what a classifier
                     head would read (the checkpoint has no head; pooler.* is not used by
                     ViTForImageClassification and must be ignored)

The reference values are computed in float64 from the float32 weights and inputs (every
float32 is exactly a float64), then rounded to float32: they carry the error of the C float32
code only, not of a second float32 implementation.
Parameters are not left at transformers' initialisation (LayerNorm weight 1, biases 0, tiny
weights give near-uniform attention and would hide bugs): every tensor is redrawn from a fixed
seed, weights N(0, 1/fan_in), biases N(0, 0.1^2), LayerNorm weight 1 + N(0, 0.2^2), CLS token and
position embeddings N(0, 0.5^2), so attention is far from uniform and every tensor is distinct.
T = (image / patch)^2 + 1 tokens; token 0 is CLS; patches in row-major order.

Expected tensor layout (D = hidden_size, M = intermediate_size, C = num_channels,
P = patch_size, T = (image_size / P)^2 + 1, K = num_labels, N = 0 .. num_hidden_layers-1).
PyTorch Linear weights are (out_features, in_features): y = x W^T + b.

  bare in21k names (google/vit-*-patch16-224-in21k, ViTModel):
    embeddings.cls_token                                   (1, 1, D)
    embeddings.position_embeddings                         (1, T, D)
    embeddings.patch_embeddings.projection.weight          (D, C, P, P)   Conv2d, stride P
    embeddings.patch_embeddings.projection.bias            (D,)
    encoder.layer.N.layernorm_before.weight                (D,)     pre-attention LayerNorm
    encoder.layer.N.layernorm_before.bias                  (D,)
    encoder.layer.N.attention.attention.query.weight       (D, D)
    encoder.layer.N.attention.attention.query.bias         (D,)     absent when qkv_bias false
    encoder.layer.N.attention.attention.key.weight         (D, D)
    encoder.layer.N.attention.attention.key.bias           (D,)     absent when qkv_bias false
    encoder.layer.N.attention.attention.value.weight       (D, D)
    encoder.layer.N.attention.attention.value.bias         (D,)     absent when qkv_bias false
    encoder.layer.N.attention.output.dense.weight          (D, D)   attention output projection
    encoder.layer.N.attention.output.dense.bias            (D,)
    encoder.layer.N.layernorm_after.weight                 (D,)     pre-MLP LayerNorm
    encoder.layer.N.layernorm_after.bias                   (D,)
    encoder.layer.N.intermediate.dense.weight              (M, D)   MLP fc1, then GELU (erf)
    encoder.layer.N.intermediate.dense.bias                (M,)
    encoder.layer.N.output.dense.weight                    (D, M)   MLP fc2
    encoder.layer.N.output.dense.bias                      (D,)
    layernorm.weight                                       (D,)     final LayerNorm
    layernorm.bias                                         (D,)
    pooler.dense.weight                                    (D, D)   in21k only; ignore
    pooler.dense.bias                                      (D,)     in21k only; ignore

  ViTForImageClassification names: every name above prefixed with "vit." (no pooler), plus
    classifier.weight                                      (K, D)   on the final-LN CLS token
    classifier.bias                                        (K,)

Patch embedding as a linear layer: the Conv2d weight (D, C, P, P) is a (D, C*P*P) matrix whose
input is the patch flattened in (C, P, P) order: x_patch[c*P*P + i*P + j] = pixel[c, pi*P + i,
pj*P + j] for the patch at patch-row pi, patch-column pj (patch index pi * (image/P) + pj + 1
among the tokens, after CLS at 0).
Block: h = x + Wo(attn(LN_before(x))); y = h + fc2(gelu(fc1(LN_after(h)))); attention
softmax(Q K^T / sqrt(D / heads)) V per head, heads = contiguous slices of D (head h uses
features [h*D/heads, (h+1)*D/heads)). LayerNorm uses the biased variance and eps inside sqrt.
Logits = classifier(layernorm(x)[:, 0]).
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
VENV = os.path.join(REPO, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

CONFIGS = {
    "gray16": dict(image_size=16, patch_size=4, num_channels=1, hidden_size=32, num_hidden_layers=2,
                   num_attention_heads=4, intermediate_size=48, num_labels=5, layer_norm_eps=1e-12, batch=4),
    "rgb12": dict(image_size=12, patch_size=4, num_channels=3, hidden_size=24, num_hidden_layers=3,
                  num_attention_heads=2, intermediate_size=40, num_labels=7, layer_norm_eps=1e-6, batch=3),
    "bare8": dict(image_size=8, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=64, num_labels=None, layer_norm_eps=1e-12, batch=2),
}


def install():
    if not os.path.exists(VENV_PY):
        print(f"creating {VENV}")
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    pip = [VENV_PY, "-m", "pip", "install", "--quiet"]
    subprocess.check_call(pip + ["--upgrade", "pip"])
    reachable = False
    try:
        import urllib.request
        urllib.request.urlopen(TORCH_CPU_INDEX + "/torch/", timeout=10)
        reachable = True
    except Exception as e:  # noqa: BLE001 (any failure means: use PyPI)
        print(f"{TORCH_CPU_INDEX} not reachable ({type(e).__name__}); installing torch from PyPI")
    if reachable:
        subprocess.check_call(pip + ["--index-url", TORCH_CPU_INDEX, "torch"])
    else:
        subprocess.check_call(pip + ["torch"])
    subprocess.check_call(pip + ["transformers", "safetensors", "numpy"])


def have_deps():
    try:
        import numpy  # noqa: F401
        import safetensors  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        return True
    except ImportError:
        return False


def randomise(model, gen):
    """Redraws every parameter (see the module comment) from the torch generator gen."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if "layernorm" in name and name.endswith("weight"):
                v = 1.0 + 0.2 * z
            elif name.endswith("bias"):
                v = 0.1 * z
            elif "cls_token" in name or "position_embeddings" in name:
                v = 0.5 * z
            else:  # Linear (out, in) or Conv2d (D, C, P, P) weight: fan_in = numel / out
                fan_in = p[0].numel()
                v = z / fan_in ** 0.5
            p.copy_(v.to(p.dtype))


def saved_names(model, st_path):
    """Maps each parameter name of the live model to its name in the saved checkpoint, by
    exact value (transformers may rename modules internally, e.g. v5 'layers.N.attention.q_proj'
    for the saved 'encoder.layer.N.attention.attention.query'). Values are random, so the match
    is unique; this is asserted."""
    import torch
    from safetensors.torch import load_file
    saved = load_file(st_path)
    mapping = {}
    for name, p in model.named_parameters():
        hits = [k for k, v in saved.items() if v.shape == p.shape and torch.equal(v, p.detach().float().cpu())]
        assert len(hits) == 1, f"parameter {name}: {len(hits)} saved tensors match ({hits})"
        mapping[name] = hits[0]
    assert sorted(mapping.values()) == sorted(saved.keys()), "saved tensors and parameters differ"
    return mapping


def make_one(name, spec, out_root):
    import numpy as np
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import ViTConfig, ViTForImageClassification, ViTModel

    spec = dict(spec)
    batch = spec.pop("batch")
    num_labels = spec.pop("num_labels")
    kwargs = dict(spec, hidden_act="gelu", qkv_bias=True, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    config = ViTConfig(**kwargs)
    config._attn_implementation = "eager"  # the textbook softmax(QK^T/sqrt(d))V path
    seed = sum(map(ord, name))
    torch.manual_seed(seed)
    if num_labels is None:
        model = ViTModel(config, add_pooling_layer=True)
    else:
        model = ViTForImageClassification(config)
    gen = torch.Generator().manual_seed(seed)
    randomise(model, gen)
    model.eval()

    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    model.save_pretrained(out, safe_serialization=True)
    cfg_path = os.path.join(out, "config.json")
    if num_labels is None:  # like the in21k checkpoints: no head, no label fields
        with open(cfg_path) as f:
            cfg = json.load(f)
        for k in ("id2label", "label2id", "num_labels"):
            cfg.pop(k, None)
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
    st_path = os.path.join(out, "model.safetensors")
    mapping = saved_names(model, st_path)

    C, S = spec["num_channels"], spec["image_size"]
    x32 = torch.randn((batch, C, S, S), generator=gen, dtype=torch.float32)
    np.save(os.path.join(out, "input.npy"), x32.numpy())

    model64 = model.double()
    x = x32.double()
    if num_labels is None:
        with torch.no_grad():
            res = model64(pixel_values=x, output_hidden_states=True)
        np.save(os.path.join(out, "features.npy"), res.last_hidden_state[:, 0].float().numpy())
        hidden = res.hidden_states
        final = res.last_hidden_state
    else:
        labels = torch.tensor([(3 * i + 1) % num_labels for i in range(batch)], dtype=torch.long)
        model64.zero_grad()
        res = model64(pixel_values=x, labels=labels, output_hidden_states=True)
        check = torch.nn.functional.cross_entropy(res.logits, labels)
        assert abs(check.item() - res.loss.item()) < 1e-12, "transformers loss is not mean cross-entropy"
        res.loss.backward()
        np.save(os.path.join(out, "labels.npy"), labels.float().numpy())
        np.save(os.path.join(out, "logits.npy"), res.logits.detach().float().numpy())
        np.save(os.path.join(out, "loss.npy"), np.array([res.loss.item()], dtype=np.float32))
        grads = {mapping[n]: p.grad.detach().float().contiguous() for n, p in model64.named_parameters()}
        # One metadata key: safetensors writes several in hash order, so reruns would differ.
        meta = {"reference": "d(mean cross-entropy against labels.npy)/d(parameter), float64 forward and "
                             f"backward of the float32 weights and inputs, torch {torch.__version__}, "
                             f"transformers {transformers.__version__}"}
        save_file(grads, os.path.join(out, "grads.safetensors"), metadata=meta)
        hidden = res.hidden_states
        with torch.no_grad():
            final = model64.vit(pixel_values=x).last_hidden_state
    states = {"embeddings": hidden[0]}
    for k in range(1, len(hidden)):
        states[f"layer.{k - 1}"] = hidden[k]
    states["layernorm"] = final
    states = {k: v.detach().float().contiguous() for k, v in states.items()}
    save_file(states, os.path.join(out, "hidden_states.safetensors"),
              metadata={"reference": "float64 forward of the float32 weights and inputs"})

    # The saved directory must reproduce the same numbers when loaded back by transformers.
    cls = ViTModel if num_labels is None else ViTForImageClassification
    back = cls.from_pretrained(out, attn_implementation="eager").double().eval()
    with torch.no_grad():
        r2 = back(pixel_values=x)
    ref = res.last_hidden_state if num_labels is None else res.logits
    got = r2.last_hidden_state if num_labels is None else r2.logits
    assert torch.allclose(ref.detach(), got, rtol=0, atol=1e-12), f"{name}: reloaded model differs"
    files = sorted(os.listdir(out))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    print(f"{name}: {len(mapping)} tensors, {size} bytes: {' '.join(files)}")
    return size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--install", action="store_true", help="create .venv/ and pip-install the dependencies")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "vit_golden"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(VENV)
    if args.install and not in_venv:
        install()
    if not have_deps():
        if not in_venv and os.path.exists(VENV_PY):
            os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + [a for a in sys.argv[1:] if a != "--install"])
        sys.exit("make_vit_golden.py: torch, transformers, safetensors and numpy are needed; run with --install")
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    total = sum(make_one(name, spec, args.out) for name, spec in CONFIGS.items())
    print(f"total {total} bytes in {args.out}")
    assert total < 2 * 1024 * 1024, "fixtures must stay under 2 MB"


if __name__ == "__main__":
    main()
