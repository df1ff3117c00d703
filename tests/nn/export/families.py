"""engram models of every layer family, with random weights, for the export tests."""

from __future__ import annotations

import numpy as np

import engram.nn.layers as E
from engram.nn import Sequential

# family -> (input shape, layers, integer inputs?)
FAMILIES = {
    "dense": ((4,), lambda: [E.Dense(5, activation="relu"), E.Dropout(0.3), E.Dense(3)], False),
    "activations": (
        (4,),
        lambda: [
            E.Dense(6, activation="elu"),
            E.Activation("tanh"),
            E.LeakyReLU(0.2),
            E.Dense(4, activation="sigmoid"),
            E.ReLU(),
            E.Dense(3),
            E.Softmax(),
        ],
        False,
    ),
    "conv_pool_bn": (
        (9, 9, 2),
        lambda: [
            E.Conv2D(3, 3, padding="same", strides=2, activation="relu"),
            E.MaxPooling2D(pool_size=2, padding="same"),
            E.Conv2D(4, (2, 2)),
            E.BatchNormalization(),
            E.AveragePooling2D(pool_size=2, strides=1, padding="same"),
            E.Flatten(),
            E.Dense(2),
        ],
        False,
    ),
    "global_pool_reshape": (
        (12,),
        lambda: [E.Reshape((2, 2, 3)), E.Conv2D(2, 1), E.GlobalAveragePooling2D(), E.Dense(2)],
        False,
    ),
    "simple_rnn": (
        (5, 3),
        lambda: [
            E.SimpleRNN(4, return_sequences=True, go_backwards=True),
            E.SimpleRNN(2, activation="relu"),
        ],
        False,
    ),
    "lstm": (
        (5, 3),
        lambda: [E.LSTM(4, return_sequences=True), E.LSTM(3, go_backwards=True)],
        False,
    ),
    "gru": ((5, 3), lambda: [E.GRU(4, return_sequences=True), E.GRU(3)], False),
    "embedding": ((6,), lambda: [E.Embedding(10, 4), E.GRU(3)], True),
    "time_distributed": (
        (4, 3),
        lambda: [E.TimeDistributed(E.Dense(2, activation="tanh")), E.BatchNormalization()],
        False,
    ),
}


def inputs(family: str, n: int = 7, seed: int = 0) -> np.ndarray:
    shape, _, integer = FAMILIES[family]
    rng = np.random.default_rng(seed)
    if integer:
        return rng.integers(0, 10, (n, *shape))
    return rng.standard_normal((n, *shape)).astype(np.float32)


def model(family: str, seed: int = 2) -> Sequential:
    """The family's model, built, with random weights (BatchNormalization's variances > 0)."""
    shape, layers, _ = FAMILIES[family]
    m = Sequential(layers(), seed=0)
    m.build((None, *shape))
    rng = np.random.default_rng(seed)
    weights = [(rng.standard_normal(w.shape) * 0.5).astype(w.dtype) for w in m.get_weights()]
    i = 0
    for layer in m.layers:
        n = len(layer.get_weights())
        if type(layer).__name__ == "BatchNormalization":
            weights[i + 3] = np.abs(weights[i + 3]) + 0.5
        i += n
    m.set_weights(weights)
    return m
