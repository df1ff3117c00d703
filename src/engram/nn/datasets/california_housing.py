"""``engram.nn.datasets.california_housing.load_data()``: Keras's loader, from Keras's file."""

from __future__ import annotations

import numpy as np

from engram.validation import check_choice

Pair = tuple[np.ndarray, np.ndarray]


def load_data(
    version: str = "large",
    path: str = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
    *,
    data_dir=None,
) -> tuple[Pair, Pair]:
    """California housing prices as ``keras.datasets.california_housing.load_data()`` returns
    them: 8 features per census block group, the median house value as target.

    Read by `engram.data.housing` from ``california_housing.npz`` (two float arrays, read with
    ``allow_pickle=False`` after the SHA-256 Keras pins); nothing is downloaded.

    Args:
        version: ``"large"`` (all 20,640 rows) or ``"small"`` (the first 600, Keras's stand-in
            for Boston housing).
        path: the file name.
        test_split: the fraction of rows kept for testing, in [0, 1).
        seed: the seed of Keras's shuffle (``np.random.RandomState``).
        data_dir: a folder holding the file (engram's addition); otherwise
            ``$ENGRAM_DATA_DIR``, ``~/.cache/engram/california-housing`` and
            ``~/.keras/datasets``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``(16512, 8)``, ``(16512,)``, ``(4128, 8)``,
        ``(4128,)`` for the large version at the defaults.

    Raises:
        engram.data.mnist.DatasetNotFoundError: the file is not found (the message says where
            engram looked and how to get it).
    """
    from dataclasses import replace

    from engram.data.housing import CALIFORNIA, keras_split, read_arrays

    check_choice(version, "version", ("small", "large"))
    keras_split(np.zeros(0), np.zeros(0), test_split, seed)  # bad arguments before any file
    x, y = read_arrays(replace(CALIFORNIA, filename=str(path)), data_dir)
    if version == "small":
        x, y = x[:600], y[:600]
    return keras_split(x, y, test_split, seed)
