"""Datasets: small synthetic sets, the embedded 8x8 digits, and MNIST / Fashion-MNIST from IDX.

Image datasets return ``(x_train, y_train), (x_test, y_test)`` as Keras does. ``DATASETS`` maps
names to loaders, so experiments can take ``--dataset``; `load` looks a name up and calls it.
Importing this package is cheap: scikit-learn is imported only by `load_digits`, and nothing
is downloaded until a loader needs to.

Example:
    >>> from engram.data import load
    >>> (x_train, y_train), (x_test, y_test) = load("digits", seed=0)
    >>> x_train.shape
    (1257, 8, 8)
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from engram.data.digits import load_digits, load_digits_28, resize_bilinear
from engram.data.idx import IDXError, read_idx, write_idx
from engram.data.mnist import (
    ChecksumError,
    DatasetNotFoundError,
    load_fashion_mnist,
    load_mnist,
    load_mnist_t10k,
)
from engram.data.synthetic import (
    make_gaussian_clusters,
    make_moons,
    make_spirals,
    random_binary_labels,
    train_test_split,
    xor,
)
from engram.registry import Registry

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DatasetNotFoundError",
    "IDXError",
    "load",
    "load_digits",
    "load_digits_28",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_t10k",
    "make_gaussian_clusters",
    "make_moons",
    "make_spirals",
    "random_binary_labels",
    "read_idx",
    "resize_bilinear",
    "train_test_split",
    "write_idx",
    "xor",
]

DATASETS: Registry[Callable[..., Any]] = Registry("dataset")
DATASETS.add("digits", load_digits)
DATASETS.add("digits-28", load_digits_28)
DATASETS.add("mnist", load_mnist)
DATASETS.add("mnist-t10k", load_mnist_t10k)
DATASETS.add("fashion-mnist", load_fashion_mnist)


def load(name: str, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
    """Load the dataset registered as ``name``: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        name: one of ``DATASETS.names()``: "digits", "digits-28", "fashion-mnist", "mnist",
            "mnist-t10k" (case, ``-`` and ``_`` are ignored).
        data_dir: folder with the dataset's files, for loaders that read files; ignored by
            embedded datasets (the digits).
        **kwargs: passed to the loader, e.g. ``seed=0`` for the digits or ``verify=False``.

    Returns:
        Whatever the loader returns; for every registered name by default
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        ValueError: unknown name (with close matches and the list of names).
        DatasetNotFoundError, ChecksumError: from the file-based loaders.

    Example:
        >>> (x_train, y_train), _ = load("mnist-t10k", data_dir="../shared/datasets/mnist")
        ... # doctest: +SKIP
    """
    loader = DATASETS.get(name)
    if data_dir is not None and "data_dir" in inspect.signature(loader).parameters:
        kwargs["data_dir"] = data_dir
    return loader(**kwargs)
