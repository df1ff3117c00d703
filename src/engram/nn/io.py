"""Model files: architecture, weights and training state in one data-only file.

The format is safetensors: an 8-byte little-endian header length, a JSON header describing each
tensor (dtype, shape, byte offsets) with a ``__metadata__`` map of strings, then raw little-endian
tensor bytes. engram stores:

* tensors ``weights/<layer>/<key>``, ``state/<layer>/<key>`` (e.g. moving averages) and
  ``optimizer/<layer>/<key>/<slot>``;
* metadata ``format = "engram-model"``, ``format_version``, ``layer_names`` (in order, so
  `load_weights` can match layers by position as Keras does; a nested model's layers as
  ``model/layer``), ``model_config`` (JSON naming only classes from engram's layer registry; a
  functional model, or one holding nested models, keeps its graph as data under
  ``keras_architecture`` instead, read with the ``.keras`` reader's checks:
  engram.nn.saving.engram_graph), ``compile_config`` (optimizer/loss/metrics by name) and
  ``rng_state`` (the random generators' states, so shuffling and dropout resume where they were:
  training 2 epochs equals training 1, saving, loading and training 1 more, bit for bit);
* metadata ``tensors_sha256``: a SHA-256 of every tensor (`tensors_checksum`), verified on
  loading: a flipped byte is refused. Files written before engram stored it load unverified.

Loading never unpickles and never imports anything: every class name is looked up in engram's
registries, every tensor is checked against the architecture. The order is fixed so that a
hostile or damaged file costs nothing: first the header alone (the tensors must tile the file
exactly, their total within `MAX_MODEL_BYTES`), then the architecture, built with placeholder
weights (zeros the system has not committed, no random draws), whose every weight name and shape
must match the header, and only then the tensor data, one tensor at a time, checked against the
checksum. A file holding NaN or Inf is refused too (a model saved after training diverged), and
a model whose weights are not finite is not saved. Any problem raises `ModelFileError` (a
`ValueError`) before a model is returned, never MemoryError. Saving is atomic; the temporary
files of saves that were killed are removed by the next save to the same path
(`engram.fileio`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engram.fileio import atomic_write_bytes

FORMAT = "engram-model"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: the largest total of tensor bytes `load_model` and `load_weights` read; raise it to load a
#: larger trusted file
MAX_MODEL_BYTES = 16 * 2**30
CHECKSUM_KEY = "tensors_sha256"


class ModelFileError(ValueError):
    """A model file that engram refuses to load: truncated, malformed, unknown or pickled."""


def _weight_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, layer) for every layer holding weights: ``dense`` for a layer of the model,
    ``encoder/dense`` for a layer of a nested model (each nested model once, shared or not)."""
    out: list[tuple[str, Any]] = []
    for layer in model.layers:
        if hasattr(layer, "graph_layers"):  # a nested model: its layers under its name
            out += _weight_layers(layer, f"{prefix}{layer.name}/")
        else:
            out.append((f"{prefix}{layer.name}", layer))
    return out


def _tensors_of(model: Any, with_optimizer: bool) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for path, layer in _weight_layers(model):
        for key, value in layer.params.items():
            tensors[f"weights/{path}/{key}"] = np.ascontiguousarray(value)
        for key, value in layer.state_arrays().items():
            # reshaped: ascontiguousarray makes a 0-d array (Normalization's count) 1-d
            tensors[f"state/{path}/{key}"] = np.ascontiguousarray(value).reshape(value.shape)
    if with_optimizer and model.optimizer is not None:
        for slot_key, slots in model.optimizer.slots.items():
            for slot, value in slots.items():
                tensors[f"optimizer/{slot_key}/{slot}"] = np.ascontiguousarray(value)
    return tensors


def _compile_config(model: Any) -> dict[str, Any] | None:
    if model.optimizer is None or model.loss is None:
        return None
    from engram.nn import losses, optimizers
    from engram.nn import metrics as metrics_module

    def stored(metrics: Any) -> Any:
        """Names and built-in metric objects (as their config), per output as given (lists
        or a dict); functions cannot be stored."""
        if isinstance(metrics, dict):
            return {k: stored(v) for k, v in metrics.items()}
        if isinstance(metrics, (list, tuple)):
            kept = [stored(m) for m in metrics]
            return [m for m in kept if m is not None]
        return metrics_module.to_json(metrics)

    given = model.__dict__.get("_loss_names_given") or [None] * len(model._losses)
    loss = [g or losses.to_json(v) for v, g in zip(model._losses, given, strict=True)]
    config = {
        "optimizer": optimizers.to_json(model.optimizer),
        "optimizer_iterations": model.optimizer.iterations,
        "loss": loss if isinstance(model.loss, list) else loss[0],
        "metrics": stored(model.metric_names or []),
    }
    if any(w != 1.0 for w in model._loss_weights):
        config["loss_weights"] = list(model._loss_weights)
    return config


def _serialize(model: Any, weights_only: bool, graph: tuple[str, str] | None = None) -> bytes:
    from safetensors.numpy import save

    if not model.built:
        raise ValueError("Only a built model can be saved: fit it, or pass input_shape.")
    bad = nonfinite_tensors(model)
    if bad:
        raise ValueError(
            f"The model's weights hold NaN or infinite values ({', '.join(bad[:4])}): its "
            "training diverged, and engram refuses to load such a file, so it is not saved. "
            "Restore good weights (a checkpoint, EarlyStopping(restore_best_weights=True)) or "
            "retrain with a lower learning_rate."
        )
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    # the path of every layer holding weights (a layer's name; model/layer inside a nested one)
    metadata["layer_names"] = json.dumps([path for path, _ in _weight_layers(model)])
    if not weights_only:
        if graph is not None:  # the wiring as data (engram.nn.saving.engram_graph)
            metadata[graph[0]] = graph[1]
        else:
            metadata["model_config"] = json.dumps(model._engram_config())
        metadata["rng_state"] = json.dumps(_rng_states(model))
        compile_config = _compile_config(model)
        if compile_config is not None:
            metadata["compile_config"] = json.dumps(compile_config)
    tensors = _tensors_of(model, with_optimizer=not weights_only)
    metadata[CHECKSUM_KEY] = tensors_checksum(tensors)
    return save(tensors, metadata=metadata)


def save_model(model: Any, path: str | os.PathLike, graph: tuple[str, str] | None = None) -> Path:
    """Write ``model`` (architecture, weights, optimizer state) to ``path`` atomically;
    ``graph`` is (metadata key, JSON) of a functional model's graph, stored instead of
    ``model_config`` (engram.nn.saving.engram_graph makes it)."""
    return atomic_write_bytes(path, _serialize(model, weights_only=False, graph=graph))


def save_weights(model: Any, path: str | os.PathLike) -> Path:
    """Write only the weights of ``model`` to ``path`` atomically."""
    return atomic_write_bytes(path, _serialize(model, weights_only=True))


# safetensors dtype codes engram reads, as little-endian NumPy dtypes
_DTYPES = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "U32": "<u4",
    "I32": "<i4", "U64": "<u8", "I64": "<i8", "F16": "<f2", "F32": "<f4", "F64": "<f8",
}  # fmt: skip


class _ModelFile:
    """A model file whose header has been read and checked; tensor data is read only on
    `read_tensors`, after the caller has matched every name and shape against the model.

    Nothing here reads more than the 8-byte length and the header before every check has
    passed: the tensors must tile the data section exactly (a truncated file, or one with
    bytes after its last tensor, is refused from its size alone), and their total size must be
    within `MAX_MODEL_BYTES`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.name = name = str(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"No model file at {name!r}.")
        with open(self.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(9)
            header_len = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else None
            _check_signature(name, head, header_len)
            if header_len is None:
                raise ModelFileError(f"{name} is truncated: {size} bytes, too short for a header.")
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise ModelFileError(
                    f"{name} has a bad header: it declares {header_len} header bytes but the "
                    f"file has {size - 8} after the length field (truncated or not a model file)."
                )
            handle.seek(8)
            raw = handle.read(header_len)
        self.data_start = 8 + header_len
        header = _parse_header(name, raw)
        self.metadata = _check_metadata(name, header.get("__metadata__") or {})
        self.entries = _check_entries(name, header, size - self.data_start)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {key: shape for key, (_, shape, _) in self.entries.items()}

    def read_tensors(self) -> dict[str, np.ndarray]:
        """Every tensor, read one by one into its own array; checked against the checksum
        saved with them (files written before engram stored one are read unverified)."""
        tensors: dict[str, np.ndarray] = {}
        with open(self.path, "rb") as handle:
            for key, (dtype, shape, start) in sorted(self.entries.items(), key=lambda e: e[1][2]):
                array = np.empty(shape, dtype)
                if array.size:
                    handle.seek(self.data_start + start)
                    if handle.readinto(array.reshape(-1).view(np.uint8)) != array.nbytes:
                        raise ModelFileError(f"{self.name} is truncated: tensor {key!r} is cut.")
                tensors[key] = array
        stored = self.metadata.get(CHECKSUM_KEY)
        if stored is not None and stored != tensors_checksum(tensors):
            raise ModelFileError(
                f"{self.name} is corrupted: its tensor data does not match the checksum saved "
                "with it (a changed byte on disk or in transfer). Use another copy of the file."
            )
        bad = [key for key, value in tensors.items() if not _finite(value)]
        if bad:
            raise ModelFileError(
                f"{self.name} holds NaN or infinite values in {', '.join(bad[:4])}: it was "
                "saved from a model whose training had diverged, and would predict nothing "
                "but NaN. Load an earlier checkpoint, or retrain with a lower learning_rate."
            )
        return tensors


def _check_signature(name: str, head: bytes, header_len: int | None) -> None:
    # A safetensors header starts with "{" right after its length. Only when it does not are
    # the pickle (0x80) and zip ("PK") signatures checked: the length's first byte may be 0x80.
    looks_safetensors = header_len is not None and head[8:9] == b"{"
    if not looks_safetensors and (head[:1] == b"\x80" or head[:2] == b"PK"):
        kind = "a pickle" if head[:1] == b"\x80" else "a zip archive (pickle-based formats)"
        raise ModelFileError(
            f"{name} is {kind}, not an engram model file. engram never unpickles; save models "
            "with model.save() or convert the weights to safetensors."
        )


def _parse_header(name: str, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{name} has a bad header: not valid JSON ({exc}).") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{name} has a bad header: expected a JSON object.")
    return header


def _check_metadata(name: str, metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ModelFileError(f"{name} has a bad header: __metadata__ must map strings to strings.")
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{name} is not an engram model file (metadata format is "
            f"{metadata.get('format')!r}, expected {FORMAT!r})."
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{name} has format version {metadata.get('format_version')!r}; this engram "
            f"reads version {FORMAT_VERSION}."
        )
    return metadata


def _check_entries(name: str, header: dict[str, Any], data_bytes: int) -> dict[str, tuple]:
    """(dtype, shape, start) of every tensor, once each one's size matches its offsets and the
    tensors tile the ``data_bytes`` after the header exactly."""
    entries: dict[str, tuple] = {}
    spans = []
    for key, info in header.items():
        if key == "__metadata__":
            continue
        info = info if isinstance(info, dict) else {}
        offsets, shape = info.get("data_offsets"), info.get("shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
            raise ModelFileError(
                f"{name} has a bad header: tensor {key!r} has no valid data_offsets."
            )
        if offsets[1] > data_bytes:
            raise ModelFileError(f"{name} is truncated: tensor {key!r} runs past the end.")
        if info.get("dtype") not in _DTYPES:
            raise ModelFileError(
                f"{name} has a bad header: tensor {key!r} has dtype {info.get('dtype')!r}; "
                f"engram reads {', '.join(_DTYPES)}."
            )
        if not (isinstance(shape, list) and all(map(_is_count, shape))):
            raise ModelFileError(f"{name} has a bad header: tensor {key!r} has no valid shape.")
        dtype = np.dtype(_DTYPES[info["dtype"]])
        if math.prod(shape) * dtype.itemsize != offsets[1] - offsets[0]:
            raise ModelFileError(
                f"{name} is corrupted: tensor {key!r} of shape {tuple(shape)} and dtype "
                f"{dtype.name} needs {math.prod(shape) * dtype.itemsize} bytes, but its offsets "
                f"span {offsets[1] - offsets[0]}."
            )
        entries[key] = (dtype, tuple(shape), offsets[0])
        spans.append(tuple(offsets))
    end = 0
    for first, last in sorted(spans):
        if first != end:
            raise ModelFileError(f"{name} is corrupted: its tensors overlap or leave gaps.")
        end = last
    if end != data_bytes:
        raise ModelFileError(
            f"{name} has {data_bytes - end} bytes after its last tensor: not a file engram "
            "wrote, or one padded or appended to. It is refused without being read; re-save "
            "the model, or truncate the file to its tensors."
        )
    if end > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{name} holds {end / 2**30:.1f} GiB of tensors, above the cap of "
            f"{MAX_MODEL_BYTES / 2**30:.1f} GiB. If it is trusted and fits in memory, raise "
            "engram.nn.io.MAX_MODEL_BYTES and load it again."
        )
    return entries


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _finite(array: np.ndarray) -> bool:
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


def tensors_checksum(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of every tensor's name, dtype, shape and little-endian bytes, in name order
    (independent of where the tensors lie in the file)."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        value = tensors[key]
        little = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        digest.update(json.dumps([key, little.dtype.str, list(value.shape)]).encode())
        digest.update(little.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def nonfinite_tensors(model: Any) -> list[str]:
    """The names (``layer/key``) of the model's weights and state arrays holding NaN or Inf."""
    return [
        key.partition("/")[2]
        for key, value in _tensors_of(model, with_optimizer=False).items()
        if not _finite(value)
    ]


def _json_field(metadata: dict[str, str], key: str, name: str) -> Any:
    try:
        return json.loads(metadata[key])
    except (KeyError, TypeError, json.JSONDecodeError, RecursionError) as exc:
        message = f"{name}: metadata field {key!r} is missing or invalid ({exc})."
        raise ModelFileError(message) from None


def _check_weights(model: Any, shapes: dict[str, tuple[int, ...]], name: str) -> None:
    """The file's weight and state tensors are exactly the model's, shape for shape."""
    expected = {key: value.shape for key, value in _tensors_of(model, False).items()}
    present = {key for key in shapes if not key.startswith("optimizer/")}
    if set(expected) != present:
        missing, extra = sorted(set(expected) - present), sorted(present - set(expected))
        raise ModelFileError(
            f"{name} does not match the architecture: missing {missing[:5]}, unexpected "
            f"{extra[:5]}."
        )
    for key, shape in expected.items():
        if shapes[key] != shape:
            raise ModelFileError(
                f"{name}: weight {key.partition('/')[2]} has shape {shapes[key]}, the "
                f"architecture needs {shape}."
            )


def _assign_weights(model: Any, tensors: dict[str, np.ndarray]) -> None:
    for path, layer in _weight_layers(model):
        for key, value in layer.params.items():
            stored = tensors[f"weights/{path}/{key}"]
            layer.params[key] = stored.astype(value.dtype, copy=False)  # a fresh array
        for key, value in layer.state_arrays().items():
            stored = tensors[f"state/{path}/{key}"]
            setattr(layer, key, stored.astype(value.dtype, copy=False))


def load_model(
    path: str | os.PathLike,
    compile: bool = True,  # noqa: A002
    read_graph: Callable[[dict, dict, str], Any] | None = None,
) -> Any:
    """Load a model saved with `Sequential.save`.

    The header, the architecture and every tensor's name and shape are checked before any
    tensor is read (see the module docstring), so a damaged or hostile file is refused in
    about the time it takes to read its header, whatever sizes it declares.

    Raises:
        FileNotFoundError: no file at ``path``.
        ModelFileError: the file is truncated or padded, has a bad header, declares more than
            `MAX_MODEL_BYTES`, names a layer (or activation, loss, optimizer) that engram does
            not have, does not match its weights, fails its checksum, holds NaN or Inf, or is
            a pickle. Nothing in the file is executed.
    """
    file = _ModelFile(path)
    name, metadata = file.name, file.metadata
    shapes = file.shapes()
    # a functional model's graph, read by the caller's reader (engram.nn.saving.engram_graph)
    model = None if read_graph is None else read_graph(metadata, shapes, name)
    if model is None:
        config = _json_field(metadata, "model_config", name)
        _check_architecture(config, name)
        model = _rebuild(config, name)
    _check_weights(model, shapes, name)
    compiled = compile and "compile_config" in metadata
    if compiled:
        _restore_compile(model, _json_field(metadata, "compile_config", name), name)
        _check_slots(model, shapes, name)
    tensors = file.read_tensors()
    _assign_weights(model, tensors)
    if compiled:
        _assign_slots(model, tensors)
    if "rng_state" in metadata:
        _restore_rng_states(model, _json_field(metadata, "rng_state", name), name)
    return model


def _rebuild(config: dict[str, Any], name: str) -> Any:
    """The architecture, built with placeholder weights: `initializers.placeholders` makes
    them zeros that take no memory until written and draws no random numbers, so declared
    sizes are compared with the file's tensors before they cost anything."""
    from engram.nn.initializers import placeholders
    from engram.nn.layers.base import layers

    try:
        with placeholders():
            model = layers.get("Sequential").from_config(config)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{name}: the architecture cannot be rebuilt: {exc}") from None
    except (MemoryError, OverflowError) as exc:
        raise ModelFileError(
            f"{name}: the architecture declares weights too large to create ({exc}); it cannot "
            "match the file's tensors."
        ) from None
    if not model.built:
        raise ModelFileError(f"{name}: the architecture has no input shape.")
    return model


def _check_architecture(config: Any, name: str) -> None:
    """The model config must be a dict whose layers name only engram's registered classes
    (layers that packages above the engine register are found through `engram.registry.declare`)."""
    from engram.nn.layers.base import layers

    entries = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ModelFileError(f"{name}: model_config must be an object with a list of layers.")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise ModelFileError(f"{name}: every layer must be an object with a config object.")
        class_name = entry.get("class_name")
        if not isinstance(class_name, str) or class_name not in layers:
            raise ModelFileError(
                f"{name} names a layer class {class_name!r} that engram does not have. "
                f"{layers.unknown_message(str(class_name))}"
            )


def _generators(model: Any) -> dict[str, np.random.Generator]:
    """The model's generator and every layer's own one (not the model's), by state key."""
    found = {"model": model.rng}
    for layer in model.layers:
        rng = getattr(layer, "rng", None)
        if isinstance(rng, np.random.Generator) and rng is not model.rng:
            found[f"layer/{layer.name}"] = rng
    return found


def _rng_states(model: Any) -> dict[str, Any]:
    """The state of the model's generator and of every layer that owns another one (JSON)."""
    return {key: rng.bit_generator.state for key, rng in _generators(model).items()}


def _restore_rng_states(model: Any, states: Any, name: str) -> None:
    """Put back the generators' states, so shuffling and dropout continue where they were."""
    if not isinstance(states, dict):
        raise ModelFileError(f"{name}: metadata field 'rng_state' must be an object.")
    targets = _generators(model)
    for key, state in states.items():
        rng = targets.get(key)
        if rng is None and key != "model":
            continue  # a layer that draws from the model's generator once loaded
        if not isinstance(state, dict):
            raise ModelFileError(f"{name}: rng_state entry {key!r} must be an object.")
        if state.get("bit_generator") != type(rng.bit_generator).__name__:
            raise ModelFileError(
                f"{name}: rng_state entry {key!r} is for {state.get('bit_generator')!r}, the "
                f"model uses {type(rng.bit_generator).__name__}."
            )
        try:
            rng.bit_generator.state = state
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise ModelFileError(f"{name}: rng_state entry {key!r} is invalid: {exc}") from None


def _restore_compile(model: Any, config: Any, name: str) -> None:
    try:
        from engram.nn import metrics as metrics_module

        def metrics_of(value: Any) -> Any:  # names and metric entries; per output, lists
            if isinstance(value, list):
                return [metrics_of(m) for m in value]
            return metrics_module.from_json(value)

        metrics = config.get("metrics") or []
        if isinstance(metrics, dict) and "class_name" not in metrics:  # per output name
            metrics = {k: metrics_of(v) for k, v in metrics.items()}
        elif isinstance(metrics, list):
            metrics = metrics_of(metrics)
        else:
            raise ValueError("metrics must be a list of names")
        from engram.nn import losses

        loss = config["loss"]
        if isinstance(loss, dict) and "name" in loss:  # one loss with options, not per output
            loss = losses.get(loss)
        elif isinstance(loss, list):  # one per output, each a name or a loss with options
            loss = [losses.get(v) if isinstance(v, dict) else v for v in loss]
        loss_weights = config.get("loss_weights")
        model.compile(config["optimizer"], loss, loss_weights=loss_weights, metrics=metrics)
        iterations = config.get("optimizer_iterations", 0)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"optimizer_iterations must be an int >= 0, got {iterations!r}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{name}: the compile settings cannot be restored: {exc}") from None
    model.optimizer.iterations = iterations


def _check_slots(model: Any, shapes: dict[str, tuple[int, ...]], name: str) -> None:
    """The file's optimizer tensors are the optimizer's slots of the model's weights."""
    optimizer = model.optimizer
    slot_names = set(optimizer.slot_names)  # the keys of every weight's init_slots
    params = {
        f"{layer.name}/{key}": value.shape
        for _, layer in _weight_layers(model)
        for key, value in layer.params.items()
    }
    found: dict[str, set[str]] = {}
    for key, shape in shapes.items():
        if not key.startswith("optimizer/"):
            continue
        slot_key, _, slot = key[len("optimizer/") :].rpartition("/")
        if slot_key not in params or slot not in slot_names:
            raise ModelFileError(
                f"{name}: optimizer state {key!r} does not match the architecture and the "
                f"{optimizer.name} optimizer."
            )
        if shape != params[slot_key]:
            raise ModelFileError(
                f"{name}: optimizer state {key!r} has shape {shape}, the weight has "
                f"{params[slot_key]}."
            )
        found.setdefault(slot_key, set()).add(slot)
    for slot_key, slots in found.items():
        if slots != slot_names:
            raise ModelFileError(
                f"{name}: optimizer state for {slot_key!r} has slots {sorted(slots)}, the "
                f"{optimizer.name} optimizer needs {sorted(slot_names)}."
            )


def _assign_slots(model: Any, tensors: dict[str, np.ndarray]) -> None:
    dtypes = {
        f"{layer.name}/{key}": value.dtype
        for _, layer in _weight_layers(model)
        for key, value in layer.params.items()
    }
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            slot_key, _, slot = key[len("optimizer/") :].rpartition("/")
            state = model.optimizer.slots.setdefault(slot_key, {})
            state[slot] = value.astype(dtypes[slot_key], copy=False)


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load weights saved with `save_weights` (or `save`) into a model of the same architecture.

    As in Keras, weights go to layers by position: the file's layer names need not match the
    model's (``dense_3`` in the file fills this model's first Dense layer, ``dense``). Every
    name and shape is matched before any tensor is read, and nothing in the model changes
    unless all of them load.

    Raises:
        FileNotFoundError: no file at ``path``.
        ModelFileError: as `load_model`, for the weights and state tensors.
    """
    if not model.built:
        model.build()
    file = _ModelFile(path)
    rename = _renamed_by_position(model, file.metadata, file.name)
    _check_weights(model, {rename(key): shape for key, shape in file.shapes().items()}, file.name)
    tensors = file.read_tensors()
    _assign_weights(model, {rename(key): value for key, value in tensors.items()})


def _renamed_by_position(model: Any, metadata: dict, name: str) -> Callable[[str], str]:
    """A function from the file's tensor names to the model's: layers match by position."""
    if "layer_names" not in metadata:
        return lambda key: key
    stored = _json_field(metadata, "layer_names", name)
    if not isinstance(stored, list) or not all(isinstance(s, str) for s in stored):
        raise ModelFileError(f"{name}: metadata field 'layer_names' must be a list of names.")
    paths = [path for path, _ in _weight_layers(model)]
    if len(stored) != len(paths):
        raise ModelFileError(
            f"{name} holds weights for {len(stored)} layers, but the model has "
            f"{len(paths)}. Build the same architecture before load_weights()."
        )
    names = dict(zip(stored, paths, strict=True))

    def rename(key: str) -> str:
        kind, _, rest = key.partition("/")
        layer_path, _, param = rest.rpartition("/")
        if kind in ("weights", "state") and layer_path in names:
            return f"{kind}/{names[layer_path]}/{param}"
        return key

    return rename
