"""Preprocessing layers: Rescaling (a fixed affine map of the inputs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer, shape_str


def _json_number_or_list(value: Any, name: str) -> float | list:
    """A scalar as a float, an array as nested lists (what get_config stores)."""
    if isinstance(value, bool):
        value = None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} must be a finite number or a list/array of finite numbers, e.g. "
            f"{name}=1/255. Got {value!r} instead."
        )
    return float(array) if array.ndim == 0 else array.tolist()


@register_layer
class Rescaling(Layer):
    """Multiply the inputs by ``scale`` and add ``offset`` (e.g. pixels 0..255 -> 0..1).

    Math:
        forward:   y = x * scale + offset        (scale, offset broadcast against one sample)
        backward:  grad_x = grad_y * scale       (no weights)
        Integer inputs (uint8 images) are cast to the layer's float dtype first, as in Keras.

    Args:
        scale: a number, or a list/array that broadcasts to one sample's shape (per channel).
        offset: a number or such a list/array (default 0).

    Raises:
        ValueError: a scale or offset that is not finite numbers, or that does not broadcast
            to the input's sample shape without enlarging it.

    Example:
        >>> Rescaling(1 / 255)(np.full((1, 2, 2, 1), 255, dtype="uint8")).max()
        1.0
    """

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = _json_number_or_list(scale, "scale")
        self.offset = _json_number_or_list(offset, "offset")

    def compute_output_shape(self, input_shape):
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            shape = np.shape(value)
            try:
                fits = np.broadcast_shapes(tuple(input_shape), shape) == tuple(input_shape)
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"Rescaling layer {self.name!r}: {name} of shape {shape} does not broadcast "
                    f"to inputs of shape {shape_str((None, *input_shape))}. Give one value per "
                    "channel (the last axis), or a single number."
                )
        return tuple(input_shape)

    def forward(self, x, training=False):
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(self.dtype)
        self.factor = np.asarray(self.scale, dtype=dtype)
        return x.astype(dtype, copy=False) * self.factor + np.asarray(self.offset, dtype=dtype)

    def backward(self, grad_y):
        return grad_y * self.factor.astype(grad_y.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
