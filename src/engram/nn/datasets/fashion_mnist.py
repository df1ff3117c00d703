"""``engram.nn.datasets.fashion_mnist.load_data()``: Keras's Fashion-MNIST loader, from engram's
verified files."""

from __future__ import annotations

from typing import Any

from engram.nn.datasets.mnist import Pair


def load_data(*, data_dir: Any = None) -> tuple[Pair, Pair]:
    """Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data()`` returns it.

    Args:
        data_dir: a folder holding the four IDX files (engram's addition); otherwise the
            folders of `engram.data.mnist.load_fashion_mnist` are searched, including
            ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(60000, 28, 28)``, uint8 ``(60000,)``,
        uint8 ``(10000, 28, 28)``, uint8 ``(10000,)``; classes 0 T-shirt/top .. 9 ankle boot.

    Raises:
        engram.data.mnist.DatasetNotFoundError: the files are not found (the message says where
            engram looked and how to get them).
        engram.data.mnist.ChecksumError: a file does not match its pinned sum.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    """
    from engram.data.mnist import load_fashion_mnist

    return load_fashion_mnist(data_dir)
