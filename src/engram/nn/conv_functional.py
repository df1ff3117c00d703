"""Convolution and pooling math on channels-last images: fast paths and slow references.

Images are ``(batch, height, width, channels)`` (Keras's ``channels_last``); a convolution
kernel is ``(kh, kw, in_channels, out_channels)``. Each operation comes twice:

* a fast path with no Python loop over pixels or samples: `im2col` gathers every receptive field
  into one row of a matrix (a strided view of the windows copied into a contiguous buffer), so
  a whole convolution is one matrix product; `col2im` scatters rows back with one strided add
  per kernel offset (kh * kw of them); `im2col_t` (the transposed matrix,
  for images with few channels) and `col2im_offsets` (gradients laid out by kernel offset) are
  the layouts Conv2D runs on, block by block (`batch_blocks`), each tested against the above;
* a reference (``*_reference``) written as the textbook loop over samples and output pixels,
  slow and obvious, which the tests compare the fast path against.

Padding follows Keras/TensorFlow: ``"valid"`` uses no padding; ``"same"`` gives
``ceil(size / stride)`` outputs and pads ``total = max((out - 1) * stride + k - size, 0)``
pixels, ``total // 2`` before and the rest after (so odd totals put the extra pixel after).

Every function keeps the float dtype of its inputs (float32 stays float32).
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pair = tuple[int, int]
PADDINGS = ("valid", "same")


# --------------------------------------------------------------------------- argument checks


def normalize_pair(value: Any, name: str) -> Pair:
    """An int or a pair of ints -> a pair of positive ints (Keras's ``normalize_tuple``).

    Raises:
        ValueError: not one or two positive integers; the message names ``name``.
    """
    items = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(items)
    except TypeError:
        pair = ()
    if (
        len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair)
        or any(v <= 0 for v in pair)
    ):
        raise ValueError(
            f"{name} must be a positive int or a pair of positive ints, e.g. {name}=2 or "
            f"{name}=(2, 2). Got {value!r} instead."
        )
    return int(pair[0]), int(pair[1])


def normalize_padding(padding: Any) -> str:
    """``"valid"`` or ``"same"`` (any case)."""
    word = padding.lower() if isinstance(padding, str) else padding
    if word not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same'. Got {padding!r} instead.")
    return word


def output_size(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one spatial axis.

    Math:
        valid:  out = floor((size - kernel) / stride) + 1,  no padding   (needs size >= kernel)
        same:   out = ceil(size / stride)
                total = max((out - 1) * stride + kernel - size, 0)
                before = total // 2,  after = total - before
    """
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return out, total // 2, total - total // 2
    if size < kernel:
        return 0, 0, 0
    return (size - kernel) // stride + 1, 0, 0


def spatial_plan(
    input_shape: tuple[int, ...], window: Pair, strides: Pair, padding: str
) -> tuple[Pair, tuple[Pair, Pair]]:
    """Output (height, width) and ((top, bottom), (left, right)) padding for ``(h, w, ...)``."""
    oh, top, bottom = output_size(input_shape[0], window[0], strides[0], padding)
    ow, left, right = output_size(input_shape[1], window[1], strides[1], padding)
    return (oh, ow), ((top, bottom), (left, right))


def pad2d(x: np.ndarray, pads: tuple[Pair, Pair], value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of ``(batch, h, w, c)`` with ``value``; returns ``x`` if no pads."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top : top + h, left : left + w, :] = x
    return out


def _window_slice(start: int, stride: int, count: int) -> slice:
    """The input rows (or columns) that kernel offset ``start`` meets, one per output."""
    return slice(start, start + stride * (count - 1) + 1, stride)


# --------------------------------------------------------------------------- im2col / col2im


def im2col(x: np.ndarray, kernel_size: Pair, strides: Pair, out: np.ndarray | None = None):
    """Every receptive field of ``x`` as one row: ``(batch * oh * ow, kh * kw * channels)``.

    Math:
        cols[(b, r, c), (i, j, ch)] = x[b, r * sh + i, c * sw + j, ch]
        so that  conv(x, K)[b, r, c, :] = cols[(b, r, c)] @ K.reshape(kh * kw * cin, cout).

    Args:
        x: ``(batch, h, w, channels)``, already padded.
        kernel_size: (kh, kw).
        strides: (sh, sw).
        out: optional C-contiguous buffer of the result's shape and dtype, reused.

    Returns:
        The contiguous matrix of patches (``out`` when given).
    """
    kh, kw = kernel_size
    sh, sw = strides
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if out is None:
        out = np.empty((n * oh * ow, kh * kw * c), dtype=x.dtype)
    np.copyto(out.reshape(n, oh, ow, kh, kw, c), _windows(x, (oh, ow), kernel_size, strides))
    return out


def _windows(x: np.ndarray, out_size: Pair, kernel_size: Pair, strides: Pair) -> np.ndarray:
    """The read-only view ``v[b, r, c, i, j, ch] = x[b, r * sh + i, c * sw + j, ch]``.

    What ``sliding_window_view(x, kernel_size, axis=(1, 2))[:, ::sh, ::sw]`` reordered to
    (b, r, c, i, j, ch) gives, built in one step: the general function's checks cost about
    20 us a call, as much as copying a small block's patches (`im2col` runs once per block).
    """
    b, row, col, ch = x.strides
    return as_strided(
        x,
        (x.shape[0], *out_size, *kernel_size, x.shape[3]),
        (b, row * strides[0], col * strides[1], row, col, ch),
        writeable=False,
    )


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    strides: Pair,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The adjoint of `im2col`: add every row back onto the pixels it was gathered from.

    Math:
        x[b, r * sh + i, c * sw + j, ch] += cols[(b, r, c), (i, j, ch)]   for every i, j
        (one strided add per kernel offset (i, j): kh * kw vectorized adds, no pixel loop)

    Args:
        cols: ``(batch * oh * ow, kh * kw * channels)``.
        x_shape: the (padded) image shape ``(batch, h, w, channels)``.
        out: optional buffer of ``x_shape``; it is zeroed first.
    """
    kh, kw = kernel_size
    n, h, w, c = x_shape
    oh, ow = (h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1
    by_offset = cols.reshape(n, oh, ow, kh, kw, c).transpose(3, 4, 0, 1, 2, 5)
    return _scatter_add(by_offset, x_shape, strides, out)


def _scatter_add(
    by_offset: np.ndarray, x_shape: tuple[int, ...], strides: Pair, out: np.ndarray | None
) -> np.ndarray:
    """The scatter `col2im` and `col2im_offsets` share: ``(kh, kw, batch, oh, ow, channels)``
    pieces added onto the image pixels each kernel offset (i, j) was gathered from.

    Math:
        out[b, r * sh + i, c * sw + j, ch] += by_offset[i, j, b, r, c, ch]   for every i, j
        (``out`` zeroed first, or allocated as zeros when None)
    """
    kh, kw, _, oh, ow, _ = by_offset.shape
    sh, sw = strides
    if out is None:
        out = np.zeros(x_shape, dtype=by_offset.dtype)
    else:
        out.fill(0)
    for i, j in itertools.product(range(kh), range(kw)):
        out[:, _window_slice(i, sh, oh), _window_slice(j, sw, ow), :] += by_offset[i, j]
    return out


def im2col_t(x: np.ndarray, kernel_size: Pair, strides: Pair, out: np.ndarray | None = None):
    """`im2col` transposed: every receptive field as one column, ``(kh * kw * c, batch * oh * ow)``.

    Math:
        cols_t[(i, j, ch), (b, r, c)] = x[b, r * sh + i, c * sw + j, ch] = im2col(x).T

    The layout for images with few channels: `im2col` copies runs of only kw * channels
    numbers per row (3 for a 3x3 kernel on grey images), this one copies whole image rows,
    one strided copy per kernel offset and channel.

    Args:
        x: ``(batch, h, w, channels)``, already padded.
        out: optional buffer of the result's shape; its rows may be strided (a column block
            of a larger matrix), each row's entries must be contiguous.
    """
    kh, kw = kernel_size
    sh, sw = strides
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if out is None:
        out = np.empty((kh * kw * c, n * oh * ow), dtype=x.dtype)
    blocks = out.reshape(kh, kw, c, n, oh, ow)
    for i, j in itertools.product(range(kh), range(kw)):
        window = x[:, _window_slice(i, sh, oh), _window_slice(j, sw, ow), :]
        np.copyto(blocks[i, j], window.transpose(3, 0, 1, 2))
    return out


def col2im_offsets(
    patches: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    strides: Pair,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """`col2im` for gradients laid out by kernel offset: ``(kh * kw, batch * oh * ow, channels)``.

    Math:
        x[b, r * sh + i, c * sw + j, ch] += patches[i * kw + j, (b, r, c), ch]
        The same sum as `col2im`, but each offset's block is contiguous, so each of the kh * kw
        adds reads one contiguous array (`col2im` reads every row at a stride of kh * kw * c).
        ``grad_z @ kernel[i, j].T`` for all offsets at once is one stacked `np.matmul`.

    Args:
        patches: ``(kh * kw, batch * oh * ow, channels)``.
        x_shape: the (padded) image shape ``(batch, h, w, channels)``.
        out: optional buffer of ``x_shape``; it is zeroed first.
    """
    kh, kw = kernel_size
    n, h, w, c = x_shape
    oh, ow = (h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1
    return _scatter_add(patches.reshape(kh, kw, n, oh, ow, c), x_shape, strides, out)


def batch_blocks(n: int, bytes_per_sample: int, block_bytes: int, parts: int = 1) -> list[slice]:
    """Split ``n`` samples into consecutive blocks of about ``block_bytes`` each (at least one
    sample a block), so that a block's working arrays stay in the cache while it is processed.

    The blocks differ in size by at most one sample, and their number is a multiple of
    ``parts`` where ``n`` allows (so that ``parts`` workers get equal shares).
    """
    size = max(1, min(n, block_bytes // max(bytes_per_sample, 1)))
    count = math.ceil(n / size)
    count = min(n, math.ceil(count / parts) * parts)
    size, extra = divmod(n, count)
    starts = [i * size + min(i, extra) for i in range(count + 1)]  # the first `extra` get +1
    return [slice(starts[i], starts[i + 1]) for i in range(count)]


# --------------------------------------------------------------------------- convolution


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: Pair = (1, 1),
    padding: str = "valid",
) -> np.ndarray:
    """2-D cross-correlation (what deep learning calls convolution), channels last.

    Math:
        y[b, r, c, o] = bias[o] + sum_{i, j, ch} xp[b, r * sh + i, c * sw + j, ch] * K[i, j, ch, o]
        computed as  y = im2col(xp) @ K.reshape(kh * kw * cin, cout),  xp = padded x.

    Args:
        x: ``(batch, h, w, cin)``.
        kernel: ``(kh, kw, cin, cout)``.
        bias: ``(cout,)`` or None.
        strides: (sh, sw).
        padding: ``"valid"`` or ``"same"``.

    Returns:
        ``(batch, oh, ow, cout)``.
    """
    kh, kw, cin, cout = kernel.shape
    (oh, ow), pads = spatial_plan(x.shape[1:], (kh, kw), strides, padding)
    cols = im2col(pad2d(x, pads), (kh, kw), strides)
    y = cols @ kernel.reshape(-1, cout)
    if bias is not None:
        y += bias
    return y.reshape(x.shape[0], oh, ow, cout)


def conv2d_reference(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: Pair = (1, 1),
    padding: str = "valid",
) -> np.ndarray:
    """`conv2d` as the textbook loop over samples and output pixels (slow; for tests)."""
    kh, kw, _, cout = kernel.shape
    sh, sw = strides
    (oh, ow), pads = spatial_plan(x.shape[1:], (kh, kw), strides, padding)
    xp = pad2d(x, pads)
    y = np.zeros((x.shape[0], oh, ow, cout), dtype=x.dtype)
    for b in range(x.shape[0]):
        for r in range(oh):
            for c in range(ow):
                patch = xp[b, r * sh : r * sh + kh, c * sw : c * sw + kw, :]  # (kh, kw, cin)
                y[b, r, c] = np.tensordot(patch, kernel, axes=3)
                if bias is not None:
                    y[b, r, c] += bias
    return y


def conv2d_backward_reference(
    x: np.ndarray,
    kernel: np.ndarray,
    grad_y: np.ndarray,
    strides: Pair = (1, 1),
    padding: str = "valid",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_x, grad_kernel, grad_bias) of `conv2d_reference`, by the same explicit loops.

    Math (for every sample b and output pixel (r, c), with the patch P = xp[b, r*sh:, c*sw:]):
        grad_kernel[i, j, ch, o] += P[i, j, ch] * grad_y[b, r, c, o]
        grad_xp[b, r*sh + i, c*sw + j, ch] += sum_o K[i, j, ch, o] * grad_y[b, r, c, o]
        grad_bias[o] = sum_{b, r, c} grad_y[b, r, c, o]
    """
    kh, kw, _, _ = kernel.shape
    sh, sw = strides
    (oh, ow), pads = spatial_plan(x.shape[1:], (kh, kw), strides, padding)
    xp = pad2d(x, pads)
    grad_xp = np.zeros_like(xp)
    grad_kernel = np.zeros_like(kernel)
    for b in range(x.shape[0]):
        for r in range(oh):
            for c in range(ow):
                rows, columns = slice(r * sh, r * sh + kh), slice(c * sw, c * sw + kw)
                g = grad_y[b, r, c]  # (cout,)
                grad_kernel += xp[b, rows, columns, :, None] * g
                grad_xp[b, rows, columns, :] += kernel @ g
    (top, _), (left, _) = pads
    grad_x = grad_xp[:, top : top + x.shape[1], left : left + x.shape[2], :]
    return grad_x, grad_kernel, grad_y.sum(axis=(0, 1, 2))


# --------------------------------------------------------------------------- pooling


def index_dtype(window: Pair) -> np.dtype:
    """The smallest integer type that numbers every entry of a pooling window."""
    return np.dtype(np.uint8 if window[0] * window[1] <= 255 else np.int32)


def max_pool2d(
    x: np.ndarray,
    pool_size: Pair,
    strides: Pair,
    padding: str = "valid",
    out: np.ndarray | None = None,
    index: np.ndarray | None = None,
    return_index: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Max pooling; returns the maxima and, for the backward, which window entry won.

    Math:
        y[b, r, c, ch]     = max_{i, j} xp[b, r * sh + i, c * sw + j, ch]   (xp padded with -inf)
        index[b, r, c, ch] = k = i * pw + j of the first maximum in row-major order (PyTorch's
                             choice on ties). Computed with one vectorized pass per window offset
                             k (ph * pw of them): better = window_k > y;  y = max(y, window_k);
                             index = max(index, k * better)  (k grows, so later wins replace).

    Args:
        x: ``(batch, h, w, channels)``.
        pool_size, strides: (ph, pw), (sh, sw).
        padding: ``"valid"`` or ``"same"``.
        out, index: optional buffers for the results, reused.
        return_index: False skips the index (inference needs no backward).

    Returns:
        ``(y, index)``, both ``(batch, oh, ow, channels)``; index is uint8 (int32 for windows of
        more than 255 entries), or None when not asked for.
    """
    ph, pw = pool_size
    sh, sw = strides
    (oh, ow), pads = spatial_plan(x.shape[1:], pool_size, strides, padding)
    xp = pad2d(x, pads, value=-np.inf)
    shape = (x.shape[0], oh, ow, x.shape[3])
    y = np.empty(shape, dtype=x.dtype) if out is None else out
    np.copyto(y, xp[:, _window_slice(0, sh, oh), _window_slice(0, sw, ow), :])
    if return_index:
        index = np.empty(shape, dtype=index_dtype(pool_size)) if index is None else index
        index.fill(0)
        better = np.empty(shape, dtype=bool)
        winner = np.empty(shape, dtype=index.dtype)
        flags = better.view(np.uint8) if index.dtype == np.uint8 else better
    for k in range(1, ph * pw):
        i, j = divmod(k, pw)
        window = xp[:, _window_slice(i, sh, oh), _window_slice(j, sw, ow), :]
        if return_index:
            np.greater(window, y, out=better)
            np.multiply(flags, index.dtype.type(k), out=winner)  # no bool cast
            np.maximum(index, winner, out=index)
        np.maximum(y, window, out=y)
    return y, (index if return_index else None)


def max_pool2d_backward(
    grad_y: np.ndarray,
    index: np.ndarray,
    x_shape: tuple[int, ...],
    pool_size: Pair,
    strides: Pair,
    padding: str = "valid",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Route each output gradient to the input that won its window.

    Math:
        grad_xp[b, r * sh + i, c * sw + j, ch] += grad_y[b, r, c, ch] * [index == i * pw + j]
        When windows do not overlap (stride >= pool size) each offset owns its pixels, so the
        add is a plain write, and only pixels no window covers need zeroing.

    Args:
        out: optional buffer of the padded input's shape, reused.

    Returns:
        ``(batch, h, w, channels)`` (a view of ``out`` when padding was used).
    """
    ph, pw = pool_size
    sh, sw = strides
    (oh, ow), pads = spatial_plan(x_shape[1:], pool_size, strides, padding)
    (top, bottom), (left, right) = pads
    n, h, w, c = x_shape
    padded_shape = (n, h + top + bottom, w + left + right, c)
    grad_xp = np.empty(padded_shape, dtype=grad_y.dtype) if out is None else out
    tiles = sh == ph and sw == pw
    if tiles:  # windows tile the image: zero only the rows/columns that no window reaches
        grad_xp[:, oh * sh :] = 0
        grad_xp[:, :, ow * sw :] = 0
    else:
        grad_xp.fill(0)
    hit = np.empty(index.shape, dtype=bool)
    for k in range(ph * pw):
        i, j = divmod(k, pw)
        target = grad_xp[:, _window_slice(i, sh, oh), _window_slice(j, sw, ow), :]
        np.equal(index, k, out=hit)
        if tiles:
            np.multiply(grad_y, hit, out=target)
        else:
            target += grad_y * hit
    if top or bottom or left or right:
        return grad_xp[:, top : top + h, left : left + w, :]
    return grad_xp


def max_pool2d_reference(
    x: np.ndarray, pool_size: Pair, strides: Pair, padding: str = "valid"
) -> np.ndarray:
    """`max_pool2d`'s maxima by the textbook loop over samples and output pixels."""
    (oh, ow), pads = spatial_plan(x.shape[1:], pool_size, strides, padding)
    xp = pad2d(x, pads, value=-np.inf)
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for b in range(x.shape[0]):
        for r in range(oh):
            for c in range(ow):
                rows = slice(r * strides[0], r * strides[0] + pool_size[0])
                columns = slice(c * strides[1], c * strides[1] + pool_size[1])
                y[b, r, c] = xp[b, rows, columns, :].max(axis=(0, 1))
    return y


def pool_counts(
    image_shape: Pair, pool_size: Pair, strides: Pair, padding: str, dtype: Any
) -> np.ndarray:
    """How many real (unpadded) pixels each pooling window covers, ``(oh, ow, 1)``.

    Keras/TensorFlow's average pooling divides by this count, so padding never dilutes it.
    """
    (oh, ow), pads = spatial_plan(image_shape, pool_size, strides, padding)
    ones = pad2d(np.ones((1, *image_shape, 1), dtype=dtype), pads)
    counts = np.zeros((1, oh, ow, 1), dtype=dtype)
    for i, j in itertools.product(range(pool_size[0]), range(pool_size[1])):
        counts += ones[:, _window_slice(i, strides[0], oh), _window_slice(j, strides[1], ow), :]
    return counts[0]


def avg_pool2d(x: np.ndarray, pool_size: Pair, strides: Pair, padding: str = "valid"):
    """Average pooling over real pixels only.

    Math:
        y[b, r, c, ch] = (1 / count[r, c]) * sum_{i, j} xp[b, r * sh + i, c * sw + j, ch]
        (xp zero-padded; count = real pixels in the window, see `pool_counts`)
    """
    (oh, ow), pads = spatial_plan(x.shape[1:], pool_size, strides, padding)
    xp = pad2d(x, pads)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for i, j in itertools.product(range(pool_size[0]), range(pool_size[1])):
        y += xp[:, _window_slice(i, strides[0], oh), _window_slice(j, strides[1], ow), :]
    y /= pool_counts(x.shape[1:3], pool_size, strides, padding, x.dtype)
    return y


def avg_pool2d_backward(
    grad_y: np.ndarray, x_shape: tuple[int, ...], pool_size: Pair, strides: Pair, padding: str
) -> np.ndarray:
    """Spread each output gradient evenly over the real pixels of its window.

    Math:
        grad_xp[b, r * sh + i, c * sw + j, ch] += grad_y[b, r, c, ch] / count[r, c]
    """
    (oh, ow), pads = spatial_plan(x_shape[1:], pool_size, strides, padding)
    (top, bottom), (left, right) = pads
    n, h, w, c = x_shape
    share = grad_y / pool_counts((h, w), pool_size, strides, padding, grad_y.dtype)
    grad_xp = np.zeros((n, h + top + bottom, w + left + right, c), dtype=grad_y.dtype)
    for i, j in itertools.product(range(pool_size[0]), range(pool_size[1])):
        grad_xp[:, _window_slice(i, strides[0], oh), _window_slice(j, strides[1], ow), :] += share
    return grad_xp[:, top : top + h, left : left + w, :]


def avg_pool2d_reference(
    x: np.ndarray, pool_size: Pair, strides: Pair, padding: str = "valid"
) -> np.ndarray:
    """`avg_pool2d` by the textbook loop: the mean of the real pixels in each window."""
    (oh, ow), ((top, _), (left, _)) = spatial_plan(x.shape[1:], pool_size, strides, padding)
    h, w = x.shape[1:3]
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
    for b in range(x.shape[0]):
        for r in range(oh):
            for c in range(ow):
                r0, c0 = r * strides[0] - top, c * strides[1] - left
                rows = slice(max(r0, 0), min(r0 + pool_size[0], h))
                columns = slice(max(c0, 0), min(c0 + pool_size[1], w))
                y[b, r, c] = x[b, rows, columns, :].mean(axis=(0, 1))
    return y
