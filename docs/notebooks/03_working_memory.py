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
# # Lesson 3: recurrence and working memory
#
# The delayed-recall task: a cue (one of 4), a delay of blank, noisy steps, a go signal; the
# network names the cue at the go signal, so it must hold the cue in its hidden state. This
# notebook trains a `SimpleRNN` and an `LSTM` of about the same size at two delays.

# %%
import matplotlib.pyplot as plt

from engram.data.sequences import delayed_recall
from engram.nn import Sequential
from engram.nn.layers import LSTM, Dense, SimpleRNN

x, y = delayed_recall(4, delay=6, n_cues=4, noise=0.1, seed=0)
plt.figure(figsize=(6, 2))
plt.imshow(x[0].T, aspect="auto", cmap="gray_r")
plt.xlabel("step")
plt.ylabel("channel (4 cues, go)")
plt.title(f"one trial, cue {y[0]}")
plt.show()


# %%
def accuracy(cell, delay, units):
    x, y = delayed_recall(512, delay=delay, n_cues=4, noise=0.1, seed=0)
    x_test, y_test = delayed_recall(256, delay=delay, n_cues=4, noise=0.1, seed=1)
    model = Sequential(
        [cell(units, input_shape=x.shape[1:]), Dense(4, activation="softmax")], seed=0
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model.count_params(), model.evaluate(x_test, y_test, verbose=0)[1]


for cell, units in [(SimpleRNN, 32), (LSTM, 15)]:
    for delay in (2, 12):
        n_weights, acc = accuracy(cell, delay, units)
        print(f"{cell.__name__:9} {n_weights:5} weights, delay {delay:2}: test accuracy {acc:.2f}")

# %% [markdown]
# Chance is 0.25. **Exercises.** Add longer delays; train longer; add a GRU. Then run
# `engram run working-memory --quick` for the full comparison with memory spans and the hidden
# units' delay activity.
