"""tutorial/figures/06_attention_pattern.py: the figure of chapter 6, what the attention heads
of layer 0 look at, in a small GPT trained for a few minutes on tinyshakespeare.

1. trains a 2-layer, 4-head, 64-channel model on data/tinyshakespeare_bpe1k with
   ./train_gpt_cpu --out (skipped with --checkpoint DIR: use that step_NNNNNN folder instead);
2. reads model.safetensors with numpy alone (8-byte header length, JSON header, raw float32);
3. runs layer 0's LayerNorm, qkv projection and causal softmax for one sentence, exactly the
   math of layernorm_forward, matmul_forward and attention_forward in train_gpt_cpu.cpp;
4. plots the four heads' (T, T) attention weights.

    /usr/bin/python3 tutorial/figures/06_attention_pattern.py [--checkpoint DIR]

Needs ./train_gpt_cpu and ./tokenize (make) and `make data`. Writes
tutorial/06-attention/attention_pattern.png.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

DATA = "data/tinyshakespeare_bpe1k"
OUT = "tutorial/06-attention/attention_pattern.png"
SENTENCE = "ROMEO:\nBut soft, what light through yonder window breaks?"
TRAIN = ["./train_gpt_cpu", "--train", DATA + "/train_*.bin", "--val", DATA + "/val_*.bin", "--vocab-size", "1024",
         "--n-layer", "2", "--n-head", "4", "--n-embd", "64", "--seq-len", "64", "--batch", "16",
         "--steps", "300", "--lr", "3e-3", "--warmup", "20", "--eval-every", "100", "--sample-tokens", "0"]


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']} (this script reads F32 checkpoints)"
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(blob[8 + hlen + begin:8 + hlen + end], dtype="<f4").reshape(info["shape"])
    return tensors


def layer0_attention(w, ids, n_head):
    """(NH, T, T) attention weights of layer 0 for the token ids."""
    T = len(ids)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:T]               # (T, C)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)                       # biased variance
    ln = (x - mean) / np.sqrt(var + 1e-5) * w["transformer.h.0.ln_1.weight"] + w["transformer.h.0.ln_1.bias"]
    qkv = ln @ w["transformer.h.0.attn.c_attn.weight"] + w["transformer.h.0.attn.c_attn.bias"]   # (T, 3C), [in, out]
    C = x.shape[1]
    hs = C // n_head
    q, k = qkv[:, :C], qkv[:, C:2 * C]
    att = np.zeros((n_head, T, T))
    for h in range(n_head):
        s = q[:, h * hs:(h + 1) * hs] @ k[:, h * hs:(h + 1) * hs].T / np.sqrt(hs)      # (T, T)
        s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)                  # causal mask
        s = np.exp(s - s.max(-1, keepdims=True))
        att[h] = s / s.sum(-1, keepdims=True)
    return att


def token_labels(ids):
    with open(DATA + "/encoder.json", encoding="utf-8") as f:
        id_to_str = {v: k for k, v in json.load(f).items()}
    # GPT-2's byte alphabet shows a space as "Ġ" and a newline as "Ċ"
    return [id_to_str[i].replace("\u0120", "\u00b7").replace("\u010a", "\\n") for i in ids]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", help="a step_NNNNNN folder of such a run (skips training)")
    args = ap.parse_args()
    for need in ["./train_gpt_cpu", "./tokenize", DATA + "/train_000000.bin"]:
        if not os.path.exists(need):
            sys.exit(f"error: {need} is missing: run `make` and `make data` first")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint
        if not ckpt:
            print("training:", " ".join(TRAIN), "--out", tmp, flush=True)
            run = subprocess.run(TRAIN + ["--out", tmp], check=True, capture_output=True, text=True).stdout
            print("\n".join(l for l in run.splitlines() if l.startswith("val loss")))
            ckpt = os.path.join(tmp, "step_000300")
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        with open(os.path.join(ckpt, "config.json")) as f:
            n_head = json.load(f)["n_head"]
    ids = [int(t) for t in subprocess.run(["./tokenize", "encode", "--vocab", DATA, "-"], input=SENTENCE,
                                          check=True, capture_output=True, text=True).stdout.split()]
    att = layer0_attention(w, ids, n_head)
    labels = token_labels(ids)
    T = len(ids)
    print(f"{T} tokens; mean attention to the token itself per head:",
          " ".join(f"{np.mean(np.diag(att[h])):.2f}" for h in range(n_head)),
          "| to the previous token:", " ".join(f"{np.mean(np.diag(att[h], -1)):.2f}" for h in range(n_head)))

    fig, axes = plt.subplots(1, n_head, figsize=(3.1 * n_head, 3.6), dpi=80)
    for h, ax in enumerate(axes):
        ax.imshow(att[h], cmap="Blues", vmin=0, vmax=1)
        ax.set_title(f"layer 0, head {h}", fontsize=9)
        ax.set_xticks(range(T))
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
        ax.set_yticks(range(T))
        ax.set_yticklabels(labels if h == 0 else [], fontsize=6)
    axes[0].set_ylabel("query (position t)")
    fig.supxlabel("key (position t2 <= t)", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
