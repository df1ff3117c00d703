"""``engram.nn.datasets.cifar100.load_data()``: Keras's CIFAR-100 loader, from the binary files."""

from __future__ import annotations

from typing import Any

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def load_data(label_mode: str = "fine", *, data_dir: Any = None) -> tuple[Pair, Pair]:
    """CIFAR-100 as ``keras.datasets.cifar100.load_data(label_mode)`` returns it.

    Read by `engram.data.cifar100.load_cifar100` from CIFAR-100's *binary* version
    (``cifar-100-binary.tar.gz``, its MD5 checked, or its extracted ``train.bin`` and
    ``test.bin``); Keras reads the pickled Python version, which engram never loads. Nothing is
    downloaded.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        data_dir: a folder holding the archive or the files (engram's addition); otherwise
            ``$ENGRAM_DATA_DIR`` and ``~/.cache/engram/cifar-100`` are searched.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(50000, 32, 32, 3)``, int64
        ``(50000, 1)``, uint8 ``(10000, 32, 32, 3)``, int64 ``(10000, 1)`` (Keras's dtypes).

    Raises:
        engram.data.mnist.DatasetNotFoundError: the files are not found (the message says where
            engram looked and how to get them).
    """
    from engram.data.cifar100 import load_cifar100

    return load_cifar100(data_dir, label_mode)
