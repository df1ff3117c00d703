"""Image reshaping layers: ZeroPadding2D and UpSampling2D (channels-last, no weights)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from engram.nn import conv_functional as C
from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.conv2d import check_channels_last, check_image_input


def _is_count(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _padding_pairs(padding: Any) -> tuple[C.Pair, C.Pair]:
    """Keras's ZeroPadding2D padding: an int, (rows, columns), or ((top, bottom), (left, right))."""
    if _is_count(padding):
        padding = (padding, padding)
    items = list(padding) if isinstance(padding, (list, tuple)) else []
    items = [(v, v) if _is_count(v) else v for v in items]
    if len(items) != 2 or not all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(_is_count, pair))
        for pair in items
    ):
        raise ValueError(
            "padding must be a non-negative int, a pair (rows, columns), or "
            f"((top, bottom), (left, right)) of non-negative ints. Got {padding!r} instead."
        )
    (top, bottom), (left, right) = items
    return (int(top), int(bottom)), (int(left), int(right))


@register_layer
class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image.

    Math:
        forward:   y = 0 of shape (batch, top + h + bottom, left + w + right, channels)
                   y[:, top : top + h, left : left + w, :] = x
        backward:  grad_x = grad_y[:, top : top + h, left : left + w, :]

    Args:
        padding: an int (all four sides), (rows, columns) (symmetric), or
            ((top, bottom), (left, right)). Default 1.
        data_format: ``"channels_last"`` or None.

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 3)))(np.ones((1, 4, 4, 2), dtype="float32")).shape
        (1, 5, 9, 2)
    """

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.padding = _padding_pairs(padding)
        check_channels_last(data_format)

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        super().build(input_shape, rng)

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def compute_output_shape(self, input_shape):
        check_image_input(self, (None, *input_shape))
        (top, bottom), (left, right) = self.padding
        h, w, c = input_shape
        return (h + top + bottom, w + left + right, c)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        y = C.pad2d(x, self.padding)
        return y.copy() if y is x else y

    def backward(self, grad_y):
        (top, _), (left, _) = self.padding
        _, h, w, _ = self.x_shape
        return grad_y[:, top : top + h, left : left + w, :].copy()

    def get_config(self):
        return {
            **super().get_config(),
            "padding": [list(p) for p in self.padding],
            "data_format": "channels_last",
        }


def bilinear_matrix(n_in: int, factor: int, dtype: Any) -> np.ndarray:
    """The (n_in * factor, n_in) matrix of 1-D bilinear upsampling with half-pixel centres.

    Math:
        src(o) = max((o + 0.5) / factor - 0.5, 0)       (the output's centre on the input grid)
        i0 = floor(src),  i1 = min(i0 + 1, n_in - 1),  t = src - i0
        A[o, i0] += 1 - t,  A[o, i1] += t
        (PyTorch's ``interpolate(mode="bilinear", align_corners=False)``, which Keras's torch
        backend calls, without antialiasing: upsampling needs none.)
    """
    out = np.arange(n_in * factor)
    src = np.maximum((out + 0.5) / factor - 0.5, 0.0)
    low = np.floor(src).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    t = src - low
    matrix = np.zeros((n_in * factor, n_in))
    np.add.at(matrix, (out, low), 1 - t)
    np.add.at(matrix, (out, high), t)
    return matrix.astype(dtype)


@register_layer
class UpSampling2D(Layer):
    """Enlarge each image by whole factors: repeat pixels ("nearest") or interpolate.

    Math:
        nearest:   y[b, r, c, ch] = x[b, r // sh, c // sw, ch]
                   grad_x[b, i, j, ch] = sum_{r // sh = i, c // sw = j} grad_y[b, r, c, ch]
                   (grad_y reshaped to (batch, h, sh, w, sw, channels), summed over sh and sw)
        bilinear:  y = A_h x A_w^T per sample and channel, with A the (h * sh, h) and
                   (w * sw, w) interpolation matrices of `bilinear_matrix`
                   grad_x = A_h^T grad_y A_w

    Args:
        size: an int or (sh, sw), the factors for rows and columns (default 2).
        data_format: ``"channels_last"`` or None.
        interpolation: ``"nearest"`` or ``"bilinear"``.

    Raises:
        ValueError: non-positive sizes; an interpolation other than nearest or bilinear.

    Example:
        >>> UpSampling2D((2, 3))(np.ones((1, 4, 4, 2), dtype="float32")).shape
        (1, 8, 12, 2)
    """

    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.size = C.normalize_pair(size, "size")
        check_channels_last(data_format)
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(
                f"UpSampling2D supports interpolation 'nearest' or 'bilinear'. Got "
                f"{interpolation!r} instead (Keras's 'bicubic', 'lanczos3', 'lanczos5' and "
                "'area' are not implemented in engram)."
            )
        self.interpolation = interpolation

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        super().build(input_shape, rng)

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def compute_output_shape(self, input_shape):
        check_image_input(self, (None, *input_shape))
        h, w, c = input_shape
        return (h * self.size[0], w * self.size[1], c)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)
        self.rows = bilinear_matrix(x.shape[1], sh, x.dtype)
        self.columns = bilinear_matrix(x.shape[2], sw, x.dtype)
        return np.einsum("rh,bhwc,sw->brsc", self.rows, x, self.columns, optimize=True)

    def backward(self, grad_y):
        n, h, w, c = self.x_shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            return grad_y.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))
        rows, columns = (a.astype(grad_y.dtype, copy=False) for a in (self.rows, self.columns))
        return np.einsum("rh,brsc,sw->bhwc", rows, grad_y, columns, optimize=True)

    def get_config(self):
        return {
            **super().get_config(),
            "size": list(self.size),
            "data_format": "channels_last",
            "interpolation": self.interpolation,
        }
