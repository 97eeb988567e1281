#!/usr/bin/env python3
"""tutorial/figures/10_fd_error.py: chapter 10's figure, the finite-difference error against the step h.

    python3 tutorial/figures/10_fd_error.py     (after `bash tutorial/10-backward/check.sh` built the harness)

Runs `build/tutorial/harness_training chapter10 --sweep` (central differences of the fp32
model's loss against gpt_backward, worst tensor) and draws tutorial/10-backward/fd_error.png.
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness_table import harness_table

h, err = harness_table("chapter10", "--sweep", "tutorial/10-backward/check.sh")
fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
ax.loglog(h, err, "o-", label="measured: worst tensor, fp32 model")
ax.loglog(h, err[np.argmin(err)] * (h / h[np.argmin(err)]) ** 2, ":", color="gray", label="slope 2: truncation ~ h^2")
ax.loglog(h, err[np.argmin(err)] * h[np.argmin(err)] / h, "--", color="gray", label="slope -1: rounding ~ eps/h")
ax.set_ylim(err.min() / 3, 2)
ax.set_xlabel("finite-difference step h")
ax.set_ylabel("||numeric - backward|| / ||backward||")
ax.set_title("central differences in fp32: too big or too small a step both hurt")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("tutorial/10-backward/fd_error.png")
print("wrote tutorial/10-backward/fd_error.png")
