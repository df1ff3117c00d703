"""Model files: architecture, weights and training state in one data-only file.

The format is safetensors: an 8-byte little-endian header length, a JSON header describing each
tensor (dtype, shape, byte offsets) with a ``__metadata__`` map of strings, then raw little-endian
tensor bytes. engram stores:

* tensors ``weights/<layer>/<key>``, ``state/<layer>/<key>`` (e.g. moving averages) and
  ``optimizer/<layer>/<key>/<slot>``;
* metadata ``format = "engram-model"``, ``format_version``, ``model_config`` (JSON naming only
  classes from engram's layer registry) and ``compile_config`` (optimizer/loss/metrics by name).

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
    if not weights_only:
        metadata["model_config"] = json.dumps(model.get_config())
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
    if data[:1] == b"\x80" or data[:2] == b"PK":
        kind = "a pickle" if data[:1] == b"\x80" else "a zip archive (pickle-based formats)"
        raise ModelFileError(
            f"{name} is {kind}, not an engram model file. engram never unpickles; save models "
            "with model.save() or convert the weights to safetensors."
        )
    if len(data) < 8:
        raise ModelFileError(f"{name} is truncated: {len(data)} bytes, too short for a header.")
    (header_len,) = struct.unpack("<Q", data[:8])
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
        end = info.get("data_offsets", [0, 0])[1] if isinstance(info, dict) else None
        if not isinstance(end, int) or 8 + header_len + end > len(data):
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
    except (KeyError, json.JSONDecodeError) as exc:
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
    from engram.nn.model import Sequential

    name = str(path)
    metadata, tensors = _read_file(path)
    config = _json_field(metadata, "model_config", name)
    try:
        model = Sequential.from_config(config)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{name}: the architecture cannot be rebuilt: {exc}") from None
    if not model.built:
        raise ModelFileError(f"{name}: the architecture has no input shape.")
    _assign_weights(model, tensors, name)
    if compile and "compile_config" in metadata:
        _restore_compile(model, _json_field(metadata, "compile_config", name), tensors, name)
    return model


def _restore_compile(model: Any, config: dict[str, Any], tensors: dict, name: str) -> None:
    try:
        model.compile(config["optimizer"], config["loss"], config.get("metrics"))
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{name}: the compile settings cannot be restored: {exc}") from None
    model.optimizer.iterations = int(config.get("optimizer_iterations", 0))
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            slot_key, slot = key[len("optimizer/") :].rsplit("/", 1)
            model.optimizer.slots.setdefault(slot_key, {})[slot] = value.copy()


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load weights saved with `save_weights` (or `save`) into a model of the same architecture."""
    if not model.built:
        model.build()
    _, tensors = _read_file(path)
    _assign_weights(model, tensors, str(path))
