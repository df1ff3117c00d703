"""Dropout: inverted dropout, only in training, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential, gradcheck
from engram.nn.layers import Dense, Dropout
from tests.helpers import check_layer


def test_dropout_harness_in_inference_mode(tmp_path):
    check_layer(Dropout, {"rate": 0.5}, (4, 6), lambda p, x: x * 1.0, tmp_path=tmp_path)


def test_training_drops_about_rate_and_rescales():
    layer = Dropout(0.3, seed=0)
    x = np.ones((400, 250), dtype=np.float32)
    y = layer(x, training=True)
    assert y.dtype == np.float32
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.7], rtol=1e-6)
    assert abs(y.mean() - 1) < 0.01  # E[y] = x


def test_backward_uses_the_same_mask():
    layer = Dropout(0.5, seed=1)
    x = np.random.default_rng(0).standard_normal((8, 10)).astype(np.float32)
    y = layer(x, training=True)
    grad = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(grad == 0, y == 0)
    np.testing.assert_allclose(grad[grad != 0], 2.0)


def test_gradcheck_in_training_mode_holds_the_mask_fixed():
    x = np.random.default_rng(0).standard_normal((8, 10))
    report = gradcheck(Dropout(0.5, seed=1), x, training=True)
    assert report.passed, str(report)


def test_inference_is_the_identity_and_backward_passes_through():
    layer = Dropout(0.9, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)
    assert layer(x) is x
    np.testing.assert_array_equal(layer.backward(x), x)


def test_rate_zero_is_the_identity_even_in_training():
    x = np.ones((3, 3), np.float32)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)


def test_seeded_layers_give_the_same_masks():
    x = np.ones((20, 20), np.float32)
    a = Dropout(0.5, seed=3)(x, training=True)
    b = Dropout(0.5, seed=3)(x, training=True)
    c = Dropout(0.5, seed=4)(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_shape_shares_the_mask():
    layer = Dropout(0.5, noise_shape=(None, 1, 4), seed=0)
    y = layer(np.ones((6, 5, 4), np.float32), training=True)
    assert (y == y[:, :1, :]).all()
    assert Dropout.from_config(layer.get_config()).noise_shape == (None, 1, 4)


def test_model_dropout_uses_the_model_seed():
    def masks(seed):
        m = Sequential([Dropout(0.5, input_shape=(30,))], seed=seed)
        return m(np.ones((10, 30), np.float32), training=True)

    np.testing.assert_array_equal(masks(1), masks(1))
    assert not np.array_equal(masks(1), masks(2))


def test_dropout_in_training_changes_fit_but_not_predict():
    x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    m = Sequential([Dense(8, input_dim=4), Dropout(0.5), Dense(1)], seed=0)
    np.testing.assert_array_equal(m.predict(x), m.predict(x))
    assert not np.array_equal(m(x, training=True), m(x, training=True))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 2])
def test_rate_must_be_in_0_1(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        Dropout(rate)
