"""An `engram.nn.ops` call on symbolic tensors, recorded as one node of a model's graph.

In a subclassed model's ``call`` (traced once on symbolic tensors) or a functional model,
``ops.relu(x)``, ``x * 2.0`` or ``random.dropout(x, 0.5, seed=gen)`` cannot compute anything
yet. Each becomes an `OpCall`: a layer without weights whose ``call`` is the op itself, with
the other arguments (numbers, arrays, a `SeedGenerator`) kept as they were given:

    forward:   y = op(x_1, ..., x_k, *constants)       run on a tape (`engram.nn.layers.custom`)
    backward:  dL/dx_i from the tape: the op's own vjp (written beside it in `engram.nn.ops`)

so gradients stay the op's hand-written derivative. The output shape is that of the op on zero
batches of 1 and 2 samples. An op whose output has no batch axis first (``ops.mean(x)`` over
every axis) gives, in a subclassed model's call, a `ScalarTensor`: a recipe that only
``self.add_loss`` takes (a `LossCarrier` node computes it at every pass); elsewhere it is
refused with what to write instead. A random op draws afresh at every forward pass (a
`SeedGenerator` advances), as Keras's eager ``call`` does.

Keras's summary of a functional model lists such a call as a row (``relu (Relu)``), and
``model.layers`` leaves it out; a subclassed model's summary lists only its attributes' layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.graph import OP_RECORDERS, trace_name, tracing
from engram.nn.layers.base import Layer
from engram.nn.layers.custom import NoBatchAxis
from engram.nn.tape import probing


class _Slot:
    """Where the k-th symbolic tensor goes among the op's arguments."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __deepcopy__(self, memo: Any) -> _Slot:
        return self


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _fill(value: Any, inputs: list[Any]) -> Any:
    if isinstance(value, _Slot):
        return inputs[value.k]
    if isinstance(value, (list, tuple)) and any(isinstance(v, _Slot) for v in value):
        return type(value)(_fill(v, inputs) for v in value)
    return value


class OpCall(Layer):
    """One op applied to symbolic tensors (see the module). Created by `record`."""

    is_op_call = True

    def __init__(self, fn: Any, args: tuple, kwargs: dict, n_inputs: int, name: str) -> None:
        super().__init__(name=name)
        self.fn = fn
        self.op_args = args
        self.op_kwargs = kwargs
        self.n_inputs = n_inputs

    def call(self, inputs: Any) -> Any:
        values = list(inputs) if self.n_inputs > 1 else [inputs]
        args = tuple(_fill(a, values) for a in self.op_args)
        kwargs = {k: _fill(v, values) for k, v in self.op_kwargs.items()}
        if probing():  # the shape probe runs the op on zeros (log(0), 0 / 0): no warnings
            with np.errstate(all="ignore"):
                return self.fn(*args, **kwargs)
        return self.fn(*args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"The ops.{self.fn.__name__} call {self.name!r} in this model's graph is Python "
            "code and has no config; saving and get_config() of a model with ops calls are not "
            "supported. Write that step as a built-in layer (layers.Activation, layers.Add, ...) "
            "to save the model."
        )


#: one OpCall subclass per op, named as Keras names the op's class (``Relu``, ``Multiply``), so
#: that summaries show Keras's type
_classes: dict[str, type] = {}


def _class_for(op_name: str) -> type:
    cls = _classes.get(op_name)
    if cls is None:
        cls = type(_camel(op_name), (OpCall,), {"__module__": __name__})
        _classes[op_name] = cls
    return cls


def record(fn: Any, args: tuple, kwargs: dict, is_symbolic: Any, op_name: str) -> Any:
    """``fn(*args, **kwargs)`` where some arguments are symbolic tensors: a new `OpCall` node
    on them; returns its output tensor(s)."""
    from engram.nn.tape import Variable

    inputs: list[Any] = []

    def slot(value: Any) -> Any:
        if isinstance(value, Variable):
            raise TypeError(
                f"ops.{op_name} in a model's call() reads the weight {value.name!r}: engram "
                "traces a model's call() into a graph of layers, where a weight belongs to a "
                "layer. Create the weight in a custom Layer (add_weight in build) and call that "
                "layer in call()."
            )
        if is_symbolic(value) and not isinstance(value, (list, tuple)):
            inputs.append(value)
            return _Slot(len(inputs) - 1)
        if isinstance(value, (list, tuple)) and is_symbolic(value):
            return type(value)(slot(v) for v in value)
        return value

    template = tuple(slot(a) for a in args)
    kw_template = {k: slot(v) for k, v in kwargs.items()}
    layer = _class_for(op_name)(fn, template, kw_template, len(inputs), name=trace_name(op_name))
    try:
        return layer(inputs if len(inputs) > 1 else inputs[0])
    except NoBatchAxis as exc:
        if tracing():  # in a subclassed model's call: a recipe for self.add_loss
            return scalar(fn, args, kwargs)
        raise TypeError(
            f"ops.{op_name} on the symbolic tensor {inputs[0].name!r} gives an output without "
            "the batch axis first, which a traced model call cannot hold (engram traces call() "
            "once into a graph whose tensors all keep the batch axis first). Reduce over the "
            f"other axes only (e.g. axis=-1), or write that step in a custom Layer's call(). "
            f"({exc})"
        ) from None


# ------------------------------------------------- add_loss in a model's call
class ScalarTensor:
    """A value reduced over the batch inside a traced model call (``ops.mean(x)`` over every
    axis, Keras's KL term): not a tensor of the graph, but a recipe that `LossCarrier`
    computes from the graph's tensors at every pass. It may only reach ``self.add_loss``."""

    is_scalar_recipe = True

    def __init__(self, fn: Any, args: tuple, kwargs: dict, sources: list[Any]) -> None:
        self.fn, self.args, self.kwargs, self.sources = fn, args, kwargs, sources

    def symbolic_inputs(self) -> list[Any]:
        """The graph tensors it is computed from (through other scalars too), each once."""
        found: dict[int, Any] = {}
        for source in self.sources:
            for t in source.symbolic_inputs() if isinstance(source, ScalarTensor) else [source]:
                found.setdefault(id(t), t)
        return list(found.values())

    def evaluate(self, values: dict[int, Any]) -> Any:
        """Its value from the values (traced tensors) of its graph tensors, by id."""
        filled = [
            s.evaluate(values) if isinstance(s, ScalarTensor) else values[id(s)]
            for s in self.sources
        ]
        args = tuple(_fill(a, filled) for a in self.args)
        return self.fn(*args, **{k: _fill(v, filled) for k, v in self.kwargs.items()})

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.refusal()

    def refusal(self) -> TypeError:
        """The error for any use other than ``add_loss``."""
        return TypeError(
            "A value reduced over the batch axis inside a model's call() (ops.mean, ops.sum, "
            f"... over every axis; used here by ops.{self.fn.__name__}) is not a tensor of the "
            "graph: engram traces call() into a graph whose tensors keep the batch axis, so "
            "such a value can only be passed to self.add_loss(...). Reduce over the other axes "
            "(axis=-1) to keep using it, or compute it in a custom Layer's call()."
        )

    # Python's operators: each one more op of the recipe
    def _op(self, name: str, *args: Any) -> Any:
        from engram.nn import ops

        return getattr(ops, name)(*args)

    def __add__(self, other: Any) -> Any:
        return self._op("add", self, other)

    def __radd__(self, other: Any) -> Any:
        return self._op("add", other, self)

    def __sub__(self, other: Any) -> Any:
        return self._op("subtract", self, other)

    def __rsub__(self, other: Any) -> Any:
        return self._op("subtract", other, self)

    def __mul__(self, other: Any) -> Any:
        return self._op("multiply", self, other)

    def __rmul__(self, other: Any) -> Any:
        return self._op("multiply", other, self)

    def __truediv__(self, other: Any) -> Any:
        return self._op("divide", self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return self._op("divide", other, self)

    def __pow__(self, other: Any) -> Any:
        return self._op("power", self, other)

    def __neg__(self) -> Any:
        return self._op("negative", self)

    def __bool__(self) -> bool:
        raise self.refusal()

    def __repr__(self) -> str:
        return f"<ScalarTensor ops.{self.fn.__name__}(...)>"


def scalar(fn: Any, args: tuple, kwargs: dict) -> ScalarTensor:
    """An op with a `ScalarTensor` among its arguments: a longer recipe."""
    from engram.nn.graph import SymbolicTensor

    sources: list[Any] = []

    def slot(value: Any) -> Any:
        if isinstance(value, (ScalarTensor, SymbolicTensor)):
            sources.append(value)
            return _Slot(len(sources) - 1)
        if isinstance(value, (list, tuple)) and any(
            isinstance(v, (ScalarTensor, SymbolicTensor)) for v in value
        ):
            return type(value)(slot(v) for v in value)
        return value

    template = tuple(slot(a) for a in args)
    return ScalarTensor(fn, template, {k: slot(v) for k, v in kwargs.items()}, sources)


OP_RECORDERS[:] = [record, scalar]  # engram.nn.ops records its symbolic calls through these


class LossCarrier(Layer):
    """Carries the ``add_loss`` values of a subclassed model's call: its output is the model's
    output unchanged (the identity, gradient included), and its call computes each loss from
    the graph tensors it reads and adds it with ``add_loss``, so that the tape seeds it with 1
    and its gradient flows back into those tensors, as in a custom layer."""

    is_op_call = True

    def __init__(self, losses: list[ScalarTensor], name: str | None = None) -> None:
        super().__init__(name=name)
        self.loss_recipes = losses
        self.sources = list({id(t): t for s in losses for t in s.symbolic_inputs()}.values())

    def call(self, inputs: Any) -> Any:
        output, *values = inputs
        by_id = {id(t): v for t, v in zip(self.sources, values, strict=True)}
        with np.errstate(all="ignore") if probing() else _nothing():
            for recipe in self.loss_recipes:
                self.add_loss(recipe.evaluate(by_id))
        return output


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
