# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 4: Hebbian learning and Hopfield memory
#
# A Hopfield network stores +/-1 patterns one shot with Hebb's rule and recalls by letting a
# damaged cue fall downhill in energy. This notebook recalls one pattern step by step, then
# raises the load P/N and watches recall break.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from engram.memory import CapacityWarning, Hopfield, flip_bits

n = 200
rng = np.random.default_rng(0)
patterns = np.where(rng.random((10, n)) < 0.5, -1.0, 1.0)
net = Hopfield("hebb").store(patterns)
state = flip_bits(patterns[:1], 0.3, seed=1)  # 30% of the units flipped
print("load", net.load, "overlap of the cue", float(state[0] @ patterns[0] / n))

# %% [markdown]
# One synchronous update at a time: the overlap with the stored pattern rises and the energy
# falls.

# %%
overlaps, energies = [], []
for _step in range(6):
    overlaps.append(float(state[0] @ patterns[0] / n))
    energies.append(float(net.energy(state)[0]))
    state = net.recall(state, max_steps=1).states
print("overlap per step", np.round(overlaps, 3))
print("energy per step ", np.round(energies, 1))

# %% [markdown]
# Raise the load: store more patterns in the same 200 units and recall each from the pattern
# itself with 10% of its units flipped.

# %%
loads, recalled = np.arange(0.02, 0.3, 0.02), []
for load in loads:
    p = int(round(load * n))
    xs = np.where(rng.random((p, n)) < 0.5, -1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CapacityWarning)
        big = Hopfield("hebb").store(xs)
    result = big.recall(flip_bits(xs, 0.1, seed=2), max_steps=50)
    recalled.append(float(np.mean(result.overlaps[np.arange(p), np.arange(p)] > 0.95)))
plt.figure(figsize=(5, 3))
plt.plot(loads, recalled, "o-")
plt.axvline(0.138, color="gray", linestyle="--", label="0.138")
plt.xlabel("load P / N")
plt.ylabel("share recalled (overlap > 0.95)")
plt.legend()
plt.show()

# %% [markdown]
# One network size and one seed: the curve is noisy and the fall is smeared at N = 200.
# **Exercises.** Use `Hopfield("storkey")`; start recall at the pattern itself (no flips); try
# N = 500. Then run `engram run hopfield-capacity --quick`.
