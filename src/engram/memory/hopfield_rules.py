"""Learning rules of the classic Hopfield network: weights as pure functions of the patterns.

``hebb_weights`` (outer products), ``storkey_weights`` (local, incremental, higher capacity) and
``pseudo_inverse_weights`` (projection, non-local); ``update_weights`` adds patterns to weights
that already store others, by the rule's own route (incremental where the rule allows it).

Reference:
    Hopfield (1982), PNAS 79:2554. Storkey (1997), ICANN. Personnaz, Guyon & Dreyfus (1985),
    J. Physique Lett. 46:359; Kanter & Sompolinsky (1987), Phys. Rev. A 35:380.
"""

from __future__ import annotations

import warnings

import numpy as np

RULES = ("hebb", "storkey", "pseudo_inverse")


class DependentPatternsWarning(UserWarning):
    """The stored patterns are linearly dependent (the pseudo-inverse rule sees fewer)."""


def hebb_weights(patterns: np.ndarray) -> np.ndarray:
    """Hebb's outer-product rule.

    Math:
        W = (1/N) sum_mu xi_mu xi_mu^T,  W_ii = 0        xi_mu: (N,) in {-1, +1}

    Args:
        patterns: (n_patterns, n_units) +/-1 float32.

    Returns:
        (n_units, n_units) symmetric float32 weights with zero diagonal.

    Reference:
        Hopfield (1982), PNAS 79:2554.
    """
    x = np.asarray(patterns, dtype=np.float32)
    w = x.T @ x
    w *= np.float32(1.0 / x.shape[1])
    np.fill_diagonal(w, 0)
    return w


def storkey_weights(patterns: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Storkey's rule: local and incremental, one pattern at a time, O(N^2) per pattern.

    Math:
        h_ij = sum_{k != i, j} w_ik xi_k  (local field without units i and j)
        w_ij <- w_ij + (1/N) (xi_i xi_j - xi_i h_ji - h_ij xi_j)
        With zero diagonal, h_ij = h_i - w_ij xi_j where h = W xi, so one pattern costs one
        matrix-vector product and one rank-2 update:
        W <- (1 + 2/N) W + (1/N) (xi xi^T - xi h^T - h xi^T),  W_ii = 0

    Args:
        patterns: (n_patterns, n_units) +/-1, added in order.
        weights: weights to continue from (incremental storage); None starts from zero.

    Returns:
        (n_units, n_units) symmetric float32 weights with zero diagonal.

    Reference:
        Storkey (1997), "Increasing the capacity of a Hopfield network without sacrificing
        functionality", ICANN.
    """
    x = np.asarray(patterns, dtype=np.float32)
    n = x.shape[1]
    w = np.zeros((n, n), np.float32) if weights is None else np.array(weights, np.float32)
    grow, inv_n = np.float32(1 + 2.0 / n), np.float32(1.0 / n)
    left = np.empty((n, 2), np.float32)
    right = np.empty((2, n), np.float32)
    for xi in x:
        h = w @ xi
        left[:, 0], left[:, 1] = xi, h  # xi (xi - h)^T - h xi^T as one (N,2)@(2,N) product
        right[0], right[1] = xi - h, -xi
        w *= grow
        w += (left @ right) * inv_n
        np.fill_diagonal(w, 0)
    return w


def pseudo_inverse_weights(patterns: np.ndarray) -> np.ndarray:
    """Pseudo-inverse (projection) rule: every linearly independent pattern is a fixed point.

    Math:
        C = X X^T / N          (overlap matrix of the patterns, P x P)
        W = X^T C^+ X / N,     W_ii = 0          X: (P, N)
        W projects onto the span of the patterns; without its diagonal a pattern stays a fixed
        point while the load P/N < 1 (Kanter & Sompolinsky 1987).

    Args:
        patterns: (n_patterns, n_units) +/-1.

    Returns:
        (n_units, n_units) symmetric float32 weights with zero diagonal.

    Warns:
        DependentPatternsWarning: the patterns are linearly dependent (duplicates, or more
            patterns than units): the rule then uses their span, and the report should say so.

    Reference:
        Personnaz, Guyon & Dreyfus (1985), J. Physique Lett. 46:359; Kanter & Sompolinsky (1987).
    """
    x = np.asarray(patterns, dtype=np.float64)
    p, n = x.shape
    overlap = x @ x.T / n
    eig = np.linalg.eigvalsh(overlap)
    tol = eig[-1] * max(p, n) * np.finfo(np.float32).eps
    rank = int(np.sum(eig > tol))
    if rank < p:
        warnings.warn(
            f"The {p} patterns are linearly dependent (rank {rank} < {p}); the pseudo-inverse "
            "rule stores their span. Remove duplicate or dependent patterns (or store fewer "
            f"than n_units={n}) to make each one a separate memory.",
            DependentPatternsWarning,
            stacklevel=2,
        )
    w = x.T @ np.linalg.pinv(overlap, rcond=tol / eig[-1], hermitian=True) @ x / n
    np.fill_diagonal(w, 0)
    return w.astype(np.float32)


def update_weights(
    rule: str, patterns: np.ndarray, weights: np.ndarray | None = None, n_stored: int = 0
) -> np.ndarray:
    """Weights that store every row of ``patterns``, from ``weights`` that store the first
    ``n_stored`` rows (None and 0: nothing stored yet).

    Hebb and Storkey add the new rows incrementally (one outer product / rank-2 update each);
    the pseudo-inverse rule is not local and recomputes W from all rows.

    Args:
        rule: ``"hebb"``, ``"storkey"`` or ``"pseudo_inverse"`` (checked by the caller).
        patterns: (n_patterns, n_units) +/-1, the stored rows first, then the new ones.
        weights: (n_units, n_units) weights storing ``patterns[:n_stored]``, or None.
        n_stored: how many leading rows ``weights`` already stores.

    Returns:
        (n_units, n_units) float32 weights.
    """
    new = patterns[n_stored:]
    if rule == "hebb":
        return hebb_weights(new) if weights is None else weights + hebb_weights(new)
    if rule == "storkey":
        return storkey_weights(new, weights)
    return pseudo_inverse_weights(patterns)
