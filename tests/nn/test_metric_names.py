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


def test_metric_names_give_keras_objects():
    assert metrics.metrics.get("accuracy") is metrics.Accuracy  # Keras: exact-match accuracy
    assert metrics.metrics.get("acc") is metrics.Accuracy
    for name, cls in [
        ("mse", metrics.MeanSquaredError),
        ("Precision", metrics.Precision),
        ("AUC", metrics.AUC),
        ("root_mean_squared_error", metrics.RootMeanSquaredError),
        ("TopKCategoricalAccuracy", metrics.TopKCategoricalAccuracy),
    ]:
        assert metrics.metrics.get(name) is cls
    accuracy = metrics.Accuracy()
    accuracy.update_state(np.array([1, 2, 3]), np.array([1, 0, 3]))
    assert accuracy.result() == pytest.approx(2 / 3)
