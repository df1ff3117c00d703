"""Conv2D: 2-D convolution over channels-last images, as one matrix product per batch."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn import conv_functional as C
from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.validation import check_positive


class Workspace:
    """Arrays a layer reuses from one batch to the next instead of allocating them again.

    Fresh multi-megabyte arrays are expensive: the allocator hands freed memory back to the
    system, and each new array then page-faults it in again, which cost more than the
    arithmetic in the CNN benchmark. Two kinds of reuse:

    * `get(name, shape, dtype)`: scratch arrays the layer alone sees (the im2col matrix, masks);
      the same array comes back whenever shape and dtype match, holding stale values.
    * `output(name, shape, dtype)`: arrays the layer hands out (outputs, input gradients). The
      previous one is reused only when nothing outside the workspace still refers to it (no
      variable, list or view anywhere): the reference count tells. If you keep a layer's
      output, the next call simply allocates a new one, so results never change under you.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.free_refs: dict[str, int] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        array = self.arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.arrays[name] = np.empty(shape, dtype=dtype)
        return array

    def output(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        array = self.arrays.get(name)
        if (
            array is not None
            and array.shape == shape
            and array.dtype == dtype
            and sys.getrefcount(array) <= self.free_refs[name]
        ):
            return array
        array = self.arrays[name] = np.empty(shape, dtype=dtype)
        # the count when only this workspace holds it (measured the same way as above)
        self.free_refs[name] = sys.getrefcount(array)
        return array


def check_image_input(layer: Layer, shape: tuple[int | None, ...], built_for: Any = None) -> None:
    """Raise a clear error unless ``shape`` is a batch of channels-last images.

    ``shape`` includes the batch axis; ``built_for`` is the per-sample shape the layer was
    built for (checked exactly when given).
    """
    name = type(layer).__name__
    if len(shape) == 3:
        h, w = shape[1], shape[2]
        channels = 1 if built_for is None else built_for[-1]
        raise ValueError(
            f"{name} layer {layer.name!r} expects images of shape (batch, height, width, "
            f"channels), but received shape {shape_str(tuple(shape))} with no channel axis. Add "
            f"the channel axis: x = x[..., None] (or x.reshape(-1, {h}, {w}, {channels}))."
        )
    if len(shape) != 4:
        raise ValueError(
            f"{name} layer {layer.name!r} expects images of shape (batch, height, width, "
            f"channels) (4-D, channels last), but received shape {shape_str(tuple(shape))}."
        )
    if built_for is not None and tuple(shape[1:]) != tuple(built_for):
        want = shape_str((None, *built_for))
        hint = "Resize or crop the images to match, or rebuild the model."
        if shape[3] != built_for[2]:
            hint = (
                f"It was built for {built_for[2]} channel(s) but received {shape[3]}; "
                "convert the images (e.g. to grayscale) or rebuild the model."
            )
        raise ValueError(
            f"{name} layer {layer.name!r} was built for inputs of shape {want}, but received "
            f"shape {shape_str(tuple(shape))}. {hint}"
        )


def check_window_fits(
    layer: Layer, input_shape: tuple[int, ...], window: C.Pair, padding: str, what: str
) -> None:
    """With ``padding="valid"`` a window larger than the image leaves no output: say so."""
    if padding == "valid" and (input_shape[0] < window[0] or input_shape[1] < window[1]):
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r}: {what} {window} is larger than its "
            f"input images of size {tuple(input_shape[:2])} with padding='valid', which leaves no "
            "output. Use padding='same', a smaller window, or larger images (fewer pooling "
            "layers before it)."
        )


def check_channels_last(data_format: Any) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(
            "data_format must be 'channels_last' (or None): engram images are (batch, height, "
            f"width, channels). Got {data_format!r} instead. Move the channel axis last with "
            "np.transpose(x, (0, 2, 3, 1))."
        )


@register_layer
class Conv2D(Layer):
    """2-D convolution (cross-correlation) over channels-last images, plus an activation.

    Math:
        forward:   xp = x zero-padded ("same") or x ("valid")      x: (batch, h, w, cin)
                   cols = im2col(xp)                  (batch * oh * ow, kh * kw * cin)
                   z = cols @ kernel.reshape(kh * kw * cin, filters) + bias
                   y = activation(z).reshape(batch, oh, ow, filters)
                   i.e. y[b, r, c, o] = f(bias[o] + sum_{i,j,ch} xp[b, r*sh+i, c*sw+j, ch]
                                                       * kernel[i, j, ch, o])
        backward:  grad_z       = activation'(z) * grad_y   (relu: grad_y * [y > 0], from y)
                   grad_kernel  = cols.T @ grad_z           (kh * kw * cin, filters)
                   grad_bias    = grad_z.sum over (batch, oh, ow)
                   grad_cols    = grad_z @ kernel.reshape(-1, filters).T
                   grad_x       = col2im(grad_cols), with the padding cropped off
        One matrix product each way, with the bias folded in: cols carries a column of ones
        and the kernel matrix the bias as its last row, so the product adds the bias and the
        kernel gradient's product also yields the bias gradient. `im2col` and `col2im` loop
        only over the kh * kw kernel offsets; `engram.nn.conv_functional.conv2d_reference` and
        `conv2d_backward_reference` are the same layer as explicit loops.
        Buffers are reused between batches of the same shape (see `Workspace`): outputs and
        input gradients only when nothing else still refers to them. One backward per
        forward: backward overwrites the im2col matrix with its gradient.

    Args:
        filters: number of output channels.
        kernel_size: an int or (kh, kw).
        strides: an int or (sh, sw), positive (default 1).
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ceil(size / stride)).
        data_format: ``"channels_last"`` or None; channels-first is not supported.
        dilation_rate: only 1 is supported.
        activation: name or `Activation` (default linear).
        use_bias: whether to add a bias.
        kernel_initializer: for ``kernel`` (kh, kw, cin, filters) (fan_in = kh * kw * cin).
        bias_initializer: for ``bias`` (filters,).

    Raises:
        ValueError: non-positive filters, kernel_size or strides; unknown padding;
            channels-first or dilation; inputs without a channel axis (the message says to add
            it with ``x[..., None]``); a kernel larger than the input with ``padding="valid"``.

    Example:
        >>> layer = Conv2D(8, (3, 3), activation="relu")
        >>> layer(np.zeros((2, 28, 28, 1), dtype="float32")).shape
        (2, 26, 26, 8)

    Reference:
        LeCun et al. 1998, Gradient-based learning applied to document recognition.
    """

    weight_names = ("kernel", "bias")
    keras_weights = {"kernel": "kernel", "bias": "bias"}

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
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
        check_channels_last(data_format)
        if C.normalize_pair(dilation_rate, "dilation_rate") != (1, 1):
            raise ValueError(
                f"dilation_rate must be 1: dilated convolutions are not supported. Got "
                f"{dilation_rate!r} instead."
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.workspace = Workspace()
        self.cols: np.ndarray | None = None
        self.cols_seen: np.ndarray | None = None

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        check_window_fits(self, input_shape, self.kernel_size, self.padding, "kernel_size")
        shape = (*self.kernel_size, input_shape[-1], self.filters)
        self.params["kernel"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = C.spatial_plan(input_shape, self.kernel_size, self.strides, self.padding)
        return (oh, ow, self.filters)

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def forward(self, x, training=False):
        n = x.shape[0]
        (oh, ow), pads = C.spatial_plan(x.shape[1:], self.kernel_size, self.strides, self.padding)
        xp = self._padded(x, pads)
        cols = self._cols(n * oh * ow, x.dtype)
        C.im2col(xp, self.kernel_size, self.strides, out=cols[:, : self.patch_size])
        self.y = self.z = None  # drop the last batch's output so its buffer can be reused
        z = self.workspace.output("z", (n * oh * ow, self.filters), x.dtype)
        np.matmul(cols, self._weight_matrix(), out=z)
        self.cols, self.xp_shape, self.x_shape, self.pads = cols, xp.shape, x.shape, pads
        if self.activation.derivative_from_output:  # activated in place; z is not kept
            self.y = self.activation.forward_into(z, z).reshape(n, oh, ow, self.filters)
        else:
            self.z = z.reshape(n, oh, ow, self.filters)
            self.y = self.activation.forward(self.z)
        return self.y

    @property
    def patch_size(self) -> int:
        """kh * kw * in_channels: the length of one receptive field."""
        return int(np.prod(self.params["kernel"].shape[:3]))

    def _cols(self, rows: int, dtype: Any) -> np.ndarray:
        """The im2col buffer; with a bias it has one more column of ones, so that
        cols @ [kernel; bias] adds the bias inside the matrix product (and the bias gradient
        comes out of the kernel gradient's product as its last row)."""
        width = self.patch_size + self.use_bias
        cols = self.workspace.get("cols", (rows, width), dtype)
        if self.use_bias and cols is not self.cols_seen:  # a new buffer: write its ones once
            cols[:, -1] = 1
        self.cols_seen = cols
        return cols

    def _weight_matrix(self) -> np.ndarray:
        """kernel as (kh * kw * cin, filters), with the bias appended as a last row."""
        kernel = self.params["kernel"].reshape(self.patch_size, self.filters)
        if not self.use_bias:
            return kernel
        return np.concatenate([kernel, self.params["bias"][None, :]], axis=0)

    def _padded(self, x: np.ndarray, pads: tuple[C.Pair, C.Pair]) -> np.ndarray:
        """``x`` with its zero border, written into a reused buffer whose border stays zero."""
        (top, bottom), (left, right) = pads
        if not (top or bottom or left or right):
            return x
        n, h, w, c = x.shape
        shape = (n, h + top + bottom, w + left + right, c)
        previous = self.workspace.arrays.get("xp")
        xp = self.workspace.get("xp", shape, x.dtype)
        if xp is not previous:  # a new buffer: zero its border once
            xp.fill(0)
        xp[:, top : top + h, left : left + w, :] = x
        return xp

    def backward(self, grad_y):
        if self.cols is None:
            raise RuntimeError(
                f"Conv2D layer {self.name!r}: backward() needs a forward() first (each forward "
                "allows one backward)."
            )
        cols, self.cols = self.cols, None
        kernel, k = self.params["kernel"], self.patch_size
        grad_z = self._grad_z(grad_y).reshape(-1, self.filters)
        grad_weights = cols.T @ grad_z  # (k [+ 1], filters); the last row is the bias's
        self.grads["kernel"] = grad_weights[:k].reshape(kernel.shape)
        if self.use_bias:
            self.grads["bias"] = grad_weights[k].copy()
        grad_cols = np.matmul(grad_z, kernel.reshape(k, self.filters).T, out=cols[:, :k])
        grad_xp = self.workspace.output("grad_xp", self.xp_shape, grad_y.dtype)
        C.col2im(grad_cols, self.xp_shape, self.kernel_size, self.strides, out=grad_xp)
        (top, _), (left, _) = self.pads
        if grad_xp.shape == self.x_shape:
            return grad_xp
        return grad_xp[:, top : top + self.x_shape[1], left : left + self.x_shape[2], :]

    def _grad_z(self, grad_y: np.ndarray) -> np.ndarray:
        """activation'(z) * grad_y, written into reused buffers (see `Workspace`)."""
        act, shape = self.activation, self.y.shape
        scratch = self.workspace.get("scratch", shape, act.scratch_dtype or self.y.dtype)
        out = self.workspace.get("grad_z", shape, grad_y.dtype)
        return act.backward_into(self.z, self.y, grad_y, out, scratch)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": [1, 1],
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }
