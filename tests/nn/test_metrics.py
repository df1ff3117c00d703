"""Metrics: per-sample scores, exact running means, and Keras's resolution of "accuracy"."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import metrics


def test_binary_accuracy_thresholds_at_one_half():
    scores = metrics.binary_accuracy(
        np.array([[1.0], [0.0], [1.0]]), np.array([[0.7], [0.2], [0.4]])
    )
    assert scores.tolist() == [[1.0], [1.0], [0.0]]


def test_categorical_and_sparse_accuracy_use_the_arg_max():
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert metrics.categorical_accuracy(np.eye(2)[[1, 1, 1]], y_pred).tolist() == [1, 0, 1]
    assert metrics.sparse_categorical_accuracy(np.array([1, 1, 1]), y_pred).tolist() == [1, 0, 1]
    labels = np.array([[1], [0], [1]])
    assert metrics.sparse_categorical_accuracy(labels, y_pred).tolist() == [1, 1, 1]


def test_mse_and_mae_average_every_output_of_a_sample():
    y_true, y_pred = np.array([[1.0, 2.0]]), np.array([[2.0, 0.0]])
    assert metrics.mean_squared_error(y_true, y_pred).tolist() == [2.5]
    assert metrics.mean_absolute_error(y_true, y_pred).tolist() == [1.5]
    assert metrics.mean_squared_error(np.array([1.0, 2.0]), np.array([[1.0], [4.0]])).tolist() == [
        0.0,
        4.0,
    ]


def test_running_mean_is_exact_over_uneven_batches():
    metric = metrics.MeanSquaredError()
    metric.update_state(np.zeros((3, 2)), np.ones((3, 2)))
    metric.update_state(np.zeros((1, 2)), np.full((1, 2), 3.0))
    assert metric.result() == pytest.approx((3 * 1.0 + 9.0) / 4)
    metric.reset_state()
    assert metric.result() == 0.0


@pytest.mark.parametrize(
    ("loss", "output_shape", "expected"),
    [
        ("sparse_categorical_crossentropy", (None, 10), metrics.SparseCategoricalAccuracy),
        ("categorical_crossentropy", (None, 10), metrics.CategoricalAccuracy),
        ("binary_crossentropy", (None, 1), metrics.BinaryAccuracy),
        ("binary_crossentropy", (None, 3), metrics.CategoricalAccuracy),  # Keras 3: by shapes
        ("mean_squared_error", (None, 1), metrics.BinaryAccuracy),
        ("mean_squared_error", (None, 4), metrics.CategoricalAccuracy),
    ],
)
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_is_resolved_like_keras(name, loss, output_shape, expected):
    key, metric = metrics.resolve(name, loss, output_shape)
    assert key == name == metric.name  # the history key is the name as given, as in Keras
    assert type(metric) is expected


def test_named_and_callable_metrics_resolve():
    key, metric = metrics.resolve("mae", "mse", (None, 1))
    assert key == "mae" and type(metric) is metrics.MeanAbsoluteError

    def my_metric(y_true, y_pred):
        return np.abs(y_pred - y_true)  # per-sample values, as a Keras metric function returns

    key, metric = metrics.resolve(my_metric, "mse", (None, 1))
    assert key == "my_metric"
    y = np.zeros((4, 2))
    metric.update_state(y, np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]))
    assert metric.result() == 1.0  # per-sample means 2, 0, 2, 0
    _, per_batch = metrics.resolve(lambda t, p: 0.25, "mse", (None, 1))
    per_batch.update_state(y, y)
    assert per_batch.result() == 0.25


def test_unknown_metric_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown metric 'mea'\. Did you mean .*'mae'"):
        metrics.resolve("mea", "mse", (None, 1))
    with pytest.raises(TypeError, match="metrics must be names, Metric objects or functions"):
        metrics.resolve(3, "mse", (None, 1))
