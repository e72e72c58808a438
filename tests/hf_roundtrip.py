"""hf_roundtrip.py: the transformers side of tests/cli/test_hf_roundtrip.sh.

usage: hf_roundtrip.py EXPORT_DIR CHECKPOINT INPUT.npy FLBENCH_LOGITS.npy

Loads EXPORT_DIR (written by `flbench model export`) with ViTForImageClassification and checks
that nothing is missing, unexpected or mismatched; compares its logits on INPUT with
flbench's (max |a - b| / max |b| <= 1e-4: float32 rounding over a few layers is ~1e-6, and
the golden fixtures of tests/cli/test_model_cli.sh agree to ~3e-7); checks that
flbench_extra.safetensors holds the checkpoint's noise scales bit for bit. Negative controls,
by the same load check: the patch embedding left flattened (D, C*P*P) and the noise scales
put into model.safetensors must both be rejected. Prints one PASS or FAIL line per check.
"""
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from transformers import ViTForImageClassification
from transformers.utils import logging as hf_logging


def load_problems(path):
    """What is wrong with loading path: a list of strings, empty when it loads cleanly."""
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, info = ViTForImageClassification.from_pretrained(path, output_loading_info=True)
    except Exception as e:  # a shape mismatch raises
        return [f"load raised {type(e).__name__}: {str(e)[:200]}"], None
    problems = [f"{k}: {info[k]}" for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
                if info.get(k)]
    return problems, model


def report(name, ok, why=""):
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}")
    return ok


def main():
    out_dir, ckpt, inp, ref = sys.argv[1:5]
    problems, model = load_problems(out_dir)
    report("hf_load_clean", not problems, "; ".join(problems))
    if model is not None:
        model.eval()
        x = torch.from_numpy(np.load(inp))
        with torch.no_grad():
            got = model(pixel_values=x).logits.numpy()
        want = np.load(ref)
        if got.shape != want.shape:
            report("hf_logits_match", False, f"shape {got.shape} vs flbench {want.shape}")
        else:
            rel = float(np.abs(got - want).max() / np.abs(want).max())
            report("hf_logits_match", rel <= 1e-4, f"max relative error {rel:.3g} > 1e-4")
            print(f"  logits max relative error {rel:.3g}")
    ck = load_file(ckpt)
    extra = load_file(os.path.join(out_dir, "flbench_extra.safetensors"))
    sig = {k: v for k, v in ck.items() if k.endswith(".log_sigma")}
    same = sig.keys() == extra.keys() and all(np.array_equal(sig[k], extra[k]) for k in sig)
    report("hf_extra_sigma", bool(sig) and same, f"{len(sig)} log_sigma in the checkpoint, {len(extra)} in the extra file")

    # negative controls: the same check must reject a wrong export
    tmp = tempfile.mkdtemp()
    try:
        for name, change in (("flattened_patch", "flat"), ("sigma_in_model", "sigma")):
            bad = os.path.join(tmp, name)
            shutil.copytree(out_dir, bad)
            w = load_file(os.path.join(bad, "model.safetensors"))
            if change == "flat":
                k = "vit.embeddings.patch_embeddings.projection.weight"
                w[k] = np.ascontiguousarray(w[k].reshape(w[k].shape[0], -1))
            else:
                w.update({"vit." + k: v for k, v in extra.items()})
            save_file(w, os.path.join(bad, "model.safetensors"), metadata={"format": "pt"})
            problems, _ = load_problems(bad)
            report(f"hf_negative_{name}", bool(problems), "the load check accepted a broken export")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
