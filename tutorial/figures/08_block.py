#!/usr/bin/env python3
"""tutorial/figures/08_block.py: chapter 8's figure, one GPT-2 block with its tensor shapes.

    /usr/bin/python3 tutorial/figures/08_block.py

Draws tutorial/08-block/block.png: the residual stream (B,T,C) running up the left, the
attention branch and the MLP branch reading a normalised copy of it and adding their result
back, each box named after the train_gpt_cpu.cpp function and labelled with the shape it
produces, and the Activations buffer it is kept in. Pure drawing; the layer order is the one
of gpt_forward, which the chapter's check compares the learner's block with.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

fig, ax = plt.subplots(figsize=(8.6, 9.2), dpi=100)
ax.set_xlim(0, 10); ax.set_ylim(0, 15.2); ax.axis("off")

STREAM_X, BRANCH_X = 1.4, 5.4
ATT, MLP, LN, ADD = "#DD8452", "#55A868", "#8172B3", "#ffffff"


def box(x, y, text, shape, buf, color, w=3.9, h=0.78):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", facecolor=color, alpha=0.25,
                                edgecolor=color, linewidth=1.5))
    ax.text(x - w / 2 + 0.12, y + 0.1, text, ha="left", va="center", fontsize=9, family="monospace")
    ax.text(x + w / 2 - 0.1, y - 0.22, shape, ha="right", va="center", fontsize=8.5, color="black")
    if buf:
        ax.text(x + w / 2 + 0.15, y, buf, ha="left", va="center", fontsize=7.5, color="dimgray", style="italic")


def arrow(x0, y0, x1, y1, color="black"):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color=color, lw=1.2))


def plus(y, label):
    ax.add_patch(plt.Circle((STREAM_X, y), 0.28, facecolor=ADD, edgecolor="black", zorder=3))
    ax.text(STREAM_X, y, "+", ha="center", va="center", fontsize=14, zorder=4)
    ax.text(STREAM_X - 0.42, y, label, ha="right", va="center", fontsize=8, family="monospace")


# the stream
ax.text(STREAM_X, 0.25, "x (B,T,C)\nfrom the block below\n(or encoder_forward)", ha="center", va="bottom", fontsize=8.5)
ax.text(STREAM_X, 14.75, "x (B,T,C) to the next block\n(or ln_f and the tied head)", ha="center", va="bottom", fontsize=8.5)
ax.plot([STREAM_X, STREAM_X], [1.3, 14.6], color="black", lw=2.2, zorder=1)
ax.text(STREAM_X + 0.18, 4.3, "residual\nstream", fontsize=8, color="dimgray", rotation=90, va="center")

# attention branch, bottom to top
ys = [1.8, 2.9, 4.0, 5.1]
att = [("layernorm_forward  ln_1", "(B,T,C)", "ln1, ln1_mean, ln1_rstd", LN),
       ("matmul_forward  qkv", "(B,T,3C)", "qkv", ATT),
       ("attention_forward", "(B,T,C); att (B,NH,T,T)", "atty, att", ATT),
       ("matmul_forward  attn proj", "(B,T,C)", "residual2 (then += x)", ATT)]
for y, (t, s, b, c) in zip(ys, att):
    box(BRANCH_X, y, t, s, b, c)
arrow(STREAM_X, 1.8, BRANCH_X - 1.95, 1.8)
for y0, y1 in zip(ys, ys[1:]):
    arrow(BRANCH_X, y0 + 0.39, BRANCH_X, y1 - 0.39)
plus(6.3, "residual_forward")
arrow(BRANCH_X, ys[-1] + 0.39, BRANCH_X, 6.3, ATT)
ax.plot([BRANCH_X, STREAM_X + 0.28], [6.3, 6.3], color=ATT, lw=1.2)
ax.text(BRANCH_X + 0.2, 5.88, "attention branch: the only layer that mixes positions (chapter 6)", fontsize=8,
        color=ATT, ha="left")

# MLP branch
ys = [7.6, 8.7, 9.8, 10.9]
mlp = [("layernorm_forward  ln_2", "(B,T,C)", "ln2, ln2_mean, ln2_rstd", LN),
       ("matmul_forward  fc", "(B,T,4C)", "fch", MLP),
       ("gelu_forward", "(B,T,4C)", "fch_gelu", MLP),
       ("matmul_forward  mlp proj", "(B,T,C)", "residual3 (then += x)", MLP)]
for y, (t, s, b, c) in zip(ys, mlp):
    box(BRANCH_X, y, t, s, b, c)
arrow(STREAM_X, 7.6, BRANCH_X - 1.95, 7.6)
for y0, y1 in zip(ys, ys[1:]):
    arrow(BRANCH_X, y0 + 0.39, BRANCH_X, y1 - 0.39)
plus(12.1, "residual_forward")
arrow(BRANCH_X, ys[-1] + 0.39, BRANCH_X, 12.1, MLP)
ax.plot([BRANCH_X, STREAM_X + 0.28], [12.1, 12.1], color=MLP, lw=1.2)
ax.text(BRANCH_X + 0.2, 11.68, "MLP branch: each position on its own (chapter 7)", fontsize=8, color=MLP, ha="left")

ax.text(5.0, 13.4, "parameters per block: 12 C^2 + 13 C (attention 4 C^2, MLP 8 C^2)\n"
        "italic: the Activations buffer the forward keeps for the backward", ha="center", fontsize=8.5, color="dimgray")
ax.set_title("One GPT-2 block (pre-LayerNorm): x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))", fontsize=11)
fig.tight_layout()
fig.savefig("tutorial/08-block/block.png")
print("wrote tutorial/08-block/block.png")
