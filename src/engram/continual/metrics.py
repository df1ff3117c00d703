"""Continual-learning metrics on the accuracy matrix (Lopez-Paz & Ranzato 2017).

``R[i, j]`` is the test accuracy on context ``j`` after training on contexts ``0 .. i``;
``b[j]`` the accuracy on context ``j`` of the network before any training.

Math:
    ACC = (1 / T) sum_j R[T-1, j]                          average accuracy at the end
    BWT = (1 / (T-1)) sum_{j < T-1} (R[T-1, j] - R[j, j])  backward transfer (< 0: forgetting)
    FWT = (1 / (T-1)) sum_{j > 0} (R[j-1, j] - b[j])       forward transfer

Reference:
    Lopez-Paz & Ranzato (2017), "Gradient Episodic Memory for Continual Learning", NeurIPS,
    Section 4.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.validation import check_array


def _matrix(accuracy: Any) -> np.ndarray:
    r = check_array(accuracy, "accuracy", ndim=2, dtype=np.float64)
    if r.shape[0] != r.shape[1] or r.shape[0] < 1:
        raise ValueError(
            f"accuracy must be a square (contexts, contexts) matrix R[i, j]. Got shape {r.shape} "
            "instead."
        )
    return r


def average_accuracy(accuracy: Any) -> float:
    """Mean of the last row: accuracy over all contexts after the last one."""
    return float(_matrix(accuracy)[-1].mean())


def backward_transfer(accuracy: Any) -> float:
    """How learning later contexts changed earlier ones (negative: forgetting); 0 for T = 1."""
    r = _matrix(accuracy)
    t = len(r)
    if t < 2:
        return 0.0
    return float(np.mean(r[-1, :-1] - np.diag(r)[:-1]))


def forward_transfer(accuracy: Any, baseline: Any) -> float:
    """How earlier contexts helped a context before it was learned, against ``baseline`` (the
    untrained network's accuracy per context); 0 for T = 1."""
    r = _matrix(accuracy)
    b = check_array(baseline, "baseline", ndim=1, dtype=np.float64)
    if len(b) != len(r):
        raise ValueError(f"baseline must have one value per context ({len(r)}). Got {len(b)}.")
    if len(r) < 2:
        return 0.0
    return float(np.mean([r[j - 1, j] - b[j] for j in range(1, len(r))]))
