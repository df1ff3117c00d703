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


_SHORT_NAMES = {
    "accuracy": "acc",
    "sparse_categorical_accuracy": "acc",
    "categorical_accuracy": "acc",
    "binary_accuracy": "acc",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
}
# a narrow bar, then the description that `short_logs` fills: the numbers fit in 80 columns
BAR_FORMAT = "{n_fmt}/{total_fmt} {bar:8} {desc}"


def short_logs(logs: dict[str, float] | None) -> str:
    """Training logs in few columns, validation after a bar: ``loss 0.253 acc 0.923 | val loss
    0.338 acc 0.865`` (so that an 80-column progress line still shows the validation numbers).

    Example:
        >>> short_logs({"loss": 0.25, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.85})
        'loss 0.250 acc 0.900 | val loss 0.300 acc 0.850'
    """
    train, val = [], []
    for key, value in (logs or {}).items():
        name = key.removeprefix("val_")
        text = f"{_SHORT_NAMES.get(name, name)} {value:.3f}"
        (val if key.startswith("val_") else train).append(text)
    return " ".join(train) + (" | val " + " ".join(val) if val else "")


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
