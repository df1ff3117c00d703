"""A functional model's graph in engram's own ``.engram`` files, stored as data.

engram's format (engram.nn.io) keeps a Sequential model's architecture as engram's
``model_config``. A functional model (or any model holding nested models) keeps instead the
architecture JSON that the ``.keras`` writer produces (architecture.py: layers, their
``inbound_nodes`` wiring, nested models), under the metadata key `KEY`. Loading reads it with
the same checks as a ``.keras`` file's ``config.json`` -- every class on the allowlist, every
reference and node index in range, no cycle, nesting bounded -- and builds it with each weight
no larger than the file's tensors (`architecture.build_within`), before any tensor is read.
Nothing in the file is imported, called or unpickled; the file names no code.
"""

from __future__ import annotations

import json
import math
from typing import Any

from engram.nn.io import ModelFileError
from engram.nn.saving import architecture

#: the metadata key of the graph (absent from Sequential models' files)
KEY = "keras_architecture"
#: how errors name that part of the file (an .engram file has no config.json)
WHERE = f"the header's {KEY}"


def needs_graph(model: Any) -> bool:
    """Whether ``model``'s architecture is a graph rather than engram's Sequential config: a
    functional model, or a Sequential model holding a nested model."""
    from engram.nn.sequential import Sequential

    if not isinstance(model, Sequential):
        return True
    return any(hasattr(layer, "graph_layers") for layer in model.layers)


def graph_of(model: Any) -> tuple[str, str] | None:
    """(`KEY`, the architecture as the ``.keras`` writer's ``config.json`` without compile
    settings, which engram's file keeps in its own ``compile_config``) for a model that needs
    a graph; None for a plain Sequential model (its ``model_config`` says it all)."""
    if not needs_graph(model):
        return None
    config = architecture.keras_config(model)
    config.pop("compile_config", None)
    return KEY, json.dumps(config)


def read(metadata: dict, shapes: dict[str, tuple[int, ...]], name: str) -> Any:
    """The model of a file's stored graph, or None when the file has none (a Sequential
    model's file); checked before it is built (see the module docstring), every weight
    bounded by the file's tensor sizes."""
    if KEY not in metadata:
        return None
    from engram.nn.io import _json_field

    config = _json_field(metadata, KEY, name)
    try:  # a value of the wrong type anywhere in the config is a malformed file
        spec = architecture.read_config(config, name, WHERE)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        raise ModelFileError(f"{name}: {KEY} is malformed ({exc}). Refused.") from None
    sizes = [math.prod(shape) for key, shape in shapes.items() if not key.startswith("optimizer/")]
    return architecture.build_within(spec, sizes, name)
