"""A finite-difference gradient checker that users can point at any layer, loss or model.

Math:
    For a scalar function f of an array a, the central difference
        dF/da_i ~= (f(a + eps e_i) - f(a - eps e_i)) / (2 eps)
    has error O(eps^2); in float64 with eps = 1e-6 it agrees with a correct analytic gradient to
    about 1e-9 relative. The reported error of an array is the norm-based relative error
        err = |g_analytic - g_numeric| / max(|g_analytic| + |g_numeric|, tiny)

A layer's output is reduced to a scalar with a fixed random upstream gradient G:
f(x) = sum(G * layer(x)), so backward(G) must return df/dx and fill df/dparams.
Everything is done in float64, on a copy (your layer or model is not changed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engram.nn.random import SeedGenerator
from engram.validation import as_rng


@dataclass
class GradcheckReport:
    """Relative error per checked array (``"input"``, ``"layer/weights"`` ...)."""

    errors: dict[str, float] = field(default_factory=dict)
    tolerance: float = 1e-6

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_error < self.tolerance

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [
            f"gradcheck {'passed' if self.passed else 'FAILED'} (tolerance {self.tolerance:g}):"
        ]
        lines += [f"  {k:<30} relative error {v:.3e}" for k, v in self.errors.items()]
        return "\n".join(lines)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """|a - n| / max(|a| + |n|, 1e-12), with Euclidean norms."""
    diff = float(np.linalg.norm(np.ravel(analytic) - np.ravel(numeric)))
    scale = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return diff / max(scale, 1e-12)


def numerical_gradient(
    f: Callable[[], float],
    array: np.ndarray,
    eps: float = 1e-6,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Central differences of ``f()`` with respect to ``array``, perturbed in place.

    Only the flat ``indices`` are computed (all when None); the rest stay 0.
    """
    grad = np.zeros_like(array, dtype=np.float64)
    # index the array itself (never a reshaped copy: a non-contiguous array would copy)
    for i in range(array.size) if indices is None else indices:
        where = np.unravel_index(int(i), array.shape)
        old = array[where]
        array[where] = old + eps
        plus = f()
        array[where] = old - eps
        minus = f()
        array[where] = old
        grad[where] = (plus - minus) / (2 * eps)
    return grad


def _compare(report, key, analytic, f, array, eps, max_checks, rng):
    indices = None
    if array.size > max_checks:
        indices = rng.choice(array.size, size=max_checks, replace=False)
    numeric = numerical_gradient(f, array, eps, indices)
    analytic = np.asarray(analytic, dtype=np.float64)
    if indices is not None:
        analytic = analytic.reshape(-1)[indices]
        numeric = numeric.reshape(-1)[indices]
    report.errors[key] = relative_error(analytic, numeric)


def _check_layer(layer, x, eps, max_checks, rng, training, tolerance):
    layer = copy.deepcopy(layer)
    multi = isinstance(x, (list, tuple))  # a merge layer: a list of inputs
    xs = [np.array(v, dtype=np.float64) for v in (x if multi else [x])]
    x = xs if multi else xs[0]
    if not layer.built:
        shapes = [tuple(v.shape[1:]) for v in xs]
        layer.build(shapes if multi else shapes[0], as_rng(0))
    layer.astype(np.float64)
    # a stochastic layer (Dropout in training) draws the same noise in every forward pass
    generators = [v for v in vars(layer).values() if isinstance(v, np.random.Generator)]
    states = [g.bit_generator.state for g in generators]
    seeds = [v for v in vars(layer).values() if isinstance(v, SeedGenerator)]  # keras.random
    counters = [s.counter for s in seeds]

    def forward() -> np.ndarray:
        for generator, state in zip(generators, states, strict=True):
            generator.bit_generator.state = state
        for seed, counter in zip(seeds, counters, strict=True):
            seed.counter = counter
        return layer.forward(x, training)

    out = forward()
    upstream = rng.standard_normal(out.shape)
    grad_x = layer.backward(upstream)
    grads = {k: np.array(v) for k, v in layer.grads.items()}

    def f() -> float:
        return float(np.sum(upstream * forward()))

    report = GradcheckReport(tolerance=tolerance)
    grads_x = grad_x if multi else [grad_x]
    for k, (value, grad) in enumerate(zip(xs, grads_x, strict=True)):
        _compare(report, f"input[{k}]" if multi else "input", grad, f, value, eps, max_checks, rng)
    for key, value in layer.params.items():
        _compare(report, f"{layer.name}/{key}", grads[key], f, value, eps, max_checks, rng)
    return report


def _check_loss(loss, y_pred, y_true, eps, max_checks, rng, logits, tolerance):
    y_pred = np.array(y_pred, dtype=np.float64)
    y_true = loss.prepare_targets(y_true, y_pred.shape)
    if y_true.dtype.kind == "f":
        y_true = y_true.astype(np.float64)
    fn = loss.forward_logits if logits else loss.forward
    _, grad = fn(y_pred, y_true)
    report = GradcheckReport(tolerance=tolerance)
    _compare(report, "y_pred", grad, lambda: fn(y_pred, y_true)[0], y_pred, eps, max_checks, rng)
    return report


def _check_model(model, x, y, eps, max_checks, rng, tolerance):
    if not model._losses:
        raise ValueError("gradcheck(model, x, y) needs a compiled model: call compile() first.")
    clone = copy.deepcopy(model)  # your model (its weights, its optimizer) stays as it is
    clone.optimizer = None
    if not clone.built:  # built by the data first (a subclassed model traces call()), so that
        clone._check_xy(x, y)  # astype reaches weights that would otherwise stay float32
    clone.astype(np.float64)
    clone.compile(optimizer="sgd", loss=model.loss, loss_weights=model._loss_weights)
    xs, ys = clone._check_xy(x, y)
    ys = [t.astype(np.float64) if t.dtype.kind == "f" else t for t in ys]
    fused = clone._fused_outputs()

    def f() -> float:
        outs = clone.graph.forward(xs, False, fused)
        return clone._losses_of(outs, ys, fused, None, False)[0]

    # the public gradient step, in inference mode so that f() computes the same function
    clone.compute_gradients(x, y, training=False)
    report = GradcheckReport(tolerance=tolerance)
    for layer in clone._leaves():
        for key, value in layer.params.items():
            grads = np.array(layer.grads[key])
            _compare(report, f"{layer.name}/{key}", grads, f, value, eps, max_checks, rng)
    return report


def gradcheck(
    target: Any,
    *args: Any,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    max_checks: int = 2000,
    seed: int = 0,
    training: bool = False,
    logits: bool = False,
    grad: Callable[[np.ndarray], np.ndarray] | None = None,
) -> GradcheckReport:
    """Compare hand-written gradients with central finite differences, in float64.

    Args:
        target: what to check:
            - a `Layer` with ``args = (x,)``: gradients for the input and every weight (a
              merge layer takes a list of inputs);
            - a `Loss` with ``args = (y_pred, y_true)``: gradient for y_pred (``logits=True``
              checks the fused ``forward_logits`` path);
            - a compiled `Model` or `Sequential` with ``args = (x, y)``: gradients of every
              weight, from the model's own `compute_gradients` step;
            - a function ``f(a) -> float`` with ``args = (a,)`` and ``grad=df``.
        eps: finite-difference step.
        tolerance: the relative error below which the check passes.
        max_checks: at most this many entries per array are checked (chosen at random).
        seed: seeds the upstream gradient and the sampled entries.
        training: run layers in training mode (e.g. BatchNormalization's batch statistics).

    Returns:
        A `GradcheckReport`; ``report.passed``, ``report.max_error``, ``print(report)``.

    Example:
        >>> from engram.nn.layers import Dense
        >>> gradcheck(Dense(3, activation="tanh"), np.random.randn(4, 5)).passed
        True
    """
    from engram.nn.layers.base import Layer
    from engram.nn.losses import Loss
    from engram.nn.model import Model

    rng = as_rng(seed)
    if isinstance(target, Model):
        return _check_model(target, args[0], args[1], eps, max_checks, rng, tolerance)
    if isinstance(target, Layer):
        return _check_layer(target, args[0], eps, max_checks, rng, training, tolerance)
    if isinstance(target, Loss):
        return _check_loss(target, args[0], args[1], eps, max_checks, rng, logits, tolerance)
    if callable(target):
        if grad is None:
            raise ValueError("gradcheck(f, a) needs grad=df, the analytic gradient function.")
        a = np.array(args[0], dtype=np.float64)
        report = GradcheckReport(tolerance=tolerance)
        _compare(report, "input", grad(a.copy()), lambda: float(target(a)), a, eps, max_checks, rng)
        return report
    raise TypeError(
        f"gradcheck expects a Layer, a Loss, a compiled Model (or Sequential) or a function. Got "
        f"{type(target).__name__} instead."
    )
