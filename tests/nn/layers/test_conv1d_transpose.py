"""Conv1DTranspose against finite differences, PyTorch, Keras 3.15.1, .keras files and exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import import_keras
from tests.nn.layers.files_and_exports import check_keras_files, check_layers_export
from tests.nn.layers.keras_parity import check_layer_against_keras

ACTIVATIONS = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh}


def torch_conv1d_transpose(kwargs):
    """PyTorch's conv_transpose1d over the full sequence, then the layer's window of it."""

    def fn(p, x):
        layer = L.Conv1DTranspose(**kwargs)
        (_, steps), (_, start), (_, full) = layer.conv.crop_plan((1, x.shape[1]))
        z = tF.conv_transpose1d(
            x.permute(0, 2, 1),
            p["kernel"].permute(2, 1, 0),
            stride=layer.strides,
            dilation=layer.dilation_rate,
        )
        z = tF.pad(z, (-start, start + steps - full))
        if "bias" in p:
            z = z + p["bias"][:, None]
        return ACTIVATIONS[kwargs.get("activation")](z.permute(0, 2, 1))

    return fn


CASES = [
    {"filters": 3, "kernel_size": 3},
    {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
    {"filters": 2, "kernel_size": 2, "strides": 3, "output_padding": 1},
    {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "use_bias": False},
    {"filters": 3, "kernel_size": 4, "strides": 2, "activation": "tanh"},
]
IDS = ["valid", "same-stride2-relu", "output-padding", "dilated", "stride2-valid"]


@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_conv1d_transpose_harness(kwargs, tmp_path):
    x = np.random.default_rng(5).standard_normal((2, 5, 3)).astype(np.float32)
    check_layer(
        L.Conv1DTranspose, kwargs, x.shape, torch_conv1d_transpose(kwargs), x=x, tmp_path=tmp_path
    )


@pytest.mark.parametrize("kwargs", CASES, ids=IDS)
def test_conv1d_transpose_matches_keras(kwargs):
    keras = import_keras()
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    theirs = keras.layers.Conv1DTranspose(**kwargs)
    ours = check_layer_against_keras(L.Conv1DTranspose(**kwargs), theirs, x)
    assert ours.params["kernel"].shape == (kwargs["kernel_size"], kwargs["filters"], 3)


def layers_of(K):
    return [
        K.Conv1DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        K.Conv1DTranspose(2, 2, strides=3, output_padding=1),
        K.Conv1DTranspose(2, 3, dilation_rate=2, use_bias=False),
    ]


def test_conv1d_transpose_keras_files_both_ways(tmp_path):
    check_keras_files(layers_of, (5, 2), tmp_path)


def test_conv1d_transpose_exports(tmp_path):
    check_layers_export(layers_of, (5, 2), tmp_path)


def test_conv1d_transpose_refusals_name_the_problem():
    # 1-D numbers, not the inner Conv2DTranspose's pairs ("(0, 2)", "(1, 2)")
    with pytest.raises(
        ValueError, match=r"less than strides. Received: output_padding=2, strides=2\. Lower"
    ):
        L.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"a non-negative int. Got -1\."):
        L.Conv1DTranspose(2, 3, strides=2, output_padding=-1)
    with pytest.raises(ValueError, match=r"strides > 1 together with dilation_rate > 1"):
        L.Conv1DTranspose(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last'"):
        L.Conv1DTranspose(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match=r"kernel_size must be a positive int"):
        L.Conv1DTranspose(2, (3, 3))
    with pytest.raises(ValueError, match=r"expects sequences .* Add the channel axis"):
        L.Conv1DTranspose(2, 3).build((10,), np.random.default_rng(0))
