"""engram.nn.ops (keras.ops) in a subclassed model's call and in the functional API: each op on
a symbolic tensor is a node of the graph whose backward is the op's own vjp; checked against
finite differences and against Keras 3.15.1 with its weights copied in."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import engram.nn
from engram.nn import layers as L
from engram.nn import ops
from tests.nn.keras_reference import (
    check_against_keras,
    engram_summary_rows,
    import_keras,
    keras_summary_rows,
)


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def mixed_class(lib: Any) -> type:
    """A subclassed model whose call mixes layer calls with ops and Python operators, as the
    keras.io subclassing guide writes them."""
    layers, kops = lib.layers, lib.ops

    class Mixed(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(3, name="dense")
            self.gate = layers.Dense(3, activation="sigmoid", name="gate")
            self.head = layers.Dense(2, name="head")

        def call(self, inputs):
            h = kops.relu(self.dense(inputs)) * 2.0
            h = h / (1.0 + kops.exp(-h)) + kops.mean(h, axis=-1, keepdims=True)
            h = kops.tanh(h) * self.gate(inputs) - 0.1 * kops.square(kops.tanh(h))
            return self.head(kops.concatenate([h, inputs[:, :1]], axis=-1))

    return Mixed


def data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, 4)).astype("float32"),
        rng.normal(size=(n, 2)).astype("float32"),
    )


def test_ops_in_a_subclassed_call_match_keras(keras):
    """Summary rows, count_params, predict (1e-5), evaluate and one SGD epoch (1e-4)."""
    x, y = data()
    kmodel, model = mixed_class(keras)(name="mixed"), mixed_class(engram.nn)(name="mixed")
    kmodel(x)
    model(x)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    history = check_against_keras(model, kmodel, x, y, loss="mse", metrics=["mae"])
    assert set(history["engram"]) == {"loss", "mae"}


def _model(body: Any) -> Any:
    class Body(engram.nn.Model):
        def __init__(self):
            super().__init__(seed=0)
            self.first = L.Dense(3, name="first")
            self.last = L.Dense(2, name="last")

        def call(self, inputs):
            return self.last(body(self.first(inputs), inputs))

    return Body()


_W = np.random.default_rng(5).normal(size=(3, 3))

BODIES = {
    "scale": lambda h, x: h * 2.0 - 1.0,
    "divide": lambda h, x: h / (1.5 + ops.exp(-h)),
    "broadcast": lambda h, x: h + ops.mean(h, axis=-1, keepdims=True),
    "slice_concat": lambda h, x: ops.concatenate([h, x[:, 1:3]], axis=-1),
    "power_neg": lambda h, x: -(h**2) + ops.sigmoid(h),
    "matmul_const": lambda h, x: h @ _W.astype(h.dtype == "float64" and "float64" or "float32"),
    "softmax_where": lambda h, x: ops.where(h > 0, ops.softmax(h), h * 0.5),
    "two_tensors": lambda h, x: ops.maximum(h, ops.tanh(h)) * ops.log1p(ops.square(h)),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_gradients_through_ops_match_finite_differences(name):
    """float64 central differences of the loss against compute_gradients, for every weight (the
    first layer's gradient passes back through the ops)."""
    x, y = data(6)
    model = _model(BODIES[name])
    model.compile("sgd", "mse")
    report = engram.nn.gradcheck(model, x, y)
    assert report.passed, report
    assert {"first/weights", "first/bias", "last/weights"} <= set(report.errors)


def test_an_unbuilt_subclassed_model_is_gradchecked_in_float64():
    """gradcheck builds the copy by tracing before casting it to float64 (it cast an unbuilt
    copy, whose weights then stayed float32: relative errors near 1e-2)."""
    model = _model(lambda h, x: h)
    model.compile("sgd", "mse")
    x, y = data(6)
    report = engram.nn.gradcheck(model, x, y)
    assert report.max_error < 1e-6, report
    assert not model.built  # the user's model is left as it was


def functional_ops(lib: Any) -> Any:
    layers, kops = lib.layers, lib.ops
    inputs = lib.Input((4,), name="x")
    h = layers.Dense(3, name="dense")(inputs)
    h = kops.relu(h) * 2.0
    out = layers.Dense(2, name="out")(kops.concatenate([h, kops.tanh(inputs)], axis=-1))
    return lib.Model(inputs, [out, kops.mean(h, axis=-1, keepdims=True)], name="fops")


def test_ops_in_the_functional_api_match_keras(keras):
    """Ops are rows of the summary (relu (Relu), ...) but not layers, as in Keras."""
    x, _ = data()
    kmodel, model = functional_ops(keras), functional_ops(engram.nn)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]

    # automatic names count earlier objects of each kind in the process (multiply_3), which
    # differ between the libraries when other tests ran first: compared without the counters
    def plain(rows):
        return [tuple(re.sub(r"_\d+\b", "", " ".join(c.split())) for c in row) for row in rows]

    ours, theirs = plain(engram_summary_rows(model)), plain(keras_summary_rows(kmodel))
    assert [row[:3] for row in ours] == [row[:3] for row in theirs]
    for mine, keras_row in zip(ours, theirs, strict=True):
        # Keras cuts each line of a long cell with "…" (a cell may wrap: "a_12[0][0… b[0][0]")
        parts = [part.strip() for part in keras_row[3].split("…") if part.strip()]
        assert parts and all(part in mine[3] for part in parts), (mine, keras_row)
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    for ours, theirs in zip(model.predict(x), kmodel.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)


def test_random_dropout_in_a_model_call_draws_at_every_pass():
    class Noisy(engram.nn.Model):
        def __init__(self, seed):
            super().__init__(seed=0)
            self.dense = L.Dense(8, name="dense")
            self.noise = engram.nn.random.SeedGenerator(seed)

        def call(self, inputs):
            return engram.nn.random.dropout(self.dense(inputs), 0.5, seed=self.noise)

    x = np.ones((4, 3), np.float32)
    a, b = Noisy(7), Noisy(7)
    first, second = a.predict(x, verbose=0), a.predict(x, verbose=0)
    assert not np.array_equal(first == 0, second == 0)  # a fresh mask at every pass
    np.testing.assert_array_equal(b.predict(x, verbose=0), first)  # same seed, same masks


def test_what_ops_in_a_graph_cannot_do_is_refused_by_name(tmp_path):
    from engram.nn.export import to_onnx

    model = functional_ops(engram.nn)
    for action in (
        model.get_config,
        lambda: model.save(str(tmp_path / "m.keras")),
        lambda: to_onnx(model, tmp_path / "m.onnx"),
    ):
        with pytest.raises(NotImplementedError, match=r"calls engram\.nn\.ops \(here ops\.relu"):
            action()
    with pytest.raises(TypeError, match=r"ops\.sum .* without the batch axis first"):
        ops.sum(engram.nn.Input((3,)))  # a functional graph has no add_loss to give it to

    class ReadsWeight(engram.nn.Model):
        def __init__(self):
            super().__init__()
            self.inner = L.Dense(2)
            self.scale = engram.nn.tape.Variable({"s": np.ones(2, np.float32)}, "s", "s", True)

        def call(self, inputs):
            return self.inner(inputs) * self.scale

    with pytest.raises(TypeError, match=r"reads the weight 's'.* custom Layer"):
        ReadsWeight()(np.ones((2, 3), np.float32))


def kl_class(lib: Any) -> type:
    """The subclassing guide's VAE without its sampling noise: a KL term made with ops from
    the call's tensors and given to self.add_loss in the model's call."""
    layers, kops = lib.layers, lib.ops

    class KLModel(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = layers.Dense(6, activation="relu", name="proj")
            self.mean = layers.Dense(3, name="mean")
            self.log_var = layers.Dense(3, name="log_var")
            self.out = layers.Dense(4, activation="sigmoid", name="out")

        def call(self, inputs):
            h = self.proj(inputs)
            z_mean, z_log_var = self.mean(h), self.log_var(h)
            kl = -0.5 * kops.mean(z_log_var - kops.square(z_mean) - kops.exp(z_log_var) + 1)
            self.add_loss(kl)
            return self.out(z_mean)

    return KLModel


def test_add_loss_in_a_model_call_matches_keras(keras):
    """The KL term joins the loss at every pass: evaluate and one SGD epoch equal Keras's."""
    rng = np.random.default_rng(3)
    x = rng.random((16, 4)).astype("float32")
    kmodel, model = kl_class(keras)(name="kl"), kl_class(engram.nn)(name="kl")
    kmodel(x)
    model(x)
    check_against_keras(model, kmodel, x, x, loss="mse", learning_rate=0.05)
    assert model.losses and model.losses[0] > 0  # the last pass's KL value


def test_add_loss_in_a_model_call_has_exact_gradients():
    rng = np.random.default_rng(4)
    x = rng.random((5, 4))
    model = kl_class(engram.nn)()
    model.compile("sgd", "mse")
    report = engram.nn.gradcheck(model, x, x)
    assert report.passed, report
    assert {"mean/weights", "log_var/weights", "proj/weights"} <= set(report.errors)


def test_the_subclassing_guide_s_vae_trains():
    """The guide's end-to-end VAE (Sampling with keras.random and a SeedGenerator, Encoder and
    Decoder layers, the KL term added in the model's call): it trains, and seeded runs repeat."""
    from tests.nn.keras_guide_vae import vae_history

    first, second = vae_history(engram.nn), vae_history(engram.nn)
    assert first == second and set(first) == {"loss"}
    assert first["loss"][1] < first["loss"][0]


def test_a_batch_reduced_value_elsewhere_than_add_loss_is_refused():
    class Misused(engram.nn.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, inputs):
            return self.dense(inputs) * ops.mean(inputs)  # a batch statistic in the output

    with pytest.raises(TypeError, match=r"reduced over the batch axis.*ops\.multiply.*add_loss"):
        Misused()(np.ones((3, 4), np.float32))
