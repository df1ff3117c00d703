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
# # Lesson 5: brain memory versus network memory
#
# The same ten digits, one of each class, stored one shot in a classic Hopfield network and in
# a modern one, and learned by an autoencoder trained with backpropagation. Each recalls from
# cues with pixels flipped.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from engram.data import load_digits
from engram.memory import CapacityWarning, Hopfield, ModernHopfield, binarize, flip_bits
from engram.nn import Sequential
from engram.nn.layers import Dense

(x, y), _ = load_digits(test_fraction=0.3, seed=0, flat=True)
digits = binarize(np.stack([x[y == d][0] for d in range(10)]))
overlap = digits @ digits.T / 64
print("mean |overlap| between stored digits:", np.abs(overlap[~np.eye(10, dtype=bool)]).mean())

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CapacityWarning)
    classic = Hopfield("hebb").store(digits)
modern = ModernHopfield(beta=1.0).store(digits)

copies = np.repeat(digits, 60, axis=0)
noisy = np.concatenate([flip_bits(copies[i::10], 0.15, seed=i) for i in range(10)])
targets = np.concatenate([copies[i::10] for i in range(10)])
autoencoder = Sequential(
    [Dense(64, activation="tanh", input_dim=64), Dense(64, activation="tanh")], seed=0
)
autoencoder.compile(optimizer="adam", loss="mse")
autoencoder.fit(noisy, targets, epochs=30, batch_size=32, verbose=0)


def recall_rate(name, fraction):
    cues = flip_bits(np.tile(digits, (5, 1)), fraction, seed=7)
    if name == "classic":
        states = classic.recall(cues).states
    elif name == "modern":
        states = modern.recall(cues).states
    else:
        states = autoencoder.predict(cues)
    return float(np.mean(np.all(np.sign(states) == np.tile(digits, (5, 1)), axis=1)))


fractions = [0.0, 0.1, 0.2, 0.3]
rates = {name: [recall_rate(name, f) for f in fractions] for name in ("classic", "modern", "ae")}
for name, values in rates.items():
    print(f"{name:8}", np.round(values, 2))

# %%
plt.figure(figsize=(5, 3))
for name, values in rates.items():
    plt.plot(fractions, values, "o-", label=name)
plt.xlabel("share of pixels flipped")
plt.ylabel("digits recalled exactly")
plt.legend()
plt.show()

# %% [markdown]
# **Exercises.** Store fewer, less similar digits in the classic network; change the modern
# network's `beta`; fine-tune the autoencoder on one new digit alone and measure what it
# forgets. Then run `engram run memory-recall --quick`.
