"""Rescaling, ZeroPadding2D, UpSampling2D and the global max/average pooling layers, against
finite differences, PyTorch and Keras 3.15.1 itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import Input, Sequential
from engram.nn import layers as L
from engram.nn.layers.spatial import bilinear_matrix
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.keras_parity import check_layer_against_keras


def nchw(fn):
    return lambda p, x: fn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def distinct(shape, seed=0):
    """Values with no ties, so a maximum is unique and finite differences stay on one side."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01).astype(np.float32)


# ------------------------------------------------------------------------------ harness
@pytest.mark.parametrize(
    ("kwargs", "fn"),
    [
        ({"scale": 1 / 255}, lambda p, x: x / 255),
        ({"scale": 2.0, "offset": -1.0}, lambda p, x: x * 2 - 1),
        ({"scale": [1.0, 0.5, 2.0], "offset": [0.0, 1.0, -1.0]},
         lambda p, x: x * torch.tensor([1.0, 0.5, 2.0]) + torch.tensor([0.0, 1.0, -1.0])),
    ],
    ids=["scale", "scale-offset", "per-channel"],
)  # fmt: skip
def test_rescaling_harness(kwargs, fn, tmp_path):
    check_layer(L.Rescaling, kwargs, (2, 4, 5, 3), fn, tmp_path=tmp_path)


@pytest.mark.parametrize(
    ("padding", "torch_pad"),
    [(1, (0, 0, 1, 1, 1, 1)), ((2, 1), (0, 0, 1, 1, 2, 2)), (((1, 0), (2, 3)), (0, 0, 2, 3, 1, 0))],
    ids=["int", "pair", "pairs"],
)
def test_zero_padding_harness(padding, torch_pad, tmp_path):
    check_layer(
        L.ZeroPadding2D, {"padding": padding}, (2, 3, 4, 2),
        lambda p, x: tF.pad(x, torch_pad), tmp_path=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [2, (3, 2)])
def test_up_sampling_harness(size, interpolation, tmp_path):
    factor = (size, size) if isinstance(size, int) else size

    def fn(x):
        kwargs = {"align_corners": False} if interpolation == "bilinear" else {}
        return tF.interpolate(x, scale_factor=factor, mode=interpolation, **kwargs)

    kwargs = {"size": size, "interpolation": interpolation}
    check_layer(L.UpSampling2D, kwargs, (2, 3, 4, 2), nchw(fn), tmp_path=tmp_path)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(
    ("cls", "shape", "reduce"),
    [
        (L.GlobalMaxPooling2D, (3, 4, 5, 2), lambda x, k: x.amax(dim=(1, 2), keepdim=k)),
        (L.GlobalMaxPooling1D, (3, 6, 4), lambda x, k: x.amax(dim=1, keepdim=k)),
        (L.GlobalAveragePooling1D, (3, 6, 4), lambda x, k: x.mean(dim=1, keepdim=k)),
    ],
    ids=["max2d", "max1d", "avg1d"],
)
def test_global_pooling_harness(cls, shape, reduce, keepdims, tmp_path):
    x = distinct(shape)
    fn = lambda p, t: reduce(t, keepdims)  # noqa: E731
    check_layer(cls, {"keepdims": keepdims}, shape, fn, x=x, tmp_path=tmp_path)


def test_bilinear_matrix_rows_sum_to_one_and_interpolate_a_ramp():
    a = bilinear_matrix(4, 3, np.float64)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    ramp = a @ np.arange(4.0)  # inside the image, a ramp stays a ramp at half-pixel centres
    np.testing.assert_allclose(ramp[2:-2], (np.arange(2, 10) + 0.5) / 3 - 0.5)


def test_rescaling_casts_uint8_images_to_float32():
    y = L.Rescaling(1 / 255)(np.full((1, 2, 2, 1), 255, dtype=np.uint8))
    assert y.dtype == np.float32 and np.allclose(y, 1.0)


# ------------------------------------------------------------------------------ Keras itself
KERAS_CASES = {
    "rescaling": (lambda K: K.Rescaling(1 / 255, offset=-0.5), (2, 4, 5, 3)),
    "rescaling-per-channel": (lambda K: K.Rescaling([1.0, 2.0, 0.5], offset=[0.0, 1.0, 2.0]),
                              (2, 4, 3)),
    "zero-padding": (lambda K: K.ZeroPadding2D(((1, 0), (2, 3))), (2, 3, 4, 2)),
    "up-sampling-nearest": (lambda K: K.UpSampling2D((2, 3)), (2, 3, 4, 2)),
    "up-sampling-bilinear": (lambda K: K.UpSampling2D(3, interpolation="bilinear"), (2, 5, 4, 2)),
    "global-max-2d": (lambda K: K.GlobalMaxPooling2D(), (2, 3, 4, 5)),
    "global-max-2d-keepdims": (lambda K: K.GlobalMaxPooling2D(keepdims=True), (2, 3, 4, 5)),
    "global-max-1d": (lambda K: K.GlobalMaxPooling1D(), (2, 7, 3)),
    "global-max-1d-keepdims": (lambda K: K.GlobalMaxPooling1D(keepdims=True), (2, 7, 3)),
    "global-avg-1d": (lambda K: K.GlobalAveragePooling1D(), (2, 7, 3)),
    "global-avg-1d-keepdims": (lambda K: K.GlobalAveragePooling1D(keepdims=True), (2, 7, 3)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_layer_matches_keras(case):
    keras = import_keras()
    make, shape = KERAS_CASES[case]
    theirs = make(keras.layers)
    ours = getattr(L, type(theirs).__name__).from_config(
        {k: v for k, v in theirs.get_config().items() if k not in ("dtype", "trainable")}
    )
    check_layer_against_keras(ours, theirs, distinct(shape))


def test_image_model_matches_keras_summary_predict_and_one_epoch():
    keras = import_keras()
    keras.utils.set_random_seed(1)

    def build(lib, layers):
        return lib.Sequential(
            [
                lib.Input((6, 6, 3)),
                layers.Rescaling(0.5, offset=0.1, name="scaled"),
                layers.ZeroPadding2D(1, name="padded"),
                layers.Conv2D(4, 3, activation="relu", name="conv"),
                layers.UpSampling2D(2, interpolation="bilinear", name="up"),
                layers.GlobalMaxPooling2D(name="pool"),
                layers.Dense(2, name="out"),
            ]
        )

    import engram.nn as en

    kmodel, model = build(keras, keras.layers), build(en, L)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6, 6, 3)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", metrics=["mae"])


def test_sequence_model_matches_keras_summary_predict_and_one_epoch():
    keras = import_keras()
    keras.utils.set_random_seed(2)

    def build(lib, layers):  # a Sequential: Keras's functional summary truncates long names
        return lib.Sequential(
            [
                lib.Input((7, 3)),
                layers.Dense(4, name="proj"),
                layers.GlobalMaxPooling1D(keepdims=True, name="max"),
                layers.GlobalAveragePooling1D(name="avg"),
                layers.Dense(1, name="out"),
            ]
        )

    import engram.nn as en

    kmodel, model = build(keras, keras.layers), build(en, L)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 7, 3)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse")


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cls", [L.ZeroPadding2D, L.UpSampling2D, L.GlobalMaxPooling2D])
def test_image_layers_say_add_the_channel_axis(cls):
    with pytest.raises(ValueError, match=r"Add the channel axis: x = x\[\.\.\., None\]"):
        cls().build((28, 28), np.random.default_rng(0))


@pytest.mark.parametrize("cls", [L.GlobalMaxPooling1D, L.GlobalAveragePooling1D])
def test_sequence_layers_say_add_the_channel_axis(cls):
    with pytest.raises(ValueError, match=r"expects sequences .* Add the channel axis"):
        cls().build((28,), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(3-D\), but received shape \(None, 4, 4, 1\)"):
        cls().build((4, 4, 1), np.random.default_rng(0))


def test_up_sampling_refuses_other_interpolations_by_name():
    with pytest.raises(ValueError, match=r"'bicubic'.*not implemented"):
        L.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="size must be a positive int"):
        L.UpSampling2D(size=0)


@pytest.mark.parametrize("padding", [-1, (1, 2, 3), ((1, 2), 3.5), "same"])
def test_zero_padding_refuses_bad_padding(padding):
    with pytest.raises(ValueError, match=r"padding must be a non-negative int, a pair"):
        L.ZeroPadding2D(padding)


def test_rescaling_refuses_non_numbers_and_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"scale must be a finite number"):
        L.Rescaling("1/255")
    with pytest.raises(ValueError, match=r"offset must be a finite number"):
        L.Rescaling(1.0, offset=float("nan"))
    with pytest.raises(ValueError, match=r"scale of shape \(2,\) does not broadcast to inputs"):
        Sequential([Input((4, 4, 3)), L.Rescaling([1.0, 2.0])])
