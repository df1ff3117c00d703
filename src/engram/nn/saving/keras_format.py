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

The architecture (``config.json``) is read and written in architecture.py: a model's wiring in
one place, `architecture._read_model` (a Sequential model's layer list there, a functional
model's layers and ``inbound_nodes`` in functional.py: every reference checked, cycles refused),
nested models by the same rules, every layer entry through the same `allowlist.layer_mapping`, so
a new layer is one allowlist entry. This module lays out the weights: `_entries` walks nested
models as Keras does (``layers/functional/layers/dense/vars``).
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
from engram.nn.saving import allowlist, architecture
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


def _groups(layer: Any, legacy: bool = False) -> list[tuple[str, str, Any, list[np.ndarray]]]:
    """(path inside the layer's group, the ``name`` attribute, the layer whose ``set_weights``
    takes the arrays, arrays) in Keras's layout (``legacy``: see `_legacy_layout`)."""
    from engram.nn.layers import Bidirectional, TimeDistributed
    from engram.nn.model import Model

    if isinstance(layer, Model):
        return [*_entries(layer, legacy), ("vars", layer.name, layer, [])]
    if _recurrent(layer):
        cell = f"{allowlist.snake_case(type(layer).__name__)}_cell"
        return [("vars", layer.name, layer, []), ("cell/vars", cell, layer, layer.get_weights())]
    if isinstance(layer, TimeDistributed):
        inner = [(f"layer/{p}", n, o, w) for p, n, o, w in _groups(layer.layer, legacy)]
        return [("vars", layer.name, layer, []), *inner]
    if isinstance(layer, Bidirectional):  # each direction's set_weights writes the wrapper's
        inner = [
            (f"{key}/{p}", n, o, w)
            for key, sub in (
                ("forward_layer", layer.forward_layer),
                ("backward_layer", layer.backward_layer),
            )
            for p, n, o, w in _groups(sub, legacy)
        ]
        return [("vars", layer.name, layer, []), *inner]
    return [("vars", layer.name, layer, layer.get_weights())]


def _subclassed(model: Any) -> bool:
    from engram.nn.model import _subclassed as subclassed

    return subclassed(model)


def _entries(model: Any, legacy: bool = False) -> list[tuple[str, str, Any, list[np.ndarray]]]:
    """Every group Keras writes for ``model``'s layers: (path, name attribute, owner, arrays),
    paths from the class names made unique in order: ``layers/dense``, ``layers/dense_1``
    (a subclassed model's by attribute, unless ``legacy``: see `_legacy_layout`)."""
    if _subclassed(model) and not legacy:
        return _attribute_entries(model)
    return _container_entries("layers", architecture.children(model), set(), legacy)


def _container_entries(
    path: str, layers: list[Any], written: set[int], legacy: bool = False
) -> list[tuple[str, str, Any, list[np.ndarray]]]:
    """A list of layers' groups under ``path``: ``path/dense``, ``path/dense_1``, ... (each
    name counted for every layer of the list, written already or not, as Keras counts)."""
    used: dict[str, int] = {}
    out = []
    for layer in layers:
        base = allowlist.snake_case(architecture.keras_class(layer))
        used[base] = used.get(base, -1) + 1
        if id(layer) not in written:
            written.add(id(layer))
            sub = f"{path}/{base}_{used[base]}" if used[base] else f"{path}/{base}"
            out += [(f"{sub}/{p}", n, o, w) for p, n, o, w in _groups(layer, legacy)]
    return out


def _attribute_entries(model: Any) -> list[tuple[str, str, Any, list[np.ndarray]]]:
    """A subclassed model's groups as Keras 3.15.1 writes them (``saving_lib._walk_saveable``):
    its attributes in sorted order, ``layers`` among them, each layer once where it is first
    reached: a layer under its attribute's name (``d1/vars``), a list or dict of layers under
    the attribute (``blocks/dense``, ``blocks/dense_1``), and a layer no attribute sorting
    before ``layers`` holds under ``layers/<class>_<i>`` (i: its place among model.layers)."""
    from engram.nn.layers.base import Layer

    tracked = model.__dict__.get("_tracked", {})
    written: set[int] = set()
    out = []
    for attr in sorted({*tracked, "layers"}):
        value = model.layers if attr == "layers" else tracked[attr]
        if isinstance(value, Layer):
            if id(value) not in written:
                written.add(id(value))
                out += [(f"{attr}/{p}", n, o, w) for p, n, o, w in _groups(value)]
            continue
        items = list(value.values()) if isinstance(value, dict) else list(value)
        out += _container_entries(attr, [v for v in items if isinstance(v, Layer)], written)
    return out


def _weight_datasets(model: Any, legacy: bool = False) -> dict[str, np.ndarray]:
    """Every weight dataset's path and the array the model holds for it."""
    entries = _entries(model, legacy)
    return {f"{path}/{i}": a for path, _, _, arrays in entries for i, a in enumerate(arrays)}


def _legacy_layout(model: Any, datasets: dict[str, Any]) -> bool:
    """Whether ``datasets`` hold a subclassed model's weights in the layout engram wrote before
    2026-12-06 (every layer under ``layers/<class>_<i>``, as for a functional model), not in
    Keras's layout by attribute: such files still load, so no saved weights become
    unreadable."""
    if not _subclassed(model) or all(p in datasets for p in _weight_datasets(model)):
        return False
    return all(p in datasets for p in _weight_datasets(model, legacy=True))


# ------------------------------------------------------------------ optimizer slots
def _slot_table(
    optimizer: Any,
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Keras's optimizer variables of one weight as (engram slot, factor), keras = factor *
    engram: those Keras interleaves weight by weight, and those it keeps in a block after all
    of them (AMSGrad's ``velocity_hat``, built by a second ``add_optimizer_variables``)."""
    name = optimizer.name
    if name in ("adam", "adamw"):
        b2 = 1 - optimizer.beta_2
        after = [("v_hat_sum", b2)] if optimizer.amsgrad else []
        return [("m_sum", 1 - optimizer.beta_1), ("v_sum", b2)], after
    if name == "nadam":
        return [("m", 1.0), ("v", 1.0)], []
    if name == "sgd":
        return ([("velocity", 1.0)] if optimizer.momentum else []), []
    if name == "rmsprop":
        return [("v", 1.0)], []
    if name == "adagrad":
        return [("accumulator", 1.0)], []
    raise ValueError(f"The {name} optimizer has no Keras counterpart engram can write.")


def _scalar_state(optimizer: Any) -> int:
    """How many scalars Keras keeps after the per-weight variables: Nadam's ``u_product``."""
    return 1 if optimizer.name == "nadam" else 0


def _leaf_layers(model: Any) -> list[Any]:
    """The layers that hold weights, nested models opened, in Keras's order."""
    from engram.nn.layers import InputLayer
    from engram.nn.model import Model

    out: list[Any] = []
    for layer in architecture.children(model):
        if isinstance(layer, Model):
            out += _leaf_layers(layer)
        elif not isinstance(layer, InputLayer):
            out.append(layer)
    return out


def _trainable(model: Any) -> list[tuple[str, np.ndarray]]:
    """(slot key, weight) in the order of Keras's ``model.trainable_variables``."""
    out = []
    for layer in _leaf_layers(model):
        if not layer.trainable:
            continue
        for key in layer.weight_names:
            if key in layer.params:
                out.append((f"{layer.name}/{key}", layer.params[key]))
    return out


def _first_slot(optimizer: Any) -> int:
    """The index of the first slot in optimizer/vars: after the iteration count and, unless
    the rate is a schedule, the learning-rate variable."""
    return 1 if optimizer.schedule is not None else 2


def _optimizer_datasets(model: Any) -> list[tuple[str, np.ndarray, float]]:
    """(engram slot key/slot, weight, factor) for optimizer/vars/2, 3, ... in Keras's order."""
    interleaved, after = _slot_table(model.optimizer)
    trainable = _trainable(model)
    out = [(f"{key}|{slot}", w, factor) for key, w in trainable for slot, factor in interleaved]
    return out + [(f"{key}|{slot}", w, factor) for slot, factor in after for key, w in trainable]


def _weights_h5(model: Any, with_optimizer: bool) -> bytes:
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        if not _subclassed(model):  # a subclassed model's groups are its attributes
            f.create_group("layers")
        for path, name, _, arrays in _entries(model):
            group = f.require_group(path)
            group.attrs["name"] = name
            for i, array in enumerate(arrays):
                data = np.ascontiguousarray(array).reshape(array.shape)  # 0-d stays 0-d
                group.create_dataset(str(i), data=data)
        if with_optimizer and model.optimizer is not None:
            opt = model.optimizer
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = opt.name
            group.create_dataset("0", data=np.int32(opt.iterations))
            if opt.schedule is None:  # Keras keeps no learning-rate variable for a schedule
                group.create_dataset("1", data=np.float32(opt.learning_rate))
            first = _first_slot(opt)
            for i, (key, weight, factor) in enumerate(_optimizer_datasets(model), start=first):
                slot_key, slot = key.split("|")
                state = opt.slots.get(slot_key) or opt.init_slots(weight)
                value = (state[slot] * factor).astype(weight.dtype)
                group.create_dataset(str(i), data=value)
            if _scalar_state(opt):  # Nadam's u_product: U_t of the updates made so far
                end = first + len(_optimizer_datasets(model))
                u_product = np.float32(opt.momentum_product(opt.iterations))
                group.create_dataset(str(end), data=u_product)
        f.create_group("vars").attrs["name"] = model.name
    return buffer.getvalue()


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` as a Keras 3 ``.keras`` file (atomically) that Keras 3 loads."""
    config = architecture.keras_config(model)
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
    architecture.require_graph_model(model, "Saving as .weights.h5", weights_only=True)
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


def _check_owner_names(model: Any, datasets: dict[str, Any], name: str) -> None:
    """Each layer's weights group names the layer the model puts at that path (its ``name``
    attribute), so a file whose layers engram orders otherwise than Keras is refused rather
    than loaded with weights swapped between layers of one class and shape."""
    for path, expected, _, arrays in _entries(model):
        if not arrays or path.endswith("cell/vars"):
            continue
        stored = datasets[f"{path}/0"].parent.attrs.get("name")
        stored = stored.decode(errors="replace") if isinstance(stored, bytes) else stored
        if isinstance(stored, str) and stored != expected:
            raise ModelFileError(
                f"{name}: the weights under {path!r} are those of the layer {stored!r}; the "
                f"architecture puts {expected!r} there. Refused."
            )


def _assign_weights(model: Any, datasets: dict[str, Any], name: str, optimizer_ok: bool) -> None:
    legacy = _legacy_layout(model, datasets)
    expected = _weight_datasets(model, legacy)
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
    for path, _, owner, arrays in _entries(model, legacy):
        if arrays:
            owner.set_weights([values[f"{path}/{i}"] for i in range(len(arrays))])


def _iterations(datasets: dict[str, Any], name: str) -> int:
    it = datasets["optimizer/vars/0"]
    if it.shape != () or it.dtype not in (np.dtype("int32"), np.dtype("int64")):
        raise ModelFileError(f"{name}: optimizer iteration count must be an integer scalar.")
    iterations = int(it[()])
    if iterations < 0:
        raise ModelFileError(f"{name}: optimizer iteration count {iterations} is negative.")
    return iterations


def _restore_optimizer(model: Any, datasets: dict[str, Any], name: str) -> None:
    opt_paths = [p for p in datasets if p.startswith("optimizer/vars/")]
    if not opt_paths:
        return
    slots = _optimizer_datasets(model)
    first = _first_slot(model.optimizer)
    end = first + len(slots)
    expected = {f"optimizer/vars/{i}" for i in range(end + _scalar_state(model.optimizer))}
    unbuilt = {f"optimizer/vars/{i}" for i in range(first)}  # Keras's, compiled, never fit
    if set(opt_paths) == unbuilt and unbuilt != expected:
        if _iterations(datasets, name) != 0:
            raise ModelFileError(f"{name}: the optimizer has made updates but kept no state.")
        return
    if set(opt_paths) != expected:
        raise ModelFileError(
            f"{name}: the optimizer state has {len(opt_paths)} variables; the "
            f"{model.optimizer.name} "
            f"optimizer over this architecture has {len(expected)}. Refused."
        )
    iterations = _iterations(datasets, name)
    if first == 2:
        _read_dataset(datasets["optimizer/vars/1"], (), np.float32, name, "optimizer/vars/1")
    opt = model.optimizer
    opt.iterations = iterations
    for i, (key, weight, factor) in enumerate(slots, start=first):
        path = f"optimizer/vars/{i}"
        value = _read_dataset(datasets[path], weight.shape, weight.dtype, name, path)
        slot_key, slot = key.split("|")
        opt.slots.setdefault(slot_key, {})[slot] = (value / factor).astype(weight.dtype)
    if _scalar_state(opt):  # Nadam continues from Keras's float32 product, as Keras does
        path = f"optimizer/vars/{end}"
        u_product = float(_read_dataset(datasets[path], (), np.float32, name, path))
        if not 0.0 < u_product <= 1.0:
            raise ModelFileError(f"{name}: {path} (Nadam's u_product) is {u_product}. Refused.")
        opt._cache = (iterations, u_product)


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
        engram_cfg = architecture.read_config(config, name)
        compile_config = config.get("compile_config") if compile else None
        compile_args = architecture.compile_args(compile_config, name) if compile_config else None
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{name}: config.json is malformed ({exc}). Refused.") from None
    with _corruption_refused(name), _open_h5(entries["model.weights.h5"], name) as f:
        sizes = [d.size for d in _walk_h5(f, name).values()]
    model = architecture.build_within(engram_cfg, sizes, name)
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
        _check_owner_names(model, datasets, name)  # before the model is returned
        if compile_args is not None:
            _restore_optimizer(model, datasets, name)
    engram_meta = metadata.get("engram")
    if isinstance(engram_meta, dict) and "rng_state" in engram_meta:
        from engram.nn.io import _restore_rng_states

        _restore_rng_states(model, engram_meta["rng_state"], name)
    return model


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load Keras 3 ``.weights.h5`` weights into a model of the same architecture."""
    architecture.require_graph_model(model, "Loading .weights.h5", weights_only=True)
    if not model.built:
        model.build()
    name = str(path)
    with _corruption_refused(name), _open_h5(_read_bytes(path), name) as f:
        _assign_weights(model, _walk_h5(f, name), name, optimizer_ok=True)
