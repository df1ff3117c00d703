"""Conv2D with ``dilation_rate`` > 1: Conv2D's own forward and backward run on the dilated kernel.

Math (kernel K (kh, kw, cin, cout), dilation (dh, dw), stride 1 as Keras requires):
    Kd = K with dh - 1 zero rows between its rows and dw - 1 zero columns between its
         columns: shape (khd, kwd) = ((kh - 1) dh + 1, (kw - 1) dw + 1)
    y[b, r, c, o] = sum_{i, j, ch} xp[b, r + i dh, c + j dw, ch] K[i, j, ch, o]
                  = the undilated convolution of xp with Kd (the zero taps add nothing)
    grad_K = (the undilated gradient with respect to Kd)[::dh, ::dw]
    grad_x = the undilated input gradient with Kd (the zero taps pass nothing back)
    "same" padding pads for the span (khd, kwd), as Keras does.

The undilated path stays as it is (it never reaches this module): a dilated layer swaps its
kernel and kernel size for the dilated ones around one call of that path, and takes the taps of
the kernel gradient after. The cost is that of a convolution with the (khd, kwd) kernel: for a
3x3 kernel at dilation 2, (5 / 3)^2 = 2.8 times the undilated products. `dilated_kernel` is
shared with Conv2DTranspose and DepthwiseConv2D.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def dilated_kernel(kernel: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """``kernel`` (kh, kw, ...) with dilation - 1 zeros between its taps (identity at 1, 1)."""
    if dilation == (1, 1):
        return kernel
    kh, kw = kernel.shape[:2]
    out = np.zeros(((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1, *kernel.shape[2:]))
    out[:: dilation[0], :: dilation[1]] = kernel
    return out.astype(kernel.dtype)


@contextmanager
def _as_undilated(layer: Any, kernel: np.ndarray) -> Iterator[None]:
    """``layer`` seen by Conv2D's undilated code as a layer with the dilated ``kernel``."""
    saved = layer.params["kernel"], layer.kernel_size, layer.dilation_rate
    layer.params["kernel"] = kernel
    layer.kernel_size, layer.dilation_rate = kernel.shape[:2], (1, 1)
    try:
        yield
    finally:
        layer.params["kernel"], layer.kernel_size, layer.dilation_rate = saved


def forward(layer: Any, undilated: Callable[..., np.ndarray], x: np.ndarray, training: bool):
    """``undilated(layer, x, training)`` (Conv2D.forward) with the dilated kernel."""
    kernel = dilated_kernel(layer.params["kernel"], layer.dilation_rate)
    layer._dilated_kernel = kernel  # backward's kernel: the one this forward used
    with _as_undilated(layer, kernel):
        return undilated(layer, x, training)


def backward(layer: Any, undilated: Callable[..., Any], grad_y: np.ndarray):
    """``undilated(layer, grad_y)`` (Conv2D.backward) with the forward's dilated kernel; the
    kernel's gradient is the dilated gradient's taps, written into last step's array."""
    kernel = getattr(layer, "_dilated_kernel", None)
    if kernel is None:
        raise RuntimeError(
            f"Conv2D layer {layer.name!r}: backward() needs a forward() first (each forward "
            "allows one backward)."
        )
    layer._dilated_kernel = None
    own = layer.grads.get("kernel")
    layer.grads["kernel"] = getattr(layer, "_dilated_grad", None)  # reused, if it fits
    with _as_undilated(layer, kernel):
        grad_x = undilated(layer, grad_y)
    layer._dilated_grad = layer.grads["kernel"]
    shape = layer.params["kernel"].shape
    fits = own is not None and own.shape == shape and own.dtype == grad_y.dtype
    grad = own if fits else None
    grad = layer.grad_array("kernel", shape, grad_y.dtype) if grad is None else grad
    layer.grads["kernel"] = grad
    np.copyto(grad, layer._dilated_grad[:: layer.dilation_rate[0], :: layer.dilation_rate[1]])
    return grad_x
