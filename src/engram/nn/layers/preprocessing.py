"""Preprocessing layers: Rescaling (a fixed affine map of the inputs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, register_layer, shape_str
from engram.nn.layers.layer_normalization import axis_list, normalize_axes


def _json_number_or_list(value: Any, name: str) -> float | list:
    """A scalar as a float, an array as nested lists (what get_config stores)."""
    if isinstance(value, bool):
        value = None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} must be a finite number or a list/array of finite numbers, e.g. "
            f"{name}=1/255. Got {value!r} instead."
        )
    return float(array) if array.ndim == 0 else array.tolist()


@register_layer
class Rescaling(Layer):
    """Multiply the inputs by ``scale`` and add ``offset`` (e.g. pixels 0..255 -> 0..1).

    Math:
        forward:   y = x * scale + offset        (scale, offset broadcast against one sample)
        backward:  grad_x = grad_y * scale       (no weights)
        Integer inputs (uint8 images) are cast to the layer's float dtype first, as in Keras.

    Args:
        scale: a number, or a list/array that broadcasts to one sample's shape (per channel).
        offset: a number or such a list/array (default 0).

    Raises:
        ValueError: a scale or offset that is not finite numbers, or that does not broadcast
            to the input's sample shape without enlarging it.

    Example:
        >>> Rescaling(1 / 255)(np.full((1, 2, 2, 1), 255, dtype="uint8")).max()
        1.0
    """

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = _json_number_or_list(scale, "scale")
        self.offset = _json_number_or_list(offset, "offset")

    def compute_output_shape(self, input_shape):
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            shape = np.shape(value)
            try:
                fits = np.broadcast_shapes(tuple(input_shape), shape) == tuple(input_shape)
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"Rescaling layer {self.name!r}: {name} of shape {shape} does not broadcast "
                    f"to inputs of shape {shape_str((None, *input_shape))}. Give one value per "
                    "channel (the last axis), or a single number."
                )
        return tuple(input_shape)

    def forward(self, x, training=False):
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(self.dtype)
        self.factor = np.asarray(self.scale, dtype=dtype)
        return x.astype(dtype, copy=False) * self.factor + np.asarray(self.offset, dtype=dtype)

    def backward(self, grad_y):
        return grad_y * self.factor.astype(grad_y.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


#: Keras's backend.epsilon(): the smallest standard deviation Normalization divides by
STD_FLOOR = 1e-7


@register_layer
class Normalization(Layer):
    """Shift and scale inputs to zero mean and unit variance, with statistics from ``adapt``.

    Math (mean and variance per position of the kept ``axis``, over every other axis):
        adapt:     mean = data.mean(others),  variance = data.var(others)     (biased, as Keras)
                   (an iterable of batches merges each batch's moments with Chan's update:
                    w = n_batch / n_total,  mean' = (1 - w) mean + w mean_b,
                    var' = (1 - w) (var + (mean - mean')^2) + w (var_b + (mean_b - mean')^2))
        forward:   y = (x - mean) / max(sqrt(variance), 1e-7)
                   invert=True:  y = mean + x * max(sqrt(variance), 1e-7)
        backward:  grad_x = grad_y / max(sqrt(variance), 1e-7)   (times, with invert=True)

    Weights: without ``mean``/``variance`` arguments, the layer holds Keras's three
    non-trainable weights, in Keras's order: ``mean``, ``variance`` (float, shaped like the kept
    axes) and ``count`` (an int32 scalar, which Keras keeps at 0). Given as arguments, the
    statistics are part of the config and there are no weights.

    Args:
        axis: the axis or axes that keep their own statistics (batch axis = 0; default -1,
            one mean per feature); None for one mean and variance over everything.
        mean, variance: fixed statistics (both or neither), broadcast to the kept axes.
        invert: apply the inverse map (undo a normalization).

    Raises:
        ValueError: only one of mean and variance; an axis outside one sample; ``adapt`` data
            whose kept axes differ from the built shape.

    Example:
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[0.0], [2.0]], dtype="float32"))
        >>> layer(np.array([[2.0]], dtype="float32"))
        array([[1.]], dtype=float32)
    """

    weight_names = ("mean", "variance", "count")

    def __init__(
        self,
        axis: Any = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = [] if axis is None else axis_list(axis, self)
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization needs both mean and variance, or neither (then call adapt()). "
                f"Got mean={mean!r} and variance={variance!r}."
            )
        self.input_mean = None if mean is None else _json_number_or_list(mean, "mean")
        self.input_variance = (
            None if variance is None else _json_number_or_list(variance, "variance")
        )
        if mean is not None and np.shape(self.input_mean) != np.shape(self.input_variance):
            raise ValueError(
                f"Normalization: mean and variance must have the same shape. Got "
                f"{np.shape(self.input_mean)} and {np.shape(self.input_variance)}."
            )
        self.invert = bool(invert)

    # ----------------------------------------------------------------- shapes
    def _kept(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return normalize_axes(self.axis, len(input_shape) + 1, self) if self.axis else ()

    def _stat_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        full = (None, *input_shape)
        return tuple(full[a] for a in self._kept(input_shape))

    def compute_output_shape(self, input_shape):
        self._kept(input_shape)
        return tuple(input_shape)

    def build(self, input_shape, rng):
        shape = self._stat_shape(input_shape)
        if self.input_mean is None:
            self.mean = np.zeros(shape, dtype=self.dtype)
            self.variance = np.ones(shape, dtype=self.dtype)
            self.count = np.zeros((), dtype=np.int32)
        else:
            rank = np.ndim(self.input_mean)
            if rank > len(shape) or np.shape(self.input_mean) != shape[len(shape) - rank :]:
                raise ValueError(
                    f"Normalization layer {self.name!r}: mean of shape "
                    f"{np.shape(self.input_mean)} does not fit the kept axes of shape {shape} "
                    f"(axis={self.axis}). Give one value per position of those axes, or one."
                )
            self.mean = np.broadcast_to(np.asarray(self.input_mean, self.dtype), shape).copy()
            self.variance = np.broadcast_to(np.asarray(self.input_variance, self.dtype), shape)
            self.variance = self.variance.copy()
        super().build(input_shape, rng)

    def state_arrays(self):
        if not self.built or self.input_mean is not None:
            return {}
        return {"mean": self.mean, "variance": self.variance, "count": self.count}

    def astype(self, dtype: Any) -> Layer:
        """Cast mean and variance; ``count`` stays an int32 (as in Keras)."""
        count = getattr(self, "count", None)
        super().astype(dtype)
        if self.built:
            self.mean, self.variance = self.mean.astype(dtype), self.variance.astype(dtype)
            if count is not None:
                self.count = count
        return self

    # ----------------------------------------------------------------- adapt
    def adapt(self, data: Any) -> None:
        """Set ``mean`` and ``variance`` from ``data``: an array (batch first), or an iterable
        of such batches (merged as the class docstring says, as Keras does).

        Raises:
            TypeError: data that is neither an array nor an iterable of arrays.
            ValueError: empty data; a kept axis whose size differs from the built layer's.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization layer {self.name!r} was given mean and variance; adapt() would "
                "replace them. Create it without them to adapt it."
            )
        batches = [data] if isinstance(data, np.ndarray) else data
        try:
            iterator = iter(batches)
        except TypeError:
            raise TypeError(
                "adapt() expects a NumPy array (batch first) or an iterable of such batches. "
                f"Got {type(data).__name__} instead."
            ) from None
        mean = variance = None
        total = 0
        for batch in iterator:
            batch = np.asarray(batch)  # float data in its own precision, as Keras's NumPy path
            if batch.dtype.kind != "f":
                batch = batch.astype(np.float64)
            self._check_adapt_shape(batch.shape)
            others = tuple(a for a in range(batch.ndim) if a not in self._kept(batch.shape[1:]))
            b_mean, b_var = batch.mean(axis=others), batch.var(axis=others)
            n = int(np.prod([batch.shape[a] for a in others]))
            if mean is None:
                mean, variance, total = b_mean, b_var, n
                continue
            total += n
            w = n / total
            new_mean = mean * (1 - w) + b_mean * w
            variance = (variance + (mean - new_mean) ** 2) * (1 - w) + (
                b_var + (b_mean - new_mean) ** 2
            ) * w
            mean = new_mean
        if mean is None:
            raise ValueError("adapt() received no data (an empty iterable). Pass an array.")
        self.mean = mean.astype(self.dtype)
        self.variance = variance.astype(self.dtype)

    def _check_adapt_shape(self, shape: tuple[int, ...]) -> None:
        if not self.built:
            declared = getattr(self, "declared_input_shape", None)
            if declared is not None and not self._kept(tuple(declared)):
                # axis=None: one mean and variance over everything, so the data's shape need
                # not be the declared one (Keras's regression tutorial adapts a 1-D column for
                # a layer declared with input_shape=[1])
                self.build(tuple(declared), np.random.default_rng(0))
                return
            self.build(tuple(shape[1:]), np.random.default_rng(0))
            return
        if not self._kept(self.input_shape):
            return  # axis=None: nothing to match
        kept = self._kept(self.input_shape)
        if len(shape) != len(self.input_shape) + 1 or any(
            shape[a] != (None, *self.input_shape)[a] for a in kept
        ):
            raise ValueError(
                f"Normalization layer {self.name!r} was built for inputs of shape "
                f"{shape_str((None, *self.input_shape))}, but adapt() received data of shape "
                f"{shape_str(tuple(shape))}."
            )

    # ------------------------------------------------------- forward / backward
    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(max(sqrt(variance), 1e-7), mean), shaped to broadcast against ``x``."""
        shape = [1] * x.ndim
        for a, size in zip(self._kept(x.shape[1:]), self.mean.shape, strict=True):
            shape[a] = size
        std = np.maximum(np.sqrt(self.variance.astype(x.dtype)), np.asarray(STD_FLOOR, x.dtype))
        return std.reshape(shape), self.mean.astype(x.dtype).reshape(shape)

    def forward(self, x, training=False):
        if x.dtype.kind != "f":
            x = x.astype(self.dtype)
        self.std, mean = self._statistics(x)
        return mean + x * self.std if self.invert else (x - mean) / self.std

    def backward(self, grad_y):
        std = self.std.astype(grad_y.dtype, copy=False)
        return grad_y * std if self.invert else grad_y / std

    def get_config(self):
        return {
            **super().get_config(),
            "axis": list(self.axis),
            "invert": self.invert,
            "mean": self.input_mean,
            "variance": self.input_variance,
        }
