"""``engram.nn.datasets.cifar10.load_data()``: Keras's CIFAR-10 loader, from the binary files."""

from __future__ import annotations

from typing import Any

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def load_data(*, data_dir: Any = None) -> tuple[Pair, Pair]:
    """CIFAR-10 as ``keras.datasets.cifar10.load_data()`` returns it.

    Read by `engram.data.cifar10.load_cifar10` from CIFAR-10's *binary* version
    (``cifar-10-binary.tar.gz``, its MD5 checked, or its extracted ``.bin`` files); Keras reads
    the pickled Python version, which engram never loads. Nothing is downloaded.

    Args:
        data_dir: a folder holding the archive or the batch files (engram's addition);
            otherwise ``$ENGRAM_DATA_DIR`` and ``~/.cache/engram/cifar-10`` are searched.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(50000, 32, 32, 3)``, uint8
        ``(50000, 1)``, uint8 ``(10000, 32, 32, 3)``, uint8 ``(10000, 1)``.

    Raises:
        engram.data.mnist.DatasetNotFoundError: the files are not found (the message says where
            engram looked and how to get them).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    """
    from engram.data.cifar10 import load_cifar10

    return load_cifar10(data_dir)
