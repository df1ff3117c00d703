"""Shape layers: Flatten, Reshape and InputLayer. No weights; backward restores the shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.graph import SymbolicTensor, input_tensor
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
    """Declares the shape of one input sample; `Input` returns the tensor it produces.

    Math: y = x; grad_x = grad_y.

    Args:
        shape: shape of one sample (no batch axis).
        batch_size: a fixed batch size, or None (any).
    """

    def __init__(
        self, shape: tuple[int, ...] | None = None, batch_size: int | None = None, **kwargs: Any
    ) -> None:
        if shape is not None:
            kwargs["input_shape"] = tuple(shape)
        super().__init__(**kwargs)
        self.batch_size = None if batch_size is None else int(batch_size)

    def forward(self, x, training=False):
        return x

    def backward(self, grad_y):
        return grad_y

    def get_config(self):
        config = super().get_config()
        if self.batch_size is not None:
            config["batch_size"] = self.batch_size
        return config


def Input(  # noqa: N802
    shape: tuple[int | None, ...],
    batch_size: int | None = None,
    dtype: Any = None,
    name: str | None = None,
) -> SymbolicTensor:
    """Keras's ``Input``: a symbolic tensor of shape ``(batch_size, *shape)`` to call layers on.

    ``Model(inputs, outputs)`` runs the calls recorded from it; as the first entry of a
    `Sequential` it declares the input shape.

    Args:
        shape: shape of one sample, without the batch axis, e.g. ``(784,)``.
        batch_size: a fixed batch size (None: any).
        dtype: the data type of the input (float32 when None).
        name: the name of the input (and of its `InputLayer`).

    Raises:
        ValueError: a shape that is not a tuple of positive sizes (None for unknown ones).

    Example:
        >>> inputs = Input(shape=(784,))
        >>> inputs.shape
        (None, 784)
    """
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        s is None or (isinstance(s, (int, np.integer)) and s > 0) for s in shape
    ):
        raise ValueError(
            f"Input(shape=...) must be a tuple of positive sizes (None for unknown ones), such "
            f"as shape=(784,). Received: shape={shape!r}."
        )
    dtype = np.dtype(dtype or "float32").name
    layer = InputLayer(shape=tuple(shape), batch_size=batch_size, name=name)
    if dtype != "float32" and np.dtype(dtype).kind == "f":
        layer.dtype = dtype
    return input_tensor(layer, (layer.batch_size, *shape), dtype)
