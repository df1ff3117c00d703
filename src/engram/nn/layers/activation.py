"""Activation layers: an activation function applied element-wise (softmax along an axis)."""

from __future__ import annotations

from typing import Any

from engram.nn import activations
from engram.nn.layers.base import Layer, register_layer


@register_layer
class Activation(Layer):
    """Applies an activation function.

    Math:
        forward:   y = f(x)
        backward:  grad_x = f'(x) * grad_y     (softmax: y * (grad_y - sum(grad_y * y)))

    Args:
        activation: a name such as ``"relu"`` or an `Activation` object.

    Example:
        >>> Activation("relu")(np.array([[-1.0, 2.0]], dtype="float32"))
        array([[0., 2.]], dtype=float32)
    """

    supports_masking = True  # a mask on the input passes to the output, as in Keras

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        self.z = x
        self.y = self.activation.forward(x)
        return self.y

    def backward(self, grad_y):
        return self.activation.backward(self.z, self.y, grad_y)

    def forward_logits(self, x):
        """The fused-loss path: the input goes to the loss as it is (it applies f itself)."""
        self.z, self.y = x, None
        return x

    def backward_from_logits(self, grad_z):
        """The fused-loss path: the loss already gave the gradient with respect to x."""
        return grad_z

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.to_json()}


@register_layer
class ReLU(Activation):
    """Rectified linear unit layer: y = max(x, 0)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("activation", None)
        super().__init__("relu", **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        return config


@register_layer
class LeakyReLU(Activation):
    """Leaky ReLU layer: y = x if x > 0 else negative_slope * x (Keras default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        kwargs.pop("activation", None)
        super().__init__(activations.LeakyReLU(negative_slope), **kwargs)
        self.negative_slope = float(negative_slope)

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        return {**config, "negative_slope": self.negative_slope}


@register_layer
class Softmax(Activation):
    """Softmax layer along ``axis`` (default the last)."""

    supports_masking = False  # Keras's would leave masked entries out of the softmax: refused

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        kwargs.pop("activation", None)
        super().__init__(activations.Softmax(axis), **kwargs)
        self.axis = int(axis)

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        return {**config, "axis": self.axis}
