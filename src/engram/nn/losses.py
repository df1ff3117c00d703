"""Loss functions: value and gradient side by side, with Keras's names and reductions.

Every loss averages over the batch (Keras's "sum_over_batch_size"). ``forward(y_pred, y_true)``
returns ``(loss, grad_y_pred)``; ``forward_logits(z, y_true)`` is the fused, stable path for
cross-entropies computed on logits, which `Sequential` uses when the last layer's activation is
softmax (or sigmoid) and the loss is a cross-entropy. Loss values are accumulated in float64 so
that extreme predictions (1e20) give a finite number; gradients keep the prediction's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.nn import functional as F
from engram.registry import Registry
from engram.validation import check_array, check_labels, check_positive

losses: Registry[Any] = Registry("loss", declared=True)

EPSILON = 1e-7  # Keras's backend epsilon, used to clip probabilities


def _flatten_hint(target_ndim: int, output_shape: tuple[int, ...]) -> str:
    if len(output_shape) > 2 and target_ndim < len(output_shape):
        return (
            " The model's output keeps extra input axes: add a Flatten() layer before the "
            "first Dense layer."
        )
    return ""


class Loss:
    """Base class.

    Args:
        from_logits: whether ``y_pred`` are logits rather than probabilities (cross-entropies).
    """

    name = "loss"
    #: the activation whose fused gradient ``forward_logits`` implements, if any
    fuses_with: str | None = None

    #: whether predictions may be logits (cross-entropies); regression losses refuse the flag
    takes_logits = True

    def __init__(
        self,
        from_logits: bool = False,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"name must be a string. Got {type(name).__name__} instead.")
            self.name = name
        self.reduction = check_reduction(reduction)
        if from_logits and not self.takes_logits:
            raise TypeError(
                f"{type(self).__name__} takes no from_logits: it compares values, not class "
                "scores. Remove from_logits=True (Keras's loss has no such argument)."
            )
        self.from_logits = bool(from_logits)

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        """The loss value, Keras-style ``loss(y_true, y_pred)``."""
        y_pred = check_array(y_pred, "y_pred", dtype=None)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(np.float32)
        y_true = self.prepare_targets(y_true, y_pred.shape)
        return self.forward(y_pred, y_true)[0]

    def prepare_targets(self, y: Any, output_shape: tuple[int, ...], name: str = "y") -> np.ndarray:
        """Validate and convert targets once, before training. Default: float, same shape."""
        y = check_array(y, name, dtype=np.float32)
        if y.ndim == 1 and len(output_shape) == 2 and output_shape[1] == 1:
            y = y[:, None]
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(
                f"{name} has shape {y.shape}, but the model's output has shape "
                f"{(None, *output_shape[1:])}. Targets for loss={self.name!r} must match the "
                f"output shape.{_flatten_hint(y.ndim, output_shape)}"
            )
        return y

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, dL/dy_pred). A subclass written as Keras's, with ``call(y_true, y_pred)``
        made of ops, is differentiated through its tape (`CallLoss`)."""
        if callable(getattr(self, "call", None)):
            return CallLoss.of(self).forward(y_pred, y_true)
        raise NotImplementedError(
            f"{type(self).__name__} must define call(self, y_true, y_pred) made of "
            "engram.nn.ops, as Keras's Loss subclasses do."
        )

    def forward_logits(self, z: np.ndarray, y_true: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError(f"{self.name} has no fused logits path.")

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits} if self.from_logits else {}


@losses.register("mean_squared_error", "mse")
class MeanSquaredError(Loss):
    """Math: L = mean((y_pred - y)^2);  dL/dy_pred = 2 (y_pred - y) / size."""

    name = "mean_squared_error"
    takes_logits = False

    def forward(self, y_pred, y_true):
        diff = y_pred - y_true
        loss = float(np.mean(np.square(diff, dtype=np.float64)))
        return loss, diff * (2.0 / diff.size)


@losses.register("mean_absolute_error", "mae")
class MeanAbsoluteError(Loss):
    """Math: L = mean(|y_pred - y|);  dL/dy_pred = sign(y_pred - y) / size."""

    name = "mean_absolute_error"
    takes_logits = False

    def forward(self, y_pred, y_true):
        diff = y_pred - y_true
        loss = float(np.mean(np.abs(diff), dtype=np.float64))
        return loss, np.sign(diff) * (1.0 / diff.size)


@losses.register("binary_crossentropy", "bce")
class BinaryCrossentropy(Loss):
    """Binary cross-entropy for targets in [0, 1].

    Math:
        probabilities:  p = clip(y_pred, eps, 1 - eps)
                        L = -mean(y log p + (1 - y) log(1 - p))
                        dL/dy_pred = (p - y) / (p (1 - p)) / size   (0 where clipped)
        logits (fused): L = mean(max(z, 0) - z y + log(1 + exp(-|z|)))
                        dL/dz = (sigmoid(z) - y) / size
    """

    name = "binary_crossentropy"
    fuses_with = "sigmoid"

    def prepare_targets(self, y, output_shape, name="y"):
        y = super().prepare_targets(y, output_shape, name)
        if y.min() < 0 or y.max() > 1:
            raise ValueError(
                f"{name} must hold targets in [0, 1] for loss='binary_crossentropy'. Got values "
                f"from {y.min()} to {y.max()}. Re-encode the labels as 0/1."
            )
        return y

    def forward(self, y_pred, y_true):
        if self.from_logits:
            return self.forward_logits(y_pred, y_true)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        per = y_true * np.log(p) + (1 - y_true) * np.log1p(-p)
        loss = -float(np.mean(per, dtype=np.float64))
        grad = (p - y_true) / (p * (1 - p)) / p.size
        grad *= (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        return loss, grad.astype(y_pred.dtype, copy=False)

    def forward_logits(self, z, y_true):
        return F.sigmoid_cross_entropy(z, y_true)


class _CategoricalBase(Loss):
    fuses_with = "softmax"

    def _labels(self, y_true: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, y_pred, y_true):
        if self.from_logits:
            return self.forward_logits(y_pred, y_true)
        # (batch, ..., classes): every position is one sample of the mean, as in Keras
        shape = y_pred.shape
        y_pred = y_pred.reshape(-1, shape[-1])
        target = self._dense_targets(y_true.reshape(-1, *y_true.shape[len(shape) - 1 :]), y_pred)
        total = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / total
        p = np.clip(q, EPSILON, 1 - EPSILON)
        loss = -float(np.sum(target * np.log(p), dtype=np.float64) / len(p))
        # d/dy_j of -sum_k t_k log(clip(y_k / S)), S = sum_k y_k, m = 1 where q is not clipped
        # (a clipped entry is constant, as in Keras):  (sum_k m_k t_k - m_j t_j / p_j) / S
        kept = target * ((q > EPSILON) & (q < 1 - EPSILON))
        grad = (np.sum(kept, axis=-1, keepdims=True) - kept / p) / total
        return loss, (grad / len(p)).astype(y_pred.dtype, copy=False).reshape(shape)

    def _dense_targets(self, y_true, y_pred):
        return y_true

    def forward_logits(self, z, y_true):
        shape = z.shape
        z = z.reshape(-1, shape[-1])
        if y_true.ndim == len(shape) - 1:  # integer labels
            loss, grad = F.softmax_cross_entropy(z, y_true.reshape(-1))
            return loss, grad.reshape(shape)
        y_true = y_true.reshape(z.shape)
        n = z.shape[0]
        logp = F.log_softmax(z)
        loss = -float(np.sum(y_true * logp, dtype=np.float64) / n)
        grad = np.exp(logp) * np.sum(y_true, axis=-1, keepdims=True) - y_true
        return loss, (grad / n).astype(z.dtype, copy=False).reshape(shape)


@losses.register("categorical_crossentropy", "cce")
class CategoricalCrossentropy(_CategoricalBase):
    """Cross-entropy with one-hot (or soft) targets of shape (batch, classes).

    Outputs (batch, time, classes) take targets of the same shape; every position counts once.

    Math:
        probabilities:  L = -mean_i sum_k y_ik log(p_ik),  p = clip(y_pred / sum y_pred)
                        dL/dy_pred_j = (sum_k m_k y_k - m_j y_j / p_j) / (sum y_pred) / batch,
                        m = 0 where the clip is active (the loss is constant there), else 1
        logits (fused): L = mean_i [ logsumexp(z_i) sum_k y_ik - sum_k y_ik z_ik ]
                        dL/dz = (softmax(z) sum_k y_k - y) / batch
    """

    name = "categorical_crossentropy"

    def prepare_targets(self, y, output_shape, name="y"):
        y = check_array(y, name, dtype=np.float32)
        if len(output_shape) > 2 and y.ndim != len(output_shape):
            raise ValueError(
                f"loss='categorical_crossentropy' needs one-hot targets shaped like the model's "
                f"output {(None, *output_shape[1:])}, but {name} has shape {y.shape}."
                f"{_flatten_hint(y.ndim, output_shape)}"
            )
        if y.min() < 0:
            raise ValueError(
                f"{name} holds negative values (down to {y.min()}), and "
                "loss='categorical_crossentropy' needs one-hot or probability rows (>= 0): a "
                "negative target makes the loss negative. Re-encode the targets."
            )
        if len(output_shape) > 2 and y.shape[1:] == tuple(output_shape[1:]):
            return y  # one-hot targets at every position, e.g. (batch, time, classes)
        if y.ndim != 2 or y.shape[1] != output_shape[-1]:
            hint = ""
            if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
                hint = (
                    " These look like integer labels: use "
                    "loss='sparse_categorical_crossentropy', or one-hot encode them."
                )
            raise ValueError(
                f"{name} must be one-hot with {output_shape[-1]} columns (one per output unit) "
                f"for loss='categorical_crossentropy'. Got shape {y.shape} instead.{hint}"
            )
        return y


@losses.register("sparse_categorical_crossentropy", "scce")
class SparseCategoricalCrossentropy(_CategoricalBase):
    """Cross-entropy with integer labels of shape (batch,) or (batch, 1).

    Outputs (batch, time, classes) take labels (batch, time): every position counts once in
    the mean, as in Keras.

    Math:
        logits (fused): L = mean_i [ logsumexp(z_i) - z_i[y_i] ]
                        dL/dz = (softmax(z) - onehot(y)) / batch
        probabilities:  L = -mean_i log(clip(p_i[y_i]))
    """

    name = "sparse_categorical_crossentropy"

    def prepare_targets(self, y, output_shape, name="y"):
        y = check_array(y, name, dtype=None)
        if len(output_shape) > 2 and y.ndim == 1:
            raise ValueError(
                f"loss='sparse_categorical_crossentropy' got one label per sample in {name} "
                f"(shape {y.shape}), but the model's output {(None, *output_shape[1:])} has "
                f"class scores at every position {tuple(output_shape[1:-1])}."
                f"{_flatten_hint(y.ndim, output_shape)}"
            )
        return check_labels(y, output_shape[-1], name, tuple(output_shape[1:-1]))

    def _dense_targets(self, y_true, y_pred):
        return F.one_hot(y_true, y_pred.shape[-1], dtype=y_pred.dtype)


# ------------------------------------------------- robust, divergence and margin losses
def huber_terms(diff: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber's loss of each error and its derivative.

    Math:
        h(e)  = 0.5 e^2                    if |e| <= delta
                delta |e| - 0.5 delta^2    otherwise
        h'(e) = clip(e, -delta, delta)
    """
    abs_diff = np.abs(diff)
    quadratic = np.minimum(abs_diff, delta)
    # 0.5 q^2 + delta (|e| - q) is both branches at once (q = min(|e|, delta))
    values = 0.5 * np.square(quadratic, dtype=np.float64) + delta * (abs_diff - quadratic)
    return values, np.clip(diff, -delta, delta)


def log_cosh_terms(diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(cosh(e)) of each error and its derivative, finite for any e.

    Math:
        log cosh(e) = |e| + log(1 + exp(-2|e|)) - log 2     (no overflow of cosh)
        d/de        = tanh(e)
    """
    a = np.abs(diff).astype(np.float64)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0), np.tanh(diff)


def hinge_labels(y_true: np.ndarray) -> np.ndarray:
    """Keras's hinge labels: 0/1 targets become -1/+1; any others are used as they are."""
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


def hinge_terms(y_pred: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hinge of each output and its derivative (labels as `hinge_labels` gives them).

    Math:
        h = max(1 - y y_pred, 0);   dh/dy_pred = -y where 1 - y y_pred > 0, else 0
    """
    margin = 1.0 - y_true * y_pred
    return np.maximum(margin, 0.0), np.where(margin > 0, -y_true, 0.0).astype(y_pred.dtype)


def kl_divergence_terms(y_pred: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KL(y || y_pred) of each row (last axis) and its derivative, with Keras's clipping.

    Math:
        t = clip(y, eps, 1),  p = clip(y_pred, eps, 1)
        KL = sum_k t_k log(t_k / p_k)
        dKL/dy_pred_k = -t_k / p_k   where eps <= y_pred_k <= 1, else 0 (the clip is flat)
    """
    t = np.clip(y_true, EPSILON, 1.0)
    p = np.clip(y_pred, EPSILON, 1.0)
    values = np.sum(t * (np.log(t, dtype=np.float64) - np.log(p, dtype=np.float64)), axis=-1)
    grad = -t / p * ((y_pred >= EPSILON) & (y_pred <= 1.0))
    return values, grad.astype(y_pred.dtype, copy=False)


def cosine_similarity_terms(
    y_pred: np.ndarray, y_true: np.ndarray, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Minus the cosine similarity along ``axis`` and its derivative, as Keras normalizes.

    Math:
        u = y_pred / max(|y_pred|, eps),   v = y / max(|y|, eps)
        c = -sum_axis u v
        dc/dy_pred = -(v - (u . v) u) / |y_pred|    where |y_pred| > eps
                     -v / eps                        otherwise (u = y_pred / eps is linear)
    """
    p = y_pred.astype(np.float64)
    norm_p = np.sqrt(np.sum(np.square(p), axis=axis, keepdims=True))
    norm_t = np.sqrt(np.sum(np.square(y_true, dtype=np.float64), axis=axis, keepdims=True))
    u = p / np.maximum(norm_p, EPSILON)
    v = y_true / np.maximum(norm_t, EPSILON)
    dot = np.sum(u * v, axis=axis, keepdims=True)
    grad = np.where(norm_p > EPSILON, -(v - dot * u) / np.maximum(norm_p, EPSILON), -v / EPSILON)
    return -np.squeeze(dot, axis=axis), grad.astype(y_pred.dtype)


class _ElementwiseLoss(Loss):
    """A loss that is the mean of one term per output element (Keras: the mean over the last
    axis, then over the batch, which is the same number)."""

    takes_logits = False

    def terms(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def forward(self, y_pred, y_true):
        values, grad = self.terms(y_pred, y_true)
        loss = float(np.mean(values, dtype=np.float64))
        return loss, (grad * (1.0 / y_pred.size)).astype(y_pred.dtype, copy=False)


@losses.register("huber", "huber_loss")
class Huber(_ElementwiseLoss):
    """Huber loss: squared for small errors, linear beyond ``delta`` (robust to outliers).

    Math:
        L = mean(h(y_pred - y)),  h as in `huber_terms`;  dL/dy_pred = clip(e, -delta, delta) / size

    Args:
        delta: where the loss turns from quadratic to linear, > 0.

    Reference:
        Huber (1964), Robust estimation of a location parameter.
    """

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        check_positive(delta, "delta")
        self.delta = float(delta)

    def terms(self, y_pred, y_true):
        return huber_terms(y_pred - y_true, self.delta)

    def get_config(self):
        return {} if self.delta == 1.0 else {"delta": self.delta}


@losses.register("log_cosh", "logcosh")
class LogCosh(_ElementwiseLoss):
    """Logarithm of the hyperbolic cosine of the error.

    Math:
        L = mean(log cosh(y_pred - y));   dL/dy_pred = tanh(y_pred - y) / size
    """

    name = "log_cosh"

    def terms(self, y_pred, y_true):
        return log_cosh_terms(y_pred - y_true)


@losses.register("hinge")
class Hinge(_ElementwiseLoss):
    """Hinge loss for labels -1/+1 (0/1 labels are turned into -1/+1, as Keras does per batch).

    Math:
        L = mean(max(1 - y y_pred, 0));   dL/dy_pred = -y [1 - y y_pred > 0] / size
    """

    name = "hinge"

    def terms(self, y_pred, y_true):
        return hinge_terms(y_pred, hinge_labels(y_true))


@losses.register("kl_divergence", "kld")
class KLDivergence(Loss):
    """Kullback-Leibler divergence between target and predicted distributions (last axis).

    Math:
        L = mean over samples of KL_i (`kl_divergence_terms`);  dL/dy_pred = dKL/dy_pred / samples
    """

    name = "kl_divergence"
    takes_logits = False

    def forward(self, y_pred, y_true):
        values, grad = kl_divergence_terms(y_pred, y_true)
        return float(np.mean(values)), grad * np.asarray(1.0 / values.size, grad.dtype)


@losses.register("cosine_similarity")
class CosineSimilarity(Loss):
    """Minus the cosine similarity between targets and predictions along ``axis``.

    Math:
        L = mean over the other axes of c (`cosine_similarity_terms`), in [-1, 1];
        dL/dy_pred = dc/dy_pred / (number of vectors)

    Args:
        axis: the axis the vectors lie along (the features axis, -1 by default).
    """

    name = "cosine_similarity"
    takes_logits = False

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int. Got {type(axis).__name__} {axis!r} instead.")
        self.axis = int(axis)

    def forward(self, y_pred, y_true):
        if not -y_pred.ndim <= self.axis < y_pred.ndim:
            raise ValueError(
                f"CosineSimilarity(axis={self.axis}) needs outputs with more than "
                f"{abs(self.axis) - (self.axis < 0)} axes; the model's outputs have shape "
                f"{y_pred.shape}. Pass axis=-1 (the features axis)."
            )
        values, grad = cosine_similarity_terms(y_pred, y_true, self.axis)
        return float(np.mean(values)), grad * np.asarray(1.0 / values.size, grad.dtype)

    def get_config(self):
        return {} if self.axis == -1 else {"axis": self.axis}


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Keras's per-sample loss functions' inputs: float arrays of the same rank."""
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1:] == (1,):
        y_true = y_true[..., None]
    elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    return y_true, y_pred


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """Keras's ``losses.huber``: the Huber loss of each sample (mean over the last axis)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(huber_terms(y_pred - y_true, float(delta))[0], axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    """Keras's ``losses.log_cosh``: the log-cosh loss of each sample (mean over the last axis)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(log_cosh_terms(y_pred - y_true)[0], axis=-1)


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """Keras's ``losses.hinge``: the hinge loss of each sample (mean over the last axis)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(hinge_terms(y_pred, hinge_labels(y_true))[0], axis=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    """Keras's ``losses.kl_divergence``: KL(y_true || y_pred) of each sample (last axis)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return kl_divergence_terms(y_pred, y_true)[0]


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """Keras's ``losses.cosine_similarity``: minus the cosine similarity along ``axis``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return cosine_similarity_terms(y_pred, y_true, axis)[0]


#: Keras's per-sample functions, accepted by `get` (and so by ``compile(loss=...)``)
FUNCTIONS = {
    huber: Huber,
    log_cosh: LogCosh,
    hinge: Hinge,
    kl_divergence: KLDivergence,
    cosine_similarity: CosineSimilarity,
}
kld = kl_divergence


#: the reductions a loss written with ops may ask for (Keras's names)
REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight")


def check_reduction(reduction: Any) -> str:
    """Keras's reduction argument: the per-sample values' sum, divided by their number
    (``sum_over_batch_size``, ``mean``), by the sum of the sample weights
    (``mean_with_sample_weight``), or not (``sum``).

    Raises:
        NotImplementedError: ``"none"``/None (unreduced losses: compile needs a number).
        ValueError: any other name.
    """
    if reduction is None or reduction == "none":
        raise NotImplementedError(
            "reduction='none' (one loss per sample) is not supported: compile and fit need one "
            "number per batch. Use 'sum_over_batch_size' (Keras's default) or 'sum'."
        )
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(REDUCTIONS)}. Received: reduction={reduction!r}."
        )
    return str(reduction)


def _same_rank(a: Any, b: Any) -> tuple[Any, Any]:
    """Keras's squeeze_or_expand_to_same_rank on arrays or traced tensors: ranks that differ by
    one through a last axis of size 1 are made equal (a rank-1 side gains the axis)."""
    from engram.nn import ops

    ra, rb = len(ops.shape(a)), len(ops.shape(b))
    if ra == rb + 1 and ops.shape(a)[-1] == 1:
        return (a, ops.expand_dims(b, -1)) if rb == 1 else (ops.squeeze(a, -1), b)
    if rb == ra + 1 and ops.shape(b)[-1] == 1:
        return (ops.expand_dims(a, -1), b) if ra == 1 else (a, ops.squeeze(b, -1))
    return a, b


class CallLoss(Loss):
    """A loss written with ops: a function ``fn(y_true, y_pred)`` (``compile(loss=fn)``), or
    the ``call`` of a `Loss` subclass. Its gradient is the tape's.

    Math (Keras's ``reduce_weighted_values``), v = fn(y_true, y_pred), weights w:
        L = sum(v * w) / size(v)       sum_over_batch_size, mean (w = 1 without weights)
        L = sum(v * w)                 sum
        L = sum(v * w) / sum(w)        mean_with_sample_weight
        dL/dy_pred: the tape of fn, replayed from dL/dL = 1

    Args:
        fn: the function, ``fn(y_true, y_pred)`` -> values per sample (or a scalar).
        name: the loss's name (the function's name, or the subclass's ``name``).
        reduction: one of `REDUCTIONS`.
        same_rank: whether y_true and y_pred are first brought to the same rank (Keras does so
            for functions, not for a subclass's ``call``).
    """

    takes_logits = False

    def __init__(self, fn: Any, name: str, reduction: str = "sum_over_batch_size", same_rank=True):
        super().__init__(name=name, reduction=reduction)
        self.fn = fn
        self.same_rank = same_rank

    @classmethod
    def of(cls, loss: Loss) -> CallLoss:
        """The CallLoss of a `Loss` subclass instance that writes ``call``."""
        return cls(loss.call, loss.name, getattr(loss, "reduction", "sum_over_batch_size"), False)

    def prepare_targets(self, y: Any, output_shape: tuple[int, ...], name: str = "y") -> np.ndarray:
        """Targets as float32 arrays of any shape (the function decides what they mean)."""
        return check_array(y, name, dtype=np.float32)

    def forward(self, y_pred, y_true):
        return self.forward_weighted(y_pred, y_true, None)

    def forward_weighted(self, y_pred, y_true, weights):
        from engram.nn import ops
        from engram.nn.tape import Tape, Tensor

        with Tape() as tape:
            pred = tape.watch(y_pred)
            truth, p = _same_rank(y_true, pred) if self.same_rank else (y_true, pred)
            values = self.fn(truth, p)
            if not isinstance(values, Tensor):
                values = ops.convert_to_tensor(values)  # does not depend on y_pred
            if weights is not None:
                values, w = _same_rank(values, np.asarray(weights, y_pred.dtype))
                values = values * w
            total = ops.sum(values)
            if self.reduction in ("sum_over_batch_size", "mean"):
                total = total / max(int(np.prod(ops.shape(values))), 1)
            elif self.reduction == "mean_with_sample_weight":
                total = total / (float(np.sum(weights)) if weights is not None else values.size)
        if not isinstance(total, Tensor):
            return float(total), np.zeros_like(y_pred)
        grad = tape.backward([(total, np.ones((), total.dtype))])[pred.index]
        return float(total.value), np.zeros_like(y_pred) if grad is None else grad

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


def get(identifier: Any) -> Loss:
    """A `Loss` from a name, a ``{"name", "config"}`` dict or an instance; a function
    ``fn(y_true, y_pred)`` or a `Loss` subclass that writes ``call`` becomes a `CallLoss`."""
    if isinstance(identifier, Loss):
        if callable(getattr(identifier, "call", None)) and not isinstance(identifier, CallLoss):
            return CallLoss.of(identifier)
        return identifier
    if isinstance(identifier, dict):
        return losses.get(identifier["name"])(**identifier.get("config", {}))
    if isinstance(identifier, str):
        return losses.get(identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return get(identifier())
    if callable(identifier) and identifier in FUNCTIONS:
        return FUNCTIONS[identifier]()
    if callable(identifier) and not isinstance(identifier, type):
        return CallLoss(identifier, getattr(identifier, "__name__", "loss"))
    raise TypeError(
        f"loss must be a name such as 'mse', a Loss instance or a function "
        f"fn(y_true, y_pred) written with engram.nn.ops. Got {type(identifier).__name__} instead."
    )


def to_json(loss: Loss) -> Any:
    """A loss as a model file stores it: a name, or ``{"name", "config"}``.

    Raises:
        NotImplementedError: a loss written in Python (`CallLoss`): files hold data, never
            code.
    """
    if isinstance(loss, CallLoss):
        raise NotImplementedError(
            f"The model is compiled with the loss {loss.name!r}, written in Python (a function "
            "or a Loss subclass): engram's files hold data only, never code, so it cannot be "
            "saved with the model. Use save_weights(), or compile with a built-in loss first."
        )
    config = loss.get_config()
    return loss.name if not config else {"name": loss.name, "config": config}
