"""Functional models in Keras 3 files, against Keras 3.15.1 itself (torch backend): Keras-written
functional files load in engram with the same outputs, engram-written ones open in Keras with the
same outputs, and training resumed from a loaded file continues as it would have."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

import engram.nn.layers as E  # noqa: E402
from engram.nn import Input, Model, Sequential, optimizers  # noqa: E402
from engram.nn.models import load_model  # noqa: E402

if keras.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("these tests compare against Keras's torch backend", allow_module_level=True)


def resnet_block(L, Inp, M):
    """The toy ResNet of keras.io's functional API guide, on 12x12 images."""
    inputs = Inp((12, 12, 3), name="img")
    x = L.Conv2D(8, 3, activation="relu")(inputs)
    x = L.Conv2D(8, 3, activation="relu")(x)
    block_1 = L.MaxPooling2D(2)(x)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(block_1)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    block_2 = L.Add()([x, block_1])
    x = L.Conv2D(8, 3, activation="relu", padding="same")(block_2)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    block_3 = L.Add()([x, block_2])
    x = L.Conv2D(8, 3, activation="relu")(block_3)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(16, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    return M(inputs, L.Dense(5)(x), name="toy_resnet")


def two_in_two_out(L, Inp, M):
    """Two inputs, two outputs, every merge layer."""
    a, b = Inp((6,), name="title"), Inp((6,), name="body")
    x, y = L.Dense(4, activation="tanh")(a), L.Dense(4, activation="sigmoid")(b)
    merged = [
        L.Add()([x, y]),
        L.Subtract()([x, y]),
        L.Multiply()([x, y]),
        L.Average()([x, y]),
        L.Maximum()([x, y]),
        L.Minimum()([x, y]),
    ]
    joined = L.Concatenate()([*merged, L.Dot(axes=1)([x, y])])
    priority = L.Dense(1, name="priority")(joined)
    department = L.Dense(3, activation="softmax", name="department")(L.Concatenate()([joined, a]))
    return M([a, b], [priority, department], name="two_in_two_out")


def shared_layer(L, Inp, M):
    """One Dense layer called on both inputs (a siamese pair), at two depths."""
    a, b = Inp((5,), name="left"), Inp((5,), name="right")
    shared = L.Dense(5, activation="tanh", name="shared")
    x = shared(shared(a))
    y = shared(b)
    return M([a, b], L.Dense(2)(L.Concatenate()([x, y])), name="siamese")


def nested(L, Inp, M, S):
    """A functional model and a Sequential model used as layers of an outer model."""
    inner_in = Inp((4,), name="inner_in")
    h = L.Dense(6, activation="relu")(inner_in)
    inner = M(inner_in, [L.Dense(3)(h), L.Dense(2)(h)], name="encoder")
    head = S([L.Dense(4, activation="tanh"), L.Dense(2)], name="head")
    x = Inp((4,), name="x")
    code, aux = inner(x)
    return M(x, [head(code), L.Add()([aux, L.Dense(2)(x)])], name="outer")


def shared_models(L, Inp, M, S):
    """A functional and a Sequential encoder, each called on both inputs (the siamese
    pattern), the second calls also outputs of their own."""
    enc_in = Inp((4,), name="enc_in")
    encoder = M(enc_in, L.Dense(3, activation="tanh")(L.Dense(5)(enc_in)), name="encoder")
    small = S([L.Dense(3, activation="relu"), L.Dense(2)], name="small")
    a, b = Inp((3,), name="a"), Inp((3,), name="b")
    pa, pb = L.Dense(4, name="pa")(a), L.Dense(4, name="pb")(b)
    ea, eb, sa, sb = encoder(pa), encoder(pb), small(pa), small(pb)
    distance = L.Dense(1, name="distance")(L.Concatenate()([L.Subtract()([ea, eb]), sa, sb]))
    return M([a, b], [distance, eb, sb], name="siamese_models")


def keras_graph(builder):
    K = keras.layers
    if builder is shared_models:
        small_in = keras.Input((4,))
        return builder(
            K,
            keras.Input,
            keras.Model,
            lambda layers, name: keras.Sequential([small_in, *layers], name=name),
        )
    if builder is nested:
        S = keras.Sequential
        head_in = keras.Input((3,))
        return builder(
            K, keras.Input, keras.Model, lambda layers, name: S([head_in, *layers], name=name)
        )
    return builder(K, keras.Input, keras.Model)


def engram_graph(builder):
    if builder in (nested, shared_models):

        def S(layers, name):  # noqa: N802 - Keras's spelling
            model = Sequential(layers, name=name, seed=1)
            model.build((None, 3 if builder is nested else 4))
            return model

        return builder(E, Input, lambda i, o, name: Model(i, o, name=name, seed=0), S)
    return builder(E, Input, lambda i, o, name: Model(i, o, name=name, seed=0))


BUILDERS = {
    f.__name__: f for f in (resnet_block, two_in_two_out, shared_layer, nested, shared_models)
}


def data(model_inputs, n=6, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((n, *t.shape[1:])).astype(np.float32) for t in model_inputs]
    return xs if len(xs) > 1 else xs[0]


def as_list(value):
    return (
        [np.asarray(keras.ops.convert_to_numpy(v)) for v in value]
        if isinstance(value, (list, tuple))
        else [np.asarray(keras.ops.convert_to_numpy(value))]
    )


def randomize(model, seed):
    """Random weights of unit-scale outputs (kernels scaled by 1/sqrt(fan-in))."""
    rng = np.random.default_rng(seed)
    weights = model.get_weights()
    scales = [0.4 if w.ndim == 1 else np.prod(w.shape[:-1]) ** -0.5 for w in weights]
    model.set_weights(
        [
            (rng.standard_normal(w.shape) * s).astype(np.float32)
            for w, s in zip(weights, scales, strict=True)
        ]
    )


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_keras_written_functional_file_loads_with_the_same_outputs(tmp_path, builder):
    theirs = keras_graph(BUILDERS[builder])
    randomize(theirs, 1)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    x = data(theirs.inputs)
    expected = as_list(theirs(x, training=False))
    got = as_list(ours.predict(x))
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert b.std() > 1e-3
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_engram_written_functional_file_opens_in_keras_with_the_same_outputs(tmp_path, builder):
    ours = engram_graph(BUILDERS[builder])
    randomize(ours, 2)
    ours.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    x = data(ours.inputs, seed=3)
    expected = as_list(ours.predict(x))
    for a, b in zip(as_list(theirs(x, training=False)), expected, strict=True):
        assert b.std() > 1e-3
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
    back = load_model(tmp_path / "e.keras")  # and back into engram, bit for bit
    for a, b in zip(as_list(back.predict(x)), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_functional_weights_h5_both_ways(tmp_path):
    theirs, ours = keras_graph(nested), engram_graph(nested)
    randomize(theirs, 4)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    x = data(ours.inputs, seed=5)
    for a, b in zip(as_list(ours.predict(x)), as_list(theirs(x)), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------ resumed training
def targets(n=16, seed=6):
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((n, 1)).astype(np.float32),
        np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)],
    ]


def test_training_resumed_from_a_keras_functional_file_continues_as_keras_would(tmp_path):
    theirs = keras_graph(two_in_two_out)
    theirs.compile(
        keras.optimizers.Adam(0.01), ["mse", "categorical_crossentropy"], loss_weights=[1.0, 0.5]
    )
    x, y = data(theirs.inputs, n=16, seed=7), targets()
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert ours.optimizer.name == "adam" and ours.optimizer.iterations == 2
    assert ours._loss_weights == [1.0, 0.5]
    theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), atol=1e-5, rtol=0)


def test_training_resumed_from_an_engram_functional_file(tmp_path):
    """engram -> .keras -> engram and -> Keras: both continue as the uninterrupted model."""

    def make():
        model = engram_graph(nested)
        randomize(model, 8)
        model.compile(optimizers.SGD(0.05, momentum=0.9), "mse")
        return model

    x = data(make().inputs, n=16, seed=9)
    rng = np.random.default_rng(10)
    y = [rng.standard_normal((16, 2)).astype(np.float32) for _ in range(2)]
    straight = make()
    straight.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    straight.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    ours = load_model(tmp_path / "e.keras")
    assert ours.optimizer.iterations == 2
    for model in (straight, ours, theirs):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b, c in zip(
        straight.get_weights(), ours.get_weights(), theirs.get_weights(), strict=True
    ):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(c), a, atol=1e-5, rtol=0)
    fresh = make()  # the check could fail: without the file's momentum the weights differ
    fresh.set_weights(load_model(tmp_path / "e.keras", compile=False).get_weights())
    fresh.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    gaps = [
        np.abs(a - b).max()
        for a, b in zip(fresh.get_weights(), straight.get_weights(), strict=True)
    ]
    assert max(gaps) > 1e-4


def test_keras_functional_file_with_sequence_layers(tmp_path):
    """Integer inputs, Embedding, LSTM, GRU and TimeDistributed inside a functional graph."""
    K = keras.layers
    tokens, series = keras.Input((5,), dtype="int32"), keras.Input((5, 3))
    h = K.LSTM(4)(K.Concatenate()([K.Embedding(10, 3)(tokens), series]))
    g = K.GRU(2, return_sequences=True)(series)
    theirs = keras.Model([tokens, series], [h, K.TimeDistributed(K.Dense(2))(g)])
    randomize(theirs, 11)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    rng = np.random.default_rng(12)
    x = [rng.integers(0, 10, (4, 5)), rng.standard_normal((4, 5, 3)).astype(np.float32)]
    for a, b in zip(ours.predict(x), as_list(theirs(x)), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_a_model_input_no_output_reads_is_written_for_keras(tmp_path):
    a, b = Input((4,), name="a"), Input((3,), name="unused")
    ours = Model([a, b], E.Dense(2)(a), seed=0)
    ours.save(tmp_path / "e.keras")
    theirs = keras.saving.load_model(tmp_path / "e.keras")
    x = [np.ones((2, 4), np.float32), np.ones((2, 3), np.float32)]
    np.testing.assert_allclose(as_list(theirs(x))[0], ours.predict(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "metrics", [[["mae"], ["accuracy"]], {"p": ["mae"], "d": "accuracy"}, [["mae"], None]]
)
def test_per_output_compile_settings_from_keras(tmp_path, metrics):
    """Losses and loss_weights by output name, metrics in each of Keras's per-output forms:
    the loaded model trains and logs the keys Keras logs."""
    K = keras.layers
    a = keras.Input((4,))
    h = K.Dense(3)(a)
    theirs = keras.Model(
        a, [K.Dense(1, name="p")(h), K.Dense(3, activation="softmax", name="d")(h)]
    )
    theirs.compile(
        "sgd",
        {"p": "mse", "d": "categorical_crossentropy"},
        loss_weights={"p": 2.0, "d": 1.0},
        metrics=metrics,
    )
    x, y = np.ones((4, 4), np.float32), [np.ones((4, 1)), np.eye(3)[[0, 1, 2, 0]]]
    theirs.fit(x, y, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert ours._loss_weights == [2.0, 1.0]
    expected = sorted(theirs.fit(x, y, verbose=0).history)
    assert sorted(ours.fit(x, y, verbose=0).history) == expected


def test_a_frozen_nested_model_stays_frozen_and_training_resumes(tmp_path):
    """Keras trains around a frozen nested model (its weights have no optimizer state); engram
    reads the flag, the optimizer state fits, and training continues as Keras's."""
    theirs = keras_graph(nested)
    randomize(theirs, 13)
    theirs.get_layer("encoder").trainable = False
    theirs.compile(keras.optimizers.Adam(0.01), "mse")
    x = data(theirs.inputs, n=16, seed=14)
    rng = np.random.default_rng(15)
    y = [rng.standard_normal((16, 2)).astype(np.float32) for _ in range(2)]
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert not ours.get_layer("encoder").trainable
    frozen = [w.copy() for w in ours.get_layer("encoder").get_weights()]
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), atol=1e-5, rtol=0)
    for a, b in zip(ours.get_layer("encoder").get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b)
    ours.save(tmp_path / "e.keras")
    assert not keras.saving.load_model(tmp_path / "e.keras").get_layer("encoder").trainable


def test_a_sequential_holding_a_model_both_ways(tmp_path):
    """TF's basic-classification pattern: Sequential([trained_model, Softmax()])."""
    inner_k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="inner")
    theirs = keras.Sequential([keras.Input((4,)), inner_k, keras.layers.Softmax()])
    randomize(theirs, 11)
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    x = data(theirs.inputs, seed=12)
    expected = as_list(theirs(x, training=False))[0]
    assert expected.std() > 1e-3
    np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5, rtol=0)
    ours.save(tmp_path / "e.keras")
    back = keras.saving.load_model(tmp_path / "e.keras")
    np.testing.assert_allclose(as_list(back(x, training=False))[0], expected, atol=1e-5, rtol=0)


def test_a_keras_file_with_a_nested_model_of_two_inputs_loads(tmp_path):
    """Keras records the call of a nested model with a list of inputs with ``mask: [null,
    null]`` (one per input); such a file loads with the same outputs (it was refused)."""
    K = keras.layers
    a, b = keras.Input((3,), name="ia"), keras.Input((2,), name="ib")
    inner = keras.Model([a, b], K.Dense(2, name="dd")(K.concatenate([a, b])), name="inner")
    x1, x2 = keras.Input((3,), name="x1"), keras.Input((2,), name="x2")
    kmodel = keras.Model([x1, x2], inner([x1, x2]), name="outer")
    kmodel.save(tmp_path / "k.keras")
    x = data(kmodel.inputs)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    np.testing.assert_allclose(load_model(tmp_path / "k.keras").predict(x), expected, atol=1e-5)
