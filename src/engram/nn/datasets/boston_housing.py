"""``engram.nn.datasets.boston_housing.load_data()``: Keras's loader, from Keras's own file."""

from __future__ import annotations

from typing import Any

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def load_data(
    path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113, *, data_dir=None
) -> tuple[Pair, Pair]:
    """The Boston housing prices as ``keras.datasets.boston_housing.load_data()`` returns them.

    Keras's warning applies: the data has an ethical problem (its "B" column), so use it only
    to illustrate that problem. Read by `engram.data.housing` from ``boston_housing.npz`` (two
    float arrays, read with ``allow_pickle=False`` after the SHA-256 Keras pins); nothing is
    downloaded.

    Args:
        path: the file name (Keras's; a file of another name is looked for under that name).
        test_split: the fraction of rows kept for testing, in [0, 1).
        seed: the seed of Keras's shuffle (``np.random.RandomState``).
        data_dir: a folder holding the file (engram's addition); otherwise
            ``$ENGRAM_DATA_DIR``, ``~/.cache/engram/boston-housing`` and ``~/.keras/datasets``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 ``(404, 13)``, ``(404,)``,
        ``(102, 13)``, ``(102,)`` at the defaults.

    Raises:
        engram.data.mnist.DatasetNotFoundError: the file is not found (the message says where
            engram looked and how to get it).
    """
    return _load(path, test_split, seed, data_dir)


def _load(path: str, test_split: float, seed: int, data_dir: Any) -> tuple[Pair, Pair]:
    from dataclasses import replace

    from engram.data.housing import BOSTON, keras_split, read_arrays

    keras_split(np.zeros(0), np.zeros(0), test_split, seed)  # bad arguments before any file
    x, y = read_arrays(replace(BOSTON, filename=str(path)), data_dir)
    return keras_split(x, y, test_split, seed)
