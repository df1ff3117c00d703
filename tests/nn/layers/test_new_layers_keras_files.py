"""Keras-written .keras files holding the new layers (Rescaling, ZeroPadding2D, UpSampling2D,
Conv1D, 1-D and global pooling, LayerNormalization, Normalization) load in engram with Keras's
outputs, and engram's own model files round-trip them."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import layers as L
from engram.nn.models import load_model
from tests.nn.keras_reference import import_keras

# family -> (input shape, the same layers built from Keras's or engram's layer module)
FAMILIES = {
    "image": (
        (6, 5, 3),
        lambda K: [
            K.Rescaling(1 / 4, offset=-0.5),
            K.ZeroPadding2D(((1, 0), (2, 1))),
            K.Conv2D(2, 3),
            K.UpSampling2D((2, 1), interpolation="bilinear"),
            K.UpSampling2D(2),
            K.GlobalMaxPooling2D(),
        ],
    ),
    "sequence": (
        (9, 3),
        lambda K: [K.Dense(4), K.GlobalMaxPooling1D(keepdims=True), K.GlobalAveragePooling1D()],
    ),
    "conv1d": (
        (12, 2),
        lambda K: [
            K.Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh"),
            K.MaxPooling1D(2),
            K.Conv1D(4, 2, strides=2, padding="same", use_bias=False),
            K.AveragePooling1D(3, strides=1),
            K.GlobalMaxPooling1D(),
        ],
    ),
    "normalization": (
        (5, 4),
        lambda K: [
            K.Normalization(),
            K.Normalization(axis=None, mean=1.5, variance=4.0, invert=True),
            K.LayerNormalization(),
            K.Dense(3),
            K.LayerNormalization(axis=[-2, -1], epsilon=1e-5, center=False),
        ],
    ),
}


def keras_model(keras, family):
    shape, make = FAMILIES[family]
    model = keras.Sequential([keras.Input(shape), *make(keras.layers)])
    rng = np.random.default_rng(1)
    weights = []
    for w in model.get_weights():  # random, but a variance stays positive and a count an int
        value = np.abs(rng.standard_normal(w.shape)) + 0.5
        weights.append(value.astype(np.asarray(w).dtype))
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_written_file_loads_with_the_same_outputs(tmp_path, family):
    keras = import_keras()
    pytest.importorskip("h5py")
    theirs = keras_model(keras, family)
    theirs.save(tmp_path / "model.keras")
    ours = load_model(tmp_path / "model.keras")
    x = np.random.default_rng(0).standard_normal((5, *FAMILIES[family][0])).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    assert expected.std() > 1e-3
    np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5, rtol=0)
    assert [type(a).__name__ for a in ours.layers] == [type(b).__name__ for b in theirs.layers]
    assert ours.count_params() == theirs.count_params()

    ours.save(tmp_path / "model.engram")  # and engram's own format keeps them
    again = load_model(tmp_path / "model.engram")
    np.testing.assert_array_equal(again.predict(x), ours.predict(x))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_engram_written_keras_file_with_the_new_layers_opens_in_keras(tmp_path, family):
    keras = import_keras()
    pytest.importorskip("h5py")
    from engram.nn import Sequential

    shape, make = FAMILIES[family]
    ours = Sequential(make(L), seed=0)
    ours.build((None, *shape))
    ours.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    x = np.random.default_rng(2).standard_normal((4, *shape)).astype(np.float32)
    expected = ours.predict(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs(x)), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "layer", "match"),
    [
        ((6, 4), lambda K: K.Conv1D(4, 3, groups=2), r"Conv1D\) sets groups=2"),
        ((6, 4), lambda K: K.Conv1D(4, 3, data_format="channels_first"), r"data_format="),
        ((4, 4, 2), lambda K: K.UpSampling2D(interpolation="bicubic"), r"'bicubic'"),
        ((6, 4), lambda K: K.LayerNormalization(rms_scaling=True), r"rms_scaling=True"),
    ],
    ids=["groups", "channels-first", "bicubic", "rms-scaling"],
)
def test_keras_options_engram_lacks_are_refused_by_name(tmp_path, shape, layer, match):
    keras = import_keras()
    pytest.importorskip("h5py")
    from engram.nn import ModelFileError

    keras.Sequential([keras.Input(shape), layer(keras.layers)]).save(tmp_path / "k.keras")
    with pytest.raises(ModelFileError, match=match):
        load_model(tmp_path / "k.keras")
