#!/usr/bin/env python3
"""A CLIP black box for `flbench prompt --blackbox` (docs/BLACKBOX.md): visual and text prompts.

    build/flbench prompt --blackbox "python3 bench/blackbox/blackbox_clip.py --classes a,b,c" ...

Needs PyTorch and Hugging Face transformers (CLIPModel, default openai/clip-vit-base-patch16), and
the weights, fetched by transformers or already in its cache. The project's CI machines have no
PyTorch, so this script is not run by the test suite; its protocol part (read_frame, write_frame
and the three operations) is that of blackbox_numpy.py, which needs numpy alone.

The prompt. SETUP gives P, the visual prompt length (flbench's --prompt-len, 10). The box answers
D = W_v + ceil(P_t W_t / P), W_v and W_t the widths of CLIP's vision and text embeddings and
P_t = --text-prompt-len (12). Each of the P rows of a prompt is
[visual prompt token (W_v) | a slice of the text prompt]: the rows' last D - W_v columns, read in
C order, give P_t x W_t values, the text prompt (P_t, W_t), times --text-scale (0.02, the
initialisation scale of CLIP's token embeddings; flbench's prompt entries are of size
--projection-scale, 1). The few values left over are unused. ViT-B/16: W_v 768, W_t 512,
D = 768 + 615 = 1383.
- Visual prompt: P tokens inserted after CLS in the output of the vision embeddings (after the
  position embeddings, so the prompt gets none), before CLIP's pre-LayerNorm, as flbench's own
  ViT inserts them (impl/models/vit_prompt.h).
- Text prompt: P_t context vectors put in place of P_t placeholder tokens right after the start
  token of "X X ... X <template with the class name>" (CoOp), each plus its position embedding
  (at z = 0 the vectors are 0). With --text-prompt-len 0 the text is the fixed template alone.
- Loss of a row: cross-entropy of CLIP's image-text logits (logit scale included) of the row's
  image under the row's visual prompt against the class texts under the row's text prompt;
  argmax is the predicted class. FLOPs per query are reported as 0 (unknown).

Images arrive normalised as flbench trains on them (--in-mean, --in-std: 0.5 and 0.5 for image
datasets, 0.2860 and 0.3530 for fashion-mnist); the box undoes that, repeats a single channel to
three, resizes to the model's image size and applies CLIP's own normalisation. Class names
(--classes) are in the dataset's label order: "a,b,c" or a file with one name a line; "_" reads as
a space. Frames go to the real standard output; anything printed meanwhile goes to standard error.
"""
import argparse, io, math, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def read_exact(f, n):
    b = f.read(n)
    if b is None or len(b) != n:
        raise EOFError("the stream ended inside a frame")
    return b


def read_frame(f):
    (n,) = struct.unpack("<I", read_exact(f, 4))
    return np.load(io.BytesIO(read_exact(f, n)), allow_pickle=False)


def write_frame(f, a):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    body = buf.getvalue()
    f.write(struct.pack("<I", len(body)))
    f.write(body)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="openai/clip-vit-base-patch16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--classes", required=True, help="a,b,c or a file with one class name a line")
    ap.add_argument("--text-prompt-len", type=int, default=12)
    ap.add_argument("--text-scale", type=float, default=0.02, help="scale of the text prompt")
    ap.add_argument("--template", default="a photo of a {}.")
    ap.add_argument("--in-mean", default="0.5", help="flbench's normalisation: c or c1,c2,c3")
    ap.add_argument("--in-std", default="0.5")
    ap.add_argument("--chunk", type=int, default=256, help="sequences per forward")
    return ap.parse_args()


def class_names(spec):
    names = open(spec).read().splitlines() if os.path.isfile(spec) else spec.split(",")
    return [s.strip().replace("_", " ") for s in names if s.strip()]


class ClipBox:
    def __init__(self, a):
        from transformers import CLIPModel, CLIPTokenizer
        self.a, self.dev = a, torch.device(a.device)
        self.model = CLIPModel.from_pretrained(a.model).to(self.dev).eval()
        self.tok = CLIPTokenizer.from_pretrained(a.model)
        self.names = class_names(a.classes)
        cfg = self.model.config
        self.Wv, self.Wt = cfg.vision_config.hidden_size, cfg.text_config.hidden_size
        self.size, self.Pt = cfg.vision_config.image_size, a.text_prompt_len
        self.vis = None  # (rows, P, Wv) visual prompts of the forward under way
        self.ctx = None  # (sequences, Pt, Wt) text contexts of the forward under way
        self.model.vision_model.embeddings.register_forward_hook(self._vision_hook)
        self.model.text_model.embeddings.register_forward_hook(self._text_hook)
        texts = [" ".join(["X"] * self.Pt + [a.template.format(n)]) for n in self.names]
        t = self.tok(texts, padding=True, return_tensors="pt")
        self.ids, self.mask = t["input_ids"].to(self.dev), t["attention_mask"].to(self.dev)
        pos = self.model.text_model.embeddings.position_embedding.weight
        self.ctx_pos = pos[1:1 + self.Pt]  # positions of the placeholders
        self.fixed_text = None if self.Pt else self._text_features(None)

    def _vision_hook(self, module, inputs, out):
        if self.vis is None:
            return out
        return torch.cat([out[:, :1], self.vis.to(out.dtype), out[:, 1:]], dim=1)

    def _text_hook(self, module, inputs, out):
        if self.ctx is None:
            return out
        out = out.clone()
        out[:, 1:1 + self.Pt] = self.ctx.to(out.dtype) + self.ctx_pos
        return out

    def setup(self, hdr, x, y):
        self.P, n_classes = int(hdr[2]), int(hdr[4])
        if n_classes != len(self.names):
            sys.exit(f"blackbox_clip: {len(self.names)} class names for {n_classes} classes")
        m = torch.tensor([float(v) for v in self.a.in_mean.split(",")]).view(1, -1, 1, 1)
        s = torch.tensor([float(v) for v in self.a.in_std.split(",")]).view(1, -1, 1, 1)
        self.x, self.in_mean, self.in_std = torch.from_numpy(x), m, s
        self.y = torch.from_numpy(y.astype(np.int64)).to(self.dev)
        self.text_cols = math.ceil(self.Pt * self.Wt / self.P) if self.Pt else 0
        return self.Wv + self.text_cols

    def _pixels(self, idx):
        x = self.x[idx] * self.in_std + self.in_mean  # back to [0, 1]
        x = x.to(self.dev)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, device=self.dev).view(1, 3, 1, 1)
        return (x.clamp(0, 1) - mean) / torch.tensor(CLIP_STD, device=self.dev).view(1, 3, 1, 1)

    @torch.inference_mode()
    def _text_features(self, ctx):  # ctx (k, Pt, Wt) or None -> (k or 1, n_classes, E)
        m, C = self.model, len(self.names)
        k = 1 if ctx is None else ctx.shape[0]
        self.ctx = None if ctx is None else ctx.repeat_interleave(C, dim=0)
        out = m.text_model(input_ids=self.ids.repeat(k, 1), attention_mask=self.mask.repeat(k, 1))
        self.ctx = None
        f = m.text_projection(out.pooler_output)
        return F.normalize(f, dim=-1).view(k, C, -1)

    @torch.inference_mode()
    def query(self, row_datum, row_prompt, prompts):
        m, C = self.model, len(self.names)
        pr = torch.from_numpy(prompts).to(self.dev)  # (n_prompts, P, D)
        vis = pr[:, :, :self.Wv]
        used = np.unique(row_prompt).astype(np.int64)  # text only for the prompts rows name
        text = torch.empty(len(prompts), C, m.config.projection_dim, device=self.dev)
        if self.Pt:
            ctx = pr[:, :, self.Wv:].reshape(len(prompts), -1)[:, :self.Pt * self.Wt]
            ctx = self.a.text_scale * ctx.reshape(len(prompts), self.Pt, self.Wt)
            k = max(1, self.a.chunk // C)
            for i in range(0, len(used), k):
                j = torch.from_numpy(used[i:i + k]).to(self.dev)
                text[j] = self._text_features(ctx[j])
        else:
            text[:] = self.fixed_text
        loss, argmax = [], []
        for i in range(0, len(row_datum), self.a.chunk):
            d = torch.from_numpy(row_datum[i:i + self.a.chunk].astype(np.int64))
            p = torch.from_numpy(row_prompt[i:i + self.a.chunk].astype(np.int64)).to(self.dev)
            self.vis = vis[p]
            out = m.vision_model(pixel_values=self._pixels(d))
            self.vis = None
            img = F.normalize(m.visual_projection(out.pooler_output), dim=-1)
            logits = m.logit_scale.exp() * torch.einsum("re,rce->rc", img, text[p])
            yd = self.y[d.to(self.dev)]
            loss.append(F.cross_entropy(logits.float(), yd, reduction="none"))
            argmax.append(logits.argmax(dim=-1))
        return (torch.cat(loss).cpu().numpy().astype(np.float32),
                torch.cat(argmax).cpu().numpy().astype(np.int32))


def main():
    a = parse_args()
    fin, fout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # frames only on the real standard output
    box = ClipBox(a)
    while True:
        try:
            hdr = read_frame(fin)
        except EOFError:
            return 0
        op = int(hdr[0])
        if op == 0:  # QUIT
            return 0
        if op == 1:  # SETUP
            x, y = read_frame(fin), read_frame(fin)
            D = box.setup(hdr, x, y)
            write_frame(fout, np.array([1, 1, D, 0], dtype=np.int64))
        elif op == 2:  # QUERY
            row_datum, row_prompt, prompts = read_frame(fin), read_frame(fin), read_frame(fin)
            t0 = time.perf_counter_ns()
            loss, argmax = box.query(row_datum, row_prompt, prompts)
            dt = time.perf_counter_ns() - t0
            write_frame(fout, np.array([2, len(loss), dt], dtype=np.int64))
            write_frame(fout, loss)
            write_frame(fout, argmax)
        else:
            print(f"blackbox_clip: unknown operation {op}", file=sys.stderr)
            return 1
        fout.flush()


if __name__ == "__main__":
    sys.exit(main())
