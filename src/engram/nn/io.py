"""Model files: architecture, weights and training state in one data-only file.

The format is safetensors: an 8-byte little-endian header length, a JSON header describing each
tensor (dtype, shape, byte offsets) with a ``__metadata__`` map of strings, then raw little-endian
tensor bytes. engram stores:

* tensors ``weights/<layer>/<key>``, ``state/<layer>/<key>`` (e.g. moving averages) and
  ``optimizer/<layer>/<key>/<slot>``;
* metadata ``format = "engram-model"``, ``format_version``, ``layer_names`` (in order, so
  `load_weights` can match layers by position as Keras does), ``model_config`` (JSON naming only
  classes from engram's layer registry), ``compile_config`` (optimizer/loss/metrics by name) and
  ``rng_state`` (the random generators' states, so shuffling and dropout resume where they were:
  training 2 epochs equals training 1, saving, loading and training 1 more, bit for bit).

Loading never unpickles and never imports anything: every class name is looked up in engram's
registries, every tensor is checked against the architecture. Any problem raises
`ModelFileError` before a model is returned. Saving is atomic.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from engram.fileio import atomic_write_bytes

FORMAT = "engram-model"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 100 * 1024 * 1024


class ModelFileError(ValueError):
    """A model file that engram refuses to load: truncated, malformed, unknown or pickled."""


def _tensors_of(model: Any, with_optimizer: bool) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for layer in model.layers:
        for key, value in layer.params.items():
            tensors[f"weights/{layer.name}/{key}"] = np.ascontiguousarray(value)
        for key, value in layer.state_arrays().items():
            tensors[f"state/{layer.name}/{key}"] = np.ascontiguousarray(value)
    if with_optimizer and model.optimizer is not None:
        for slot_key, slots in model.optimizer.slots.items():
            for slot, value in slots.items():
                tensors[f"optimizer/{slot_key}/{slot}"] = np.ascontiguousarray(value)
    return tensors


def _compile_config(model: Any) -> dict[str, Any] | None:
    if model.optimizer is None or model.loss is None:
        return None
    from engram.nn import losses, optimizers

    metrics = [m for m in model.metric_names if isinstance(m, str)]
    return {
        "optimizer": optimizers.to_json(model.optimizer),
        "optimizer_iterations": model.optimizer.iterations,
        "loss": losses.to_json(model.loss),
        "metrics": metrics,
    }


def _serialize(model: Any, weights_only: bool) -> bytes:
    from safetensors.numpy import save

    if not model.built:
        raise ValueError("Only a built model can be saved: fit it, or pass input_shape.")
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    metadata["layer_names"] = json.dumps([layer.name for layer in model.layers])
    if not weights_only:
        metadata["model_config"] = json.dumps(model.get_config())
        metadata["rng_state"] = json.dumps(_rng_states(model))
        compile_config = _compile_config(model)
        if compile_config is not None:
            metadata["compile_config"] = json.dumps(compile_config)
    return save(_tensors_of(model, with_optimizer=not weights_only), metadata=metadata)


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` (architecture, weights, optimizer state) to ``path`` atomically."""
    return atomic_write_bytes(path, _serialize(model, weights_only=False))


def save_weights(model: Any, path: str | os.PathLike) -> Path:
    """Write only the weights of ``model`` to ``path`` atomically."""
    return atomic_write_bytes(path, _serialize(model, weights_only=True))


def _read_file(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Parse and check a safetensors file; return (metadata, tensors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    data = path.read_bytes()
    name = str(path)
    header_len = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else None
    # A safetensors header starts with "{" right after its length. Only when it does not are
    # the pickle (0x80) and zip ("PK") signatures checked: the length's first byte may be 0x80.
    looks_safetensors = header_len is not None and data[8:9] == b"{"
    if not looks_safetensors and (data[:1] == b"\x80" or data[:2] == b"PK"):
        kind = "a pickle" if data[:1] == b"\x80" else "a zip archive (pickle-based formats)"
        raise ModelFileError(
            f"{name} is {kind}, not an engram model file. engram never unpickles; save models "
            "with model.save() or convert the weights to safetensors."
        )
    if header_len is None:
        raise ModelFileError(f"{name} is truncated: {len(data)} bytes, too short for a header.")
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ModelFileError(
            f"{name} has a bad header: it declares {header_len} header bytes but the file has "
            f"{len(data) - 8} after the length field (truncated or not a model file)."
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{name} has a bad header: not valid JSON ({exc}).") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{name} has a bad header: expected a JSON object.")
    metadata = header.get("__metadata__") or {}
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
    for key, info in header.items():
        if key == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise ModelFileError(
                f"{name} has a bad header: tensor {key!r} has no valid data_offsets."
            )
        if 8 + header_len + offsets[1] > len(data):
            raise ModelFileError(f"{name} is truncated: tensor {key!r} runs past the end.")
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(data)
    except (SafetensorError, ValueError) as exc:
        raise ModelFileError(f"{name} is corrupted: {exc}.") from None
    return metadata, tensors


def _json_field(metadata: dict[str, str], key: str, name: str) -> Any:
    try:
        return json.loads(metadata[key])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        message = f"{name}: metadata field {key!r} is missing or invalid ({exc})."
        raise ModelFileError(message) from None


def _assign_weights(model: Any, tensors: dict[str, np.ndarray], name: str) -> None:
    expected = {k for k in _tensors_of(model, with_optimizer=False)}
    present = {k for k in tensors if not k.startswith("optimizer/")}
    if expected != present:
        missing, extra = sorted(expected - present), sorted(present - expected)
        raise ModelFileError(
            f"{name} does not match the architecture: missing {missing[:5]}, unexpected "
            f"{extra[:5]}."
        )
    for layer in model.layers:
        for key, value in layer.params.items():
            stored = tensors[f"weights/{layer.name}/{key}"]
            if stored.shape != value.shape:
                raise ModelFileError(
                    f"{name}: weight {layer.name}/{key} has shape {stored.shape}, the "
                    f"architecture needs {value.shape}."
                )
            layer.params[key] = stored.astype(value.dtype, copy=True)
        for key, value in layer.state_arrays().items():
            setattr(layer, key, tensors[f"state/{layer.name}/{key}"].astype(value.dtype))


def load_model(path: str | os.PathLike, compile: bool = True) -> Any:  # noqa: A002
    """Load a model saved with `Sequential.save`.

    Raises:
        ModelFileError: the file is truncated, has a bad header, names a layer (or activation,
            loss, optimizer) that engram does not have, does not match its weights, or is a
            pickle. Nothing in the file is executed.
    """
    from engram.nn.layers.base import layers

    name = str(path)
    metadata, tensors = _read_file(path)
    config = _json_field(metadata, "model_config", name)
    _check_architecture(config, name)
    try:
        model = layers.get("Sequential").from_config(config)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{name}: the architecture cannot be rebuilt: {exc}") from None
    if not model.built:
        raise ModelFileError(f"{name}: the architecture has no input shape.")
    _assign_weights(model, tensors, name)
    if compile and "compile_config" in metadata:
        _restore_compile(model, _json_field(metadata, "compile_config", name), tensors, name)
    if "rng_state" in metadata:
        _restore_rng_states(model, _json_field(metadata, "rng_state", name), name)
    return model


# engram modules outside engram.nn that register layers; imported (never a name from the file)
# before an architecture is checked, so their models load in a fresh process
LAYER_PROVIDERS = ("engram.motor.rate_network",)


def _check_architecture(config: Any, name: str) -> None:
    """The model config must be a dict whose layers name only engram's registered classes."""
    import importlib

    from engram.nn.layers.base import layers

    for module in LAYER_PROVIDERS:
        importlib.import_module(module)

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


def _restore_compile(model: Any, config: Any, tensors: dict, name: str) -> None:
    try:
        metrics = config.get("metrics") or []
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ValueError("metrics must be a list of names")
        model.compile(config["optimizer"], config["loss"], metrics=metrics)
        iterations = config.get("optimizer_iterations", 0)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"optimizer_iterations must be an int >= 0, got {iterations!r}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{name}: the compile settings cannot be restored: {exc}") from None
    model.optimizer.iterations = iterations
    slot_names = set(model.optimizer.slot_names)  # the keys of every weight's init_slots
    params = {
        f"{layer.name}/{key}": value
        for layer in model.layers
        for key, value in layer.params.items()
    }
    for key, value in tensors.items():
        if not key.startswith("optimizer/"):
            continue
        slot_key, _, slot = key[len("optimizer/") :].rpartition("/")
        param = params.get(slot_key)
        if param is None or slot not in slot_names:
            raise ModelFileError(
                f"{name}: optimizer state {key!r} does not match the architecture and the "
                f"{model.optimizer.name} optimizer."
            )
        if value.shape != param.shape:
            raise ModelFileError(
                f"{name}: optimizer state {key!r} has shape {value.shape}, the weight has "
                f"{param.shape}."
            )
        model.optimizer.slots.setdefault(slot_key, {})[slot] = value.astype(param.dtype)
    for slot_key, slots in model.optimizer.slots.items():
        if set(slots) != slot_names:
            raise ModelFileError(
                f"{name}: optimizer state for {slot_key!r} has slots {sorted(slots)}, the "
                f"{model.optimizer.name} optimizer needs {sorted(slot_names)}."
            )


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load weights saved with `save_weights` (or `save`) into a model of the same architecture.

    As in Keras, weights go to layers by position: the file's layer names need not match the
    model's (``dense_3`` in the file fills this model's first Dense layer, ``dense``).
    """
    if not model.built:
        model.build()
    metadata, tensors = _read_file(path)
    _assign_weights(model, _renamed_by_position(model, metadata, tensors, str(path)), str(path))


def _renamed_by_position(model: Any, metadata: dict, tensors: dict, name: str) -> dict:
    if "layer_names" not in metadata:
        return tensors
    stored = _json_field(metadata, "layer_names", name)
    if not isinstance(stored, list) or not all(isinstance(s, str) for s in stored):
        raise ModelFileError(f"{name}: metadata field 'layer_names' must be a list of names.")
    if len(stored) != len(model.layers):
        raise ModelFileError(
            f"{name} holds weights for {len(stored)} layers, but the model has "
            f"{len(model.layers)}. Build the same architecture before load_weights()."
        )
    rename = dict(zip(stored, (layer.name for layer in model.layers), strict=True))
    renamed = {}
    for key, value in tensors.items():
        kind, _, rest = key.partition("/")
        layer_name, _, param = rest.rpartition("/")
        if kind in ("weights", "state") and layer_name in rename:
            key = f"{kind}/{rename[layer_name]}/{param}"
        renamed[key] = value
    return renamed
