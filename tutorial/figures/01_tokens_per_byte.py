"""tutorial/figures/01_tokens_per_byte.py: the figure of chapter 1, tokens per byte against
vocabulary size on tinyshakespeare.

Trains byte-level BPE vocabularies of several sizes on data/tinyshakespeare/input.txt with
./tokenize train (tokenizer.h's bpe_train), encodes the same text with each, and plots tokens
per byte; GPT-2's own vocabulary (data/gpt2, trained on web text, not on this text) is the
extra point. Needs ./tokenize (make tokenize) and `make data`. Run from the repository root:

    /usr/bin/python3 tutorial/figures/01_tokens_per_byte.py

Writes tutorial/01-tokens/tokens_per_byte.png and prints the numbers it plots.
"""
import os
import subprocess
import sys
import tempfile

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

TEXT = "data/tinyshakespeare/input.txt"
OUT = "tutorial/01-tokens/tokens_per_byte.png"


def count_tokens(vocab_dir):
    ids = subprocess.run(["./tokenize", "encode", "--vocab", vocab_dir, TEXT], check=True,
                         capture_output=True, text=True).stdout.split()
    return len(ids)


def main():
    for need in ["./tokenize", TEXT, "data/gpt2/encoder.json"]:
        if not os.path.exists(need):
            sys.exit(f"error: {need} is missing: run `make tokenize data` first")
    nbytes = os.path.getsize(TEXT)
    sizes = [257, 300, 512, 1024, 2048, 4096, 8192]
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in sizes:
            d = os.path.join(tmp, str(v))
            subprocess.run(["./tokenize", "train", "--vocab-size", str(v), "--out", d, "--quiet", TEXT], check=True,
                           capture_output=True)
            n = count_tokens(d)
            ratios.append(n / nbytes)
            print(f"vocabulary {v:6d} (trained on this text): {n:8d} tokens, {n / nbytes:.3f} tokens per byte")
    n_gpt2 = count_tokens("data/gpt2")
    print(f"vocabulary  50257 (GPT-2's, web text):   {n_gpt2:8d} tokens, {n_gpt2 / nbytes:.3f} tokens per byte")

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    ax.plot(sizes, ratios, "o-", label="BPE trained on tinyshakespeare")
    ax.plot([50257], [n_gpt2 / nbytes], "s", color="C3", label="GPT-2's vocabulary")
    for v, r in zip(sizes, ratios):
        ax.annotate(f"{r:.2f}", (v, r), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.annotate(f"{n_gpt2 / nbytes:.2f}", (50257, n_gpt2 / nbytes), textcoords="offset points", xytext=(-10, 6), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("vocabulary size (ids)")
    ax.set_ylabel("tokens per byte")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"tinyshakespeare ({nbytes:,} bytes)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
