#!/usr/bin/env python3
"""tutorial/figures/11_lr_schedule.py: chapter 11's figure, the three learning-rate schedules.

    python3 tutorial/figures/11_lr_schedule.py     (after `bash tutorial/11-adamw/check.sh` built the harness)

Runs `build/tutorial/harness_training chapter11 --lr-table` (lr_at from train_common.h at the
trainer's defaults: --lr 1e-3 --warmup 20 --steps 200 --min-lr-frac 0.1) and draws
tutorial/11-adamw/lr_schedule.png.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness_table import harness_table

step, cosine, linear, constant = harness_table("chapter11", "--lr-table", "tutorial/11-adamw/check.sh")
fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=100)
# x is the step s as lr_at counts it, from 0; the step line prints it as s + 1 ("step 1/200")
for y, name in [(cosine, "--lr-schedule cosine (default)"), (linear, "linear"), (constant, "constant")]:
    ax.plot(step, y * 1e3, label=name)
ax.axvline(19.5, color="gray", linestyle=":", linewidth=1)
ax.text(22, 0.62, "end of warmup\n(s = 19: lr reaches its peak)", color="gray", fontsize=8)
ax.set_xlabel("optimizer step s, from 0 as lr_at counts (the step line prints s + 1)")
ax.set_ylabel("learning rate (x 1e-3)")
ax.set_title("lr_at: linear warmup, then decay to lr x min_lr_frac")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("tutorial/11-adamw/lr_schedule.png")
print("wrote tutorial/11-adamw/lr_schedule.png")
