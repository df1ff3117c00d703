"""Conv1D: 1-D convolution over sequences, computed by `Conv2D` on a (1, steps) image view."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn import conv_functional as C
from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.conv2d import Conv2D, check_channels_last
from engram.nn.layers.global_pooling import check_sequence_input
from engram.validation import check_positive

PADDINGS_1D = ("valid", "same", "causal")


def normalize_single(value: Any, name: str) -> int:
    """An int or a one-element list/tuple of one (Keras writes ``kernel_size: [3]``) -> int."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"{name} must be a positive int (or a tuple of one), e.g. {name}=3. Got {value!r} "
            "instead."
        )
    return int(value)


def sequence_plan(
    length: int, kernel: int, stride: int, dilation: int, padding: str
) -> tuple[int, int, int]:
    """(output steps, zeros before, zeros after) of a 1-D window over ``length`` steps.

    Math:
        span = (kernel - 1) * dilation + 1         (the steps one window covers)
        causal:      before = span - 1, after = 0,  out = (length - 1) // stride + 1
                     (output t sees steps <= t only)
        valid/same:  `conv_functional.output_size(length, span, stride, padding)`
    """
    span = (kernel - 1) * dilation + 1
    if padding == "causal":
        return (length - 1) // stride + 1, span - 1, 0
    return C.output_size(length, span, stride, padding)


@register_layer
class Conv1D(Layer):
    """1-D convolution (cross-correlation) over sequences (batch, steps, channels).

    Math:
        forward:   xp = x with `sequence_plan`'s zeros before and after the steps
                   y[b, t, o] = f(bias[o] + sum_{i < k, ch} xp[b, t*s + i*d, ch] * kernel[i, ch, o])
        backward:  grad_z = activation'(z) * grad_y
                   grad_kernel[i, ch, o] = sum_{b, t} xp[b, t*s + i*d, ch] * grad_z[b, t, o]
                   grad_bias[o] = sum_{b, t} grad_z[b, t, o]
                   grad_xp[b, t*s + i*d, ch] += sum_o kernel[i, ch, o] * grad_z[b, t, o]
                   grad_x = grad_xp with the padding cropped off
        The arithmetic is `Conv2D`'s (one im2col matrix product each way): xp is viewed as
        images of height 1, (batch, 1, steps, channels), and the kernel as (1, k, cin, filters).
        A dilation d > 1 (stride 1) is a plain convolution after "space to batch": the steps
        are split by their residue modulo d, xs[b * d + r, q] = xp[b, q * d + r], each
        sub-sequence is convolved with the undilated kernel, and the outputs are interleaved
        back, y[b, q * d + r] = conv(xs)[b * d + r, q]; backward runs the same steps in reverse.

    Args:
        filters: number of output channels.
        kernel_size: an int (or a tuple of one).
        strides: an int, positive (default 1).
        padding: ``"valid"``, ``"same"`` or ``"causal"`` (zeros before the sequence only, so
            an output never sees later steps).
        data_format: ``"channels_last"`` or None.
        dilation_rate: an int; steps between the kernel's taps (default 1).
        groups: only 1 is supported.
        activation: name or `Activation` (default linear).
        use_bias: whether to add a bias.
        kernel_initializer: for ``kernel`` (k, cin, filters) (fan_in = k * cin).
        bias_initializer: for ``bias`` (filters,).

    Raises:
        ValueError: non-positive sizes; an unknown padding; strides > 1 together with
            dilation_rate > 1 (as Keras); groups other than 1; inputs that are not
            (batch, steps, channels); a window longer than the input with ``padding="valid"``.

    Example:
        >>> Conv1D(8, 3, padding="causal", dilation_rate=2)(np.zeros((2, 10, 4), "float32")).shape
        (2, 10, 8)

    Reference:
        van den Oord et al. 2016, WaveNet: a generative model for raw audio (dilated causal
        convolutions).
    """

    weight_names = ("kernel", "bias")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive(filters, "filters", integer=True)
        self.filters = int(filters)
        self.kernel_size = normalize_single(kernel_size, "kernel_size")
        self.strides = normalize_single(strides, "strides")
        self.dilation_rate = normalize_single(dilation_rate, "dilation_rate")
        word = padding.lower() if isinstance(padding, str) else padding
        if word not in PADDINGS_1D:
            raise ValueError(
                f"padding must be 'valid', 'same' or 'causal'. Got {padding!r} instead."
            )
        self.padding = word
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(
                f"strides > 1 is not supported together with dilation_rate > 1 (as in Keras). "
                f"Got strides={strides!r} and dilation_rate={dilation_rate!r}; use one of them."
            )
        if groups != 1:
            raise ValueError(
                f"groups must be 1: grouped convolutions are not supported. Got {groups!r}."
            )
        check_channels_last(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        # the computation: a Conv2D over (batch, 1, steps, channels); its weights are views of
        # this layer's, set before every forward (an optimizer may have replaced the arrays)
        self.conv = Conv2D(
            self.filters,
            (1, self.kernel_size),
            strides=(1, self.strides),
            activation=self.activation,
            use_bias=self.use_bias,
            name=f"{self.name}/conv2d",
        )

    def _plan(self, length: int) -> tuple[int, int, int]:
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        return sequence_plan(length, k, s, d, self.padding)

    def build(self, input_shape, rng):
        self.compute_output_shape(input_shape)
        shape = (self.kernel_size, input_shape[-1], self.filters)
        self.params["kernel"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        check_sequence_input(self, (None, *input_shape))
        steps = self._plan(input_shape[0])[0]
        if steps <= 0:
            span = (self.kernel_size - 1) * self.dilation_rate + 1
            raise ValueError(
                f"Conv1D layer {self.name!r}: its window spans {span} steps (kernel_size "
                f"{self.kernel_size}, dilation_rate {self.dilation_rate}), more than the "
                f"{input_shape[0]} steps of its inputs with padding='valid', which leaves no "
                "output. Use padding='same' or 'causal', a smaller kernel, or longer sequences."
            )
        return (steps, self.filters)

    def check_input(self, shape):
        check_sequence_input(self, tuple(shape), self.input_shape)

    def forward(self, x, training=False):
        n, length, channels = x.shape
        steps, before, after = self._plan(length)
        d = self.dilation_rate
        padded = length + before + after
        after += -padded % d  # whole groups of d steps for the space-to-batch split
        xp = x if not (before or after) else np.pad(x, ((0, 0), (before, after), (0, 0)))
        groups = xp.shape[1] // d
        if d > 1:  # xs[b * d + r, q] = xp[b, q * d + r]
            xp = xp.reshape(n, groups, d, channels).transpose(0, 2, 1, 3)
            xp = xp.reshape(n * d, groups, channels)
        self.conv.params = {
            "kernel": self.params["kernel"][None],
            **({"bias": self.params["bias"]} if self.use_bias else {}),
        }
        z = self.conv.forward(xp[:, None], training)  # (n * d, 1, q, filters)
        self.plan = (x.shape, steps, before, padded, groups)
        if d == 1:
            return z[:, 0]
        q = z.shape[2]
        y = z.reshape(n, d, q, self.filters).transpose(0, 2, 1, 3).reshape(n, q * d, -1)
        return y[:, :steps]

    def backward(self, grad_y):
        (n, length, channels), steps, before, padded, groups = self.plan
        d = self.dilation_rate
        if d == 1:
            grad_z = grad_y[:, None]
        else:  # the outputs past `steps` were cropped: their gradient is 0
            q = groups - self.kernel_size + 1
            full = np.zeros((n, q * d, self.filters), dtype=grad_y.dtype)
            full[:, :steps] = grad_y
            grad_z = full.reshape(n, q, d, self.filters).transpose(0, 2, 1, 3)
            grad_z = grad_z.reshape(n * d, 1, q, self.filters)
        grad_xs = self.conv.backward(grad_z)[:, 0]  # (n * d, groups, channels)
        self.grads["kernel"] = self.conv.grads["kernel"][0]
        if self.use_bias:
            self.grads["bias"] = self.conv.grads["bias"]
        if d > 1:
            grad_xs = grad_xs.reshape(n, d, groups, channels).transpose(0, 2, 1, 3)
            grad_xs = grad_xs.reshape(n, groups * d, channels)
        return grad_xs[:, before : before + length]

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": [self.kernel_size],
            "strides": [self.strides],
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate],
            "groups": 1,
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }
