"""Model subclassing: layers as attributes, call() traced into the graph, checked against Keras."""

from __future__ import annotations

import numpy as np
import pytest

import engram.nn
from engram.nn import Input, Model, Sequential, ops
from engram.nn import layers as L
from tests.nn.keras_reference import check_against_keras, import_keras


def residual_class(base, layers):
    """The same subclassed model for Keras and engram: a residual block, a list of layers,
    `layers.add`, `+`, `*`, concatenate and an attribute never called (as users write them)."""

    class Residual(base):
        def __init__(self, units=5, **kwargs):
            super().__init__(**kwargs)
            self.head = layers.Dense(3, activation="softmax", name="head")
            self.inp = layers.Dense(units, activation="tanh", name="inp")
            self.blocks = [layers.Dense(units, name=f"block{i}") for i in range(2)]
            self.gate = layers.Dense(units, activation="sigmoid", name="gate")
            self.spare = layers.Dense(7, name="spare")  # never called: "?" and "0 (unbuilt)"

        def call(self, inputs, training=None):
            h = self.inp(inputs)
            for block in self.blocks:
                h = layers.add([h, block(h)]) + h
            g = self.gate(h) * h - h
            return self.head(layers.concatenate([h, g]))

    return Residual


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, np.arange(n) % 3


def test_subclassed_model_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    x, y = data()
    kmodel = residual_class(keras.Model, keras.layers)(name="residual")
    model = residual_class(Model, L)(name="residual", seed=0)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    kmodel(x)  # both traced on the same batch: the summary shows its size, as Keras's does
    model(x)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in kmodel.get_weights()]
    histories = check_against_keras(
        model, kmodel, x, y, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    assert set(histories["engram"]) == {"loss", "accuracy"}
    rows = dict((row[0], row[1:]) for row in model._summary_rows())
    assert rows["spare (Dense)"] == ("?", "0 (unbuilt)")


def test_subclassed_model_with_two_inputs_and_outputs_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(1)

    def two_io(base, layers):
        class TwoIO(base):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.a = layers.Dense(4, activation="relu", name="a")
                self.b = layers.Dense(4, name="b")
                self.out1 = layers.Dense(2, name="out1")
                self.out2 = layers.Dense(1, name="out2")

            def call(self, inputs):
                left, right = inputs
                merged = self.a(left) + self.b(right)
                return [self.out1(merged), self.out2(layers.multiply([merged, merged]))]

        return TwoIO

    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((16, 3)).astype(np.float32) for _ in range(2)]
    ys = [rng.standard_normal((16, 2)).astype(np.float32), rng.standard_normal((16, 1))]
    kmodel = two_io(keras.Model, keras.layers)(name="two_io")
    model = two_io(Model, L)(name="two_io", seed=0)
    kmodel(xs)
    model(xs)
    model.set_weights(kmodel.get_weights())
    for ours, theirs in zip(model.predict(xs), kmodel.predict(xs, verbose=0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # one epoch, compared on the total loss and the weights (Keras names a subclassed model's
    # per-output History keys after its losses, "mse_loss", which engram does not copy)
    compile_args = {"loss": ["mse", "mae"], "loss_weights": [1.0, 0.5]}
    model.compile("sgd", **compile_args)
    kmodel.compile(keras.optimizers.SGD(learning_rate=0.01), **compile_args)
    fit_args = {"batch_size": 4, "epochs": 1, "shuffle": False, "verbose": 0}
    ours = model.fit(xs, ys, **fit_args).history["loss"][0]
    theirs = kmodel.fit(xs, ys, **fit_args).history["loss"][0]
    assert ours == pytest.approx(theirs, rel=1e-4)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_compile_before_the_first_call_and_fit_trace_the_model():
    model = residual_class(Model, L)(seed=0)
    assert model.name.startswith("residual") and not model.built
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(32)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model.built and len(history.history["loss"]) == 2
    assert model.predict(x).shape == (32, 3)
    loss = model.compute_gradients(x, y)
    assert np.isfinite(loss) and model.inp.grads["weights"].shape == (4, 5)
    again = residual_class(Model, L)(seed=0)
    again.build((None, 4))
    assert again.count_params() == model.count_params()
    rows = again._summary_rows()
    assert rows[0][1] == "(None, 3)"  # built from a shape: no batch size


def test_weights_round_trip_in_keras_order_and_same_seed_same_model():
    x, _ = data(6)
    a, b = residual_class(Model, L)(seed=3), residual_class(Model, L)(seed=3)
    np.testing.assert_array_equal(a(x), b(x))
    c = residual_class(Model, L)(seed=4)
    c(x)
    c.set_weights(a.get_weights())
    np.testing.assert_array_equal(c.predict(x), a.predict(x))
    # the head (assigned first) holds the first weights, as Keras orders them
    assert a.get_weights()[0].shape == (10, 3)


def test_subclassed_models_nest_in_functional_and_sequential_models():
    x, _ = data(8)
    inner = residual_class(Model, L)(seed=0)
    inputs = Input((4,))
    outer = Model(inputs, L.Dense(2, name="after")(inner(inputs)), seed=0)
    assert outer.predict(x).shape == (8, 2)
    stacked = Sequential([Input((4,)), residual_class(Model, L)(seed=1), L.Dense(1)], seed=0)
    stacked.compile("sgd", "mse")
    assert np.isfinite(stacked.compute_gradients(x, np.zeros((8, 1))))

    class Outer(Model):
        def __init__(self):
            super().__init__()
            self.inner = residual_class(Model, L)(seed=2)
            self.out = L.Dense(1)

        def call(self, inputs):
            return self.out(self.inner(inputs))

    model = Outer()
    model.compile("sgd", "mse")
    model.fit(x, np.ones((8, 1)), epochs=1, verbose=0)
    assert [type(layer).__name__ for layer in model.layers] == ["Residual", "Dense"]
    model.trainable = False
    assert not model.inner.inp.trainable


class Untraceable(Model):
    """call() runs ``self.body(self.dense(x))``; each test gives a different body."""

    def __init__(self, body, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(3)
        self.body = body

    def call(self, inputs, training=None):
        h = self.dense(inputs)
        return self.body(h, training)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda h, t: np.tanh(h), r"np\.tanh\(\.\.\.\) cannot run .* engram\.nn\.ops\.tanh"),
        (lambda h, t: np.concatenate([h, h]), r"np\.concatenate.* layers\.concatenate"),
        (lambda h, t: h if h > 0 else -h, r"Python's if/while/and/or on a tensor"),
        (lambda h, t: ops.sum(h), r"reduced over the batch axis.*ops\.sum.*add_loss"),
        (lambda h, t: L.Dense(2)(ops.mean(h, axis=0)), r"reduced over the batch axis.*Reduce"),
        (lambda h, t: len(h), r"len\(\) of a tensor"),
        (lambda h, t: h if t else h, r"branches on `training`"),
        (lambda h, t: None, r"returned NoneType.*forget `return`"),
        (lambda h, t: L.Dense(2)(h), r"created inside Untraceable\.call\(\).* in __init__"),
    ],
)
def test_what_cannot_be_traced_is_refused_with_what_to_write(body, message):
    model = Untraceable(body)
    with pytest.raises((TypeError, ValueError), match=message):
        model(np.ones((2, 4), np.float32))
    assert not model.built and model.graph is None


def test_construction_errors_name_the_fix():
    class Early(Model):
        def __init__(self):
            self.dense = L.Dense(2)
            super().__init__()

        def call(self, inputs):
            return self.dense(inputs)

    with pytest.raises(RuntimeError, match=r"before calling super\(\).__init__\(\)"):
        Early()
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['units'\]"):
        Untraceable(None, units=2)
    with pytest.raises(ValueError, match=r"build\(\(None, 784\)\)"):
        residual_class(Model, L)().build()
    frozen = residual_class(Model, L)(trainable=False)
    frozen.build((None, 4))
    assert not frozen.inp.trainable
    with pytest.raises(NotImplementedError, match="save\\(\\) of a subclassed model"):
        frozen.save("never.keras")


def nested_class(lib):
    class Outer(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = lib.Sequential([lib.layers.Dense(4, name="in_seq")], name="body")
            self.norm = lib.layers.LayerNormalization(name="norm")
            self.out = lib.layers.Dense(2, name="out")

        def call(self, inputs):
            return self.out(self.norm(self.body(inputs)))

    return Outer


@pytest.mark.parametrize("make", [nested_class, lambda lib: residual_class(lib.Model, lib.layers)])
def test_summary_before_and_after_the_first_call_matches_keras(make):
    """Before its first call a subclassed model lists its attributes' layers as `? | 0
    (unbuilt)` with zero totals (it raised before); after, the shapes of that call."""
    from tests.nn.keras_reference import engram_summary_rows, keras_summary_rows, summary_footer

    keras = import_keras()
    kmodel, model = make(keras)(name="outer"), make(engram.nn)(name="outer")
    x = np.ones((3, 4), np.float32)
    for step in ("unbuilt", "called"):
        if step == "called":
            kmodel(x)
            model(x)
        theirs = [tuple(" ".join(c.split()) for c in row) for row in keras_summary_rows(kmodel)]
        assert engram_summary_rows(model) == theirs, step
        assert summary_footer(model) == summary_footer(kmodel), step
    assert summary_footer(model)[0] != " Total params: 0 (0.00 B)"
