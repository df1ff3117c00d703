"""UnitNormalization: scale each sample to unit L2 norm over the given axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.layer_normalization import axis_list, normalize_axes

#: Keras's floor on the norm (``ops.normalize(..., epsilon=1e-12)``)
EPSILON = 1e-12


@register_layer
class UnitNormalization(Layer):
    """Divide each sample by its L2 norm over ``axis`` (norms below 1e-12 count as 1e-12).

    Math (n = sqrt(sum_axis x^2) per sample, kept for broadcasting):
        forward:   y = x / max(n, eps)                         eps = 1e-12, as Keras
        backward:  n > eps:   grad_x = (grad_y - y * sum_axis(grad_y * y)) / n
                   n <= eps:  grad_x = grad_y / eps            (the floor is a constant)

    Args:
        axis: an int or a list of ints, the axes to normalize over (batch axis 0; default -1).

    Example:
        >>> UnitNormalization()(np.array([[3.0, 4.0]], dtype="float32"))
        array([[0.6, 0.8]], dtype=float32)
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise TypeError(
                "UnitNormalization's axis must be an int or a list/tuple of ints. Received: "
                f"axis={axis!r}."
            )
        self.axis = axis if isinstance(axis, int) else axis_list(axis, self)

    def compute_output_shape(self, input_shape):
        normalize_axes(self.axis, len(input_shape) + 1, self)
        return tuple(input_shape)

    def forward(self, x, training=False):
        axes = normalize_axes(self.axis, x.ndim, self)
        norm = np.sqrt(np.sum(np.square(x), axis=axes, keepdims=True))
        self.norm = np.maximum(norm, np.asarray(EPSILON, x.dtype))
        self.clipped = norm <= EPSILON
        self.axes = axes
        self.y = x / self.norm
        return self.y

    def backward(self, grad_y):
        projection = np.sum(grad_y * self.y, axis=self.axes, keepdims=True)
        projection = np.where(self.clipped, 0, projection).astype(grad_y.dtype, copy=False)
        return (grad_y - self.y * projection) / self.norm

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
