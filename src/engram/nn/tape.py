"""Traced tensors, weights as variables, and the tape that differentiates `engram.nn.ops`.

Reverse-mode differentiation, micrograd-style, with one tape per call of a custom layer's
``call`` (or of a loss written with ops):

    forward:   an op on a traced `Tensor` computes its value with NumPy and appends one entry
               (inputs, output, vjp) to the tape its inputs share
    backward:  g[out] = seed;   for each entry, last first:   g[in_k] += vjp(g[out])[k]

``vjp`` is the op's vector-Jacobian product, written by hand beside its forward in `ops`. An op
whose inputs are all plain arrays records nothing and returns an array (ops run eagerly on
NumPy arrays). A `Variable` (what ``Layer.add_weight`` and ``Metric.add_variable`` return) is
read as an array outside a tape, and as a leaf of the active tape inside one: its gradient is
``g[leaf]`` after backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the tape of the custom-layer call now running (innermost last); ops read weights on it
_active: list[Tape] = []


def active_tape() -> Tape | None:
    """The tape the running ``call`` records on, or None outside one."""
    return _active[-1] if _active else None


#: `engram.nn.ops`, which registers itself here when imported (this module imports no op:
#: the operators below dispatch to the module that imports this one)
OPS: list[Any] = []


def _ops() -> Any:
    return OPS[0]


class _Operators:
    """Python's operators, each one op of `engram.nn.ops` (and so differentiated by it)."""

    def __add__(self, other: Any) -> Any:
        return _ops().add(self, other)

    def __radd__(self, other: Any) -> Any:
        return _ops().add(other, self)

    def __sub__(self, other: Any) -> Any:
        return _ops().subtract(self, other)

    def __rsub__(self, other: Any) -> Any:
        return _ops().subtract(other, self)

    def __mul__(self, other: Any) -> Any:
        return _ops().multiply(self, other)

    def __rmul__(self, other: Any) -> Any:
        return _ops().multiply(other, self)

    def __truediv__(self, other: Any) -> Any:
        return _ops().divide(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return _ops().divide(other, self)

    def __pow__(self, other: Any) -> Any:
        return _ops().power(self, other)

    def __rpow__(self, other: Any) -> Any:
        return _ops().power(other, self)

    def __matmul__(self, other: Any) -> Any:
        return _ops().matmul(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return _ops().matmul(other, self)

    def __neg__(self) -> Any:
        return _ops().negative(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return _ops().abs(self)

    def __getitem__(self, key: Any) -> Any:
        return _ops().take_index(self, key)

    def __lt__(self, other: Any) -> Any:
        return _ops().less(self, other)

    def __le__(self, other: Any) -> Any:
        return _ops().less_equal(self, other)

    def __gt__(self, other: Any) -> Any:
        return _ops().greater(self, other)

    def __ge__(self, other: Any) -> Any:
        return _ops().greater_equal(self, other)


class Tensor(_Operators):
    """A value computed by ops inside a traced call: a NumPy array and its place on a tape.

    It has ``shape``, ``dtype``, ``ndim`` and Python's operators (each an op). NumPy functions
    refuse it (their result would carry no gradient): use the `engram.nn.ops` of that name.
    """

    __array_priority__ = 1000  # ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, value: np.ndarray, tape: Tape, index: int) -> None:
        self.value = value
        self.tape = tape
        self.index = index

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)

    def __len__(self) -> int:
        return len(self.value)

    def numpy(self) -> np.ndarray:
        """The values (a copy, with no gradient), as Keras's ``ops.convert_to_numpy``."""
        return np.array(self.value)

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "A traced tensor (inside a custom layer's call or a loss) cannot become a NumPy "
            "array: NumPy's result would carry no gradient. Use engram.nn.ops (ops.sum, "
            "ops.matmul, ...) as Keras programs use keras.ops, or x.numpy() for the values."
        )

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """A NumPy ufunc that `engram.nn.ops` has (``array - tensor``, ``np.exp(tensor)``)
        runs as that op, with its derivative; any other is refused."""
        op = getattr(_ops(), ufunc.__name__, None) if ufunc.__name__ in _ops().IMPLEMENTED else None
        if op is None or method != "__call__" or kwargs:
            raise TypeError(
                f"np.{ufunc.__name__} on a traced tensor would carry no gradient, and "
                f"engram.nn.ops has no {ufunc.__name__}. Use the engram.nn.ops (keras.ops) that "
                "compute it."
            )
        return op(*inputs)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"<traced Tensor shape={self.shape} dtype={self.dtype}>"


class Tape:
    """The ops of one traced call, in order, and its backward pass.

    ``losses`` holds the scalars ``add_loss`` received during the call (added to the training
    loss; backward seeds each with 1).
    """

    def __init__(self) -> None:
        self.entries: list[tuple[tuple[Any, ...], int, Any]] = []
        self.n = 0
        self.leaves: dict[int, tuple[Any, Tensor]] = {}  # id(variable) -> (variable, leaf)
        self.losses: list[Tensor | np.ndarray] = []
        #: id(layer) -> (layer, its weight gradients summed over its calls on this tape), for
        #: layers recorded as one entry each (a built-in layer inside a custom layer's call)
        self.layer_grads: dict[int, tuple[Any, dict[str, np.ndarray]]] = {}

    def __enter__(self) -> Tape:
        _active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _active.remove(self)

    def watch(self, value: np.ndarray) -> Tensor:
        """A new leaf: a value whose gradient backward computes (an input of the call)."""
        tensor = Tensor(value, self, self.n)
        self.n += 1
        return tensor

    def read(self, variable: Any) -> Tensor:
        """The leaf that stands for ``variable`` in this call (one per variable)."""
        found = self.leaves.get(id(variable))
        if found is None:
            found = (variable, self.watch(variable.value))
            self.leaves[id(variable)] = found
        return found[1]

    def record(self, value: np.ndarray, inputs: tuple[Any, ...], vjp: Any) -> Tensor:
        """The output of an op: ``vjp(g)`` returns one gradient (or None) per input."""
        out = self.watch(value)
        self.entries.append((inputs, out.index, vjp))
        return out

    def backward(self, seeds: list[tuple[Any, Any]]) -> list[Any]:
        """Gradients of every tensor from ``(tensor, dL/dtensor)`` seeds; a list by index
        (None where nothing flows)."""
        grads: list[Any] = [None] * self.n
        for tensor, g in seeds:
            if isinstance(tensor, Tensor) and g is not None:
                _add(grads, tensor.index, np.asarray(g, tensor.dtype))
        for inputs, out, vjp in reversed(self.entries):
            g = grads[out]
            if g is None:
                continue
            for tensor, gi in zip(inputs, vjp(g), strict=True):
                if isinstance(tensor, Tensor) and gi is not None:
                    _add(grads, tensor.index, gi)
        return grads

    def sum_layer_grads(self, layer: Any) -> None:
        """Add the ``grads`` a layer's backward just wrote to its sums over this tape."""
        total = self.layer_grads.setdefault(id(layer), (layer, {}))[1]
        for key, grad in layer.grads.items():
            total[key] = total[key] + grad if key in total else np.array(grad)

    def write_layer_grads(self) -> None:
        """After backward: each such layer's ``grads`` become the sums over its calls."""
        for layer, total in self.layer_grads.values():
            layer.grads.update(total)


def _add(grads: list[Any], index: int, g: np.ndarray) -> None:
    grads[index] = g if grads[index] is None else grads[index] + g


class Variable(_Operators):
    """A weight made by ``add_weight`` / ``add_variable``: its array lives in ``store[key]``.

    Outside a traced call it reads as its array (``np.asarray(v)``, ``float(v)``); inside one,
    ops read it as a leaf of the tape, so its gradient lands in the owner's ``grads[key]``.
    ``assign``/``assign_add``/``assign_sub`` replace the values (never differentiated, as in
    Keras). The owner keeps the store, so optimizers that replace arrays stay seen.
    """

    def __init__(self, store: dict[str, np.ndarray], key: str, name: str, trainable: bool):
        self.store = store
        self.key = key
        self.name = name
        self.trainable = trainable

    @property
    def value(self) -> np.ndarray:
        return self.store[self.key]

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)

    def numpy(self) -> np.ndarray:
        return np.array(self.value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if active_tape() is not None:
            raise TypeError(
                f"NumPy on the weight {self.name!r} inside call() would carry no gradient. "
                "Use engram.nn.ops (ops.matmul(inputs, self.w), ...)."
            )
        return self.value if dtype is None else self.value.astype(dtype)

    def __float__(self) -> float:
        return float(self.value)

    def assign(self, value: Any) -> Variable:
        if probing():
            return self
        new = np.asarray(value.value if isinstance(value, Tensor) else value, self.dtype)
        if new.shape != self.shape:
            raise ValueError(
                f"Variable {self.name!r} has shape {self.shape}; assign() received shape "
                f"{new.shape}."
            )
        self.store[self.key] = new.copy()
        return self

    def assign_add(self, value: Any) -> Variable:
        return self.assign(self.value + _plain(value))

    def assign_sub(self, value: Any) -> Variable:
        return self.assign(self.value - _plain(value))

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}>"


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.value
    if isinstance(value, Variable):
        return value.value
    return np.asarray(value)


_probe = [0]


class Probe:
    """While active (working out a custom layer's output shape on a zero batch), ``assign``
    and ``add_loss`` do nothing: the probe leaves no trace in the layer's state."""

    def __enter__(self) -> None:
        _probe[0] += 1

    def __exit__(self, *exc: Any) -> None:
        _probe[0] -= 1


def probing() -> bool:
    return _probe[0] > 0
