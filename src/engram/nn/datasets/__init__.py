"""Keras's ``datasets``: ``mnist.load_data()`` and ``fashion_mnist.load_data()``.

Each returns ``(x_train, y_train), (x_test, y_test)`` as Keras does (uint8 images
``(n, 28, 28)`` in 0..255, uint8 labels ``(n,)``), read by `engram.data.mnist` from the standard
IDX files and checked against pinned SHA-256 sums before they are parsed. When the files are
absent the error says where engram looked and how to get them.
"""

from engram.nn.datasets import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
