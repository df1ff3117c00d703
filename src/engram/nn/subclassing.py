"""Model subclassing, as in Keras: layers as attributes, ``call`` traced once into the graph.

    class Classifier(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = Dense(64, activation="relu")
            self.out = Dense(10, activation="softmax")

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

The first time the model meets inputs (``model(x)``, ``build(input_shape)``, ``fit``,
``evaluate``, ``predict``, ``compute_gradients``, or a call inside another model), ``call`` runs
once on symbolic tensors of the inputs' shape: each layer call and merge is recorded as a node of
the same `Graph` a functional model runs, so backward is still each layer's own. What ``call``
may contain is what a graph can record: layer calls, merge layers (``layers.add``,
``layers.concatenate``, ...), ``a + b``, ``a - b``, ``a * b`` between tensors, and Python
control flow that does not depend on values (loops over a list of layers). Anything else
(NumPy on a tensor, ``if`` on its values or on ``training``) raises a TypeError saying what to
write instead (see `engram.nn.graph.untraceable`).

The model's `layers` are those assigned as attributes (directly, or in a list, tuple or dict),
in assignment order, as Keras tracks them: that is the order of `get_weights`, `set_weights`
and the rows of `summary`. A layer with weights created inside ``call`` is refused (Keras would
create fresh weights at every call and never train them).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from engram.nn.graph import SymbolicTensor, TraceNames, TracingTraining, shape_str, trace_name
from engram.nn.layers.base import Layer, _name_counters, _snake
from engram.nn.layers.op_call import LossCarrier, ScalarTensor
from engram.nn.layers.reshape import Input
from engram.validation import check_array

_MODEL_KWARGS = ("trainable", "dtype")


def check_model_kwargs(kwargs: dict[str, Any]) -> bool:
    """Keras's ``Model.__init__(**kwargs)``: ``trainable`` and ``dtype`` (float32); returns the
    trainable flag.

    Raises:
        TypeError: an argument Keras's Model does not take either.
        NotImplementedError: a dtype other than float32.
    """
    unknown = [key for key in kwargs if key not in _MODEL_KWARGS]
    if unknown:
        raise TypeError(
            f"Model.__init__() got unexpected keyword arguments {unknown}. It takes inputs, "
            "outputs, name, seed, trainable and dtype."
        )
    dtype = kwargs.get("dtype")
    if dtype is not None and np.dtype(dtype) != np.float32:
        raise NotImplementedError(
            f"Model(dtype={dtype!r}) is not supported: models compute in float32. Use "
            "model.astype(...) after building to change the weights' dtype."
        )
    return bool(kwargs.get("trainable", True))


def subclass_init(model: Any, name: Any, seed: Any, kwargs: dict[str, Any]) -> None:
    """``super().__init__(**kwargs)`` of a subclassed model: a name from the class's name
    (``MyModel`` -> ``my_model``, ``my_model_1``, ... as Keras names them), no graph yet."""
    trainable = check_model_kwargs(kwargs)
    if name is None:
        base = _snake(type(model).__name__)
        count = next(_name_counters[base])
        name = base if count == 0 else f"{base}_{count}"
    elif not isinstance(name, str):
        raise TypeError(f"Model name must be a string. Received: name={name!r}.")
    model._init_model(name, seed)
    model._tracked = {}
    model._trainable = trainable


def _holds_layers(value: Any) -> bool:
    if isinstance(value, Layer):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value)


def track_attribute(model: Any, name: str, value: Any) -> None:
    """Record a layer (or a list/tuple/dict of layers) assigned to a public attribute."""
    if name.startswith("_") or not _holds_layers(value):
        return
    tracked = model.__dict__.get("_tracked")
    if tracked is None:
        if "rng" not in model.__dict__:  # Model.__init__ has not run yet
            raise RuntimeError(
                f"{type(model).__name__}.__init__ sets the layer attribute {name!r} before "
                "calling super().__init__(). Call super().__init__(**kwargs) first, as Keras "
                "requires."
            )
        return  # a functional model tracks its layers through its graph
    tracked[name] = value


def tracked_layers(model: Any) -> list[Layer]:
    """The layers assigned as attributes, in assignment order (lists flattened in place)."""
    found: dict[int, Layer] = {}
    for value in model.__dict__.get("_tracked", {}).values():
        if isinstance(value, dict):
            items = list(value.values())
        else:
            items = list(value) if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, Layer):
                found.setdefault(id(item), item)
    return list(found.values())


def trace_for_shape(model: Any, input_shape: Any) -> None:
    """Trace ``call`` for inputs of ``input_shape`` (batch axis first; a list for several)."""
    if input_shape is None:
        raise ValueError(
            f"{type(model).__name__} is a subclassed model: it is built by tracing its call() "
            "on inputs. Call it on data (model(x), fit, predict) or call "
            "model.build(input_shape) with the batch axis first, e.g. build((None, 784))."
        )
    multi = isinstance(input_shape, list) and all(isinstance(s, (list, tuple)) for s in input_shape)
    shapes = list(input_shape) if multi else [input_shape]
    _trace(model, [(tuple(s), "float32") for s in shapes], multi)


def trace_for_data(model: Any, x: Any, name: str) -> None:
    """Trace ``call`` for the shapes and dtypes of the arrays ``x`` (the batch size as given,
    which Keras's summary shows too)."""
    if isinstance(x, dict):
        raise NotImplementedError(
            f"{name} is a dict, but a subclassed model's call() receives its inputs as given; "
            "dict inputs are not supported. Pass a list of arrays in call()'s order."
        )
    multi = isinstance(x, (list, tuple))
    specs = []
    for k, arr in enumerate(x if multi else [x]):
        arr = check_array(arr, f"{name}[{k}]" if multi else name, dtype=None)
        shape = arr.shape if arr.ndim > 1 else (*arr.shape, 1)
        dtype = arr.dtype.name if arr.dtype.kind in "iu" else "float32"
        specs.append((shape, dtype))
    _trace(model, specs, multi)


def _takes_training(call: Any) -> bool:
    params = inspect.signature(call).parameters.values()
    return any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in params)


def _trace(model: Any, specs: list[tuple[tuple, str]], multi: bool) -> None:
    inputs = [Input(shape=shape[1:], batch_size=shape[0], dtype=dtype) for shape, dtype in specs]
    args = inputs if multi else inputs[0]
    kwargs = {"training": TracingTraining()} if _takes_training(model.call) else {}
    model._trace_losses = []
    try:
        with TraceNames():
            outputs = model.call(args, **kwargs)
        _check_outputs(model, outputs)
        outputs = _carry_losses(model, outputs)
        model._set_graph(args, list(outputs) if isinstance(outputs, tuple) else outputs)
        _check_untracked(model)
    except BaseException:
        model.__dict__.pop("_trace_losses", None)
        model.graph, model.built = None, False
        for layer in tracked_layers(model):  # a failed trace leaves no shape behind
            if not layer.built:
                layer.__dict__.pop("_first_call_shape", None)
        raise
    if not model._trainable:
        model.trainable = False
    compile_args = model.__dict__.get("_compile_args")
    if compile_args is not None and len(model.graph.outputs) > 1:
        model.compile(model.optimizer, *compile_args)  # per-output losses, now that they exist


def _carry_losses(model: Any, outputs: Any) -> Any:
    """The values ``call`` gave ``self.add_loss``, computed by a `LossCarrier` node on the
    output's path (the output passes through it unchanged), so that every pass adds them."""
    losses = model.__dict__.pop("_trace_losses", None)
    if not losses:
        return outputs
    if isinstance(outputs, (list, tuple)):
        raise NotImplementedError(
            f"{type(model).__name__}.call() calls self.add_loss(...) and returns several "
            "outputs; engram carries add_loss values of a model's call for a single output "
            "only. Call self.add_loss inside a custom Layer's call() instead."
        )
    carrier = LossCarrier(losses, name=trace_name("add_loss"))
    return carrier([outputs, *carrier.sources])


def _check_outputs(model: Any, outputs: Any) -> None:
    if isinstance(outputs, dict):
        raise NotImplementedError(
            f"{type(model).__name__}.call() returned a dict; dict outputs are not supported. "
            "Return a tensor or a list of tensors."
        )
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for item in items:
        if isinstance(item, ScalarTensor):
            raise item.refusal()
        if not isinstance(item, SymbolicTensor):
            raise TypeError(
                f"{type(model).__name__}.call() returned {type(item).__name__}; it must return "
                "the output of layer calls on its inputs (a tensor, or a list of tensors)."
                + (" Did you forget `return`?" if item is None else "")
            )


def _check_untracked(model: Any) -> None:
    tracked = {id(layer) for layer in tracked_layers(model)}
    for layer in model.graph.layers:
        if id(layer) not in tracked and layer.get_weights():
            raise ValueError(
                f"{type(layer).__name__} layer {layer.name!r} is created inside "
                f"{type(model).__name__}.call(), so the model does not track its weights "
                "(Keras would create new ones at every call). Create it once in __init__, "
                f"e.g. self.{layer.name} = {type(layer).__name__}(...), and call that in call()."
            )


def summary_rows(model: Any, type_name: Any) -> list[tuple[str, str, str]]:
    """Keras's summary rows of a subclassed model: every tracked layer, the shape of its first
    call's output ("?" if call() never used it) and its parameters ("0 (unbuilt)");
    ``type_name(layer)`` is the type shown."""
    first: dict[int, Any] = {}
    for node in model.graph.nodes if model.graph is not None else []:
        first.setdefault(id(node.layer), node)
    rows = []
    for layer in tracked_layers(model):
        node = first.get(id(layer))
        known = node is not None and layer.declares_output_shape  # Keras: "?" when unknown
        shape = shape_str(node.outputs[0].shape) if known else "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type_name(layer)})", shape, params))
    return rows


def add_loss(model: Any, value: Any) -> bool:
    """``self.add_loss(value)`` in a subclassed model's call while it is traced: kept for
    `_carry_losses` (a batch tensor is summed, as Keras sums a non-scalar loss); False when
    no trace is running (the caller then treats it as a layer's add_loss)."""
    pending = model.__dict__.get("_trace_losses")
    if pending is None:
        return False
    if isinstance(value, SymbolicTensor):
        from engram.nn import ops

        value = ops.sum(value)
    if not isinstance(value, ScalarTensor):
        raise TypeError(
            f"{type(model).__name__}.call() gave add_loss a {type(value).__name__}; inside a "
            "model's call() it takes a value computed with engram.nn.ops from the call's "
            "tensors (e.g. ops.mean(...))."
        )
    pending.append(value)
    return True
