"""Keras's ``datasets``: ``mnist.load_data()``, ``fashion_mnist.load_data()`` and
``cifar10.load_data()`` (from CIFAR-10's binary files, see `engram.data.cifar10`).

Each returns ``(x_train, y_train), (x_test, y_test)`` as Keras does (uint8 images
``(n, 28, 28)`` in 0..255, uint8 labels ``(n,)``), read by `engram.data.mnist` from the standard
IDX files and checked against pinned SHA-256 sums before they are parsed. When the files are
absent the error says where engram looked and how to get them.
"""

from engram.nn.datasets import cifar10, fashion_mnist, mnist

__all__ = ["cifar10", "fashion_mnist", "mnist"]
