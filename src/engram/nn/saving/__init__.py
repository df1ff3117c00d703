"""Model files: engram's own ``.engram`` (safetensors) and Keras 3's ``.keras``/``.weights.h5``.

`load_model`, `save_model`, `save_weights` and `load_weights` pick the format by the file name:
``*.keras`` and ``*.weights.h5`` are Keras 3's (keras_format.py, read without running code:
allowlist.py, archive.py; the architecture in architecture.py, a functional model's wiring in
functional.py), anything else engram's own format (engram.nn.io).
"""

from __future__ import annotations

import os
from typing import Any

from engram.nn.io import ModelFileError


def is_keras_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a Keras 3 file: ``*.keras`` or ``*.weights.h5``."""
    name = os.fspath(path).lower()
    return name.endswith(".keras") or name.endswith(".weights.h5")


def load_model(path: str | os.PathLike, compile: bool = True) -> Any:  # noqa: A002
    """Load a model from an engram file or a Keras 3 ``.keras`` file."""
    if is_keras_file(path):
        from engram.nn.saving import keras_format

        return keras_format.load_model(path, compile=compile)
    from engram.nn import io
    from engram.nn.saving import engram_graph

    return io.load_model(path, compile=compile, read_graph=engram_graph.read)


def save_model(model: Any, path: str | os.PathLike) -> Any:
    """Save ``model``: as Keras 3's format for ``*.keras``, else as engram's."""
    if is_keras_file(path):
        from engram.nn.saving import keras_format

        return keras_format.save_model(model, path)
    from engram.nn import io
    from engram.nn.saving import engram_graph

    return io.save_model(model, path, graph=engram_graph.graph_of(model))


def save_weights(model: Any, path: str | os.PathLike) -> Any:
    """Save the weights: as Keras 3's ``.weights.h5`` for that name, else as engram's format."""
    if is_keras_file(path):
        from engram.nn.saving import keras_format

        return keras_format.save_weights(model, path)
    from engram.nn import io

    return io.save_weights(model, path)


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load weights into ``model`` from a Keras 3 file or an engram file."""
    if is_keras_file(path):
        from engram.nn.saving import keras_format

        return keras_format.load_weights(model, path)
    from engram.nn import io

    return io.load_weights(model, path)


__all__ = [
    "ModelFileError",
    "is_keras_file",
    "load_model",
    "load_weights",
    "save_model",
    "save_weights",
]
