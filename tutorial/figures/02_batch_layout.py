#!/usr/bin/env python3
"""tutorial/figures/02_batch_layout.py: chapter 2's figure, the data order of dataloader.h.

    /usr/bin/python3 tutorial/figures/02_batch_layout.py

Draws tutorial/02-batches/batch_layout.png: a one-shard token stream cut into step windows,
and one window cut into the slices of K = 2 micro-batches on N = 3 ranks (micro-batch-major),
each slice B*T tokens. Pure drawing, no measurement: the layout is the one the chapter's check
compares with the DataLoader.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle, ConnectionPatch

K, N = 2, 3
RANK_COLORS = ["#4C72B0", "#DD8452", "#55A868"]
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), dpi=100, gridspec_kw={"height_ratios": [1, 1.3]})

# top: the shard as a stream of step windows, with the tail that is not a whole window
W = 5
for s in range(W):
    top.add_patch(Rectangle((s, 0), 1, 1, facecolor="#dfe6f0" if s % 2 == 0 else "#c5d2e4", edgecolor="black"))
    top.text(s + 0.5, 0.5, f"step window {s}\n(steps {s}, {s + W}, {s + 2 * W}, ...)", ha="center", va="center", fontsize=8)
top.add_patch(Rectangle((W, 0), 0.6, 1, facecolor="white", edgecolor="black", hatch="//"))
top.text(W + 0.3, 0.5, "tail:\nunused", ha="center", va="center", fontsize=8, bbox=dict(facecolor="white", edgecolor="none"))
top.annotate("", xy=(0, 1.25), xytext=(W, 1.25), arrowprops=dict(arrowstyle="<->", color="gray"))
top.text(W / 2, 1.35, "W = floor((n - 1) / S) whole windows of S = K N B T tokens; step s reads window s mod W",
         ha="center", fontsize=8.5, color="dimgray")
top.set_xlim(-0.1, W + 0.8); top.set_ylim(-0.1, 1.7); top.axis("off")
top.set_title("a shard of n tokens (one shard, shuffling off)", fontsize=10, loc="left")

# bottom: window 1 cut into K x N slices of B*T tokens, micro-batch-major
for j in range(K * N):
    k, r = divmod(j, N)
    bottom.add_patch(Rectangle((j, 0), 1, 1, facecolor=RANK_COLORS[r], alpha=0.9 if k == 0 else 0.45, edgecolor="black"))
    bottom.text(j + 0.5, 0.5, f"micro-batch k={k}\nrank r={r}", ha="center", va="center", fontsize=8.5, color="black")
    bottom.text(j + 0.5, -0.18, f"slice {j}", ha="center", va="center", fontsize=8, color="dimgray")
bottom.add_patch(Rectangle((K * N, 0), 0.18, 1, facecolor="lightgray", edgecolor="black"))
bottom.text(K * N + 0.25, 0.5, "+1 token (the next\nwindow's first):\nthe last target", ha="left", va="center", fontsize=8)
bottom.annotate("", xy=(0, 1.12), xytext=(1, 1.12), arrowprops=dict(arrowstyle="<->", color="gray"))
bottom.text(0.5, 1.2, "B rows of T tokens", ha="center", fontsize=8, color="dimgray")
bottom.text(3, 1.45, "one step window: all ranks' micro-batch 0, then all ranks' micro-batch 1",
            ha="center", fontsize=9)
bottom.set_xlim(-0.1, K * N + 1.4); bottom.set_ylim(-0.35, 1.7); bottom.axis("off")
for x_top, x_bottom in ((1, 0), (2, K * N)):
    fig.add_artist(ConnectionPatch(xyA=(x_top, 0), coordsA=top.transData, xyB=(x_bottom, 1.0), coordsB=bottom.transData,
                                   color="gray", linestyle=":"))
fig.suptitle(f"The data order for K = {K} micro-batches per step on N = {N} ranks (colour: rank)", fontsize=11)
fig.tight_layout()
fig.savefig("tutorial/02-batches/batch_layout.png")
print("wrote tutorial/02-batches/batch_layout.png")
