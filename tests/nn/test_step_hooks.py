"""The two hooks compute_gradients offers code above the engine: a layer's activity penalty and a
loss that weighs entries itself (the motor training's rate penalty and masked loss use them)."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential
from engram.nn import layers as L
from engram.nn.losses import MeanSquaredError


class HalfSquare:
    """R = c * sum(y^2) / 2, dR/dy = c * y: an activity penalty in the hook's protocol (the
    model adds R / batch, as Keras does)."""

    def __init__(self, c):
        self.c = c

    def __call__(self, y):
        return self.c * float(np.sum(y * y)) / 2

    def gradient(self, y):
        return self.c * y


def chain():
    return Sequential(
        [
            L.Dense(4, activation="tanh", input_shape=(3,), dtype="float64"),
            L.Dense(2, dtype="float64"),
        ],
        seed=0,
    )


def branches():
    inputs = Input((3,), dtype="float64")
    a = L.Dense(4, activation="tanh", dtype="float64", name="a")(inputs)
    b = L.Dense(4, activation="relu", dtype="float64", name="b")(inputs)
    out = L.Dense(2, dtype="float64", name="out")(L.concatenate([a, b]))
    return Model(inputs, out, seed=0)


@pytest.mark.parametrize("build", [chain, branches])
def test_activity_penalty_joins_the_loss_and_its_gradient(build):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    model = build()
    model.compile("sgd", "mse")
    plain = model.compute_gradients(x, y)
    regularized = model.layers[0] if isinstance(model, Sequential) else model.get_layer("a")
    regularized.activity_regularizer = HalfSquare(0.3)
    total = model.compute_gradients(x, y)
    hidden = np.tanh(x @ regularized.params["weights"] + regularized.params["bias"])
    # Keras divides a layer's activity penalty by the batch size (6 here)
    assert model.losses == [pytest.approx(0.3 * np.sum(hidden**2) / 2 / 6)]
    assert total == pytest.approx(plain + model.losses[0])
    # as Keras's test step, an inference pass adds it too (no dropout here: same loss)
    assert model.compute_gradients(x, y, training=False) == pytest.approx(total)
    regularized.activity_regularizer = None
    assert model.compute_gradients(x, y) == pytest.approx(plain) and model.losses == []
    regularized.activity_regularizer = HalfSquare(0.3)

    w = regularized.params["weights"]
    model.compute_gradients(x, y)
    analytic = regularized.grads["weights"][1, 2]
    old = w[1, 2]
    w[1, 2] = old + 1e-6
    plus = model.compute_gradients(x, y)
    w[1, 2] = old - 1e-6
    minus = model.compute_gradients(x, y)
    w[1, 2] = old
    assert analytic == pytest.approx((plus - minus) / 2e-6, rel=1e-6)


class EntryWeighted(MeanSquaredError):
    """sum(w (y - t)^2) / sum(w) with weights per (sample, time step)."""

    def forward_weighted(self, y_pred, y_true, weights):
        w = np.broadcast_to(weights[..., None], y_pred.shape)
        diff = y_pred - y_true
        return float(np.sum(w * diff**2) / w.sum()), (2 / w.sum()) * w * diff


def test_a_loss_that_weighs_entries_takes_weights_per_time_step():
    model = Sequential([L.Dense(2, input_shape=(5, 3))], seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 2))
    mask = (rng.random((4, 5)) > 0.4).astype(np.float32)
    model.compile("sgd", EntryWeighted())
    out = model.predict(x)
    expected = np.sum(mask[..., None] * (out - y) ** 2) / (2 * mask.sum())
    assert model.compute_gradients(x, y, sample_weight=mask) == pytest.approx(expected, rel=1e-5)
    model.compile("sgd", "mse")  # a loss without forward_weighted: one weight per sample only
    with pytest.raises(ValueError, match=r"one weight per sample, shape \(4,\)"):
        model.compute_gradients(x, y, sample_weight=mask)
