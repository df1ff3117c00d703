"""The layer graph: symbolic tensors, layer calls recorded as nodes, and the one executor.

Calling a layer on a `SymbolicTensor` (what `Input` returns) computes nothing: it records a
`Node` (the layer, its input tensors, its output tensor) and returns a new symbolic tensor of
the output's shape. `Graph` then runs the recorded nodes in order, forward and backward:

    forward:   v[in_k] = x_k;  v[out_n] = layer_n.forward(v[in_n])      nodes in order
    backward:  g[out_k] = dL/dy_k;
               g[in_n] += layer_n.backward(g[out_n])                     nodes in reverse

A tensor read by several nodes receives the sum of their gradients (fan-out); a layer called by
several nodes (a shared layer) has its forward cache saved per call and restored before that
call's backward, and its weight gradients are summed over the calls; a model called by several
nodes (the siamese pattern) likewise, for every layer inside it. `Sequential` is the graph
of one chain; a functional `Model` is any directed acyclic graph of such calls.

A layer with an ``activity_regularizer`` R adds a penalty on its output y, as Keras adds it
(Keras 3.15 divides a layer's activity regularization by the batch size):

    forward:   the pass keeps (R, y)                  (`activity_penalty` sums R(y) / batch;
                                                       the model adds it to the loss)
    backward:  g[out_n] += R.gradient(y) / batch      before that node's backward

R is any object with ``R(y) -> float`` and ``R.gradient(y) -> dR/dy`` (`engram.nn.regularizers`,
or e.g. the motor package's rate penalty). It is read from the layer at every forward pass, so it
may be set or changed after the graph is built.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from engram.nn.tape import OPS

_trainable = attrgetter("trainable")


def shape_str(shape: tuple[int | None, ...]) -> str:
    """A shape as Python writes a tuple, with None for unknown sizes: ``(None, 784)``, ``(5,)``."""
    inner = ", ".join("None" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class SymbolicTensor:
    """A placeholder for a batch of data flowing through a graph: shape (batch axis first,
    None when unknown), dtype, and the `Node` that produces it.

    It holds no values. ``layer(tensor)`` records a call; ``Model(inputs, outputs)`` runs them.
    """

    def __init__(self, shape: tuple[int | None, ...], dtype: str, node: Node, name: str) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={shape_str(self.shape)} dtype={self.dtype} name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            f"{self.name} is a symbolic tensor (from Input): it has no values. Build a model "
            "with Model(inputs, outputs) and call predict() on data instead."
        )

    # Python operators, as Keras's symbolic tensors take them: tensor with tensor is a merge
    # layer (its backward is the layer's own); anything else cannot be traced and says so.
    def __add__(self, other: Any) -> SymbolicTensor:
        return _operator("+", self, other)

    def __radd__(self, other: Any) -> SymbolicTensor:
        return _operator("+", other, self)

    def __sub__(self, other: Any) -> SymbolicTensor:
        return _operator("-", self, other)

    def __rsub__(self, other: Any) -> SymbolicTensor:
        return _operator("-", other, self)

    def __mul__(self, other: Any) -> SymbolicTensor:
        return _operator("*", self, other)

    def __rmul__(self, other: Any) -> SymbolicTensor:
        return _operator("*", other, self)

    def __truediv__(self, other: Any) -> Any:
        return _op("divide", self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return _op("divide", other, self)

    def __matmul__(self, other: Any) -> Any:
        return _op("matmul", self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return _op("matmul", other, self)

    def __pow__(self, other: Any) -> Any:
        return _op("power", self, other)

    def __rpow__(self, other: Any) -> Any:
        return _op("power", other, self)

    def __neg__(self) -> Any:
        return _op("negative", self)

    def __bool__(self) -> bool:
        untraceable(
            self,
            "Python's if/while/and/or on a tensor",
            "A value-dependent branch cannot be traced: compute both branches with layers and "
            "combine them (layers.maximum, layers.multiply by a mask), or make the choice a "
            "constructor argument.",
        )

    def __lt__(self, other: Any) -> Any:
        return _op("less", self, other)

    def __le__(self, other: Any) -> Any:
        return _op("less_equal", self, other)

    def __gt__(self, other: Any) -> Any:
        return _op("greater", self, other)

    def __ge__(self, other: Any) -> Any:
        return _op("greater_equal", self, other)

    def __getitem__(self, key: Any) -> Any:
        return _op("take_index", self, key)

    def __iter__(self) -> Any:
        untraceable(self, "iterating over a tensor", "Use layers.Reshape, or a custom Layer.")

    def __len__(self) -> int:
        untraceable(self, "len() of a tensor", f"Read its shape instead: {shape_str(self.shape)}.")

    def numpy(self) -> Any:
        untraceable(self, ".numpy()", "Call predict() on the model for values.")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        untraceable(self, f"np.{ufunc.__name__}(...)", _numpy_hint(ufunc.__name__))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        untraceable(self, f"np.{func.__name__}(...)", _numpy_hint(func.__name__))


_NUMPY_HINTS = {
    "add": "Write a + b or layers.add([a, b]).",
    "subtract": "Write a - b or layers.subtract([a, b]).",
    "multiply": "Write a * b or layers.multiply([a, b]).",
    "maximum": "Write layers.maximum([a, b]).",
    "minimum": "Write layers.minimum([a, b]).",
    "concatenate": "Write layers.concatenate([a, b], axis=...).",
    "mean": "Write layers.average([a, b]) across tensors, or a pooling layer along an axis.",
    "dot": "Write layers.dot([a, b], axes=...).",
    "matmul": "Use layers.Dense, or layers.dot([a, b], axes=...).",
    "reshape": "Write layers.Reshape(target_shape)(x).",
}


def _numpy_hint(name: str) -> str:
    if name in _NUMPY_HINTS:
        return _NUMPY_HINTS[name]
    if OPS and name in OPS[0].IMPLEMENTED:
        return f"Write engram.nn.ops.{name}(...) (keras.ops), which records its derivative."
    return (
        "Use a layer: layers.Activation(...) for an activation such as 'tanh' or 'relu', or a "
        "custom Layer (forward and backward) for other math."
    )


def untraceable(tensor: SymbolicTensor, what: str, instead: str) -> Any:
    """Raise the error for an operation on a symbolic tensor that a graph cannot record."""
    raise TypeError(
        f"{what} cannot run on the symbolic tensor {tensor.name!r}: it holds no values. A "
        "model's call() is traced once into a graph of layer calls and engram.nn.ops calls "
        "(each with its own backward), so call() may call layers and ops (keras.ops) and use "
        "Python's arithmetic operators on tensors. "
        f"{instead}"
    )


#: `engram.nn.layers.op_call`'s (record, scalar), which it registers here when imported: ops on
#: symbolic tensors record nodes through them (so that engram.nn.ops imports no layer module)
OP_RECORDERS: list[Any] = []

#: the layer class each Python operator records (``a + b`` is a call of ``Add()``): the merge
#: layers register themselves here, so this module imports no layer module
OPERATOR_LAYERS: dict[str, type] = {}


_OP_NAMES = {"+": "add", "-": "subtract", "*": "multiply"}

#: name counters of the subclassed model being traced (innermost last). Keras runs a subclassed
#: call eagerly, so its operators and ops take none of the global names that layers and
#: functional ops take: the nodes they record here are named from these fresh counters.
_trace_names: list[dict[str, Any]] = []


class TraceNames:
    """While a subclassed model's ``call`` is traced, operators and ops are named apart."""

    def __enter__(self) -> None:
        _trace_names.append(collections.defaultdict(itertools.count))

    def __exit__(self, *exc: Any) -> None:
        _trace_names.pop()


def tracing() -> bool:
    """Whether a subclassed model's ``call`` is being traced now."""
    return bool(_trace_names)


def trace_name(base: str) -> str | None:
    """A name for a node recorded by an operator or op: None (the global counters) outside a
    subclassed model's trace."""
    if not _trace_names:
        return None
    count = next(_trace_names[-1][base])
    return base if count == 0 else f"{base}_{count}"


def _operator(symbol: str, a: Any, b: Any) -> SymbolicTensor:
    """``a <symbol> b``: between two symbolic tensors of one shape a merge layer's call (as
    Keras's summary names it); with a constant or broadcasting, the op of that name."""
    if isinstance(a, SymbolicTensor) and isinstance(b, SymbolicTensor) and a.shape == b.shape:
        layer_class = OPERATOR_LAYERS[symbol]
        return layer_class(name=trace_name(_OP_NAMES[symbol]))([a, b])
    return _op(_OP_NAMES[symbol], a, b)


def _op(name: str, *args: Any) -> Any:
    """The `engram.nn.ops` op ``name`` on symbolic tensors: one recorded node (`OpCall`)."""
    return getattr(OPS[0], name)(*args)


class TracingTraining:
    """The ``training`` argument a model's ``call`` receives while it is traced.

    The graph runs in both modes (fit trains, predict infers), so ``call`` must pass
    ``training`` on to the layers rather than branch on it; ``if training:`` raises.
    """

    def __bool__(self) -> bool:
        raise TypeError(
            "call() branches on `training` (if training: ...), but engram traces call() once "
            "for both training and inference. Call the layers unconditionally: Dropout and "
            "BatchNormalization follow fit/evaluate/predict's mode by themselves (pass "
            "training=training to them if you like)."
        )

    def __repr__(self) -> str:
        return "<training: set by fit/evaluate/predict when the graph runs>"


class Node:
    """One recorded layer call: ``outputs = layer(inputs)``.

    ``multi`` is True when the layer was called on a list (merge layers, models with several
    inputs): its forward then takes a list and its backward returns a list.
    """

    def __init__(self, layer: Any, inputs: list[SymbolicTensor], multi: bool) -> None:
        self.layer = layer
        self.inputs = inputs
        self.multi = multi
        self.outputs: list[SymbolicTensor] = []


def _shapes_str(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(shape_str((None, *s)) for s in shape) + "]"
    return shape_str((None, *shape))


def is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor or a list/tuple holding one."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, SymbolicTensor) for t in x)


def input_tensor(layer: Any, shape: tuple[int | None, ...], dtype: str) -> SymbolicTensor:
    """The symbolic tensor an `InputLayer` produces (a node with no inputs)."""
    node = Node(layer, [], multi=False)
    node.outputs = [SymbolicTensor(shape, dtype, node, layer.name)]
    return node.outputs[0]


def call_layer(layer: Any, x: Any) -> Any:
    """Record ``layer(x)`` for symbolic ``x``; returns the output tensor(s).

    The layer is not built here (its weights are created by the model, with the model's random
    generator); its output shape comes from ``compute_output_shape``.
    """
    multi = isinstance(x, (list, tuple))
    inputs = list(x) if multi else [x]
    for t in inputs:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(
                f"Layer {layer.name!r} was called on a list mixing symbolic tensors and "
                f"{type(t).__name__}. Pass only tensors from Input or other layer calls."
            )
    shapes = [t.shape[1:] for t in inputs]
    sample_shape = shapes if multi else shapes[0]
    if getattr(layer, "built", False) and not multi:
        layer.check_input(inputs[0].shape)
    first = layer.__dict__.setdefault("_first_call_shape", sample_shape)
    if first != sample_shape:
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r} was first called on inputs of shape "
            f"{_shapes_str(first)} and now on {_shapes_str(sample_shape)}. A layer called more "
            "than once (a shared layer) needs inputs of the same shape each time."
        )
    out_shape = layer.compute_output_shape(sample_shape)
    node = Node(layer, inputs, multi)
    batch = inputs[0].shape[0]
    multi_out = isinstance(out_shape, list)
    shapes_out = out_shape if multi_out else [out_shape]
    node.outputs = [
        SymbolicTensor((batch, *s), inputs[0].dtype, node, layer.name) for s in shapes_out
    ]
    return node.outputs if multi_out else node.outputs[0]


def traverse(
    inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]
) -> tuple[list[Node], list[Any]]:
    """The nodes between ``inputs`` and ``outputs``, each after the nodes it reads, and the
    layers in Keras's order (by decreasing depth from the outputs, ties in traversal order).

    Raises:
        ValueError: an output depends on an `Input` that is not among ``inputs``.
    """
    input_ids = {id(t) for t in inputs}
    order: list[Node] = []
    seen: set[int] = set()
    first_visit: dict[int, int] = {}  # layer id -> pre-order index (Keras's tie-break)
    # iterative depth-first search: deep chains must not hit Python's recursion limit
    for out in outputs:
        stack: list[tuple[Node, bool]] = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in seen:
                continue
            if expanded:
                seen.add(id(node))
                order.append(node)
                continue
            first_visit.setdefault(id(node.layer), len(first_visit))
            if not node.inputs and id(node.outputs[0]) not in input_ids:
                raise ValueError(
                    f"The output {out.name!r} depends on the input {node.outputs[0].name!r}, "
                    "which is not among the model's inputs. Pass it in Model(inputs=[...])."
                )
            stack.append((node, True))
            for t in reversed(node.inputs):
                if id(t.node) not in seen:
                    stack.append((t.node, False))
    depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(order):
        d = max(depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        depth[id(node)] = layer_depth[id(node.layer)] = d
        for t in node.inputs:
            depth[id(t.node)] = max(depth.get(id(t.node), 0), d + 1)
    layers = list({id(n.layer): n.layer for n in order}.values())
    layers.sort(key=lambda layer: (-layer_depth[id(layer)], first_visit[id(layer)]))
    return order, layers


def trains(layer: Any) -> bool:
    """Whether a layer (or a nested model) has weights that training updates."""
    if not layer.trainable:
        return False
    if hasattr(layer, "graph_layers"):
        return any(trains(inner) for inner in layer.graph_layers())
    if getattr(layer, "runs_call", False):  # a custom layer: its weights and its inner layers'
        return any(leaf.trainable and bool(leaf.params) for leaf in layer._leaves())
    return bool(layer.params)


class Graph:
    """Runs recorded nodes: forward, and backward with gradients summed where paths meet.

    Args:
        inputs: the input tensors, in the order their arrays are passed.
        outputs: the output tensors, in the order their arrays are returned.
    """

    def __init__(self, inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        all_nodes, self.keras_layers = traverse(self.inputs, self.outputs)
        self.nodes = [n for n in all_nodes if n.inputs]  # input nodes hold no computation
        slot: dict[int, int] = {}
        for t in self.inputs:
            slot.setdefault(id(t), len(slot))
        for node in self.nodes:
            for t in node.outputs:
                slot[id(t)] = len(slot)
        self.n_slots = len(slot)
        self.input_slots = [slot[id(t)] for t in self.inputs]
        self.output_slots = [slot[id(t)] for t in self.outputs]
        # one step per node: (layer, input slots, output slots, multi-input, multi-output)
        self.steps = [
            (
                n.layer,
                tuple(slot[id(t)] for t in n.inputs),
                tuple(slot[id(t)] for t in n.outputs),
                n.multi,
                len(n.outputs) > 1,
            )
            for n in self.nodes
        ]
        runs = [{id(n.layer), *map(id, _leaves(n.layer))} for n in self.nodes]
        calls: dict[int, int] = {}
        for layer_ids in runs:
            for layer_id in layer_ids:
                calls[layer_id] = calls.get(layer_id, 0) + 1
        #: indices of the steps whose layer, or a layer inside it, runs at more than one step
        #: (shared layers and shared models, and a layer called both on its own and inside a
        #: nested model: a model's per-call state is every layer's inside it, see `_snapshot`)
        self.shared = {
            i for i, layer_ids in enumerate(runs) if any(calls[k] > 1 for k in layer_ids)
        }
        self.layers = list(dict.fromkeys(n.layer for n in self.nodes))
        self._nested = [layer for layer in self.layers if hasattr(layer, "graph_layers")]
        #: custom layers (``call`` made of ops): what their ``add_loss`` received in a forward
        #: pass is part of the loss (`activity_penalty`), reset at each pass
        self._custom = [layer for layer in self.layers if getattr(layer, "runs_call", False)]
        self._plain = [layer for layer in self.layers if not hasattr(layer, "graph_layers")]
        self._snapshots: dict[int, dict[str, Any]] = {}
        self._plans: dict[tuple, tuple] = {}
        #: step -> (its layer's activity regularizer, that step's output) in the last forward
        #: pass: backward adds dR/dy / batch to its gradient, `activity_penalty` sums R(y) / batch
        self._activity_outputs: dict[int, tuple[Any, Any]] = {}
        #: step -> the activity penalty of that call of a shared model (its graph keeps the
        #: last call's only)
        self._call_penalties: dict[int, float] = {}
        #: slots whose tensors carry a (batch, time) mask (Embedding(mask_zero=True), Masking)
        self.mask_slots = self._mask_slots()
        #: the layers in order when the graph is one chain (Sequential's case): forward and
        #: backward then run a plain loop over them, with no slots to look up
        self.chain = None if self.mask_slots else self._as_chain()

    def _mask_slots(self) -> set[int]:
        """Which tensors carry a mask, from each layer's `mask_flow`; a mask that would reach
        an output (Keras leaves masked steps out of the loss) is refused."""
        masked: set[int] = set()
        for layer, ins, outs, _, _ in self.steps:
            input_masked = any(s in masked for s in ins)
            flow = getattr(layer, "mask_flow", None)
            if flow is None and input_masked:  # a model used as a layer
                raise ValueError(
                    f"The model {layer.name!r} receives a mask (from Embedding(mask_zero=True) "
                    "or Masking); engram passes masks only between layers of one model."
                )
            if flow is not None and flow(input_masked):
                if len(outs) > 1:
                    raise ValueError(
                        f"Layer {layer.name!r} would give each of its {len(outs)} outputs a "
                        "mask; engram passes masks along single outputs only (use a merge_mode "
                        "other than None)."
                    )
                masked.add(outs[0])
        #: outputs that carry a mask: the loss and metrics leave their masked steps out
        #: (`output_masks` holds the last forward pass's masks, one per output or None)
        self.masked_outputs = [
            t.name for t, s in zip(self.outputs, self.output_slots, strict=True) if s in masked
        ]
        self.output_masks: list[Any] | None = None
        return masked

    def _as_chain(self) -> list[Any] | None:
        if len(self.inputs) != 1 or len(self.outputs) != 1 or self.shared:
            return None
        previous = self.input_slots[0]
        for _, ins, outs, multi, multi_out in self.steps:
            if multi or multi_out or ins != (previous,):
                return None
            previous = outs[0]
        if not self.steps or previous != self.output_slots[0]:
            return None
        return [step[0] for step in self.steps]

    # ------------------------------------------------------------------ forward
    def forward(self, xs: Sequence[np.ndarray], training: bool, logits: Sequence[int] = ()):
        """The output arrays for input arrays ``xs``.

        ``logits``: indices of outputs whose last layer stops before its activation (the fused
        loss path: ``forward_logits`` instead of ``forward``); those outputs are logits.
        """
        chain = self.chain
        if self._activity_outputs:
            self._activity_outputs = {}
        if self._call_penalties:
            self._call_penalties = {}
        for layer in self._custom:
            layer._pass_losses = []
        if chain is not None and not self._regularized(chain):
            x = xs[0]
            if logits:
                for layer in chain[:-1]:
                    x = layer.forward(x, training)
                return [chain[-1].forward_logits(x)]
            for layer in chain:
                x = layer.forward(x, training)
            return [x]
        values: list[Any] = [None] * self.n_slots
        for s, x in zip(self.input_slots, xs, strict=True):
            values[s] = x
        stop = {self.output_slots[k] for k in logits} if logits else ()
        shared = self.shared
        masks: dict[int, Any] = {}
        for i, (layer, ins, outs, multi, multi_out) in enumerate(self.steps):
            x = [values[s] for s in ins] if multi else values[ins[0]]
            mask = masks.get(ins[0]) if masks else None
            if outs[0] in stop:
                y = layer.forward_logits(x)
            elif mask is not None and layer.uses_mask:
                y = layer.forward(x, training, mask=mask)
            else:
                y = layer.forward(x, training)
            if outs[0] in self.mask_slots:
                masks[outs[0]] = layer.compute_mask(x, mask)
            if multi_out:
                for s, v in zip(outs, y, strict=True):
                    values[s] = v
            else:
                values[outs[0]] = y
            regularizer = getattr(layer, "activity_regularizer", None)
            if regularizer is not None:
                self._activity_outputs[i] = (regularizer, y)
            if i in shared:
                self._snapshots[i] = _snapshot(layer)
                if hasattr(layer, "graph_layers"):
                    self._call_penalties[i] = layer.graph.activity_penalty()
        if self.masked_outputs:
            self.output_masks = [masks.get(s) for s in self.output_slots]
        return [values[s] for s in self.output_slots]

    @staticmethod
    def _regularized(layers: Sequence[Any]) -> bool:
        """Whether a layer has an activity regularizer now (the general path records them)."""
        return any(getattr(layer, "activity_regularizer", None) is not None for layer in layers)

    # ----------------------------------------------------------------- backward
    def _plan(self, input_grads: bool) -> tuple[list[int], dict[int, bool]]:
        """Which steps run backward, and whether each must return its input gradient.

        A tensor needs a gradient when something that learns lies behind it: a node whose layer
        has trainable weights, or (``input_grads``) the graph's inputs. Nodes behind nothing
        that learns are skipped, and the first learning layer of a chain skips its own input
        gradient (``needs_input_grad`` False), as nobody reads it.
        """
        # cheap to compute every step: the flags of plain layers, trains() only for models
        # (a plain layer's params are created at build and never change, so its flag suffices)
        key = (input_grads, *map(_trainable, self._plain))
        if self._nested:
            key += tuple(trains(model) for model in self._nested)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        needs = [False] * self.n_slots
        for s in self.input_slots:
            needs[s] = input_grads
        active: list[int] = []
        input_grad: dict[int, bool] = {}
        for i, (layer, ins, outs, _, _) in enumerate(self.steps):
            wants = any(needs[s] for s in ins)
            if wants or trains(layer):
                active.append(i)
                input_grad[i] = wants
                for s in outs:
                    needs[s] = True
        # a layer called several times computes its input gradient if any call needs it
        by_layer: dict[int, bool] = {}
        for i in active:
            key_layer = id(self.steps[i][0])
            by_layer[key_layer] = by_layer.get(key_layer, False) or input_grad[i]
        plan = ([i for i in reversed(active)], {i: by_layer[id(self.steps[i][0])] for i in active})
        self._plans[key] = plan
        return plan

    def backward(
        self, grads_out: Sequence[np.ndarray | None], logits: Sequence[int] = (), input_grads=False
    ) -> list[np.ndarray | None]:
        """Fill every layer's ``grads`` from the gradients of the outputs; returns the
        gradients of the inputs (None unless ``input_grads``).

        ``logits``: outputs whose ``grads_out`` are with respect to the logits (the fused path).
        """
        order, input_grad = self._plan(input_grads)
        if self.chain is not None and not self._activity_outputs:  # as the forward pass went
            return [self._chain_backward(grads_out[0], order, input_grad, bool(logits))]
        grads: list[Any] = [None] * self.n_slots
        for s, g in zip(self.output_slots, grads_out, strict=True):
            if g is not None:
                grads[s] = g if grads[s] is None else grads[s] + g
        from_logits = {self.output_slots[k] for k in logits} if logits else ()
        summed: dict[int, dict[str, np.ndarray]] = {}
        steps, shared, activity = self.steps, self.shared, self._activity_outputs
        for i in order:
            layer, ins, outs, multi, multi_out = steps[i]
            if i in activity:
                for s, g in zip(outs, self._activity_grads(i), strict=True):
                    grads[s] = g if grads[s] is None else grads[s] + g
            if multi_out:
                g = [grads[s] for s in outs]
                if all(v is None for v in g):
                    continue
            else:
                g = grads[outs[0]]
                if g is None:
                    continue
            if i in shared:
                _restore(layer, self._snapshots[i])
                if hasattr(layer, "graph_layers"):  # this call's gradients only, summed below
                    _zero_grads(layer)
            wanted = input_grad[i]
            if not wanted:
                layer.needs_input_grad = False
            try:
                if outs[0] in from_logits:
                    gx = layer.backward_from_logits(g)
                else:
                    gx = layer.backward(g)
            finally:
                if not wanted:
                    layer.needs_input_grad = True
            if i in shared:
                for leaf in _leaves(layer):
                    _accumulate(summed.setdefault(id(leaf), {}), leaf)
            if wanted:
                for s, gs in zip(ins, gx if multi else (gx,), strict=True):
                    if gs is not None:
                        grads[s] = gs if grads[s] is None else grads[s] + gs
        for i in shared:
            for leaf in _leaves(steps[i][0]):
                if id(leaf) in summed:
                    leaf.grads.update(summed[id(leaf)])
        return [grads[s] for s in self.input_slots]

    def _activity_grads(self, i: int) -> list[np.ndarray]:
        """dR/dy / batch for each output y of step ``i`` (Keras divides by the batch size)."""
        reg, y = self._activity_outputs[i]
        ys = y if self.steps[i][4] else [y]
        return [reg.gradient(v) / np.asarray(max(len(v), 1), v.dtype) for v in ys]

    def activity_penalty(self) -> float:
        """sum of R(y) / batch over the outputs of the last forward pass's layers with an
        activity regularizer, nested models included."""
        total = 0.0
        for i, (reg, y) in self._activity_outputs.items():
            for v in y if self.steps[i][4] else [y]:
                total += reg(v) / (len(v) if np.ndim(v) else 1)
        shared_models = set()
        for i, penalty in self._call_penalties.items():
            total += penalty
            shared_models.add(id(self.steps[i][0]))
        for model in self._nested:
            if id(model) not in shared_models:
                total += model.graph.activity_penalty()
        for layer in self._custom:  # add_loss in a custom layer's call
            total += sum(layer._pass_losses)
        return total

    def _chain_backward(self, grad, order, input_grad, from_logits):
        """Backward through a chain: the active steps are a suffix of it (everything above
        the first layer that learns), and only that first one may skip its input gradient."""
        if not order or grad is None:
            return None
        chain = self.chain
        last, first = len(chain) - 1, order[-1]
        for i in order[:-1]:
            layer = chain[i]
            grad = (
                layer.backward_from_logits(grad)
                if from_logits and i == last
                else (layer.backward(grad))
            )
        layer = chain[first]
        wanted = input_grad[first]
        if not wanted:
            layer.needs_input_grad = False
        try:
            if from_logits and first == last:
                return layer.backward_from_logits(grad)
            return layer.backward(grad)
        finally:
            if not wanted:
                layer.needs_input_grad = True


_NOT_CACHE = ("params", "grads", "needs_input_grad", "trainable", "built")


class _Inner(dict):
    """The snapshot of a layer a wrapper holds (TimeDistributed, Bidirectional)."""


def _is_layer(value: Any) -> bool:
    return hasattr(value, "state_arrays") and hasattr(value, "backward") and hasattr(value, "grads")


class _ModelCall(dict):
    """The snapshot of one call of a shared model: its graph's per-call records and the
    snapshot of every layer it runs (nested models in turn)."""


def _leaves(layer: Any) -> list[Any]:
    """The layers holding the weights a call of ``layer`` trains: itself, or a model's leaves."""
    return layer._leaves() if hasattr(layer, "graph_layers") else [layer]


def _zero_grads(model: Any) -> None:
    """Zero a model's leaves' gradients in place (a call that reaches only some of them adds
    nothing for the others)."""
    for leaf in model._leaves():
        for grad in leaf.grads.values():
            grad[...] = 0


def _snapshot(layer: Any) -> dict[str, Any]:
    """The forward cache of one call of a shared layer (arrays copied: layers may reuse them),
    with the caches of the layers it wraps; for a model, every layer's inside it.

    Weights and saved state (BatchNormalization's moving statistics) are not cache: restoring
    them would undo the later calls' updates."""
    if hasattr(layer, "graph_layers"):
        graph = layer.graph
        return _ModelCall(
            records=(
                dict(graph._snapshots),
                dict(graph._activity_outputs),
                dict(graph._call_penalties),
            ),
            layers=[(inner, _snapshot(inner)) for inner in graph.layers],
        )
    skip = {*_NOT_CACHE, *layer.state_arrays()}
    return {
        k: v.copy() if isinstance(v, np.ndarray) else _Inner(_snapshot(v)) if _is_layer(v) else v
        for k, v in vars(layer).items()
        if k not in skip
    }


def _restore(layer: Any, snapshot: dict[str, Any]) -> None:
    if isinstance(snapshot, _ModelCall):
        graph = layer.graph
        snapshots, graph._activity_outputs, penalties = snapshot["records"]
        graph._snapshots, graph._call_penalties = dict(snapshots), dict(penalties)
        for inner, inner_snapshot in snapshot["layers"]:
            _restore(inner, inner_snapshot)
        return
    for key, value in snapshot.items():
        if isinstance(value, _Inner):
            _restore(getattr(layer, key), value)
        else:
            vars(layer)[key] = value


def _accumulate(total: dict[str, np.ndarray], layer: Any) -> None:
    for key, grad in layer.grads.items():
        if key in total:
            total[key] += grad
        else:
            total[key] = np.array(grad)  # a copy: the layer writes into its grads next call
