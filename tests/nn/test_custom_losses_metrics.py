"""Losses and metrics written with ops, as the guide "Training & evaluation with the built-in
methods" writes them, compared with Keras 3.15.1 itself: the same model with Keras's weights,
evaluate, one epoch without shuffling (with and without sample weights), History keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engram.nn
from tests.nn.keras_reference import import_keras


@pytest.fixture(scope="module")
def keras() -> Any:
    return import_keras()


def guide_losses(module: Any) -> dict[str, Any]:
    ops = module.ops

    def custom_mean_squared_error(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    class CustomMSE(module.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
            reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
            return mse + reg * self.regularization_factor

    def squared_error_per_entry(y_true, y_pred):  # not reduced by the function: Keras averages
        return (y_true - y_pred) ** 2

    class SumLoss(module.losses.Loss):
        def call(self, y_true, y_pred):
            return ops.sum(ops.abs(y_true - y_pred), axis=-1)

    return {
        "function": custom_mean_squared_error,
        "subclass": CustomMSE(),
        "per_entry": squared_error_per_entry,
        "sum_reduction": SumLoss(reduction="sum", name="sum_loss"),
    }


def model_of(module: Any) -> Any:
    inputs = module.Input(shape=(6,), name="input")
    x = module.layers.Dense(8, activation="relu", name="dense")(inputs)
    outputs = module.layers.Dense(4, activation="softmax", name="predictions")(x)
    return module.Model(inputs, outputs, name="model")


def run_both(keras: Any, loss_name: str, metrics_of: Any = None, sample_weight: bool = False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, 32)]
    sw = rng.uniform(0.2, 2.0, 32).astype("float32") if sample_weight else None
    keras.utils.set_random_seed(0)
    results = []
    weights = None
    for module in (keras, engram.nn):
        model = model_of(module)
        if weights is None:
            weights = [np.asarray(w) for w in model.get_weights()]
        model.set_weights(weights)
        metrics = metrics_of(module) if metrics_of else None
        model.compile(
            optimizer=module.optimizers.SGD(learning_rate=0.5),
            loss=guide_losses(module)[loss_name],
            metrics=metrics,
        )
        evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        history = model.fit(
            x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sw
        ).history
        results.append(
            {
                "evaluate": {k: float(v) for k, v in evaluated.items()},
                "history": history,
                "weights": [np.asarray(w) for w in model.get_weights()],
            }
        )
    return results


@pytest.mark.parametrize("loss_name", ["function", "subclass", "per_entry", "sum_reduction"])
@pytest.mark.parametrize("sample_weight", [False, True], ids=["unweighted", "sample_weight"])
def test_losses_written_with_ops_train_as_in_keras(keras, loss_name, sample_weight):
    if loss_name == "per_entry" and sample_weight:
        pytest.skip("Keras itself cannot weigh (batch, 4) values by (batch,) weights")
    k, e = run_both(keras, loss_name, sample_weight=sample_weight)
    assert e["evaluate"].keys() == k["evaluate"].keys() == {"loss"}
    assert e["evaluate"]["loss"] == pytest.approx(k["evaluate"]["loss"], rel=1e-5)
    assert e["history"].keys() == k["history"].keys()
    for key, values in k["history"].items():
        np.testing.assert_allclose(e["history"][key], values, rtol=1e-4)
    for a, b in zip(e["weights"], k["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_a_loss_subclass_keeps_keras_arguments():
    loss = guide_losses(engram.nn)["subclass"]
    assert loss.name == "custom_mse" and loss.reduction == "sum_over_batch_size"
    y_true, y_pred = np.zeros((2, 3), np.float32), np.full((2, 3), 0.5, np.float32)
    assert loss(y_true, y_pred) == pytest.approx(0.25)
    with pytest.raises(NotImplementedError, match="reduction='none'"):
        engram.nn.losses.Loss(reduction="none")
    with pytest.raises(ValueError, match="reduction must be one of"):
        engram.nn.losses.MeanSquaredError(reduction="average")


def test_a_loss_gradient_is_the_tape_s(keras):
    """dL/dy_pred of the guide's CustomMSE against central differences (float64)."""
    from engram.nn.losses import get

    loss = get(guide_losses(engram.nn)["subclass"])
    rng = np.random.default_rng(0)
    y_pred, y_true = rng.random((3, 4)), rng.random((3, 4))
    value, grad = loss.forward(y_pred, y_true)
    numeric = np.zeros_like(y_pred)
    for idx in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[idx] += 1e-6
        minus[idx] -= 1e-6
        numeric[idx] = (loss.forward(plus, y_true)[0] - loss.forward(minus, y_true)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def guide_metric(module: Any) -> type:
    ops = module.ops

    class CategoricalTruePositives(module.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = ops.cast(sample_weight, "float32")
                values = ops.multiply(values, sample_weight)
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    class MeanAbsoluteErrorByWeight(module.metrics.Metric):
        """add_weight (Keras's other name), two variables, Keras's default reset_state."""

        def __init__(self, name="mae_by_weight", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_weight(shape=(), initializer="zeros", name="total")
            self.count = self.add_weight(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(ops.sum(ops.abs(y_true - y_pred)))
            self.count.assign_add(ops.cast(ops.shape(y_true)[0], "float32"))

        def result(self):
            return self.total / self.count

    return CategoricalTruePositives, MeanAbsoluteErrorByWeight


@pytest.mark.parametrize("sample_weight", [False, True], ids=["unweighted", "sample_weight"])
def test_metric_subclasses_log_as_in_keras(keras, sample_weight):
    k, e = run_both(keras, "function", lambda m: [cls() for cls in guide_metric(m)], sample_weight)
    assert e["evaluate"].keys() == k["evaluate"].keys()
    assert set(k["evaluate"]) == {"loss", "categorical_true_positives", "mae_by_weight"}
    for key, value in k["evaluate"].items():
        assert e["evaluate"][key] == pytest.approx(value, rel=1e-5), key
    assert e["history"].keys() == k["history"].keys()
    for key, values in k["history"].items():
        np.testing.assert_allclose(e["history"][key], values, rtol=1e-4, err_msg=key)


def test_metric_variables_reset_and_round_trip_through_state():
    ctp_class, mae_class = guide_metric(engram.nn)
    metric = mae_class()
    metric.update_state(np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32))
    assert metric.result() == pytest.approx(3.0) and isinstance(metric.result(), float)
    saved = metric.state()
    other = mae_class()
    other.set_state(saved)
    assert other.result() == pytest.approx(3.0)
    metric.reset_state()  # Keras's default: every variable to zeros
    assert float(metric.total) == 0.0 and float(metric.count) == 0.0
    ctp = ctp_class()
    ctp.update_state(np.array([[1.0], [2.0]]), np.eye(3, dtype=np.float32)[[1, 0]])
    assert ctp.result() == 1.0
    assert [v.name for v in ctp.variables] == ["ctp"]


CUSTOM_METRIC = """
from engram.nn import metrics as _metrics, ops as _ops

class Positives(_metrics.Metric):
    def __init__(self, name="positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.seen = self.add_variable(shape=(), name="seen")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.seen.assign_add(_ops.sum(_ops.cast(_ops.argmax(y_pred, axis=1), "float32")))

    def result(self):
        return self.seen
"""


def test_a_killed_fit_resumes_with_a_custom_metric_s_state(tmp_path):
    """BackupAndRestore saves the custom metric's variables mid-epoch (a real SIGKILL): the
    resumed History equals the uninterrupted one, so the count went on from the backup."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.nn.test_backup_and_restore import PROGRAM

    program = PROGRAM.replace("model = Sequential(", CUSTOM_METRIC + "\nmodel = Sequential(", 1)
    program = program.replace('metrics=["accuracy"]', 'metrics=["accuracy", Positives()]')
    assert "Positives()" in program
    script = tmp_path / "program.py"
    script.write_text(program)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}

    def run(backup: str, kill_at: int) -> Any:
        args = [sys.executable, str(script), backup, str(kill_at), "3", "arrays"]
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)

    whole = run("-", 0)
    assert whole.returncode == 0, whole.stderr
    killed = run(str(tmp_path / "backup"), 8)
    assert killed.returncode == -9, killed.stderr
    resumed = run(str(tmp_path / "backup"), 0)
    assert resumed.returncode == 0, resumed.stderr
    a, b = json.loads(whole.stdout), json.loads(resumed.stdout)
    assert a["history"]["positives"][0] > 0
    assert b["history"] == a["history"] and b["weights"] == a["weights"]


def test_saving_a_model_compiled_with_a_python_loss_is_refused(tmp_path):
    model = engram.nn.Sequential([engram.nn.Input(shape=(6,)), engram.nn.layers.Dense(4)])
    model.compile(optimizer="sgd", loss=guide_losses(engram.nn)["function"])
    for name in ("m.keras", "m.engram"):
        with pytest.raises(NotImplementedError, match="custom_mean_squared_error.*save_weights"):
            model.save(str(tmp_path / name))
    assert not list(tmp_path.iterdir())
    model.save_weights(str(tmp_path / "w.weights.h5"))  # the weights save as ever
