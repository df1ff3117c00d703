"""Hebbian plasticity: "cells that fire together wire together", as pure update functions.

Each rule is a function ``(weights, activity, ...) -> new weights`` for a batch of inputs;
`HebbianTrainer` loops one over data. Spike-timing-dependent plasticity (STDP) is here as a
trace-based step function; the spiking neuron that produces the spikes is in `spiking`.

Shapes: ``x`` (batch, n_in) inputs; ``weights`` (n_out, n_in) (a single neuron's Oja weights
may be (n_in,)); outputs y = x W^T (batch, n_out).

Reference:
    Hebb (1949), The Organization of Behavior. Oja (1982), J. Math. Biol. 15:267. Sanger
    (1989), Neural Networks 2:459. Bienenstock, Cooper & Munro (1982), J. Neurosci. 2:32.
    Bi & Poo (1998), J. Neurosci. 18:10464. Song, Miller & Abbott (2000), Nat. Neurosci. 3:919.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_array, check_choice, check_positive

RULES = ("hebb", "oja", "sanger", "bcm")


def hebb_update(
    weights: np.ndarray,
    pre: np.ndarray,
    post: np.ndarray,
    learning_rate: float,
    decay: float = 0.0,
) -> np.ndarray:
    """Plain Hebbian rule with passive decay.

    Math:
        dW = lr * post^T pre / batch - decay * W       pre: (batch, n_in), post: (batch, n_out)
        For linear neurons (post = pre W^T) the mean update is dW = W (lr C - decay I), C the
        inputs' covariance: along each eigenvector of C the weights grow by a factor
        (1 + lr lambda - decay) per step. Passive decay only shifts the rate: with
        lr lambda_1 > decay |W| still grows without bound along the top principal component,
        with lr lambda_1 < decay it shrinks to zero, and only the knife edge lr lambda_1 = decay
        leaves it unchanged (not a stable fixed point). A normalizing term that depends on the
        output, as in Oja's rule, is what bounds it.

    Returns:
        The new (n_out, n_in) weights.
    """
    n = len(pre)
    return weights + learning_rate * (post.T @ pre) / n - decay * weights


def oja_update(weights: np.ndarray, x: np.ndarray, learning_rate: float) -> np.ndarray:
    """Oja's rule: Hebb plus a forgetting term that keeps |w| near 1.

    Math:
        y = x w                                       w: (n_in,), x: (batch, n_in)
        dw = lr * mean_batch[ y (x - y w) ] = lr * (x^T y - (y . y) w) / batch
        For zero-mean x, w converges to the unit-norm top eigenvector of the covariance.

    Reference:
        Oja (1982), "A simplified neuron model as a principal component analyzer",
        J. Math. Biol. 15:267.
    """
    y = x @ weights
    return weights + learning_rate * (x.T @ y - (y @ y) * weights) / len(x)


def sanger_update(weights: np.ndarray, x: np.ndarray, learning_rate: float) -> np.ndarray:
    """Sanger's generalized Hebbian algorithm (GHA): the top k principal components, in order.

    Math:
        Y = x W^T                                     W: (k, n_in), Y: (batch, k)
        dW = lr * (Y^T x - tril(Y^T Y) W) / batch     tril keeps the lower triangle with the
        diagonal: component j is Oja's rule on the input minus components 1..j-1.

    Reference:
        Sanger (1989), "Optimal unsupervised learning in a single-layer linear feedforward
        neural network", Neural Networks 2:459.
    """
    y = x @ weights.T
    return weights + learning_rate * (y.T @ x - np.tril(y.T @ y) @ weights) / len(x)


def bcm_update(
    weights: np.ndarray,
    threshold: np.ndarray,
    x: np.ndarray,
    learning_rate: float,
    threshold_rate: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """BCM rule: potentiation above a sliding threshold, depression below it.

    Math:
        y = max(0, x W^T)                             W: (n_out, n_in), theta: (n_out,)
        dW = lr * ((y * (y - theta))^T x) / batch
        theta <- theta + threshold_rate * (mean_batch(y^2) - theta)
        The threshold tracks <y^2>, so a neuron that responds to everything raises its own
        threshold and ends up selective for one input pattern.

    Returns:
        (new weights, new threshold).

    Reference:
        Bienenstock, Cooper & Munro (1982), J. Neurosci. 2:32; Intrator & Cooper (1992).
    """
    y = np.maximum(x @ weights.T, 0)
    new_w = weights + learning_rate * ((y * (y - threshold)).T @ x) / len(x)
    new_theta = threshold + threshold_rate * ((y * y).mean(axis=0) - threshold)
    return new_w, new_theta


# ----------------------------------------------------------------------------- STDP


def stdp_window(
    delta_t: Any,
    a_plus: float = 0.005,
    a_minus: float = 0.00525,
    tau_plus: float = 20.0,
    tau_minus: float = 20.0,
) -> np.ndarray:
    """The pair-based STDP window: weight change against spike timing.

    Math:
        delta_t = t_post - t_pre (ms)
        dw = +a_plus  * exp(-delta_t / tau_plus)    delta_t > 0 (pre before post: potentiate)
        dw = -a_minus * exp( delta_t / tau_minus)   delta_t < 0 (post before pre: depress)
        dw = 0                                      delta_t = 0

    Reference:
        Bi & Poo (1998), J. Neurosci. 18:10464; Song, Miller & Abbott (2000).
    """
    d = np.asarray(delta_t, dtype=np.float64)
    with np.errstate(over="ignore"):
        pot = a_plus * np.exp(-np.abs(d) / tau_plus)
        dep = -a_minus * np.exp(-np.abs(d) / tau_minus)
    return np.where(d > 0, pot, np.where(d < 0, dep, 0.0))


def stdp_step(
    weights: np.ndarray,
    pre_trace: np.ndarray,
    post_trace: np.ndarray,
    pre_spikes: np.ndarray,
    post_spikes: np.ndarray,
    dt: float = 1.0,
    a_plus: float = 0.005,
    a_minus: float = 0.00525,
    tau_plus: float = 20.0,
    tau_minus: float = 20.0,
    w_max: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One time step of pair-based STDP with exponential traces (all-to-all pairing).

    Math:
        x <- x exp(-dt / tau_plus);  y <- y exp(-dt / tau_minus)    (traces decay)
        W += a_plus * post_t x^T      a post spike reads the pre traces: potentiation
        W -= a_minus * y pre_t^T      a pre spike reads the post traces: depression
        x += pre_t;  y += post_t      (spikes at the same step do not pair with each other)
        W clipped to [0, w_max] when w_max is given
        Summed over spike pairs this is exactly `stdp_window` applied to every pair.

    Args:
        weights: (n_post, n_pre). pre_trace: (n_pre,). post_trace: (n_post,).
        pre_spikes: (n_pre,) 0/1 spikes this step. post_spikes: (n_post,).
        dt: time step (ms).

    Returns:
        (weights, pre_trace, post_trace), new arrays.
    """
    x = pre_trace * np.exp(-dt / tau_plus)
    y = post_trace * np.exp(-dt / tau_minus)
    pre = np.asarray(pre_spikes, weights.dtype)
    post = np.asarray(post_spikes, weights.dtype)
    w = weights + a_plus * np.outer(post, x) - a_minus * np.outer(y, pre)
    if w_max is not None:
        np.clip(w, 0.0, w_max, out=w)
    return w, x + pre, y + post


def stdp_weight_change(
    pre_spikes: Any, post_spikes: Any, dt: float = 1.0, **window: float
) -> np.ndarray:
    """Total weight change that STDP makes for given spike trains (no clipping).

    Args:
        pre_spikes: (T, n_pre) 0/1 spike trains. post_spikes: (T, n_post).
        dt: time step (ms).
        **window: a_plus, a_minus, tau_plus, tau_minus as in `stdp_step`.

    Returns:
        (n_post, n_pre) float64 weight change.
    """
    pre = check_array(pre_spikes, "pre_spikes", ndim=2, dtype=np.float64)
    post = check_array(post_spikes, "post_spikes", ndim=2, dtype=np.float64)
    if len(pre) != len(post):
        raise ValueError(
            f"pre_spikes and post_spikes must cover the same time steps. Got {len(pre)} and "
            f"{len(post)} steps."
        )
    w = np.zeros((post.shape[1], pre.shape[1]))
    x, y = np.zeros(pre.shape[1]), np.zeros(post.shape[1])
    last = 0
    for t in np.flatnonzero(pre.any(axis=1) | post.any(axis=1)):
        # the silent steps since the last spike only decay the traces: one step of their length
        w, x, y = stdp_step(w, x, y, pre[t], post[t], dt=(t - last) * dt, **window)
        last = t
    return w


# ----------------------------------------------------------------------------- trainer


class HebbianTrainer:
    """Train a layer of linear neurons on data with a Hebbian rule.

    Math:
        y = x W^T; W updated per mini-batch by the rule (see hebb_update, oja_update,
        sanger_update, bcm_update); learning rate lr / (1 + learning_rate_decay * epoch)

    Args:
        rule: ``"hebb"``, ``"oja"``, ``"sanger"`` or ``"bcm"``.
        n_components: number of output neurons (Oja uses 1).
        learning_rate: step size.
        epochs: passes over the data.
        batch_size: inputs per update.
        decay: passive weight decay of the plain Hebb rule (it does not stabilise the rule:
            see `hebb_update`).
        threshold_rate: how fast BCM's threshold follows <y^2>.
        learning_rate_decay: 1/t annealing per epoch (0 keeps it constant).
        seed: initial weights and shuffling.

    Attributes (after `fit`):
        weights: (n_components, n_in) float32; threshold: (n_components,) for BCM;
        history: list of weight copies, one before training and one after each epoch.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(2000, 5)) * [3, 1, 1, 0.5, 0.5]
        >>> w = HebbianTrainer("oja", learning_rate=0.01, epochs=5, seed=0).fit(x).weights
        >>> round(abs(float(w[0, 0])), 2)
        1.0
    """

    def __init__(
        self,
        rule: str = "oja",
        n_components: int = 1,
        learning_rate: float = 0.01,
        epochs: int = 10,
        batch_size: int = 32,
        decay: float = 0.0,
        threshold_rate: float = 0.1,
        learning_rate_decay: float = 0.0,
        seed: Seed = None,
    ) -> None:
        self.rule = rule
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.decay = decay
        self.threshold_rate = threshold_rate
        self.learning_rate_decay = learning_rate_decay
        self.seed = seed

    def _check(self) -> None:
        check_choice(self.rule, "rule", RULES)
        check_positive(self.n_components, "n_components", integer=True)
        check_positive(self.learning_rate, "learning_rate")
        check_positive(self.epochs, "epochs", integer=True)
        check_positive(self.batch_size, "batch_size", integer=True)
        if self.rule == "oja" and self.n_components != 1:
            raise ValueError(
                f"rule='oja' trains one neuron, but n_components={self.n_components}. Use "
                "rule='sanger' for several principal components."
            )

    def _step(self, w, theta, xb, lr):
        if self.rule == "oja":
            return oja_update(w[0], xb, lr)[None], theta
        if self.rule == "sanger":
            return sanger_update(w, xb, lr), theta
        if self.rule == "bcm":
            return bcm_update(w, theta, xb, lr, self.threshold_rate)
        return hebb_update(w, xb, xb @ w.T, lr, self.decay), theta

    def fit(self, x: Any) -> HebbianTrainer:
        """Train on (n_samples, n_in) data; returns self."""
        self._check()
        data = check_array(x, "x", ndim=2, dtype=np.float32)
        rng = as_rng(self.seed)
        n, d = data.shape
        w = rng.normal(0.0, 1.0 / np.sqrt(d), size=(self.n_components, d)).astype(np.float32)
        if self.rule == "bcm":
            w = np.abs(w)
        theta = np.zeros(self.n_components, np.float32)
        self.history = [w.copy()]
        for epoch in range(self.epochs):
            lr = self.learning_rate / (1.0 + self.learning_rate_decay * epoch)
            order = rng.permutation(n)
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
                for lo in range(0, n, self.batch_size):
                    w, theta = self._step(w, theta, data[order[lo : lo + self.batch_size]], lr)
            if not np.isfinite(w).all():
                fix = (
                    "Plain Hebb has no fixed point (passive decay does not bound it): use "
                    "rule='oja' or 'sanger', or train for fewer epochs."
                    if self.rule == "hebb"
                    else f"Lower learning_rate (now {self.learning_rate})."
                )
                raise FloatingPointError(
                    f"Hebbian weights diverged in epoch {epoch + 1} (rule={self.rule!r}). {fix}"
                )
            self.history.append(w.copy())
        self.weights, self.threshold = w, theta
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Outputs y = x W^T of the trained neurons, (n_samples, n_components)."""
        return check_array(x, "x", ndim=2, dtype=np.float32) @ self.weights.T
