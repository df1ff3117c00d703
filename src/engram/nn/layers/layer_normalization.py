"""LayerNormalization: normalize each sample over its feature axes (no batch statistics)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from engram.nn import initializers
from engram.nn.layers.base import Layer, register_layer


def axis_list(axis: Any, layer: Layer) -> list[int]:
    """Keras's ``axis`` argument (an int or a list/tuple of ints) as a list of ints."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in items):
        raise ValueError(
            f"{type(layer).__name__}: axis must be an int or a list of ints, e.g. axis=-1. "
            f"Got {axis!r} instead."
        )
    return [int(a) for a in items]


def normalize_axes(axis: Any, ndim: int, layer: Layer) -> tuple[int, ...]:
    """Keras's ``axis`` (an int or ints, counting the batch axis as 0, negative from the end)
    as sorted non-negative axes of a ``ndim``-dimensional batch; the batch axis is refused."""
    items = axis_list(axis, layer)
    axes = sorted({int(a) % ndim if -ndim <= a < ndim else ndim for a in items})
    if any(a == 0 or a >= ndim for a in axes):
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r}: axis={axis!r} must name axes of one "
            f"sample, between 1 and {ndim - 1} (or -1 to -{ndim - 1}), for inputs of "
            f"{ndim} dimensions (batch first); axis 0 is the batch."
        )
    return tuple(axes)


@register_layer
class LayerNormalization(Layer):
    """Layer normalization: each sample normalized over ``axis``, then scaled and shifted.

    Math (mean and variance over the normalized axes of each sample; m values per group):
        forward:   mean = x.mean(axis),  var = ((x - mean) ** 2).mean(axis)   (biased, as Keras)
                   x_hat = (x - mean) / sqrt(var + epsilon)
                   y = gamma * x_hat + beta        (gamma, beta shaped like the normalized axes)
        backward:  grad_gamma = sum over the other axes of grad_y * x_hat
                   grad_beta  = sum over the other axes of grad_y
                   g_hat  = grad_y * gamma
                   grad_x = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / sqrt(var + eps)
                   (means over the normalized axes, as in `BatchNormalization`'s training step)

    Args:
        axis: the axis or list of axes to normalize over (batch axis = 0; default -1).
        epsilon: added to the variance (Keras default 1e-3).
        center: learn an offset ``beta``.
        scale: learn a scale ``gamma``.
        beta_initializer, gamma_initializer: their initializers (zeros, ones).
        rms_scaling: only False (Keras deprecates True; use RMS normalization instead).

    Raises:
        ValueError: an axis outside one sample (the batch axis, or out of range);
            ``rms_scaling=True``; ``epsilon <= 0``.

    Example:
        >>> y = LayerNormalization()(np.array([[1.0, 2.0, 3.0]], dtype="float32"))
        >>> bool(abs(y.mean()) < 1e-6)
        True

    Reference:
        Ba, Kiros & Hinton 2016, Layer normalization.
    """

    weight_names = ("gamma", "beta")

    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        rms_scaling: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        axis_list(axis, self)  # the type check; ranges are checked against the input shape
        if rms_scaling:
            raise ValueError(
                "LayerNormalization(rms_scaling=True) is not supported: Keras deprecates it "
                "(it scales by the variance, not the root mean square)."
            )
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0. Got {epsilon!r} instead.")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _axes(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return normalize_axes(self.axis, len(input_shape) + 1, self)

    def compute_output_shape(self, input_shape):
        self._axes(input_shape)
        return tuple(input_shape)

    def build(self, input_shape, rng):
        full = (None, *input_shape)
        shape = tuple(full[a] for a in self._axes(input_shape))
        if self.scale:
            self.params["gamma"] = self.gamma_initializer(shape, rng, self.dtype)
        if self.center:
            self.params["beta"] = self.beta_initializer(shape, rng, self.dtype)
        super().build(input_shape, rng)

    def _broadcast(self, value: np.ndarray, ndim: int) -> np.ndarray:
        """A weight shaped like the normalized axes, reshaped to broadcast against x."""
        shape = [1] * ndim
        for a, size in zip(self.axes, value.shape, strict=True):
            shape[a] = size
        return value.reshape(shape)

    def forward(self, x, training=False):
        self.axes = normalize_axes(self.axis, x.ndim, self)
        mean = x.mean(axis=self.axes, keepdims=True)
        centered = x - mean
        var = np.mean(np.square(centered), axis=self.axes, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + np.asarray(self.epsilon, dtype=x.dtype))
        self.x_hat = centered * self.inv_std
        y = self.x_hat * self._broadcast(self.params["gamma"], x.ndim) if self.scale else self.x_hat
        if self.center:
            y = y + self._broadcast(self.params["beta"], x.ndim)
        return y if y is not self.x_hat else y.copy()

    def backward(self, grad_y):
        others = tuple(a for a in range(grad_y.ndim) if a not in self.axes)
        if self.scale:
            self.grads["gamma"] = np.sum(grad_y * self.x_hat, axis=others)
        if self.center:
            self.grads["beta"] = np.sum(grad_y, axis=others)
        g_hat = (
            grad_y * self._broadcast(self.params["gamma"], grad_y.ndim) if self.scale else grad_y
        )
        mean_g = g_hat.mean(axis=self.axes, keepdims=True)
        mean_gx = np.mean(g_hat * self.x_hat, axis=self.axes, keepdims=True)
        return (g_hat - mean_g - self.x_hat * mean_gx) * self.inv_std

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.to_json(self.beta_initializer),
            "gamma_initializer": initializers.to_json(self.gamma_initializer),
        }
