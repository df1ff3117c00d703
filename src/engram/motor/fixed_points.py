"""Fixed points and slow points of recurrent maps (Sussillo & Barak 2013).

A recurrent network run with a constant input is a map h -> F(h). Its fixed points F(h*) = h*,
and the eigenvalues of the Jacobian dF/dh there, describe what the network computes: memories
are stable fixed points, decisions happen near saddles. `find_fixed_points` minimizes
q(h) = 1/2 |F(h) - h|^2 from many initial states (typically states visited by the trained
network), keeps the minima with q below a tolerance, removes duplicates and classifies each.

`tanh_rnn_map` and `rate_rnn_map` build (step, jacobian) for the two usual network types from
weight arrays stored as in `engram.nn` and Keras (row vectors: ``h @ recurrent_weights``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from engram.validation import Seed, as_rng, check_array, check_choice, check_positive

__all__ = [
    "FixedPoints",
    "RecurrentMap",
    "find_fixed_points",
    "finite_difference_jacobian",
    "rate_rnn_map",
    "speed_of_euler_q",
    "tanh_rnn_map",
]

Step = Callable[..., np.ndarray]


@dataclass
class FixedPoints:
    """Unique fixed points, sorted by number of unstable dimensions, then by coordinates.

    Attributes:
        points: (k, units).
        q: (k,), 1/2 |F(h) - h|^2 at each point: the map's q. For an Euler-discretized ODE
            (`rate_rnn_map`), Sussillo & Barak's continuous-time speed 1/2 |dh/dt|^2 is
            q / dt^2 (`speed_of_euler_q`).
        jacobians: (k, units, units), dF/dh at each point.
        eigenvalues: (k, units) complex, sorted by decreasing modulus.
        is_stable: (k,), every |eigenvalue| < 1 (an attractor of the map).
        n_unstable: (k,), number of eigenvalues with modulus > 1 (0: stable, >= 1: saddle or
            repeller).
        n_initial: number of initial states.
        n_converged: initial states that ended with q < tol_q (before deduplication).
    """

    points: np.ndarray
    q: np.ndarray
    jacobians: np.ndarray
    eigenvalues: np.ndarray
    is_stable: np.ndarray
    n_unstable: np.ndarray
    n_initial: int
    n_converged: int

    def __len__(self) -> int:
        return len(self.points)

    @property
    def stable_points(self) -> np.ndarray:
        """(n_stable, units), the attractors."""
        return self.points[self.is_stable]


class RecurrentMap(NamedTuple):
    """``step(h, u=None) -> F(h)`` and ``jacobian(h, u=None) -> dF/dh``, both batched."""

    step: Step
    jacobian: Step


# ------------------------------------------------------------------------ builders


def _weights(recurrent_weights, input_weights, bias):
    w = check_array(recurrent_weights, "recurrent_weights", ndim=2, dtype=np.float64)
    units = w.shape[1]
    if w.shape[0] != units:
        raise ValueError(
            f"recurrent_weights must be square, (units, units). Got shape {w.shape} instead."
        )
    b_in = None
    if input_weights is not None:
        b_in = check_array(input_weights, "input_weights", ndim=2, dtype=np.float64)
        if b_in.shape[1] != units:
            raise ValueError(
                f"input_weights must have shape (inputs, {units}) to match recurrent_weights. "
                f"Got {b_in.shape} instead."
            )
    b = np.zeros(units) if bias is None else check_array(bias, "bias", ndim=1, dtype=np.float64)
    if b.shape != (units,):
        raise ValueError(f"bias must have shape ({units},). Got {b.shape} instead.")
    return w, b_in, b


def _drive(u, input_weights, bias) -> np.ndarray:
    if u is None or input_weights is None:
        return bias
    return np.asarray(u, dtype=np.float64) @ input_weights + bias


def tanh_rnn_map(recurrent_weights, input_weights=None, bias=None) -> RecurrentMap:
    """The map of a vanilla tanh RNN (engram/Keras SimpleRNN) with a constant input.

    Math:
        F(h) = tanh(h @ W + u @ B + b)      h: (n, units)  u: (n, inputs) or (inputs,)
        dF/dh[n, i, j] = (1 - F_i^2) W[j, i]    i.e. J = diag(1 - F^2) W^T
        In column notation h' = tanh(W' h + B' u + b) this is W' = W^T, B' = B^T. For an
        engram.nn SimpleRNN with p = layer.params:
        tanh_rnn_map(p["recurrent_weights"], p["weights"], p.get("bias")).

    Args:
        recurrent_weights: W, (units, units) (Keras's recurrent_kernel).
        input_weights: B, (inputs, units) (Keras's kernel); None for no input.
        bias: b, (units,); zeros when None.

    Returns:
        A `RecurrentMap` ``(step, jacobian)``; both take ``(h, u=None)``.

    Example:
        >>> step, jac = tanh_rnn_map(2.0 * np.eye(1))
        >>> float(step(np.array([[0.5]]))[0, 0]) == float(np.tanh(1.0))
        True
    """
    w, b_in, b = _weights(recurrent_weights, input_weights, bias)

    def step(h, u=None):
        return np.tanh(np.asarray(h, dtype=np.float64) @ w + _drive(u, b_in, b))

    def jacobian(h, u=None):
        slope = 1.0 - step(h, u) ** 2
        return slope[:, :, None] * w.T[None, :, :]

    return RecurrentMap(step, jacobian)


def rate_rnn_map(
    recurrent_weights, input_weights=None, bias=None, *, dt: float = 10.0, tau: float = 50.0
) -> RecurrentMap:
    """The Euler-discretized continuous-time rate network with a constant input.

    Math:
        tau dh/dt = -h + tanh(h) @ W + u @ B + b, discretized with a = dt / tau:
        F(h) = h + a (-h + tanh(h) @ W + u @ B + b)
        dF/dh[n, i, j] = (1 - a) delta_ij + a W[j, i] (1 - tanh(h_j)^2)
        Fixed points of F are those of the ODE for any dt; their stability is the map's (for
        small a, |eigenvalue| < 1 matches the ODE's Re(lambda) < 0).
        q of this map is not Sussillo & Barak's continuous-time speed: F(h) - h = dt dh/dt,
        so 1/2 |dh/dt|^2 = q / dt^2 (`speed_of_euler_q`), and a map eigenvalue lambda is
        the ODE's (lambda - 1) / dt.

    Args:
        recurrent_weights: W, (units, units), acting on the rates tanh(h).
        input_weights: B, (inputs, units); None for no input.
        bias: b, (units,); zeros when None.
        dt: step, in the same unit as tau.
        tau: time constant.

    Returns:
        A `RecurrentMap` ``(step, jacobian)``; both take ``(h, u=None)``.

    Example:
        >>> step, jac = rate_rnn_map(np.zeros((2, 2)), dt=10.0, tau=50.0)
        >>> step(np.ones((1, 2))).tolist()
        [[0.8, 0.8]]
    """
    w, b_in, b = _weights(recurrent_weights, input_weights, bias)
    alpha = float(check_positive(dt, "dt")) / float(check_positive(tau, "tau"))
    eye = np.eye(len(w))

    def step(h, u=None):
        h = np.asarray(h, dtype=np.float64)
        return h + alpha * (-h + np.tanh(h) @ w + _drive(u, b_in, b))

    def jacobian(h, u=None):
        slope = 1.0 - np.tanh(np.asarray(h, dtype=np.float64)) ** 2
        return (1.0 - alpha) * eye + alpha * w.T[None, :, :] * slope[:, None, :]

    return RecurrentMap(step, jacobian)


def speed_of_euler_q(q, dt: float):
    """Sussillo & Barak's continuous-time speed from q of an Euler map (`rate_rnn_map`).

    Math:
        F(h) = h + dt f(h) for the ODE dh/dt = f(h), so F(h) - h = dt dh/dt and
        q_ode = 1/2 |dh/dt|^2 = q_map / dt^2     (in 1 / (unit of dt)^2)

    Args:
        q: q(h) = 1/2 |F(h) - h|^2 of the map (`FixedPoints.q`), scalar or array.
        dt: the Euler step, in the unit the speed should be in (e.g. seconds).

    Returns:
        q / dt^2, float64, shaped like ``q``.

    Example:
        >>> float(speed_of_euler_q(2e-12, dt=0.5))
        8e-12
    """
    dt = float(check_positive(dt, "dt"))
    return np.asarray(q, dtype=np.float64) / dt**2


def finite_difference_jacobian(step: Step, eps: float = 1e-6) -> Step:
    """A central-difference Jacobian for a batched ``step(h, u=None)`` (2 * units calls)."""

    def jacobian(h, u=None):
        n, d = h.shape
        shifts = eps * np.eye(d)
        plus = (h[:, None, :] + shifts).reshape(-1, d)
        minus = (h[:, None, :] - shifts).reshape(-1, d)
        uu = None if u is None else np.repeat(u, d, axis=0)
        diff = _apply(step, plus, uu) - _apply(step, minus, uu)
        return (diff.reshape(n, d, d) / (2 * eps)).transpose(0, 2, 1)

    return jacobian


# ---------------------------------------------------------------------- the finder


def _apply(fn: Step, h: np.ndarray, u: np.ndarray | None) -> np.ndarray:
    return np.asarray(fn(h) if u is None else fn(h, u), dtype=np.float64)


class _Problem:
    """q(h), its residual and the Jacobian of the residual, on a subset of rows."""

    def __init__(self, step: Step, jacobian: Step, inputs: np.ndarray | None) -> None:
        self.step, self.jacobian, self.inputs = step, jacobian, inputs

    def u(self, rows: np.ndarray) -> np.ndarray | None:
        return None if self.inputs is None else self.inputs[rows]

    def residual(self, h: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = _apply(self.step, h, self.u(rows))
        if out.shape != h.shape:
            raise ValueError(
                f"step must map states of shape (n, units) to the same shape. It mapped "
                f"{h.shape} to {out.shape}."
            )
        return out - h

    def residual_jacobian(self, h: np.ndarray, rows: np.ndarray) -> np.ndarray:
        jac = _apply(self.jacobian, h, self.u(rows))
        n, d = h.shape
        if jac.shape != (n, d, d):
            raise ValueError(
                f"jacobian must return dF/dh of shape (n, units, units) = {(n, d, d)} for states "
                f"of shape {h.shape}. Got {jac.shape} instead."
            )
        return jac - np.eye(d)


def _levenberg_marquardt(problem: _Problem, h: np.ndarray, max_iter: int) -> np.ndarray:
    """Batched Levenberg-Marquardt on r(h) = F(h) - h: quadratic convergence at fixed points."""
    n, d = h.shape
    everyone = np.arange(n)
    r = problem.residual(h, everyone)
    q = 0.5 * np.sum(r**2, axis=1)
    damping = np.full(n, 1e-3)
    active = np.ones(n, dtype=bool)
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        a = problem.residual_jacobian(h[rows], rows)  # dr/dh, (m, d, d)
        a_t = a.transpose(0, 2, 1)
        grad = np.matmul(a_t, r[rows][:, :, None])  # A^T r, (m, d, 1)
        normal = np.matmul(a_t, a)  # A^T A
        scale = np.maximum(np.trace(normal, axis1=1, axis2=2) / d, 1e-12)
        lhs = normal + (damping[rows] * scale)[:, None, None] * np.eye(d)
        delta = -np.linalg.solve(lhs, grad)[:, :, 0]
        trial = h[rows] + delta
        r_trial = problem.residual(trial, rows)
        q_trial = 0.5 * np.sum(r_trial**2, axis=1)
        better = q_trial < q[rows]
        good = rows[better]
        h[good], r[good], q[good] = trial[better], r_trial[better], q_trial[better]
        damping[good] *= 0.3
        damping[rows[~better]] *= 10.0
        tiny = np.linalg.norm(delta, axis=1) <= 1e-15 * (1.0 + np.linalg.norm(h[rows], axis=1))
        done = (q[rows] < 1e-32) | tiny | (damping[rows] > 1e12)
        active[rows[done]] = False
    return h


def _adam(problem: _Problem, h: np.ndarray, max_iter: int, learning_rate: float) -> np.ndarray:
    """Batched Adam on q(h) with gradient (dF/dh - I)^T (F(h) - h), as Golub & Sussillo 2018."""
    rows = np.arange(len(h))
    m, v = np.zeros_like(h), np.zeros_like(h)
    beta1, beta2, eps = 0.9, 0.999, 1e-12
    for t in range(1, max_iter + 1):
        r = problem.residual(h, rows)
        grad = np.matmul(r[:, None, :], problem.residual_jacobian(h, rows))[:, 0, :]
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        h = h - learning_rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return h


def _deduplicate(points: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray:
    """Indices of points farther than ``tol`` from every lower-q point kept before them."""
    kept: list[int] = []
    for i in np.argsort(q, kind="stable"):
        if not kept or np.min(np.linalg.norm(points[kept] - points[i], axis=1)) > tol:
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def _check_inputs(inputs, n: int) -> np.ndarray | None:
    if inputs is None:
        return None
    u = check_array(inputs, "inputs", ndim=(1, 2), dtype=np.float64)
    if u.ndim == 1:
        return np.broadcast_to(u, (n, len(u))).copy()
    if len(u) != n:
        raise ValueError(
            f"inputs must be one constant input (inputs,) or one per initial state ({n}, "
            f"inputs). Got shape {u.shape} instead."
        )
    return u


def find_fixed_points(
    step: Step,
    jacobian: Step | None,
    initial_states,
    *,
    inputs=None,
    tol_q: float = 1e-12,
    max_iter: int = 200,
    dedup_tol: float = 1e-5,
    method: str = "lm",
    learning_rate: float = 1e-2,
    noise_scale: float = 0.0,
    seed: Seed = None,
) -> FixedPoints:
    """Find, deduplicate and classify the fixed points of a recurrent map.

    Math:
        q(h) = 1/2 |F(h) - h|^2,   grad q = (J - I)^T (F(h) - h),   J = dF/dh
        "lm":   h <- h - (A^T A + mu s I)^-1 A^T r with A = J - I, r = F(h) - h, s = tr(A^T A)/d
                and mu adapted per point (x0.3 after a successful step, x10 after a failed one):
                Gauss-Newton, hence quadratic convergence, near a fixed point; gradient descent
                far from one. Converges to true fixed points to machine precision, and to slow
                points (local minima of q > 0) otherwise. Cost per iteration O(n d^3).
        "adam": Adam on q for max_iter steps (Golub & Sussillo 2018); O(n d^2) per step, for
                networks too large for "lm". It converges slowly near a minimum (q ~ 1e-10
                after 3000 steps on a 2-unit network), so loosen tol_q and dedup_tol, or
                polish its points with "lm" (pass them as initial_states).
        Kept: points with q < tol_q; two points closer than dedup_tol are one (the lower q
        stays). Stability of the map at each: eigenvalues of J; stable if all |lambda| < 1,
        n_unstable = #{|lambda| > 1}.

    Args:
        step: ``step(h) -> F(h)``, batched (n, units) -> (n, units); called as
            ``step(h, inputs)`` when ``inputs`` is given.
        jacobian: ``jacobian(h) -> dF/dh``, (n, units) -> (n, units, units), same convention;
            None uses central finite differences (slower, precise to about 1e-10).
        initial_states: (n, units) starting points, e.g. states visited by the network.
        inputs: a constant input (inputs,) or one per initial state (n, inputs), or None.
        tol_q: keep points with q below this (raise it, e.g. to 1e-4, to keep slow points).
        max_iter: iterations of the optimizer.
        dedup_tol: distance under which two points are the same.
        method: ``"lm"`` (Levenberg-Marquardt, default) or ``"adam"``.
        learning_rate: Adam's step size.
        noise_scale: standard deviation of Gaussian noise added to the initial states.
        seed: seed or Generator for that noise.

    Returns:
        A `FixedPoints` (possibly empty).

    Raises:
        ValueError: initial_states not 2-D or not finite, or step/jacobian returning the wrong
            shapes.

    Example:
        >>> step, jac = tanh_rnn_map(2.0 * np.eye(1))         # h' = tanh(2 h): bistable
        >>> found = find_fixed_points(step, jac, np.linspace(-2, 2, 9)[:, None])
        >>> np.round(found.points[:, 0], 4).tolist(), found.n_unstable.tolist()
        ([-0.9575, 0.9575, 0.0], [0, 0, 1])

    Reference:
        Sussillo & Barak 2013, Neural Computation 25:626; Golub & Sussillo 2018, JOSS 3:1003
        (FixedPointFinder).
    """
    h0 = check_array(initial_states, "initial_states", dtype=np.float64)
    if h0.ndim != 2:
        raise ValueError(
            f"initial_states must be a 2-D array (n, units). Got shape {h0.shape} instead; for "
            "one state use state[None], for trajectories (batch, time, units) use "
            "states.reshape(-1, units)."
        )
    check_choice(method, "method", ("lm", "adam"))
    check_positive(tol_q, "tol_q")
    max_iter = int(check_positive(max_iter, "max_iter", integer=True))
    dedup_tol = float(check_positive(dedup_tol, "dedup_tol", strict=False))
    noise = float(check_positive(noise_scale, "noise_scale", strict=False))
    jac = jacobian if jacobian is not None else finite_difference_jacobian(step)
    problem = _Problem(step, jac, _check_inputs(inputs, len(h0)))
    h = h0.copy()
    if noise > 0:
        h += as_rng(seed).normal(0.0, noise, size=h.shape)
    if method == "lm":
        h = _levenberg_marquardt(problem, h, max_iter)
    else:
        h = _adam(problem, h, max_iter, float(check_positive(learning_rate, "learning_rate")))
    rows = np.arange(len(h))
    q = 0.5 * np.sum(problem.residual(h, rows) ** 2, axis=1)
    converged = np.flatnonzero(q < tol_q)
    unique = converged[_deduplicate(h[converged], q[converged], dedup_tol)]
    return _classify(problem, h, q, unique, len(h0), len(converged))


def _classify(problem, h, q, unique, n_initial: int, n_converged: int) -> FixedPoints:
    d = h.shape[1]
    if unique.size == 0:
        empty = np.zeros((0, d))
        return FixedPoints(
            empty,
            np.zeros(0),
            np.zeros((0, d, d)),
            np.zeros((0, d), complex),
            np.zeros(0, bool),
            np.zeros(0, np.int64),
            n_initial,
            n_converged,
        )
    jac = problem.residual_jacobian(h[unique], unique) + np.eye(d)
    eig = np.linalg.eigvals(jac)
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=1, kind="stable"), axis=1)
    n_unstable = np.sum(np.abs(eig) > 1.0, axis=1)
    order = np.lexsort((*h[unique].T[::-1], n_unstable))
    return FixedPoints(
        points=h[unique][order],
        q=q[unique][order],
        jacobians=jac[order],
        eigenvalues=eig[order],
        is_stable=np.all(np.abs(eig) < 1.0, axis=1)[order],
        n_unstable=n_unstable[order],
        n_initial=n_initial,
        n_converged=n_converged,
    )
