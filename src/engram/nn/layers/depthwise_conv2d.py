"""DepthwiseConv2D and SeparableConv2D: one filter per input channel (then, for the separable
layer, a 1x1 convolution mixing the channels), on Conv2D's im2col machinery."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn import conv_functional as C
from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.conv2d import check_channels_last, check_image_input, check_window_fits
from engram.nn.layers.conv2d_dilated import dilated_kernel
from engram.validation import check_positive


def depthwise_forward(
    x: np.ndarray, kernel: np.ndarray, strides: C.Pair, padding: str, dilation: C.Pair
) -> tuple[np.ndarray, tuple]:
    """Each input channel convolved with its own depth_multiplier filters.

    Math (x: (batch, h, w, cin); kernel: (kh, kw, cin, m); Kd its dilated form (khd, kwd);
    xp the padded x; P the (batch * oh * ow, khd * kwd, cin) patches `im2col` gathers):
        y[b, r, c, ch * m + j] = sum_{i, i'} xp[b, r*sh + i, c*sw + i', ch] * Kd[i, i', ch, j]
        computed as  y = einsum("npc,pcm->ncm", P, Kd.reshape(khd * kwd, cin, m))

    Returns:
        ``(y, cache)``: y of shape (batch, oh, ow, cin * m); cache for `depthwise_backward`.
    """
    kd = dilated_kernel(kernel, dilation)
    khd, kwd, cin, m = kd.shape
    (oh, ow), pads = C.spatial_plan(x.shape[1:], (khd, kwd), strides, padding)
    xp = C.pad2d(x, pads)
    patches = C.im2col(xp, (khd, kwd), strides).reshape(-1, khd * kwd, cin)
    z = np.einsum("npc,pcm->ncm", patches, kd.reshape(khd * kwd, cin, m), optimize=True)
    cache = (patches, kd, xp.shape, x.shape, pads, strides, dilation)
    return z.reshape(x.shape[0], oh, ow, cin * m), cache


def depthwise_backward(grad_y: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(grad_x, grad_kernel) of `depthwise_forward`.

    Math (G = grad_y as (batch * oh * ow, cin, m)):
        grad_Kd[p, ch, j] = sum_n P[n, p, ch] * G[n, ch, j];  grad_kernel = its taps
        grad_P[n, p, ch]  = sum_j Kd[p, ch, j] * G[n, ch, j];  grad_x = col2im(grad_P), cropped
    """
    patches, kd, xp_shape, x_shape, pads, strides, dilation = cache
    khd, kwd, cin, m = kd.shape
    g = grad_y.reshape(-1, cin, m)
    grad_kd = np.einsum("npc,ncm->pcm", patches, g, optimize=True).reshape(kd.shape)
    grad_patches = np.einsum("pcm,ncm->npc", kd.reshape(-1, cin, m), g, optimize=True)
    grad_xp = C.col2im(grad_patches.reshape(len(g), -1), xp_shape, (khd, kwd), strides)
    (top, _), (left, _) = pads
    grad_x = grad_xp[:, top : top + x_shape[1], left : left + x_shape[2]]
    return np.ascontiguousarray(grad_x), np.ascontiguousarray(
        grad_kd[:: dilation[0], :: dilation[1]]
    )


class _Depthwise(Layer):
    """Argument handling and shapes shared by the depthwise layers."""

    def _set_conv_args(self, kernel_size, strides, padding, depth_multiplier, data_format,
                       dilation_rate, activation, use_bias) -> None:  # fmt: skip
        self.kernel_size = C.normalize_pair(kernel_size, "kernel_size")
        self.strides = C.normalize_pair(strides, "strides")
        self.padding = C.normalize_padding(padding)
        check_positive(depth_multiplier, "depth_multiplier", integer=True)
        self.depth_multiplier = int(depth_multiplier)
        check_channels_last(data_format)
        self.dilation_rate = C.normalize_pair(dilation_rate, "dilation_rate")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    @property
    def window(self) -> C.Pair:
        """The dilated kernel's size."""
        k, d = self.kernel_size, self.dilation_rate
        return ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)

    def _check(self, input_shape) -> None:
        check_image_input(self, (None, *input_shape))
        check_window_fits(self, input_shape, self.window, self.padding, "kernel_size")

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def _spatial(self, input_shape) -> C.Pair:
        self._check(input_shape)
        return C.spatial_plan(input_shape, self.window, self.strides, self.padding)[0]

    def _conv_config(self) -> dict[str, Any]:
        return {
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "data_format": "channels_last",
            "dilation_rate": list(self.dilation_rate),
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
        }


@register_layer
class DepthwiseConv2D(_Depthwise):
    """Depthwise 2-D convolution: each input channel gets its own depth_multiplier filters.

    Math:
        z = `depthwise_forward`(x, kernel) + bias;  y = activation(z)
            y has cin * depth_multiplier channels, channel ch * depth_multiplier + j from
            input channel ch's filter j (Keras's order)
        backward:  grad_z = activation'(z) * grad_y;  grad_bias = grad_z summed over
                   (batch, oh, ow);  grad_x, grad_kernel from `depthwise_backward`

    Args:
        kernel_size, strides, padding, dilation_rate: as Conv2D (dilation may combine with
            strides, as in Keras's DepthwiseConv2D).
        depth_multiplier: filters per input channel (default 1).
        data_format: ``"channels_last"`` or None.
        activation, use_bias: as Conv2D.
        depthwise_initializer: for ``kernel`` (kh, kw, cin, depth_multiplier).
        bias_initializer: for ``bias`` (cin * depth_multiplier,); ``depthwise_regularizer``,
            ``depthwise_constraint`` and the ``bias_*`` ones go through `Layer`.

    Example:
        >>> DepthwiseConv2D(3, depth_multiplier=2)(np.zeros((1, 5, 5, 4), "float32")).shape
        (1, 3, 3, 8)

    Reference:
        Chollet 2017, Xception: deep learning with depthwise separable convolutions.
    """

    weight_names = ("kernel", "bias")
    keras_weights = {"depthwise": "kernel", "bias": "bias"}

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_conv_args(kernel_size, strides, padding, depth_multiplier, data_format,
                            dilation_rate, activation, use_bias)  # fmt: skip
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape, rng):
        self._check(input_shape)
        cin, m = input_shape[-1], self.depth_multiplier
        shape = (*self.kernel_size, cin, m)
        self.params["kernel"] = self.depthwise_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((cin * m,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        return (*self._spatial(input_shape), input_shape[-1] * self.depth_multiplier)

    def forward(self, x, training=False):
        z, self.cache = depthwise_forward(
            x, self.params["kernel"], self.strides, self.padding, self.dilation_rate
        )
        if self.use_bias:
            z += self.params["bias"]
        self.z, self.y = z, self.activation.forward(z)
        return self.y

    def backward(self, grad_y):
        grad_z = self.activation.backward(self.z, self.y, grad_y)
        grad_x, self.grads["kernel"] = depthwise_backward(grad_z, self.cache)
        if self.use_bias:
            self.grads["bias"] = grad_z.sum(axis=(0, 1, 2))
        return grad_x

    def get_config(self):
        return {
            **super().get_config(),
            **self._conv_config(),
            "depthwise_initializer": initializers.to_json(self.depthwise_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }


@register_layer
class SeparableConv2D(_Depthwise):
    """Depthwise convolution, then a 1x1 convolution mixing its channels into ``filters``.

    Math (D = `depthwise_forward`(x, depthwise_kernel), (batch, oh, ow, cin * m);
          W = pointwise_kernel as (cin * m, filters)):
        z = D @ W + bias;  y = activation(z)
        backward:  grad_z = activation'(z) * grad_y
                   grad_pointwise = D.T @ grad_z,  grad_bias = grad_z summed over (b, oh, ow)
                   grad_D = grad_z @ W.T;  grad_x, grad_depthwise from `depthwise_backward`

    Args:
        filters: output channels.
        kernel_size: as DepthwiseConv2D, and so are strides, padding, depth_multiplier,
            dilation_rate, data_format, activation and use_bias.
        depthwise_initializer: for ``depthwise_kernel`` (kh, kw, cin, depth_multiplier).
        pointwise_initializer: for ``pointwise_kernel`` (1, 1, cin * depth_multiplier, filters).
        bias_initializer: for ``bias`` (filters,); the ``depthwise_*``, ``pointwise_*`` and
            ``bias_*`` regularizers and constraints go through `Layer`.

    Example:
        >>> SeparableConv2D(8, 3, padding="same")(np.zeros((1, 5, 5, 4), "float32")).shape
        (1, 5, 5, 8)

    Reference:
        Chollet 2017, Xception: deep learning with depthwise separable convolutions.
    """

    weight_names = ("depthwise_kernel", "pointwise_kernel", "bias")
    keras_weights = {
        "depthwise": "depthwise_kernel",
        "pointwise": "pointwise_kernel",
        "bias": "bias",
    }

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive(filters, "filters", integer=True)
        self.filters = int(filters)
        self._set_conv_args(kernel_size, strides, padding, depth_multiplier, data_format,
                            dilation_rate, activation, use_bias)  # fmt: skip
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape, rng):
        self._check(input_shape)
        cin, m = input_shape[-1], self.depth_multiplier
        p = self.params
        p["depthwise_kernel"] = self.depthwise_initializer(
            (*self.kernel_size, cin, m), rng, self.dtype
        )
        p["pointwise_kernel"] = self.pointwise_initializer(
            (1, 1, cin * m, self.filters), rng, self.dtype
        )
        if self.use_bias:
            p["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        return (*self._spatial(input_shape), self.filters)

    def forward(self, x, training=False):
        d, self.cache = depthwise_forward(
            x, self.params["depthwise_kernel"], self.strides, self.padding, self.dilation_rate
        )
        w = self.params["pointwise_kernel"][0, 0]
        z = d @ w
        if self.use_bias:
            z += self.params["bias"]
        self.d, self.z, self.y = d, z, self.activation.forward(z)
        return self.y

    def backward(self, grad_y):
        grad_z = self.activation.backward(self.z, self.y, grad_y)
        w = self.params["pointwise_kernel"][0, 0]
        flat = grad_z.reshape(-1, self.filters)
        self.grads["pointwise_kernel"] = (self.d.reshape(-1, w.shape[0]).T @ flat)[None, None]
        if self.use_bias:
            self.grads["bias"] = flat.sum(axis=0)
        grad_x, self.grads["depthwise_kernel"] = depthwise_backward(grad_z @ w.T, self.cache)
        return grad_x

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            **self._conv_config(),
            "depthwise_initializer": initializers.to_json(self.depthwise_initializer),
            "pointwise_initializer": initializers.to_json(self.pointwise_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }
