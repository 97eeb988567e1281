#!/usr/bin/env python3
"""tutorial/figures/07_gelu.py: chapter 7's figure, GELU (tanh approximation) and its derivative,
beside ReLU, and how far the tanh form is from the exact erf form.

    /usr/bin/python3 tutorial/figures/07_gelu.py

Draws tutorial/07-gelu-mlp/gelu.png and prints the numbers the chapter quotes: where gelu'
crosses 0 and 1 and its extremes, and the largest |gelu_erf - gelu_tanh| with where it is.
numpy and matplotlib only (math.erf for the exact form), in double precision.
"""
from math import erf, pi, sqrt

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(-6, 6, 1_200_001)
u = sqrt(2 / pi) * (x + 0.044715 * x**3)
th = np.tanh(u)
gelu = 0.5 * x * (1 + th)                                               # gelu_forward
dgelu = 0.5 * (1 + th) + 0.5 * x * (1 - th**2) * sqrt(2 / pi) * (1 + 3 * 0.044715 * x**2)   # gelu_backward / dout
gelu_erf = 0.5 * x * (1 + np.vectorize(erf)(x / sqrt(2)))
diff = gelu_erf - gelu

i_min, i_max, i_diff = dgelu.argmin(), dgelu.argmax(), np.abs(diff).argmax()
print(f"gelu' minimum {dgelu[i_min]:.4f} at x = {x[i_min]:.4f}, maximum {dgelu[i_max]:.4f} at x = {x[i_max]:.4f}")
print(f"gelu' < 0 for x < {x[np.where(dgelu < 0)[0].max()]:.4f}; gelu' > 1 for x > {x[np.where(dgelu > 1)[0].min()]:.4f}")
print(f"largest |gelu_erf - gelu_tanh| on [-6, 6]: {abs(diff[i_diff]):.3e} at x = ±{abs(x[i_diff]):.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100, gridspec_kw={"width_ratios": [1.4, 1]})
s = slice(None, None, 1000)
left.plot(x[s], np.maximum(x[s], 0), color="lightgray", linewidth=3, label="ReLU, for comparison")
left.plot(x[s], gelu[s], color="#4C72B0", linewidth=2, label="gelu(x) = x/2 (1 + tanh u)")
left.plot(x[s], dgelu[s], color="#DD8452", linewidth=2, label="gelu'(x), what gelu_backward multiplies by")
left.axhline(0, color="black", linewidth=0.6)
left.axhline(1, color="gray", linewidth=0.6, linestyle=":")
left.plot([x[i_min], x[i_max]], [dgelu[i_min], dgelu[i_max]], "o", color="#DD8452")
left.annotate(f"{dgelu[i_min]:.3f} at x = {x[i_min]:.2f}:\nnot monotonic", (x[i_min], dgelu[i_min]), xytext=(-3.9, -0.95),
              fontsize=8, arrowprops=dict(arrowstyle="->", color="gray"))
left.annotate(f"{dgelu[i_max]:.3f} at x = {x[i_max]:.2f}", (x[i_max], dgelu[i_max]), xytext=(2.2, 1.6), fontsize=8,
              arrowprops=dict(arrowstyle="->", color="gray"))
left.set_xlim(-4, 4); left.set_ylim(-1.2, 3.2)
left.set_xlabel("x"); left.grid(alpha=0.3); left.legend(fontsize=8, loc="upper left")
left.set_title("GELU (tanh approximation) and its derivative", fontsize=10)
right.plot(x[s], diff[s] * 1e4, color="#55A868")
right.axhline(0, color="black", linewidth=0.6)
right.plot([x[i_diff]], [diff[i_diff] * 1e4], "o", color="#55A868")
right.plot([-x[i_diff]], [diff[i_diff] * 1e4], "o", color="#55A868")   # even: gelu(-x) = gelu(x) - x in both forms
right.annotate(f"largest: {abs(diff[i_diff]):.1e}\nat x = ±{abs(x[i_diff]):.2f}", (x[i_diff], diff[i_diff] * 1e4), xytext=(0.6, -3.2),
               fontsize=8, arrowprops=dict(arrowstyle="->", color="gray"))
right.set_xlabel("x"); right.set_ylabel("x 1e-4"); right.grid(alpha=0.3)
right.set_title("exact (erf) GELU minus the tanh form", fontsize=10)
fig.tight_layout()
fig.savefig("tutorial/07-gelu-mlp/gelu.png")
print("wrote tutorial/07-gelu-mlp/gelu.png")
