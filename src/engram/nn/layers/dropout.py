"""Dropout: inverted dropout, active only in training."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer
from engram.validation import as_rng, check_fraction


@register_layer
class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of the inputs during training (inverted dropout).

    Math:
        training:   mask ~ Bernoulli(1 - rate);  y = x * mask / (1 - rate)
                    grad_x = grad_y * mask / (1 - rate)
        inference:  y = x;  grad_x = grad_y
        The rescaling keeps E[y] = x, so nothing changes at inference.

    Args:
        rate: fraction of units to drop, in [0, 1).
        noise_shape: shape of the mask (1 on axes where the mask is shared), batch axis included.
        seed: seed for the masks; when None the model's generator is used.

    Reference: Srivastava et al. 2014, JMLR 15:1929.
    """

    supports_masking = True  # a mask on the input passes to the output, as in Keras

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.rate = check_fraction(rate, "rate")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.rng = as_rng(seed) if seed is not None else None

    def build(self, input_shape, rng):
        if self.rng is None:
            self.rng = rng
        super().build(input_shape, rng)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        shape = x.shape
        if self.noise_shape is not None:
            pairs = zip(x.shape, self.noise_shape, strict=True)
            shape = tuple(s if n is None else n for s, n in pairs)
        keep = self.rng.random(shape, dtype=np.float32) >= self.rate
        self.mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.rate))
        return x * self.mask

    def backward(self, grad_y):
        return grad_y if self.mask is None else grad_y * self.mask

    def get_config(self):
        config = {**super().get_config(), "rate": self.rate, "seed": self.seed}
        if self.noise_shape is not None:
            config["noise_shape"] = list(self.noise_shape)
        return config
