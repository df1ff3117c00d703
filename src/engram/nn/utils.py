"""Keras's ``utils``: ``to_categorical``, ``set_random_seed``, ``Sequence`` (``PyDataset``);
``progress`` for loops."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.data_adapters import Sequence
from engram.nn.model import set_random_seed
from engram.validation import check_array, check_labels

__all__ = ["PyDataset", "Sequence", "progress", "set_random_seed", "to_categorical"]

PyDataset = Sequence  # Keras 3's name; keras.utils.Sequence is the same class


def progress(iterable: Any, *, desc: str, verbose: int, total: int | None = None) -> Any:
    """Wrap ``iterable`` in a progress bar when ``verbose`` (tqdm, imported only then)."""
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """Integer labels (n,) -> one-hot rows (n, num_classes), as Keras's ``to_categorical``.

    Raises:
        ValueError: labels that are negative, not integers, or >= num_classes.
    """
    labels = check_array(y, "y", dtype=None)
    if num_classes is None:
        num_classes = int(np.max(labels)) + 1 if labels.size else 0
    elif labels.size and np.max(labels) >= num_classes:
        raise ValueError(
            f"y has labels up to {np.max(labels)}, but num_classes={num_classes}. Pass "
            "num_classes greater than the largest label, or num_classes=None."
        )
    labels = check_labels(labels, num_classes, "y")
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out
