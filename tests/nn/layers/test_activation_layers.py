"""Activation, ReLU, LeakyReLU and Softmax layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from engram.nn import Sequential
from engram.nn.layers import Activation, Dense, LeakyReLU, ReLU, Softmax
from tests.helpers import check_layer

TORCH = {
    "linear": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "elu": TF.elu,
    "leaky_relu": lambda z: TF.leaky_relu(z, 0.2),
    "softmax": lambda z: torch.softmax(z, dim=-1),
}


def away_from_zero(shape, seed=0):
    z = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return np.where(z >= 0, z + 0.1, z - 0.1).astype(np.float32)


@pytest.mark.parametrize("name", sorted(TORCH))
def test_activation_layer_harness(name, tmp_path):
    fn = TORCH[name]
    check_layer(
        Activation,
        {"activation": name},
        (3, 5),
        lambda p, x: fn(x),
        x=away_from_zero((3, 5)),
        tmp_path=tmp_path,
    )


def test_relu_layer_harness(tmp_path):
    check_layer(
        ReLU, {}, (4, 6), lambda p, x: torch.relu(x), x=away_from_zero((4, 6)), tmp_path=tmp_path
    )


def test_leaky_relu_layer_uses_keras_layer_default_0_3(tmp_path):
    layer = check_layer(
        LeakyReLU,
        {},
        (4, 6),
        lambda p, x: TF.leaky_relu(x, 0.3),
        x=away_from_zero((4, 6)),
        tmp_path=tmp_path,
    )
    assert layer.get_config()["negative_slope"] == 0.3
    check_layer(
        LeakyReLU,
        {"negative_slope": 0.05},
        (4, 6),
        lambda p, x: TF.leaky_relu(x, 0.05),
        x=away_from_zero((4, 6)),
    )


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_layer_harness(axis, tmp_path):
    check_layer(
        Softmax,
        {"axis": axis},
        (2, 3, 4),
        lambda p, x: torch.softmax(x, dim=axis),
        tmp_path=tmp_path,
    )


def test_activation_config_keeps_parameters():
    layer = Activation({"name": "elu", "config": {"alpha": 0.5}})
    clone = Activation.from_config(layer.get_config())
    x = away_from_zero((2, 3))
    np.testing.assert_allclose(clone(x), TF.elu(torch.tensor(x), alpha=0.5).numpy(), rtol=1e-6)


def test_softmax_layer_on_another_axis_is_not_fused():
    m = Sequential([Dense(4, input_dim=2), Softmax(axis=0)])
    m.compile("sgd", "categorical_crossentropy")
    assert not m._fused()
    m = Sequential([Dense(4, input_dim=2), Softmax()])
    m.compile("sgd", "categorical_crossentropy")
    assert m._fused()
