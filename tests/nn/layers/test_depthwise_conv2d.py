"""DepthwiseConv2D and SeparableConv2D against finite differences, PyTorch, Keras 3.15.1,
.keras files both ways and the exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import engram.nn as en
from engram.nn import conv_functional as C
from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.files_and_exports import check_keras_files, check_layers_export
from tests.nn.layers.keras_parity import check_layer_against_keras

ACTIVATIONS = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh}


def torch_depthwise(kwargs, separable=False):
    """torch's grouped conv2d (Keras's padding as `spatial_plan` says), then the 1x1 conv."""

    def fn(p, x):
        layer = (L.SeparableConv2D if separable else L.DepthwiseConv2D)(**kwargs)
        k = p["depthwise_kernel" if separable else "kernel"]
        kh, kw, cin, mult = k.shape
        _, ((top, bottom), (left, right)) = C.spatial_plan(
            tuple(x.shape[1:]), layer.window, layer.strides, layer.padding
        )
        xp = tF.pad(x.permute(0, 3, 1, 2), (left, right, top, bottom))
        weight = k.reshape(kh, kw, 1, cin * mult).permute(3, 2, 0, 1)
        bias = None if separable else p.get("bias")
        z = tF.conv2d(
            xp, weight, bias, stride=layer.strides, dilation=layer.dilation_rate, groups=cin
        )
        if separable:
            z = tF.conv2d(z, p["pointwise_kernel"].permute(3, 2, 0, 1), p.get("bias"))
        return ACTIVATIONS[kwargs.get("activation")](z.permute(0, 2, 3, 1))

    return fn


CASES = [
    {"kernel_size": 3},
    {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2,
     "activation": "relu"},
    {"kernel_size": (2, 3), "dilation_rate": 2, "padding": "same", "use_bias": False},
    {"kernel_size": 2, "strides": (2, 1), "dilation_rate": (1, 2), "activation": "tanh"},
]  # fmt: skip
IDS = ["valid", "same-stride2-multiplier2", "dilated-nobias", "strided-and-dilated"]


@pytest.mark.parametrize("separable", [False, True], ids=["depthwise", "separable"])
@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_harness(kwargs, separable, tmp_path):
    cls = L.SeparableConv2D if separable else L.DepthwiseConv2D
    args = {"filters": 4, **kwargs} if separable else kwargs
    x = np.random.default_rng(5).standard_normal((2, 6, 5, 3)).astype(np.float32)
    fn = torch_depthwise(args, separable)
    check_layer(cls, args, x.shape, fn, x=x, tmp_path=tmp_path)


@pytest.mark.parametrize("separable", [False, True], ids=["depthwise", "separable"])
@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_matches_keras(kwargs, separable):
    keras = import_keras()
    name = "SeparableConv2D" if separable else "DepthwiseConv2D"
    args = {"filters": 4, **kwargs} if separable else kwargs
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 3)).astype(np.float32)
    check_layer_against_keras(getattr(L, name)(**args), getattr(keras.layers, name)(**args), x)


def mobile_block(lib, layers):
    """A MobileNet-style block: depthwise, pointwise, separable, pooled."""
    inputs = lib.Input((8, 8, 3), name="img")
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(inputs)
    x = layers.Conv2D(4, 1, activation="relu", name="pw")(x)
    x = layers.SeparableConv2D(5, 3, strides=2, activation="relu", name="sep")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return lib.Model(inputs, layers.Dense(2, name="out")(x), name="mobile")


def test_mobile_block_matches_keras_summary_predict_and_one_epoch():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    kmodel, model = mobile_block(keras, keras.layers), mobile_block(en, L)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 8, 8, 3)).astype(np.float32)
    y = rng.standard_normal((12, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", batch_size=4)


def layers_of(K):
    return [
        K.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        K.SeparableConv2D(4, (2, 3), strides=2, dilation_rate=1, use_bias=False),
        K.DepthwiseConv2D(2, dilation_rate=2, padding="same"),
        K.SeparableConv2D(3, 2, depth_multiplier=2, activation="tanh"),
    ]


def test_keras_files_both_ways(tmp_path):
    check_keras_files(layers_of, (7, 6, 2), tmp_path)


def test_exports(tmp_path):
    check_layers_export(layers_of, (7, 6, 2), tmp_path)


def test_regularizers_and_constraints_take_keras_names():
    layer = L.SeparableConv2D(
        2, 3, depthwise_regularizer="l2", pointwise_constraint="non_neg", bias_regularizer="l1"
    )
    assert set(layer.regularizers) == {"depthwise_kernel", "bias"}
    assert set(layer.constraints) == {"pointwise_kernel"}
    assert set(L.DepthwiseConv2D(3, depthwise_regularizer="l2").regularizers) == {"kernel"}


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"depth_multiplier must be"):
        L.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last'"):
        L.SeparableConv2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same'"):
        L.DepthwiseConv2D(3, padding="causal")
    with pytest.raises(TypeError, match=r"'kernel_regularizer'"):
        L.DepthwiseConv2D(3, kernel_regularizer="l2")
    with pytest.raises(ValueError, match=r"larger than its input images"):
        L.DepthwiseConv2D(5).build((4, 4, 1), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Add the channel axis"):
        L.SeparableConv2D(2, 3).build((4, 4), np.random.default_rng(0))
