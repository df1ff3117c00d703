"""Conv1D, MaxPooling1D and AveragePooling1D against finite differences, PyTorch and Keras."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import layers as L
from engram.nn.layers.conv1d import sequence_plan
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.keras_parity import check_layer_against_keras

ACTIVATIONS = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh}


def torch_conv1d(kwargs):
    """The same convolution in PyTorch (NCL), padded as `sequence_plan` says."""
    k, s = kwargs["kernel_size"], kwargs.get("strides", 1)
    d, padding = kwargs.get("dilation_rate", 1), kwargs.get("padding", "valid")

    def fn(p, x):
        _, before, after = sequence_plan(x.shape[1], k, s, d, padding)
        xp = tF.pad(x.permute(0, 2, 1), (before, after))
        z = tF.conv1d(xp, p["kernel"].permute(2, 1, 0), p.get("bias"), stride=s, dilation=d)
        return ACTIVATIONS[kwargs.get("activation")](z.permute(0, 2, 1))

    return fn


CONV_CASES = [
    {"filters": 4, "kernel_size": 3},
    {"filters": 3, "kernel_size": 4, "strides": 3, "padding": "same", "activation": "relu"},
    {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "activation": "tanh"},
    {"filters": 2, "kernel_size": 2, "padding": "same", "dilation_rate": 3, "use_bias": False},
    {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "causal"},
]
IDS = ["valid", "same-stride3-relu", "causal-dilated-tanh", "same-dilated-nobias", "causal-stride2"]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=IDS)
def test_conv1d_harness(kwargs, tmp_path):
    check_layer(L.Conv1D, kwargs, (2, 11, 3), torch_conv1d(kwargs), tmp_path=tmp_path)


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=IDS)
def test_conv1d_matches_keras(kwargs):
    keras = import_keras()
    x = np.random.default_rng(1).standard_normal((2, 11, 3)).astype(np.float32)
    check_layer_against_keras(L.Conv1D(**kwargs), keras.layers.Conv1D(**kwargs), x)


def test_causal_outputs_never_see_later_steps():
    layer = L.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = np.random.default_rng(2).standard_normal((1, 12, 2)).astype(np.float32)
    y = layer(x)
    later = x.copy()
    later[:, 7:] += 5.0  # change steps 7..11 only
    np.testing.assert_array_equal(layer(later)[:, :7], y[:, :7])


POOL_CASES = [
    {"pool_size": 2},
    {"pool_size": 3, "strides": 2},
    {"pool_size": 3, "strides": 2, "padding": "same"},
    {"pool_size": 3, "strides": 1, "padding": "same"},
]


def distinct(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01).astype(np.float32)


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("kwargs", POOL_CASES, ids=["2", "3-stride2", "3-stride2-same", "3-same"])
def test_pooling1d_harness_and_keras(cls, kwargs, tmp_path):
    x = distinct((2, 11, 3))
    pad = kwargs.get("padding") == "same"
    p, s = kwargs["pool_size"], kwargs.get("strides", kwargs["pool_size"])

    def fn(params, t):
        t = t.permute(0, 2, 1)
        _, before, after = sequence_plan(t.shape[2], p, s, 1, kwargs.get("padding", "valid"))
        if cls == "MaxPooling1D":
            y = tF.max_pool1d(tF.pad(t, (before, after), value=-float("inf")), p, s)
        else:  # only real steps counted: the window sums over the window counts
            ones = torch.ones_like(t[:1, :1])
            sums = tF.avg_pool1d(tF.pad(t, (before, after)), p, s) * p
            y = sums / (tF.avg_pool1d(tF.pad(ones, (before, after)), p, s) * p)
        return y.permute(0, 2, 1)

    check_layer(getattr(L, cls), kwargs, x.shape, fn, x=x, tmp_path=tmp_path)
    if cls == "AveragePooling1D" and pad and p == 3 and s == 2:
        return  # an odd total padding: Keras's torch backend repeats the edge (see the docstring)
    keras = import_keras()
    ours, theirs = getattr(L, cls)(**kwargs), getattr(keras.layers, cls)(**kwargs)
    check_layer_against_keras(ours, theirs, x)


def test_average_pooling1d_counts_only_real_steps():
    y = L.AveragePooling1D(3, strides=1, padding="same")(np.ones((1, 4, 1), np.float32))
    np.testing.assert_array_equal(y, np.ones((1, 4, 1)))


def test_sequence_model_matches_keras_summary_predict_and_one_epoch():
    keras = import_keras()
    keras.utils.set_random_seed(3)

    def build(lib, layers):
        return lib.Sequential(
            [
                lib.Input((16, 2)),
                layers.Conv1D(
                    4, 3, padding="causal", dilation_rate=2, activation="relu", name="c1"
                ),
                layers.MaxPooling1D(2, name="mp"),
                layers.Conv1D(3, 3, strides=2, padding="same", name="c2"),
                layers.AveragePooling1D(2, name="ap"),
                layers.Flatten(name="flat"),
                layers.Dense(1, name="out"),
            ]
        )

    import engram.nn as en

    kmodel, model = build(keras, keras.layers), build(en, L)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 16, 2)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", metrics=["mae"])


# ------------------------------------------------------------------------------ bad input
def test_conv1d_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"strides > 1 is not supported together with dilation"):
        L.Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"padding must be 'valid', 'same' or 'causal'"):
        L.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"kernel_size must be a positive int"):
        L.Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match=r"groups must be 1"):
        L.Conv1D(2, 3, groups=2)
    with pytest.raises(ValueError, match=r"window spans 5 steps .* padding='valid'"):
        L.Conv1D(2, 3, dilation_rate=2).build((4, 1), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects sequences .* Add the channel axis"):
        L.Conv1D(2, 3).build((10,), np.random.default_rng(0))


def test_pooling1d_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"pool_size 4 is larger than its input's 3 steps"):
        L.MaxPooling1D(4).build((3, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same'"):
        L.AveragePooling1D(2, padding="causal")
