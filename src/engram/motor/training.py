"""Training recurrent networks on tasks: a masked loss and a regularized gradient step.

Tasks such as `ReachTask` and `FlipFlopTask` give a mask with their targets (padding after a
trial's end, steps before there is anything to remember), and the "simple network" solutions of
Sussillo et al. 2015 need L2 penalties on the firing rates and the weights. The step is the
engine's one gradient step, `Model.compute_gradients`, with the mask as entry-wise weights of
`MaskedMeanSquaredError`, the rate penalty as the RateRNN layers' activity regularizer
(`MeanSquareActivity`), and the weight penalty added to the gradients before the update:

    for step in range(n_steps):
        batch = task.sample(batch_size)
        logs = train_step(model, batch["inputs"], batch["targets"], batch["mask"], optimizer,
                          rate_l2=1e-3, weight_l2=1e-5)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engram.motor.rate_network import RateRNN, single_blas_thread
from engram.nn.losses import Loss, losses
from engram.nn.utils import progress
from engram.validation import check_array, check_positive

__all__ = [
    "PENALIZED_WEIGHTS",
    "MaskedMeanSquaredError",
    "MeanSquareActivity",
    "fit_task",
    "masked_mse",
    "train_step",
]

#: the weights the L2 weight penalty applies to (biases are not penalized)
PENALIZED_WEIGHTS = ("weights", "recurrent_weights")


def masked_mse(
    y_pred: np.ndarray, y_true: np.ndarray, mask: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean squared error over the entries where ``mask`` is 1.

    Math:
        L = sum(m * (y - t)^2) / sum(m)          dL/dy = 2 m (y - t) / sum(m)
        (an all-zero mask gives L = 0 and a zero gradient; L is summed in float64, so huge
        outputs give a finite value)

    Args:
        y_pred: network outputs, any shape.
        y_true: targets, same shape.
        mask: weights in [0, 1], same shape (or broadcastable).

    Returns:
        ``(loss, grad)``: a float and dL/dy_pred shaped like ``y_pred``.
    """
    diff = y_pred - y_true
    mask = np.broadcast_to(mask, diff.shape).astype(diff.dtype, copy=False)
    count = max(float(mask.sum()), 1.0)
    loss = float(np.sum(mask * np.square(diff, dtype=np.float64)) / count)  # no overflow
    return loss, ((2.0 / count) * mask * diff).astype(y_pred.dtype, copy=False)


@losses.register("masked_mean_squared_error")
class MaskedMeanSquaredError(Loss):
    """`masked_mse` as a loss: ``compute_gradients(x, y, sample_weight=mask)`` weighs every
    entry by the mask (any shape that broadcasts to the targets); without one, plain MSE.

    Math: L = sum(m (y - t)^2) / sum(m);  dL/dy = 2 m (y - t) / sum(m).
    """

    name = "masked_mean_squared_error"
    takes_logits = False

    def prepare_targets(self, y: Any, output_shape: tuple[int, ...], name: str = "y"):
        y = check_array(y, name, dtype=None)  # float64 targets stay float64 for float64 models
        y = y if y.dtype.kind == "f" else y.astype(np.float32)
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(
                f"{name} has shape {y.shape}, but the model's output has shape "
                f"{(None, *output_shape[1:])}; the targets must match it."
            )
        return y

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, np.ndarray]:
        return self.forward_weighted(y_pred, y_true, np.ones((), y_pred.dtype))

    def forward_weighted(self, y_pred, y_true, weights) -> tuple[float, np.ndarray]:
        return masked_mse(y_pred, y_true.astype(y_pred.dtype, copy=False), weights)


class MeanSquareActivity:
    """An activity penalty on a layer's output r (its ``activity_regularizer``).

    The model divides an activity regularizer's value and gradient by the batch size B, as
    Keras does, so this R is the per-sample mean's B-fold:

    Math: R = l2 * B * mean(r^2);  dR/dr = 2 l2 B r / size(r);  P = R / B = l2 * mean(r^2).
    """

    def __init__(self, l2: float) -> None:
        self.l2 = float(l2)

    def __call__(self, rates: np.ndarray) -> float:
        return self.l2 * len(rates) * float(np.mean(rates * rates))

    def gradient(self, rates: np.ndarray) -> np.ndarray:
        return (2.0 * self.l2 * len(rates) / rates.size) * rates


def train_step(
    model: Any,
    inputs: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    optimizer: Any,
    *,
    rate_l2: float = 0.0,
    weight_l2: float = 0.0,
) -> dict[str, float]:
    """One gradient step on the masked MSE plus L2 penalties on rates and weights.

    Math:
        L = masked_mse(model(x), targets, mask)
            + rate_l2 * mean(r^2)               for the rates r of every RateRNN layer
            + weight_l2 * sum(w^2)              over every layer's weights/recurrent_weights
        The first two terms and their gradients are `Model.compute_gradients` (the rate term's
        gradient 2 rate_l2 r / r.size joins the gradient arriving at the RateRNN's output);
        the weight term's 2 weight_l2 w is then added to the weight gradients; then
        ``optimizer.step`` (give it global_clipnorm=1.0 to clip as MotorNet does). The step
        runs with single-threaded BLAS (`single_blas_thread`).

    Args:
        model: a `Sequential` (built on first use from the inputs' shape), compiled here with
            ``optimizer`` and `MaskedMeanSquaredError` unless it already is.
        inputs: (batch, time, features).
        targets: the model's output shape, e.g. (batch, time, outputs).
        mask: same shape as targets.
        optimizer: an `engram.nn.optimizers.Optimizer`.
        rate_l2: weight of the rate penalty (>= 0).
        weight_l2: weight of the weight penalty (>= 0).

    Returns:
        ``{"loss", "task_loss", "rate_penalty", "weight_penalty"}`` on this batch (before the
        step).
    """
    rate_l2 = float(check_positive(rate_l2, "rate_l2", strict=False))
    weight_l2 = float(check_positive(weight_l2, "weight_l2", strict=False))
    with single_blas_thread():  # small matrices: see `single_blas_thread`
        return _train_step(model, inputs, targets, mask, optimizer, rate_l2, weight_l2)


def _train_step(model, inputs, targets, mask, optimizer, rate_l2, weight_l2) -> dict[str, float]:
    if model.optimizer is not optimizer or not isinstance(model.loss, MaskedMeanSquaredError):
        model.compile(optimizer, MaskedMeanSquaredError())
    targets = np.asarray(targets)
    mask = np.broadcast_to(np.asarray(mask), targets.shape)  # entry-wise weights
    rnns = [layer for layer in model.layers if isinstance(layer, RateRNN)]
    saved = [layer.activity_regularizer for layer in rnns]
    for layer in rnns:
        layer.activity_regularizer = MeanSquareActivity(rate_l2) if rate_l2 else None
    try:
        loss = model.compute_gradients(inputs, targets, sample_weight=mask)
        rate_penalty = sum(model.losses) if rate_l2 else 0.0
    finally:
        for layer, regularizer in zip(rnns, saved, strict=True):
            layer.activity_regularizer = regularizer
    task_loss = loss - rate_penalty if rate_l2 else loss
    weight_penalty = 0.0
    if weight_l2:
        for layer in model.layers:
            for key in PENALIZED_WEIGHTS:
                if key in layer.params and key in layer.grads:
                    w = layer.params[key]
                    weight_penalty += weight_l2 * float(np.sum(w * w))
                    layer.grads[key] = layer.grads[key] + (2.0 * weight_l2) * w
    optimizer.step(model.layers)
    return {
        "loss": loss + weight_penalty,
        "task_loss": task_loss,
        "rate_penalty": rate_penalty,
        "weight_penalty": weight_penalty,
    }


def fit_task(
    model: Any,
    sample: Callable[[int], dict[str, np.ndarray]],
    n_steps: int,
    optimizer: Any,
    *,
    rate_l2: float = 0.0,
    weight_l2: float = 0.0,
    verbose: int = 0,
    desc: str = "training",
) -> dict[str, np.ndarray]:
    """Train on a fresh batch per step; ``sample(step)`` returns inputs, targets and mask.

    Returns:
        The `train_step` logs per step, as arrays: ``history["task_loss"]`` etc.
    """
    n_steps = int(check_positive(n_steps, "n_steps", integer=True))
    history: dict[str, list[float]] = {}
    bar = progress(range(n_steps), desc=desc, verbose=verbose)
    for step in bar:
        batch = sample(step)
        logs = train_step(
            model,
            batch["inputs"],
            batch["targets"],
            batch["mask"],
            optimizer,
            rate_l2=rate_l2,
            weight_l2=weight_l2,
        )
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if verbose and step % 20 == 0:
            bar.set_postfix({"loss": f"{logs['task_loss']:.4f}"})
    return {key: np.asarray(values) for key, values in history.items()}
