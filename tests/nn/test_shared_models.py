"""A model called at several nodes of another (the siamese pattern): one set of weights, its
gradients summed over the calls as for a shared layer, checked against Keras 3.15.1 (summary
rows, parameter counts, predict 1e-5, evaluate, one epoch 1e-4) and against two copies."""

from __future__ import annotations

import numpy as np
import pytest

import engram.nn as en
from engram.nn import Input, Model, Sequential, gradcheck
from engram.nn import layers as L
from tests.nn.keras_reference import check_against_keras, import_keras


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 4)).astype(np.float32)
    b = rng.standard_normal((n, 4)).astype(np.float32)
    return a, b


def siamese(lib, layers, regularizers=None):
    """A functional encoder and a Sequential one, each applied to both inputs; the encoder
    is also an output of its own (its second call)."""
    reg = None if regularizers is None else regularizers.L2(0.01)
    enc_in = lib.Input((4,), name="enc_in")
    hidden = layers.Dense(5, activation="tanh", name="enc_h", activity_regularizer=reg)(enc_in)
    encoder = lib.Model(enc_in, layers.Dense(3, name="enc_out")(hidden), name="encoder")
    small = lib.Sequential([lib.Input((4,)), layers.Dense(2, name="sq_d")], name="small")
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    ea, eb = encoder(a), encoder(b)
    merged = layers.Concatenate(name="cat")([ea, eb, small(a), small(b)])
    distance = layers.Dense(1, name="head")(merged)
    return lib.Model([a, b], [distance, eb], name="siamese")


def test_a_model_called_twice_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(3)
    kmodel = siamese(keras, keras.layers, keras.regularizers)
    model = siamese(en, L, en.regularizers)
    xa, xb = data()
    y = [xa[:, :1] - xb[:, :1], xb[:, :3]]
    histories = check_against_keras(
        model, kmodel, [xa, xb], y, loss=["mse", "mse"], loss_weights=[1.0, 0.5]
    )
    assert sorted(histories["engram"]) == ["encoder_loss", "head_loss", "loss"]
    assert [layer.name for layer in model.layers] == ["a", "b", "encoder", "small", "cat", "head"]
    model.compile("sgd", ["mse", "mse"])
    assert gradcheck(model, [xa, xb], y).passed


def test_a_shared_models_gradients_are_the_sum_over_its_calls():
    """The gradient of a model called twice equals the sum of two copies' gradients."""
    xa, xb = data(6)
    y = np.ones((6, 1), np.float32)

    def build(first, second):
        a, b = Input((4,)), Input((4,))
        return Model([a, b], L.Dense(1)(L.multiply([first(a), second(b)])), seed=0)

    def encoder():
        i = Input((4,))
        return Model(i, L.Dense(3, activation="tanh")(L.Dense(5)(i)), seed=1)

    shared = encoder()
    model = build(shared, shared)
    one, two = encoder(), encoder()
    twin = build(one, two)
    for copy in (one, two):
        copy.set_weights(shared.get_weights())
    twin.layers[-1].set_weights(model.layers[-1].get_weights())
    for m in (model, twin):
        m.compile("sgd", "mse")
        m.compute_gradients([xa, xb], y)
    for leaf, first, second in zip(shared._leaves(), one._leaves(), two._leaves(), strict=True):
        for key in leaf.grads:
            np.testing.assert_allclose(
                leaf.grads[key], first.grads[key] + second.grads[key], rtol=1e-5, atol=1e-7
            )
    assert gradcheck(model, [xa, xb], y).passed


def test_a_shared_model_whose_outputs_each_call_uses_differently():
    """A two-output model: the first call feeds only its first output on, the second only
    its second; each call's gradient reaches only its branch (the other adds zero)."""
    i = Input((4,))
    h = L.Dense(4, activation="tanh")(i)
    two = Model(i, [L.Dense(2)(h), L.Dense(3)(h)], seed=0)
    a, b = Input((4,)), Input((4,))
    first, _ = two(a)
    _, second = two(b)
    model = Model([a, b], L.Dense(1)(L.concatenate([first, second])), seed=0)
    model.compile("sgd", "mse")
    xa, xb = data(5)
    assert gradcheck(model, [xa, xb], np.ones((5, 1), np.float32)).passed


def test_a_shared_sequential_with_dropout_and_a_recurrent_layer_trains():
    body = Sequential([L.LSTM(3, return_sequences=True), L.Dropout(0.3), L.GRU(2)], seed=0)
    a, b = Input((5, 2)), Input((5, 2))
    model = Model([a, b], L.subtract([body(a), body(b)]), seed=0)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    xa, xb = (rng.standard_normal((4, 5, 2)).astype(np.float32) for _ in range(2))
    assert gradcheck(model, [xa, xb], np.zeros((4, 2), np.float32)).passed
    before = model.get_weights()
    model.fit([xa, xb], np.zeros((4, 2)), epochs=1, verbose=0)
    assert any(not np.array_equal(p, q) for p, q in zip(before, model.get_weights(), strict=True))


def _one_layer_model(layer, name):
    inputs = Input(shape=(3,), name=f"{name}_in")
    return Model(inputs, layer(inputs), name=name)


@pytest.mark.parametrize("wiring", ["direct_and_nested", "two_nested_models"])
def test_a_layer_inside_a_nested_model_and_elsewhere_sums_its_gradients(wiring):
    """One Dense run at two steps of a graph, once through a nested model: its gradient is the
    sum over both (it was the last step's only: relative error 1/3 against finite
    differences)."""
    nn = en
    shared = nn.layers.Dense(3, activation="tanh", name=f"shared_{wiring}")
    x_in = nn.Input(shape=(3,), name=f"outer_{wiring}")
    first = _one_layer_model(shared, f"inner_a_{wiring}")(x_in)
    if wiring == "direct_and_nested":
        second = shared(x_in)
    else:
        second = _one_layer_model(shared, f"inner_b_{wiring}")(x_in)
    out = nn.layers.Dense(2, name=f"head_{wiring}")(nn.layers.add([first, second]))
    model = nn.Model(x_in, out, seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model = model.astype("float64")
    rng = np.random.default_rng(0)
    report = gradcheck(model, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))
    assert report.passed, str(report)


def test_a_layer_on_its_own_and_inside_a_nested_model_in_files_and_exports(tmp_path):
    """The wiring above keeps its outputs through .keras and .engram files, in Keras itself,
    and in the torch and ONNX exports."""
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    keras = import_keras()
    from engram.nn.export import to_onnx, to_torch

    shared = L.Dense(3, activation="tanh", name="wired_shared")
    inner_in = Input(shape=(3,), name="wired_inner_in")
    inner = Model(inner_in, shared(inner_in), name="wired_inner")
    x_in = Input(shape=(3,), name="wired_in")
    out = L.Dense(2, name="wired_head")(L.add([shared(x_in), inner(x_in)]))
    model = Model(x_in, out, seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    expected = model.predict(x)
    for name in ("wired.keras", "wired.engram"):
        model.save(tmp_path / name)
        loaded = en.models.load_model(tmp_path / name)
        np.testing.assert_array_equal(loaded.predict(x), expected)
    theirs = keras.models.load_model(tmp_path / "wired.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), expected, atol=1e-5)
    module = to_torch(model)
    np.testing.assert_allclose(module(torch.tensor(x)).detach().numpy(), expected, atol=1e-5)
    to_onnx(model, tmp_path / "wired.onnx")
    session = ort.InferenceSession(str(tmp_path / "wired.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
