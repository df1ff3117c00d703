"""Keras's ``models`` module: ``from engram.nn.models import Model, Sequential, load_model``."""

from typing import Any

from engram.nn.model import Model
from engram.nn.saving import load_model
from engram.nn.sequential import Sequential

__all__ = ["Model", "Sequential", "clone_model", "load_model"]


def clone_model(model: Any, input_tensors: Any = None, clone_function: Any = None) -> Any:
    """Keras's ``clone_model``: the same architecture with new layers and fresh weights, built
    from ``model.get_config()`` (Sequential and functional models)."""
    if input_tensors is not None or clone_function is not None:
        raise NotImplementedError(
            "clone_model(input_tensors=..., clone_function=...) is not supported; "
            "clone_model(model) builds the same architecture with fresh weights."
        )
    return type(model).from_config(model.get_config())
