"""Masking: marks the time steps whose features all equal ``mask_value`` as padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer


@register_layer
class Masking(Layer):
    """Zeroes padded time steps and gives the next layers their mask, as Keras's layer.

    Math:
        keep[b, t] = any_f (x[b, t, f] != mask_value)           mask: (batch, time)
        forward:   y = x * keep[..., None]
        backward:  grad_x = grad_y * keep[..., None]
        The recurrent layers that read the mask keep their state at masked steps.

    Args:
        mask_value: the value that marks padding (all features of a step equal to it).

    Example:
        >>> Masking()(np.array([[[1.0], [0.0]]], dtype="float32"))[0, :, 0]
        array([1., 0.], dtype=float32)
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def mask_flow(self, input_masked: bool) -> bool:
        return True

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        return np.any(np.not_equal(x, self.mask_value), axis=-1)

    def forward(self, x, training=False):
        self.keep = self.compute_mask(x, None)[..., None].astype(x.dtype)
        return x * self.keep

    def backward(self, grad_y):
        return grad_y * self.keep

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
