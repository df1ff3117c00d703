"""Custom layers written as Keras writes them: ``build`` with ``add_weight``, ``call`` with ops.

    class Linear(Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

A layer whose class writes ``call`` and no ``forward`` (`Layer.runs_call`) runs like this:

    forward:   call(inputs) on traced tensors: every op records its vjp on one tape
               (`engram.nn.tape`); a layer called inside (MLPBlock's Linear blocks) records on
               the same tape: its ops inline, a built-in layer as one entry whose vjp is its
               own backward
    backward:  the tape replayed in reverse from dL/d(output), plus 1 for every scalar given
               to ``add_loss`` during the call; each weight's gradient lands in its layer's
               ``grads``, the input's is returned

``build(input_shape)`` receives the shape with the batch axis (None), as in Keras; weights are
drawn from the model's generator (or, for weights made in ``__init__``, from one seeded by the
layer's name). The output shape is that of ``call`` on zero batches of 1 and 2 samples (the
batch axis is the one that follows), unless the class writes ``compute_output_shape``. While
that probe runs, ``assign`` and ``add_loss`` do nothing.

Weights in Keras's order: the layer's own trainable ones, its own non-trainable ones, then those
of the layers it holds as attributes, in assignment order (`sublayers`).
"""

from __future__ import annotations

import copy
import inspect
import zlib
from typing import Any

import numpy as np

from engram.nn import constraints as constraints_module
from engram.nn import initializers as initializers_module
from engram.nn import regularizers as regularizers_module
from engram.nn.graph import _restore, _snapshot
from engram.nn.tape import Probe, Tape, Tensor, Variable, active_tape, probing

#: generators that weights are drawn from while a model builds a layer (innermost last)
_build_rngs: list[np.random.Generator] = []
#: the ``training`` flag of the call now running (inner layers called without one follow it)
_training: list[bool] = []


def _is_layer(value: Any) -> bool:
    return hasattr(value, "params") and hasattr(value, "forward") and hasattr(value, "built")


def sublayers(layer: Any) -> list[Any]:
    """The layers held as attributes (directly or in a list, tuple or dict), in assignment
    order, each once."""
    found: dict[int, Any] = {}
    for value in vars(layer).values():
        items = list(value.values()) if isinstance(value, dict) else value
        for item in items if isinstance(items, (list, tuple)) else [items]:
            if _is_layer(item) and item is not layer:
                found.setdefault(id(item), item)
    return list(found.values())


def takes_training(call: Any) -> bool:
    params = inspect.signature(call).parameters.values()
    return any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in params)


def current_training(training: Any) -> bool:
    """``training`` as given, else the enclosing call's, else False (Keras propagates it)."""
    if training is None:
        return _training[-1] if _training else False
    return bool(training)


# ------------------------------------------------------------------- weights
def weight_rng(layer: Any) -> np.random.Generator:
    """The generator new weights are drawn from: the model's while it builds the layer, else
    one of the layer's own, seeded by its name (reproducible, different per layer)."""
    if _build_rngs:
        return _build_rngs[-1]
    rng = layer.__dict__.get("_own_rng")
    if rng is None:
        rng = np.random.default_rng(zlib.crc32(layer.name.encode()))
        layer._own_rng = rng
    return rng


def add_weight(
    layer: Any,
    shape: Any,
    initializer: Any,
    dtype: Any,
    trainable: bool,
    regularizer: Any,
    constraint: Any,
    name: str | None,
) -> Variable:
    """Create one weight (see `Layer.add_weight`)."""
    if "params" not in vars(layer):
        raise RuntimeError(
            f"{type(layer).__name__} calls add_weight before super().__init__(**kwargs). Call "
            "super().__init__(**kwargs) first, as Keras requires."
        )
    if shape is None:
        shape = ()
    shape = (int(shape),) if np.ndim(shape) == 0 and shape != () else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"add_weight(shape={shape}) needs sizes >= 0.")
    dtype = np.dtype(dtype or layer.dtype)
    if initializer is None:
        initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
    init = initializers_module.get(initializer)
    value = np.asarray(init(shape, weight_rng(layer), dtype), dtype=dtype)
    variables = layer.__dict__.setdefault("_variables", [])
    name = name or "variable"
    taken = {v.key for v in variables}
    key, k = name, 0
    while key in taken or key in layer.params:
        k += 1
        key = f"{name}_{k}"
    if trainable:
        store = layer.params
    else:
        store = layer.__dict__.setdefault("_state_store", {})
    store[key] = value
    variable = Variable(store, key, name, bool(trainable))
    variable.owner = layer
    variables.append(variable)
    layer.weight_names = tuple(
        [v.key for v in variables if v.trainable] + [v.key for v in variables if not v.trainable]
    )
    if regularizer is not None and trainable:
        layer.regularizers = {**layer.regularizers, key: regularizers_module.get(regularizer)}
    if constraint is not None and trainable:
        layer.constraints = {**layer.constraints, key: constraints_module.get(constraint)}
    return variable


def add_loss(layer: Any, value: Any) -> None:
    """A scalar added to the training loss (Keras's ``add_loss``), from inside ``call``."""
    if probing():
        return
    tape = active_tape()
    if tape is None:  # an eager call outside any model: kept for `layer.losses`
        layer._pass_losses.append(float(np.sum(np.asarray(_plain(value)))))
        return
    if isinstance(value, Tensor) and value.shape != ():
        from engram.nn import ops

        value = ops.sum(value)  # Keras sums a non-scalar loss
    tape.losses.append(value)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, (Tensor, Variable)) else value


# ------------------------------------------------------------------ building
def build(layer: Any, input_shape: Any, rng: Any, user_build: Any) -> None:
    """Build a custom layer: its ``build`` (shape with the batch axis), then one probe call on
    zeros, which builds the layers it calls and gives the output shape."""
    if layer.__dict__.get("_building"):  # the user's build called super().build(...)
        return
    layer._building = True
    if rng is not None:
        _build_rngs.append(rng)
    try:
        sample = [tuple(s) for s in input_shape] if _is_multi(input_shape) else tuple(input_shape)
        if user_build is not None:
            user_build(layer, _with_batch(sample))
        layer.input_shape = sample
        layer.built = True
        try:
            layer.output_shape = layer.compute_output_shape(sample)
        except NoBatchAxis:  # fine for eager calls; a model's graph refuses it (call_layer)
            layer.output_shape = None
    finally:
        layer._building = False
        if rng is not None:
            _build_rngs.pop()


def _is_multi(shape: Any) -> bool:
    return isinstance(shape, list) and all(isinstance(s, (list, tuple)) for s in shape)


def _with_batch(sample: Any) -> Any:
    if isinstance(sample, list):
        return [(None, *s) for s in sample]
    return (None, *sample)


def _zeros(sample: Any, batch: int) -> Any:
    if isinstance(sample, list):
        return [np.zeros((batch, *s), np.float32) for s in sample]
    return np.zeros((batch, *sample), np.float32)


class NoBatchAxis(ValueError):
    """``call`` returns an output whose first axis is not the batch."""


def probe_output_shape(layer: Any, sample: Any) -> Any:
    """The output sample shape of ``call`` on zero batches of 1 and 2 (a built layer probes
    itself, an unbuilt one a copy, so that the model builds the layer with its generator)."""
    target = layer if layer.built else copy.deepcopy(layer)
    with Probe():
        if not target.built:
            target.build(sample, np.random.default_rng(0))
        outs = [forward(target, _zeros(sample, batch), False) for batch in (1, 2)]
    multi = isinstance(outs[0], list)
    shapes = []
    for k, (one, two) in enumerate(zip(*(o if multi else [o] for o in outs), strict=True)):
        one, two = np.asarray(one), np.asarray(two)
        batch_first = one.ndim > 0 and (one.shape[0], two.shape[0]) == (1, 2)
        if not batch_first or one.shape[1:] != two.shape[1:]:
            raise NoBatchAxis(
                f"{type(layer).__name__}.call() returns an output{f' {k}' if multi else ''} of "
                f"shape {one.shape} for one sample and {two.shape} for two: engram's graphs need "
                "outputs with the batch axis first. Return a per-sample result, or write "
                "compute_output_shape(self, input_shape)."
            )
        shapes.append(tuple(one.shape[1:]))
    return shapes if multi else shapes[0]


# ---------------------------------------------------------- forward / backward
def invoke(layer: Any, inputs: Any, training: bool) -> Any:
    """``layer.call(inputs)``, with ``training`` when call takes it."""
    kwargs = {"training": training} if takes_training(layer.call) else {}
    _training.append(training)
    try:
        return layer.call(inputs, **kwargs)
    finally:
        _training.pop()


def forward(layer: Any, x: Any, training: bool) -> Any:
    """Run ``call`` on a new tape; keep (tape, input leaves, output) for `backward`."""
    tape = Tape()
    multi = isinstance(x, (list, tuple))
    with tape:
        leaves = [tape.watch(np.asarray(v)) for v in (x if multi else [x])]
        out = invoke(layer, leaves if multi else leaves[0], training)
    layer._call_record = (tape, leaves, out, multi)
    layer._pass_losses.extend(float(np.asarray(_plain(v))) for v in tape.losses)
    if isinstance(out, (list, tuple)):
        return [_output_value(o) for o in out]
    return _output_value(out)


def _output_value(out: Any) -> np.ndarray:
    if isinstance(out, Tensor):
        return out.value
    if isinstance(out, Variable):
        return np.array(out.value)
    return np.asarray(out)


def backward(layer: Any, grad_y: Any) -> Any:
    """Replay the last call's tape; fill ``grads`` of the layer and the layers it called."""
    tape, leaves, out, multi = layer._call_record
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    grads_out = list(grad_y) if isinstance(out, (list, tuple)) else [grad_y]
    seeds = [(o, g) for o, g in zip(outs, grads_out, strict=True)]
    seeds += [(loss, np.ones((), loss.dtype)) for loss in tape.losses if isinstance(loss, Tensor)]
    grads = tape.backward(seeds)
    done: set[tuple[int, str]] = set()
    for variable, leaf in tape.leaves.values():
        if variable.trainable:
            g = grads[leaf.index]
            owner = variable.owner
            owner.grads[variable.key] = np.zeros_like(variable.value) if g is None else g
            done.add((id(owner), variable.key))
    tape.write_layer_grads()
    for leaf_layer in layer._leaves():  # weights this call did not read: no gradient
        if leaf_layer.runs_call:
            for key, value in leaf_layer.params.items():
                if (id(leaf_layer), key) not in done:
                    leaf_layer.grads[key] = np.zeros_like(value)
    gx = [np.zeros_like(v.value) if grads[v.index] is None else grads[v.index] for v in leaves]
    return gx if multi else gx[0]


def call_inside(layer: Any, x: Any, training: Any) -> Any:
    """``layer(x)`` inside another layer's call (x traced, or a tape is active)."""
    training = current_training(training)
    tape = active_tape()
    if not layer.built:
        layer.build(_sample_shape(x), _build_rngs[-1] if _build_rngs else weight_rng(layer))
    if layer.runs_call:  # its ops record on the same tape
        return invoke(layer, x, training)
    if getattr(layer, "activity_regularizer", None) is not None:
        raise NotImplementedError(
            f"Layer {layer.name!r} has an activity_regularizer and is called inside "
            "another layer's call(); engram adds activity penalties only for layers of a model "
            "graph. Use self.add_loss(...) in call() instead."
        )
    return _record_builtin(tape, layer, x, training)


def _sample_shape(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [tuple(np.shape(_plain(v)))[1:] for v in x]
    return tuple(np.shape(_plain(x)))[1:]


def _record_builtin(tape: Tape, layer: Any, x: Any, training: bool) -> Any:
    """A built-in layer (or a model) on the tape: one entry whose vjp is its own backward;
    its forward cache is kept per call, its weight gradients summed over calls."""
    multi = isinstance(x, (list, tuple))
    items = tuple(x) if multi else (x,)
    values = [np.asarray(_plain(v)) for v in items]
    y = layer.forward(values if multi else values[0], training)
    snapshot = _snapshot(layer)

    def vjp(g: np.ndarray) -> tuple[Any, ...]:
        _restore(layer, snapshot)
        gx = layer.backward(g)
        tape.sum_layer_grads(layer)
        return tuple(gx) if multi else (gx,)

    return tape.record(np.asarray(y), items, vjp)


# ----------------------------------------------------------- class adaptation
def adapt_class(cls: type) -> None:
    """Fit a custom layer class's Keras-style methods to engram's calling conventions:
    ``build(input_shape)`` gets the shape with its batch axis and the model's generator for
    its weights; ``compute_output_shape`` (if written) likewise takes and gives shapes with the
    batch axis."""
    if not isinstance(getattr(cls, "trainable", None), property):
        cls.trainable = property(_get_trainable, _set_trainable)  # type: ignore[attr-defined]
        cls.weights = property(lambda self: layer_variables(self))  # type: ignore[attr-defined]
        cls.trainable_weights = property(  # type: ignore[attr-defined]
            lambda self: [v for v in layer_variables(self) if v.trainable and self.trainable]
        )
        cls.non_trainable_weights = property(  # type: ignore[attr-defined]
            lambda self: [v for v in layer_variables(self) if not (v.trainable and self.trainable)]
        )
    user_build = cls.__dict__.get("build")
    if user_build is not None and not getattr(user_build, "_adapted", False):

        def build_method(self: Any, input_shape: Any, rng: Any = None) -> None:
            if self.__dict__.get("_building"):  # super().build(...) from the user's build
                return
            build(self, _sample_of(input_shape), rng, user_build)

        build_method._adapted = True  # type: ignore[attr-defined]
        build_method.__doc__ = user_build.__doc__
        cls.build = build_method  # type: ignore[attr-defined]
    user_shape = cls.__dict__.get("compute_output_shape")
    if user_shape is not None and not getattr(user_shape, "_adapted", False):

        def shape_method(self: Any, input_shape: Any) -> Any:
            out = user_shape(self, _with_batch(input_shape))
            if isinstance(out, list):
                return [tuple(s)[1:] for s in out]
            return tuple(out)[1:]

        shape_method._adapted = True  # type: ignore[attr-defined]
        cls.compute_output_shape = shape_method  # type: ignore[attr-defined]


def layer_variables(layer: Any) -> list[Variable]:
    """Keras's ``layer.weights``: the layer's own variables (trainable, then non-trainable),
    then those of the layers it holds; a built-in layer's arrays as variables over them."""
    out: list[Variable] = []
    for leaf in layer._leaves():
        if leaf.runs_call:
            own = leaf.__dict__.get("_variables", [])
            out += [v for v in own if v.trainable] + [v for v in own if not v.trainable]
            continue
        for store, trainable in ((leaf.params, leaf.trainable), (leaf.state_arrays(), False)):
            for key in leaf.weight_names:
                if key in store:
                    variable = Variable(store, key, f"{leaf.name}/{key}", trainable)
                    variable.owner = leaf
                    out.append(variable)
    return out


def _get_trainable(self: Any) -> bool:
    return self.__dict__.get("_trainable", True)


def _set_trainable(self: Any, value: bool) -> None:
    """As in Keras: freezing a custom layer freezes the layers it holds."""
    self.__dict__["_trainable"] = bool(value)
    for sub in sublayers(self):
        sub.trainable = bool(value)


def _sample_of(input_shape: Any) -> Any:
    """A shape as engram's models pass it (no batch axis). A user who calls build((None, 4))
    himself passes the batch axis, as in Keras: it is dropped."""
    if _is_multi(input_shape):
        return [tuple(s)[1:] if s and s[0] is None else tuple(s) for s in input_shape]
    shape = tuple(input_shape)
    return shape[1:] if shape and shape[0] is None else shape


def checked_weights(layer: Any, weights: list[Any]) -> list[tuple[Any, Any]]:
    """(layer, its checked (key, array) pairs) for the layer and each layer it holds."""
    leaves = layer._leaves()
    counts = [len(leaf._own_weights()) for leaf in leaves]
    if len(weights) != sum(counts):
        raise ValueError(
            f"Layer {layer.name!r} expects {sum(counts)} weight arrays (its own, then those of "
            f"the layers it holds), but received {len(weights)}."
        )
    out, i = [], 0
    for leaf, n in zip(leaves, counts, strict=True):
        out.append((leaf, leaf._checked_own(weights[i : i + n])))
        i += n
    return out
