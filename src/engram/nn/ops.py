"""Keras's ``keras.ops`` on NumPy, each op's derivative written by hand beside its forward.

An op runs eagerly: on arrays (and Python numbers) it returns an array. Inside a custom layer's
``call`` or a loss written with ops, its inputs are traced tensors (`engram.nn.tape`): the op
then also records its vector-Jacobian product (``vjp``: dL/d(output) -> dL/d(each input)) on the
tape, and backward replays the tape in reverse. Broadcasting inputs receive their gradient
summed over the broadcast axes (`_unbroadcast`).

Ops without a derivative (comparisons, argmax, one_hot, shape, zeros, ...) return plain arrays
even from traced inputs, as their gradient is zero (or undefined) in Keras too.

Example:
    >>> from engram.nn import ops
    >>> ops.mean(ops.square(np.array([1.0, 2.0]) - 3.0))      # doctest: +SKIP
    2.5

An op of ``keras.ops`` that engram lacks raises AttributeError naming it and listing the ops
there are (`IMPLEMENTED`).
"""

from __future__ import annotations

import builtins
import functools
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from engram.nn import functional as F
from engram.nn import tape as tape_module
from engram.nn.graph import OP_RECORDERS, SymbolicTensor, is_symbolic
from engram.nn.tape import Tensor, Variable, active_tape

_py_abs, _py_max, _py_min, _py_sum = builtins.abs, builtins.max, builtins.min, builtins.sum


# ------------------------------------------------------------------- plumbing
def _read(x: Any) -> Any:
    """A Variable as the active tape's leaf (or its array outside a call)."""
    if isinstance(x, Variable):
        tape = active_tape()
        return tape.read(x) if tape is not None else x.value
    return x


def _args(*xs: Any) -> tuple[list[Any], tuple[Any, ...], Any]:
    """(values, inputs, tape): the inputs' values (Python numbers kept as they are, so that
    ``x * 0.5`` keeps x's dtype as Keras does), the inputs themselves (traced or not), and the
    tape they share (None when no input is traced)."""
    tape, values, items = None, [], []
    for x in xs:
        x = _read(x)
        if isinstance(x, Tensor):
            if tape is None:
                tape = x.tape
            elif x.tape is not tape:
                raise ValueError(
                    "An op received traced tensors from two different calls (two tapes). Use "
                    "each call's tensors within that call only."
                )
            values.append(x.value)
        elif isinstance(x, (bool, int, float)) or isinstance(x, np.ndarray):
            values.append(x)
        else:
            values.append(np.asarray(x))
        items.append(x)
    return values, tuple(items), tape


def _result(value: Any, items: tuple[Any, ...], tape: Any, vjp: Any) -> Any:
    """The op's output: recorded on the tape with its vjp when an input is traced."""
    value = np.asarray(value)
    if tape is None:
        return value
    return tape.record(value, items, vjp)


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes broadcasting added or stretched, back to ``shape``."""
    if g.shape == tuple(shape):
        return g
    if g.ndim > len(shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _shape(x: Any) -> tuple[int, ...]:
    return np.shape(x)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (list, tuple)) else (axis,)
    return tuple(int(a) % _py_max(ndim, 1) for a in axes)


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """A reduction's output gradient with the reduced axes put back (size 1)."""
    return g if keepdims else np.expand_dims(g, axes)


# ------------------------------------------------------- elementwise, binary
def add(x1: Any, x2: Any) -> Any:
    """x1 + x2.   vjp: (g, g), each summed over its broadcast axes."""
    (a, b), items, tape = _args(x1, x2)
    sa, sb = _shape(a), _shape(b)
    return _result(np.add(a, b), items, tape, lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb)))


def subtract(x1: Any, x2: Any) -> Any:
    """x1 - x2.   vjp: (g, -g)."""
    (a, b), items, tape = _args(x1, x2)
    sa, sb = _shape(a), _shape(b)
    return _result(
        np.subtract(a, b), items, tape, lambda g: (_unbroadcast(g, sa), _unbroadcast(-g, sb))
    )


def multiply(x1: Any, x2: Any) -> Any:
    """x1 * x2.   vjp: (g x2, g x1)."""
    (a, b), items, tape = _args(x1, x2)
    sa, sb = _shape(a), _shape(b)
    return _result(
        np.multiply(a, b),
        items,
        tape,
        lambda g: (_unbroadcast(g * b, sa), _unbroadcast(g * a, sb)),
    )


def divide(x1: Any, x2: Any) -> Any:
    """x1 / x2.   vjp: (g / x2, -g x1 / x2^2)."""
    (a, b), items, tape = _args(x1, x2)
    sa, sb = _shape(a), _shape(b)
    out = np.true_divide(a, b)
    return _result(
        out, items, tape, lambda g: (_unbroadcast(g / b, sa), _unbroadcast(-g * out / b, sb))
    )


true_divide = divide


def power(x1: Any, x2: Any) -> Any:
    """x1 ** x2.   vjp: (g x2 x1^(x2 - 1),  g x1^x2 log x1  (0 where x1 <= 0))."""
    (a, b), items, tape = _args(x1, x2)
    sa, sb = _shape(a), _shape(b)
    out = np.power(a, b)

    def vjp(g: np.ndarray) -> tuple[Any, Any]:
        ga = _unbroadcast(g * b * np.power(a, np.subtract(b, 1)), sa)
        gb = None
        if isinstance(items[1], Tensor):
            safe = np.where(np.greater(a, 0), a, 1)
            gb = _unbroadcast(g * out * np.log(safe) * np.greater(a, 0), sb)
        return ga, gb

    return _result(out, items, tape, vjp)


def maximum(x1: Any, x2: Any) -> Any:
    """max(x1, x2) elementwise.   vjp: g to the larger input; ties split g in halves (as
    PyTorch, Keras's backend here, splits them)."""
    (a, b), items, tape = _args(x1, x2)
    return _pick(np.maximum(a, b), a, b, np.greater(a, b), items, tape)


def minimum(x1: Any, x2: Any) -> Any:
    """min(x1, x2) elementwise.   vjp: g to the smaller input; ties split g in halves."""
    (a, b), items, tape = _args(x1, x2)
    return _pick(np.minimum(a, b), a, b, np.less(a, b), items, tape)


def _pick(out, a, b, first, items, tape):
    sa, sb = _shape(a), _shape(b)
    tie = np.equal(a, b)
    wa = np.where(tie, 0.5, first.astype(np.float64))

    def vjp(g: np.ndarray) -> tuple[Any, Any]:
        w = wa.astype(g.dtype)
        return _unbroadcast(g * w, sa), _unbroadcast(g * (1 - w), sb)

    return _result(out, items, tape, vjp)


# -------------------------------------------------------- elementwise, unary
def _unary(x: Any, forward: Any, derivative: Any) -> Any:
    """An elementwise op: out = f(x);  vjp: g * derivative(x, out)."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    out = forward(a)
    return _result(out, items, tape, lambda g: (g * derivative(a, out),))


def negative(x: Any) -> Any:
    """-x.   vjp: -g."""
    return _unary(x, np.negative, lambda a, out: -1)


def square(x: Any) -> Any:
    """x^2.   vjp: 2 x g."""
    return _unary(x, np.square, lambda a, out: 2 * a)


def sqrt(x: Any) -> Any:
    """sqrt(x).   vjp: g / (2 sqrt(x))."""
    return _unary(x, np.sqrt, lambda a, out: 0.5 / out)


def exp(x: Any) -> Any:
    """exp(x).   vjp: g exp(x)."""
    return _unary(x, np.exp, lambda a, out: out)


def log(x: Any) -> Any:
    """log(x).   vjp: g / x."""
    return _unary(x, np.log, lambda a, out: 1 / a)


def log1p(x: Any) -> Any:
    """log(1 + x).   vjp: g / (1 + x)."""
    return _unary(x, np.log1p, lambda a, out: 1 / (1 + a))


def abs(x: Any) -> Any:  # noqa: A001 -- keras.ops.abs
    """|x|.   vjp: g sign(x) (0 at 0)."""
    return _unary(x, np.abs, lambda a, out: np.sign(a))


absolute = abs


def relu(x: Any) -> Any:
    """max(x, 0).   vjp: g [x > 0]."""
    return _unary(x, lambda a: np.maximum(a, 0), lambda a, out: a > 0)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), stable.   vjp: g s (1 - s)."""
    return _unary(x, F.sigmoid, lambda a, out: out * (1 - out))


def tanh(x: Any) -> Any:
    """tanh(x).   vjp: g (1 - tanh(x)^2)."""
    return _unary(x, np.tanh, lambda a, out: 1 - out * out)


def sin(x: Any) -> Any:
    """sin(x).   vjp: g cos(x)."""
    return _unary(x, np.sin, lambda a, out: np.cos(a))


def cos(x: Any) -> Any:
    """cos(x).   vjp: -g sin(x)."""
    return _unary(x, np.cos, lambda a, out: -np.sin(a))


def softplus(x: Any) -> Any:
    """log(1 + exp(x)), stable.   vjp: g sigmoid(x)."""
    return _unary(x, lambda a: np.logaddexp(0, a).astype(a.dtype), lambda a, out: F.sigmoid(a))


def clip(x: Any, x_min: Any, x_max: Any) -> Any:
    """min(max(x, x_min), x_max).   vjp: g where x_min <= x <= x_max, else 0 (PyTorch's)."""
    return _unary(
        x,
        lambda a: np.clip(a, x_min, x_max),
        lambda a, out: (a >= x_min) & (a <= x_max),
    )


def softmax(x: Any, axis: int = -1) -> Any:
    """s = exp(x - max) / sum(exp(x - max)) along ``axis``.
    vjp: s (g - sum(g s, axis))."""
    (a,), items, tape = _args(x)
    out = F.softmax(np.asarray(a), axis=axis)
    return _result(
        out,
        items,
        tape,
        lambda g: (out * (g - np.sum(g * out, axis=axis, keepdims=True)),),
    )


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis``.   vjp: g - softmax(x) sum(g, axis)."""
    (a,), items, tape = _args(x)
    out = F.log_softmax(np.asarray(a), axis=axis)
    return _result(
        out, items, tape, lambda g: (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)
    )


def cast(x: Any, dtype: Any) -> Any:
    """x as ``dtype``.   vjp: g cast back to x's dtype (none for integer inputs or outputs)."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    out = a.astype(np.dtype(dtype))
    if out.dtype.kind != "f" or a.dtype.kind != "f":
        return out  # no gradient through integers, as in Keras
    return _result(out, items, tape, lambda g: (g.astype(a.dtype),))


def stop_gradient(variable: Any) -> Any:
    """The values, with no gradient flowing back."""
    (a,), _, _ = _args(variable)
    return np.asarray(a)


# ------------------------------------------------------------------ reductions
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """sum over ``axis``.   vjp: g broadcast back over the summed axes."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    axes = _axes(axis, a.ndim)
    out = np.sum(a, axis=axes, keepdims=keepdims)
    return _result(
        out, items, tape, lambda g: (np.broadcast_to(_expand(g, axes, keepdims), a.shape),)
    )


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """mean over ``axis`` (n values).   vjp: g / n broadcast back."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    if a.dtype.kind != "f":
        a = a.astype(np.float32)
    axes = _axes(axis, a.ndim)
    n = int(np.prod([a.shape[i] for i in axes])) if a.ndim else 1
    out = np.mean(a, axis=axes, keepdims=keepdims)
    return _result(
        out,
        items,
        tape,
        lambda g: (np.broadcast_to(_expand(g, axes, keepdims) / n, a.shape),),
    )


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Variance over ``axis`` (n values, divided by n).   vjp: g 2 (x - mean) / n."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    axes = _axes(axis, a.ndim)
    n = int(np.prod([a.shape[i] for i in axes])) if a.ndim else 1
    centered = a - np.mean(a, axis=axes, keepdims=True)
    out = np.mean(centered * centered, axis=axes, keepdims=keepdims)
    return _result(out, items, tape, lambda g: (_expand(g, axes, keepdims) * 2 * centered / n,))


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Standard deviation over ``axis``: sqrt(var).   vjp: g (x - mean) / (n std)."""
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """max over ``axis``.   vjp: g to the maximal entries, split evenly among ties."""
    return _extreme(np.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """min over ``axis``.   vjp: g to the minimal entries, split evenly among ties."""
    return _extreme(np.min, x, axis, keepdims)


def _extreme(reduce: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    axes = _axes(axis, a.ndim)
    kept = reduce(a, axis=axes, keepdims=True)
    out = kept if keepdims else np.squeeze(kept, axis=axes)

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        hit = (a == kept).astype(g.dtype)
        return (_expand(g, axes, keepdims) * hit / np.sum(hit, axis=axes, keepdims=True),)

    return _result(out, items, tape, vjp)


# -------------------------------------------------------------------- shapes
def reshape(x: Any, newshape: Any) -> Any:
    """x with shape ``newshape`` (one -1 allowed).   vjp: g reshaped to x's shape."""
    (a,), items, tape = _args(x)
    shape = np.shape(a)
    return _result(np.reshape(a, newshape), items, tape, lambda g: (g.reshape(shape),))


def transpose(x: Any, axes: Any = None) -> Any:
    """x with its axes permuted (reversed by default).   vjp: g with the inverse permutation."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    perm = tuple(range(a.ndim))[::-1] if axes is None else tuple(axes)
    inverse = tuple(np.argsort(perm))
    return _result(np.transpose(a, perm), items, tape, lambda g: (np.transpose(g, inverse),))


def expand_dims(x: Any, axis: Any) -> Any:
    """x with a new axis of size 1.   vjp: g reshaped to x's shape."""
    (a,), items, tape = _args(x)
    shape = np.shape(a)
    return _result(np.expand_dims(a, axis), items, tape, lambda g: (g.reshape(shape),))


def squeeze(x: Any, axis: Any = None) -> Any:
    """x without its axes of size 1 (or only ``axis``).   vjp: g reshaped to x's shape."""
    (a,), items, tape = _args(x)
    shape = np.shape(a)
    return _result(np.squeeze(a, axis=axis), items, tape, lambda g: (g.reshape(shape),))


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    """The tensors joined along ``axis``.   vjp: g split back into their sizes."""
    values, items, tape = _args(*xs)
    values = [np.asarray(v) for v in values]
    ends = np.cumsum([v.shape[axis] for v in values])[:-1]
    return _result(
        np.concatenate(values, axis=axis),
        items,
        tape,
        lambda g: tuple(np.split(g, ends, axis=axis)),
    )


def stack(x: Sequence[Any], axis: int = 0) -> Any:
    """The tensors stacked along a new ``axis``.   vjp: g's slices along that axis."""
    values, items, tape = _args(*x)
    out = np.stack(values, axis=axis)
    return _result(
        out,
        items,
        tape,
        lambda g: tuple(np.take(g, k, axis=axis) for k in range(len(values))),
    )


def where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    """x1 where ``condition``, else x2.   vjp: (g [condition], g [not condition])."""
    if x1 is None or x2 is None:
        raise NotImplementedError(
            "ops.where(condition) without x1 and x2 (the indices of true entries) is not "
            "implemented in engram.nn.ops. Pass where(condition, x1, x2)."
        )
    cond = np.asarray(_plain_value(condition)).astype(bool)
    (a, b), items, tape = _args(x1, x2)
    sa, sb = _shape(a), _shape(b)
    return _result(
        np.where(cond, a, b),
        items,
        tape,
        lambda g: (_unbroadcast(g * cond, sa), _unbroadcast(g * ~cond, sb)),
    )


def take_index(x: Any, key: Any) -> Any:
    """x[key] (Python indexing on a traced tensor).   vjp: g added into zeros at ``key``."""
    (a,), items, tape = _args(x)
    a = np.asarray(a)
    key = _plain_value(key) if not isinstance(key, tuple) else tuple(map(_plain_value, key))

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        full = np.zeros(a.shape, g.dtype)
        np.add.at(full, key, g)
        return (full,)

    return _result(a[key], items, tape, vjp)


# -------------------------------------------------------------- linear algebra
def matmul(x1: Any, x2: Any) -> Any:
    """x1 @ x2 (batched, broadcasting).
    vjp: (g @ x2^T, x1^T @ g), summed over broadcast batch axes; 1-D inputs as rows/columns."""
    (a, b), items, tape = _args(x1, x2)
    a, b = np.asarray(a), np.asarray(b)
    out = np.matmul(a, b)

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g.reshape(np.matmul(a2, b2).shape)
        ga = _unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        gb = _unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb

    return _result(out, items, tape, vjp)


def dot(x1: Any, x2: Any) -> Any:
    """Keras's dot for vectors and matrices (matmul; a scalar product of two vectors).
    vjp: that of `matmul`."""
    (a, b), _, _ = _args(x1, x2)
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise NotImplementedError(
            "ops.dot of inputs with more than 2 axes is not implemented in engram.nn.ops. "
            "Use ops.matmul (batched) or reshape to matrices."
        )
    return matmul(x1, x2)


# ------------------------------------------------------- no derivative (values)
def _plain_value(x: Any) -> Any:
    x = _read(x)
    return x.value if isinstance(x, Tensor) else x


def _values(*xs: Any) -> list[np.ndarray]:
    return [np.asarray(_plain_value(x)) for x in xs]


def _compare(fn: Any) -> Any:
    def op(x1: Any, x2: Any) -> np.ndarray:
        a, b = _values(x1, x2)
        return fn(a, b)

    op.__name__ = fn.__name__
    op.__doc__ = f"np.{fn.__name__} elementwise (booleans; no gradient)."
    return op


equal = _compare(np.equal)
not_equal = _compare(np.not_equal)
greater = _compare(np.greater)
greater_equal = _compare(np.greater_equal)
less = _compare(np.less)
less_equal = _compare(np.less_equal)
logical_and = _compare(np.logical_and)
logical_or = _compare(np.logical_or)


def logical_not(x: Any) -> np.ndarray:
    """not x, elementwise (no gradient)."""
    return np.logical_not(_values(x)[0])


def sign(x: Any) -> np.ndarray:
    """-1, 0 or 1 elementwise (no gradient: its derivative is 0 almost everywhere)."""
    return np.sign(_values(x)[0])


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """Index of the largest entry along ``axis`` (int32, as Keras returns it)."""
    return np.argmax(_values(x)[0], axis=axis, keepdims=keepdims).astype(np.int32)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """Index of the smallest entry along ``axis`` (int32)."""
    return np.argmin(_values(x)[0], axis=axis, keepdims=keepdims).astype(np.int32)


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None) -> np.ndarray:
    """Integer labels -> one-hot vectors along ``axis`` (float32 by default; no gradient)."""
    labels = _values(x)[0].astype(np.int64)
    eye = np.eye(int(num_classes), dtype=np.dtype(dtype or "float32"))
    out = np.where(((labels >= 0) & (labels < num_classes))[..., None], eye[labels], 0)
    out = out.astype(eye.dtype)
    return out if axis == -1 else np.moveaxis(out, -1, axis)


def shape(x: Any) -> tuple[int, ...]:
    """The shape, as a tuple of ints."""
    return tuple(np.shape(_plain_value(x)))


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None) -> Any:
    """An array (a traced tensor passes through). Python floats become float32, as Keras's
    floatx."""
    x = _read(x)
    if isinstance(x, Tensor):
        return x if dtype is None else cast(x, dtype)
    array = np.asarray(x)
    if dtype is not None:
        return array.astype(np.dtype(dtype))
    if array.dtype == np.float64 and not isinstance(x, np.ndarray):
        return array.astype(np.float32)
    return array


def convert_to_numpy(x: Any) -> np.ndarray:
    """The values as a NumPy array (no gradient)."""
    return np.array(_plain_value(x))


def zeros(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.zeros(shape, dtype=np.dtype(dtype or "float32"))


def ones(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.ones(shape, dtype=np.dtype(dtype or "float32"))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return np.full(shape, fill_value, dtype=np.dtype(dtype or "float32"))


def zeros_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.zeros_like(_values(x)[0], dtype=dtype)


def ones_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.ones_like(_values(x)[0], dtype=dtype)


#: every op this module implements (with or without a derivative)
IMPLEMENTED = tuple(
    sorted(
        name
        for name, value in dict(globals()).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == __name__
        and name != "take_index"
    )
)


# ------------------------------------------------------- on symbolic tensors
def _symbolic_kind(args: tuple, kwargs: dict) -> str | None:
    """ "scalar" when an argument is a recipe reduced over the batch (`op_call.ScalarTensor`),
    "graph" when one is a symbolic tensor, else None."""
    kind = None
    for value in (*args, *kwargs.values()):
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if getattr(item, "is_scalar_recipe", False):
                return "scalar"
            if isinstance(item, SymbolicTensor):
                kind = "graph"
    return kind


def on_graph(fn: Any) -> Any:
    """``fn`` as an op that also takes symbolic tensors (a model's traced ``call``, or the
    functional API): there it records one `engram.nn.layers.op_call.OpCall` node (through
    `engram.nn.graph.OP_RECORDERS`, which op_call fills when imported), whose forward
    is ``fn`` on a tape and whose backward is ``fn``'s own vjp; on arrays and traced tensors it
    is ``fn``."""

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        kind = _symbolic_kind(args, kwargs) if args or kwargs else None
        if kind is None:
            return fn(*args, **kwargs)
        record, scalar = OP_RECORDERS  # registered by engram.nn.layers.op_call
        if kind == "scalar":
            return scalar(fn, args, kwargs)
        return record(fn, args, kwargs, is_symbolic, fn.__name__)

    return op


def _symbolic_shape(fn: Any) -> Any:
    @functools.wraps(fn)
    def op(x: Any) -> Any:
        return x.shape if isinstance(x, SymbolicTensor) else fn(x)

    return op


for _name in (*IMPLEMENTED, "take_index"):
    if _name == "shape":  # a symbolic tensor's shape, None for the batch, as Keras gives it
        globals()[_name] = _symbolic_shape(globals()[_name])
    elif _name != "convert_to_numpy":
        globals()[_name] = on_graph(globals()[_name])
del _name

tape_module.OPS[:] = [sys.modules[__name__]]  # Python's operators on traced tensors use these


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"keras.ops.{name} is not implemented in engram.nn.ops. Implemented: "
        f"{', '.join(sorted(set(IMPLEMENTED)))}."
    )
