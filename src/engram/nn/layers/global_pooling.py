"""Global pooling over sequences (batch, steps, channels) and images: one value per channel.

`GlobalAveragePooling2D` lives in `pooling.py` beside the other image pooling layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.nn.layers.conv2d import check_channels_last, check_image_input


def check_sequence_input(
    layer: Layer, shape: tuple[int | None, ...], built_for: Any = None
) -> None:
    """Raise a clear error unless ``shape`` (batch first) is a batch of sequences
    ``(batch, steps, channels)``; ``built_for`` is the per-sample shape the layer was built for."""
    name = type(layer).__name__
    if len(shape) == 2:
        raise ValueError(
            f"{name} layer {layer.name!r} expects sequences of shape (batch, steps, channels), "
            f"but received shape {shape_str(tuple(shape))} with no channel axis. Add the channel "
            "axis: x = x[..., None]."
        )
    if len(shape) != 3:
        raise ValueError(
            f"{name} layer {layer.name!r} expects sequences of shape (batch, steps, channels) "
            f"(3-D), but received shape {shape_str(tuple(shape))}."
        )
    if built_for is not None and tuple(shape[1:]) != tuple(built_for):
        raise ValueError(
            f"{name} layer {layer.name!r} was built for inputs of shape "
            f"{shape_str((None, *built_for))}, but received shape {shape_str(tuple(shape))}. "
            "Pad or crop the sequences to match, or rebuild the model."
        )


class _GlobalPooling(Layer):
    """Shared arguments and shape logic: reduce every axis between batch and channels."""

    rank = 2  # spatial axes: 1 for sequences, 2 for images

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        check_channels_last(data_format)
        self.keepdims = bool(keepdims)

    def _check(self, shape: tuple[int | None, ...], built_for: Any = None) -> None:
        check = check_image_input if self.rank == 2 else check_sequence_input
        check(self, shape, built_for)

    def build(self, input_shape, rng):
        self._check((None, *input_shape))
        super().build(input_shape, rng)

    def check_input(self, shape):
        self._check(tuple(shape), self.input_shape)

    def compute_output_shape(self, input_shape):
        self._check((None, *input_shape))
        return (*(1,) * self.rank, input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class _GlobalMaxPooling(_GlobalPooling):
    """The forward and backward of `GlobalMaxPooling1D` and `GlobalMaxPooling2D`."""

    def forward(self, x, training=False):
        n, c = x.shape[0], x.shape[-1]
        flat = x.reshape(n, -1, c)
        self.x_shape = x.shape
        self.winner = flat.argmax(axis=1)[:, None, :]  # (batch, 1, channels)
        y = np.take_along_axis(flat, self.winner, axis=1)
        return y.reshape((n, *(1,) * self.rank, c)) if self.keepdims else y[:, 0, :]

    def backward(self, grad_y):
        n, c = self.x_shape[0], self.x_shape[-1]
        grad = np.zeros((n, int(np.prod(self.x_shape[1:-1])), c), dtype=grad_y.dtype)
        np.put_along_axis(grad, self.winner, grad_y.reshape(n, 1, c), axis=1)
        return grad.reshape(self.x_shape)


@register_layer
class GlobalMaxPooling2D(_GlobalMaxPooling):
    """The largest value of each channel over all pixels.

    Math:
        forward:   y[b, ch] = max_{r, c} x[b, r, c, ch]                 (batch, channels)
                   the first maximum's position (row-major) is kept
        backward:  grad_x[b, r, c, ch] = grad_y[b, ch] at that position, 0 elsewhere

    Args:
        data_format: ``"channels_last"`` or None.
        keepdims: keep the spatial axes, giving (batch, 1, 1, channels).
    """

    rank = 2


@register_layer
class GlobalMaxPooling1D(_GlobalMaxPooling):
    """The largest value of each channel over all steps.

    Math:
        forward:   y[b, ch] = max_t x[b, t, ch]                         (batch, channels)
                   the first maximum's step is kept
        backward:  grad_x[b, t, ch] = grad_y[b, ch] at that step, 0 elsewhere

    Args:
        data_format: ``"channels_last"`` or None.
        keepdims: keep the steps axis, giving (batch, 1, channels).
    """

    rank = 1


@register_layer
class GlobalAveragePooling1D(_GlobalPooling):
    """The mean of each channel over all steps.

    Math:
        forward:   y[b, ch] = (1 / steps) * sum_t x[b, t, ch]        (batch, channels)
        backward:  grad_x[b, t, ch] = grad_y[b, ch] / steps

    Args:
        data_format: ``"channels_last"`` or None.
        keepdims: keep the steps axis, giving (batch, 1, channels).
    """

    rank = 1

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.mean(axis=1, keepdims=self.keepdims, dtype=x.dtype)

    def backward(self, grad_y):
        n, steps, c = self.x_shape
        share = grad_y.reshape(n, 1, c) / np.asarray(steps, dtype=grad_y.dtype)
        return np.broadcast_to(share, self.x_shape).copy()
