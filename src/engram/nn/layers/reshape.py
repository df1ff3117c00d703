"""Shape layers: Flatten, Reshape and InputLayer. No weights; backward restores the shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer


@register_layer
class Flatten(Layer):
    """Flattens each sample to a vector.

    Math:
        forward:   y = x.reshape(batch, -1)      (batch, d1, ..., dk) -> (batch, d1*...*dk)
        backward:  grad_x = grad_y.reshape(x.shape)
    """

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_y):
        return grad_y.reshape(self.x_shape)


@register_layer
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1).

    Math:
        forward:   y = x.reshape(batch, *target_shape)
        backward:  grad_x = grad_y.reshape(x.shape)

    Raises:
        ValueError: the number of elements per sample does not match.
    """

    def __init__(self, target_shape: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(s == -1 for s in self.target_shape) > 1 or any(
            s == 0 or s < -1 for s in self.target_shape
        ):
            raise ValueError(
                f"target_shape must hold positive sizes and at most one -1. Got "
                f"{self.target_shape} instead."
            )

    def compute_output_shape(self, input_shape):
        size = int(np.prod(input_shape))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        shape = tuple(size // known if s == -1 else s for s in self.target_shape)
        if int(np.prod(shape)) != size:
            raise ValueError(
                f"Reshape(target_shape={self.target_shape}) cannot reshape inputs of shape "
                f"{tuple(input_shape)} ({size} values per sample) into {self.target_shape}."
            )
        return shape

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape((x.shape[0], *self.output_shape))

    def backward(self, grad_y):
        return grad_y.reshape(self.x_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register_layer
class InputLayer(Layer):
    """Declares the shape of one input sample: ``Input(shape=(784,))`` as in Keras.

    Math: y = x; grad_x = grad_y.
    """

    def __init__(self, shape: tuple[int, ...] | None = None, **kwargs: Any) -> None:
        if shape is not None:
            kwargs["input_shape"] = tuple(shape)
        super().__init__(**kwargs)

    def forward(self, x, training=False):
        return x

    def backward(self, grad_y):
        return grad_y


def Input(shape: tuple[int, ...], name: str | None = None) -> InputLayer:  # noqa: N802
    """Keras's ``Input(shape=...)``: the first entry of a `Sequential` model."""
    return InputLayer(shape=shape, name=name)
