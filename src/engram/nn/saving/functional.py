"""Keras 3 functional models: the wiring in ``config.json`` read into an engram graph, and written.

A functional config lists its layers, each with ``inbound_nodes``: one entry per call of the
layer, whose ``args`` hold ``__keras_tensor__`` entries naming the tensor they read as
``keras_history = [layer name, node index, tensor index]`` (the node index counts that layer's
calls in the file; an `InputLayer` has the one node 0). ``input_layers`` and ``output_layers``
name the model's inputs and outputs the same way, except that there a nested ``Functional``
model's node index is one higher (Keras counts the node that built the nested model).

A model whose inputs or outputs are a dict keeps it there: ``input_layers`` / ``output_layers``
are then ``{key: reference}``, and the model's arrays are in sorted key order (Keras flattens a
dict so); a call of such a nested model passes ``args = [{key: tensor}]`` (Keras adds
``kwargs = {"mask": {key: null}}``).

Reading checks the whole wiring before anything is built, and refuses with `ModelFileError`
naming the entry: a layer name that is not a unique string, a reference to a layer the file
does not have, a node or tensor index out of range, call arguments other than tensors, an
`InputLayer` that is called or is not a model input, a layer never called, wiring with a
cycle, and dict keys that are not names or do not match the keys of the model called. A layer
or nested model called at several nodes is one object (shared weights). Every layer entry goes
through the allowlist (the ``read_layer`` given by keras_format) before anything is created;
nested models are read by the same rules, at most `MAX_DEPTH` deep.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engram.nn.saving import allowlist

#: (module, class_name) pairs Keras 3 writes for a functional model
FUNCTIONAL = frozenset(
    {
        ("keras", "Functional"),
        ("keras.src.models.functional", "Functional"),
        ("keras", "Model"),
        ("keras.models", "Model"),
        ("keras.src.models.model", "Model"),
    }
)
#: (module, class_name) pairs Keras 3 writes for a Sequential model
SEQUENTIAL = frozenset(
    {
        ("keras", "Sequential"),
        ("keras.models", "Sequential"),
        ("keras.src.models.sequential", "Sequential"),
    }
)
#: nested models deeper than this are refused (a file cannot make the reader recurse at will)
MAX_DEPTH = 16
#: keyword arguments a node may record, with the values that change nothing (Keras records
#: ``training=False`` for Dropout when the graph is built; fit and predict override it)
CALL_KWARGS = {"mask": (None,), "training": (None, False)}
#: at most this many keys in a dict of inputs or outputs
MAX_KEYS = 10_000

Ref = tuple[str, int, int]


@dataclass
class Call:
    """One call of a layer: the tensors it reads, and whether it was called on a list (or on
    a dict: ``keys`` then holds its keys, sorted, in the order of ``refs``)."""

    refs: list[Ref]
    multi: bool
    keys: list[str] | None = None


@dataclass
class LayerSpec:
    """One entry of a functional config, checked: what to build and how it is called.

    ``kind`` is ``"input"`` (``config`` is the sample shape), ``"layer"`` (an engram layer
    config), or ``"model"`` (``config`` is the nested model as keras_format reads it).
    """

    name: str
    kind: str
    config: Any
    calls: list[Call] = field(default_factory=list)
    n_outputs: int = 1
    functional: bool = False
    input_keys: list[str] | None = None  # a nested model's dict of inputs (sorted keys)


@dataclass
class GraphSpec:
    """A functional model's wiring, checked, with its calls in an order that can run."""

    name: str
    layers: list[LayerSpec]
    inputs: list[Ref]
    outputs: list[Ref]
    multi_input: bool
    multi_output: bool
    order: list[tuple[str, int]]
    trainable: bool = True
    input_keys: list[str] | None = None  # the keys of a dict of inputs (sorted), else None
    output_keys: list[str] | None = None  # the keys of a dict of outputs (sorted), else None


def _tensor_ref(value: Any, name: str, where: str) -> Ref:
    if not isinstance(value, dict) or value.get("class_name") != "__keras_tensor__":
        raise allowlist.refuse(
            name, f"{where} is {value!r:.80}, not a tensor (engram reads calls on tensors only)"
        )
    config = value.get("config")
    history = config.get("keras_history") if isinstance(config, dict) else None
    return _ref(history, name, f"{where}.keras_history")


def _ref(value: Any, name: str, where: str) -> Ref:
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], str)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:])
    ):
        raise allowlist.refuse(
            name, f"{where} is {value!r:.80}, not [layer name, node index, tensor index]"
        )
    return value[0], value[1], value[2]


def _call(node: Any, name: str, where: str) -> Call:
    if not isinstance(node, dict) or set(node) - {"args", "kwargs"}:
        raise allowlist.refuse(name, f"{where} is not an object of args and kwargs")
    args, kwargs = node.get("args"), node.get("kwargs") or {}
    if not isinstance(args, list) or len(args) != 1:
        raise allowlist.refuse(name, f"{where}.args must hold one tensor or one list of tensors")
    if not isinstance(kwargs, dict):
        raise allowlist.refuse(name, f"{where}.kwargs is not an object")
    for key, value in kwargs.items():
        if key == "mask" and isinstance(value, (dict, list)):  # one None per input
            values = value.values() if isinstance(value, dict) else value
            if all(v is None for v in values):
                continue
        if key not in CALL_KWARGS or value not in CALL_KWARGS[key]:
            raise allowlist.refuse(
                name, f"{where} passes {key}={value!r:.80}, which engram does not implement"
            )
    if isinstance(args[0], dict) and not _is_tensor_entry(args[0]):
        keys = _dict_keys(args[0], name, f"{where}.args[0]")
        refs = [_tensor_ref(args[0][k], name, f"{where}.args[0][{k!r}]") for k in keys]
        return Call(refs, len(refs) > 1, keys)  # a dict of one: one tensor, as Keras calls it
    multi = isinstance(args[0], list)
    tensors = args[0] if multi else [args[0]]
    if not tensors:
        raise allowlist.refuse(name, f"{where}.args is an empty list")
    refs = [_tensor_ref(t, name, f"{where}.args[{i}]") for i, t in enumerate(tensors)]
    return Call(refs, multi)


def _is_tensor_entry(value: dict) -> bool:
    """Whether a call's argument dict is one tensor rather than a dict of tensors keyed by
    input name, as Keras tells them apart (anything else is then read as a dict whose values
    must each be a tensor)."""
    return value.get("class_name") == "__keras_tensor__"


def _dict_keys(value: dict, name: str, where: str) -> list[str]:
    """The keys of a dict of tensors or references, sorted (the order Keras flattens it in)."""
    if not value:
        raise allowlist.refuse(name, f"{where} is an empty dict")
    if len(value) > MAX_KEYS:
        raise allowlist.refuse(name, f"{where} has more than {MAX_KEYS} keys")
    bad = [k for k in value if not isinstance(k, str) or not k]
    if bad:
        raise allowlist.refuse(name, f"{where} has a key that is not a name: {bad[0]!r:.40}")
    return sorted(value)


def _io_refs(value: Any, name: str, where: str) -> tuple[list[Ref], bool, list[str] | None]:
    """``input_layers``/``output_layers``: one reference, a list of them, or a dict of them
    (the references in sorted key order, and the keys)."""
    if isinstance(value, dict):
        keys = _dict_keys(value, name, where)
        return [_ref(value[k], name, f"{where}[{k!r}]") for k in keys], True, keys
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [_ref(value, name, where)], False, None
    if not isinstance(value, list) or not value:
        raise allowlist.refuse(
            name, f"{where} is not a reference, a list of references or a dict of them"
        )
    return [_ref(v, name, f"{where}[{i}]") for i, v in enumerate(value)], True, None


def read_graph(
    inner: dict,
    name: str,
    where: str,
    read_layer: Callable[[Any, str], dict],
    read_model: Callable[[Any, str, int], tuple[Any, int, bool, list[str] | None] | None],
    depth: int = 0,
) -> GraphSpec:
    """A functional config's ``config`` as a checked `GraphSpec` (nothing built).

    ``read_layer(entry, where)`` checks a layer entry against the allowlist and returns its
    engram config; ``read_model(entry, where, depth)`` reads a nested model entry and returns
    (its spec, its number of outputs, whether it is functional, the keys of its dict of inputs
    or None), or None when the entry is not a model.
    """
    if depth > MAX_DEPTH:
        raise allowlist.refuse(name, f"{where} nests models more than {MAX_DEPTH} deep")
    entries = inner.get("layers")
    if not isinstance(entries, list) or not entries:
        raise allowlist.refuse(name, f"{where} has no list of layers")
    model_name = inner.get("name", "functional")
    if not isinstance(model_name, str):
        raise allowlist.refuse(name, f"{where}'s model name is not a string")
    specs: dict[str, LayerSpec] = {}
    for i, entry in enumerate(entries):
        spec = _layer_spec(entry, name, f"{where}.layers[{i}]", read_layer, read_model, depth)
        if spec.name in specs:
            raise allowlist.refuse(name, f"{where} has two layers named {spec.name!r}")
        specs[spec.name] = spec
    inputs, multi_in, in_keys = _io_refs(inner.get("input_layers"), name, f"{where}.input_layers")
    outputs, multi_out, out_keys = _io_refs(
        inner.get("output_layers"), name, f"{where}.output_layers"
    )
    # a nested Functional model's node index in input/output_layers counts its building node
    outputs = [_shift(r, specs) for r in outputs]
    trainable = inner.get("trainable", True)
    if not isinstance(trainable, bool):
        raise allowlist.refuse(name, f"{where}.trainable is {trainable!r:.40}, not true or false")
    graph = GraphSpec(model_name, list(specs.values()), inputs, outputs, multi_in, multi_out, [])
    graph.trainable = trainable
    graph.input_keys, graph.output_keys = in_keys, out_keys
    _check_wiring(graph, specs, name, where)
    graph.order = _order(graph, specs, name, where)
    return graph


def _shift(ref: Ref, specs: dict[str, LayerSpec]) -> Ref:
    spec = specs.get(ref[0])
    return (ref[0], ref[1] - 1, ref[2]) if spec is not None and spec.functional else ref


def _layer_spec(entry, name, where, read_layer, read_model, depth) -> LayerSpec:
    if not isinstance(entry, dict):
        raise allowlist.refuse(name, f"{where} must be an object")
    layer_name = entry.get("name")
    if layer_name is None and isinstance(entry.get("config"), dict):
        layer_name = entry["config"].get("name")
    if not isinstance(layer_name, str) or not layer_name:
        raise allowlist.refuse(name, f"{where} has no name")
    where = f"{where} ({layer_name!r})"
    nodes = entry.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        raise allowlist.refuse(name, f"{where}.inbound_nodes is not a list")
    model = read_model(entry, where, depth + 1)
    if model is not None:
        config, n_outputs, functional, keys = model
        spec = LayerSpec(layer_name, "model", config, n_outputs=n_outputs)
        spec.functional, spec.input_keys = functional, keys
    else:
        body = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
        config = read_layer(body, where)
        if config["class_name"] == "InputLayer":
            if nodes:
                raise allowlist.refuse(name, f"{where} is an InputLayer with inbound nodes")
            shape = config["config"].get("shape")
            if not isinstance(shape, (list, tuple)) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
            ):
                raise allowlist.refuse(name, f"{where}'s shape {shape!r} is not a list of sizes")
            return LayerSpec(layer_name, "input", tuple(shape))
        spec = LayerSpec(layer_name, "layer", config)
    spec.calls = [_call(n, name, f"{where}.inbound_nodes[{k}]") for k, n in enumerate(nodes)]
    if not spec.calls:
        raise allowlist.refuse(name, f"{where} is never called (no inbound nodes)")
    return spec


def _check_ref(ref: Ref, specs: dict[str, LayerSpec], name: str, where: str) -> None:
    layer_name, node, tensor = ref
    spec = specs.get(layer_name)
    if spec is None:
        raise allowlist.refuse(
            name, f"{where} reads the layer {layer_name!r}, which the file lacks"
        )
    n_nodes = 1 if spec.kind == "input" else len(spec.calls)
    if not 0 <= node < n_nodes:
        raise allowlist.refuse(
            name, f"{where} reads node {node} of {layer_name!r}, which has {n_nodes} node(s)"
        )
    if not 0 <= tensor < spec.n_outputs:
        raise allowlist.refuse(
            name,
            f"{where} reads output {tensor} of {layer_name!r}, which has {spec.n_outputs}",
        )


def _check_wiring(graph: GraphSpec, specs: dict[str, LayerSpec], name: str, where: str) -> None:
    for spec in graph.layers:
        for k, call in enumerate(spec.calls):
            for i, ref in enumerate(call.refs):
                _check_ref(ref, specs, name, f"{where}: {spec.name!r} node {k} argument {i}")
            one_key = spec.input_keys is not None and len(spec.input_keys) == len(call.refs) == 1
            if call.keys != spec.input_keys and not (call.keys is None and one_key):
                takes = f"a dict keyed by {spec.input_keys}" if spec.input_keys else "no dict"
                got = f"a dict keyed by {call.keys}" if call.keys else "no dict"
                raise allowlist.refuse(
                    name, f"{where}: {spec.name!r} node {k} is called with {got}; it takes {takes}"
                )
    for i, ref in enumerate(graph.inputs):
        at = f"{where}.input_layers[{_label(graph.input_keys, i)}]"
        _check_ref(ref, specs, name, at)
        if specs[ref[0]].kind != "input":
            raise allowlist.refuse(name, f"{at} is not an InputLayer")
    for i, ref in enumerate(graph.outputs):
        _check_ref(ref, specs, name, f"{where}.output_layers[{_label(graph.output_keys, i)}]")
    declared = {ref[0] for ref in graph.inputs}
    for spec in graph.layers:
        if spec.kind == "input" and spec.name not in declared:
            raise allowlist.refuse(
                name, f"{where}: the InputLayer {spec.name!r} is not among input_layers"
            )


def _label(keys: list[str] | None, i: int) -> str:
    """How errors name entry ``i`` of input_layers / output_layers: its key, or its index."""
    return repr(keys[i]) if keys else str(i)


def _order(
    graph: GraphSpec, specs: dict[str, LayerSpec], name: str, where: str
) -> list[tuple[str, int]]:
    """The calls in an order where each comes after the calls it reads (Kahn's algorithm)."""
    waiting: dict[tuple[str, int], set[tuple[str, int]]] = {}
    readers: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for spec in graph.layers:
        for k, call in enumerate(spec.calls):
            needs = {(r[0], r[1]) for r in call.refs if specs[r[0]].kind != "input"}
            # a layer's calls run in their file order (Keras builds node k after node k-1)
            if k:
                needs.add((spec.name, k - 1))
            waiting[(spec.name, k)] = needs
            for need in needs:
                readers.setdefault(need, []).append((spec.name, k))
    ready = deque(key for key, needs in waiting.items() if not needs)
    order = []
    while ready:
        key = ready.popleft()
        order.append(key)
        for reader in readers.get(key, []):  # each (reader, key) pair is listed once
            waiting[reader].discard(key)
            if not waiting[reader]:
                ready.append(reader)
    if len(order) < len(waiting):
        stuck = next(key for key, needs in waiting.items() if needs)
        raise allowlist.refuse(
            name,
            f"{where}: {stuck[0]!r} node {stuck[1]} depends on itself (the wiring has a cycle)",
        )
    return order


# ------------------------------------------------------------------------------ building
def build(
    graph: GraphSpec,
    make_layer: Callable[[dict], Any],
    make_model: Callable[[Any], Any],
    seed: Any = None,
) -> Any:
    """The engram `Model` of a checked `GraphSpec`: layers made by ``make_layer`` (nested models
    by ``make_model``), called in ``graph.order``."""
    from engram.nn.graph import call_layer
    from engram.nn.layers import Input
    from engram.nn.model import Model

    objects: dict[str, Any] = {}
    tensors: dict[tuple[str, int], list[Any]] = {}
    for spec in graph.layers:
        if spec.kind == "input":
            tensors[(spec.name, 0)] = [Input(spec.config, name=spec.name)]
        elif spec.kind == "model":
            objects[spec.name] = make_model(spec.config)
        else:
            objects[spec.name] = make_layer(spec.config)
    calls = {spec.name: spec.calls for spec in graph.layers}
    for layer_name, k in graph.order:
        call = calls[layer_name][k]
        args = [tensors[(r[0], r[1])][r[2]] for r in call.refs]
        # call_layer records the call as layer(tensor) does (recurrent layers' own __call__
        # takes arrays only)
        out = call_layer(objects[layer_name], args if call.multi else args[0])
        tensors[(layer_name, k)] = out if isinstance(out, list) else [out]
    inputs = [tensors[(r[0], r[1])][r[2]] for r in graph.inputs]
    outputs = [tensors[(r[0], r[1])][r[2]] for r in graph.outputs]
    model = Model(
        _structure(inputs, graph.multi_input, graph.input_keys),
        _structure(outputs, graph.multi_output, graph.output_keys),
        name=graph.name,
        seed=seed,
    )
    if not graph.trainable:  # a frozen model (Keras sets every layer's flag, as engram does)
        model.trainable = False
    return model


def _structure(tensors: list[Any], multi: bool, keys: list[str] | None) -> Any:
    """Tensors as the model takes or gives them: a dict, a list, or one tensor."""
    if keys is not None:
        return dict(zip(keys, tensors, strict=True))
    return tensors if multi else tensors[0]


# ------------------------------------------------------------------------------- writing
def _tensor(t: Any, history: list) -> dict[str, Any]:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": list(t.shape), "dtype": str(t.dtype), "keras_history": history},
    }


def write_graph(model: Any, write_layer: Callable[[Any], dict]) -> dict[str, Any]:
    """An engram functional `Model`'s ``config`` as Keras 3 writes it (layers in Keras's order,
    each with its ``inbound_nodes``). ``write_layer`` writes one layer's (or nested model's)
    entry."""
    from engram.nn.model import Model

    calls: dict[int, list[Any]] = {}
    for node in model.graph.nodes:
        calls.setdefault(id(node.layer), []).append(node)

    def history(t: Any, io: bool = False) -> list:
        node = t.node
        if not node.inputs:  # an input node
            return [node.layer.name, 0, 0]
        index = calls[id(node.layer)].index(node)
        nested = io and type(node.layer) is Model  # Keras counts a nested model's own node
        return [node.layer.name, index + int(nested), node.outputs.index(t)]

    def args(node: Any) -> Any:
        tensors = [_tensor(t, history(t)) for t in node.inputs]
        keys = node.layer.__dict__.get("_input_dict")  # a nested model that takes a dict
        if keys:
            return dict(zip(keys, tensors, strict=True))
        return tensors if node.multi else tensors[0]

    listed = list(model.layers)
    unused = [t.node.layer for t in model.inputs if t.node.layer not in listed]  # read by no one
    layers = []
    for layer in [*unused, *listed]:
        entry = write_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [args(node)], "kwargs": {}} for node in calls.get(id(layer), [])
        ]
        layers.append(entry)
    inputs = [history(t, io=True) for t in model.inputs]
    outputs = [history(t, io=True) for t in model.outputs]
    return {
        "name": model.name,
        "trainable": bool(model.trainable),
        "layers": layers,
        "input_layers": _structure(inputs, model._multi_input, model._input_dict),
        "output_layers": _structure(outputs, model._multi_output, model._output_dict),
    }
