"""Kuramoto oscillators: a vectorised integrator and the mean-field theory of their locking.

N phase oscillators with natural frequencies drawn from g(omega), all-to-all coupled:

    d theta_i / dt = omega_i + (K / N) sum_j sin(theta_j - theta_i)
                   = omega_i + K r sin(psi - theta_i),      r e^{i psi} = (1/N) sum_j e^{i theta_j}

Below the critical coupling K_c = 2 / (pi g(0)) the phases stay incoherent (r ~ 1/sqrt(N));
above it a locked cluster grows. For a Lorentzian of half-width gamma the stationary r is exact:
K_c = 2 gamma and r = sqrt(1 - K_c / K). For other unimodal g the branch solves the
self-consistency  1 = K int_{-pi/2}^{pi/2} cos^2(t) g(K r sin t) dt  (solved here numerically).

Reference:
    Kuramoto (1975), Lecture Notes in Physics 39:420; Strogatz (2000), "From Kuramoto to
    Crawford", Physica D 143:1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_array, check_choice, check_positive

DISTRIBUTIONS = ("lorentzian", "gaussian")


def frequency_density(omega: Any, distribution: str, width: float) -> np.ndarray:
    """g(omega): the Lorentzian (half-width ``width``) or Gaussian (std ``width``) density."""
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    w = np.asarray(omega, np.float64)
    if distribution == "lorentzian":
        return width / (np.pi * (w**2 + width**2))
    return np.exp(-0.5 * (w / width) ** 2) / (width * np.sqrt(2 * np.pi))


def natural_frequencies(
    n: int,
    distribution: str = "lorentzian",
    width: float = 1.0,
    *,
    seed: Seed = None,
    quantiles: bool = False,
) -> np.ndarray:
    """Natural frequencies omega_i (rad per unit time), centred on zero.

    Args:
        n: number of oscillators.
        distribution: ``"lorentzian"`` (half-width ``width``) or ``"gaussian"`` (std ``width``).
        width: gamma or sigma.
        seed: randomness (ignored with ``quantiles``).
        quantiles: place omega_i at the quantiles (i - 1/2) / n of g instead of sampling: the
            sample's own fluctuations (which shift a finite-N transition by O(N^-1/2)) vanish.

    Returns:
        (n,) float64 frequencies.
    """
    check_positive(n, "n", integer=True)
    check_positive(width, "width")
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    if quantiles:
        u = (np.arange(n) + 0.5) / n
    else:
        u = as_rng(seed).random(n)
    if distribution == "lorentzian":
        return width * np.tan(np.pi * (u - 0.5))
    from statistics import NormalDist

    inv = np.vectorize(NormalDist(0.0, width).inv_cdf)
    return inv(np.clip(u, 1e-12, 1 - 1e-12)).astype(np.float64)


def critical_coupling(distribution: str = "lorentzian", width: float = 1.0) -> float:
    """K_c = 2 / (pi g(0)): 2 gamma for a Lorentzian, sigma sqrt(8 / pi) for a Gaussian."""
    check_positive(width, "width")
    return float(2.0 / (np.pi * frequency_density(0.0, distribution, width)))


def theory_order_parameter(coupling: Any, distribution: str = "lorentzian", width: float = 1.0):
    """The stationary order parameter r(K) of the infinite system (0 below K_c).

    Math:
        Lorentzian: r = sqrt(1 - K_c / K) for K > K_c = 2 gamma.
        otherwise:  the r in (0, 1] with  1 = K int cos^2 t g(K r sin t) dt  (bisection on r;
                    the integral falls with r for unimodal g, so the root is unique).

    Returns:
        r with the shape of ``coupling`` (float64).
    """
    k = np.atleast_1d(np.asarray(coupling, np.float64))
    kc = critical_coupling(distribution, width)
    if distribution == "lorentzian":
        r = np.sqrt(np.clip(1.0 - kc / np.maximum(k, 1e-300), 0.0, None))
        return r.reshape(np.shape(coupling))
    t = np.linspace(-np.pi / 2, np.pi / 2, 2001)
    weight = np.cos(t) ** 2 * (t[1] - t[0])

    def excess(kk: np.ndarray, rr: np.ndarray) -> np.ndarray:
        g = frequency_density(kk[:, None] * rr[:, None] * np.sin(t), distribution, width)
        return kk * (g * weight).sum(axis=1) - 1.0

    lo, hi = np.zeros_like(k), np.ones_like(k)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = excess(k, mid) > 0
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    r = np.where(k > kc, 0.5 * (lo + hi), 0.0)
    return r.reshape(np.shape(coupling))


def order_parameter(phases: Any, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """r and psi of r e^{i psi} = mean_j e^{i theta_j} along ``axis``."""
    z = np.exp(1j * np.asarray(phases)).mean(axis=axis)
    return np.abs(z), np.angle(z)


@dataclass
class KuramotoRun:
    """What `simulate` returns.

    times: (n_records,) recorded times; r: (n_couplings, n_records) order parameter;
    phases: (n_couplings, n) final phases; couplings: (n_couplings,).
    """

    times: np.ndarray
    r: np.ndarray
    phases: np.ndarray
    couplings: np.ndarray

    def stationary_r(self, fraction: float = 0.5) -> np.ndarray:
        """Mean r over the last ``fraction`` of the records, per coupling."""
        start = int(len(self.times) * (1 - fraction))
        return self.r[:, start:].mean(axis=1)


def _velocity(theta: np.ndarray, omega: np.ndarray, k: np.ndarray) -> np.ndarray:
    """omega + K Im(z e^{-i theta}) with z the mean field: K r sin(psi - theta), O(N)."""
    c, s = np.cos(theta), np.sin(theta)
    zc, zs = c.mean(axis=1, keepdims=True), s.mean(axis=1, keepdims=True)
    return omega + k * (zs * c - zc * s)


def simulate(
    omega: Any,
    coupling: Any,
    duration: float = 100.0,
    dt: float = 0.05,
    *,
    record_every: int = 10,
    initial_phases: Any = None,
    seed: Seed = None,
    dtype: Any = np.float32,
) -> KuramotoRun:
    """Integrate the Kuramoto model for one or many couplings at once (fourth-order Runge-Kutta).

    Math:
        d theta_i / dt = omega_i + K r sin(psi - theta_i): the mean-field form costs O(N) per
        step instead of O(N^2); all couplings advance together as rows of one (n_K, N) array.
        Phases are wrapped into [-pi, pi) every step so float32 keeps its precision.

    Args:
        omega: (N,) natural frequencies (e.g. from `natural_frequencies`).
        coupling: K, a scalar or (n_K,) values.
        duration: model time to integrate.
        dt: step (RK4; the error is far below finite-N fluctuations at dt <= 0.1 / max|K|).
        record_every: record r every this many steps.
        initial_phases: (N,) starting phases; default uniform random (incoherent).
        seed: randomness of the initial phases.
        dtype: float32 (default) or float64.

    Returns:
        `KuramotoRun`.

    Example:
        >>> w = natural_frequencies(10_000, "lorentzian", 0.5, quantiles=True)
        >>> run = simulate(w, [0.5, 2.0], duration=50.0, seed=0)
        >>> run.stationary_r().round(1)                      # K_c = 1: incoherent, then locked
        array([0. , 0.7])
    """
    w = check_array(omega, "omega", ndim=1, dtype=dtype)
    k = np.atleast_1d(check_array(coupling, "coupling", ndim=(0, 1), dtype=dtype))[:, None]
    check_positive(duration, "duration")
    check_positive(dt, "dt")
    check_positive(record_every, "record_every", integer=True)
    if initial_phases is None:
        theta0 = as_rng(seed).uniform(-np.pi, np.pi, w.size)
    else:
        theta0 = check_array(initial_phases, "initial_phases", ndim=1, dtype=np.float64)
        if theta0.shape != w.shape:
            raise ValueError(
                f"initial_phases must have one phase per oscillator, shape {w.shape}. "
                f"Got shape {theta0.shape} instead."
            )
    theta = np.tile(theta0.astype(dtype), (k.shape[0], 1))
    steps = int(round(duration / dt))
    h = np.asarray(dt, dtype)
    times, rs = [0.0], [order_parameter(theta)[0]]
    two_pi = np.asarray(2 * np.pi, dtype)
    for step in range(1, steps + 1):
        k1 = _velocity(theta, w, k)
        k2 = _velocity(theta + 0.5 * h * k1, w, k)
        k3 = _velocity(theta + 0.5 * h * k2, w, k)
        k4 = _velocity(theta + h * k3, w, k)
        theta = theta + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        theta = np.remainder(theta + np.pi, two_pi) - np.pi
        if step % record_every == 0:
            times.append(step * dt)
            rs.append(order_parameter(theta)[0])
    return KuramotoRun(np.array(times), np.stack(rs, axis=1), theta, k[:, 0].astype(np.float64))


def measured_critical_coupling(couplings: Any, r: Any, r_min: float = 0.2) -> float:
    """K_c from a measured r(K): least squares of r^2 = 1 - K_c / K over the points with r > r_min.

    Math:
        minimise sum_k (r_k^2 - 1 + K_c / K_k)^2  ->  K_c = sum((1 - r^2) / K) / sum(1 / K^2).
        The form is the Lorentzian branch; the points near K_c, where finite N rounds the
        transition, are left out by ``r_min``.

    Raises:
        ValueError: fewer than two points above ``r_min`` (no locked branch was measured).
    """
    k = np.asarray(couplings, np.float64)
    rr = np.asarray(r, np.float64)
    keep = rr > r_min
    if keep.sum() < 2:
        raise ValueError(
            f"Need at least two couplings with r > {r_min} to fit K_c; got {int(keep.sum())}. "
            "Extend the sweep above the transition."
        )
    k, rr = k[keep], rr[keep]
    return float(np.sum((1 - rr**2) / k) / np.sum(1 / k**2))
