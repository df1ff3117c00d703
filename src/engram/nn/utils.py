"""Keras's ``utils``: ``to_categorical``, ``pad_sequences``, ``set_random_seed``, ``Sequence``
(``PyDataset``), ``plot_model`` and ``model_to_dot`` (without pydot or Graphviz, see
`engram.nn.model_visualization`); ``progress`` for loops."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.data_adapters import Sequence
from engram.nn.model import set_random_seed
from engram.nn.model_visualization import model_to_dot, plot_model
from engram.validation import check_array, check_choice, check_labels, check_positive

__all__ = [
    "PyDataset",
    "Sequence",
    "model_to_dot",
    "pad_sequences",
    "plot_model",
    "progress",
    "set_random_seed",
    "to_categorical",
]

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


def pad_sequences(
    sequences: Any,
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Sequences of different lengths -> one array (n, maxlen, ...), as Keras's ``pad_sequences``.

    Each sequence is cut to ``maxlen`` (its first steps dropped for ``truncating="pre"``, its
    last for ``"post"``), then filled with ``value`` before it (``padding="pre"``) or after it
    (``"post"``). ``maxlen`` None: the longest sequence's length. The steps may be vectors (every
    non-empty sequence's steps of one shape, that of the first non-empty one).

    Raises:
        ValueError: an unknown ``padding``/``truncating``, ``maxlen`` not a positive integer,
            an item that is not a sequence, or steps of another shape.

    Example:
        >>> pad_sequences([[1, 2], [3]], padding="post").tolist()
        [[1, 2], [3, 0]]
    """
    check_choice(padding, "padding", ("pre", "post"))
    check_choice(truncating, "truncating", ("pre", "post"))
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"sequences must be a list of sequences. Got {type(sequences).__name__}.")
    step_shape: tuple[int, ...] | None = None
    for i, seq in enumerate(sequences):
        if not hasattr(seq, "__len__"):
            raise ValueError(
                f"sequences must be a list of sequences; item {i} is {seq!r}. Wrap a single "
                "sequence in a list: pad_sequences([seq])."
            )
        if step_shape is None and len(seq):
            step_shape = np.asarray(seq).shape[1:]
    if maxlen is None:
        maxlen = max((len(seq) for seq in sequences), default=0)
    else:
        maxlen = check_positive(maxlen, "maxlen", integer=True)
    if isinstance(value, str) and np.dtype(dtype).kind not in "OUS":
        raise ValueError(
            f"value={value!r} is a string, which dtype={dtype!r} cannot hold. Pass dtype=object "
            "for strings of any length."
        )
    out = np.full((len(sequences), maxlen, *(step_shape or ())), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq) or not maxlen:
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != step_shape:
            raise ValueError(
                f"Sequence {i} has steps of shape {kept.shape[1:]}, but the first non-empty "
                f"sequence's steps have shape {step_shape}. Give every step the same shape."
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out
