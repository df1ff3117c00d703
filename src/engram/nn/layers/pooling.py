"""Pooling layers over channels-last images: max, average and global average."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from engram.nn import conv_functional as C
from engram.nn.layers.base import Layer, register_layer
from engram.nn.layers.conv2d import (
    Workspace,
    check_channels_last,
    check_image_input,
    check_window_fits,
)
from engram.runtime import parallel_map, worker_count

#: bytes of input per block of samples that MaxPooling2D processes at a time (in parallel,
#: see `engram.runtime.parallel_map`)
BLOCK_BYTES = 1 << 20


def blocks(x: np.ndarray) -> list[slice]:
    """``x``'s samples in blocks of about `BLOCK_BYTES`."""
    return C.batch_blocks(len(x), x[:1].nbytes, BLOCK_BYTES, parts=worker_count())


class _Pooling2D(Layer):
    """Shared arguments, shape logic and checks of `MaxPooling2D` and `AveragePooling2D`."""

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = C.normalize_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else C.normalize_pair(strides, "strides")
        self.padding = C.normalize_padding(padding)
        check_channels_last(data_format)
        self.workspace = Workspace()

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        check_window_fits(self, input_shape, self.pool_size, self.padding, "pool_size")
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = C.spatial_plan(input_shape, self.pool_size, self.strides, self.padding)
        return (oh, ow, input_shape[-1])

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": "channels_last",
        }


@register_layer
class MaxPooling2D(_Pooling2D):
    """Max pooling: the largest value in each window, per channel.

    Math:
        forward:   y[b, r, c, ch] = max_{i < ph, j < pw} xp[b, r*sh + i, c*sw + j, ch]
                   (xp: x padded with -inf for "same"); the winner's offset i * pw + j is kept
                   (the first maximum on ties, as PyTorch)
        backward:  grad_x[b, r*sh + i, c*sw + j, ch] += grad_y[b, r, c, ch]  for the winner only
        One vectorized pass per window offset (ph * pw); no loop over pixels.
        `engram.nn.conv_functional.max_pool2d_reference` is the explicit loop.

    Args:
        pool_size: an int or (ph, pw) (default 2x2).
        strides: an int or (sh, sw); None (default) means pool_size.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or None.

    In inference mode the winners are not recorded (a backward then finds them again from the
    input); outputs and input gradients live in buffers reused when nobody holds them.

    Example:
        >>> MaxPooling2D((2, 2))(np.zeros((1, 26, 26, 8), dtype="float32")).shape
        (1, 13, 13, 8)
    """

    parallel_blocks = True  # see Conv2D.parallel_blocks

    def forward(self, x, training=False):
        (oh, ow), _ = C.spatial_plan(x.shape[1:], self.pool_size, self.strides, self.padding)
        shape = (x.shape[0], oh, ow, x.shape[3])
        index = self.workspace.get("index", shape, C.index_dtype(self.pool_size))
        y = self.workspace.output("y", shape, x.dtype)

        def pool_block(block: slice) -> None:
            C.max_pool2d(
                x[block],
                self.pool_size,
                self.strides,
                self.padding,
                y[block],
                index[block],
                return_index=training,
            )

        parallel_map(pool_block, blocks(x))
        self.index = index if training else None
        self.x_shape = x.shape
        # inference skips the winners' index; a later backward recomputes it from x, held
        # weakly so that the input's buffer can still be reused
        self.x_ref = None if training else weakref.ref(x)
        return y

    def backward(self, grad_y):
        (oh, ow), ((top, bottom), (left, right)) = C.spatial_plan(
            self.x_shape[1:], self.pool_size, self.strides, self.padding
        )
        n, h, w, c = self.x_shape
        padded = (n, h + top + bottom, w + left + right, c)
        if self.index is None:
            x = None if self.x_ref is None else self.x_ref()
            if x is None:
                raise RuntimeError(
                    f"MaxPooling2D layer {self.name!r}: backward() needs the forward() before it "
                    "in training mode (forward(x, training=True)), or its input still alive."
                )
            _, self.index = C.max_pool2d(x, self.pool_size, self.strides, self.padding)
        index = self.index
        out = self.workspace.output("grad_x", padded, grad_y.dtype)

        def unpool_block(block: slice) -> None:
            shape = (block.stop - block.start, h, w, c)
            C.max_pool2d_backward(
                grad_y[block],
                index[block],
                shape,
                self.pool_size,
                self.strides,
                self.padding,
                out=out[block],
            )

        parallel_map(unpool_block, blocks(out))
        if top or bottom or left or right:
            return out[:, top : top + h, left : left + w, :]
        return out


@register_layer
class AveragePooling2D(_Pooling2D):
    """Average pooling: the mean of each window, per channel.

    Math:
        forward:   y[b, r, c, ch] = (1 / n[r, c]) * sum_{i, j} xp[b, r*sh + i, c*sw + j, ch]
                   n[r, c] = pixels of the window inside the image (padding is not counted,
                   as in Keras; with "valid" n = ph * pw)
        backward:  grad_x[b, r*sh + i, c*sw + j, ch] += grad_y[b, r, c, ch] / n[r, c]

    Args:
        pool_size, strides, padding, data_format: as `MaxPooling2D`.
    """

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return C.avg_pool2d(x, self.pool_size, self.strides, self.padding)

    def backward(self, grad_y):
        return C.avg_pool2d_backward(
            grad_y, self.x_shape, self.pool_size, self.strides, self.padding
        )


@register_layer
class GlobalAveragePooling2D(Layer):
    """The mean of each channel over all pixels.

    Math:
        forward:   y[b, ch] = (1 / (h * w)) * sum_{r, c} x[b, r, c, ch]     (batch, channels)
        backward:  grad_x[b, r, c, ch] = grad_y[b, ch] / (h * w)

    Args:
        data_format: ``"channels_last"`` or None.
        keepdims: keep the spatial axes, giving (batch, 1, 1, channels).
    """

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        check_channels_last(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape, rng):
        check_image_input(self, (None, *input_shape))
        super().build(input_shape, rng)

    def compute_output_shape(self, input_shape):
        return (1, 1, input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def check_input(self, shape):
        check_image_input(self, tuple(shape), self.input_shape)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.mean(axis=(1, 2), keepdims=self.keepdims, dtype=x.dtype)

    def backward(self, grad_y):
        n, h, w, c = self.x_shape
        share = grad_y.reshape(n, 1, 1, c) / np.asarray(h * w, dtype=grad_y.dtype)
        return np.broadcast_to(share, self.x_shape).copy()

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": "channels_last",
            "keepdims": self.keepdims,
        }
