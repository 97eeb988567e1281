#!/usr/bin/env python3
"""tutorial/figures/16_allreduce_zero.py: chapter 16's figures, a ring all-reduce and ZeRO-1.

    /usr/bin/python3 tutorial/figures/16_allreduce_zero.py

Draws tutorial/16-data-parallel/ring_allreduce.png (N = 4 ranks: the gradient buffer in N
chunks; a reduce-scatter of N - 1 ring steps leaves rank r with the sum of chunk r, an
all-gather of N - 1 more hands every sum to every rank) and tutorial/16-data-parallel/zero1.png
(what each rank keeps, plain data parallel against ZeRO-1, and the three steps of a ZeRO-1
update). Pure drawing; the chapter's check runs the real thing under mpirun. The ring
schedule below is simulated step by step, so the picture is the algorithm's state, not a sketch.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, Rectangle

N = 4
COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52"]


def ring_states():
    """have[r][c] = the set of ranks whose gradient is summed in rank r's copy of chunk c, after
    each step: reduce-scatter (rank r sends chunk (r - s) mod N to rank r + 1, which adds it),
    then all-gather (rank r sends its complete chunk (r + 1 - s) mod N on, the receiver copies)"""
    have = [[{r} for _ in range(N)] for r in range(N)]
    states = [("each rank: its own gradient g_r", [[set(x) for x in row] for row in have])]
    for s in range(N - 1):
        sends = [(r, (r - s) % N, set(have[r][(r - s) % N])) for r in range(N)]
        for r, c, payload in sends:
            have[(r + 1) % N][c] |= payload
        if s == 0:
            states.append(("reduce-scatter, after step 1 of 3", [[set(x) for x in row] for row in have]))
    states.append(("after the reduce-scatter (3 steps):\nrank r holds the full sum of one chunk",
                   [[set(x) for x in row] for row in have]))
    for s in range(N - 1):
        sends = [(r, (r + 1 - s) % N, set(have[r][(r + 1 - s) % N])) for r in range(N)]
        for r, c, payload in sends:
            have[(r + 1) % N][c] = set(payload)
    states.append(("after the all-gather (3 more):\nevery rank holds every sum", [[set(x) for x in row] for row in have]))
    assert all(have[r][c] == set(range(N)) for r in range(N) for c in range(N))
    return states


def cell(ax, x, y, ranks, w=0.9, h=0.8):
    """one chunk on one rank: coloured stripes for the ranks whose gradients it sums"""
    k = sorted(ranks)
    for i, r in enumerate(k):
        ax.add_patch(Rectangle((x + w * i / len(k), y), w / len(k), h, facecolor=COLORS[r], alpha=0.8, edgecolor="none"))
    ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor="black", linewidth=0.8))
    label = "Σ all" if len(k) == N else "+".join(f"g{r}" for r in k)
    ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=7, color="black",
            bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=0.5))


states = ring_states()
fig, axes = plt.subplots(1, len(states), figsize=(13, 3.6), dpi=100)
for ax, (title, have) in zip(axes, states):
    for r in range(N):
        ax.text(-0.15, N - 1 - r + 0.4, f"rank {r}", ha="right", va="center", fontsize=8, color=COLORS[r])
        for c in range(N):
            cell(ax, c, N - 1 - r, have[r][c])
    for c in range(N):
        ax.text(c + 0.45, N + 0.05, f"chunk {c}", ha="center", fontsize=7, color="dimgray")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-1.1, N + 0.1); ax.set_ylim(-0.3, N + 0.5); ax.axis("off")
fig.suptitle(f"Ring all-reduce of one gradient buffer on N = {N} ranks: each rank sends to the next, "
             f"2(N-1) steps of one chunk (1/N of the buffer) each", fontsize=10)
fig.tight_layout()
fig.savefig("tutorial/16-data-parallel/ring_allreduce.png")
print("wrote tutorial/16-data-parallel/ring_allreduce.png")

# ZeRO-1: who keeps what, and the three steps
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), dpi=100, gridspec_kw={"width_ratios": [1, 1.25]})
# the GPU trainer's families, width = bytes per parameter (the CPU trainer has no separate
# master weights: fp32 parameters, 16 bytes in all, 8 + 8/N under ZeRO-1)
families = [("params\n(bf16)", 2), ("gradients\n(fp32)", 4), ("master\nweights", 4), ("AdamW m", 4), ("AdamW v", 4)]
for ax, zero in ((left, False), (right, True)):
    y = 0
    for r in range(N):
        x = 0
        for name, nbytes in families:
            sharded = zero and name in ("master\nweights", "AdamW m", "AdamW v")
            w = nbytes / 4
            for c in range(N):
                keep = not sharded or c == r
                ax.add_patch(Rectangle((x + w * c / N, y), w / N, 0.7, facecolor=COLORS[c] if keep else "white",
                                       alpha=0.75 if keep else 1, edgecolor="black", linewidth=0.4,
                                       hatch="" if keep else "////"))
            if r == 0:
                ax.text(x + w / 2, -0.15, name, ha="center", va="top", fontsize=7.5)
            x += w + 0.15
        ax.text(-0.1, y + 0.35, f"rank {r}", ha="right", va="center", fontsize=8)
        y += 1
    ax.set_xlim(-0.8, x); ax.set_ylim(-1.0, N + 0.3); ax.axis("off")
left.set_title("plain data parallel: every rank keeps everything\n(GPU trainer: 18 bytes per parameter on each rank)", fontsize=9)
right.set_title("ZeRO-1 (--zero 1): rank r keeps the optimizer state of chunk r only\n(6 + 12/N bytes per parameter; hatched: not kept)",
                fontsize=9)
fig.text(0.5, 0.015, "A ZeRO-1 step: (1) reduce-scatter the gradients, so rank r holds the averaged chunk r;  "
         "(2) rank r updates chunk r (master weights, m, v);\n(3) all-gather the updated parameters.  "
         "The same bytes on the wire as one all-reduce. (ZeRO-2 would also keep only chunk r of the gradients.)",
         ha="center", fontsize=8.5)
fig.tight_layout(rect=(0, 0.09, 1, 1))
fig.savefig("tutorial/16-data-parallel/zero1.png")
print("wrote tutorial/16-data-parallel/zero1.png")
