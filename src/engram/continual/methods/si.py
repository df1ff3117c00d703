"""Synaptic intelligence (SI): each weight's importance is its share of the loss decrease along
the training path, accumulated online; a quadratic penalty then protects the important weights.

Math:
    during context k, after each step t:   omega_w += -g_t,w (theta_t+1,w - theta_t,w)
        (g: the gradient the step used, penalty included, as in van de Ven & Tolias's code;
         for gradient flow this is the path integral of -dL/dtheta, i.e. the loss decrease)
    at the end of context k:   Omega_w += omega_w / ((theta_w - theta*_w)^2 + xi);  omega <- 0;
                               theta* <- theta   (theta*: the weights at the context's start,
                               then its end)
    penalty  = c sum_w Omega_w (theta_w - theta*_w)^2;   gradient = 2 c Omega (theta - theta*)

Args:
    strength: c.
    damping: xi (0.1 in van de Ven & Tolias's code; Zenke et al. used 1e-3).

Reference:
    Zenke, Poole & Ganguli (2017), "Continual Learning Through Synaptic Intelligence", ICML.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.continual.methods.base import Method
from engram.validation import check_positive


class SI(Method):
    name = "si"

    def __init__(self, strength: float = 10.0, damping: float = 0.1):
        self.strength = float(check_positive(strength, "strength", strict=False))
        self.damping = float(check_positive(damping, "damping"))
        self.omega: np.ndarray | None = None  # running path integral of this context
        self.importance: np.ndarray | None = None  # Omega
        self.anchor: np.ndarray | None = None  # theta*
        self.consolidated = False
        self._scale: np.ndarray | None = None  # 2 c Omega, in the weights' dtype
        self._anchor: np.ndarray | None = None  # theta*, in the weights' dtype

    def begin(self, learner):
        theta = learner.parameters()
        self.omega = np.zeros(theta.size, np.float64)
        self.importance = np.zeros(theta.size, np.float64)
        self.anchor = theta.astype(np.float64)

    def after_step(self, learner, grad, theta_before):
        # -g (theta_t+1 - theta_t) in the weights' precision (float32: one pass over each
        # array, no float64 copies), summed into the float64 omega
        change = learner.parameters()
        change -= theta_before
        change *= grad
        self.omega -= change

    def end_context(self, learner, k):
        theta = learner.parameters().astype(np.float64)
        self.importance += self.omega / ((theta - self.anchor) ** 2 + self.damping)
        self.omega[:] = 0.0
        self.anchor = theta
        self.consolidated = True
        # what each step's penalty gradient reads, in the weights' dtype (float32): 2 c Omega,
        # and theta* (float32 weights, so exact)
        native = learner.parameters()
        self._scale = (2 * self.strength * self.importance).astype(native.dtype)
        self._anchor = native

    def penalty(self, theta: np.ndarray) -> float:
        d = theta.astype(np.float64) - self.anchor
        return self.strength * float(np.sum(self.importance * d * d))

    def penalty_gradient(self, theta):
        if not self.consolidated or self.strength == 0:
            return None
        out = theta - self._anchor
        out *= self._scale
        return out

    def info(self) -> dict[str, Any]:
        return {"strength": self.strength, "damping": self.damping}
