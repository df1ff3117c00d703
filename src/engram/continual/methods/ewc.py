"""Elastic weight consolidation (EWC) and online EWC: a quadratic pull back towards the weights
that solved earlier contexts, stronger where the Fisher information says a weight matters.

Math:
    Fisher of context k (diagonal), on n samples x_i of context k at its end weights theta*_k:
        F_k = (1/n) sum_i (d/dtheta log p(y_i | x_i; theta*_k))^2
        y_i = argmax_y p(y | x_i)  ("pred", the label the model itself predicts, as in van de
              Ven & Tolias's code) or y_i ~ p(y | x_i)  ("sample", Kirkpatrick et al.'s true
              Fisher by Monte Carlo); p over the context's active output units.
    EWC:        penalty = (lambda/2) sum_k sum_w F_k,w (theta_w - theta*_k,w)^2
                gradient = lambda sum_k F_k (theta - theta*_k)
                kept as S = sum_k F_k, b = sum_k F_k theta*_k, c = sum_k F_k theta*_k^2:
                penalty = (lambda/2) sum_w (S theta^2 - 2 b theta + c)
                gradient = lambda (S theta - b) = lambda S (theta - b / S)   (0 where S = 0,
                           as b is then 0 too), computed in the weights' dtype (float32) from
                           lambda S and the Fisher-weighted anchor b / S, kept until the next
                           consolidation
    online EWC: F~ <- gamma F~ + F_k,  theta* <- theta*_k   (one running penalty)
                penalty = (lambda/2) sum_w F~_w (theta_w - theta*_w)^2

Args:
    strength: lambda.
    fisher_samples: n, samples of the context used for its Fisher (0: all of them).
    fisher_labels: "pred" or "sample".
    gamma: online EWC's decay of the old Fisher (1: none).

Reference:
    Kirkpatrick et al. (2017), "Overcoming catastrophic forgetting in neural networks", PNAS
    114(13); Schwarz et al. (2018), "Progress & Compress", ICML (online EWC); van de Ven &
    Tolias (2019) for the settings per scenario.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.continual.methods.base import Method
from engram.nn.layers import Dense
from engram.validation import check_choice, check_fraction, check_positive


def fisher_diagonal(learner, k: int, n_samples: int, labels: str = "pred") -> np.ndarray:
    """The diagonal empirical-model Fisher of context ``k`` (see the module's Math)."""
    check_choice(labels, "fisher_labels", ("pred", "sample"))
    ctx = learner.stream.contexts[k]
    n = len(ctx.x_train) if n_samples <= 0 else min(int(n_samples), len(ctx.x_train))
    idx = learner.rng.choice(len(ctx.x_train), n, replace=False)
    x = ctx.x_train[idx]
    units = learner.scenario.active(learner.stream, k, k)
    mask = learner.scenario.mask(learner.stream, k, k)
    probs = learner.soft_targets(learner.logits(x), np.tile(mask, (n, 1)), 1.0)[:, 0, units]
    if labels == "pred":
        chosen = units[np.argmax(probs, axis=1)]
    else:
        cum = np.cumsum(probs, axis=1)
        draw = learner.rng.random((n, 1))
        chosen = units[np.minimum((cum < draw).sum(axis=1), len(units) - 1)]
    if all(isinstance(layer, Dense) for layer in learner.layers):
        return _fisher_dense_chain(learner, x, chosen, mask)
    return fisher_per_sample(learner, x, chosen, mask)


def fisher_per_sample(learner, x: np.ndarray, chosen: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The Fisher of `fisher_diagonal` by its definition: one gradient per sample (any
    network; the reference for `_fisher_dense_chain`)."""
    n = len(x)
    fisher = np.zeros(learner.parameters().size, np.float64)
    onehot = np.zeros((1, 2, learner.n_units), np.float32)
    onehot[0, 1] = mask
    for i in range(n):
        onehot[0, 0] = 0.0
        onehot[0, 0, chosen[i]] = 1.0
        g = learner.gradient(x[i : i + 1], onehot)
        fisher += np.square(g, dtype=np.float64)
    return (fisher / n).astype(np.float32)


def _fisher_dense_chain(learner, x, chosen, mask, batch: int = 256) -> np.ndarray:
    """The same Fisher for a chain of Dense layers, a batch at a time: a sample's gradient of
    a Dense layer's weights is the outer product a_i delta_i (a: its input, delta: the loss
    gradient at its pre-activation, row i of a batched backward pass of the summed loss), so
        sum_i (a_i delta_i^T)^2 = (a^2)^T (delta^2),   bias: sum_i delta_i^2
    (squares elementwise; the products in float64), with no sample-by-sample passes."""
    sums = {(id(layer), key): 0.0 for layer, key in learner._keys}
    active = mask > 0
    for lo in range(0, len(x), batch):
        z = learner.model.forward(x[lo : lo + batch]).astype(np.float64)  # layers cache a, z
        s = np.where(active, z, -np.inf)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(p)), chosen[lo : lo + batch]] -= 1.0  # dL_i/dz: p - onehot (T = 1)
        grad = p.astype(np.float32)
        for depth, layer in enumerate(reversed(learner.layers)):
            delta = layer.activation.backward(layer.z, layer.y, grad)
            d2 = np.square(delta, dtype=np.float64)
            sums[id(layer), "weights"] += np.square(layer.x, dtype=np.float64).T @ d2
            if layer.use_bias:
                sums[id(layer), "bias"] += d2.sum(axis=0)
            if depth < len(learner.layers) - 1:  # the first layer's input needs no gradient
                grad = delta @ layer.params["weights"].T
    flat = np.concatenate([np.ravel(sums[id(layer), key]) for layer, key in learner._keys])
    return (flat / len(x)).astype(np.float32)


class EWC(Method):
    name = "ewc"

    def __init__(self, strength: float = 1e5, fisher_samples: int = 1000, fisher_labels="pred"):
        self.strength = float(check_positive(strength, "strength", strict=False))
        self.fisher_samples = int(fisher_samples)
        self.fisher_labels = check_choice(fisher_labels, "fisher_labels", ("pred", "sample"))
        self.s: np.ndarray | None = None  # sum_k F_k
        self.b: np.ndarray | None = None  # sum_k F_k theta*_k
        self.c = 0.0  # sum_k sum_w F_k theta*_k^2
        self._step_terms: tuple[np.ndarray, np.ndarray] | None = None  # lambda S, b / S

    def consolidate(self, fisher: np.ndarray, anchor: np.ndarray) -> None:
        """Add one context's Fisher and end weights to the penalty."""
        f64, a64 = fisher.astype(np.float64), anchor.astype(np.float64)
        if self.s is None:
            self.s, self.b = np.zeros_like(f64), np.zeros_like(f64)
        self.s += f64
        self.b += f64 * a64
        self.c += float(np.sum(f64 * a64 * a64))
        self._step_terms = None

    def penalty(self, theta: np.ndarray) -> float:
        if self.s is None:
            return 0.0
        t = theta.astype(np.float64)
        return 0.5 * self.strength * float(np.sum(self.s * t * t) - 2 * np.dot(self.b, t) + self.c)

    def penalty_gradient(self, theta):
        if self.s is None or self.strength == 0:
            return None
        if self._step_terms is None:
            mean = np.divide(self.b, self.s, out=np.zeros_like(self.b), where=self.s > 0)
            scale = (self.strength * self.s).astype(theta.dtype)
            self._step_terms = (scale, mean.astype(theta.dtype))
        scale, mean = self._step_terms
        out = theta - mean
        out *= scale
        return out

    def end_context(self, learner, k):
        fisher = fisher_diagonal(learner, k, self.fisher_samples, self.fisher_labels)
        self.consolidate(fisher, learner.parameters())

    def info(self) -> dict[str, Any]:
        return {
            "strength": self.strength,
            "fisher_samples": self.fisher_samples,
            "fisher_labels": self.fisher_labels,
        }


class OnlineEWC(EWC):
    name = "online-ewc"

    def __init__(self, strength=1e5, fisher_samples=1000, fisher_labels="pred", gamma=1.0):
        super().__init__(strength, fisher_samples, fisher_labels)
        self.gamma = check_fraction(gamma, "gamma", inclusive_high=True)
        self.fisher: np.ndarray | None = None
        self.anchor: np.ndarray | None = None
        self._scale: np.ndarray | None = None  # lambda F~

    def consolidate(self, fisher, anchor):
        self.fisher = fisher.copy() if self.fisher is None else self.gamma * self.fisher + fisher
        self.anchor = anchor.copy()
        self._scale = None

    def penalty(self, theta):
        if self.fisher is None:
            return 0.0
        d = theta.astype(np.float64) - self.anchor
        return 0.5 * self.strength * float(np.sum(self.fisher * d * d))

    def penalty_gradient(self, theta):
        if self.fisher is None or self.strength == 0:
            return None
        if self._scale is None:  # lambda F~, until the next consolidation
            self._scale = self.strength * self.fisher
        out = (theta - self.anchor).astype(theta.dtype, copy=False)
        out *= self._scale
        return out

    def info(self):
        return {**super().info(), "gamma": self.gamma}
