"""scikit-learn's 8x8 handwritten digits, split like a Keras dataset, optionally upsampled.

1,797 images of the digits 0..9 (about 180 per class), 8x8 pixels with 17 grey levels (0..16),
shipped inside scikit-learn, so they need no download. scikit-learn is imported only when the
data is loaded, so ``import engram.data`` stays cheap.

Reference:
    Alpaydin & Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine Learning
    Repository.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from engram.data.synthetic import train_test_split
from engram.validation import Seed, check_positive

__all__ = ["load_digits", "load_digits_28", "resize_bilinear"]

Pair = tuple[np.ndarray, np.ndarray]


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0).astype(np.float32)
    labels = np.asarray(bunch.target, dtype=np.uint8)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Row i holds the weights of the input pixels that make output pixel i.

    Half-pixel centres: output pixel i samples input coordinate
    ``(i + 0.5) * size_in / size_out - 0.5``, clamped to ``[0, size_in - 1]``, and mixes its two
    neighbouring input pixels linearly. Each row sums to 1.
    """
    coords = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    coords = np.clip(coords, 0.0, size_in - 1)
    low = np.floor(coords).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    frac = coords - low
    matrix = np.zeros((size_out, size_in))
    rows = np.arange(size_out)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def resize_bilinear(images: Any, size: int) -> np.ndarray:
    """Resize square images with bilinear interpolation (half-pixel centres, no antialiasing).

    Math:
        out[n] = A @ images[n] @ A.T      A: (size, side) from `_interpolation_matrix`
        Matches ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
        Every output pixel is a convex combination of input pixels, so the value range is kept.

    Args:
        images: array ``(batch, side, side)``.
        size: output side length (>= 1).

    Returns:
        float32 array ``(batch, size, size)``.

    Example:
        >>> resize_bilinear(np.ones((2, 8, 8)), 28).shape
        (2, 28, 28)
    """
    size = int(check_positive(size, "size", integer=True))
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(
            f"images must have shape (batch, side, side). Got shape {arr.shape} instead."
        )
    matrix = _interpolation_matrix(arr.shape[1], size)
    return np.einsum("oi,nij,pj->nop", matrix, arr, matrix, optimize=True).astype(np.float32)


def load_digits(
    test_fraction: float = 0.3,
    seed: Seed = 0,
    flat: bool = False,
    upsample: int | None = None,
) -> tuple[Pair, Pair]:
    """Load the 8x8 digits as ``(x_train, y_train), (x_test, y_test)``, stratified by class.

    Args:
        test_fraction: share of the 1,797 images in the test part (default 540 of them).
        seed: int, Generator or None: the split (default 0, the same split every time).
        flat: return images as vectors ``(n, side * side)`` instead of ``(n, side, side)``.
        upsample: resize the images to ``upsample x upsample`` pixels with `resize_bilinear`
            (e.g. 28, so networks built for MNIST run on embedded data). None keeps 8x8.

    Returns:
        x float32 in [0, 1] (grey level / 16), shape ``(n, 8, 8)``, ``(n, 64)`` when flat,
        ``(n, upsample, upsample)`` or ``(n, upsample**2)`` when upsampled; y uint8 ``(n,)``
        in 0..9. Both parts are shuffled; 1,257 training and 540 test images by default.

    Raises:
        ValueError: test_fraction outside (0, 1) or a bad ``upsample``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_digits(seed=0)
        >>> x_train.shape, x_test.shape, y_train.dtype
        ((1257, 8, 8), (540, 8, 8), dtype('uint8'))
    """
    images, labels = _digits_arrays()
    if upsample is not None:
        images = resize_bilinear(images, upsample)
        np.clip(images, 0.0, 1.0, out=images)  # rounding only; the mix is convex
    (x_train, y_train), (x_test, y_test) = train_test_split(
        images, labels, test_fraction=test_fraction, seed=seed, stratify=True
    )
    if flat:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


def load_digits_28(
    test_fraction: float = 0.3, seed: Seed = 0, flat: bool = False
) -> tuple[Pair, Pair]:
    """`load_digits` upsampled to 28x28, shaped like MNIST for 28x28 networks.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x float32 ``(n, 28, 28)`` (or ``(n, 784)``
        when flat) in [0, 1], y uint8 ``(n,)``.

    Example:
        >>> (x_train, _), _ = load_digits_28()
        >>> x_train.shape
        (1257, 28, 28)
    """
    return load_digits(test_fraction=test_fraction, seed=seed, flat=flat, upsample=28)
