"""RepeatVector, Permute, Cropping1D, Cropping2D, Identity and UnitNormalization against finite
differences, PyTorch, Keras 3.15.1, .keras files both ways and the exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engram.nn as en
from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.files_and_exports import check_keras_files, check_layers_export
from tests.nn.layers.keras_parity import check_layer_against_keras


def unit_norm(axes):
    def fn(p, x):
        norm = torch.sqrt(torch.sum(x * x, dim=axes, keepdim=True))
        return x / torch.clamp(norm, min=1e-12)

    return fn


CASES = [
    ("RepeatVector", {"n": 3}, (2, 4), lambda p, x: x.unsqueeze(1).expand(-1, 3, -1)),
    ("Permute", {"dims": (2, 1)}, (2, 5, 3), lambda p, x: x.permute(0, 2, 1)),
    ("Permute", {"dims": (3, 1, 2)}, (2, 4, 3, 2), lambda p, x: x.permute(0, 3, 1, 2)),
    ("Cropping1D", {"cropping": (1, 2)}, (2, 6, 3), lambda p, x: x[:, 1:4]),
    ("Cropping1D", {}, (2, 6, 3), lambda p, x: x[:, 1:5]),
    ("Cropping2D", {"cropping": ((1, 0), (2, 1))}, (2, 5, 6, 2), lambda p, x: x[:, 1:, 2:5]),
    ("Cropping2D", {"cropping": 1}, (2, 5, 6, 2), lambda p, x: x[:, 1:4, 1:5]),
    ("Cropping2D", {"cropping": (1, 2)}, (2, 5, 6, 2), lambda p, x: x[:, 1:4, 2:4]),
    ("Identity", {}, (2, 5), lambda p, x: x * 1.0),
    ("UnitNormalization", {}, (2, 5), unit_norm((1,))),
    ("UnitNormalization", {"axis": [1, 2]}, (2, 4, 3), unit_norm((1, 2))),
]
IDS = [
    "repeat", "permute-2d", "permute-3d", "crop1d", "crop1d-default", "crop2d-pairs",
    "crop2d-int", "crop2d-symmetric", "identity", "unitnorm", "unitnorm-axes",
]  # fmt: skip


@pytest.mark.parametrize(("cls", "kwargs", "shape", "fn"), CASES, ids=IDS)
def test_harness(cls, kwargs, shape, fn, tmp_path):
    # inputs from another generator than gradcheck's upstream gradient (both seed 0 by
    # default): with upstream = x, UnitNormalization's input gradient is exactly 0
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    check_layer(getattr(L, cls), kwargs, shape, fn, x=x, tmp_path=tmp_path)


@pytest.mark.parametrize(("cls", "kwargs", "shape", "fn"), CASES, ids=IDS)
def test_matches_keras(cls, kwargs, shape, fn):
    keras = import_keras()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    check_layer_against_keras(getattr(L, cls)(**kwargs), getattr(keras.layers, cls)(**kwargs), x)


def test_unit_normalization_of_zeros_is_zero_with_keras_floor():
    keras = import_keras()
    x = np.zeros((2, 3), np.float32)
    x[1] = [3e-13, 0, 4e-13]  # a norm below 1e-12: divided by 1e-12, as Keras does
    layer = L.UnitNormalization()
    theirs = keras.ops.convert_to_numpy(keras.layers.UnitNormalization()(x))
    np.testing.assert_allclose(layer(x), theirs, rtol=1e-6)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), np.full_like(x, 1e12), rtol=1e-6)


def sequence_model(lib, layers):
    return lib.Sequential(
        [
            lib.Input((6,)),
            layers.Dense(4, name="d1"),
            layers.RepeatVector(5, name="repeat"),
            layers.LSTM(3, return_sequences=True, name="lstm"),
            layers.Permute((2, 1), name="permute"),
            layers.Cropping1D((0, 1), name="crop"),
            layers.UnitNormalization(name="unit"),
            layers.Identity(name="identity"),
            layers.Flatten(name="flat"),
            layers.Dense(2, name="out"),
        ]
    )


def image_model(lib, layers):
    inputs = lib.Input((7, 6, 2), name="img")
    x = layers.Conv2D(3, 2, activation="tanh", name="conv")(inputs)
    x = layers.Cropping2D(((1, 0), (2, 1)), name="crop")(x)
    x = layers.UnitNormalization(axis=[1, 2], name="unit")(x)
    x = layers.Permute((3, 1, 2), name="permute")(x)
    outputs = layers.Dense(2, name="out")(layers.Flatten(name="flat")(x))
    return lib.Model(inputs, outputs, name="image")


@pytest.mark.parametrize(
    ("build", "shape"), [(sequence_model, (6,)), (image_model, (7, 6, 2))], ids=["seq", "img"]
)
def test_models_match_keras_summary_predict_and_one_epoch(build, shape):
    keras = import_keras()
    keras.utils.set_random_seed(0)
    kmodel, model = build(keras, keras.layers), build(en, L)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, *shape)).astype(np.float32)
    y = rng.standard_normal((12, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", batch_size=4)


FILE_FAMILIES = {
    "sequence": (
        (6,),
        lambda K: [
            K.Dense(4),
            K.RepeatVector(5),
            K.Permute((2, 1)),
            K.Cropping1D((1, 0)),
            K.UnitNormalization(axis=[1, 2]),
            K.Identity(),
        ],
    ),
    "image": (
        (7, 6, 2),
        lambda K: [K.Conv2D(3, 2), K.Cropping2D(((1, 0), (2, 1))), K.UnitNormalization()],
    ),
}


@pytest.mark.parametrize("family", sorted(FILE_FAMILIES))
def test_keras_files_both_ways(family, tmp_path):
    shape, make = FILE_FAMILIES[family]
    check_keras_files(make, shape, tmp_path)


@pytest.mark.parametrize("family", sorted(FILE_FAMILIES))
def test_exports(family, tmp_path):
    shape, make = FILE_FAMILIES[family]
    check_layers_export(make, shape, tmp_path)


def test_refusals_name_the_problem():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"n must be a positive int"):
        L.RepeatVector(0)
    with pytest.raises(TypeError, match=r"n must be an int"):
        L.RepeatVector(2.5)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, features\)"):
        L.RepeatVector(2).build((3, 4), rng)
    with pytest.raises(ValueError, match=r"dims must be a permutation of 1, 2"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match=r"expects inputs of shape 3-D"):
        L.Permute((2, 1)).build((3, 4, 5), rng)
    with pytest.raises(ValueError, match=r"must leave at least one of the input's 3 steps"):
        L.Cropping1D((2, 1)).build((3, 2), rng)
    with pytest.raises(ValueError, match=r"cropping must be a non-negative int"):
        L.Cropping1D(-1)
    with pytest.raises(ValueError, match=r"must leave at least one row and one column"):
        L.Cropping2D(((2, 2), (0, 0))).build((4, 4, 1), rng)
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last'"):
        L.Cropping2D(1, data_format="channels_first")
    with pytest.raises(ValueError, match=r"Add the channel axis"):
        L.Cropping2D(1).build((4, 4), rng)
    with pytest.raises(TypeError, match=r"axis must be an int or a list/tuple of ints"):
        L.UnitNormalization(axis="last")
    with pytest.raises(ValueError, match=r"axis 0 is the batch"):
        L.UnitNormalization(axis=0).build((3,), rng)
