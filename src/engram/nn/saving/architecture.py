"""A model's architecture as Keras 3's ``config.json``, both ways, and the model built from it.

Writing: `keras_config` gives a Sequential or functional model's entry (functional.py writes the
wiring) with its compile settings. Reading: `read_config` checks every name in the config against
the allowlist (allowlist.py) and every reference in a functional model's wiring (functional.py)
before anything is built, and returns what `build_within` builds with each weight bounded by the
arrays the weights file holds. A new layer is one allowlist entry: both directions go through
`allowlist.layer_mapping` and the layer's own ``get_config``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engram.nn.io import ModelFileError
from engram.nn.saving import allowlist, functional


# --------------------------------------------------------------------------- structure
def keras_class(layer: Any) -> str:
    """The class name Keras gives a layer or model (a functional model's is Functional)."""
    from engram.nn.layers import layers
    from engram.nn.model import Model, _subclassed
    from engram.nn.sequential import Sequential

    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        return type(layer).__name__ if _subclassed(layer) else "Functional"
    return layers.name_of(layer)


def children(model: Any) -> list[Any]:
    """The layers Keras keeps under a model's ``layers/`` group, in Keras's order: a
    Sequential's without its InputLayer, a functional model's with its InputLayers."""
    from engram.nn.layers import InputLayer
    from engram.nn.sequential import Sequential

    if isinstance(model, Sequential):
        return [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    return list(model.layers)


# --------------------------------------------------------------------------- writing
def _keras_initializer(value: Any) -> Any:
    from engram.nn import initializers

    json_value = initializers.to_json(value) if not isinstance(value, (str, dict)) else value
    if isinstance(json_value, str):
        return json_value
    reverse = {v: k for k, v in allowlist.INITIALIZERS.items()}
    return {
        "module": "keras.initializers",
        "class_name": reverse[json_value["name"]],
        "config": json_value.get("config", {}),
        "registered_name": None,
    }


def _keras_layer(layer: Any) -> dict[str, Any]:
    from engram.nn.layers import Bidirectional, TimeDistributed, layers

    class_name = layers.name_of(layer)
    if class_name not in allowlist.LAYER_CLASSES:
        raise ValueError(f"engram's {class_name} layer has no Keras counterpart to save.")
    config = {k: v for k, v in layer.get_config().items() if k != "input_shape"}
    for key, value in list(config.items()):
        if key.endswith("initializer"):
            config[key] = _keras_initializer(value)
        elif key.endswith(("_regularizer", "_constraint")) and value is not None:
            kind = "regularizers" if key.endswith("_regularizer") else "constraints"
            config[key] = {"module": f"keras.{kind}", **value, "registered_name": None}
    config["dtype"] = layer.dtype
    if isinstance(layer, TimeDistributed):
        config["layer"] = _keras_layer(layer.layer)
    if isinstance(layer, Bidirectional):
        config["layer"] = _keras_layer(layer.forward_layer)
        config["backward_layer"] = _keras_layer(layer.backward_layer)
    entry = {"module": allowlist.LAYERS_MODULE, "class_name": class_name, "config": config}
    entry["registered_name"] = None
    shapes = getattr(layer, "input_shapes", None)  # a merge layer is built on a list of shapes
    if shapes is not None:
        entry["build_config"] = {"input_shape": [[None, *shape] for shape in shapes]}
    elif layer.input_shape is not None:
        entry["build_config"] = {"input_shape": [None, *layer.input_shape]}
    return entry


def _keras_loss(loss: Any, given: str | None = None) -> Any:
    """A loss as Keras writes it: the name compile was given where Keras has that name
    ("mse" stays "mse"), else engram's name, or a Keras loss entry for a loss with options."""
    from engram.nn import losses

    if given in allowlist.KERAS_LOSS_NAMES:
        return given
    value = losses.to_json(loss)
    if not isinstance(value, dict):
        return value
    reverse = {v: k for k, v in allowlist.LOSSES.items()}
    return {
        "module": "keras.losses",
        "class_name": reverse[value["name"]],
        "config": {**value["config"], "reduction": "sum_over_batch_size"},
        "registered_name": None,
    }


def _keras_metrics(metrics: Any) -> Any:
    """The compile metrics (per output: lists or a dict of them): names as given, engram's
    metric objects of the classes Keras has as Keras's entries; functions are left out."""
    from engram.nn import metrics as metrics_module

    if isinstance(metrics, dict):
        return {k: _keras_metrics(v) for k, v in metrics.items()}
    if isinstance(metrics, (list, tuple)):
        kept = [_keras_metrics(m) for m in metrics]
        kept = [m for m in kept if m is not None]
        return kept or None
    value = metrics_module.to_json(metrics)
    if isinstance(value, dict):
        if value["class_name"] not in allowlist.METRICS:
            return None
        return {"module": "keras.metrics", **value, "registered_name": None}
    return value


def _keras_compile_config(model: Any) -> dict[str, Any] | None:
    if model.optimizer is None or model.loss is None:
        return None
    opt = model.optimizer
    reverse = {v: k for k, v in allowlist.OPTIMIZERS.items()}
    if opt.name not in reverse:
        raise ValueError(
            f"engram does not write the {opt.name} optimizer to .keras files yet (its state "
            f"has no Keras layout here): save in engram's format (.engram), or compile with "
            f"one of {', '.join(sorted(reverse))}."
        )
    opt_config = {"name": opt.name, **opt.get_config()}
    given = model.__dict__.get("_loss_names_given") or [None] * len(model._losses)
    loss: Any = [_keras_loss(v, g) for v, g in zip(model._losses, given, strict=True)]
    loss = loss if isinstance(model.loss, list) else loss[0]
    weights: Any = list(model._loss_weights)
    all_ones = all(w == 1.0 for w in weights)
    keys = model.__dict__.get("_output_dict")
    if keys:  # per output of a dict, by its key (as Keras records them)
        weights = dict(zip(keys, weights, strict=True))
        loss = dict(zip(keys, loss, strict=True)) if isinstance(loss, list) else loss
    return {
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": reverse[opt.name],
            "config": opt_config,
            "registered_name": None,
        },
        "loss": loss,
        "loss_weights": None if all_ones else weights,
        "metrics": _keras_metrics(model.metric_names),
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def require_graph_model(model: Any, what: str, weights_only: bool = False) -> None:
    """The one place that says which models these writers handle: Sequential and functional
    models (a `Model` built from inputs and outputs, nested models included; a subclassed one
    once traced). ``weights_only``: ops calls are allowed (they hold no weights, and a weights
    file names no code), as Keras writes the weights of such a model."""
    from engram.nn.model import Model, _refuse_op_calls
    from engram.nn.sequential import Sequential

    if not isinstance(model, Sequential) and not (
        isinstance(model, Model) and getattr(model, "graph", None) is not None
    ):
        raise TypeError(
            f"{what} handles Sequential and functional models only (layers called on Input "
            f"tensors); got {type(model).__name__}."
        )
    if not weights_only:  # an ops call in the graph is code: no config or export has it
        _refuse_op_calls(model, what)


def _input_entry(shape: Any, dtype: Any, name: str) -> dict[str, Any]:
    return {
        "module": allowlist.LAYERS_MODULE,
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, *shape], "dtype": str(np.dtype(dtype)), "name": name},
        "registered_name": None,
    }


def _layer_entry(layer: Any) -> dict[str, Any]:
    """One layer's (or nested model's) entry in a functional model's ``layers``."""
    from engram.nn.layers import InputLayer
    from engram.nn.model import Model

    if isinstance(layer, Model):
        return _model_entry(layer)
    if isinstance(layer, InputLayer):
        return _input_entry(layer.declared_input_shape, layer.dtype, layer.name)
    return _keras_layer(layer)


def _model_entry(model: Any) -> dict[str, Any]:
    """A model's architecture as Keras 3 writes it (Sequential or Functional)."""
    from engram.nn.sequential import Sequential

    if not isinstance(model, Sequential):
        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": functional.write_graph(model, _layer_entry),
            "registered_name": "Functional",
            "build_config": {"input_shape": None},
        }
    from engram.nn.layers import InputLayer

    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    config = {
        "name": model.name,
        "trainable": bool(model.trainable),
        "dtype": {**dtype, "registered_name": None},
        "layers": [_layer_entry(layer) for layer in children(model)],
    }
    entry = {"module": "keras", "class_name": "Sequential", "config": config}
    entry["registered_name"] = None
    if not model.built:  # as Keras writes an unbuilt Sequential: no input, no shapes
        return entry
    first = model._layers[0]  # an Input(...) given first holds the input's dtype and name
    name = first.name if isinstance(first, InputLayer) else "input_layer"
    sample_shape = tuple(model.input_shape)[1:]  # a nested model's input_shape has the batch
    batch_shape = [None, *sample_shape]
    config["layers"].insert(0, _input_entry(sample_shape, first.dtype, name))
    config["build_input_shape"] = batch_shape
    entry["build_config"] = {"input_shape": batch_shape}
    return entry


def keras_config(model: Any) -> dict[str, Any]:
    """The model's architecture and compile settings as Keras 3 writes ``config.json``."""
    require_graph_model(model, "Saving as .keras")
    if not model.built:
        raise ValueError("Only a built model can be saved: fit it, or pass input_shape.")
    config = _model_entry(model)
    compile_config = _keras_compile_config(model)
    if compile_config is not None:
        config["compile_config"] = compile_config
    return config


def _engram_layer(entry: Any, name: str, where: str) -> dict[str, Any]:
    """A Keras layer entry as engram's ``{"class_name", "config"}``, checked all the way down."""
    module, class_name, config = allowlist.check_entry(entry, name, where)
    mapping = allowlist.layer_mapping(module, class_name, name, where)
    config = dict(config)
    nested = {key: config.pop(key, None) for key in allowlist.NESTED_LAYERS.get(class_name, ())}
    converted = mapping.to_engram(config, name, where)
    for key, inner in nested.items():
        if inner is not None:
            converted[key] = _engram_layer(inner, name, f"{where}.{key}")
    return {"class_name": mapping.engram_class, "config": converted}


def _sequential_config(
    inner: dict, name: str, where: str, depth: int = 0, unbuilt_ok: bool = False
) -> dict[str, Any]:
    """A Keras Sequential config as engram's (every layer entry checked first; a nested
    model's entry as ``{"model": its spec}``). Without an input shape (Keras's config of a
    Sequential never built) only where ``unbuilt_ok``: a top-level config, not a file's."""
    entries = inner.get("layers")
    if not isinstance(entries, list) or not entries:
        raise allowlist.refuse(name, f"{where} has no list of layers")
    model_name = inner.get("name", "sequential")
    if not isinstance(model_name, str):
        raise allowlist.refuse(name, f"{where}'s model name is not a string")
    layers = []
    input_shape = input_layer = None
    for i, entry in enumerate(entries):
        at = f"layer {i}" if depth == 0 else f"{where}.layers[{i}]"
        nested = _read_model(entry, name, at, depth + 1)
        if nested is not None:
            layers.append({"model": nested})
            continue
        converted = _engram_layer(entry, name, at)
        if converted["class_name"] == "InputLayer":
            if i != 0:
                raise allowlist.refuse(name, f"{at} is an InputLayer after the first layer")
            input_shape, input_layer = converted["config"].get("shape"), converted
            continue
        layers.append(converted)
    build_shape = inner.get("build_input_shape")
    if input_shape is None and isinstance(build_shape, list) and build_shape:
        input_shape = build_shape[1:]
    if input_shape is None and not unbuilt_ok:
        raise allowlist.refuse(name, f"{where} has no input shape (a model that was never built)")
    if input_shape is not None and not all(isinstance(s, int) and s > 0 for s in input_shape):
        raise allowlist.refuse(
            name, f"the model's input shape {input_shape!r} is not a list of sizes"
        )
    if not layers:
        raise allowlist.refuse(name, "the model has no layers besides its input")
    trainable = inner.get("trainable", True)
    if not isinstance(trainable, bool):
        raise allowlist.refuse(name, f"{where}.trainable is {trainable!r:.40}, not true or false")
    return {
        "name": model_name,
        "layers": layers,
        "input_shape": None if input_shape is None else list(input_shape),
        "input_layer": input_layer,  # its name and dtype, kept as Keras keeps them
        "trainable": trainable,
    }


def _read_model(
    entry: Any, name: str, where: str, depth: int = 0, unbuilt_ok: bool = False
) -> tuple[str, Any] | None:
    """The wiring, read in one place: a model entry as ``("sequential", engram config)`` or
    ``("functional", functional.GraphSpec)``, every name checked; None for a non-model entry."""
    module, class_name, inner = allowlist.check_entry(entry, name, where)
    if depth > functional.MAX_DEPTH:
        raise allowlist.refuse(name, f"{where} nests models more than {functional.MAX_DEPTH} deep")
    if (module, class_name) in functional.SEQUENTIAL:
        return "sequential", _sequential_config(inner, name, where, depth, unbuilt_ok and not depth)
    if (module, class_name) not in functional.FUNCTIONAL:
        return None

    def read_layer(layer_entry: Any, at: str) -> dict:
        return _engram_layer(layer_entry, name, at)

    def read_nested(layer_entry: Any, at: str, level: int) -> tuple | None:
        spec = _read_model(layer_entry, name, at, level)
        if spec is None:
            return None
        if spec[0] != "functional":
            return spec, 1, False, None
        return spec, len(spec[1].outputs), True, spec[1].input_keys

    graph = functional.read_graph(inner, name, where, read_layer, read_nested, depth)
    return "functional", graph


def read_config(
    config: Any, name: str, where: str = "config.json", unbuilt_ok: bool = False
) -> tuple[str, Any]:
    """A Keras ``config.json``'s model, checked (`_read_model`); refuses any other class.
    ``where`` names the part of the file (or the call) the config came from in errors;
    ``unbuilt_ok``: a Sequential without an input shape is read too (``from_config``)."""
    spec = _read_model(config, name, where, unbuilt_ok=unbuilt_ok)
    if spec is None:
        module, class_name, _ = allowlist.check_entry(config, name, where)
        raise allowlist.refuse(
            name, f"{where} is the class {module}.{class_name}, not a Sequential or "
            "functional model"
        )  # fmt: skip
    return spec


class _WeightTooLarge(Exception):
    pass


def build_within(spec: tuple[str, Any], sizes: list[int], name: str) -> Any:
    """Build the engram model, each weight allowed only as large as an array in the file.

    Every weight must match one of the file's arrays exactly, so a config asking for a weight
    larger than the largest array, or more values than the file holds, is refused while it is
    built (a config of ``units=10**12`` allocates nothing). Weights are built as zeros, with
    the config's initializers put back on the layers afterwards (the file's values replace the
    zeros).
    """
    from engram.nn import initializers
    from engram.nn.layers import Bidirectional, TimeDistributed, layers

    budget = {"largest": max(sizes, default=0), "left": sum(sizes)}

    class BoundedZeros(initializers.Initializer):
        name = "zeros"

        def sample(self, shape, rng, dtype=np.float32):
            size = int(np.prod(shape, dtype=np.float64))
            if size > budget["largest"] or size > budget["left"]:
                raise _WeightTooLarge(
                    f"{name}: the architecture needs a weight of shape {tuple(shape)}, larger than "
                    "the arrays left in the weights file. Refused."
                )
            budget["left"] -= size
            return np.zeros(shape, dtype)

    originals: list[tuple[Any, dict]] = []

    def bounded(layer_cfg: dict) -> tuple[dict, list[dict]]:
        cfg = dict(layer_cfg["config"])
        kept = [{k: initializers.get(v) for k, v in cfg.items() if k.endswith("initializer")}]
        for key in kept[0]:
            cfg[key] = BoundedZeros()
        for key in allowlist.NESTED_LAYERS.get(layer_cfg.get("class_name"), ()):
            if cfg.get(key) is not None:
                cfg[key], inner = bounded(cfg[key])
                kept += inner
            elif key == "backward_layer":  # Bidirectional makes it from "layer"'s config
                kept.append(dict(kept[1]))
        return {**layer_cfg, "config": cfg}, kept

    def make_layer(layer_cfg: dict) -> Any:
        cfg, kept = bounded(layer_cfg)
        layer = layers.get(cfg["class_name"]).from_config(cfg["config"])
        if isinstance(layer, TimeDistributed):
            owners = [layer, layer.layer]
        elif isinstance(layer, Bidirectional):
            owners = [layer, layer.forward_layer, layer.backward_layer]
        else:
            owners = [layer]
        originals.extend(zip(owners, kept, strict=True))
        return layer

    try:
        model = assemble(spec, make_layer)
    except _WeightTooLarge as exc:
        raise ModelFileError(str(exc)) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, MemoryError) as exc:
        raise ModelFileError(f"{name}: the architecture cannot be built in engram: {exc}") from None
    for layer, keys in originals:
        for key, value in keys.items():
            setattr(layer, key, value)
    return model


def assemble(spec: tuple[str, Any], make_layer: Any) -> Any:
    """The model a checked spec (`read_config`) describes, its layers made by ``make_layer``."""
    from engram.nn.sequential import Sequential

    def make_model(model_spec: tuple[str, Any]) -> Any:
        kind, config = model_spec
        if kind == "functional":
            return functional.build(config, make_layer, make_model)
        model = Sequential(name=config["name"])
        if config.get("input_layer") is not None:
            model.add(make_layer(config["input_layer"]))
        for entry in config["layers"]:
            model.add(make_model(entry["model"]) if "model" in entry else make_layer(entry))
        if config["input_shape"] is not None and not model.built:
            model.build((None, *config["input_shape"]))
        if not config["trainable"]:
            model.trainable = False
        return model

    return make_model(spec)


def model_config(model: Any) -> dict[str, Any]:
    """Keras's ``model.get_config()``: the architecture, as ``config.json`` holds it."""
    require_graph_model(model, "get_config()")
    return _model_entry(model)["config"]


def model_from_config(config: Any, class_name: str) -> Any:
    """A new model (fresh weights) from Keras's ``get_config()`` of a ``class_name`` model
    ("Functional" or "Sequential"): the .keras reader's data-only path, every name checked
    against the allowlist and every reference in the wiring before anything is built."""
    where = f"{class_name}.from_config"
    try:  # as config.json holds it: tuples become lists, anything but data is refused
        config = json.loads(json.dumps(config))
    except (TypeError, ValueError) as exc:
        message = f"{where}: the config holds something other than data: {exc}"
        raise ModelFileError(message) from None
    entry = {"module": "keras", "class_name": class_name, "config": config}
    return _assemble_checked(read_config(entry, where, "the config", unbuilt_ok=True), where)


def _assemble_checked(spec: tuple[str, Any], where: str) -> Any:
    from engram.nn.layers import layers

    def make_layer(layer_cfg: dict) -> Any:
        return layers.get(layer_cfg["class_name"]).from_config(layer_cfg["config"])

    try:
        return assemble(spec, make_layer)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        message = f"{where}: the architecture cannot be built in engram: {exc}"
        raise ModelFileError(message) from None


def model_json(model: Any, **kwargs: Any) -> str:
    """Keras's ``model.to_json()``: the model's entry (as ``config.json`` holds it) with its
    compile settings (``{}`` before compile), as a JSON string; ``kwargs`` go to json.dumps."""
    require_graph_model(model, "to_json()")
    entry = _model_entry(model)
    entry["compile_config"] = _keras_compile_config(model) or {}
    return json.dumps(entry, **kwargs)


def model_from_json(json_string: Any) -> Any:
    """Keras's ``models.model_from_json``: the model (fresh weights, compiled when the JSON
    holds compile settings) that `model_json` or Keras's ``to_json()`` wrote, through the same
    checks as the .keras reader: nothing in it names code that is run."""
    where = "model_from_json"
    if not isinstance(json_string, (str, bytes)):
        raise TypeError(
            f"model_from_json takes the JSON string that to_json() returns. Received: "
            f"{type(json_string).__name__}."
        )
    try:
        entry = json.loads(json_string)
    except ValueError as exc:
        raise ModelFileError(f"{where}: the string is not JSON ({exc}).") from None
    try:
        spec = read_config(entry, where, "the JSON", unbuilt_ok=True)
        compile_config = entry.get("compile_config")
        args = compile_args(compile_config, where) if compile_config else None
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{where}: the JSON is malformed ({exc}). Refused.") from None
    model = _assemble_checked(spec, where)
    if args is not None:
        model.compile(**args)
    return model


def _metric_list(value: Any, name: str, where: str) -> list[Any]:
    """One output's metrics (a name, a metric entry, a list of them, or None) as engram's
    compile takes them: names, and metric objects built through the allowlist."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [allowlist.metric_config(m, name, f"{where}[{i}]") for i, m in enumerate(items)]


def _is_entry(value: Any) -> bool:
    """Whether a dict is one serialized object rather than settings keyed by output name."""
    return isinstance(value, dict) and ("class_name" in value or "module" in value)


def _compile_metrics(metrics: Any, name: str) -> Any:
    """Keras's ``compile_config.metrics``: for all outputs, per output as lists, or per
    output name as a dict; each metric a name or an allowlisted metric entry."""
    where = "compile_config.metrics"
    if metrics is None or metrics == []:
        return None
    if isinstance(metrics, dict) and not _is_entry(metrics):
        if not all(isinstance(k, str) for k in metrics):
            raise allowlist.refuse(name, f"{where} has keys that are not names")
        return {k: _metric_list(v, name, f"{where}.{k}") for k, v in metrics.items()}
    if isinstance(metrics, list) and all(isinstance(m, (list, type(None))) for m in metrics):
        return [_metric_list(m, name, f"{where}[{k}]") for k, m in enumerate(metrics)]
    if not isinstance(metrics, (list, str, dict)):
        raise allowlist.refuse(name, f"{where} {metrics!r:.60} is not a list of metrics")
    return _metric_list(metrics, name, where)


def _per_output(value: Any, name: str, key: str, check: Any) -> Any:
    """A compile setting given once, per output as a list, or per output name as a dict."""
    if isinstance(value, dict) and "class_name" not in value and "module" not in value:
        if not all(isinstance(k, str) for k in value):
            raise allowlist.refuse(name, f"compile_config.{key} has keys that are not names")
        return {k: check(v) for k, v in value.items()}
    if isinstance(value, list) and key != "metrics":
        return [check(v) for v in value]
    return check(value)


def compile_args(config: Any, name: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise allowlist.refuse(name, "compile_config is not an object")
    if config.get("weighted_metrics") is not None:
        raise allowlist.refuse(
            name, "compile_config.weighted_metrics is set; engram does not implement it"
        )

    def weight(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise allowlist.refuse(name, f"compile_config.loss_weights holds {value!r:.40}")
        return float(value)

    loss_weights = config.get("loss_weights")
    return {
        "optimizer": allowlist.optimizer_config(config.get("optimizer"), name),
        "loss": _per_output(
            config.get("loss"), name, "loss", lambda v: allowlist.loss_config(v, name)
        ),
        "loss_weights": None
        if loss_weights is None
        else _per_output(loss_weights, name, "loss_weights", weight),
        "metrics": _compile_metrics(config.get("metrics"), name),
    }
