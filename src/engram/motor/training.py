"""Training recurrent networks on tasks: a masked loss and a regularized gradient step.

Tasks such as `ReachTask` and `FlipFlopTask` give a mask with their targets (padding after a
trial's end, steps before there is anything to remember), and the "simple network" solutions of
Sussillo et al. 2015 need L2 penalties on the firing rates and the weights. `Sequential.fit`
knows neither, so this module holds the few lines that do it, in the open:

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
from engram.nn.utils import progress
from engram.validation import check_positive

__all__ = ["PENALIZED_WEIGHTS", "fit_task", "masked_mse", "train_step"]

#: the weights the L2 weight penalty applies to (biases are not penalized)
PENALIZED_WEIGHTS = ("weights", "recurrent_weights")


def masked_mse(
    y_pred: np.ndarray, y_true: np.ndarray, mask: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean squared error over the entries where ``mask`` is 1.

    Math:
        L = sum(m * (y - t)^2) / sum(m)          dL/dy = 2 m (y - t) / sum(m)
        (an all-zero mask gives L = 0 and a zero gradient)

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
    loss = float(np.sum(mask * diff * diff) / count)
    return loss, ((2.0 / count) * mask * diff).astype(y_pred.dtype, copy=False)


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
        The rate term's gradient 2 rate_l2 r / r.size joins the gradient arriving at the
        RateRNN's output; the weight term's 2 weight_l2 w is added to the weight gradients;
        then ``optimizer.step`` (give it global_clipnorm=1.0 to clip as MotorNet does).
        The step runs with single-threaded BLAS (`single_blas_thread`).

    Args:
        model: a `Sequential` (built on first use from the inputs' shape).
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
    dtype = model.dtype if model.built else np.dtype(np.float32)
    x = np.asarray(inputs, dtype=dtype)
    if not model.built:
        model.build((None, *x.shape[1:]))
    outputs = []
    for layer in model.layers:
        x = layer.forward(x, True)
        outputs.append(x)
    task_loss, grad = masked_mse(x, np.asarray(targets, dtype=dtype), mask)
    rate_penalty = 0.0
    for i in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[i]
        if rate_l2 and isinstance(layer, RateRNN):
            rates = outputs[i]
            rate_penalty += rate_l2 * float(np.mean(rates * rates))
            grad = grad + (2.0 * rate_l2 / rates.size) * rates
        grad = layer.backward(grad)
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
        "loss": task_loss + rate_penalty + weight_penalty,
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
