"""Merge layers: combine a list of tensors into one (Keras's Add, Concatenate, Dot ...).

Each takes a list of inputs of shapes (batch, ...) and returns one output; ``backward(grad_y)``
returns the list of input gradients, in the inputs' order. The lower-case functions
(``add([a, b])``, ``concatenate([a, b])`` ...) create the layer and call it, as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.graph import OPERATOR_LAYERS
from engram.nn.layers.base import Layer, register_layer, shape_str


class Merge(Layer):
    """Base class: checks that the inputs are a list of at least two same-shaped tensors."""

    #: the number of inputs the layer takes (None: two or more)
    n_inputs: int | None = None

    def _check_shapes(self, shapes: Any) -> list[tuple[int, ...]]:
        kind = type(self).__name__
        if (
            not isinstance(shapes, (list, tuple))
            or not shapes
            or not isinstance(shapes[0], (list, tuple))
        ):
            raise ValueError(
                f"A {kind} layer must be called on a list of inputs, e.g. {kind}()([a, b]). "
                f"Received: one input of shape {shapes}."
            )
        shapes = [tuple(s) for s in shapes]
        want = self.n_inputs
        if (want is None and len(shapes) < 2) or (want is not None and len(shapes) != want):
            count = "at least 2" if want is None else f"exactly {want}"
            raise ValueError(
                f"A {kind} layer takes {count} inputs. Received: {len(shapes)} inputs."
            )
        return shapes

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        if any(s != shapes[0] for s in shapes):
            listed = ", ".join(shape_str((None, *s)) for s in shapes)
            raise ValueError(
                f"A {type(self).__name__} layer needs inputs of one shape. Received: {listed}."
            )
        return shapes[0]

    def build(self, input_shape, rng):
        self.input_shapes = self._check_shapes(input_shape)
        self.input_shape = self.input_shapes[0]
        self.output_shape = self.compute_output_shape(input_shape)
        self.built = True

    def check_input(self, shape):
        return None  # each input's shape was checked when the layer was built


@register_layer
class Add(Merge):
    """Element-wise sum of the inputs.

    Math:
        forward:   y = x_1 + x_2 + ... + x_n
        backward:  grad_x_k = grad_y                     for every k
    """

    def forward(self, x, training=False):
        y = x[0] + x[1]
        for v in x[2:]:
            y += v
        self.n = len(x)
        return y

    def backward(self, grad_y):
        return [grad_y] * self.n


@register_layer
class Subtract(Merge):
    """Difference of exactly two inputs.

    Math:
        forward:   y = x_1 - x_2
        backward:  grad_x_1 = grad_y;  grad_x_2 = -grad_y
    """

    n_inputs = 2

    def forward(self, x, training=False):
        return x[0] - x[1]

    def backward(self, grad_y):
        return [grad_y, -grad_y]


@register_layer
class Multiply(Merge):
    """Element-wise product of the inputs.

    Math:
        forward:   y = x_1 * x_2 * ... * x_n
        backward:  grad_x_k = grad_y * prod_{j != k} x_j
                   (products of the others from prefix and suffix products: no division, so
                    exact zeros are fine)
    """

    def forward(self, x, training=False):
        self.xs = x
        y = x[0] * x[1]
        for v in x[2:]:
            y = y * v
        return y

    def backward(self, grad_y):
        xs = self.xs
        n = len(xs)
        prefix = [None] * n  # prefix[k] = x_0 * ... * x_{k-1}
        suffix = [None] * n  # suffix[k] = x_{k+1} * ... * x_{n-1}
        for k in range(1, n):
            prefix[k] = xs[0] if k == 1 else prefix[k - 1] * xs[k - 1]
        for k in range(n - 2, -1, -1):
            suffix[k] = xs[n - 1] if k == n - 2 else suffix[k + 1] * xs[k + 1]
        grads = []
        for k in range(n):
            others = [p for p in (prefix[k], suffix[k]) if p is not None]
            g = grad_y * others[0]
            if len(others) == 2:
                g = g * others[1]
            grads.append(g)
        return grads


@register_layer
class Average(Merge):
    """Element-wise mean of the inputs.

    Math:
        forward:   y = (x_1 + ... + x_n) / n
        backward:  grad_x_k = grad_y / n
    """

    def forward(self, x, training=False):
        self.n = len(x)
        y = x[0] + x[1]
        for v in x[2:]:
            y += v
        return y * np.asarray(1.0 / self.n, dtype=y.dtype)

    def backward(self, grad_y):
        g = grad_y * np.asarray(1.0 / self.n, dtype=grad_y.dtype)
        return [g] * self.n


class _Extremum(Merge):
    """Element-wise maximum (or minimum): the gradient goes to the input that was chosen.

    Math:
        forward:   y = max_k x_k      k*(i) = the first k with x_k[i] = y[i]
        backward:  grad_x_k[i] = grad_y[i] if k == k*(i) else 0
    """

    _pick = staticmethod(np.argmax)

    def forward(self, x, training=False):
        stacked = np.stack(x)
        self.choice = self._pick(stacked, axis=0)
        self.n = len(x)
        return np.take_along_axis(stacked, self.choice[None], axis=0)[0]

    def backward(self, grad_y):
        zero = np.zeros((), grad_y.dtype)
        return [np.where(self.choice == k, grad_y, zero) for k in range(self.n)]


@register_layer
class Maximum(_Extremum):
    __doc__ = _Extremum.__doc__


@register_layer
class Minimum(_Extremum):
    __doc__ = _Extremum.__doc__.replace("maximum (or minimum)", "minimum").replace("max_k", "min_k")
    _pick = staticmethod(np.argmin)


@register_layer
class Concatenate(Merge):
    """Joins the inputs along ``axis`` (default the last).

    Math:
        forward:   y = [x_1, x_2, ..., x_n] along axis
        backward:  grad_x_k = the slice of grad_y that x_k filled

    Args:
        axis: the axis to join along (counting the batch axis as 0; negative from the end).
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _axis(self, rank: int) -> int:
        axis = self.axis if self.axis >= 0 else rank + 1 + self.axis  # rank without batch
        if axis < 1 or axis > rank:
            raise ValueError(
                f"Concatenate(axis={self.axis}) needs an axis of the inputs other than the batch "
                f"axis; the inputs have {rank + 1} axes (batch included)."
            )
        return axis

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        axis = self._axis(len(shapes[0])) - 1
        for s in shapes:
            if len(s) != len(shapes[0]) or any(
                a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True)) if i != axis
            ):
                listed = ", ".join(shape_str((None, *t)) for t in shapes)
                raise ValueError(
                    f"Concatenate(axis={self.axis}) needs inputs whose shapes match except on "
                    f"the concatenation axis. Received: {listed}."
                )
        sizes = [s[axis] for s in shapes]
        joined = None if None in sizes else sum(sizes)
        return (*shapes[0][:axis], joined, *shapes[0][axis + 1 :])

    def forward(self, x, training=False):
        axis = self._axis(x[0].ndim - 1)
        self.sections = np.cumsum([v.shape[axis] for v in x[:-1]])
        self.concat_axis = axis
        return np.concatenate(x, axis=axis)

    def backward(self, grad_y):
        return np.split(grad_y, self.sections, axis=self.concat_axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(x / norm, norm) with Keras's norm = sqrt(max(sum(x^2), 1e-12)) along axis."""
    norm = np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), 1e-12))
    return x / norm, norm


def _l2_normalize_backward(u, norm, grad_u, axis):
    """grad_x = (grad_u - u * sum(grad_u * u)) / norm   (norm above the 1e-12 floor)."""
    return (grad_u - u * np.sum(grad_u * u, axis=axis, keepdims=True)) / norm


@register_layer
class Dot(Merge):
    """Dot product of two inputs along the given axes (batch by batch).

    Math:
        inputs a: (batch, ..., k) and b: (batch, ..., k), contracted over their ``axes``
        2-D:       y = sum_j a_j b_j                       y: (batch, 1)
        3-D:       y = a' @ b'    a': (batch, n, k)  b': (batch, k, m)   y: (batch, n, m)
                   (a' moves a's contracted axis last, b' moves b's first)
        backward:  grad_a' = grad_y @ b'^T;  grad_b' = a'^T @ grad_y   (moved back)
        normalize: a and b are first divided by their L2 norms along the axes (cosine
                   similarity), and the gradient passes back through that division.

    Args:
        axes: an int, or a pair (one axis of each input), counting the batch axis as 0.
        normalize: L2-normalize along the axes first.
    """

    n_inputs = 2

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes = list(axes) if isinstance(axes, (list, tuple)) else int(axes)
        self.normalize = bool(normalize)

    def _pair(self, ranks: list[int]) -> list[int]:
        axes = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        out = [a if a >= 0 else r + a for a, r in zip(axes, ranks, strict=True)]
        for a, r in zip(out, ranks, strict=True):
            if a < 1 or a >= r:
                raise ValueError(
                    f"Dot(axes={self.axes}) needs axes of the inputs other than the batch axis; "
                    f"the inputs have {ranks} axes (batch included)."
                )
        if any(r not in (2, 3) for r in ranks):
            raise ValueError(
                f"Dot supports inputs of 2 or 3 axes (batch included). Received: {ranks}."
            )
        return out

    def compute_output_shape(self, input_shape):
        a, b = self._check_shapes(input_shape)
        ax, bx = self._pair([len(a) + 1, len(b) + 1])
        if a[ax - 1] != b[bx - 1]:
            raise ValueError(
                f"Dot(axes={self.axes}) contracts axes of different sizes: {a[ax - 1]} and "
                f"{b[bx - 1]} (inputs {shape_str((None, *a))} and {shape_str((None, *b))})."
            )
        rest = [s for i, s in enumerate(a) if i != ax - 1] + [
            s for i, s in enumerate(b) if i != bx - 1
        ]
        return tuple(rest) if rest else (1,)

    def forward(self, x, training=False):
        a, b = x
        ax, bx = self._pair([a.ndim, b.ndim])
        self.ax, self.bx = ax, bx
        if self.normalize:
            a, self.a_norm = _l2_normalize(a, ax)
            b, self.b_norm = _l2_normalize(b, bx)
        self.a, self.b = a, b
        a3 = np.moveaxis(a, ax, -1) if a.ndim == 3 else a[:, None, :]  # (batch, n, k)
        b3 = np.moveaxis(b, bx, 1) if b.ndim == 3 else b[:, :, None]  # (batch, k, m)
        y = a3 @ b3
        if a.ndim == 2 and b.ndim == 2:
            return y.reshape(len(y), 1)
        if a.ndim == 2:
            return y[:, 0, :]
        return y[:, :, 0] if b.ndim == 2 else y

    def backward(self, grad_y):
        a, b, ax, bx = self.a, self.b, self.ax, self.bx
        a3 = np.moveaxis(a, ax, -1) if a.ndim == 3 else a[:, None, :]
        b3 = np.moveaxis(b, bx, 1) if b.ndim == 3 else b[:, :, None]
        g3 = grad_y.reshape(len(grad_y), a3.shape[1], b3.shape[2])
        ga3 = g3 @ np.swapaxes(b3, 1, 2)  # (batch, n, k)
        gb3 = np.swapaxes(a3, 1, 2) @ g3  # (batch, k, m)
        ga = np.moveaxis(ga3, -1, ax) if a.ndim == 3 else ga3[:, 0, :]
        gb = np.moveaxis(gb3, 1, bx) if b.ndim == 3 else gb3[:, :, 0]
        if self.normalize:
            ga = _l2_normalize_backward(a, self.a_norm, ga, ax)
            gb = _l2_normalize_backward(b, self.b_norm, gb, bx)
        return [ga, gb]

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _functional(cls: type[Merge], doc: str):
    def merge(inputs: list[Any], **kwargs: Any) -> Any:
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"Keras's ``layers.{merge.__name__}(inputs, **kwargs)``: {doc}"
    return merge


add = _functional(Add, "``Add(**kwargs)(inputs)``.")
subtract = _functional(Subtract, "``Subtract(**kwargs)(inputs)``.")
multiply = _functional(Multiply, "``Multiply(**kwargs)(inputs)``.")
average = _functional(Average, "``Average(**kwargs)(inputs)``.")
maximum = _functional(Maximum, "``Maximum(**kwargs)(inputs)``.")
minimum = _functional(Minimum, "``Minimum(**kwargs)(inputs)``.")
concatenate = _functional(Concatenate, "``Concatenate(axis, **kwargs)(inputs)``.")
dot = _functional(Dot, "``Dot(axes, normalize, **kwargs)(inputs)``.")

# Python's operators on symbolic tensors record these layers (engram.nn.graph)
OPERATOR_LAYERS.update({"+": Add, "-": Subtract, "*": Multiply})
