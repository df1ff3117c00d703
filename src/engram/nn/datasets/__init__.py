"""Keras's ``datasets``: ``load_data()`` from engram's verified loaders, never a download.

* ``mnist``, ``fashion_mnist``: uint8 images ``(n, 28, 28)`` in 0..255 and uint8 labels
  ``(n,)``, read by `engram.data.mnist` from the standard IDX files, checked against pinned
  SHA-256 sums before they are parsed;
* ``cifar10``, ``cifar100``: from CIFAR's *binary* versions (`engram.data.cifar10`,
  `engram.data.cifar100`; Keras reads the pickled ones, which engram never loads);
* ``boston_housing``, ``california_housing``: from the ``.npz`` files Keras downloads (plain
  float arrays, read with ``allow_pickle=False`` after Keras's SHA-256; `engram.data.housing`);
* ``imdb``, ``reuters``: refused by rule: Keras's files hold pickled object arrays (the error
  says what to use instead).

When the files are absent the error says where engram looked and how to get them.
"""

from engram.nn.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "reuters",
]
