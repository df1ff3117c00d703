"""Training backups for `callbacks.BackupAndRestore`: everything a killed ``fit`` needs to go on
exactly where it stood, in engram's data-only model format (`engram.nn.io`).

One safetensors file holds

* the tensors `io` saves for a model: ``weights/...``, ``state/...`` (moving statistics) and
  ``optimizer/...`` (every slot: momenta, second moments);
* ``loop/order``: the permutation of the pass under way, when the data is shuffled;
* metadata ``rng_state`` (every random generator: shuffling and dropout draw from them) and
  ``training_state``: the epoch and step to go on from, the batches seen of the pass, the
  epoch's running sums (so the resumed epoch logs the same means), the optimizer's step count
  and learning rate, and the History so far.

Restored, the next step draws the same shuffled batch and the same dropout masks as the
uninterrupted run would have: the resumed run ends with the same weights, bit for bit. Files
are written atomically (a kill mid-write leaves the previous backup), checked against their
SHA-256 when read, and never unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engram.fileio import atomic_write_bytes
from engram.nn import io

KIND = "engram-training-backup"


def save_backup(model: Any, path: str | os.PathLike, epoch_logs: Any = None) -> Path:
    """Write ``model``'s training state (where ``fit`` stands: ``model._fit_iterator`` and
    ``model._fit_position``) to ``path``. ``epoch_logs``: (epoch, logs) of an epoch that just
    ended, for a backup taken at its end, before History (the last callback) records it."""
    from safetensors.numpy import save

    epoch, step, totals = model._fit_position
    walk = model._fit_iterator.state()
    tensors = io._tensors_of(model, with_optimizer=True)
    if walk["order"] is not None:
        tensors["loop/order"] = np.ascontiguousarray(walk["order"], dtype=np.int64)
    learning_rate = getattr(model.optimizer, "learning_rate", None)
    history = model.history
    recorded = {k: list(v) for k, v in getattr(history, "history", {}).items()}
    epochs = list(getattr(history, "epoch", []))
    if epoch_logs is not None and epoch_logs[0] not in epochs:
        ended, logs = epoch_logs
        epochs.append(ended)
        for key, value in (logs or {}).items():
            recorded.setdefault(key, []).append(float(value))
    training = {
        "epoch": epoch,
        "step": step,
        "seen": walk["seen"],
        "totals": totals,
        # mid-epoch, the metric objects' running state goes with the epoch's running sums
        "metric_states": {key: metric.state() for _, key, metric in model._resolved_metrics()}
        if totals is not None
        else {},
        "iterations": model.optimizer.iterations,
        "learning_rate": learning_rate if isinstance(learning_rate, float) else None,
        "history": recorded,
        "history_epochs": epochs,
    }
    metadata = {
        "format": io.FORMAT,
        "format_version": io.FORMAT_VERSION,
        "kind": KIND,
        "layer_names": json.dumps([layer.name for layer in model.layers]),
        "rng_state": json.dumps(io._rng_states(model)),
        "training_state": json.dumps(training),
        io.CHECKSUM_KEY: io.tensors_checksum(tensors),
    }
    return atomic_write_bytes(path, save(tensors, metadata=metadata))


def load_backup(model: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Restore weights, optimizer state, random generators and History from a backup; return
    where training goes on (``epoch``, ``step``, ``seen``, ``order``, ``totals``).

    Raises:
        ModelFileError: the file is damaged, not a backup, or for another architecture.
    """
    file = io._ModelFile(path)
    name = file.name
    if file.metadata.get("kind") != KIND:
        raise io.ModelFileError(f"{name} is not an engram training backup.")
    rename = _renamer(model, file.metadata, name)
    shapes = {rename(k): v for k, v in file.shapes().items() if not k.startswith("loop/")}
    io._check_weights(model, shapes, name)
    io._check_slots(model, shapes, name)
    training = io._json_field(file.metadata, "training_state", name)
    _check_training_state(training, name)
    tensors = {rename(k): v for k, v in file.read_tensors().items()}
    order = tensors.pop("loop/order", None)
    io._assign_weights(model, tensors)
    io._assign_slots(model, tensors)
    rng_states = io._json_field(file.metadata, "rng_state", name)
    if isinstance(rng_states, dict):
        rng_states = {rename(k): v for k, v in rng_states.items()}
    io._restore_rng_states(model, rng_states, name)
    model.optimizer.iterations = training["iterations"]
    if training["learning_rate"] is not None:
        model.optimizer.learning_rate = training["learning_rate"]
    totals = training["totals"]
    return {
        "epoch": training["epoch"],
        "step": training["step"],
        "seen": training["seen"],
        "order": order,
        "totals": None if totals is None else {k: list(v) for k, v in totals.items()},
        "metric_states": training.get("metric_states") or {},
        # fit puts the History back once every callback's on_train_begin has run
        "history": {k: list(v) for k, v in training["history"].items()},
        "history_epochs": list(training["history_epochs"]),
    }


def _renamer(model: Any, metadata: dict[str, str], name: str):
    """The file's tensor and generator names in this model's layer names: layers match by
    position (a model built again in the same process has new automatic names)."""
    stored = io._json_field(metadata, "layer_names", name)
    current = [layer.name for layer in model.layers]
    if not isinstance(stored, list) or len(stored) != len(current):
        raise io.ModelFileError(
            f"{name} was saved from a model with other layers than this one ({stored!r})."
        )
    names = dict(zip(stored, current, strict=True))

    def rename(key: str) -> str:
        kind, _, rest = key.partition("/")
        layer_name, sep, tail = rest.partition("/")
        if kind in ("weights", "state", "optimizer", "layer") and layer_name in names:
            return f"{kind}/{names[layer_name]}{sep}{tail}"
        return key

    return rename


def _check_training_state(training: Any, name: str) -> None:
    if not isinstance(training, dict):
        raise io.ModelFileError(f"{name}: metadata field 'training_state' must be an object.")
    for key in ("epoch", "step", "seen", "iterations"):
        value = training.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise io.ModelFileError(f"{name}: training_state {key!r} must be an int >= 0.")
    if not isinstance(training.get("history"), dict):
        raise io.ModelFileError(f"{name}: training_state 'history' must be an object.")
    totals = training.get("totals")
    if totals is not None and not isinstance(totals, dict):
        raise io.ModelFileError(f"{name}: training_state 'totals' must be an object.")
    if not isinstance(training.get("metric_states", {}), dict):
        raise io.ModelFileError(f"{name}: training_state 'metric_states' must be an object.")
