"""Conv2DTranspose: the adjoint of Conv2D (a "deconvolution"), channels-last images."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn import conv_functional as C
from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.conv2d import check_channels_last, check_image_input
from engram.nn.layers.conv2d_dilated import dilated_kernel
from engram.runtime import matmul
from engram.validation import check_positive


def transpose_pads(
    kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> tuple[int, int]:
    """(before, after): the zeros Keras puts around the input-dilated image, along one axis.

    Math (Keras 3's rule, the same on every backend; k = (kernel - 1) * dilation + 1):
        valid:  output_padding defaults to max(k, stride) - k
                before = k - 1,  after = k - 1 + output_padding
        same:   total = stride + k - 2               (output_padding None)
                total = k + (k mod 2) - 2 + output_padding
                before = min(ceil(total / 2), k - 1),  after = total - before
        Output length = (size - 1) * stride + 1 + before + after - (k - 1).
    """
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    if output_padding is None:
        total = stride + k - 2
    else:
        total = k + k % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, k - 1)
    return before, total - before


def crop_or_pad(image: np.ndarray, starts: C.Pair, size: C.Pair) -> np.ndarray:
    """The window ``image[:, r0 : r0 + size[0], c0 : c0 + size[1]]``, zeros where it leaves
    the image (a negative start or a window past the end)."""
    out = np.zeros((image.shape[0], *size, image.shape[3]), dtype=image.dtype)
    spans = []
    for axis, (start, length) in enumerate(zip(starts, size, strict=True)):
        low, high = max(start, 0), min(start + length, image.shape[axis + 1])
        spans.append((slice(low - start, high - start), slice(low, high)))
    (out_r, in_r), (out_c, in_c) = spans
    out[:, out_r, out_c] = image[:, in_r, in_c]
    return out


@register_layer
class Conv2DTranspose(Layer):
    """Transposed 2-D convolution: each input pixel paints a kernel-sized patch of the output.

    Math (x: (batch, h, w, cin); kernel K: (kh, kw, filters, cin), Keras's layout; s the strides;
    Kd the kernel with dilation - 1 zeros between its taps, (khd, kwd)):
        full[b, r*sh + i, c*sw + j, o] += sum_ch x[b, r, c, ch] * Kd[i, j, o, ch]
            computed as  cols = x.reshape(-1, cin) @ Kd.transpose(3, 0, 1, 2).reshape(cin, -1)
                         full = col2im(cols)            (batch, (h-1)*sh + khd, ...)
            -- the input gradient of Conv2D with kernel Kd, which is why it is its adjoint
        z = full[:, t : t + oh, l : l + ow] (zeros outside full) + bias;  y = activation(z)
            with t = khd - 1 - before, before/after from `transpose_pads` (Keras's rule), and
            oh = (h - 1) * sh + 1 + before + after - (khd - 1)
        backward:  grad_z    = activation'(z) * grad_y
                   grad_full = grad_z placed back in full's frame (the crop's adjoint)
                   gcols     = im2col(grad_full)        (batch * h * w, khd * kwd * filters)
                   grad_x    = gcols @ Kd_matrix.T       (the Conv2D of grad_full with Kd)
                   grad_Kd   = x.reshape(-1, cin).T @ gcols; grad_kernel = its taps
                   grad_bias = grad_z summed over (batch, oh, ow)

    Args:
        filters: number of output channels.
        kernel_size: an int or (kh, kw).
        strides: an int or (sh, sw) (default 1).
        padding: ``"valid"`` or ``"same"`` (output size size * stride).
        output_padding: None, an int or a pair, each smaller than its stride: extra rows and
            columns at the end of the output (Keras's meaning).
        data_format: ``"channels_last"`` or None; channels-first is refused.
        dilation_rate: an int or a pair; above 1 only with strides 1 (as Keras requires).
        activation, use_bias, kernel_initializer, bias_initializer: as in `Conv2D`;
            ``kernel_regularizer``/``bias_regularizer``/``*_constraint`` through `Layer`.

    Raises:
        ValueError: non-positive sizes; output_padding not below the strides; strides and
            dilation both above 1; channels-first; inputs without a channel axis.

    Example:
        >>> Conv2DTranspose(8, 3, strides=2, padding="same")(np.zeros((1, 4, 4, 2))).shape
        (1, 8, 8, 8)

    Reference:
        Dumoulin and Visin 2016, A guide to convolution arithmetic for deep learning.
    """

    weight_names = ("kernel", "bias")
    keras_weights = {"kernel": "kernel", "bias": "bias"}

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive(filters, "filters", integer=True)
        self.filters = int(filters)
        self.kernel_size = C.normalize_pair(kernel_size, "kernel_size")
        self.strides = C.normalize_pair(strides, "strides")
        self.padding = C.normalize_padding(padding)
        self.output_padding = self._output_padding(output_padding)
        check_channels_last(data_format)
        self.dilation_rate = C.normalize_pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "Conv2DTranspose: strides > 1 together with dilation_rate > 1 is not supported "
                f"(nor in Keras). Received: strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}. Use one or the other."
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _output_padding(self, value: Any) -> C.Pair | None:
        if value is None:
            return None
        items = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
        pair = tuple(items) if isinstance(items, (list, tuple)) else ()
        if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
            raise ValueError(
                "output_padding must be None, a non-negative int or a pair of them. Got "
                f"{value!r} instead."
            )
        for op, s in zip(pair, self.strides, strict=True):
            if op >= s:
                raise ValueError(
                    "output_padding must be strictly less than strides in every dimension. "
                    f"Received: output_padding={value!r}, strides={self.strides}. Lower "
                    "output_padding or raise strides."
                )
        return (int(pair[0]), int(pair[1]))

    # ------------------------------------------------------------------ shapes
    def _pads(self) -> tuple[C.Pair, C.Pair]:
        """(before, after) for rows and columns (`transpose_pads`)."""
        ops = self.output_padding or (None, None)
        return tuple(  # type: ignore[return-value]
            transpose_pads(k, s, d, self.padding, op)
            for k, s, d, op in zip(
                self.kernel_size, self.strides, self.dilation_rate, ops, strict=True
            )
        )

    def crop_plan(self, size: C.Pair) -> tuple[C.Pair, C.Pair, C.Pair]:
        """(output size, crop start in the full image, full image size) for ``(h, w)``."""
        out, starts, full = [], [], []
        for n, k, s, d, (before, after) in zip(
            size, self.kernel_size, self.strides, self.dilation_rate, self._pads(), strict=True
        ):
            k = (k - 1) * d + 1
            out.append((n - 1) * s + 1 + before + after - (k - 1))
            starts.append(k - 1 - before)
            full.append((n - 1) * s + k)
        return tuple(out), tuple(starts), tuple(full)  # type: ignore[return-value]

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        shape = (*self.kernel_size, self.filters, input_shape[-1])
        self.params["kernel"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        check_image_input(self, (None, *input_shape))
        (oh, ow), _, _ = self.crop_plan(tuple(input_shape[:2]))
        return (oh, ow, self.filters)

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    # ------------------------------------------------------- forward / backward
    def _kernel_matrix(self) -> np.ndarray:
        """Kd as (cin, khd * kwd * filters), rows (i, j, o) in im2col's order."""
        kd = dilated_kernel(self.params["kernel"], self.dilation_rate)
        return kd.transpose(3, 0, 1, 2).reshape(kd.shape[3], -1)

    def forward(self, x, training=False):
        n, h, w, cin = x.shape
        out_size, starts, full_size = self.crop_plan((h, w))
        khd, kwd = (  # the dilated kernel's size
            f - (size - 1) * s for f, size, s in zip(full_size, (h, w), self.strides, strict=True)
        )
        cols = matmul(x.reshape(-1, cin), self._kernel_matrix())
        full = C.col2im(cols, (n, *full_size, self.filters), (khd, kwd), self.strides)
        z = crop_or_pad(full, starts, out_size)
        if self.use_bias:
            z += self.params["bias"]
        self.x, self.z, self.starts, self.full_size = x, z, starts, full_size
        self.window = (khd, kwd)
        self.y = self.activation.forward(z)
        return self.y

    def backward(self, grad_y):
        grad_z = self.activation.backward(self.z, self.y, grad_y)
        n, h, w, cin = self.x.shape
        # the crop's adjoint: grad_z put back where it came from in full's frame
        back = tuple(-s for s in self.starts)
        grad_full = crop_or_pad(grad_z, back, self.full_size)  # type: ignore[arg-type]
        gcols = C.im2col(grad_full, self.window, self.strides)  # (n * h * w, khd * kwd * o)
        matrix = self._kernel_matrix()
        grad_matrix = matmul(self.x.reshape(-1, cin).T, gcols)  # (cin, khd * kwd * filters)
        khd, kwd = self.window
        grad_kd = grad_matrix.reshape(cin, khd, kwd, self.filters).transpose(1, 2, 3, 0)
        dh, dw = self.dilation_rate
        self.grads["kernel"] = np.ascontiguousarray(grad_kd[::dh, ::dw])
        if self.use_bias:
            self.grads["bias"] = grad_z.sum(axis=(0, 1, 2))
        return matmul(gcols, matrix.T).reshape(n, h, w, cin)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "data_format": "channels_last",
            "dilation_rate": list(self.dilation_rate),
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }


@register_layer
class Conv1DTranspose(Layer):
    """Transposed 1-D convolution over (batch, steps, channels): `Conv2DTranspose` on a
    (batch, 1, steps, channels) view, as Conv1D is Conv2D's.

    Math (x: (batch, steps, cin); kernel K: (k, filters, cin), Keras's layout):
        full[b, t*s + i*d, o] += sum_ch x[b, t, ch] * K[i, o, ch]
        z = Keras's window of full (`transpose_pads`) + bias;  y = activation(z)
        backward: `Conv2DTranspose.backward` on the view (grad_kernel = its (1, k, ...) one
        with the leading 1 dropped)

    Args:
        filters, activation, use_bias, kernel_initializer, bias_initializer: as Conv2DTranspose.
        kernel_size, strides, dilation_rate: ints (or tuples of one).
        padding: ``"valid"`` or ``"same"``.
        output_padding: None or an int (or a tuple of one) below strides.
        data_format: ``"channels_last"`` or None.

    Example:
        >>> Conv1DTranspose(4, 3, strides=2, padding="same")(np.zeros((1, 5, 2))).shape
        (1, 10, 4)
    """

    weight_names = ("kernel", "bias")
    keras_weights = {"kernel": "kernel", "bias": "bias"}

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        from engram.nn.layers.conv1d import normalize_single

        super().__init__(**kwargs)
        self.kernel_size = normalize_single(kernel_size, "kernel_size")
        self.strides = normalize_single(strides, "strides")
        self.dilation_rate = normalize_single(dilation_rate, "dilation_rate")
        if isinstance(output_padding, (list, tuple)) and len(output_padding) == 1:
            output_padding = output_padding[0]
        if output_padding is not None and (
            not isinstance(output_padding, int)
            or isinstance(output_padding, bool)
            or output_padding < 0
        ):
            raise ValueError(
                f"output_padding must be None or a non-negative int. Got {output_padding!r}."
            )
        if output_padding is not None and output_padding >= self.strides:
            raise ValueError(  # checked here: the inner Conv2DTranspose would name 2-D pairs
                "output_padding must be strictly less than strides. Received: "
                f"output_padding={output_padding}, strides={self.strides}. Lower "
                "output_padding or raise strides."
            )
        self.output_padding = output_padding
        # the computation: a Conv2DTranspose over (batch, 1, steps, channels); its weights are
        # views of this layer's, set before every use (an optimizer may replace the arrays)
        self.conv = Conv2DTranspose(
            filters,
            (1, self.kernel_size),
            strides=(1, self.strides),
            padding=padding,
            output_padding=None if output_padding is None else (0, output_padding),
            data_format=data_format,
            dilation_rate=(1, self.dilation_rate),
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            name=f"{self.name}/conv2d_transpose",
        )
        self.filters, self.padding = self.conv.filters, self.conv.padding
        self.activation, self.use_bias = self.conv.activation, self.conv.use_bias
        self.kernel_initializer = self.conv.kernel_initializer
        self.bias_initializer = self.conv.bias_initializer

    def build(self, input_shape, rng):
        from engram.nn.layers.global_pooling import check_sequence_input

        check_sequence_input(self, (None, *input_shape))
        shape = (self.kernel_size, self.filters, input_shape[-1])
        self.params["kernel"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)
        self.conv.input_shape = (1, *input_shape)  # for the exports, which read it
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        from engram.nn.layers.global_pooling import check_sequence_input

        check_sequence_input(self, (None, *input_shape))
        (_, steps), _, _ = self.conv.crop_plan((1, input_shape[0]))
        return (steps, self.filters)

    def check_input(self, shape):
        from engram.nn.layers.global_pooling import check_sequence_input

        check_sequence_input(self, tuple(shape), self.input_shape)

    def as_2d(self) -> Conv2DTranspose:
        """The Conv2DTranspose this layer runs, holding views of this layer's weights."""
        self.conv.params = {
            "kernel": self.params["kernel"][None],
            **({"bias": self.params["bias"]} if self.use_bias else {}),
        }
        return self.conv

    def forward(self, x, training=False):
        return self.as_2d().forward(x[:, None], training)[:, 0]

    def backward(self, grad_y):
        grad_x = self.conv.backward(grad_y[:, None])[:, 0]
        self.grads["kernel"] = self.conv.grads["kernel"][0]
        if self.use_bias:
            self.grads["bias"] = self.conv.grads["bias"]
        return grad_x

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": [self.kernel_size],
            "strides": [self.strides],
            "padding": self.padding,
            "output_padding": None if self.output_padding is None else [self.output_padding],
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate],
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }
