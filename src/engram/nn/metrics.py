"""Metrics reported during training and evaluation: Keras's objects, names and averaging.

A metric is an object with a running state, as in Keras: ``update_state(y_true, y_pred,
sample_weight=None)`` adds a batch, ``result()`` reads the value so far, ``reset_state()``
starts again (`compile` resets them at each epoch and each `evaluate`). Most are a `Mean` of a
function that scores each sample (`MeanMetricWrapper`); `Precision`, `Recall` and `AUC` count
true and false positives over thresholds instead.

In ``compile(metrics=[...])`` a metric is an object, a name (the name as given is the History
key: ``"acc"`` logs ``acc`` and ``val_acc``), or a function ``fn(y_true, y_pred)`` written as for
Keras (values per sample, or one number per batch) and averaged as Keras's ``Mean`` averages
it. ``"accuracy"`` picks binary, categorical or sparse accuracy as Keras does.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from engram.nn.tape import Variable
from engram.registry import Registry

metrics: Registry[type[Metric]] = Registry("metric")

_name_uids: dict[str, int] = defaultdict(int)


def _snake(name: str) -> str:
    """Keras's to_snake_case: AUC -> auc, TopKCategoricalAccuracy -> top_k_categorical_accuracy."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_name(cls: type) -> str:
    """Keras's default metric names: precision, precision_1, ... (one counter per name)."""
    base = _snake(cls.__name__)
    count = _name_uids[base]
    _name_uids[base] += 1
    return base if count == 0 else f"{base}_{count}"


def _same_rank(a: np.ndarray, b: np.ndarray, expand_rank_1: bool = True):
    """Keras's squeeze_or_expand_to_same_rank: ranks that differ by one, through a last axis
    of size 1, are made equal (a (n,) array becomes (n, 1); otherwise the 1 is squeezed)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1 and expand_rank_1:
            b = b[:, None]
        else:
            a = a[..., 0]
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1 and expand_rank_1:
            a = a[:, None]
        else:
            b = b[..., 0]
    return a, b


def _as_arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y_true), np.asarray(y_pred)


# ------------------------------------------------------------- per-sample scores
def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true``, else 0.0 (Keras's ``Accuracy``: exact equality)."""
    y_true, y_pred = _same_rank(*_as_arrays(y_true, y_pred))
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """1.0 where ``[y_pred > threshold]`` equals ``y_true`` (targets 0 or 1), else 0.0."""
    y_true, y_pred = _same_rank(*_as_arrays(y_true, y_pred))
    return ((y_pred > threshold).astype(y_true.dtype) == y_true).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 per sample whose arg-max output equals the arg-max of its one-hot target."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 per sample whose arg-max output equals its integer label ((n,) or (n, 1))."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (np.argmax(y_pred, axis=-1) == y_true).astype(np.float32)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether each label's score is among the k highest (ties with the k-th count, as in
    Keras's ``ops.in_top_k``)."""
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    labels = labels.reshape(-1).astype(np.int64)
    k = min(int(k), scores.shape[-1])
    kth = np.partition(scores, -k, axis=-1)[:, -k]
    return np.take_along_axis(scores, labels[:, None], axis=-1)[:, 0] >= kth


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1.0 per sample whose one-hot target's class is among the k highest outputs."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    labels = np.argmax(y_true, axis=-1)
    return _in_top_k(labels, y_pred, k).astype(np.float32).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1.0 per sample whose integer label is among the k highest outputs."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    return _in_top_k(y_true, y_pred, k).astype(np.float32).reshape(y_true.shape)


def mean_squared_error(y_true, y_pred):
    """Per sample: mean over the last axis of (y_pred - y_true)^2."""
    y_true, y_pred = _same_rank(*_as_arrays(y_true, y_pred))
    return np.mean(np.square(y_pred - y_true, dtype=np.float64), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Per sample: mean over the last axis of |y_pred - y_true|."""
    y_true, y_pred = _same_rank(*_as_arrays(y_true, y_pred))
    return np.mean(np.abs(y_pred - y_true, dtype=np.float64), axis=-1)


# ------------------------------------------------------------------- objects
class Metric:
    """Base class: a value accumulated over batches.

    Args:
        name: the History key; Keras's default when omitted (``precision``, ``precision_1``,
            ... one counter per name, as Keras counts them).
        dtype: kept for Keras's signature and config (engram accumulates in float64).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("result")
        if own is not None and not getattr(own, "_as_number", False):

            def result(self: Any) -> Any:
                return _as_number(own(self))

            result._as_number = True  # type: ignore[attr-defined]
            result.__doc__ = own.__doc__
            cls.result = result  # type: ignore[attr-defined]

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string. Got {type(name).__name__} instead.")
        self.name = name or _auto_name(type(self))
        self.dtype = "float32" if dtype is None else np.dtype(dtype).name
        #: the state a metric of your own creates with `add_variable` (Keras's way)
        self._variables: list[Variable] = []
        self._variable_values: dict[str, np.ndarray] = {}

    def add_variable(
        self,
        shape: Any = (),
        initializer: Any = "zeros",
        dtype: Any = None,
        aggregation: str = "sum",
        name: str | None = None,
    ) -> Variable:
        """A state variable, as Keras's ``Metric.add_variable``: update it with ``assign`` /
        ``assign_add`` in ``update_state``; `reset_state` sets it to zeros (unless the metric
        writes its own), and `state` saves it (a training backup).

        Args:
            shape: its shape (a scalar by default).
            initializer: a name or `engram.nn.initializers` object ("zeros").
            dtype: the metric's dtype when omitted.
            aggregation: kept for Keras's signature (engram runs on one device).
            name: its name (``variable``, ``variable_1`` ... when omitted).
        """
        from engram.nn import initializers

        dtype = np.dtype(dtype or self.dtype)
        init = initializers.get(initializer)
        key, k = name or "variable", 0
        while key in self._variable_values:
            k += 1
            key = f"{name or 'variable'}_{k}"
        shape = tuple(int(n) for n in np.atleast_1d(shape)) if np.ndim(shape) else ()
        self._variable_values[key] = np.asarray(init(shape, np.random.default_rng(0), dtype), dtype)
        variable = Variable(self._variable_values, key, key, trainable=False)
        self._variables.append(variable)
        return variable

    def add_weight(
        self, shape: Any = (), initializer: Any = "zeros", dtype: Any = None, name: Any = None
    ) -> Variable:
        """Keras's other name for `add_variable`."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must define update_state(self, y_true, y_pred, "
            "sample_weight=None), as Keras's metrics do."
        )

    def result(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define result(self).")

    def reset_state(self) -> None:
        """Keras's default: every variable from `add_variable` back to zeros."""
        for variable in self._variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """Keras's ``metric(y_true, y_pred)``: update the state with this batch, then return
        the result so far."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def state(self) -> dict[str, Any]:
        """The accumulated state as JSON-able data (its numbers and arrays that are not
        settings), e.g. for a training backup; `set_state` puts it back."""
        config = self.get_config()
        out: dict[str, Any] = {
            f"variable:{key}": {"array": value.tolist(), "dtype": value.dtype.name}
            for key, value in self._variable_values.items()
        }
        for key, value in vars(self).items():
            if key in config or isinstance(value, bool):
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
                out[key] = {"array": value.tolist(), "dtype": value.dtype.name}
            elif isinstance(value, (int, float, np.integer, np.floating)):
                out[key] = {"value": value.item() if isinstance(value, np.generic) else value}
        return out

    def set_state(self, state: dict[str, Any]) -> None:
        """Put back a `state` (the same metric's, with the same settings)."""
        for key, item in state.items():
            if key.startswith("variable:") and key[9:] in self._variable_values:
                self._variable_values[key[9:]] = np.asarray(item["array"], dtype=item["dtype"])
                continue
            if key not in vars(self):
                raise ValueError(f"{self.name}: the saved state names {key!r}, which it lacks.")
            if "array" in item:
                setattr(self, key, np.asarray(item["array"], dtype=item["dtype"]))
            else:
                setattr(self, key, item["value"])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _as_number(value: Any) -> Any:
    """A result as a number: a variable or 0-d array becomes a float (arrays stay arrays)."""
    if isinstance(value, Variable):
        value = value.value
    array = np.asarray(value)
    return float(array) if array.ndim == 0 else array


def _samplewise(values: Any, sample_weight: Any):
    """Keras's reduce_to_samplewise_values for a mean: the weighted value of each sample and
    the weight each counts with.

    Math:
        values v (n, ...), weights w (n,) or like v:
        v_i <- mean over v_i's axes beyond w's;   v_i <- v_i * w_i
        count_i = mean of w_i over its axes beyond the first
    """
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is None:
        return values, None
    w = np.asarray(sample_weight, dtype=np.float64)
    if values.ndim == 0 and w.ndim > 0:
        raise ValueError(
            "This metric function returns one number per batch, which sample_weight cannot "
            "weight (Keras fails here too). Return one value per sample instead, e.g. "
            "mean over the last axis."
        )
    values, w = _same_rank(values, w)
    if values.ndim > w.ndim:
        values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
    w = np.broadcast_to(w, values.shape)
    values = values * w
    if w.ndim > 1:
        w = w.mean(axis=tuple(range(1, w.ndim)))
    return values, w


class Mean(Metric):
    """The running mean of values, weighted by ``sample_weight`` as Keras weights it.

    Math:
        per sample i: v_i = mean of its values (weighted by w_i);  total += sum_i v_i
        count += sum_i w_i  (n without weights; 1 for a single number)
        result = total / count  (0 before any count, as Keras's divide_no_nan)
    """

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        if sample_weight is None:  # the common case, once per batch: no per-sample arrays
            values = np.asarray(values)
            if values.ndim == 0:
                self.total += float(values)
                self.count += 1
            elif values.size:
                n = len(values)
                # in the values' own dtype (float32 0/1 scores sum exactly; a float64 cast
                # costs more than the scoring itself), as Keras accumulates in float32
                self.total += float(np.add.reduce(values, axis=None)) * n / values.size
                self.count += n
            return
        values, w = _samplewise(values, sample_weight)
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(np.sum(values))
        if w is not None:
            self.count += float(np.sum(w))
        else:
            self.count += len(values) if values.ndim >= 1 else 1

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The `Mean` of ``fn(y_true, y_pred, **kwargs)``: how Keras averages a metric function.

    Args:
        fn: scores a batch: one value per sample (or per position), or one number per batch.
        name: the History key (the function's name when omitted).
        **kwargs: passed to ``fn`` (e.g. ``threshold``, ``k``).
    """

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, **kwargs):
        if not callable(fn):
            raise TypeError(f"fn must be callable. Got {type(fn).__name__} instead.")
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)


def _options_config(metric: Metric, *keys: str) -> dict[str, Any]:
    return {**Metric.get_config(metric), **{k: getattr(metric, k) for k in keys}}


@metrics.register("accuracy", "acc")
class Accuracy(MeanMetricWrapper):
    """Fraction of outputs exactly equal to their targets (`accuracy`). In ``compile``, the
    name ``"accuracy"`` picks binary, categorical or sparse accuracy instead (see `get`)."""

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


@metrics.register("binary_accuracy")
class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of outputs on the right side of ``threshold`` (`binary_accuracy`)."""

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold=0.5) -> None:
        self.threshold = threshold
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)

    def get_config(self) -> dict[str, Any]:
        return _options_config(self, "threshold")


@metrics.register("categorical_accuracy")
class CategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose arg-max matches their one-hot target."""

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


@metrics.register("sparse_categorical_accuracy")
class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose arg-max matches their integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


@metrics.register("top_k_categorical_accuracy")
class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose one-hot target's class is among the ``k`` highest outputs."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None) -> None:
        self.k = _check_k(k)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=self.k)

    def get_config(self) -> dict[str, Any]:
        return _options_config(self, "k")


@metrics.register("sparse_top_k_categorical_accuracy")
class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose integer label is among the ``k`` highest outputs."""

    def __init__(
        self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None
    ) -> None:
        self.k = _check_k(k)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=self.k)

    def get_config(self) -> dict[str, Any]:
        return _options_config(self, "k")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer. Got {k!r} instead.")
    return int(k)


@metrics.register("mean_squared_error", "mse")
class MeanSquaredError(MeanMetricWrapper):
    """Mean of (y_pred - y_true)^2 (per sample over the last axis, then over samples)."""

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_error, name=name, dtype=dtype)


@metrics.register("mean_absolute_error", "mae")
class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of |y_pred - y_true| (per sample over the last axis, then over samples)."""

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


@metrics.register("root_mean_squared_error")
class RootMeanSquaredError(Mean):
    """sqrt of the running mean of (y_pred - y_true)^2 (every output counts once per sample:
    the per-sample mean, weighted by ``sample_weight``)."""

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true, y_pred = _same_rank(*_as_arrays(y_true, y_pred))
        super().update_state(np.square(y_pred - y_true, dtype=np.float64), sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


# the short names are primary names too, so "Available: ..." shows what Keras programs write
metrics.add("mse", MeanSquaredError)
metrics.add("mae", MeanAbsoluteError)

# ------------------------------------------------------ confusion-matrix metrics
EPSILON = 1e-7  # Keras's backend.epsilon(): AUC's end thresholds sit this far outside [0, 1]
NEG_INF = -1e10  # the score Keras gives the outputs outside the top k


def _check_thresholds(thresholds: Any) -> list[float] | None:
    if thresholds is None:
        return None
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    bad = [t for t in values if not isinstance(t, (int, float, np.floating)) or not 0 <= t <= 1]
    if bad or not values:
        raise ValueError(f"Threshold values must be numbers in [0, 1]. Received: {values}.")
    return [float(t) for t in values]


def _evenly_spaced(thresholds: np.ndarray) -> bool:
    """Keras's test for thresholds i / (T - 1), which it counts with buckets."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _top_k_only(y_pred: np.ndarray, k: int) -> np.ndarray:
    """The k highest outputs of each row kept, the others set to NEG_INF."""
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(y_pred.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, y_pred, np.float32(NEG_INF)).astype(np.float32)


def confusion_counts(
    y_true: Any,
    y_pred: Any,
    thresholds: np.ndarray,
    sample_weight: Any = None,
    *,
    top_k: int | None = None,
    class_id: int | None = None,
    evenly: bool = False,
    multi_label: bool = False,
    label_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true/false positives/negatives at each threshold, as Keras counts them.

    Math:
        every output j is one binary decision: positive at threshold t when p_j > t,
        and truly positive when y_j != 0;  weights w_j = sample_weight of its sample
        tp_t = sum_j w_j [p_j > t][y_j],      fp_t = sum_j w_j [p_j > t][not y_j]
        fn_t = sum_j w_j [y_j] - tp_t,        tn_t = sum_j w_j [not y_j] - fp_t
        evenly spaced thresholds t_i = i / (T - 1) (AUC's): p_j is clipped to [0, 1] and
        counted in bucket ceil(p_j (T - 1)) - 1 (float32), then summed from the top bucket
        down, as Keras's fast path does (same result up to rounding at the thresholds).
        label_weights v (one per output column): w_j is multiplied by v of j's column.
        multi_label: y_pred of shape (samples, labels), each column counted on its own.

    Returns:
        (tp, fp, tn, fn), each of shape (T,) (multi_label: (T, labels)), float64.
    """
    y_true = np.asarray(y_true, dtype=np.float32)
    y_pred = np.asarray(y_pred, dtype=np.float32)
    y_pred, y_true = _same_rank(y_pred, y_true)
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}: "
            "precision, recall and AUC score every output against its own 0/1 target. "
            "One-hot encode integer labels."
        )
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float32)[..., None]
        _, w = _same_rank(y_true, w, expand_rank_1=False)
        # one weight per sample of a (batch, time, ...) output weighs all its entries (Keras
        # takes (batch, 1) and (batch, time) weights here, and fails on (batch,))
        w = w.reshape(w.shape + (1,) * (y_pred.ndim - w.ndim))
    if top_k is not None:
        y_pred = _top_k_only(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                f"class_id needs y_pred of shape (samples, classes). Received shape {y_pred.shape}."
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if multi_label and y_pred.ndim != 2:
        raise ValueError(
            "AUC(multi_label=True) needs y_pred of shape (samples, labels). Received shape "
            f"{y_pred.shape}. Flatten the other axes into the samples first."
        )
    weights = np.ones(y_pred.shape) if w is None else np.broadcast_to(w, y_pred.shape)
    if label_weights is not None:
        weights = weights * np.broadcast_to(label_weights, y_pred.shape)
    columns = y_pred.shape[-1] if multi_label else 1
    weights = weights.astype(np.float64).reshape(-1, columns)
    positive = y_true.reshape(-1, columns) != 0
    scores = y_pred.reshape(-1, columns)
    true_w, false_w = weights * positive, weights * ~positive
    n_thresholds = len(thresholds)
    if evenly:
        scores = np.clip(scores, 0.0, 1.0)
        bucket = (np.ceil(scores * np.float32(n_thresholds - 1)) - 1).astype(np.int64)
        if thresholds[0] < 0.0 or thresholds[-1] > 1.0:  # AUC's end thresholds: -eps, 1+eps
            bucket = np.maximum(bucket, 0)
        counted = bucket >= 0
        cell = (bucket * columns + np.arange(columns))[counted]  # (threshold, column) as one
        size = n_thresholds * columns
        tp = np.bincount(cell, true_w[counted], minlength=size).reshape(n_thresholds, columns)
        fp = np.bincount(cell, false_w[counted], minlength=size).reshape(n_thresholds, columns)
        tp, fp = np.cumsum(tp[::-1], axis=0)[::-1], np.cumsum(fp[::-1], axis=0)[::-1]
    else:
        above = scores[None] > np.asarray(thresholds, dtype=np.float32)[:, None, None]
        tp, fp = (above * true_w).sum(axis=1), (above * false_w).sum(axis=1)
    tn, fn = false_w.sum(axis=0) - fp, true_w.sum(axis=0) - tp
    if not multi_label:
        tp, fp, tn, fn = tp[:, 0], fp[:, 0], tn[:, 0], fn[:, 0]
    return tp, fp, tn, fn


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class _ConfusionMetric(Metric):
    """Shared state of Precision and Recall: counts per threshold."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else _check_k(top_k)
        self.class_id = class_id
        parsed = _check_thresholds(thresholds)
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = parsed if parsed is not None else [default]
        self._evenly = _evenly_spaced(np.asarray(self.thresholds))
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        tp, fp, _, fn = confusion_counts(
            y_true,
            y_pred,
            np.asarray(self.thresholds),
            sample_weight,
            top_k=self.top_k,
            class_id=self.class_id,
            evenly=self._evenly,
        )
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def _value(self, ratio: np.ndarray) -> Any:
        return float(ratio[0]) if len(self.thresholds) == 1 else ratio

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


@metrics.register("precision")
class Precision(_ConfusionMetric):
    """tp / (tp + fp): the fraction of predicted positives that are positive.

    Args:
        thresholds: a score above it counts as a positive prediction (0.5 by default); a list
            gives one precision per threshold (``result()`` is then an array).
        top_k: count only each sample's k highest outputs as predictions.
        class_id: score only this column (one class of a multi-class output).
        name: the History key (``precision``, ``precision_1``, ... by default, as Keras).
    """

    def result(self) -> Any:
        return self._value(
            _divide_no_nan(self.true_positives, self.true_positives + self.false_positives)
        )


@metrics.register("recall")
class Recall(_ConfusionMetric):
    """tp / (tp + fn): the fraction of positives predicted positive. Arguments as `Precision`."""

    def result(self) -> Any:
        return self._value(
            _divide_no_nan(self.true_positives, self.true_positives + self.false_negatives)
        )


@metrics.register("auc")
class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds (Keras's).

    Math:
        thresholds t_0 = -eps < t_1 = 1/(T-1) < ... < t_{T-1} = 1 + eps  (T = num_thresholds)
        ROC:  x_i = fp_i / (fp_i + tn_i),  y_i = tp_i / (tp_i + fn_i)
              AUC = sum_i (x_i - x_{i+1}) h_i,  h_i = (y_i + y_{i+1}) / 2 (interpolation),
              min(y_i, y_{i+1}) (minoring) or max (majoring)
        PR with interpolation: Davis & Goadrich's interpolation between thresholds (Keras's
              interpolate_pr_auc); PR otherwise: x = recall, y = precision as above.
        PRGAIN: x = recall gain 1 - s fn/tp, y = precision gain 1 - s fp/tp, s = (tp + fn) /
              (tn + fp) (Flach & Kull; gains 0 and 1 where tp = 0, recall gain floored at 0).
        multi_label: every quantity per label column; the AUC is the mean of the labels' AUCs
              (weighted by label_weights when given).

    Args:
        num_thresholds: T, > 1 (200).
        curve: "ROC", "PR" or "PRGAIN".
        summation_method: "interpolation", "minoring" or "majoring".
        thresholds: the inner thresholds in [0, 1] instead of evenly spaced ones.
        multi_label: one AUC per column of a (samples, labels) output, averaged (False: every
            output counts as one more binary decision).
        num_labels: the number of labels (multi_label only; else taken from the first batch).
        label_weights: one non-negative weight per label: multi_label, the weights of the
            labels' AUCs in their mean; otherwise each output's count is weighted by its label's.
        from_logits: apply a sigmoid to y_pred first.
        name: the History key (``auc``, ``auc_1``, ... by default, as Keras).

    Reference:
        Davis & Goadrich (2006), The relationship between precision-recall and ROC curves.
        Flach & Kull (2015), Precision-recall-gain curves: PR analysis done right.
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        methods = ("interpolation", "majoring", "minoring")
        if not isinstance(curve, str) or curve.lower() not in curves:
            raise ValueError(f"curve must be 'ROC', 'PR' or 'PRGAIN'. Received: {curve!r}.")
        if not isinstance(multi_label, bool):
            raise TypeError(f"multi_label must be True or False. Received: {multi_label!r}.")
        if num_labels is not None and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        if num_labels is not None and (
            isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1
        ):
            raise ValueError(f"num_labels must be a positive integer. Received: {num_labels!r}.")
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None
        if label_weights is not None:
            try:
                weights = np.asarray(label_weights, dtype=np.float32)
            except (TypeError, ValueError):
                weights = np.zeros((0, 0), np.float32)
            if weights.ndim != 1 or np.any(~(weights >= 0)):
                raise ValueError(
                    "label_weights must be a list of non-negative numbers, one per label. "
                    f"Received: {label_weights!r}."
                )
            self.label_weights = weights
        if not isinstance(summation_method, str) or summation_method.lower() not in methods:
            raise ValueError(
                f"summation_method must be one of {methods}. Received: {summation_method!r}."
            )
        self.curve = curves[curve.lower()]
        self.summation_method = summation_method.lower()
        self.from_logits = bool(from_logits)
        self._init_thresholds = _check_thresholds(thresholds)
        if self._init_thresholds is not None:
            inner = sorted(self._init_thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced(np.array([0.0, *inner, 1.0]))
        else:
            if (
                isinstance(num_thresholds, bool)
                or not isinstance(num_thresholds, int)
                or (num_thresholds <= 1)
            ):
                raise ValueError(
                    f"num_thresholds must be an integer > 1. Received: {num_thresholds!r}."
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def reset_state(self) -> None:
        # multi_label: counts per label, (T, labels), made at the first batch from y_pred's
        # shape as Keras builds them (also with num_labels, so that a file's num_labels
        # allocates nothing before data comes); they keep that shape
        shape: tuple[int, ...] = (self.num_thresholds,)
        if self.multi_label:
            built = getattr(self, "true_positives", np.zeros((0, 0)))
            shape = (self.num_thresholds, built.shape[-1])
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self.from_logits:
            y_pred = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(y_pred, dtype=np.float32)))
        labels = np.shape(y_pred)[-1] if np.ndim(y_pred) else 1
        if self.label_weights is not None and len(self.label_weights) != labels:
            raise ValueError(
                f"AUC has {len(self.label_weights)} label_weights, but y_pred has {labels} labels "
                f"(its last axis, shape {np.shape(y_pred)}). Give one weight per label."
            )
        tp, fp, tn, fn = confusion_counts(
            y_true,
            y_pred,
            self._thresholds,
            sample_weight,
            evenly=self._evenly,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )
        if self.true_positives.shape != tp.shape:
            labels = self.true_positives.shape[1] if self.true_positives.size else self.num_labels
            if labels is not None and labels != tp.shape[1]:
                raise ValueError(
                    f"AUC(multi_label=True) counts {labels} labels, but this batch has "
                    f"{tp.shape[1]}. Give every batch the same number of labels."
                )
            self.true_positives = np.zeros(tp.shape)  # the first batch builds the counts
            self.reset_state()
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _interpolate_pr_auc(self) -> np.ndarray:
        """The PR curve's area per pair of thresholds (Davis & Goadrich's interpolation)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        terms = _divide_no_nan(
            slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)
        )
        return terms

    def _prgain(self) -> tuple[np.ndarray, np.ndarray]:
        """Flach & Kull's recall and precision gains, Keras's fixes included: 0 recall gain and
        1 precision gain where tp = 0, recall gain floored at 0."""
        tp, fp, tn, fn = (
            self.true_positives,
            self.false_positives,
            self.true_negatives,
            self.false_negatives,
        )
        scale = _divide_no_nan(tp + fn, tn + fp)
        recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
        precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
        return np.maximum(recall_gain, 0.0), precision_gain

    def result(self) -> float:
        tp, fp, tn, fn = (
            self.true_positives,
            self.false_positives,
            self.true_negatives,
            self.false_negatives,
        )
        if not tp.size:  # multi_label before its first batch
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            terms = self._interpolate_pr_auc()
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            elif self.curve == "PR":
                x, y = recall, _divide_no_nan(tp, tp + fp)
            else:
                x, y = self._prgain()
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            terms = (x[:-1] - x[1:]) * heights
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)  # one AUC per label, then their (weighted) mean
        if self.label_weights is None:
            return float(np.mean(by_label))
        weights = self.label_weights
        return float(_divide_no_nan(np.sum(by_label * weights), weights.sum()))

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self.from_logits,
        }
        if self._init_thresholds is not None:
            config["thresholds"] = self.thresholds[1:-1]
        return config


# ------------------------------------------------------------- in compile
def check(spec: Any) -> None:
    """Refuse at compile what cannot be a metric (an unknown name lists close matches)."""
    if isinstance(spec, _ConfusionMetric) and len(spec.thresholds) > 1:
        raise NotImplementedError(
            f"{type(spec).__name__}(thresholds={spec.init_thresholds!r}) gives one value per "
            "threshold, and engram's History logs one number per metric. Compile one "
            f"{type(spec).__name__} per threshold (e.g. {type(spec).__name__}(thresholds=0.3, "
            "name='at_0.3')), or call update_state/result yourself."
        )
    if isinstance(spec, str):
        if spec.lower() not in ("accuracy", "acc"):
            metrics.get(spec)
    elif not (
        isinstance(spec, Metric)
        or (isinstance(spec, type) and issubclass(spec, Metric))
        or callable(spec)
    ):
        raise TypeError(
            "metrics must be names, Metric objects or functions fn(y_true, y_pred). Got "
            f"{type(spec).__name__} instead."
        )


def resolve(spec: Any, loss_name: str, output_shape: tuple[int, ...]) -> tuple[str, Metric]:
    """(History key, metric object) for one entry of ``compile(metrics=...)``, as Keras's
    get_metric makes them.

    * a `Metric` object is used as given and logged under its ``name``; a Metric class is
      instantiated;
    * a name is looked up and logged under the name as given (``"acc"`` -> ``acc``);
      ``"accuracy"``/``"acc"`` is binary accuracy for one output unit, sparse categorical for
      loss='sparse_categorical_crossentropy' (labels of one rank less), else categorical, as
      Keras picks from the shapes of y_true and y_pred;
    * a function ``fn(y_true, y_pred)`` is averaged by a `MeanMetricWrapper` and logged under
      its ``__name__``.
    """
    check(spec)
    if isinstance(spec, Metric):
        return spec.name, spec
    if isinstance(spec, type):
        metric = spec()
        return metric.name, metric
    if not isinstance(spec, str):
        name = getattr(spec, "__name__", None) or type(spec).__name__
        return name, MeanMetricWrapper(spec, name=name)
    if spec.lower() in ("accuracy", "acc"):
        if output_shape[-1] == 1:
            return spec, BinaryAccuracy(name=spec)
        if loss_name == "sparse_categorical_crossentropy":
            return spec, SparseCategoricalAccuracy(name=spec)
        return spec, CategoricalAccuracy(name=spec)
    metric = metrics.get(spec)()  # the default name first, as Keras (it counts the name)
    metric.name = spec
    return spec, metric


def get(identifier: Any) -> Metric:
    """A metric object from a name, a class or an object (Keras's ``metrics.get``)."""
    if isinstance(identifier, str):
        return metrics.get(identifier)()
    return resolve(identifier, "", (None, 1))[1]


# ----------------------------------------------------------------- as data in files
def to_json(metric: Any) -> str | dict[str, Any] | None:
    """A ``compile(metrics=...)`` entry as a model file stores it: a name as given, a built-in
    metric object as ``{"class_name", "config"}``; None for what no file can hold as data (a
    function, a class of your own)."""
    if isinstance(metric, str):
        return metric
    cls = type(metric)
    if isinstance(metric, Metric) and cls.__name__ in metrics and metrics.get(cls.__name__) is cls:
        return {"class_name": cls.__name__, "config": metric.get_config()}
    return None


def from_json(value: Any) -> str | Metric:
    """The inverse of `to_json`: a class looked up among engram's metrics, never imported."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise ValueError(
            f"metrics must be a list of names or {{'class_name', 'config'}} entries. Got {value!r}."
        )
    cls = metrics.get(value["class_name"])
    return cls.from_config(dict(value.get("config") or {}))
