"""Keras 3 ``.keras`` files and ``.weights.h5`` files, read and written without running code.

A ``.keras`` file is a zip archive of ``metadata.json``, ``config.json`` (the architecture and
compile settings as JSON) and ``model.weights.h5`` (HDF5: ``layers/<path>/vars/<i>`` for the
i-th weight of each layer, in Keras's order; ``optimizer/vars/<i>``). Keras's paths come from
the class names, not the layer names: ``dense``, ``dense_1`` for a model's first two Dense
layers, with a recurrent layer's weights under ``cell/vars`` and a wrapped layer's under
``layer/vars``.

Loading, in this order, refuses with `ModelFileError` before anything is built:
1. the archive (in memory; names, sizes, entry count and compression ratio: archive.py);
2. every object the config names, against the allowlist (allowlist.py): no module is imported
   and no class outside the table is looked up;
3. the weights file: every link must be a hard link inside the file (no external or soft
   links), no virtual datasets, no external storage, only HDF5's built-in filters, no dataset
   the architecture does not expect, and each dataset's shape and dtype exactly what the
   engram model built from the config holds -- before its data are read.

The graph's wiring is read in one place, `_sequential_layers`: a Sequential model's layer list.
A functional model (``inbound_nodes``) is refused today with a message saying so; adding it
means reading the nodes there and mapping each layer with the same `allowlist.layer_mapping`.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engram.fileio import atomic_write_bytes
from engram.nn.io import ModelFileError
from engram.nn.saving import allowlist
from engram.nn.saving.archive import read_zip, write_zip

KERAS_VERSION = "3.15.1"
ENTRIES = {"metadata.json", "config.json", "model.weights.h5"}
MAX_FILE_BYTES = 4 * 1024**3
MAX_JSON_BYTES = 64 * 1024**2
MAX_H5_OBJECTS = 100_000
#: HDF5 filters built into the library (deflate, shuffle, fletcher32) and h5py (lzf);
#: any other id would make HDF5 load a plugin library at read time
SAFE_FILTERS = frozenset({1, 2, 3, 32000})


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading and writing Keras files needs h5py: pip install 'engram[keras]'."
        ) from None
    return h5py


# --------------------------------------------------------------------------- structure
def _recurrent(layer: Any) -> bool:
    from engram.nn.layers.recurrent_base import Recurrent

    return isinstance(layer, Recurrent)


def _groups(layer: Any) -> list[tuple[str, str, list[np.ndarray]]]:
    """(path inside the layer's group, the ``name`` attribute, arrays) in Keras's layout."""
    from engram.nn.layers import Bidirectional, TimeDistributed

    if _recurrent(layer):
        cell = f"{allowlist.snake_case(type(layer).__name__)}_cell"
        return [("vars", layer.name, []), ("cell/vars", cell, layer.get_weights())]
    if isinstance(layer, TimeDistributed):
        inner = [(f"layer/{p}", n, w) for p, n, w in _groups(layer.layer)]
        return [("vars", layer.name, []), *inner]
    if isinstance(layer, Bidirectional):
        inner = [
            (f"{key}/{p}", n, w)
            for key, sub in (
                ("forward_layer", layer.forward_layer),
                ("backward_layer", layer.backward_layer),
            )
            for p, n, w in _groups(sub)
        ]
        return [("vars", layer.name, []), *inner]
    return [("vars", layer.name, layer.get_weights())]


def _model_layers(model: Any) -> list[Any]:
    from engram.nn.layers import InputLayer

    return [layer for layer in model.layers if not isinstance(layer, InputLayer)]


def _layer_paths(model: Any) -> list[tuple[Any, str]]:
    """Each layer with its Keras group path: ``layers/dense``, ``layers/dense_1``, ..."""
    used: dict[str, int] = {}
    out = []
    for layer in _model_layers(model):
        base = allowlist.snake_case(type(layer).__name__)
        if base in used:
            used[base] += 1
            path = f"{base}_{used[base]}"
        else:
            used[base] = 0
            path = base
        out.append((layer, f"layers/{path}"))
    return out


def _weight_datasets(model: Any) -> dict[str, np.ndarray]:
    """Every weight dataset's path and the array the model holds for it."""
    out = {}
    for layer, path in _layer_paths(model):
        for sub, _, arrays in _groups(layer):
            for i, array in enumerate(arrays):
                out[f"{path}/{sub}/{i}"] = array
    return out


# ------------------------------------------------------------------ optimizer slots
def _slot_table(optimizer: Any) -> list[tuple[str, float]]:
    """(engram slot, factor) per Keras optimizer variable of one weight: keras = factor * engram."""
    name = optimizer.name
    if name == "adam":
        return [("m_sum", 1 - optimizer.beta_1), ("v_sum", 1 - optimizer.beta_2)]
    if name == "sgd":
        return [("velocity", 1.0)] if optimizer.momentum else []
    if name == "rmsprop":
        return [("v", 1.0)]
    if name == "adagrad":
        return [("accumulator", 1.0)]
    raise ValueError(f"The {name} optimizer has no Keras counterpart engram can write.")


def _trainable(model: Any) -> list[tuple[str, np.ndarray]]:
    """(slot key, weight) in the order of Keras's ``model.trainable_variables``."""
    out = []
    for layer in _model_layers(model):
        if not layer.trainable:
            continue
        for key in layer.weight_names:
            if key in layer.params:
                out.append((f"{layer.name}/{key}", layer.params[key]))
    return out


def _optimizer_datasets(model: Any) -> list[tuple[str, np.ndarray, float]]:
    """(engram slot key/slot, weight, factor) for optimizer/vars/2, 3, ... in Keras's order."""
    table = _slot_table(model.optimizer)
    return [
        (f"{key}|{slot}", weight, factor)
        for key, weight in _trainable(model)
        for slot, factor in table
    ]


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
    config["dtype"] = layer.dtype
    if isinstance(layer, TimeDistributed):
        config["layer"] = _keras_layer(layer.layer)
    if isinstance(layer, Bidirectional):
        config["layer"] = _keras_layer(layer.forward_layer)
        config["backward_layer"] = _keras_layer(layer.backward_layer)
    entry = {"module": allowlist.LAYERS_MODULE, "class_name": class_name, "config": config}
    entry["registered_name"] = None
    if layer.input_shape is not None:
        entry["build_config"] = {"input_shape": [None, *layer.input_shape]}
    return entry


def _keras_compile_config(model: Any) -> dict[str, Any] | None:
    from engram.nn import losses

    if model.optimizer is None or model.loss is None:
        return None
    opt = model.optimizer
    reverse = {v: k for k, v in allowlist.OPTIMIZERS.items()}
    opt_config = {"name": opt.name, **opt.get_config()}
    loss = losses.to_json(model.loss)
    if isinstance(loss, dict):
        reverse_loss = {v: k for k, v in allowlist.LOSSES.items()}
        loss = {
            "module": "keras.losses",
            "class_name": reverse_loss[loss["name"]],
            "config": {**loss["config"], "reduction": "sum_over_batch_size"},
            "registered_name": None,
        }
    return {
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": reverse[opt.name],
            "config": opt_config,
            "registered_name": None,
        },
        "loss": loss,
        "loss_weights": None,
        "metrics": [m for m in model.metric_names if isinstance(m, str)] or None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def require_sequential(model: Any, what: str) -> None:
    """The one place that says which models these writers handle: Sequential (a chain)."""
    from engram.nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            f"{what} handles Sequential models only (a chain of layers); got "
            f"{type(model).__name__}. Functional models are not supported yet."
        )


def keras_config(model: Any) -> dict[str, Any]:
    """The model's architecture and compile settings as Keras 3 writes ``config.json``."""
    require_sequential(model, "Saving as .keras")
    if not model.built:
        raise ValueError("Only a built model can be saved: fit it, or pass input_shape.")
    batch_shape = [None, *model.layers[0].input_shape]
    input_entry = {
        "module": allowlist.LAYERS_MODULE,
        "class_name": "InputLayer",
        "config": {
            "batch_shape": batch_shape,
            "dtype": model.layers[0].dtype,
            "name": "input_layer",
        },
        "registered_name": None,
    }
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": model.name,
            "trainable": True,
            "dtype": {**dtype, "registered_name": None},
            "layers": [input_entry, *(_keras_layer(layer) for layer in _model_layers(model))],
            "build_input_shape": batch_shape,
        },
        "registered_name": None,
        "build_config": {"input_shape": batch_shape},
    }
    compile_config = _keras_compile_config(model)
    if compile_config is not None:
        config["compile_config"] = compile_config
    return config


def _weights_h5(model: Any, with_optimizer: bool) -> bytes:
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("layers")
        for layer, path in _layer_paths(model):
            for sub, name, arrays in _groups(layer):
                group = f.require_group(f"{path}/{sub}")
                group.attrs["name"] = name
                for i, array in enumerate(arrays):
                    group.create_dataset(str(i), data=np.ascontiguousarray(array))
        if with_optimizer and model.optimizer is not None:
            opt = model.optimizer
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = opt.name
            group.create_dataset("0", data=np.int32(opt.iterations))
            group.create_dataset("1", data=np.float32(opt.learning_rate))
            for i, (key, weight, factor) in enumerate(_optimizer_datasets(model), start=2):
                slot_key, slot = key.split("|")
                state = opt.slots.get(slot_key) or opt.init_slots(weight)
                value = (state[slot] * factor).astype(weight.dtype)
                group.create_dataset(str(i), data=value)
        f.create_group("vars").attrs["name"] = model.name
    return buffer.getvalue()


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` as a Keras 3 ``.keras`` file (atomically) that Keras 3 loads."""
    config = keras_config(model)
    from engram.nn.io import _rng_states

    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        # Keras does not read metadata.json; engram keeps its generators' states here so that
        # shuffling and dropout resume where they were (as with .engram files)
        "engram": {"rng_state": _rng_states(model)},
    }
    entries = {
        "metadata.json": json.dumps(metadata).encode(),
        "config.json": json.dumps(config).encode(),
        "model.weights.h5": _weights_h5(model, with_optimizer=model.optimizer is not None),
    }
    return atomic_write_bytes(path, write_zip(entries))


def save_weights(model: Any, path: str | os.PathLike) -> Path:
    """Write the weights as Keras 3's ``.weights.h5`` (atomically)."""
    require_sequential(model, "Saving as .weights.h5")
    if not model.built:
        raise ValueError("Only a built model can be saved: fit it, or pass input_shape.")
    return atomic_write_bytes(path, _weights_h5(model, with_optimizer=False))


# --------------------------------------------------------------------------- reading
def _read_bytes(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ModelFileError(f"{path} is larger than {MAX_FILE_BYTES} bytes. Refused.")
    return path.read_bytes()


def _json(data: bytes, name: str, entry: str) -> Any:
    if len(data) > MAX_JSON_BYTES:
        raise ModelFileError(f"{name}: {entry} is larger than {MAX_JSON_BYTES} bytes. Refused.")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{name}: {entry} is not valid JSON ({exc}).") from None


def _sequential_layers(config: Any, name: str) -> tuple[str, list[dict], list | None]:
    """The graph's wiring, read in one place: (model name, layer entries, batch input shape)."""
    module, class_name, inner = allowlist.check_entry(config, name, "config.json")
    if (module, class_name) in (("keras", "Functional"), ("keras", "Model")):
        raise allowlist.refuse(
            name, "the file holds a functional model; engram reads Sequential models only today"
        )
    if (module, class_name) not in (("keras", "Sequential"), ("keras.models", "Sequential")):
        raise allowlist.refuse(
            name, f"config.json is the class {module}.{class_name}, not a Sequential model"
        )
    entries = inner.get("layers")
    if not isinstance(entries, list) or not entries:
        raise allowlist.refuse(name, "config.json has no list of layers")
    model_name = inner.get("name", "sequential")
    if not isinstance(model_name, str):
        raise allowlist.refuse(name, "config.json's model name is not a string")
    return model_name, entries, inner.get("build_input_shape")


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


def engram_config(config: Any, name: str) -> dict[str, Any]:
    """A Keras ``config.json`` as engram's Sequential config (every name checked first)."""
    model_name, entries, build_shape = _sequential_layers(config, name)
    layers = []
    input_shape = None
    for i, entry in enumerate(entries):
        converted = _engram_layer(entry, name, f"layer {i}")
        if converted["class_name"] == "InputLayer":
            if i != 0:
                raise allowlist.refuse(name, f"layer {i} is an InputLayer after the first layer")
            input_shape = converted["config"].get("shape")
            continue
        layers.append(converted)
    if input_shape is None and isinstance(build_shape, list) and build_shape:
        input_shape = build_shape[1:]
    if input_shape is None or not all(isinstance(s, int) and s > 0 for s in input_shape):
        raise allowlist.refuse(
            name, f"the model's input shape {input_shape!r} is not a list of sizes"
        )
    if not layers:
        raise allowlist.refuse(name, "the model has no layers besides its input")
    return {"name": model_name, "layers": layers, "input_shape": list(input_shape)}


def _walk_h5(f: Any, name: str) -> dict[str, Any]:
    """Every dataset in the file by path, after checking every link and dataset (no data read)."""
    h5py = _h5py()
    found: dict[str, Any] = {}
    count = 0

    def walk(group: Any, prefix: str) -> None:
        nonlocal count
        for key in group.keys():
            count += 1
            if count > MAX_H5_OBJECTS:
                raise ModelFileError(f"{name}: the weights file has over {MAX_H5_OBJECTS} objects.")
            path = f"{prefix}{key}"
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ModelFileError(
                    f"{name}: weights entry {path!r} is a {type(link).__name__} (a link to "
                    "another place or file). Refused: engram reads only data inside the file."
                )
            obj = group.get(key)
            if isinstance(obj, h5py.Group):
                walk(obj, f"{path}/")
            elif isinstance(obj, h5py.Dataset):
                plist = obj.id.get_create_plist()
                if obj.is_virtual:
                    raise ModelFileError(
                        f"{name}: weights entry {path!r} is a virtual dataset. Refused."
                    )
                if plist.get_external_count():
                    raise ModelFileError(
                        f"{name}: weights entry {path!r} keeps its data in an external file. "
                        "Refused."
                    )
                filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
                if filters - SAFE_FILTERS:
                    raise ModelFileError(
                        f"{name}: weights entry {path!r} uses HDF5 filter(s) "
                        f"{sorted(filters - SAFE_FILTERS)}, which would load a plugin. Refused."
                    )
                found[path] = obj
            else:
                raise ModelFileError(
                    f"{name}: weights entry {path!r} is not a group or dataset. Refused."
                )

    walk(f, "")
    return found


def _read_dataset(dataset: Any, shape: tuple, dtype: Any, name: str, path: str) -> np.ndarray:
    if dataset.shape != tuple(shape) or dataset.dtype != np.dtype(dtype):
        raise ModelFileError(
            f"{name}: weights entry {path!r} has shape {dataset.shape} and dtype {dataset.dtype}; "
            f"the architecture needs shape {tuple(shape)} and dtype {np.dtype(dtype)}. Refused."
        )
    try:
        return np.array(dataset[()], dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{name}: weights entry {path!r} cannot be read ({exc}).") from None


@contextlib.contextmanager
def _corruption_refused(name: str) -> Iterator[None]:
    """HDF5's errors on a damaged file (RuntimeError, ValueError, ...) as `ModelFileError`."""
    try:
        yield
    except ModelFileError:
        raise
    except (RuntimeError, ValueError, KeyError, TypeError, OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{name}: the weights file is damaged ({exc}). Refused.") from None


def _open_h5(data: bytes, name: str) -> Any:
    h5py = _h5py()
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ModelFileError(f"{name}: the weights are not an HDF5 file (no HDF5 signature).")
    try:
        return h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{name}: the weights file is not valid HDF5 ({exc}).") from None


def _assign_weights(model: Any, datasets: dict[str, Any], name: str, optimizer_ok: bool) -> None:
    expected = _weight_datasets(model)
    unexpected = [
        p
        for p in datasets
        if p not in expected and not (optimizer_ok and p.startswith("optimizer/vars/"))
    ]
    if unexpected:
        raise ModelFileError(
            f"{name}: the weights file holds {unexpected[:5]}, which the architecture does not "
            "have. Refused."
        )
    missing = [p for p in expected if p not in datasets]
    if missing:
        raise ModelFileError(f"{name}: the weights file lacks {missing[:5]} for this architecture.")
    values = {p: _read_dataset(datasets[p], a.shape, a.dtype, name, p) for p, a in expected.items()}
    for layer, path in _layer_paths(model):
        targets = [(layer_of, sub) for layer_of, sub in _owners(layer)]
        for owner, sub in targets:
            n = len(owner.get_weights())
            if n:
                owner.set_weights([values[f"{path}/{sub}/{i}"] for i in range(n)])


def _owners(layer: Any) -> list[tuple[Any, str]]:
    """(the layer whose set_weights takes the arrays, path) for each group with weights."""
    from engram.nn.layers import Bidirectional, TimeDistributed

    if _recurrent(layer):
        return [(layer, "cell/vars")]
    if isinstance(layer, TimeDistributed):
        return [(layer.layer, f"layer/{sub}") for _, sub in _owners(layer.layer)]
    if isinstance(layer, Bidirectional):  # each direction's set_weights writes the wrapper's
        return [
            (owner, f"{key}/{sub}")
            for key, inner in (
                ("forward_layer", layer.forward_layer),
                ("backward_layer", layer.backward_layer),
            )
            for owner, sub in _owners(inner)
        ]
    return [(layer, "vars")]


def _restore_optimizer(model: Any, datasets: dict[str, Any], name: str) -> None:
    opt_paths = [p for p in datasets if p.startswith("optimizer/vars/")]
    if not opt_paths:
        return
    slots = _optimizer_datasets(model)
    expected = {f"optimizer/vars/{i}" for i in range(2 + len(slots))}
    if set(opt_paths) != expected:
        raise ModelFileError(
            f"{name}: the optimizer state has {len(opt_paths)} variables; the "
            f"{model.optimizer.name} "
            f"optimizer over this architecture has {len(expected)}. Refused."
        )
    it = datasets["optimizer/vars/0"]
    if it.shape != () or it.dtype not in (np.dtype("int32"), np.dtype("int64")):
        raise ModelFileError(f"{name}: optimizer iteration count must be an integer scalar.")
    iterations = int(it[()])
    if iterations < 0:
        raise ModelFileError(f"{name}: optimizer iteration count {iterations} is negative.")
    _read_dataset(datasets["optimizer/vars/1"], (), np.float32, name, "optimizer/vars/1")
    opt = model.optimizer
    opt.iterations = iterations
    for i, (key, weight, factor) in enumerate(slots, start=2):
        path = f"optimizer/vars/{i}"
        value = _read_dataset(datasets[path], weight.shape, weight.dtype, name, path)
        slot_key, slot = key.split("|")
        opt.slots.setdefault(slot_key, {})[slot] = (value / factor).astype(weight.dtype)


def load_model(path: str | os.PathLike, compile: bool = True) -> Any:  # noqa: A002
    """Load a Keras 3 ``.keras`` file as an engram `Sequential`, without running any code.

    Raises:
        ModelFileError: the archive, the config or the weights break a rule (module docstring);
            the message names the entry.
    """

    name = str(path)
    entries = read_zip(_read_bytes(path), name, ENTRIES)
    missing = ENTRIES - set(entries)
    if missing:
        raise ModelFileError(f"{name} is not a Keras 3 file: it lacks {sorted(missing)}.")
    metadata = _json(entries["metadata.json"], name, "metadata.json")
    if not isinstance(metadata, dict) or not str(metadata.get("keras_version", "")).startswith(
        "3."
    ):
        raise ModelFileError(f"{name}: metadata.json names no Keras 3 version.")
    config = _json(entries["config.json"], name, "config.json")
    try:  # a value of the wrong type anywhere in the config is a malformed file
        engram_cfg = engram_config(config, name)
        compile_config = config.get("compile_config") if compile else None
        compile_args = _compile_args(compile_config, name) if compile_config else None
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{name}: config.json is malformed ({exc}). Refused.") from None
    with _corruption_refused(name), _open_h5(entries["model.weights.h5"], name) as f:
        sizes = [d.size for d in _walk_h5(f, name).values()]
    model = _build_within(engram_cfg, sizes, name)
    if compile_args is not None:
        try:
            model.compile(**compile_args)
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelFileError(
                f"{name}: the compile settings cannot be restored: {exc}"
            ) from None
    with _corruption_refused(name), _open_h5(entries["model.weights.h5"], name) as f:
        datasets = _walk_h5(f, name)
        _assign_weights(model, datasets, name, optimizer_ok=True)
        if compile_args is not None:
            _restore_optimizer(model, datasets, name)
    engram_meta = metadata.get("engram")
    if isinstance(engram_meta, dict) and "rng_state" in engram_meta:
        from engram.nn.io import _restore_rng_states

        _restore_rng_states(model, engram_meta["rng_state"], name)
    return model


class _WeightTooLarge(Exception):
    pass


def _build_within(config: dict, sizes: list[int], name: str) -> Any:
    """Build the engram model, each weight allowed only as large as an array in the file.

    Every weight must match one of the file's arrays exactly, so a config asking for a weight
    larger than the largest array, or more values than the file holds, is refused while it is
    built (a config of ``units=10**12`` allocates nothing). Weights are built as zeros, with
    the config's initializers put back on the layers afterwards (the file's values replace the
    zeros).
    """
    from engram.nn import initializers
    from engram.nn.sequential import Sequential

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

    originals: list[dict] = []

    def bounded(layer_cfg: dict) -> dict:
        cfg = dict(layer_cfg["config"])
        originals.append(
            {k: initializers.get(v) for k, v in cfg.items() if k.endswith("initializer")}
        )
        for key in originals[-1]:
            cfg[key] = BoundedZeros()
        for key in allowlist.NESTED_LAYERS.get(layer_cfg.get("class_name"), ()):
            if cfg.get(key) is not None:
                cfg[key] = bounded(cfg[key])
            elif key == "backward_layer":  # Bidirectional makes it from "layer"'s config
                originals.append(dict(originals[-1]))
        return {**layer_cfg, "config": cfg}

    try:
        building = {**config, "layers": [bounded(entry) for entry in config["layers"]]}
        model = Sequential.from_config(building)
    except _WeightTooLarge as exc:
        raise ModelFileError(str(exc)) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, MemoryError) as exc:
        raise ModelFileError(f"{name}: the architecture cannot be built in engram: {exc}") from None
    from engram.nn.layers import Bidirectional, TimeDistributed

    flat = []
    for layer in model.layers:
        flat.append(layer)
        if isinstance(layer, TimeDistributed):
            flat.append(layer.layer)
        if isinstance(layer, Bidirectional):
            flat += [layer.forward_layer, layer.backward_layer]
    for layer, keys in zip(flat, originals, strict=True):
        for key, value in keys.items():
            setattr(layer, key, value)
    return model


def _compile_args(config: Any, name: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise allowlist.refuse(name, "compile_config is not an object")
    metrics = config.get("metrics") or []
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise allowlist.refuse(name, f"compile_config.metrics {metrics!r} is not a list of names")
    for key in ("loss_weights", "weighted_metrics"):
        if config.get(key) is not None:
            raise allowlist.refuse(
                name, f"compile_config.{key} is set; engram does not implement it"
            )
    return {
        "optimizer": allowlist.optimizer_config(config.get("optimizer"), name),
        "loss": allowlist.loss_config(config.get("loss"), name),
        "metrics": metrics,
    }


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load Keras 3 ``.weights.h5`` weights into a model of the same architecture."""
    require_sequential(model, "Loading .weights.h5")
    if not model.built:
        model.build()
    name = str(path)
    with _corruption_refused(name), _open_h5(_read_bytes(path), name) as f:
        _assign_weights(model, _walk_h5(f, name), name, optimizer_ok=True)
