"""LayerNormalization and Normalization (with adapt) against finite differences, PyTorch and
Keras 3.15.1 itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engram.nn import Input, Sequential, gradcheck
from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.keras_parity import check_layer_against_keras


def torch_layer_norm(axes, epsilon=1e-3, center=True, scale=True):
    def fn(p, x):
        dims = [a % x.ndim for a in axes]
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=False)
        y = (x - mean) / torch.sqrt(var + epsilon)
        shape = [x.shape[d] if d in dims else 1 for d in range(x.ndim)]
        if scale:
            y = y * p["gamma"].reshape(shape)
        if center:
            y = y + p["beta"].reshape(shape)
        return y

    return fn


LN_CASES = [
    ((4, 6), {}),
    ((2, 3, 5), {"epsilon": 1e-5}),
    ((2, 3, 4, 5), {"axis": [1, 2, 3]}),
    ((2, 3, 4, 5), {"axis": [-3, -1]}),
    ((3, 5), {"center": False}),
    ((3, 5), {"scale": False}),
    ((2, 3, 4), {"axis": 1}),
]
LN_IDS = ["dense", "sequence-eps", "image-all", "image-two-axes", "no-center", "no-scale", "axis1"]


@pytest.mark.parametrize(("shape", "kwargs"), LN_CASES, ids=LN_IDS)
def test_layer_normalization_harness(shape, kwargs, tmp_path):
    axis = kwargs.get("axis", -1)
    fn = torch_layer_norm(
        axis if isinstance(axis, list) else [axis],
        kwargs.get("epsilon", 1e-3),
        kwargs.get("center", True),
        kwargs.get("scale", True),
    )
    # not seed 0: gradcheck's upstream gradient is drawn with seed 0 too, and an upstream
    # gradient along x - mean is one that layer normalization projects out (grad_x ~ 0)
    x = (np.random.default_rng(5).standard_normal(shape) * 2 + 1).astype(np.float32)
    check_layer(L.LayerNormalization, kwargs, shape, fn, x=x, tmp_path=tmp_path)
    x64 = np.random.default_rng(1).standard_normal(shape) * 3 - 2
    assert gradcheck(L.LayerNormalization(**kwargs), x64, seed=2).passed


# axis=1 of a 3-D input is left out: Keras's torch backend hands it to F.layer_norm, which
# normalizes trailing axes only, and fails ("expected input with shape [*, 3]")
@pytest.mark.parametrize(("shape", "kwargs"), LN_CASES[:-1], ids=LN_IDS[:-1])
def test_layer_normalization_matches_keras(shape, kwargs):
    keras = import_keras()
    rng = np.random.default_rng(1)
    theirs = keras.layers.LayerNormalization(**kwargs)
    theirs.build(shape)
    theirs.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in theirs.weights])
    x = (rng.standard_normal(shape) * 3 - 1).astype(np.float32)
    check_layer_against_keras(L.LayerNormalization(**kwargs), theirs, x)


NORM_CASES = [
    ((40, 6), {}),
    ((20, 3, 5), {}),
    ((10, 3, 4, 5), {"axis": [1, 3]}),
    ((10, 3, 4), {"axis": None}),
    ((10, 3, 4), {"invert": True}),
]
NORM_IDS = ["features", "sequence", "image-two-axes", "axis-none", "invert"]


@pytest.mark.parametrize(("shape", "kwargs"), NORM_CASES, ids=NORM_IDS)
def test_normalization_adapt_and_outputs_match_keras(shape, kwargs):
    keras = import_keras()
    x = (np.random.default_rng(2).standard_normal(shape) * 3 + 2).astype(np.float32)
    theirs = keras.layers.Normalization(**kwargs)
    theirs.adapt(x)
    ours = L.Normalization(**kwargs)
    ours.adapt(x)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert a.dtype == np.asarray(b).dtype and a.shape == np.asarray(b).shape
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6, atol=1e-6)
    check_layer_against_keras(L.Normalization(**kwargs), theirs, x)


def test_adapt_on_batches_equals_adapt_on_the_whole_array():
    x = (np.random.default_rng(3).standard_normal((50, 4)) * [1, 2, 3, 4] + [0, 1, 2, 3]).astype(
        np.float32
    )
    whole, batched = L.Normalization(), L.Normalization()
    whole.adapt(x)
    batched.adapt(x[i : i + 7] for i in range(0, 50, 7))  # a generator of uneven batches
    for a, b in zip(batched.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.mean, x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(whole.variance, x.var(axis=0), rtol=1e-5)  # biased, as Keras


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 0.25]}, {"mean": 2.0, "variance": 9.0,
     "invert": True}],
    ids=["adapt-state", "fixed", "fixed-scalar-invert"],
)  # fmt: skip
def test_normalization_harness(kwargs, tmp_path):
    mean = torch.tensor(np.broadcast_to(kwargs.get("mean", 0.0), 3).astype(np.float32))
    std = torch.tensor(np.sqrt(np.broadcast_to(kwargs.get("variance", 1.0), 3)).astype(np.float32))

    def fn(p, x):
        return mean + x * std if kwargs.get("invert") else (x - mean) / std

    check_layer(L.Normalization, kwargs, (4, 5, 3), fn, tmp_path=tmp_path)


def test_adapted_normalization_saves_and_loads_with_keras_weight_shapes(tmp_path):
    from engram.nn import load_model

    layer = L.Normalization()
    layer.adapt(np.arange(12, dtype=np.float32).reshape(4, 3))
    model = Sequential([Input((3,)), layer])
    model.save(tmp_path / "norm.engram")
    loaded = load_model(tmp_path / "norm.engram")
    shapes = [w.shape for w in loaded.get_weights()]
    assert shapes == [(3,), (3,), ()]  # mean, variance, count (a scalar, as in Keras)
    assert loaded.get_weights()[2].dtype == np.int32
    np.testing.assert_array_equal(loaded.get_weights()[0], [4.5, 5.5, 6.5])


def test_zero_variance_divides_by_keras_floor_not_by_zero():
    layer = L.Normalization()
    layer.adapt(np.ones((4, 2), np.float32))
    y = layer(np.full((1, 2), 1.5, np.float32))
    np.testing.assert_allclose(y, 0.5 / 1e-7, rtol=1e-6)


def test_regression_model_with_normalization_matches_keras():
    """The TensorFlow basic-regression tutorial's shape: Normalization adapted on the data,
    then Dense(64, relu) x 2 and Dense(1); 19 non-trainable parameters for 9 features."""
    keras = import_keras()
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((32, 9)) * rng.uniform(1, 50, 9) + rng.uniform(-5, 5, 9)).astype(
        np.float32
    )
    y = (x @ rng.standard_normal((9, 1)) * 0.01).astype(np.float32)

    def build(lib, layers):
        norm = layers.Normalization(axis=-1, name="norm")
        norm.adapt(x)
        return lib.Sequential(
            [
                lib.Input((9,)),
                norm,
                layers.Dense(8, activation="relu", name="h1"),
                layers.Dense(1, name="out"),
            ]
        )

    import engram.nn as en

    kmodel, model = build(keras, keras.layers), build(en, L)
    assert model.count_params() == kmodel.count_params() == 19 + 80 + 9
    check_against_keras(model, kmodel, x, y, loss="mse", metrics=["mae"], learning_rate=0.01)
    lines = []
    model.summary(print_fn=lines.append)
    assert " Non-trainable params: 19 (76.00 B)" in lines


def test_layer_normalization_in_a_model_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(6)

    def build(lib, layers):
        return lib.Sequential(
            [
                lib.Input((5, 4)),
                layers.Dense(6, name="proj"),
                layers.LayerNormalization(name="ln"),
                layers.Flatten(name="flat"),
                layers.Dense(2, name="out"),
            ]
        )

    import engram.nn as en

    kmodel, model = build(keras, keras.layers), build(en, L)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 5, 4)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse")


# ------------------------------------------------------------------------------ bad input
def test_layer_normalization_refusals():
    with pytest.raises(
        ValueError, match=r"axis=0 must name axes of one sample.*axis 0 is the batch"
    ):
        L.LayerNormalization(axis=0).build((3,), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"axis=3 must name axes of one sample, between 1 and 2"):
        L.LayerNormalization(axis=3).build((3, 4), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"axis must be an int or a list of ints"):
        L.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match=r"rms_scaling=True\) is not supported"):
        L.LayerNormalization(rms_scaling=True)


def test_normalization_refusals():
    with pytest.raises(ValueError, match=r"needs both mean and variance, or neither"):
        L.Normalization(mean=1.0)
    with pytest.raises(ValueError, match=r"mean and variance must have the same shape"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match=r"mean of shape \(2,\) does not fit the kept axes"):
        Sequential([Input((3,)), L.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])])
    layer = L.Normalization()
    layer.adapt(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 3\), but adapt"):
        layer.adapt(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"received no data"):
        L.Normalization().adapt([])
    with pytest.raises(TypeError, match=r"adapt\(\) expects a NumPy array"):
        L.Normalization().adapt(3.0)
    fixed = L.Normalization(mean=0.0, variance=1.0)
    with pytest.raises(ValueError, match=r"was given mean and variance; adapt\(\) would"):
        fixed.adapt(np.zeros((2, 2), np.float32))
