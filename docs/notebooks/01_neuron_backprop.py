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
# # Lesson 1: a neuron and backpropagation
#
# XOR is true when exactly one input is true. One unit draws one straight line and cannot
# compute it; a 2-2-1 network can. This notebook trains the article's 2-2-1 sigmoid network at
# the article's learning rate (Adam, 0.001) and at a larger one, for a few seeds, and then
# checks a layer's hand-written backward pass against finite differences.

# %%
import matplotlib.pyplot as plt
import numpy as np

from engram.data import xor
from engram.nn import Sequential, gradcheck
from engram.nn.layers import Dense
from engram.nn.optimizers import Adam

x, y = xor()
print(np.column_stack([x, y]))


# %%
def train(seed, learning_rate, epochs=200):
    model = Sequential(
        [Dense(2, activation="sigmoid", input_dim=2), Dense(1, activation="sigmoid")], seed=seed
    )
    model.compile(optimizer=Adam(learning_rate=learning_rate), loss="binary_crossentropy")
    history = model.fit(x, y, epochs=epochs, batch_size=1, verbose=0)
    return model, history.history["loss"]


runs = {(rate, seed): train(seed, rate) for rate in (0.001, 0.05) for seed in range(3)}
for (rate, seed), (model, _loss) in runs.items():
    outputs = model.predict(x)[:, 0]
    solved = bool(np.all((outputs > 0.5) == (y[:, 0] > 0.5)))
    print(f"lr={rate:<6} seed {seed}: outputs {outputs.round(2)}  solved: {solved}")

# %% [markdown]
# The loss curves. ln 2 = 0.693 is the loss of answering 0.5 for every input.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for (rate, seed), (_, loss) in runs.items():
    ax.plot(loss, color="C0" if rate == 0.001 else "C1", label=f"lr={rate}" if seed == 0 else None)
ax.axhline(np.log(2), color="gray", linestyle="--", label="ln 2")
ax.set_xlabel("epoch")
ax.set_ylabel("binary cross-entropy")
ax.legend()
plt.show()

# %% [markdown]
# The decision surface of the last network trained at the larger rate.

# %%
model = runs[(0.05, 2)][0]
grid = np.linspace(-0.25, 1.25, 61, dtype=np.float32)
gx, gy = np.meshgrid(grid, grid)
surface = model.predict(np.column_stack([gx.ravel(), gy.ravel()]))[:, 0].reshape(gx.shape)
plt.figure(figsize=(4, 3.5))
plt.contourf(gx, gy, surface, levels=20, cmap="RdBu_r")
plt.colorbar(label="output")
plt.scatter(x[:, 0], x[:, 1], c=y[:, 0], cmap="RdBu_r", edgecolors="k")
plt.show()

# %% [markdown]
# Backpropagation checked: `gradcheck` compares every gradient of a layer with central finite
# differences, in float64.

# %%
print(gradcheck(Dense(3, activation="tanh"), np.random.default_rng(0).standard_normal((4, 5))))

# %% [markdown]
# **Exercises.** Train more seeds at each rate: how many solve XOR? Replace the hidden layer by
# `Dense(1, ...)`: can any seed solve it? Then run `engram run xor` for the full experiment.
