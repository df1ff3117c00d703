"""``engram.nn.datasets.mnist.load_data()``: Keras's MNIST loader, from engram's verified files."""

from __future__ import annotations

from typing import Any

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def check_keras_path(path: Any, default: str, dataset: str) -> None:
    """Keras's ``path`` names its own download cache file; engram reads IDX files instead."""
    if path != default:
        raise ValueError(
            f"{dataset}.load_data(path=...) names a file in Keras's download cache; engram "
            f"reads the standard IDX files instead. Got path={path!r}. Leave path out, and put "
            "the files in a folder given as data_dir=... (or $ENGRAM_DATA_DIR)."
        )


def load_data(path: str = "mnist.npz", *, data_dir: Any = None) -> tuple[Pair, Pair]:
    """The MNIST digits as ``keras.datasets.mnist.load_data()`` returns them.

    Args:
        path: Keras's cache file name; only its default is accepted (see ``data_dir``).
        data_dir: a folder holding the four IDX files (engram's addition); otherwise the
            folders of `engram.data.mnist.load_mnist` are searched and, unless
            ``ENGRAM_OFFLINE=1``, the files are downloaded and verified.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(60000, 28, 28)``, uint8 ``(60000,)``,
        uint8 ``(10000, 28, 28)``, uint8 ``(10000,)``.

    Raises:
        engram.data.mnist.DatasetNotFoundError: the files are not found (the message says where
            engram looked and how to get them).
        engram.data.mnist.ChecksumError: a file does not match its pinned sum.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    """
    check_keras_path(path, "mnist.npz", "mnist")
    from engram.data.mnist import load_mnist

    return load_mnist(data_dir)
