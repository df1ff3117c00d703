"""Dense: the fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.runtime import matmul
from engram.validation import check_positive


@register_layer
class Dense(Layer):
    """Fully connected layer: an affine map followed by an activation.

    Math:
        forward:   z = x @ weights + bias                 x: (batch, in)   z: (batch, units)
                   y = activation(z)
        backward:  grad_z       = activation'(z) * grad_y     (the activation's backward)
                   grad_weights = x.T @ grad_z             (in, units)
                   grad_bias    = grad_z.sum(axis=0)       (units,)
                   grad_x       = grad_z @ weights.T       (batch, in)
        Inputs with more axes, (batch, ..., in), are mapped along the last axis, as in Keras.
        Inside a model step that holds OpenBLAS on one thread (`engram.runtime.worker_threads`,
        a CNN's), the three products are split by rows over engram's workers
        (`engram.runtime.matmul`); otherwise they run on OpenBLAS's threads.

    Args:
        units: number of output units.
        activation: name or `Activation` (default linear).
        use_bias: whether to add a bias.
        kernel_initializer: initializer for ``weights`` (Keras's "kernel"), (in, units).
        bias_initializer: initializer for ``bias``.

    Example:
        >>> layer = Dense(4, activation="relu")
        >>> layer(np.ones((2, 3), dtype="float32")).shape
        (2, 4)
    """

    weight_names = ("weights", "bias")
    keras_weights = {"kernel": "weights", "bias": "bias"}

    supports_masking = True  # a mask on the input passes to the output, as in Keras

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive(units, "units", integer=True)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape, rng):
        if len(input_shape) < 1:
            raise ValueError(f"Dense needs inputs with a feature axis; got {input_shape}.")
        n_in = input_shape[-1]
        self.params["weights"] = self.kernel_initializer((n_in, self.units), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.units,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def check_input(self, shape):
        if self.input_shape is not None and tuple(shape[1:]) != self.input_shape:
            want = shape_str((None, *self.input_shape))
            hint = "Reshape the data to " + want + "."
            if len(shape) > len(self.input_shape) + 1:
                hint = "Add a Flatten() layer before it, or reshape the data to " + want + "."
            raise ValueError(
                f"Dense(units={self.units}) layer {self.name!r} was built for inputs with "
                f"{self.input_shape[-1]} features, shape {want}, but received shape "
                f"{shape_str(tuple(shape))}. {hint}"
            )

    def forward(self, x, training=False):
        self.y = self.activation.forward(self.forward_logits(x))
        return self.y

    def forward_logits(self, x):
        """The forward pass up to z, without the activation (the fused-loss path: the loss
        applies softmax or sigmoid itself)."""
        self.x = x
        weights = self.params["weights"]
        if x.ndim == 2:
            z = matmul(x, weights)
        else:
            z = x @ weights
        if self.use_bias:
            z += self.params["bias"]
        self.z = z
        self.y = None
        return z

    def backward(self, grad_y):
        return self.backward_from_logits(self.activation.backward(self.z, self.y, grad_y))

    def backward_from_logits(self, grad_z):
        """The backward pass from the gradient with respect to z (the fused-loss path)."""
        x = self.x
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        g2 = grad_z if grad_z.ndim == 2 else grad_z.reshape(-1, self.units)
        weights = self.params["weights"]
        dtype = x2.dtype if x2.dtype == g2.dtype else np.result_type(x2, g2)
        grad_w = self.grad_array("weights", weights.shape, dtype)
        self.grads["weights"] = matmul(x2.T, g2, out=grad_w)
        if self.use_bias:
            grad_b = self.grad_array("bias", (self.units,), g2.dtype)
            self.grads["bias"] = np.add.reduce(g2, axis=0, out=grad_b)  # sum over the batch
        if not self.needs_input_grad:
            return None
        if grad_z.ndim == 2:
            return matmul(grad_z, weights.T)
        return grad_z @ weights.T

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }
