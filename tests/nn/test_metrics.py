"""Metrics: values, exact running means, and Keras's resolution of "accuracy"."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import metrics


def test_binary_accuracy_thresholds_at_one_half():
    total, count = metrics.binary_accuracy(
        np.array([[1.0], [0.0], [1.0]]), np.array([[0.7], [0.2], [0.4]])
    )
    assert (total, count) == (2.0, 3)


def test_categorical_and_sparse_accuracy_use_the_arg_max():
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert metrics.categorical_accuracy(np.eye(2)[[1, 1, 1]], y_pred) == (2.0, 3)
    assert metrics.sparse_categorical_accuracy(np.array([1, 1, 1]), y_pred) == (2.0, 3)
    assert metrics.sparse_categorical_accuracy(np.array([[1], [0], [1]]), y_pred) == (3.0, 3)


def test_mse_and_mae_are_sums_over_every_output():
    y_true, y_pred = np.array([[1.0, 2.0]]), np.array([[2.0, 0.0]])
    assert metrics.mean_squared_error(y_true, y_pred) == (5.0, 2)
    assert metrics.mean_absolute_error(y_true, y_pred) == (3.0, 2)
    assert metrics.mean_squared_error(np.array([1.0, 2.0]), np.array([[1.0], [4.0]])) == (4.0, 2)


@pytest.mark.parametrize(
    ("loss", "output_shape", "expected"),
    [
        ("sparse_categorical_crossentropy", (None, 10), metrics.sparse_categorical_accuracy),
        ("categorical_crossentropy", (None, 10), metrics.categorical_accuracy),
        ("binary_crossentropy", (None, 1), metrics.binary_accuracy),
        ("binary_crossentropy", (None, 3), metrics.binary_accuracy),
        ("mean_squared_error", (None, 1), metrics.binary_accuracy),
        ("mean_squared_error", (None, 4), metrics.categorical_accuracy),
    ],
)
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_is_resolved_like_keras(name, loss, output_shape, expected):
    key, fn = metrics.resolve(name, loss, output_shape)
    assert key == name and fn is expected  # the history key is the name as given, as in Keras


def test_named_and_callable_metrics_resolve():
    assert metrics.resolve("mae", "mse", (None, 1)) == ("mae", metrics.mean_absolute_error)

    def my_metric(y_true, y_pred):
        return np.abs(y_pred - y_true)  # per-sample values, as a Keras metric function returns

    key, fn = metrics.resolve(my_metric, "mse", (None, 1))
    assert key == "my_metric"
    y = np.zeros((4, 2))
    assert fn(y, np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])) == (4.0, 4)
    assert metrics.resolve(lambda t, p: 0.25, "mse", (None, 1))[1](y, y) == (0.25, 1)


def test_unknown_metric_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown metric 'mea'\. Did you mean .*'mae'"):
        metrics.resolve("mea", "mse", (None, 1))
    with pytest.raises(TypeError, match="metrics must be names or functions. Got int"):
        metrics.resolve(3, "mse", (None, 1))
