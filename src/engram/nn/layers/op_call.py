"""An `engram.nn.ops` call on symbolic tensors, recorded as one node of a model's graph.

In a subclassed model's ``call`` (traced once on symbolic tensors) or a functional model,
``ops.relu(x)``, ``x * 2.0`` or ``random.dropout(x, 0.5, seed=gen)`` cannot compute anything
yet. Each becomes an `OpCall`: a layer without weights whose ``call`` is the op itself, with
the other arguments (numbers, arrays, a `SeedGenerator`) kept as they were given:

    forward:   y = op(x_1, ..., x_k, *constants)       run on a tape (`engram.nn.layers.custom`)
    backward:  dL/dx_i from the tape: the op's own vjp (written beside it in `engram.nn.ops`)

so gradients stay the op's hand-written derivative. The output shape is that of the op on zero
batches of 1 and 2 samples; an op whose output has no batch axis first (``ops.sum(x)`` over
every axis, ``ops.mean(x, axis=0)``) is refused with what to write instead. A random op draws
afresh at every forward pass (a `SeedGenerator` advances), as Keras's eager ``call`` does.

Keras's summary of a functional model lists such a call as a row (``relu (Relu)``), and
``model.layers`` leaves it out; a subclassed model's summary lists only its attributes' layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn.graph import trace_name
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
        raise TypeError(
            f"ops.{op_name} on the symbolic tensor {inputs[0].name!r} gives an output without "
            "the batch axis first, which a traced model call cannot hold (engram traces call() "
            "once into a graph whose tensors all keep the batch axis first). Reduce over the "
            f"other axes only (e.g. axis=-1), or write that step in a custom Layer's call(). "
            f"({exc})"
        ) from None
