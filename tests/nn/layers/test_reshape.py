"""Flatten, Reshape and InputLayer / Input."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Sequential
from engram.nn.layers import Dense, Flatten, InputLayer, Reshape
from engram.nn.optimizers import Adam
from tests.helpers import check_layer


def test_flatten_harness(tmp_path):
    layer = check_layer(
        Flatten, {}, (3, 4, 5, 2), lambda p, x: x.reshape(x.shape[0], -1), tmp_path=tmp_path
    )
    assert layer.output_shape == (40,)


@pytest.mark.parametrize("target", [(5, 4), (-1, 2), (20,)])
def test_reshape_harness(target, tmp_path):
    check_layer(
        Reshape,
        {"target_shape": target},
        (3, 4, 5),
        lambda p, x: x.reshape(x.shape[0], *target),
        tmp_path=tmp_path,
    )


def test_reshape_output_shape_resolves_minus_one():
    layer = Reshape((-1, 2))
    layer.build((4, 5), np.random.default_rng(0))
    assert layer.output_shape == (10, 2)


def test_reshape_refuses_impossible_shapes():
    with pytest.raises(
        ValueError,
        match=r"Reshape\(target_shape=\(3, 3\)\) cannot reshape inputs "
        r"of shape \(4, 5\) \(20 values per sample\)",
    ):
        Sequential([Reshape((3, 3), input_shape=(4, 5))])
    with pytest.raises(
        ValueError, match="target_shape must hold positive sizes and at most one -1"
    ):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="target_shape must hold positive sizes"):
        Reshape((0, 4))


def test_input_layer_is_the_identity(tmp_path):
    check_layer(InputLayer, {"shape": (5,)}, (3, 5), lambda p, x: x * 1.0, tmp_path=tmp_path)


def test_input_declares_the_model_shape():
    m = Sequential([Input(shape=(28, 28)), Flatten(), Dense(10)])
    assert m.built and m.input_shape == (None, 28, 28) and m.output_shape == (None, 10)
    assert m.predict(np.zeros((2, 28, 28))).shape == (2, 10)


def test_flatten_then_dense_trains_on_images():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 6)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(int)
    m = Sequential([Flatten(input_shape=(6, 6)), Dense(2, activation="softmax")], seed=0)
    m.compile(Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=30, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
