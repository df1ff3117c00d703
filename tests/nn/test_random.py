"""engram.nn.random (keras.random): shapes, dtypes, distributions and seeding rules as Keras
3.15.1 has them (the streams themselves are NumPy's, not Keras's: values are not compared)."""

from __future__ import annotations

import numpy as np
import pytest

import engram.nn
from engram.nn import layers as L
from engram.nn import ops
from engram.nn import random as R
from tests.nn.keras_reference import import_keras
from tests.nn.test_keras_guides import custom_dropout_program


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def _np(value):
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)


DRAWS = {
    "normal": lambda lib, seed: lib.random.normal((3, 4), seed=seed),
    "normal_f64": lambda lib, seed: lib.random.normal((5,), 2.0, 3.0, dtype="float64", seed=seed),
    "uniform": lambda lib, seed: lib.random.uniform((2, 3), -1.0, 2.0, seed=seed),
    "truncated_normal": lambda lib, seed: lib.random.truncated_normal((6,), seed=seed),
    "randint": lambda lib, seed: lib.random.randint((4, 2), 0, 7, seed=seed),
    "randint_int64": lambda lib, seed: lib.random.randint((3,), 0, 7, dtype="int64", seed=seed),
    "categorical": lambda lib, seed: lib.random.categorical(
        lib.ops.convert_to_tensor(np.zeros((2, 5), "float32")), 3, seed=seed
    ),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_shapes_and_dtypes_match_keras_and_int_seeds_repeat(keras, name):
    ours, theirs = _np(DRAWS[name](engram.nn, 3)), _np(DRAWS[name](keras, 3))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    # an int seed is a stateless draw: the same values every call (as in Keras)
    np.testing.assert_array_equal(_np(DRAWS[name](engram.nn, 3)), ours)
    np.testing.assert_array_equal(_np(DRAWS[name](keras, 3)), theirs)
    assert not np.array_equal(_np(DRAWS[name](engram.nn, 4)), ours) or name == "categorical"


def test_seed_generators_advance_as_keras_s(keras):
    ours, theirs = R.SeedGenerator(5), keras.random.SeedGenerator(5)
    # names count earlier generators in the process, as Keras's do (seed_generator_7)
    assert ours.get_config()["seed"] == theirs.get_config()["seed"] == 5
    assert ours.name.startswith("seed_generator") and theirs.name.startswith("seed_generator")
    assert R.SeedGenerator(1).name != R.SeedGenerator(1).name
    draws = [R.normal((4,), seed=ours) for _ in range(3)]
    for _ in range(3):
        keras.random.normal((4,), seed=theirs)
    np.testing.assert_array_equal(ours.state, _np(theirs.state.value))  # [5, 3]
    assert ours.state.dtype == np.int32
    assert not np.array_equal(draws[0], draws[1])  # each draw advances the state
    again = R.SeedGenerator(5)  # the same seed gives the same sequence, bit for bit
    for draw in draws:
        np.testing.assert_array_equal(R.normal((4,), seed=again), draw)
    np.testing.assert_array_equal(R.SeedGenerator.from_config(ours.get_config()).state, [5, 0])


def test_set_random_seed_makes_unseeded_draws_repeat():
    engram.nn.utils.set_random_seed(11)
    first = [R.uniform((3,)), R.SeedGenerator().seed]
    engram.nn.utils.set_random_seed(11)
    second = [R.uniform((3,)), R.SeedGenerator().seed]
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]
    assert not np.array_equal(R.uniform((3,)), first[0])  # and they advance
    engram.nn.utils.set_random_seed(None)


def test_distributions_match_keras_s(keras):
    """Moments of 200,000 draws beside Keras's own draws (within sampling noise)."""
    n = 200_000
    pairs = {
        "normal": (R.normal((n,), 1.0, 2.0, seed=0), keras.random.normal((n,), 1.0, 2.0, seed=0)),
        "uniform": (R.uniform((n,), -1, 3, seed=0), keras.random.uniform((n,), -1, 3, seed=0)),
        "truncated": (
            R.truncated_normal((n,), 0.5, 2.0, seed=0),
            keras.random.truncated_normal((n,), 0.5, 2.0, seed=0),
        ),
        "randint": (R.randint((n,), -2, 5, seed=0), keras.random.randint((n,), -2, 5, seed=0)),
    }
    for name, (ours, theirs) in pairs.items():
        ours, theirs = _np(ours).astype(np.float64), _np(theirs).astype(np.float64)
        assert ours.mean() == pytest.approx(theirs.mean(), abs=0.03), name
        assert ours.std() == pytest.approx(theirs.std(), abs=0.03), name
        if name in ("uniform", "randint"):  # bounded draws reach the same bounds
            assert (ours.min(), ours.max()) == pytest.approx((theirs.min(), theirs.max()), abs=0.05)
    # Keras's documented truncation, two standard deviations (its torch backend keeps the first
    # of four draws inside, or the first draw when none is: a few per million lie beyond)
    truncated = pairs["truncated"][0]
    assert truncated.min() >= 0.5 - 4.0 and truncated.max() <= 0.5 + 4.0
    logits = np.log(np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]], "float32"))
    counts = [
        np.stack([np.bincount(row, minlength=3) / 20_000 for row in _np(draw)])
        for draw in (
            R.categorical(logits, 20_000, seed=1),
            keras.random.categorical(keras.ops.convert_to_tensor(logits), 20_000, seed=1),
        )
    ]
    np.testing.assert_allclose(counts[0], np.exp(logits), atol=0.01)
    np.testing.assert_allclose(counts[0], counts[1], atol=0.015)


def test_dropout_and_shuffle(keras):
    x = np.ones((400, 50), np.float32)
    y = R.dropout(x, 0.3, seed=2)
    kept = y != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    ky = _np(keras.random.dropout(keras.ops.convert_to_tensor(x), 0.3, seed=2))
    assert set(np.unique(ky.round(5))) == set(np.unique(y.round(5)))
    one_mask = R.dropout(x, 0.5, noise_shape=(None, 1), seed=3)
    assert all(len(np.unique(row)) == 1 for row in one_mask)  # a mask broadcast along features
    z = np.arange(12).reshape(3, 4)
    shuffled = R.shuffle(z, seed=0)
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, z))  # rows reordered, kept whole
    cols = R.shuffle(z, axis=1, seed=0)
    order = [list(z[0]).index(v) for v in cols[0]]
    np.testing.assert_array_equal(cols, z[:, order])  # one order for every row


def test_bad_arguments_are_refused_as_keras_refuses_them(keras):
    for lib in (keras, engram.nn):
        with pytest.raises(ValueError, match="must be either an integer or an instance"):
            lib.random.normal((2,), seed=1.5)
        with pytest.raises(ValueError, match="requires an integer `dtype`"):
            lib.random.randint((2,), 0, 5, dtype="float32")
    with pytest.raises(ValueError, match=r"shape=\(None, 2\).* custom Layer's call"):
        R.normal((None, 2))
    with pytest.raises(ValueError, match="2-D tensor"):
        R.categorical(np.zeros(3), 2)
    with pytest.raises(ValueError, match="rate"):
        R.dropout(np.ones(3), 1.0)
    with pytest.raises(AttributeError, match=r"keras\.random\.gamma is not implemented"):
        R.gamma  # noqa: B018
    with pytest.raises(TypeError, match="unexpected keyword"):
        R.SeedGenerator(1, sed=2)


class GaussianNoiseLayer(L.Layer):
    """A custom layer drawing noise in training, as the guides write them."""

    def __init__(self, stddev, seed, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed_generator = R.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if training:
            return inputs + R.normal(
                ops.shape(inputs), stddev=self.stddev, seed=self.seed_generator
            )
        return inputs


def noisy_model(seed):
    return engram.nn.Sequential(
        [
            engram.nn.Input((4,)),
            L.Dense(8, activation="tanh"),
            GaussianNoiseLayer(0.5, seed),
            custom_dropout_program(engram.nn),  # the subclassing guide's CustomDropout
            L.Dense(1),
        ],
        seed=0,
    )


def test_random_in_a_custom_layer_s_call_trains_reproducibly():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    model = noisy_model(1)
    assert model.layers[1].seed_generator.counter == 0  # building probed without drawing
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    a, b = model(x, training=True), model(x, training=True)
    assert not np.array_equal(a, b)  # fresh noise and masks at every training call
    runs = []
    for _ in range(2):
        model = noisy_model(1)
        model.compile("adam", "mse")
        history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        runs.append((history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]  # the same seeds: the same run, bit for bit
    for w0, w1 in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert model.count_params() == 4 * 8 + 8 + 8 + 1  # seed generators are no weights


def test_dropout_in_a_custom_call_passes_the_gradient_through_the_mask():
    layer = custom_dropout_program(engram.nn)
    x = np.random.default_rng(1).normal(size=(5, 6))
    y = layer.forward(x, training=True)
    g = np.random.default_rng(2).normal(size=y.shape)
    mask = y / x  # 0 or 1 / (1 - rate) for each entry
    np.testing.assert_allclose(layer.backward(g), g * mask, rtol=1e-6)
    # gradcheck replays the layer's SeedGenerator, so every pass draws the same noise
    report = engram.nn.gradcheck(GaussianNoiseLayer(0.3, 4), x, training=True)
    assert report.passed, report
