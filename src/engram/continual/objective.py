"""The loss every method trains with: cross-entropy over each sample's active output units.

A sample competes only over the units its scenario makes active (one context's head, the
classes seen so far, or all units), so the targets carry a mask beside the target
distribution: packed targets of shape (batch, 2, units), ``[:, 0]`` the target probabilities
(one-hot for labels, a teacher's softened outputs for distillation), ``[:, 1]`` 1 on the active
units. With temperature ``T`` (distillation, Hinton et al. 2015) the loss is scaled by ``T^2``
so that its gradient keeps its size as ``T`` changes.

Math:
    s_u = z_u / T on active units (u in A), -inf elsewhere;  p = softmax(s)
    L = -(T^2 / n) sum_i sum_{u in A_i} q_iu log p_iu          (q: targets, sum_u q_iu = 1)
    dL/dz_iu = (T / n) (p_iu - q_iu)                            (0 outside A_i)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.losses import Loss
from engram.validation import check_array


def masked_cross_entropy(
    z: np.ndarray, targets: np.ndarray, mask: np.ndarray, temperature: float = 1.0
) -> tuple[float, np.ndarray]:
    """(loss, dL/dz) of the masked, tempered softmax cross-entropy above.

    Args:
        z: (batch, units) logits.
        targets: (batch, units) target probabilities, zero outside the mask, rows summing to 1.
        mask: (batch, units), 1 on each sample's active units.
        temperature: T > 0.
    """
    t = float(temperature)
    active = mask > 0
    s = np.where(active, z.astype(np.float64) / t, -np.inf)
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    log_p = np.where(active, s - np.log(total), 0.0)
    n = len(z)
    loss = -(t * t) * float(np.sum(targets * log_p)) / n
    grad = (t / n) * (e / total - targets)
    return loss, grad.astype(z.dtype)


class ContextCrossEntropy(Loss):
    """`masked_cross_entropy` as a loss for ``Model.compile``: targets packed (batch, 2, units).

    ``temperature`` is read at each call (the learner sets it for distillation terms).
    """

    name = "context_cross_entropy"

    def __init__(self) -> None:
        super().__init__(from_logits=True)
        self.temperature = 1.0

    def prepare_targets(self, y: Any, output_shape: tuple[int, ...], name: str = "y") -> np.ndarray:
        y = check_array(y, name, ndim=3, dtype=np.float32)
        if y.shape[1:] != (2, output_shape[-1]):
            raise ValueError(
                f"{name} must be packed targets of shape (batch, 2, {output_shape[-1]}): target "
                f"probabilities and the active-unit mask. Received shape {y.shape}."
            )
        return y

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, np.ndarray]:
        return masked_cross_entropy(y_pred, y_true[:, 0], y_true[:, 1], self.temperature)


def pack(targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(batch, 2, units) packed targets from (batch, units) targets and masks."""
    return np.ascontiguousarray(np.stack([targets, mask], axis=1), np.float32)
