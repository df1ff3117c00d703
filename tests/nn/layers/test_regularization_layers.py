"""GaussianNoise, GaussianDropout, SpatialDropout1D/2D and ActivityRegularization: the noise's
statistics and seeding, gradients with the noise held fixed, the identity at inference against
Keras 3.15.1, ActivityRegularization's loss through a Keras training epoch, files and exports."""

from __future__ import annotations

import numpy as np
import pytest

import engram.nn as en
from engram.nn import Sequential, gradcheck
from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import check_against_keras, import_keras
from tests.nn.layers.files_and_exports import built_model, check_exports, check_keras_files
from tests.nn.layers.keras_parity import check_layer_against_keras

NOISE = [
    ("GaussianNoise", {"stddev": 0.3}, (4, 6)),
    ("GaussianDropout", {"rate": 0.4}, (4, 6)),
    ("SpatialDropout1D", {"rate": 0.5}, (4, 5, 3)),
    ("SpatialDropout2D", {"rate": 0.5}, (4, 3, 3, 2)),
]
IDS = [c[0] for c in NOISE]


@pytest.mark.parametrize(("cls", "kwargs", "shape"), NOISE, ids=IDS)
def test_inference_is_the_identity_in_the_harness_and_in_keras(cls, kwargs, shape, tmp_path):
    check_layer(getattr(L, cls), kwargs, shape, lambda p, x: x * 1.0, tmp_path=tmp_path)
    keras = import_keras()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    check_layer_against_keras(getattr(L, cls)(**kwargs), getattr(keras.layers, cls)(**kwargs), x)


@pytest.mark.parametrize(("cls", "kwargs", "shape"), NOISE, ids=IDS)
def test_gradcheck_in_training_holds_the_noise_fixed(cls, kwargs, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    report = gradcheck(getattr(L, cls)(**kwargs, seed=1), x, training=True, seed=3)
    assert report.passed, str(report)


@pytest.mark.parametrize(("cls", "kwargs", "shape"), NOISE, ids=IDS)
def test_seeded_noise_is_reproducible_and_the_model_seed_reaches_it(cls, kwargs, shape):
    x = np.ones(shape, np.float32)
    a = getattr(L, cls)(**kwargs, seed=3)(x, training=True)
    b = getattr(L, cls)(**kwargs, seed=3)(x, training=True)
    c = getattr(L, cls)(**kwargs, seed=4)(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)

    def model_output(seed):
        model = Sequential([getattr(L, cls)(**kwargs)], seed=seed)
        model.build((None, *shape[1:]))
        return model(x, training=True)

    np.testing.assert_array_equal(model_output(1), model_output(1))
    assert not np.array_equal(model_output(1), model_output(2))


def test_gaussian_noise_statistics():
    x = np.full((500, 400), 2.0, np.float32)
    y = L.GaussianNoise(0.5, seed=0)(x, training=True)
    assert y.dtype == np.float32
    assert abs(y.mean() - 2.0) < 0.01 and abs(y.std() - 0.5) < 0.01


def test_gaussian_dropout_statistics_and_backward():
    layer = L.GaussianDropout(0.2, seed=0)
    x = np.full((500, 400), 3.0, np.float32)
    y = layer(x, training=True)
    noise = y / 3.0  # mean 1, std sqrt(rate / (1 - rate)) = 0.5
    assert abs(noise.mean() - 1.0) < 0.01 and abs(noise.std() - 0.5) < 0.01
    np.testing.assert_allclose(layer.backward(np.ones_like(y)), noise, rtol=1e-6)


@pytest.mark.parametrize("cls", ["SpatialDropout1D", "SpatialDropout2D"])
def test_spatial_dropout_drops_whole_channels(cls):
    shape = (300, 4, 20) if cls == "SpatialDropout1D" else (300, 3, 4, 20)
    y = getattr(L, cls)(0.3, seed=0)(np.ones(shape, np.float32), training=True)
    flat = y.reshape(shape[0], -1, shape[-1])
    assert (flat == flat[:, :1]).all()  # one value per (sample, channel)
    np.testing.assert_allclose(np.unique(flat), [0, 1 / 0.7], rtol=1e-6)
    assert abs((flat[:, 0] == 0).mean() - 0.3) < 0.02


def regularized_model(lib, layers):
    return lib.Sequential(
        [
            lib.Input((5,)),
            layers.Dense(4, activation="tanh", name="d1"),
            layers.ActivityRegularization(l1=0.01, l2=0.05, name="act_reg"),
            layers.GaussianNoise(0.0, name="noise"),
            layers.Dense(2, name="out"),
        ]
    )


def spatial_model(lib, layers):
    """Rate 0 (no noise, in both libraries): the summary rows and training are comparable."""
    inputs = lib.Input((6, 5, 2), name="img")
    x = layers.Conv2D(3, 2, name="conv")(inputs)
    x = layers.SpatialDropout2D(0.0, name="sd2")(x)
    x = layers.Reshape((5, 12), name="reshape")(x)
    x = layers.SpatialDropout1D(0.0, name="sd1")(x)
    x = layers.GaussianDropout(0.0, name="gd")(layers.Flatten(name="flat")(x))
    return lib.Model(inputs, layers.Dense(2, name="out")(x), name="spatial")


def test_noise_layers_in_a_model_match_keras_summary_and_one_epoch_at_rate_zero():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    kmodel, model = spatial_model(keras, keras.layers), spatial_model(en, L)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 6, 5, 2)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", batch_size=4)


def test_activity_regularization_matches_keras_loss_and_one_epoch():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    kmodel, model = regularized_model(keras, keras.layers), regularized_model(en, L)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 5)).astype(np.float32)
    y = rng.standard_normal((12, 2)).astype(np.float32)
    check_against_keras(model, kmodel, x, y, loss="mse", batch_size=4)
    plain = L.ActivityRegularization(l1=0.01, l2=0.05)
    assert plain.get_config()["l2"] == 0.05 and "activity_regularizer" not in plain.get_config()


FILE_FAMILIES = {
    "dense": (
        (5,),
        lambda K: [
            K.Dense(4),
            K.GaussianNoise(0.2, seed=3),
            K.GaussianDropout(0.3),
            K.ActivityRegularization(l1=0.01),
            K.Dense(3),
        ],
    ),
    "sequence": ((6, 3), lambda K: [K.Conv1D(4, 2), K.SpatialDropout1D(0.4), K.Flatten()]),
    "image": ((5, 5, 2), lambda K: [K.Conv2D(3, 2), K.SpatialDropout2D(0.5), K.Flatten()]),
}


@pytest.mark.parametrize("family", sorted(FILE_FAMILIES))
def test_keras_files_both_ways(family, tmp_path):
    shape, make = FILE_FAMILIES[family]
    check_keras_files(make, shape, tmp_path)


@pytest.mark.parametrize("family", sorted(FILE_FAMILIES))
def test_exports_run_the_identity_and_torch_trains_with_noise(family, tmp_path):
    torch = pytest.importorskip("torch")
    from engram.nn.export import to_torch

    shape, make = FILE_FAMILIES[family]
    model = built_model(make(L), shape)
    x = np.random.default_rng(5).standard_normal((3, *shape)).astype(np.float32)
    check_exports(model, x, tmp_path)
    module = to_torch(model).train()  # in training mode the noise is drawn, as in Keras
    with torch.no_grad():
        noisy = module(torch.from_numpy(x)).numpy()
    assert not np.allclose(noisy, model.predict(x), atol=1e-3)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"stddev must be a number between 0 and 1"):
        L.GaussianNoise(1.5)
    with pytest.raises(ValueError, match=r"rate must be below 1"):
        L.GaussianDropout(1.0)
    with pytest.raises(ValueError, match=r"rate must be a number between 0 and 1"):
        L.GaussianDropout(-0.1)
    with pytest.raises(ValueError, match=r"expects 3-D inputs"):
        L.SpatialDropout1D(0.5).build((4, 4, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last'"):
        L.SpatialDropout2D(0.5, data_format="channels_first")
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'noise_shape'"):
        L.SpatialDropout1D(0.5, noise_shape=(None, 1, 3))
    with pytest.raises(TypeError, match=r"takes l1 and l2, not activity_regularizer"):
        L.ActivityRegularization(activity_regularizer="l2")
