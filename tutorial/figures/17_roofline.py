#!/usr/bin/env python3
"""tutorial/figures/17_roofline.py: chapter 17's figure, a CPU roofline of our layers.

    python3 tutorial/figures/17_roofline.py     (after `bash tutorial/17-measuring/check.sh` built the harness)

Runs `build/tutorial/harness_training chapter17 --roofline`, which measures this machine's
FMA peak and memory bandwidth and times each forward layer of train_gpt_cpu.cpp on one core at a
GPT-2-sized layer (B=4, T=256, C=768, NH=12, V=8192), and draws
tutorial/17-measuring/roofline.png: achieved GFLOP/s against arithmetic intensity (FLOPs per
byte of unavoidable memory traffic), under the two roofs. Timings depend on the machine and
its load: the figure shows where each layer sits, not a benchmark.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness_table import harness_output

out = harness_output("chapter17", "--roofline", "tutorial/17-measuring/check.sh")
lines = out.strip().splitlines()
peak = float(lines[0].split(",")[1]); bw = float(lines[1].split(",")[1])
rows = [l.rsplit(",", 3) for l in lines[3:]]
print(f"measured peak {peak:.1f} GFLOP/s, memory bandwidth {bw:.1f} GB/s")
fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
ai = np.logspace(-2, 3, 200)
ax.loglog(ai, np.minimum(peak, bw * ai), color="black", linewidth=1.5)
ax.text(20, peak * 1.15, f"FMA peak {peak:.0f} GFLOP/s (measured)", fontsize=8)
ax.set_ylim(top=peak * 3)
ax.text(0.012, bw * 0.012 * 1.5, f"memory {bw:.1f} GB/s (measured)", fontsize=8, rotation=28)
for i, (name, flops, nbytes, ms) in enumerate(rows):
    flops, nbytes, ms = float(flops), float(nbytes), float(ms)
    x, y = flops / nbytes, flops / (ms / 1e3) / 1e9
    ax.loglog(x, y, "o", color=f"C{i}", label=f"{name}: {y:.1f} GFLOP/s")
    print(f"{name:28s} {x:8.2f} FLOP/B {ms:9.2f} ms {y:7.1f} GFLOP/s {nbytes / (ms / 1e3) / 1e9:6.1f} GB/s")
ax.set_xlabel("arithmetic intensity (FLOPs per byte)")
ax.set_ylabel("achieved GFLOP/s")
ax.set_title("train_gpt_cpu.cpp's forward layers, one core of this CPU")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=7, loc="upper left")
fig.tight_layout()
fig.savefig("tutorial/17-measuring/roofline.png")
print("wrote tutorial/17-measuring/roofline.png")
