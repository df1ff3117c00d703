"""Metrics reported during training and evaluation, with Keras's names.

Inside, a metric is a function ``metric(y_true, y_pred) -> (total, count)``: a sum over the
batch and how many values it covers, so the running mean over an epoch is exact, whatever the
batch sizes. ``"accuracy"`` is resolved like Keras: binary, categorical or sparse, from the loss
and the output shape. A function of your own, ``fn(y_true, y_pred)``, is written as for Keras
(values per sample, or one number for the batch) and averaged as Keras averages it
(`keras_mean`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engram.registry import Registry

metrics: Registry[Callable[[np.ndarray, np.ndarray], tuple[float, int]]] = Registry("metric")


@metrics.register("binary_accuracy")
def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """Fraction of outputs on the right side of ``threshold``: mean([y_pred > t] == y_true)."""
    hits = (y_pred > threshold) == (y_true > 0.5)
    return float(np.count_nonzero(hits)), hits.size


@metrics.register("categorical_accuracy")
def categorical_accuracy(y_true, y_pred):
    """Fraction of samples whose arg-max output equals the arg-max of the one-hot target."""
    hits = np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)
    return float(np.count_nonzero(hits)), hits.size


@metrics.register("sparse_categorical_accuracy")
def sparse_categorical_accuracy(y_true, y_pred):
    """Fraction of samples whose arg-max output equals the integer label."""
    hits = np.argmax(y_pred, axis=-1) == y_true.reshape(y_pred.shape[:-1])
    return float(np.count_nonzero(hits)), hits.size


@metrics.register("accuracy", "acc")
def accuracy(y_true, y_pred):
    """Keras's ``"accuracy"``: `compile` picks binary, categorical or sparse accuracy from the loss
    (see `resolve`); called directly, the shapes pick it: one output is binary, a label per
    sample is sparse, a one-hot row is categorical."""
    if y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_true.size == y_pred.size // y_pred.shape[-1]:
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


@metrics.register("mean_squared_error", "mse")
def mean_squared_error(y_true, y_pred):
    """Mean of (y_pred - y_true)^2 over all outputs."""
    diff = y_pred - y_true.reshape(y_pred.shape)
    return float(np.sum(np.square(diff, dtype=np.float64))), diff.size


@metrics.register("mean_absolute_error", "mae")
def mean_absolute_error(y_true, y_pred):
    """Mean of |y_pred - y_true| over all outputs."""
    diff = y_pred - y_true.reshape(y_pred.shape)
    return float(np.sum(np.abs(diff), dtype=np.float64)), diff.size


def keras_mean(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Callable:
    """A Keras metric function as a (total, count) metric, averaged as Keras's ``Mean`` does.

    Math:
        v = fn(y_true, y_pred)
        one number per batch:     total += v;                   count += 1
        values per sample (n, ...): total += sum_i mean(v_i);  count += n
        (an epoch's value: the mean over samples, or over batches for a per-batch number)
    """

    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, int]:
        values = np.asarray(fn(y_true, y_pred), dtype=np.float64)
        if values.ndim == 0:
            return float(values), 1
        per_sample = values.reshape(len(values), -1).mean(axis=1)
        return float(per_sample.sum()), len(per_sample)

    metric.__name__ = getattr(fn, "__name__", "metric")
    return metric


# the short names are listed too, so "Available: ..." shows what Keras programs write
metrics.add("mse", mean_squared_error)
metrics.add("mae", mean_absolute_error)


def resolve(name: Any, loss_name: str, output_shape: tuple[int, ...]) -> tuple[str, Callable]:
    """(history key, function) for a metric given by name, as Keras names them.

    ``"accuracy"``/``"acc"`` picks binary, categorical or sparse accuracy from the loss (and,
    for other losses, from the output width); the history key is the name as given (Keras logs
    ``metrics=["acc"]`` as ``acc`` and ``val_acc``).
    """
    if callable(name) and not isinstance(name, str):
        return getattr(name, "__name__", "metric"), keras_mean(name)
    if not isinstance(name, str):
        raise TypeError(f"metrics must be names or functions. Got {type(name).__name__} instead.")
    if name.lower() in ("accuracy", "acc"):
        if loss_name == "sparse_categorical_crossentropy":
            return name, sparse_categorical_accuracy
        if loss_name == "categorical_crossentropy":
            return name, categorical_accuracy
        if loss_name == "binary_crossentropy" or output_shape[-1] == 1:
            return name, binary_accuracy
        return name, categorical_accuracy
    return name, metrics.get(name)
