"""Layers that move values without changing them: RepeatVector, Permute, Cropping1D,
Cropping2D and Identity (no weights; each backward is its forward's adjoint)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.nn.layers.conv2d import check_channels_last, check_image_input


def _count(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _pair(value: Any, name: str) -> tuple[int, int]:
    """An int (both sides) or a pair (before, after) of non-negative ints."""
    items = (value, value) if _count(value) else value
    if not (isinstance(items, (list, tuple)) and len(items) == 2 and all(map(_count, items))):
        raise ValueError(
            f"{name} must be a non-negative int or a pair (before, after) of them. Got "
            f"{value!r} instead."
        )
    return int(items[0]), int(items[1])


def _check_rank(layer: Layer, input_shape: tuple, rank: int, what: str) -> None:
    """Inputs of ``rank`` axes, batch included, or a clear error."""
    if len(input_shape) + 1 != rank:
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r} expects inputs of shape {what}, but "
            f"received shape {shape_str((None, *input_shape))}."
        )


@register_layer
class RepeatVector(Layer):
    """Repeat each (batch, features) input n times: (batch, n, features).

    Math:
        forward:   y[b, t, f] = x[b, f]          for t = 0 .. n - 1
        backward:  grad_x[b, f] = sum_t grad_y[b, t, f]

    Args:
        n: how many times to repeat (a positive int).

    Example:
        >>> RepeatVector(3)(np.ones((2, 4), dtype="float32")).shape
        (2, 3, 4)
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(n, numbers.Integral) or isinstance(n, bool):
            raise TypeError(f"RepeatVector's n must be an int. Got {type(n).__name__} instead.")
        if n <= 0:
            raise ValueError(f"RepeatVector's n must be a positive int. Received: n={n}.")
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        _check_rank(self, tuple(input_shape), 2, "(batch, features)")
        return (self.n, input_shape[0])

    def forward(self, x, training=False):
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, grad_y):
        return grad_y.sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register_layer
class Permute(Layer):
    """Reorder the axes after the batch axis.

    Math:
        forward:   y = x.transpose(0, *dims)            (dims numbered from 1, as in Keras)
        backward:  grad_x = grad_y.transpose(inverse of (0, *dims))

    Args:
        dims: a permutation of 1 .. rank - 1, e.g. (2, 1) swaps time and features.

    Example:
        >>> Permute((2, 1))(np.ones((2, 5, 3), dtype="float32")).shape
        (2, 3, 5)
    """

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            dims = ()
        if not dims or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                "Permute's dims must be a permutation of 1, 2, ..., rank - 1 (the axes after "
                f"the batch axis, numbered from 1). Received dims={dims or None!r}."
            )
        self.dims = dims

    def compute_output_shape(self, input_shape):
        _check_rank(self, tuple(input_shape), len(self.dims) + 1, f"{len(self.dims) + 1}-D")
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x, training=False):
        return np.ascontiguousarray(x.transpose(0, *self.dims))

    def backward(self, grad_y):
        return np.ascontiguousarray(grad_y.transpose(np.argsort((0, *self.dims))))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register_layer
class Cropping1D(Layer):
    """Remove steps from the start and end of each (batch, steps, features) sequence.

    Math:
        forward:   y = x[:, before : steps - after, :]
        backward:  grad_x = 0 with grad_x[:, before : steps - after, :] = grad_y

    Args:
        cropping: an int (both ends) or (before, after). Default (1, 1).

    Raises:
        ValueError: negative cropping; cropping that leaves no step.
    """

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _pair(cropping, "cropping")

    def compute_output_shape(self, input_shape):
        _check_rank(self, tuple(input_shape), 3, "(batch, steps, features)")
        steps = input_shape[0] - sum(self.cropping)
        if steps <= 0:
            raise ValueError(
                f"Cropping1D layer {self.name!r}: cropping {self.cropping} must leave at least "
                f"one of the input's {input_shape[0]} steps. Crop less."
            )
        return (steps, input_shape[1])

    def forward(self, x, training=False):
        self.x_shape = x.shape
        before, after = self.cropping
        return x[:, before : x.shape[1] - after].copy()

    def backward(self, grad_y):
        before, after = self.cropping
        grad_x = np.zeros(self.x_shape, dtype=grad_y.dtype)
        grad_x[:, before : self.x_shape[1] - after] = grad_y
        return grad_x

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


@register_layer
class Cropping2D(Layer):
    """Remove rows and columns from the borders of channels-last images.

    Math:
        forward:   y = x[:, top : h - bottom, left : w - right, :]
        backward:  grad_x = 0 with grad_x[:, top : h - bottom, left : w - right, :] = grad_y

    Args:
        cropping: an int (all four sides), (rows, columns) (each an int or a pair), or
            ((top, bottom), (left, right)).
        data_format: ``"channels_last"`` or None.

    Raises:
        ValueError: negative cropping; cropping that leaves no row or column; channels-first.

    Example:
        >>> Cropping2D(((1, 0), (2, 1)))(np.ones((1, 5, 6, 2), dtype="float32")).shape
        (1, 4, 3, 2)
    """

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if _count(cropping):
            cropping = (cropping, cropping)
        if not (isinstance(cropping, (list, tuple)) and len(cropping) == 2):
            raise ValueError(
                "cropping must be an int, a pair (rows, columns) or ((top, bottom), (left, "
                f"right)) of non-negative ints. Got {cropping!r} instead."
            )
        self.cropping = (
            _pair(cropping[0], "cropping's rows"),
            _pair(cropping[1], "cropping's columns"),
        )
        check_channels_last(data_format)

    def compute_output_shape(self, input_shape):
        check_image_input(self, (None, *input_shape))
        (top, bottom), (left, right) = self.cropping
        h, w = input_shape[0] - top - bottom, input_shape[1] - left - right
        if h <= 0 or w <= 0:
            raise ValueError(
                f"Cropping2D layer {self.name!r}: cropping {self.cropping} must leave at least "
                f"one row and one column of the input's {tuple(input_shape[:2])}. Crop less."
            )
        return (h, w, input_shape[2])

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        (top, bottom), (left, right) = self.cropping
        return x[:, top : x.shape[1] - bottom, left : x.shape[2] - right].copy()

    def backward(self, grad_y):
        (top, bottom), (left, right) = self.cropping
        _, h, w, _ = self.x_shape
        grad_x = np.zeros(self.x_shape, dtype=grad_y.dtype)
        grad_x[:, top : h - bottom, left : w - right] = grad_y
        return grad_x

    def get_config(self):
        return {
            **super().get_config(),
            "cropping": [list(p) for p in self.cropping],
            "data_format": "channels_last",
        }


@register_layer
class Identity(Layer):
    """The identity: y = x, grad_x = grad_y (a placeholder, as in Keras)."""

    supports_masking = True

    def forward(self, x, training=False):
        return x

    def backward(self, grad_y):
        return grad_y
