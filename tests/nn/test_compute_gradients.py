"""compute_gradients: the one public gradient step (forward, loss, backward, no update)."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential, gradcheck
from engram.nn import layers as L
from engram.nn.model import Model as ModelClass
from tests.nn.keras_reference import import_keras


def mlp(seed=0):
    return Sequential(
        [L.Dense(5, activation="relu", input_shape=(4,)), L.Dense(3, activation="softmax")],
        seed=seed,
    )


def batch(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), np.arange(n) % 3


def test_gradients_without_update_and_fit_takes_exactly_that_step():
    x, y = batch()
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 0.5
    before = model.get_weights()
    loss = model.compute_gradients(x, y)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing updated
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    grads = [g.copy() for layer in model.layers for g in layer.grads.values()]
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for w0, g, w1 in zip(before, grads, model.get_weights(), strict=True):
        np.testing.assert_allclose(w1, w0 - 0.5 * g, rtol=1e-6, atol=1e-7)


def test_fit_evaluate_free_step_and_gradcheck_all_run_the_same_step(monkeypatch):
    calls = []
    original = ModelClass._gradients

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("training", args[3] if len(args) > 3 else True))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ModelClass, "_gradients", spy)
    x, y = batch()
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    assert len(calls) == 2  # two batches
    model.train_on_batch(x, y)
    model.compute_gradients(x, y)
    assert len(calls) == 4
    assert gradcheck(model, x, y).passed
    assert calls[-1] is False  # gradcheck runs it in inference mode


def test_sample_weight_matches_keras():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    x, y = batch(12)
    w = np.linspace(0.0, 2.0, 12).astype(np.float32)
    kmodel = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    kmodel.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model = mlp()
    model.set_weights(kmodel.get_weights())
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 0.1
    theirs = kmodel.evaluate(x, y, sample_weight=w, batch_size=12, verbose=0)
    assert model.compute_gradients(x, y, sample_weight=w) == pytest.approx(theirs, rel=1e-5)
    model.optimizer.step(model.layers)
    kmodel.train_on_batch(x, y, sample_weight=w)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)


def test_several_outputs_weighted_loss_and_gradcheck():
    a = Input((4,))
    h = L.Dense(6, activation="tanh")(a)
    p = L.Dense(2, activation="sigmoid", name="p")(h)
    model = Model(a, [p, L.Dense(1, name="r")(h)], seed=0)
    model.compile("sgd", ["binary_crossentropy", "mse"], loss_weights=[0.3, 2.0])
    x, _ = batch(8)
    y = [(x[:, :2] > 0).astype(np.float32), x[:, :1]]
    total = model.compute_gradients(x, y)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert total == pytest.approx(logs["loss"], rel=1e-6)
    assert total == pytest.approx(0.3 * logs["p_loss"] + 2.0 * logs["r_loss"], rel=1e-6)
    assert gradcheck(model, x, y).passed


def test_sample_weight_is_checked():
    x, y = batch()
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"sample_weight must have one weight per sample, shape"):
        model.compute_gradients(x, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="must be compiled before compute_gradients"):
        mlp().compute_gradients(x, y)


def _engram_imports(path):
    import ast

    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):  # module level and inside functions (lazy imports) alike
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("engram")}


def test_imports_point_down():
    from pathlib import Path

    import engram

    root = Path(engram.__file__).parent
    for path in (root / "nn").rglob("*.py"):
        above = {n for n in _engram_imports(path) if not n.startswith("engram.nn")}
        above -= {"engram.registry", "engram.fileio", "engram.validation", "engram.runtime"}
        if path.parent.name == "datasets":  # Keras's load_data() on engram's verified loaders
            above -= {"engram.data.mnist"}
        assert not above, f"{path.name} imports {above} from above the engine"
    for path in (root / "data").rglob("*.py"):  # data/ sits beside nn/: neither points up
        assert not any(n.startswith("engram.nn") for n in _engram_imports(path)), path.name
    assert not {"engram.nn.model", "engram.nn.sequential"} & _engram_imports(root / "nn" / "io.py")
    assert not any(
        n.startswith("engram.experiments") for n in _engram_imports(root / "motor" / "training.py")
    )
