"""Keras's ``models`` module: ``from engram.nn.models import Model, Sequential, load_model``."""

from typing import Any

from engram.nn.model import Model
from engram.nn.saving import load_model
from engram.nn.sequential import Sequential

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json"]


def clone_model(model: Any, input_tensors: Any = None, clone_function: Any = None) -> Any:
    """Keras's ``clone_model``: the same architecture with new layers and fresh weights, built
    from the model's config (Sequential and functional models)."""
    if input_tensors is not None or clone_function is not None:
        raise NotImplementedError(
            "clone_model(input_tensors=..., clone_function=...) is not supported; "
            "clone_model(model) builds the same architecture with fresh weights."
        )
    if isinstance(model, Sequential):  # engram's own config: any registered layer (Masking)
        return Sequential.from_config({**model._engram_config(), "seed": None})
    return type(model).from_config(model.get_config())


def model_from_json(json_string: str, custom_objects: Any = None) -> Any:
    """Keras's ``model_from_json``: the model (fresh weights, compiled if the JSON holds
    compile settings) from ``to_json()``'s string, Keras's or engram's, through the .keras
    reader's allowlist: nothing named in the JSON is imported or run."""
    from engram.nn.model import _refuse_custom_objects
    from engram.nn.saving.architecture import model_from_json as read

    _refuse_custom_objects(custom_objects)
    return read(json_string)
