"""`from_torch` of the ``Graph`` module `to_torch` makes of a functional model: back to a `Model`.

The module runs ``steps`` (module index, the value slots it reads and writes, whether it takes
a list) over its ``layers``; each becomes engram layers called on symbolic tensors in the same
order, so the wiring is the module's own:

    nn.Sequential of one-to-one modules   the engram layers in a chain (Linear -> Dense, ...)
    Merge                                 Add, Subtract, Multiply, Average, Maximum, Minimum,
                                          Concatenate(axis), Dot(axes, normalize)
    Graph                                 a nested functional model, read the same way

A module index used by several steps is one set of engram layers called at each of them
(shared weights, as in the torch module). Masks, recurrent modules and anything else without a
one-to-one engram layer are refused by name.
"""

from __future__ import annotations

from typing import Any

#: Merge kinds whose engram layer takes no options
_PLAIN_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def _shapes(input_shape: Any, n_inputs: int) -> list[tuple[int, ...]]:
    """One sample shape per input: ``input_shape`` is a shape, or a list of them."""
    many = isinstance(input_shape, (list, tuple)) and all(
        isinstance(s, (list, tuple)) for s in input_shape
    )
    shapes = [tuple(s) for s in input_shape] if many else [tuple(input_shape)]
    if len(shapes) != n_inputs:
        raise ValueError(
            f"This Graph module takes {n_inputs} inputs; input_shape gives {len(shapes)} "
            "shape(s). Pass one sample shape per input, e.g. [(4,), (6,)]."
        )
    return shapes


def _merge_layer(module: Any) -> Any:
    from engram.nn import layers as L

    if module.kind in _PLAIN_MERGES:
        return getattr(L, module.kind)()
    if module.kind == "Concatenate":
        return L.Concatenate(axis=module.axis)
    return L.Dot(axes=list(module.axes), normalize=module.normalize)


def graph_from_torch(module: Any, input_shape: Any, m: dict[str, Any], read_layer: Any) -> Any:
    """A functional `Model` computing what ``module`` (to_torch's ``Graph``) computes, with its
    weights; ``m`` is to_torch's table of module classes, ``read_layer(module, i, shape)``
    the (engram layer, weights) of one torch module (torch.py's one-to-one table)."""
    import torch

    from engram.nn import Input, Model

    sequential = torch.nn.Sequential
    if any(mask is not None for mask in module.masks):
        raise ValueError(
            "This Graph module computes masks (Embedding(mask_zero=True) or Masking before "
            "recurrent layers), which from_torch does not read back; recurrent modules have "
            "no one-to-one engram layer here."
        )
    shapes = _shapes(input_shape, module.n_inputs)
    inputs = [Input(shape) for shape in shapes]
    values: list[Any] = list(inputs)
    made: dict[int, Any] = {}  # module index -> its engram layers (one set, shared by calls)
    weights: list[tuple[Any, list]] = []
    for index, ins, _, multi in module.steps:
        child = module.layers[index]
        args = [values[i] for i in ins]
        x = args if multi else args[0]
        if isinstance(child, m["Merge"]):
            layer = made.setdefault(index, _merge_layer(child))
            y = layer(x)
        elif isinstance(child, m["Graph"]):
            if index not in made:
                shape = [t.shape[1:] for t in args] if multi else args[0].shape[1:]
                made[index] = graph_from_torch(child, shape, m, read_layer)
            y = made[index](_structure(args, child.input_keys) if child.input_keys else x)
            y = list(y.values()) if isinstance(y, dict) else y  # a dict's values, sorted keys
        elif isinstance(child, sequential) and not multi:  # one layer's modules
            if index not in made:
                pairs = [read_layer(sub, i, args[0].shape[1:]) for i, sub in enumerate(child)]
                made[index] = [layer for layer, _ in pairs]
                weights += pairs
            y = x
            for layer in made[index]:
                y = layer(y)
        else:
            raise ValueError(
                f"Graph module layer {index} ({type(child).__name__}) has no one-to-one engram "
                "layer: from_torch reads nn.Sequential chains of Linear, Embedding, "
                "activations, Dropout and Flatten, merges and nested Graph modules."
            )
        values.extend(y if isinstance(y, list) else [y])
    outputs = [values[i] for i in module.outputs]
    model = Model(_structure(inputs, module.input_keys), _structure(outputs, module.output_keys))
    for layer, arrays in weights:
        if arrays:
            layer.set_weights(arrays)
    return model


def _structure(tensors: list[Any], keys: list[str] | None) -> Any:
    """Tensors as a model takes or gives them: a dict by ``keys``, a list, or one tensor."""
    if keys:
        return dict(zip(keys, tensors, strict=True))
    return tensors if len(tensors) > 1 else tensors[0]
