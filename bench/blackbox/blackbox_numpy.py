#!/usr/bin/env python3
"""blackbox_numpy.py: a black box for `flbench prompt --blackbox` written with numpy alone.

Speaks the protocol of docs/BLACKBOX.md on stdin/stdout (length-prefixed .npy frames) and needs
no options: everything comes from SETUP. The model is a small frozen ViT with fixed random
weights (seed MODEL_SEED), so that prompts can steer it:

  image (C, H, W) -> N patches of p x p (p: the smallest divisor of H and W giving N <= 16)
  tokens = [CLS, prompt_1..P, patch_1..N + pos_1..N]   (T = 1 + P + N tokens of width D = 32)
  block 1: pre-LayerNorm multi-head self-attention (4 heads) and MLP (4D, GELU), all tokens
  block 2: the same, computed for the CLS token only (the only one read afterwards)
  logits = LayerNorm(CLS) @ W_cls  (D, n_classes);  loss = cross-entropy, argmax = class

The classifier is random, not fitted (SETUP holds evaluation data too): a prompt lowers the
loss by moving the CLS token through attention, in block 1 directly and in block 2 through the
patch tokens that attended to it. Prompt tokens follow CLS and have no position embedding.
Rows are computed in chunks of CHUNK rows to bound memory. Exits 0 on QUIT or end of input.
"""
import io
import struct
import sys
import time

import numpy as np

MODEL_SEED = 1234
WIDTH, HEADS, MLP_RATIO, MAX_PATCHES = 32, 4, 4, 16
LOGIT_SCALE = 1.5
CHUNK = 512
VERSION = 1


def read_exactly(f, n):
    chunks, got = [], 0
    while got < n:
        b = f.read(n - got)
        if not b:
            return None if got == 0 else b"".join(chunks)
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_frame(f, first=False):
    """One frame's array; None at the end of input before a message's first frame."""
    prefix = read_exactly(f, 4)
    if prefix is None and first:
        return None
    if prefix is None or len(prefix) < 4:
        sys.exit("blackbox_numpy.py: input ends inside a message")
    (n,) = struct.unpack("<I", prefix)
    body = read_exactly(f, n)
    if body is None or len(body) < n:
        sys.exit("blackbox_numpy.py: input ends inside a frame of %d bytes" % n)
    return np.load(io.BytesIO(body), allow_pickle=False)


def write_frames(f, *arrays):
    out = bytearray()
    for a in arrays:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(a))
        body = buf.getvalue()
        out += struct.pack("<I", len(body)) + body
    f.write(out)
    f.flush()


def layer_norm(x, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def gelu(x):
    """tanh approximation; x * x * x, not x ** 3 (numpy's float32 pow is slow)"""
    t = np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * (x * x * x)))
    return np.float32(0.5) * x * (np.float32(1.0) + t)


def softmax(s, axis=-1):
    s = s - s.max(axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis, keepdims=True)


class Model:
    def __init__(self, x, y, n_classes, P):
        n, C, H, W = x.shape
        divisors = [p for p in range(1, min(H, W) + 1) if H % p == 0 and W % p == 0]
        self.p = next(p for p in divisors if (H // p) * (W // p) <= MAX_PATCHES)
        self.N = (H // self.p) * (W // self.p)
        self.P, self.n_classes, self.y = P, n_classes, y.astype(np.int64)
        D, rng = WIDTH, np.random.default_rng(MODEL_SEED)
        patch_dim = C * self.p * self.p

        def normal(*shape, scale=1.0):
            return (rng.standard_normal(shape) * scale).astype(np.float32)

        W_patch = normal(patch_dim, D, scale=patch_dim ** -0.5)
        self.pos = normal(self.N, D, scale=0.5)
        self.cls = normal(1, D)
        self.blocks = [dict(qkv=normal(D, 3 * D, scale=D ** -0.5), out=normal(D, D, scale=D ** -0.5),
                            fc1=normal(D, MLP_RATIO * D, scale=D ** -0.5),
                            fc2=normal(MLP_RATIO * D, D, scale=(MLP_RATIO * D) ** -0.5)) for _ in range(2)]
        self.W_cls = normal(D, n_classes, scale=LOGIT_SCALE * D ** -0.5)
        # patch embeddings of every datum, once: (n, N, D)
        self.patches = np.empty((n, self.N, D), np.float32)
        for s in range(0, n, 4096):
            xs = x[s:s + 4096].reshape(-1, C, H // self.p, self.p, W // self.p, self.p)
            xs = xs.transpose(0, 2, 4, 1, 3, 5).reshape(-1, self.N, patch_dim)
            self.patches[s:s + 4096] = xs @ W_patch + self.pos
        T, F = 1 + P + self.N, MLP_RATIO * D
        block1 = T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * F
        block2 = T * D * 2 * D + D * D + 2 * T * D + D * D + 2 * D * F
        self.flops_per_query = 2 * (patch_dim * D * self.N + block1 + block2 + D * n_classes)

    def attention(self, blk, z, queries):
        """Multi-head attention of z (B, T, D); queries: the rows of T that ask (slice)."""
        B, T, D = z.shape
        dh = D // HEADS
        qkv = z @ blk["qkv"]
        q = qkv[:, queries, :D].reshape(B, -1, HEADS, dh).transpose(0, 2, 1, 3)
        k = qkv[:, :, D:2 * D].reshape(B, T, HEADS, dh).transpose(0, 2, 3, 1)
        v = qkv[:, :, 2 * D:].reshape(B, T, HEADS, dh).transpose(0, 2, 1, 3)
        a = softmax((q @ k) * np.float32(dh ** -0.5))
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, -1, D)
        return o @ blk["out"]

    def mlp(self, blk, h):
        return gelu(layer_norm(h) @ blk["fc1"]) @ blk["fc2"]

    def forward(self, datum, prompts):
        """Logits (B, n_classes) of data datum (B) under prompts (B, P, D)."""
        B = datum.shape[0]
        h = np.concatenate([np.broadcast_to(self.cls, (B, 1, WIDTH)), prompts, self.patches[datum]], axis=1)
        b1, b2 = self.blocks
        h = h + self.attention(b1, layer_norm(h), slice(None))
        h = h + self.mlp(b1, h)
        c = h[:, :1] + self.attention(b2, layer_norm(h), slice(0, 1))
        c = (c + self.mlp(b2, c))[:, 0]
        return layer_norm(c) @ self.W_cls

    def query(self, row_datum, row_prompt, prompts):
        R = row_datum.shape[0]
        loss, argmax = np.empty(R, np.float32), np.empty(R, np.int32)
        for s in range(0, R, CHUNK):
            d = row_datum[s:s + CHUNK].astype(np.int64)
            logits = self.forward(d, prompts[row_prompt[s:s + CHUNK]]).astype(np.float64)
            m = logits.max(1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(logits - m).sum(1))
            loss[s:s + CHUNK] = lse - logits[np.arange(len(d)), self.y[d]]
            argmax[s:s + CHUNK] = logits.argmax(1)
        return loss, argmax


def main():
    fin, fout = sys.stdin.buffer, sys.stdout.buffer
    model = None
    while True:
        header = read_frame(fin, first=True)
        if header is None or int(header[0]) == 0:
            return 0
        op = int(header[0])
        if op == 1:
            _, version, P, n, n_classes = (int(v) for v in header[:5])
            if version != VERSION:
                sys.exit("blackbox_numpy.py: protocol version %d, expected %d" % (version, VERSION))
            x, y = read_frame(fin), read_frame(fin)
            if x.shape[0] != n or y.shape != (n,):
                sys.exit("blackbox_numpy.py: SETUP x %s, y %s, expected %d data" % (x.shape, y.shape, n))
            model = Model(x.astype(np.float32), y, n_classes, P)
            write_frames(fout, np.array([1, VERSION, WIDTH, model.flops_per_query], np.int64))
        elif op == 2:
            R = int(header[1])
            row_datum, row_prompt, prompts = read_frame(fin), read_frame(fin), read_frame(fin)
            if model is None:
                sys.exit("blackbox_numpy.py: QUERY before SETUP")
            t0 = time.perf_counter_ns()
            loss, argmax = model.query(row_datum, row_prompt, prompts.astype(np.float32))
            ns = time.perf_counter_ns() - t0
            write_frames(fout, np.array([2, R, ns], np.int64), loss, argmax)
        else:
            sys.exit("blackbox_numpy.py: operation %d, expected 0, 1 or 2" % op)


if __name__ == "__main__":
    sys.exit(main())
