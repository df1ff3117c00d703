"""Metrics as Keras logs them: the name as given, and custom functions averaged as Keras does."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential
from engram.nn import layers as L
from engram.nn.losses import MeanAbsoluteError, MeanSquaredError
from tests.nn.keras_reference import import_keras


def _metric_pair(keras):
    ops = keras.ops

    def worst(y_true, y_pred):  # one value per sample
        return ops.max(ops.abs(y_pred - y_true), axis=-1)

    def mean_output(y_true, y_pred):  # one number per batch
        return ops.mean(y_pred)

    def worst_np(y_true, y_pred):
        return np.max(np.abs(y_pred - y_true), axis=-1)

    def mean_output_np(y_true, y_pred):
        return np.mean(y_pred)

    worst_np.__name__, mean_output_np.__name__ = "worst", "mean_output"
    return [worst, mean_output], [worst_np, mean_output_np]


def test_custom_metric_functions_are_averaged_as_keras_averages_them():
    keras = import_keras()
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((13, 4)).astype(np.float32)  # batches of 5, 5, 3
    y = rng.standard_normal((13, 2)).astype(np.float32)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="out")])
    model = Sequential([L.Dense(2, input_shape=(4,), name="out")], seed=0)
    model.set_weights(kmodel.get_weights())
    theirs_fns, ours_fns = _metric_pair(keras)
    kmodel.compile(keras.optimizers.SGD(0.05), "mse", metrics=theirs_fns)
    model.compile("sgd", "mse", metrics=ours_fns)
    model.optimizer.learning_rate = 0.05
    theirs = kmodel.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    ours = model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    assert set(ours) == set(theirs) == {"loss", "worst", "mean_output"}
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key
    args = {"batch_size": 5, "epochs": 1, "shuffle": False, "verbose": 0}
    theirs = kmodel.fit(x, y, **args).history
    ours = model.fit(x, y, **args).history
    for key in theirs:
        assert ours[key][0] == pytest.approx(theirs[key][0], rel=1e-5), key


def test_regression_losses_refuse_from_logits():
    for cls in (MeanSquaredError, MeanAbsoluteError):
        with pytest.raises(TypeError, match=f"{cls.__name__} takes no from_logits"):
            cls(from_logits=True)
        cls(from_logits=False)  # the default, said out loud, is fine


def test_predict_checks_verbose():
    model = Sequential([L.Dense(2, input_shape=(4,))], seed=0)
    with pytest.raises(ValueError, match=r"verbose must be 'auto', 0, 1 or 2\. Got 3"):
        model.predict(np.ones((2, 4)), verbose=3)


def test_model_trainable_follows_keras():
    """Keras 3 (torch): model.trainable sets every layer's flag and fit follows it at once."""
    keras = import_keras()
    x, y = np.ones((4, 3), np.float32), np.ones((4, 1), np.float32)
    kmodel = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="a"), keras.layers.Dense(1, name="b")]
    )
    model = Sequential([L.Dense(2, input_shape=(3,), name="a"), L.Dense(1, name="b")], seed=0)
    model.set_weights(kmodel.get_weights())
    for m in (kmodel, model):
        m.compile("sgd", "mse")
        m.trainable = False
    assert [layer.trainable for layer in model.layers] == [
        layer.trainable for layer in kmodel.layers
    ]
    before = model.get_weights()
    kmodel.fit(x, y, verbose=0)
    model.fit(x, y, verbose=0)
    for a, b, c in zip(before, model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(b, np.asarray(c))
    lines = {}
    for m in (kmodel, model):
        m.trainable = True
        m.layers[0].trainable = False
        out: list[str] = []
        m.summary(print_fn=lambda text, out=out, **kwargs: out.extend(text.splitlines()))
        lines[m is model] = [
            line.split("(")[0].strip() for line in out if "rainable params" in line
        ]
    assert lines[True] == lines[False] == ["Trainable params: 3", "Non-trainable params: 8"]
    model.fit(x, y, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], before[0])  # layer a stays frozen
    assert not np.array_equal(model.get_weights()[2], before[2])  # layer b learns
