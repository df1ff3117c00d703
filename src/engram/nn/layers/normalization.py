"""BatchNormalization: normalize each feature with batch statistics (training) or moving ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import initializers
from engram.nn.layers.base import Layer, register_layer


@register_layer
class BatchNormalization(Layer):
    """Batch normalization over the last axis (the features, or the channels of images).

    Math (statistics over every axis but the last; m = values per feature):
        training:   mean = x.mean(),  var = x.var()            (biased, as Keras)
                    x_hat = (x - mean) / sqrt(var + epsilon)
                    y = gamma * x_hat + beta
                    moving_mean     <- momentum * moving_mean     + (1 - momentum) * mean
                    moving_variance <- momentum * moving_variance + (1 - momentum) * var
                    backward:  g_hat  = grad_y * gamma
                               grad_x = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat))
                                        / sqrt(var + epsilon)
                               grad_gamma = sum(grad_y * x_hat),  grad_beta = sum(grad_y)
        inference:  y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
                    backward:  grad_x = grad_y * gamma / sqrt(moving_variance + epsilon)
                               grad_gamma = sum(grad_y * x_hat),  grad_beta = sum(grad_y)
        A layer with ``trainable=False`` always runs in inference mode (Keras's rule for
        fine-tuning).

    Weights: ``params`` holds the trainable ``gamma`` and ``beta``; the moving statistics are
    non-trainable state (`state_arrays`), saved with the model. ``get_weights()`` returns
    Keras's four arrays in Keras's order: gamma, beta, moving_mean, moving_variance (gamma or
    beta left out when ``scale`` or ``center`` is False).

    Args:
        axis: the feature axis; only -1 (the last) is supported.
        momentum: weight of the old value in the moving averages (Keras default 0.99).
        epsilon: added to the variance (Keras default 1e-3).
        center: learn an offset ``beta``.
        scale: learn a scale ``gamma``.

    Example:
        >>> layer = BatchNormalization()
        >>> y = layer(np.random.default_rng(0).normal(5, 2, (64, 3)).astype("float32"),
        ...           training=True)
        >>> bool(abs(y.mean()) < 1e-5)
        True

    Reference:
        Ioffe & Szegedy 2015, Batch normalization: accelerating deep network training by
        reducing internal covariate shift.
    """

    weight_names = ("gamma", "beta", "moving_mean", "moving_variance")
    keras_weights = {"gamma": "gamma", "beta": "beta"}

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(
                f"BatchNormalization supports only axis=-1 (features, or channels last). Got "
                f"axis={axis!r} instead."
            )
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1]. Got {momentum!r} instead.")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0. Got {epsilon!r} instead.")
        self.axis = -1
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape, rng):
        if len(input_shape) < 1:
            raise ValueError(f"BatchNormalization needs a feature axis; got {input_shape}.")
        shape = (input_shape[-1],)
        if self.scale:
            self.params["gamma"] = self.gamma_initializer(shape, rng, self.dtype)
        if self.center:
            self.params["beta"] = self.beta_initializer(shape, rng, self.dtype)
        self.moving_mean = self.moving_mean_initializer(shape, rng, self.dtype)
        self.moving_variance = self.moving_variance_initializer(shape, rng, self.dtype)
        super().build(input_shape, rng)

    def state_arrays(self):
        if not self.built:
            return {}
        return {"moving_mean": self.moving_mean, "moving_variance": self.moving_variance}

    # ------------------------------------------------------- forward / backward
    def forward(self, x, training=False):
        features = x.shape[-1]
        flat = x.reshape(-1, features)
        self.training = bool(training) and self.trainable
        if self.training:
            mean = flat.mean(axis=0)
            centered = flat - mean
            var = np.mean(np.square(centered), axis=0)
            self._update_moving(mean, var)
        else:
            mean, var = self.moving_mean, self.moving_variance
            centered = flat - mean
        self.inv_std = 1.0 / np.sqrt(var + np.asarray(self.epsilon, dtype=x.dtype))
        self.x_hat = centered * self.inv_std
        y = self.x_hat * self.params["gamma"] if self.scale else self.x_hat.copy()
        if self.center:
            y += self.params["beta"]
        self.x_shape = x.shape
        return y.reshape(x.shape)

    def _update_moving(self, mean: np.ndarray, var: np.ndarray) -> None:
        keep = np.asarray(self.momentum, dtype=self.moving_mean.dtype)
        self.moving_mean = keep * self.moving_mean + (1 - keep) * mean.astype(keep.dtype)
        self.moving_variance = keep * self.moving_variance + (1 - keep) * var.astype(keep.dtype)

    def backward(self, grad_y):
        g = grad_y.reshape(-1, grad_y.shape[-1])
        if self.scale:
            self.grads["gamma"] = np.sum(g * self.x_hat, axis=0)
        if self.center:
            self.grads["beta"] = g.sum(axis=0)
        g_hat = g * self.params["gamma"] if self.scale else g
        if self.training:
            g_hat = g_hat - g_hat.mean(axis=0) - self.x_hat * np.mean(g_hat * self.x_hat, axis=0)
        return (g_hat * self.inv_std).reshape(self.x_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.to_json(self.beta_initializer),
            "gamma_initializer": initializers.to_json(self.gamma_initializer),
            "moving_mean_initializer": initializers.to_json(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.to_json(self.moving_variance_initializer),
        }
