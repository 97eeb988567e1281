#!/usr/bin/env python3
"""tools/plot_loss.py: draws the loss curves of one or more training runs into a PNG.

    python3 tools/plot_loss.py OUT_DIR [OUT_DIR ...] --out loss.png [--title TEXT] [--smooth N]

Each OUT_DIR is a trainer's --out folder (or a log.jsonl file itself). Its log.jsonl holds one
JSON object per line, written by both trainers: {"step", "loss", "lr", ...} per optimizer
step and {"step", "val_loss"} per validation. Training loss is drawn per step (thin) with a
running mean over --smooth steps (thick); validation points are drawn as markers.

What it is not: a dashboard. It reads finished or running logs once and writes one PNG.
Needs matplotlib (Agg backend, no display). Errors name the file and exit with status 1.
"""
import argparse
import json
import os
import sys


def read_log(path):
    """(train_steps, train_losses, val_steps, val_losses) from a log.jsonl."""
    if os.path.isdir(path):
        path = os.path.join(path, "log.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found: pass a trainer's --out folder or its log.jsonl")
    ts, tl, vs, vl = [], [], [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"error: {path}:{n}: not a JSON line ({e}); is this a log.jsonl?")
            if "loss" in rec:
                ts.append(rec["step"]); tl.append(rec["loss"])
            if "val_loss" in rec:
                vs.append(rec["step"]); vl.append(rec["val_loss"])
    if not ts and not vs:
        sys.exit(f"error: {path} holds no 'loss' or 'val_loss' records")
    return path, ts, tl, vs, vl


def running_mean(xs, n):
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x
        if i >= n:
            acc -= xs[i - n]
        out.append(acc / min(i + 1, n))
    return out


def main():
    ap = argparse.ArgumentParser(description="Plot training and validation loss from log.jsonl files.")
    ap.add_argument("runs", nargs="+", help="--out folders of training runs (or log.jsonl files)")
    ap.add_argument("--out", required=True, help="PNG file to write")
    ap.add_argument("--title", default="", help="figure title")
    ap.add_argument("--smooth", type=int, default=10, help="running mean over this many steps (1 = none)")
    args = ap.parse_args()
    if args.smooth < 1:
        ap.error("--smooth must be >= 1")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is not installed (pip install matplotlib, or apt-get install python3-matplotlib)")

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for i, run in enumerate(args.runs):
        path, ts, tl, vs, vl = read_log(run)
        label = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
        color = f"C{i % 10}"
        if ts:
            ax.plot(ts, tl, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(ts, running_mean(tl, args.smooth), color=color, linewidth=1.8, label=f"{label}: train")
        if vs:
            ax.plot(vs, vl, "o--", color=color, markersize=5, linewidth=1, label=f"{label}: validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    if args.title:
        ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(args.out)
    except OSError as e:
        sys.exit(f"error: cannot write {args.out}: {e}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
