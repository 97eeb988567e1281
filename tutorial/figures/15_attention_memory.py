#!/usr/bin/env python3
"""tutorial/figures/15_attention_memory.py: chapter 15's figure, what the attention matrix costs.

    /usr/bin/python3 tutorial/figures/15_attention_memory.py   (after `bash tutorial/17-measuring/check.sh` built the harness)

Runs `build/tutorial/harness_training chapter15 --memory-table`: for GPT-2 124M at batch 1
and sequence lengths 128 .. 16,384, the fp32 bytes of the attention weights that
train_gpt_cpu.cpp keeps for the backward pass (L,NH,T,T), of all its other activations
(the Activations struct), and of the online softmax's per-row statistics (L,NH,T,2).
Draws tutorial/15-fast-attention/attention_memory.png.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness_table import harness_table

T, att, other, stats = harness_table("chapter15", "--memory-table", "tutorial/15-fast-attention/check.sh")
GiB = 2.0 ** 30
fig, ax = plt.subplots(figsize=(6.5, 4), dpi=100)
ax.loglog(T, att / GiB, "o-", label="attention weights (L,NH,T,T): grows as T^2")
ax.loglog(T, other / GiB, "s-", label="every other activation: grows as T")
ax.loglog(T, stats / GiB, "^-", label="online softmax: max and sum per row (L,NH,T)")
# the crossover: att grows as T^2, the rest (almost exactly) as T, so att/rest is linear in T
# and the T where they are equal follows from any one row; the two neighbouring rows agree
ratio = att / other
k = max(i for i in range(len(T)) if ratio[i] < 1)
cross = T[k] + (1 - ratio[k]) * (T[k + 1] - T[k]) / (ratio[k + 1] - ratio[k])
ax.axvline(cross, color="gray", linestyle=":", linewidth=1)
ax.text(cross * 1.08, 0.02, f"equal at T = {cross:,.0f}", color="dimgray", fontsize=8)
ax.set_xscale("log", base=2)
ax.set_xlabel("sequence length T")
ax.set_ylabel("GiB per sequence (fp32)")
ax.set_title("GPT-2 124M activations kept for the backward pass, B = 1")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("tutorial/15-fast-attention/attention_memory.png")
print("wrote tutorial/15-fast-attention/attention_memory.png")
print(f"the attention weights equal every other activation together at T = {cross:,.0f}")
for t, a, o in zip(T, att, other):
    print(f"T={int(t):6d}: attention weights {a / GiB:8.2f} GiB, the rest {o / GiB:6.2f} GiB ({100 * a / (a + o):.0f}% attention)")
