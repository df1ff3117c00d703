"""Regularization layers: noise in training (GaussianNoise, GaussianDropout, SpatialDropout1D
and SpatialDropout2D) and ActivityRegularization. Each is the identity at inference, as in
Keras; the noise is drawn from the layer's seed or, without one, from the model's generator
(`validation.as_rng`), so a seeded run is reproducible bit for bit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.nn import regularizers
from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.nn.layers.conv2d import check_channels_last
from engram.nn.layers.dropout import Dropout
from engram.validation import as_rng


def _unit_interval(value: Any, name: str, cls: str) -> float:
    """A number in [0, 1] (Keras's check for stddev and rate), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(
            f"{cls}'s {name} must be a number between 0 and 1. Received: {name}={value!r}."
        )
    return float(value)


class _Noise(Layer):
    """Shared by the Gaussian layers: the seed, the generator, and identity at inference."""

    supports_masking = True

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.rng = as_rng(seed) if seed is not None else None

    def build(self, input_shape, rng):
        if self.rng is None:
            self.rng = rng
        super().build(input_shape, rng)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Standard normal draws (float32 draws, so float64 gradient checks see the same)."""
        if self.rng is None:
            self.rng = as_rng(None)
        return self.rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)


@register_layer
class GaussianNoise(_Noise):
    """Add zero-mean Gaussian noise in training (a data augmentation); identity at inference.

    Math:
        training:   y = x + stddev * e,   e ~ N(0, 1) per entry;   grad_x = grad_y
        inference:  y = x;                                        grad_x = grad_y

    Args:
        stddev: the noise's standard deviation, in [0, 1] (Keras's range).
        seed: seed for the noise; when None the model's generator is used.
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.stddev = _unit_interval(stddev, "stddev", "GaussianNoise")

    def forward(self, x, training=False):
        if not training or self.stddev == 0:
            return x
        return x + self.stddev * self.normal(x.shape, x.dtype)

    def backward(self, grad_y):
        return grad_y

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@register_layer
class GaussianDropout(_Noise):
    """Multiply by noise of mean 1 in training (dropout's Gaussian form); identity at inference.

    Math:
        training:   m = 1 + sqrt(rate / (1 - rate)) * e,  e ~ N(0, 1) per entry
                    y = x * m;   grad_x = grad_y * m
        inference:  y = x;       grad_x = grad_y

    Args:
        rate: the drop probability whose variance the noise matches, in [0, 1).
        seed: seed for the noise; when None the model's generator is used.

    Reference: Srivastava et al. 2014, JMLR 15:1929 (section 10).
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = _unit_interval(rate, "rate", "GaussianDropout")
        if self.rate == 1:
            raise ValueError(
                "GaussianDropout's rate must be below 1 (its noise's variance rate / (1 - rate) "
                "is infinite at 1). Received: rate=1."
            )

    def forward(self, x, training=False):
        self.noise = None
        if not training or self.rate == 0:
            return x
        scale = math.sqrt(self.rate / (1.0 - self.rate))
        self.noise = 1 + scale * self.normal(x.shape, x.dtype)
        return x * self.noise

    def backward(self, grad_y):
        return grad_y if self.noise is None else grad_y * self.noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one mask entry per (sample, channel)."""

    rank = 0  # inputs' axes, batch included

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        if "noise_shape" in kwargs:  # Dropout's argument, which Keras's spatial layers lack
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument 'noise_shape': its "
                "mask is one entry per (sample, channel). For another shape use "
                "Dropout(rate, noise_shape=...)."
            )
        super().__init__(rate, seed=seed, **kwargs)

    def build(self, input_shape, rng):
        if len(input_shape) + 1 != self.rank:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects {self.rank}-D inputs (batch, "
                f"..., channels), but received shape {shape_str((None, *input_shape))}."
            )
        super().build(input_shape, rng)

    def forward(self, x, training=False):
        self.noise_shape = (x.shape[0], *([1] * (x.ndim - 2)), x.shape[-1])
        return super().forward(x, training)

    def get_config(self):
        # Keras's config: rate, seed, name, dtype (its constructor takes no trainable)
        config = {**super().get_config()}
        config.pop("noise_shape", None)
        config.pop("trainable", None)
        return config


@register_layer
class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of (batch, steps, channels) sequences.

    Math:
        training:   keep[b, c] ~ Bernoulli(1 - rate)
                    y[b, t, c] = x[b, t, c] * keep[b, c] / (1 - rate)
                    grad_x = grad_y * keep / (1 - rate)
        inference:  y = x

    Args:
        rate: fraction of channels to drop, in [0, 1).
        seed: seed for the masks; when None the model's generator is used.

    Reference: Tompson et al. 2015, Efficient object localization using convolutional networks.
    """

    rank = 3


@register_layer
class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole channels of (batch, height, width, channels) images.

    Math:
        training:   keep[b, c] ~ Bernoulli(1 - rate);  y = x * keep[b, None, None, c] / (1 - rate)
                    grad_x = grad_y * keep / (1 - rate)
        inference:  y = x

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: ``"channels_last"`` or None.
        seed: seed for the masks; when None the model's generator is used.
    """

    rank = 4

    def __init__(
        self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        check_channels_last(data_format)
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


@register_layer
class ActivityRegularization(Layer):
    """The identity, with a penalty on its input added to the loss (Keras's layer).

    Math:
        y = x;  loss += (l1 * sum |x| + l2 * sum x^2) / batch   (Keras divides by the batch)
        grad_x = grad_y + (l1 * sign(x) + 2 * l2 * x) / batch   (the model adds the penalty's
        gradient, as for any layer's ``activity_regularizer``)

    Args:
        l1, l2: the penalty's weights (non-negative).
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        if "activity_regularizer" in kwargs:
            raise TypeError(
                "ActivityRegularization takes l1 and l2, not activity_regularizer (it is one)."
            )
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def forward(self, x, training=False):
        return x

    def backward(self, grad_y):
        return grad_y

    def get_config(self):
        config = {**super().get_config(), "l1": self.l1, "l2": self.l2}
        config.pop("activity_regularizer", None)
        return config
