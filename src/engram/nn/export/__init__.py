"""Export an engram model for deployment and scale: ONNX (onnx.py) and PyTorch (torch.py).

Both walk the model's layers once and map each layer class with one emitter (a table keyed by
class), so a new layer is one entry; a layer without one is refused with a message naming it.
onnx/onnxruntime and torch are imported only when these functions run.
"""

from __future__ import annotations

from typing import Any


def to_onnx(model: Any, path: Any, opset: int | None = None) -> Any:
    """Write ``model`` as an ONNX file; see `engram.nn.export.onnx.to_onnx`."""
    from engram.nn.export.onnx import to_onnx as _to_onnx

    return _to_onnx(model, path, opset=opset)


def to_torch(model: Any) -> Any:
    """An equivalent ``torch.nn.Module``; see `engram.nn.export.torch.to_torch`."""
    from engram.nn.export.torch import to_torch as _to_torch

    return _to_torch(model)


def from_torch(module: Any, input_shape: tuple[int, ...]) -> Any:
    """An engram `Sequential` from a ``torch.nn.Sequential``; see `export.torch.from_torch`."""
    from engram.nn.export.torch import from_torch as _from_torch

    return _from_torch(module, input_shape)


__all__ = ["from_torch", "to_onnx", "to_torch"]
