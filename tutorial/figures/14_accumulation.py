#!/usr/bin/env python3
"""tutorial/figures/14_accumulation.py: chapter 14's figure, why accumulators stay fp32.

    python3 tutorial/figures/14_accumulation.py   (after `bash tutorial/14-mixed-precision/check.sh` built the harness)

Runs `build/tutorial/harness_training chapter14 --accumulation-table`: dot products of K
bf16 numbers (products of N(0,1) values), summed with an fp32 accumulator and with one
rounded to bf16 after every add; the median relative error of 101 of them per K.
Draws tutorial/14-mixed-precision/accumulation.png.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness_table import harness_table

K, e32, e16 = harness_table("chapter14", "--accumulation-table", "tutorial/14-mixed-precision/check.sh")
fig, ax = plt.subplots(figsize=(6.5, 4), dpi=100)
ax.loglog(K, e16, "o-", label="bf16 accumulator")
ax.loglog(K, e32, "s-", label="fp32 accumulator (bf16 inputs, as on tensor cores)")
ax.axhline(1e-2, color="gray", linestyle=":", linewidth=1)
ax.text(K[0], 1.2e-2, "bf16 build tolerance on logits, 1e-2", color="gray", fontsize=8)
ax.set_xscale("log", base=2)
ax.set_xlabel("dot product length K (C = 768, 4C = 3,072 in GPT-2 124M)")
ax.set_ylabel("median relative error")
ax.set_title("summing K products: where the accumulator's precision goes")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=8, loc="center right")
fig.tight_layout()
fig.savefig("tutorial/14-mixed-precision/accumulation.png")
print("wrote tutorial/14-mixed-precision/accumulation.png")
for k, a, b in zip(K, e32, e16):
    print(f"K={int(k):6d}: fp32 {a:.1e}  bf16 {b:.1e}")
