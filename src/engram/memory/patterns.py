"""Binary +/-1 patterns, the units of Hopfield memories: checks, binarizing, corruption.

Shared by the classic (`engram.memory.hopfield`) and modern (`engram.memory.modern_hopfield`)
networks, which both store and recall rows of -1 and +1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_array, check_fraction


def binarize(x: Any, threshold: float | None = None) -> np.ndarray:
    """Map real-valued data to Hopfield units: +1 above ``threshold``, -1 at or below it.

    Args:
        x: any numeric array, e.g. images in [0, 1] of shape (n, 8, 8).
        threshold: the cut; default the midpoint between the smallest and largest value of ``x``
            (0.5 for images in [0, 1], 0 for data in [-1, 1]).

    Returns:
        float32 array of the same shape holding only -1 and +1.

    Example:
        >>> binarize([[0.0, 0.2, 0.9, 1.0]]).tolist()
        [[-1.0, -1.0, 1.0, 1.0]]
    """
    arr = check_array(x, "x", dtype=np.float32)
    if threshold is None:
        threshold = 0.5 * (float(arr.min()) + float(arr.max()))
    return np.where(arr > threshold, np.float32(1), np.float32(-1))


def check_patterns(patterns: Any, name: str = "patterns") -> np.ndarray:
    """Check +/-1 patterns and return them as a float32 (n_patterns, n_units) array.

    A single pattern of shape (n_units,) is accepted as one row.

    Raises:
        ValueError: ragged rows, wrong rank, or values other than -1 and +1.
    """
    arr = check_array(patterns, name, ndim=(1, 2), dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    bad = (arr != 1) & (arr != -1)
    if bad.any():
        examples = np.unique(arr[bad])[:4].tolist()
        raise ValueError(
            f"{name} must contain only -1 and +1 (Hopfield units are binary). Got "
            f"{int(bad.sum())} other value(s), such as {examples}, instead. Convert real-valued "
            f"data with engram.memory.binarize({name}) (threshold at the midpoint), or map "
            f"0/1 data with 2 * {name} - 1."
        )
    return np.ascontiguousarray(arr)


def check_cues(cues: Any, n_units: int, name: str = "cues") -> np.ndarray:
    """Check +/-1 cues for a network of ``n_units`` and return them as (batch, n_units)."""
    arr = check_array(cues, name, ndim=(1, 2), dtype=np.float32)
    if arr.shape[-1] != n_units:
        raise ValueError(
            f"{name} must have {n_units} units per cue (the network stores patterns of length "
            f"{n_units}), but received shape {arr.shape}. Pass cues of shape (batch, {n_units}) "
            f"or ({n_units},)."
        )
    return check_patterns(arr, name)


def flip_bits(patterns: Any, fraction: float, seed: Seed = None) -> np.ndarray:
    """Corrupt +/-1 patterns by flipping exactly round(fraction * N) random units of each row.

    Args:
        patterns: (P, N) or (N,) +/-1.
        fraction: share of units to flip, in [0, 1].
        seed: randomness.

    Returns:
        (P, N) float32 corrupted copies.

    Example:
        >>> cue = flip_bits(np.ones((1, 10)), 0.3, seed=0)
        >>> int((cue == -1).sum())
        3
    """
    x = check_patterns(patterns)
    check_fraction(fraction, "fraction", inclusive_high=True)
    k = int(round(fraction * x.shape[1]))
    out = x.copy()
    if k:
        rng = as_rng(seed)
        cols = np.argpartition(rng.random(x.shape), k - 1, axis=1)[:, :k]
        np.put_along_axis(out, cols, -np.take_along_axis(x, cols, axis=1), axis=1)
    return out
