"""The metric names a Keras program writes are listed in the "Available" message and resolve."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential, metrics
from engram.nn.layers import Dense


def test_unknown_metric_lists_accuracy_mse_and_mae():
    model = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError) as info:
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    message = str(info.value)
    assert "Did you mean 'accuracy'" in message
    available = message.split("Available: ")[1].rstrip(".").split(", ")
    assert {"accuracy", "mse", "mae", "mean_squared_error", "binary_accuracy"} <= set(available)


def test_accuracy_called_directly_picks_from_the_shapes():
    accuracy = metrics.metrics.get("accuracy")
    scores = np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    assert accuracy(np.array([1, 0, 0]), scores) == (2.0, 3)  # sparse labels
    assert accuracy(np.array([[0, 1], [0, 1], [0, 1]]), scores) == (2.0, 3)  # one-hot
    assert accuracy(np.array([[1], [0]]), np.array([[0.7], [0.6]])) == (1.0, 2)  # binary
    assert metrics.metrics.get("acc") is accuracy
