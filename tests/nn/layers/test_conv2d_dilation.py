"""Conv2D(dilation_rate=...) against finite differences, PyTorch, Keras 3.15.1, .keras files and
exports; the undilated path is not involved (it runs on the dilated kernel)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.files_and_exports import check_keras_files, check_layers_export
from tests.nn.layers.keras_parity import check_layer_against_keras

ACTIVATIONS = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh}


def torch_dilated_conv2d(kwargs):
    """PyTorch's conv2d with its dilation; "same" zeros as TensorFlow/Keras place them (the
    extra one after) for the dilated span."""

    def fn(p, x):
        (dh, dw) = np.broadcast_to(kwargs.get("dilation_rate", 1), 2)
        kh, kw = p["kernel"].shape[:2]
        x = x.permute(0, 3, 1, 2)
        if kwargs.get("padding") == "same":
            th, tw = (kh - 1) * dh, (kw - 1) * dw
            x = tF.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
        z = tF.conv2d(x, p["kernel"].permute(3, 2, 0, 1), dilation=(int(dh), int(dw)))
        if "bias" in p:
            z = z + p["bias"][:, None, None]
        return ACTIVATIONS[kwargs.get("activation")](z.permute(0, 2, 3, 1))

    return fn


CASES = [
    {"filters": 3, "kernel_size": 3, "dilation_rate": 2},
    {"filters": 2, "kernel_size": (2, 3), "dilation_rate": (3, 1), "padding": "same"},
    {"filters": 4, "kernel_size": 3, "dilation_rate": (1, 2), "activation": "relu"},
    {"filters": 2, "kernel_size": 2, "dilation_rate": 3, "padding": "same", "use_bias": False},
    {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "activation": "tanh"},
]
IDS = ["d2-valid", "d31-same", "d12-relu", "d3-same-nobias", "d2-same-tanh"]


@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_dilated_conv2d_harness(kwargs, tmp_path):
    x = np.random.default_rng(5).standard_normal((2, 8, 9, 3)).astype(np.float32)
    check_layer(L.Conv2D, kwargs, x.shape, torch_dilated_conv2d(kwargs), x=x, tmp_path=tmp_path)


@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_dilated_conv2d_matches_keras(kwargs):
    keras = import_keras()
    x = np.random.default_rng(1).standard_normal((2, 8, 9, 3)).astype(np.float32)
    ours = check_layer_against_keras(L.Conv2D(**kwargs), keras.layers.Conv2D(**kwargs), x)
    kh, kw = np.broadcast_to(kwargs["kernel_size"], 2)
    assert ours.params["kernel"].shape == (kh, kw, 3, kwargs["filters"])
    # a second forward/backward reuses the buffers and gives the same gradients
    grads = {k: v.copy() for k, v in ours.grads.items()}
    ours.forward(x)
    ours.backward(np.random.default_rng(1).standard_normal(ours.y.shape).astype(np.float32))
    for key in grads:
        np.testing.assert_array_equal(ours.grads[key], grads[key])


def layers_of(K):
    return [
        K.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu", name="c1"),
        K.Conv2D(3, (2, 3), dilation_rate=(2, 1), activation="tanh", name="c2"),
        K.GlobalAveragePooling2D(name="pool"),  # outputs of order 1 (atol 1e-5 means float32)
        K.Dense(2, name="out"),
    ]


def test_a_model_with_dilated_convolutions_trains_as_keras():
    keras = import_keras()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 9, 9, 2)).astype(np.float32)
    y = rng.standard_normal((12, 2)).astype(np.float32)
    from engram.nn import Input, Sequential

    ours = Sequential([Input((9, 9, 2)), *layers_of(L)])
    theirs = keras.Sequential([keras.Input((9, 9, 2)), *layers_of(keras.layers)])
    check_against_keras(ours, theirs, x, y, loss="mse")


def test_dilated_conv2d_keras_files_both_ways(tmp_path):
    check_keras_files(layers_of, (9, 9, 2), tmp_path)


def test_dilated_conv2d_exports(tmp_path):
    check_layers_export(layers_of, (9, 9, 2), tmp_path)


def test_dilation_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"strides > 1 is not supported together with dilation"):
        L.Conv2D(2, 3, strides=2, dilation_rate=2)
    layer = L.Conv2D(2, 3, dilation_rate=3)
    with pytest.raises(ValueError, match=r"kernel_size \(7, 7\) is larger than its input"):
        layer.build((6, 6, 1), np.random.default_rng(0))
    layer = L.Conv2D(2, 3, dilation_rate=2)
    layer.build((8, 8, 1), np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="backward\\(\\) needs a forward\\(\\) first"):
        layer.backward(np.zeros((1, 4, 4, 2), np.float32))
