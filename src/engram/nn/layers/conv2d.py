"""Conv2D: 2-D convolution over channels-last images, as one matrix product per batch."""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import numpy as np

from engram.nn import activations, initializers
from engram.nn import conv_functional as C
from engram.nn.layers import conv2d_dilated
from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.runtime import parallel_map, worker_count
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


#: bytes of working arrays (patches, outputs, gradients) per block of samples that Conv2D
#: processes at a time: small enough that a block stays in a core's L2 cache (2 MB here) from
#: its im2col through its matrix products, instead of each pass streaming the batch's arrays
#: through memory (at batch 256 the second convolution's im2col matrix alone is 36 MB)
BLOCK_BYTES = 2 << 20


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

    How it runs (the math above, arranged for the cache and the cores):
        * The batch is cut into blocks of samples whose arrays fill about `BLOCK_BYTES`; each
          block goes im2col -> matrix product -> activation (and backward: activation' ->
          products -> col2im) while its arrays are still in the cache, and the blocks run on
          all workers at once, each with a single-threaded OpenBLAS
          (`engram.runtime.parallel_map`; in a model step OpenBLAS stays on one thread
          throughout, `engram.runtime.worker_threads`). The im2col matrix is never
          kept for the whole batch: backward builds each block's again from the input.
        * For inputs with fewer than 4 channels the im2col matrix is built transposed
          (`conv_functional.im2col_t`: whole image rows copied, not 3 numbers at a time).
        * grad_cols is computed per kernel offset, ``grad_z @ kernel[i, j].T`` stacked, so
          that col2im adds contiguous blocks (`conv_functional.col2im_offsets`).
        * When nobody reads the input gradient (the model's first layer), it is not computed.
        Buffers are reused between batches of the same shape (see `Workspace`): outputs and
        input gradients only when nothing else still refers to them. One backward per forward.

    Args:
        filters: number of output channels.
        kernel_size: an int or (kh, kw).
        strides: an int or (sh, sw), positive (default 1).
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ceil(size / stride)).
        data_format: ``"channels_last"`` or None; channels-first is not supported.
        dilation_rate: an int or (dh, dw): taps dh rows and dw columns apart (stride 1 only,
            as Keras); run by `engram.nn.layers.conv2d_dilated` on the same path.
        activation: name or `Activation` (default linear).
        use_bias: whether to add a bias.
        kernel_initializer: for ``kernel`` (kh, kw, cin, filters) (fan_in = kh * kw * cin).
        bias_initializer: for ``bias`` (filters,).

    Raises:
        ValueError: non-positive filters, kernel_size or strides; unknown padding;
            channels-first; strides and dilation both above 1; inputs without a channel axis
            (the message says to add it with ``x[..., None]``); a kernel (its dilated span)
            larger than the input with ``padding="valid"``.

    Example:
        >>> layer = Conv2D(8, (3, 3), activation="relu")
        >>> layer(np.zeros((2, 28, 28, 1), dtype="float32")).shape
        (2, 26, 26, 8)

    Reference:
        LeCun et al. 1998, Gradient-based learning applied to document recognition.
    """

    weight_names = ("kernel", "bias")
    keras_weights = {"kernel": "kernel", "bias": "bias"}
    #: runs its work in `parallel_map` blocks: a model step holding it keeps OpenBLAS on one
    #: thread (`engram.runtime.worker_threads`)
    parallel_blocks = True

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
        self.dilation_rate = C.normalize_pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "strides > 1 is not supported together with dilation_rate > 1 (as in Keras). "
                f"Got strides={strides!r} and dilation_rate={dilation_rate!r}; use one of them."
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.workspace = Workspace()
        self.xp: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        check_window_fits(self, input_shape, self.span, self.padding, "kernel_size")
        shape = (*self.kernel_size, input_shape[-1], self.filters)
        self.params["kernel"] = self.kernel_initializer(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.filters,), rng, self.dtype)
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = C.spatial_plan(input_shape, self.span, self.strides, self.padding)
        return (oh, ow, self.filters)

    @property
    def span(self) -> C.Pair:
        """The rows and columns one window covers: the kernel size, dilated."""
        d = self.dilation_rate
        return (self.kernel_size[0] - 1) * d[0] + 1, (self.kernel_size[1] - 1) * d[1] + 1

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def forward(self, x, training=False):
        if self.dilation_rate != (1, 1):
            return conv2d_dilated.forward(self, Conv2D.forward, x, training)
        n = x.shape[0]
        (oh, ow), pads = C.spatial_plan(x.shape[1:], self.kernel_size, self.strides, self.padding)
        xp = self._padded(x, pads)
        self.y = self.z = None  # drop the last batch's output so its buffer can be reused
        pixels, filters = oh * ow, self.filters
        z = self.workspace.output("z", (n * pixels, filters), x.dtype)
        weights = self._weight_matrix()
        in_place = self.activation.derivative_from_output  # activated in place; z is not kept

        def forward_block(block: slice) -> None:  # its arrays stay in the cache throughout
            rows = slice(block.start * pixels, block.stop * pixels)
            z_block = np.matmul(self._patches(xp[block]), weights, out=z[rows])
            if in_place:
                self.activation.forward_into(z_block, z_block)

        parallel_map(forward_block, self._blocks(xp.shape, pixels, x.dtype))
        # backward builds the patches again, block by block, from the (padded) input
        self.xp, self.x_shape, self.pads = xp, x.shape, pads
        if in_place:
            self.y = z.reshape(n, oh, ow, filters)
        else:
            self.z = z.reshape(n, oh, ow, filters)
            self.y = self.activation.forward(self.z)
        return self.y

    @property
    def patch_size(self) -> int:
        """kh * kw * in_channels: the length of one receptive field."""
        return math.prod(self.params["kernel"].shape[:3])  # (not np.prod: 10x the call cost)

    @property
    def transposed_patches(self) -> bool:
        """Whether the im2col matrix is kept transposed (`conv_functional.im2col_t`): for
        inputs with fewer than 4 channels, whose rows would be copied a few numbers at a time."""
        return self.params["kernel"].shape[2] < 4

    def _patches(self, xp: np.ndarray) -> np.ndarray:
        """im2col of the block ``xp`` as a matrix ``(rows, patch_size [+ 1])``, in this
        thread's reused buffer (kept transposed for inputs with few channels, see
        `transposed_patches`). With a bias it has one more column of ones, so that
        patches @ [kernel; bias] adds the bias inside the matrix product (and the bias
        gradient comes out of the kernel gradient's product as its last row)."""
        kh, kw = self.kernel_size
        n, h, w, _ = xp.shape
        rows = n * ((h - kh) // self.strides[0] + 1) * ((w - kw) // self.strides[1] + 1)
        k, width = self.patch_size, self.patch_size + self.use_bias
        buffer = self._scratch("patches", rows * width, xp.dtype)
        if self.transposed_patches:
            cols = buffer.reshape(width, rows)
            C.im2col_t(xp, self.kernel_size, self.strides, out=cols[:k])
            cols, ones = cols.T, cols[k:]
        else:
            cols = buffer.reshape(rows, width)
            C.im2col(xp, self.kernel_size, self.strides, out=cols[:, :k])
            ones = cols[:, k:]
        ones.fill(1)
        return cols

    def _blocks(self, xp_shape: tuple[int, ...], pixels: int, dtype: Any) -> list[slice]:
        """Blocks of samples whose arrays fill about `BLOCK_BYTES`: per output pixel its patch,
        output, output gradient and patch gradient; per sample its (padded) input."""
        k = self.patch_size
        per_sample = pixels * (2 * k + 1 + 2 * self.filters) + math.prod(xp_shape[1:])
        size = per_sample * np.dtype(dtype).itemsize
        return C.batch_blocks(xp_shape[0], size, BLOCK_BYTES, parts=worker_count())

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
        if self.dilation_rate != (1, 1):
            return conv2d_dilated.backward(self, Conv2D.backward, grad_y)
        xp, self.xp = self.xp, None  # dropped: the input's buffer may be reused
        if xp is None or self.y is None:
            raise RuntimeError(
                f"Conv2D layer {self.name!r}: backward() needs a forward() first (each forward "
                "allows one backward)."
            )
        self.xp_shape = xp.shape
        n, oh, ow, filters = self.y.shape
        pixels, dtype = oh * ow, grad_y.dtype
        grad_y = grad_y.reshape(-1, filters)
        grad_xp = None
        if self.needs_input_grad:
            grad_xp = self.workspace.output("grad_xp", self.xp_shape, dtype)
            kh, kw, cin, _ = self.params["kernel"].shape
            # kernel[i, j].T for each offset, contiguous (a strided stack slows the products)
            by_offset = self.params["kernel"].reshape(kh * kw, cin, filters)
            by_offset = np.ascontiguousarray(by_offset.transpose(0, 2, 1))

        def backward_block(block: slice) -> np.ndarray:
            """This block's share of the weight gradient; writes its block of grad_xp."""
            rows = slice(block.start * pixels, block.stop * pixels)
            g = self._grad_z(rows, grad_y[rows])
            if grad_xp is not None:
                self._grad_input(g, by_offset, block, grad_xp)
            return self._patches(xp[block]).T @ g

        partials = parallel_map(backward_block, self._blocks(self.xp_shape, pixels, dtype))
        grad_w = partials[0]
        for partial in partials[1:]:
            grad_w += partial
        k = self.patch_size
        kernel = self.params["kernel"]
        grad_kernel = self.grad_array("kernel", kernel.shape, dtype)
        np.copyto(grad_kernel, grad_w[:k].reshape(kernel.shape))
        self.grads["kernel"] = grad_kernel
        if self.use_bias:
            grad_bias = self.grad_array("bias", (filters,), dtype)
            np.copyto(grad_bias, grad_w[k])
            self.grads["bias"] = grad_bias
        if grad_xp is None:
            return None
        (top, _), (left, _) = self.pads
        if grad_xp.shape == self.x_shape:
            return grad_xp
        return grad_xp[:, top : top + self.x_shape[1], left : left + self.x_shape[2], :]

    def _grad_input(
        self, grad_z: np.ndarray, by_offset: np.ndarray, block: slice, grad_xp: np.ndarray
    ) -> None:
        """grad_xp[block] = col2im(grad_z @ kernel.T), one kernel offset's block at a time."""
        count, cin = grad_z.shape[0], by_offset.shape[2]
        buffer = self._scratch("patch_grads", len(by_offset) * count * cin, grad_z.dtype)
        patch_grads = np.matmul(grad_z, by_offset, out=buffer.reshape(-1, count, cin))
        shape = (block.stop - block.start, *self.xp_shape[1:])
        C.col2im_offsets(patch_grads, shape, self.kernel_size, self.strides, out=grad_xp[block])

    def _scratch(self, name: str, size: int, dtype: Any) -> np.ndarray:
        """A flat buffer of ``size`` entries reused by this thread (blocks run on several)."""
        name = f"{name}-{threading.get_ident()}"
        buffer = self.workspace.arrays.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self.workspace.get(name, (size,), dtype)
        return buffer[:size]

    def _grad_z(self, rows: slice, grad_y: np.ndarray) -> np.ndarray:
        """activation'(z) * grad_y for ``rows``, into this thread's reused buffer."""
        act, filters = self.activation, self.filters
        y = self.y.reshape(-1, filters)[rows]
        z = None if self.z is None else self.z.reshape(-1, filters)[rows]
        out = self._scratch("grad_z", y.size, grad_y.dtype).reshape(y.shape)
        scratch = self._scratch("scratch", y.size, act.scratch_dtype or y.dtype)
        return act.backward_into(z, y, grad_y, out, scratch.reshape(y.shape))

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": list(self.dilation_rate),
            "activation": self.activation.to_json(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.to_json(self.kernel_initializer),
            "bias_initializer": initializers.to_json(self.bias_initializer),
        }
