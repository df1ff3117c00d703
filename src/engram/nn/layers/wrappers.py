"""TimeDistributed: apply one layer to every time step of a sequence."""

from __future__ import annotations

from typing import Any

from engram.nn.layers.base import Layer, layers, register_layer, shape_str


@register_layer
class TimeDistributed(Layer):
    """Applies ``layer`` to every step of (batch, time, ...) inputs, with the same weights.

    Math:
        forward:   y[:, t] = layer(x[:, t])   computed as one call on x.reshape(batch * time, ...)
        backward:  the wrapped layer's backward on grad_y.reshape(batch * time, ...); its weight
                   gradients are sums over batch and time, as for a batch of batch * time samples.
        (Dense already maps 3-D inputs along the last axis, as in Keras; TimeDistributed is for
        porting Keras programs and for layers that need 2-D inputs.)

    Args:
        layer: the layer to apply, e.g. ``Dense(10)``; its weights are this layer's weights
            (``params`` is the same dict).

    Example:
        >>> TimeDistributed(Dense(3))(np.zeros((2, 5, 4), dtype="float32")).shape
        (2, 5, 3)
    """

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(
                "TimeDistributed expects a Layer instance such as Dense(10). Got "
                f"{type(layer).__name__} instead."
            )
        self.layer = layer
        self.weight_names = layer.weight_names

    def build(self, input_shape, rng):
        if len(input_shape) < 2:
            raise ValueError(
                f"TimeDistributed layer {self.name!r} expects inputs of shape (batch, time, ...),"
                f" but was built for {shape_str((None, *input_shape))}."
            )
        self.layer.build(tuple(input_shape[1:]), rng)
        self.params = self.layer.params
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.layer.compute_output_shape(tuple(input_shape[1:])))

    def forward(self, x, training=False):
        batch, steps = x.shape[:2]
        y = self.layer.forward(x.reshape(batch * steps, *x.shape[2:]), training)
        self.x_shape = x.shape
        return y.reshape(batch, steps, *y.shape[1:])

    def backward(self, grad_y):
        batch, steps = grad_y.shape[:2]
        grad_x = self.layer.backward(grad_y.reshape(batch * steps, *grad_y.shape[2:]))
        self.grads = self.layer.grads
        return grad_x.reshape(self.x_shape)

    def get_config(self):
        inner = {"class_name": layers.name_of(self.layer), "config": self.layer.get_config()}
        return {**super().get_config(), "layer": inner}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        inner = config.pop("layer")
        if "input_shape" in config and config["input_shape"] is not None:
            config["input_shape"] = tuple(config["input_shape"])
        return cls(layers.get(inner["class_name"]).from_config(inner["config"]), **config)
