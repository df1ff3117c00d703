"""The functional API (Input, layer calls, Model) and Sequential, checked against Keras itself."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential, gradcheck
from engram.nn import layers as L
from engram.nn.graph import SymbolicTensor
from tests.nn.keras_reference import check_against_keras, import_keras


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal((n, 3)).astype(
        np.float32
    )


def test_input_gives_symbolic_tensors_and_layer_calls_record_nodes():
    inputs = Input(shape=(784,), name="pixels")
    assert isinstance(inputs, SymbolicTensor) and inputs.shape == (None, 784)
    hidden = L.Dense(64, activation="relu")(inputs)
    assert hidden.shape == (None, 64) and hidden.node.inputs == [inputs]
    assert Input((3,), batch_size=8).shape == (8, 3)
    with pytest.raises(ValueError, match=r"Input\(shape=\.\.\.\) must be a tuple of positive"):
        Input(shape=(0, 3))
    with pytest.raises(TypeError, match="symbolic tensor .* has no values"):
        np.asarray(inputs)


def test_sequential_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    x, _ = data(40)
    y = np.arange(40) % 3
    # names given: Keras and engram number their default names each on its own
    kmodel = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ]
    )
    model = Sequential(
        [
            Input((4,)),
            L.Dense(8, activation="relu", name="hidden"),
            L.Dense(3, activation="softmax", name="probs"),
        ],
        seed=0,
    )
    histories = check_against_keras(
        model,
        kmodel,
        x,
        y,
        loss="sparse_categorical_crossentropy",
        metrics=["acc"],
        validation_data=(x[:8], y[:8]),
    )
    assert set(histories["engram"]) == {"loss", "acc", "val_loss", "val_acc"}


def _two_branch(lib, layers):
    """Two inputs, two outputs, a shared layer, concatenate and add (same code for both)."""
    a = lib.Input((4,), name="a")
    b = lib.Input((3,), name="b")
    h = layers.Dense(5, activation="tanh", name="h")(a)
    shared = layers.Dense(5, name="s")
    c = layers.concatenate([h, shared(b)], name="join")
    d = layers.add([shared(b), h], name="plus")
    o1 = layers.Dense(2, activation="softmax", name="o1")(c)
    o2 = layers.Dense(1, name="o2")(
        layers.multiply([d, layers.subtract([d, h], name="minus")], name="times")
    )
    return lib.Model([a, b], [o1, o2], name="two_branch")


def test_functional_model_with_several_inputs_and_outputs_matches_keras():
    keras = import_keras()
    import engram.nn as en

    keras.utils.set_random_seed(1)
    kmodel = _two_branch(keras, keras.layers)
    model = _two_branch(en, L)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    xa, xb = data(32)
    y1 = np.arange(32) % 2
    y2 = (xa[:, :1] - xb[:, :1]).astype(np.float32)
    histories = check_against_keras(
        model,
        kmodel,
        [xa, xb],
        [y1, y2],
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["acc"], ["mae"]],
        validation_data=([xa[:8], xb[:8]], [y1[:8], y2[:8]]),
    )
    assert "o1_acc" in histories["engram"] and "val_o2_mae" in histories["engram"]


def test_dict_arguments_by_output_name_match_lists():
    import engram.nn as en

    xa, xb = data(16)
    y = {"o1": np.arange(16) % 2, "o2": xa[:, :1]}
    results = []
    for form in ("list", "dict"):
        model = _two_branch(en, L)
        model.set_weights([np.full_like(w, 0.1) for w in model.get_weights()])
        if form == "list":
            model.compile("sgd", ["sparse_categorical_crossentropy", "mse"], [1.0, 2.0])
            results.append(model.evaluate([xa, xb], [y["o1"], y["o2"]], verbose=0))
        else:
            model.compile(
                "sgd",
                {"o1": "sparse_categorical_crossentropy", "o2": "mse"},
                {"o1": 1.0, "o2": 2.0},
            )
            results.append(model.evaluate({"a": xa, "b": xb}, y, verbose=0))
    np.testing.assert_allclose(results[0], results[1])
    with pytest.raises(ValueError, match=r"loss names outputs \['o3'\] that the model does not"):
        model.compile("sgd", {"o3": "mse"})
    with pytest.raises(ValueError, match="loss has 3 entries, but the model has 2 outputs"):
        model.compile("sgd", ["mse"] * 3)


def test_shared_layer_gradients_add_up():
    """A layer called twice gets the sum of both calls' gradients: equal to two copies' sum."""
    x = data(6)[0]
    shared = L.Dense(3, activation="tanh")
    inp = Input((4,))
    first = shared(inp)
    out = L.Dense(1)(shared(L.Dense(4)(first)))
    model = Model(inp, out, seed=0)
    model.compile("sgd", "mse")
    y = np.ones((6, 1), np.float32)
    assert gradcheck(model, x, y).passed
    model.compute_gradients(x, y)
    summed = {k: v.copy() for k, v in shared.grads.items()}
    before = {k: v.copy() for k, v in shared.params.items()}
    start = model.get_weights()
    model.optimizer.learning_rate = 0.1
    for _ in range(2):  # the optimizer applies the summed gradient, step after step
        model.set_weights(start)
        model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
        for key in summed:
            np.testing.assert_allclose(
                shared.params[key], before[key] - 0.1 * summed[key], rtol=1e-5, atol=1e-7
            )
    model.set_weights(start)

    # the same function with two separate copies of the shared layer
    a, b = L.Dense(3, activation="tanh"), L.Dense(3, activation="tanh")
    inp2 = Input((4,))
    middle, last = L.Dense(4), L.Dense(1)
    twin = Model(inp2, last(b(middle(a(inp2)))), seed=0)
    for copy in (a, b):
        copy.set_weights(shared.get_weights())
    middle.set_weights(model.layers[2].get_weights())
    last.set_weights(model.layers[3].get_weights())
    twin.compile("sgd", "mse")
    twin.compute_gradients(x, y)
    for key in summed:
        np.testing.assert_allclose(summed[key], a.grads[key] + b.grads[key], rtol=1e-5, atol=1e-7)


def test_model_used_as_a_layer_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(2)

    def build(lib, layers):
        inner_in = lib.Input((4,), name="inner_in")
        hidden = layers.Dense(6, activation="relu", name="hidden")(inner_in)
        inner = lib.Model(inner_in, hidden, name="encoder")
        x = lib.Input((4,), name="x")
        z = layers.average([inner(x), layers.Dense(6, name="side")(x)], name="avg")
        return lib.Model(x, layers.Dense(1, name="out")(z), name="outer")

    import engram.nn as en

    kmodel, model = build(keras, keras.layers), build(en, L)
    x = data(24)[0]
    y = x[:, :1] * 2.0
    check_against_keras(model, kmodel, x, y, loss="mse", metrics=["mae"])
    assert gradcheck(model, x, y).passed


def test_sequential_of_a_model_and_a_softmax_layer():
    inner = Sequential([L.Dense(3, input_shape=(4,))], seed=0)
    model = Sequential([inner, L.Softmax()])
    x = data(5)[0]
    probs = model.predict(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    logits = inner.predict(x)
    np.testing.assert_allclose(
        probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-5
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = inner.get_weights()[0].copy()
    model.fit(x, np.arange(5) % 3, epochs=1, verbose=0)
    assert not np.array_equal(before, inner.get_weights()[0])  # the inner model learns
    inner.trainable = False
    frozen = inner.get_weights()[0].copy()
    model.fit(x, np.arange(5) % 3, epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen, inner.get_weights()[0])


def test_graph_errors_are_clear():
    a, b = Input((3,)), Input((3,))
    out = L.add([a, b])
    with pytest.raises(ValueError, match=r"depends on the input .* not among the model's inputs"):
        Model(a, out)
    with pytest.raises(ValueError, match=r"Model\(\) needs inputs and outputs.* subclass Model"):
        Model()
    with pytest.raises(ValueError, match="Model inputs must come from Input"):
        Model(out, L.Dense(1)(out))
    dense = L.Dense(2)
    dense(Input((3,)))
    with pytest.raises(ValueError, match=r"first called on inputs of shape \(None, 3\) and now"):
        dense(Input((5,)))
    Model(a, dense(a))  # built by its model
    with pytest.raises(ValueError, match=r"built for inputs with 3 features"):
        dense(Input((5,)))
    model = Model([a, b], out)
    with pytest.raises(ValueError, match=r"x must be a list of 2 arrays, one per input"):
        model.predict(np.ones((2, 3)))


def test_compile_order_is_keras_and_metrics_positionally_are_refused():
    model = Sequential([L.Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match=r"loss_weights must be numbers .* metrics=\[\.\.\.\]"):
        model.compile("sgd", "mse", ["accuracy"])


def test_deep_chain_does_not_recurse():
    inp = Input((2,))
    t = inp
    for _ in range(1500):
        t = L.Activation("linear")(t)
    model = Model(inp, t)
    np.testing.assert_array_equal(model.predict(np.ones((1, 2))), np.ones((1, 2)))


def test_readme_example_and_weights_round_trip(tmp_path):
    import engram.nn as en

    def build(seed):
        a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
        h = L.Dense(8, activation="relu")(a)
        out = L.Dense(2, activation="softmax", name="label")(L.concatenate([h, b]))
        value = L.Dense(1, name="value")(h)
        return Model([a, b], [out, value], seed=seed)

    model = build(0)
    model.compile(
        "adam",
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["acc"], ["mae"]],
    )
    xa, xb = data(16)
    y = [np.arange(16) % 2, xa[:, :1]]
    history = model.fit([xa, xb], y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "label_loss", "value_loss", "label_acc", "value_mae"}
    assert np.isfinite(model.compute_gradients([xa, xb], y))
    model.save_weights(tmp_path / "w.engram")
    twin = build(1)  # its own layers, other weights
    assert not np.array_equal(twin.get_weights()[0], model.get_weights()[0])
    twin.load_weights(tmp_path / "w.engram")
    for p, q in zip(model.predict([xa, xb]), twin.predict([xa, xb]), strict=True):
        np.testing.assert_array_equal(p, q)
    inner_in = en.Input((3,))
    inner = Model(inner_in, L.Dense(3)(inner_in))
    x = en.Input((3,))
    doubled = Model(x, L.add([inner(x), inner(x)]))  # a model called twice: one set of weights
    xs = data(3)[0][:, :3]
    np.testing.assert_allclose(doubled.predict(xs), 2 * inner.predict(xs), rtol=1e-6)


def test_shared_batch_normalization_keeps_both_calls_statistics():
    inp = Input((3,))
    norm, inner = L.BatchNormalization(momentum=0.5), L.Dense(3)
    out = L.Dense(1)(L.add([norm(inp), norm(inner(inp))]))
    model = Model(inp, out, seed=0)
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    h = x @ inner.params["weights"] + inner.params["bias"]  # the second call's input
    model.fit(x, np.ones((8, 1)), batch_size=8, epochs=1, shuffle=False, verbose=0)
    # moving_mean <- 0.5 moving_mean + 0.5 batch_mean, once per call, both calls kept
    expected = 0.5 * (0.5 * x.mean(axis=0)) + 0.5 * h.mean(axis=0)
    np.testing.assert_allclose(norm.moving_mean, expected, rtol=1e-5, atol=1e-6)


def test_sequential_inside_a_functional_model():
    body = Sequential([L.Dense(4, activation="tanh"), L.Dense(2)], seed=0)
    inp = Input((3,))
    model = Model(inp, L.Softmax()(body(inp)), seed=0)
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0, rtol=1e-6)
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert gradcheck(model, x, np.arange(6) % 2).passed
    before = body.get_weights()[0].copy()
    model.fit(x, np.arange(6) % 2, epochs=1, verbose=0)
    assert not np.array_equal(before, body.get_weights()[0])
