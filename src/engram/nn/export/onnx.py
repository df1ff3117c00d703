"""engram models as ONNX graphs that onnxruntime's CPU provider runs.

The graph keeps engram's (Keras's) channels-last layout: an image tensor is (batch, height,
width, channels) between layers, and the ops that need channels first (Conv, MaxPool,
AveragePool, Resize; their 1-D forms on sequences) are wrapped in two Transposes.
LayerNormalization is written out (ReduceMean, Sub, Mul, Sqrt, Div) for any axes and opsets.
The opset and IR version are pinned (`OPSET`, `IR_VERSION`) so a file written today runs in
the onnxruntime versions that read that IR.

Recurrent layers become ONNX's fused RNN/LSTM/GRU ops, time-major, with the weights reordered:
    ONNX W = kernel.T, R = recurrent_kernel.T, B = [input bias, recurrent bias]
    LSTM gates: Keras i, f, c, o  ->  ONNX i, o, f, c
    GRU gates: Keras z, r, h = ONNX z, r, h; Keras reset_after=True is linear_before_reset=1
``go_backwards`` reverses the sequence before a forward-direction op (Keras returns the outputs
in the order it processed them). Bidirectional is one such op per direction, the backward
one's outputs reversed back into time order, then merged (Concat, Add, Mean, Mul).

Masks (``Embedding(mask_zero=True)``, ``Masking``) are computed from the inputs inside the graph
as engram computes them (masks.py) and reach the recurrent ops as ``sequence_lens``: exact for
right-padded sequences (every masked step after the kept ones, as ``pad_sequences`` pads by
default with ``padding="post"``). A row whose mask has a gap (a masked step before a kept one,
e.g. ``padding="pre"`` or a 0 token inside a sentence) has no ``sequence_lens`` form, so the
graph refuses it at run time: onnxruntime raises an error naming the Reshape node
``<layer>_mask_has_a_gap_<n>`` instead of returning other numbers than engram's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engram.fileio import atomic_write_bytes

OPSET = 17
IR_VERSION = 8
#: engram activation name -> (ONNX op, attributes)
_ACTIVATIONS = {
    "linear": ("Identity", {}),
    "relu": ("Relu", {}),
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "elu": ("Elu", {}),
    "leaky_relu": ("LeakyRelu", {}),
}
#: the names ONNX's recurrent ops take for their activations
_RNN_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


class _Graph:
    """Nodes and initializers under construction, with unique names."""

    def __init__(self, reserved: Any = ()) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0
        self.reserved = set(reserved)  # the graph's input and output names

    def name(self, hint: str) -> str:
        self.count += 1
        while f"{hint}_{self.count}" in self.reserved:
            self.count += 1
        return f"{hint}_{self.count}"

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def op_multi(self, op_type: str, inputs: list[str], n_out: int, hint: str, **attrs) -> list:
        outs = [self.name(f"{hint}_out{i}") for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=outs[0], **attrs))
        return outs


def _activation(g: _Graph, x: str, activation: Any, hint: str) -> str:
    name = activation.name
    if name not in _ACTIVATIONS:
        raise ValueError(f"The activation {name!r} has no ONNX export in engram.")
    op_type, attrs = _ACTIVATIONS[name]
    if name == "linear":
        return x
    if name == "leaky_relu":
        attrs = {"alpha": activation.negative_slope}
    if name == "elu":
        attrs = {"alpha": getattr(activation, "alpha", 1.0)}
    return g.op(op_type, [x], hint, **attrs)


def _nchw(g: _Graph, x: str, hint: str) -> str:
    return g.op("Transpose", [x], f"{hint}_nchw", perm=[0, 3, 1, 2])


def _nhwc(g: _Graph, x: str, hint: str) -> str:
    return g.op("Transpose", [x], f"{hint}_nhwc", perm=[0, 2, 3, 1])


def _pads(layer: Any, window: tuple[int, int]) -> list[int]:
    from engram.nn import conv_functional as C

    _, ((top, bottom), (left, right)) = C.spatial_plan(
        layer.input_shape, window, layer.strides, layer.padding
    )
    return [top, left, bottom, right]


# ----------------------------------------------------------------------------- emitters
def _dense(g: _Graph, layer: Any, x: str) -> str:
    y = g.op("MatMul", [x, g.const(layer.params["weights"], "kernel")], layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.params["bias"], "bias")], layer.name)
    return _activation(g, y, layer.activation, layer.name)


def _conv2d(g: _Graph, layer: Any, x: str) -> str:
    kernel = np.transpose(layer.params["kernel"], (3, 2, 0, 1))  # (out, in, kh, kw)
    inputs = [_nchw(g, x, layer.name), g.const(kernel, "kernel")]
    if layer.use_bias:
        inputs.append(g.const(layer.params["bias"], "bias"))
    y = g.op(
        "Conv",
        inputs,
        layer.name,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        pads=_pads(layer, layer.span),
    )
    return _activation(g, _nhwc(g, y, layer.name), layer.activation, layer.name)


def _pool(op_type: str) -> Any:
    def emit(g: _Graph, layer: Any, x: str) -> str:
        attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides)}
        attrs["pads"] = _pads(layer, layer.pool_size)
        if op_type == "AveragePool":
            attrs["count_include_pad"] = 0  # Keras averages over the window inside the image
        y = g.op(op_type, [_nchw(g, x, layer.name)], layer.name, **attrs)
        return _nhwc(g, y, layer.name)

    return emit


def _global_avg(g: _Graph, layer: Any, x: str) -> str:
    return g.op("ReduceMean", [x], layer.name, axes=[1, 2], keepdims=0)


def _batch_norm(g: _Graph, layer: Any, x: str) -> str:
    var = layer.moving_variance.astype(np.float64)
    scale = 1.0 / np.sqrt(var + layer.epsilon)
    if layer.scale:
        scale = scale * layer.params["gamma"]
    shift = -layer.moving_mean * scale
    if layer.center:
        shift = shift + layer.params["beta"]
    dtype = layer.moving_mean.dtype
    y = g.op("Mul", [x, g.const(scale.astype(dtype), "bn_scale")], layer.name)
    return g.op("Add", [y, g.const(shift.astype(dtype), "bn_shift")], layer.name)


def _flatten(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Flatten", [x], layer.name, axis=1)


def _reshape(g: _Graph, layer: Any, x: str) -> str:
    shape = g.const(np.array([0, *layer.output_shape], np.int64), "shape")
    return g.op("Reshape", [x, shape], layer.name)


def _identity(g: _Graph, layer: Any, x: str) -> str:
    return x


def _activation_layer(g: _Graph, layer: Any, x: str) -> str:
    return _activation(g, x, layer.activation, layer.name)


def _embedding(g: _Graph, layer: Any, x: str) -> str:
    indices = g.op("Cast", [x], f"{layer.name}_idx", to=7)  # int64
    return g.op("Gather", [g.const(layer.params["embeddings"], "table"), indices], layer.name)


def _time_distributed(g: _Graph, layer: Any, x: str) -> str:
    inner = layer.layer
    flat = g.const(np.array([-1, *inner.input_shape], np.int64), "shape")
    y = _emit(g, inner, g.op("Reshape", [x, flat], f"{layer.name}_in"))
    back = g.const(np.array([-1, layer.input_shape[0], *inner.output_shape], np.int64), "shape")
    return g.op("Reshape", [y, back], layer.name)


def _blocks(array: np.ndarray, order: list[int], n: int) -> np.ndarray:
    """Reorder the n gate blocks along the last axis."""
    parts = np.split(array, n, axis=-1)
    return np.concatenate([parts[i] for i in order], axis=-1)


def _recurrent(g: _Graph, layer: Any, x: str, mask: str | None = None) -> str:
    kind = type(layer).__name__
    units = layer.units
    kernel, recurrent = layer.params["weights"], layer.params["recurrent_weights"]
    bias = layer.params.get("bias")
    dtype = kernel.dtype
    if kind == "LSTM":
        order, n, op_type = [0, 3, 1, 2], 4, "LSTM"  # Keras i f c o -> ONNX i o f c
    elif kind == "GRU":
        order, n, op_type = [0, 1, 2], 3, "GRU"
    else:
        order, n, op_type = [0], 1, "RNN"
    w = _blocks(kernel, order, n).T[None]
    r = _blocks(recurrent, order, n).T[None]
    if bias is None:
        b = np.zeros((1, 2 * n * units), dtype)
    elif kind == "GRU":  # (2, 3 units): input bias, recurrent bias
        b = np.concatenate([_blocks(bias[0], order, n), _blocks(bias[1], order, n)])[None]
    else:
        b = np.concatenate([_blocks(bias, order, n), np.zeros(n * units, dtype)])[None]
    names = []
    for act in ([layer.recurrent_activation] if op_type != "RNN" else []) + [layer.activation]:
        if act.name not in _RNN_ACTIVATIONS:
            raise ValueError(f"{kind} layer {layer.name!r}: activation {act.name!r} has no ONNX.")
        names.append(_RNN_ACTIVATIONS[act.name])
    if kind == "LSTM":
        names.append(names[-1])  # f (gates), g (cell input), h (cell output)
    attrs: dict[str, Any] = {"hidden_size": units, "activations": names}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1 if layer.reset_after else 0
    seq = g.op("Transpose", [x], f"{layer.name}_tmajor", perm=[1, 0, 2])
    weights = [g.const(w, "W"), g.const(r, "R"), g.const(b, "B")]
    if mask is not None:
        return _masked_recurrent(g, layer, op_type, [seq, *weights], mask, attrs)
    if layer.go_backwards:
        starts, ends, axes, steps = ([-1], [-(2**62)], [0], [-1])
        seq = g.op(
            "Slice",
            [seq, *(g.const(np.array(v, np.int64), "slice") for v in (starts, ends, axes, steps))],
            f"{layer.name}_reversed",
        )
    inputs = [seq, *weights]
    y, y_h = g.op_multi(op_type, inputs, 3 if kind == "LSTM" else 2, layer.name, **attrs)[:2]
    if layer.return_sequences:  # Y: (time, 1, batch, units)
        y = g.op("Squeeze", [y, g.const(np.array([1], np.int64), "axes")], layer.name)
        return g.op("Transpose", [y], layer.name, perm=[1, 0, 2])
    return g.op("Squeeze", [y_h, g.const(np.array([0], np.int64), "axes")], layer.name)


# ------------------------------------------------------------------------------ masks
def _make_mask(g: _Graph, layer: Any, rule: tuple[str, float], x: str) -> str:
    """The (batch, time) bool mask a layer makes from its input ``x`` (masks.py's rules)."""
    kind, value = rule
    hint = f"{layer.name}_mask"
    if kind == "tokens":  # Embedding(mask_zero=True): x != 0
        indices = g.op("Cast", [x], hint, to=7)
        return g.op(
            "Not", [g.op("Equal", [indices, g.const(np.array(0, np.int64), "zero")], hint)], hint
        )
    value_const = g.const(np.array(value, np.dtype(layer.dtype)), "mask_value")
    differs = g.op("Not", [g.op("Equal", [x, value_const], hint)], hint)
    any_differs = g.op(
        "ReduceMax", [g.op("Cast", [differs], hint, to=6)], hint, axes=[-1], keepdims=0
    )
    return g.op("Cast", [any_differs], hint, to=9)  # int32 max -> bool


def _masking(g: _Graph, layer: Any, x: str) -> str:
    """Masking: x * keep, keep = any(x != mask_value) over the features."""
    keep = _make_mask(g, layer, ("features", layer.mask_value), x)
    keep = g.op("Cast", [keep], f"{layer.name}_keep", to=_onnx_dtype(layer.dtype))
    keep = g.op("Unsqueeze", [keep, g.const(np.array([-1], np.int64), "axes")], layer.name)
    return g.op("Mul", [x, keep], layer.name)


def _onnx_dtype(dtype: Any) -> int:
    return 11 if np.dtype(dtype) == np.float64 else 1  # DOUBLE, FLOAT


def _sequence_lens(g: _Graph, layer: Any, mask: str) -> str:
    """int32 lengths of a right-padded mask (its count of kept steps). ONNX's recurrent ops
    read the first ``length`` steps of each sequence, which is engram's result only when the
    masked steps all come at the end; a mask with a gap (a masked step before a kept one) makes
    the graph fail at run time, in a Reshape node named ``<layer>_mask_has_a_gap``."""
    hint = layer.name
    steps = layer.input_shape[0]
    lens = g.op(
        "ReduceSum",
        [g.op("Cast", [mask], hint, to=6), g.const(np.array([1], np.int64), "axes")],
        f"{hint}_lens",
        keepdims=0,
    )
    positions = g.const(np.arange(steps, dtype=np.int32)[None], "positions")
    column = g.op("Unsqueeze", [lens, g.const(np.array([1], np.int64), "axes")], hint)
    padded = g.op("Less", [positions, column], hint)  # the mask a right-padded row would have
    gaps = g.op(
        "ReduceSum",
        [g.op("Cast", [g.op("Xor", [padded, mask], hint)], hint, to=7)],
        hint,
        keepdims=0,
    )
    size = g.op("Add", [gaps, g.const(np.array([1], np.int64), "one")], hint)
    check = g.op(
        "Reshape", [g.const(np.zeros(1, np.int32), "zero"), size], f"{hint}_mask_has_a_gap"
    )
    return g.op("Add", [lens, check], f"{hint}_lens")


def _masked_recurrent(
    g: _Graph, layer: Any, op_type: str, inputs: list[str], mask: str, attrs: dict
) -> str:
    """A recurrent op over right-padded sequences (``sequence_lens``): ONNX stops each
    sequence at its length, keeping its last state; ``go_backwards`` runs the op in reverse
    from the last kept step (its outputs then flipped into processing order, where the masked
    steps come first and give zeros, as engram's do)."""
    lens = _sequence_lens(g, layer, mask)
    if layer.go_backwards:
        attrs = {**attrs, "direction": "reverse"}
    n_out = 3 if op_type == "LSTM" else 2
    y, y_h = g.op_multi(op_type, [*inputs, lens], n_out, layer.name, **attrs)[:2]
    if not layer.return_sequences:
        return g.op("Squeeze", [y_h, g.const(np.array([0], np.int64), "axes")], layer.name)
    y = g.op("Squeeze", [y, g.const(np.array([1], np.int64), "axes")], layer.name)
    y = g.op("Transpose", [y], layer.name, perm=[1, 0, 2])  # (batch, time, units); 0 past lens
    if layer.go_backwards:
        bounds = ([-1], [-(2**62)], [1], [-1])  # reverse time: processing order
        return g.op(
            "Slice", [y, *(g.const(np.array(v, np.int64), "slice") for v in bounds)], layer.name
        )
    if layer.zero_output_for_mask:
        return y
    last = g.op("Transpose", [y_h], layer.name, perm=[1, 0, 2])  # (batch, 1, units)
    keep = g.op("Unsqueeze", [mask, g.const(np.array([-1], np.int64), "axes")], layer.name)
    return g.op("Where", [keep, y, last], layer.name)  # masked steps repeat the last output


_EMITTERS = {
    "Dense": _dense,
    "Conv2D": _conv2d,
    "MaxPooling2D": _pool("MaxPool"),
    "AveragePooling2D": _pool("AveragePool"),
    "GlobalAveragePooling2D": _global_avg,
    "BatchNormalization": _batch_norm,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Dropout": _identity,
    "InputLayer": _identity,
    "Activation": _activation_layer,
    "ReLU": _activation_layer,
    "LeakyReLU": _activation_layer,
    "Softmax": _activation_layer,
    "Embedding": _embedding,
    "Masking": _masking,
    "TimeDistributed": _time_distributed,
    "SimpleRNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
}


# layers of the Keras-port set
def _affine(g: _Graph, layer: Any, x: str) -> str:
    """Rescaling and Normalization: y = x * scale + shift, constants broadcast against x."""
    sample = np.zeros((1, *layer.input_shape), dtype=layer.dtype)
    if type(layer).__name__ == "Rescaling":
        scale, shift = np.asarray(layer.scale), np.asarray(layer.offset)
    else:  # Normalization: (x - mean) / std, or mean + x * std when inverting
        std, mean = layer._statistics(sample)
        scale, shift = (std, mean) if layer.invert else (1 / std, -mean / std)
    y = g.op("Mul", [x, g.const(scale.astype(layer.dtype), "scale")], layer.name)
    return g.op("Add", [y, g.const(shift.astype(layer.dtype), "shift")], layer.name)


def _global_reduce(op_type: str) -> Any:
    def emit(g: _Graph, layer: Any, x: str) -> str:
        axes = list(range(1, len(layer.input_shape)))
        return g.op(op_type, [x], layer.name, axes=axes, keepdims=int(layer.keepdims))

    return emit


def _zero_padding(g: _Graph, layer: Any, x: str) -> str:
    (top, bottom), (left, right) = layer.padding
    pads = g.const(np.array([0, top, left, 0, 0, bottom, right, 0], np.int64), "pads")
    return g.op("Pad", [x, pads], layer.name)


def _ncl(g: _Graph, x: str, hint: str) -> str:
    return g.op("Transpose", [x], f"{hint}_ncl", perm=[0, 2, 1])


def _sequence_pads(layer: Any, window: int, dilation: int) -> list[int]:
    from engram.nn.layers.conv1d import sequence_plan

    _, before, after = sequence_plan(
        layer.input_shape[0], window, layer.strides, dilation, layer.padding
    )
    return [before, after]


def _conv1d(g: _Graph, layer: Any, x: str) -> str:
    """Conv over (batch, channels, steps) with dilations; "same"/"causal" zeros as pads."""
    kernel = np.transpose(layer.params["kernel"], (2, 1, 0))  # (out, in, k)
    inputs = [_ncl(g, x, layer.name), g.const(kernel, "kernel")]
    if layer.use_bias:
        inputs.append(g.const(layer.params["bias"], "bias"))
    y = g.op(
        "Conv",
        inputs,
        layer.name,
        kernel_shape=[layer.kernel_size],
        strides=[layer.strides],
        dilations=[layer.dilation_rate],
        pads=_sequence_pads(layer, layer.kernel_size, layer.dilation_rate),
    )
    return _activation(g, _ncl(g, y, layer.name), layer.activation, layer.name)


def _pool1d(op_type: str) -> Any:
    def emit(g: _Graph, layer: Any, x: str) -> str:
        attrs = {"kernel_shape": [layer.pool_size], "strides": [layer.strides]}
        attrs["pads"] = _sequence_pads(layer, layer.pool_size, 1)
        if op_type == "AveragePool":
            attrs["count_include_pad"] = 0  # Keras averages over the steps inside the sequence
        return _ncl(g, g.op(op_type, [_ncl(g, x, layer.name)], layer.name, **attrs), layer.name)

    return emit


def _upsampling(g: _Graph, layer: Any, x: str) -> str:
    """Resize by whole factors: nearest as floor(o / factor) ("asymmetric", "floor"),
    bilinear with half-pixel centres (`bilinear_matrix`'s rule)."""
    if layer.interpolation == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric"}
        attrs["nearest_mode"] = "floor"
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    scales = g.const(np.array([1, 1, *layer.size], np.float32), "scales")
    y = g.op("Resize", [_nchw(g, x, layer.name), "", scales], layer.name, **attrs)
    return _nhwc(g, y, layer.name)


def _layer_norm(g: _Graph, layer: Any, x: str) -> str:
    """(x - mean) / sqrt(var + eps) * gamma + beta, moments over the layer's axes (any axes,
    so written out rather than opset 17's LayerNormalization, which takes trailing axes only)."""
    from engram.nn.layers.layer_normalization import normalize_axes

    rank = len(layer.input_shape) + 1
    axes = list(normalize_axes(layer.axis, rank, layer))
    hint, dtype = layer.name, np.dtype(layer.dtype)
    centered = g.op("Sub", [x, g.op("ReduceMean", [x], hint, axes=axes, keepdims=1)], hint)
    square = g.op("Mul", [centered, centered], hint)
    var = g.op("ReduceMean", [square], hint, axes=axes, keepdims=1)
    eps = g.const(np.array(layer.epsilon, dtype), "eps")
    y = g.op("Div", [centered, g.op("Sqrt", [g.op("Add", [var, eps], hint)], hint)], hint)
    shape = [1] * rank
    for a in axes:
        shape[a] = layer.input_shape[a - 1]
    if layer.scale:
        y = g.op("Mul", [y, g.const(layer.params["gamma"].reshape(shape[1:]), "gamma")], hint)
    if layer.center:
        y = g.op("Add", [y, g.const(layer.params["beta"].reshape(shape[1:]), "beta")], hint)
    return y


def _bidirectional(g: _Graph, layer: Any, x: str, mask: str | None = None) -> str:
    """Each direction as its own recurrent op (the backward layer reverses the sequence); its
    outputs are put back in time order (with return_sequences), then merged."""
    if layer.merge_mode is None:
        raise ValueError(
            f"Bidirectional layer {layer.name!r} has merge_mode=None (two outputs), which has no "
            "ONNX export in engram; use 'concat', 'sum', 'ave' or 'mul'."
        )
    y_f = _recurrent(g, layer.forward_layer, x, mask)
    y_b = _recurrent(g, layer.backward_layer, x, mask)
    if layer.return_sequences:
        bounds = ([-1], [-(2**62)], [1], [-1])  # starts, ends, axes, steps: reverse time
        consts = [g.const(np.array(v, np.int64), "slice") for v in bounds]
        y_b = g.op("Slice", [y_b, *consts], f"{layer.name}_reversed")
    if layer.merge_mode == "concat":
        return g.op("Concat", [y_f, y_b], layer.name, axis=-1)
    op_type = {"sum": "Add", "ave": "Mean", "mul": "Mul"}[layer.merge_mode]
    return g.op(op_type, [y_f, y_b], layer.name)


_EMITTERS.update(
    {
        "Bidirectional": _bidirectional,
        "Conv1D": _conv1d,
        "MaxPooling1D": _pool1d("MaxPool"),
        "AveragePooling1D": _pool1d("AveragePool"),
        "UpSampling2D": _upsampling,
        "LayerNormalization": _layer_norm,
        "Rescaling": _affine,
        "Normalization": _affine,
        "ZeroPadding2D": _zero_padding,
        "GlobalMaxPooling2D": _global_reduce("ReduceMax"),
        "GlobalMaxPooling1D": _global_reduce("ReduceMax"),
        "GlobalAveragePooling1D": _global_reduce("ReduceMean"),
        "GlobalAveragePooling2D": _global_reduce("ReduceMean"),  # _global_avg drops keepdims
    }
)


def _emit(g: _Graph, layer: Any, x: str) -> str:
    from engram.nn.layers import layers

    class_name = layers.name_of(layer)
    emitter = _EMITTERS.get(class_name)
    if emitter is None:
        raise ValueError(
            f"Layer {layer.name!r} ({class_name}) has no ONNX export. Layers that export: "
            f"{', '.join(sorted(_EMITTERS))}."
        )
    return emitter(g, layer, x)


# ------------------------------------------------------------------------ merge layers
def _l2_normalized(g: _Graph, x: str, axis: int, layer: Any) -> str:
    """x / sqrt(max(sum(x^2 along axis), 1e-12)), as engram's (and Keras's) Dot normalizes."""
    hint = layer.name
    axes = g.const(np.array([axis], np.int64), "axes")
    total = g.op("ReduceSum", [g.op("Mul", [x, x], hint), axes], hint, keepdims=1)
    floor = g.const(np.array(1e-12, np.dtype(layer.dtype)), "eps")
    return g.op("Div", [x, g.op("Sqrt", [g.op("Max", [total, floor], hint)], hint)], hint)


def _dot(g: _Graph, layer: Any, xs: list[str]) -> str:
    """Keras's batch dot: a' @ b' with a's contracted axis last and b's first (see Dot)."""
    (a, b), ranks = xs, [len(s) + 1 for s in layer.input_shapes]
    ax, bx = layer._pair(ranks)
    if layer.normalize:
        a, b = _l2_normalized(g, a, ax, layer), _l2_normalized(g, b, bx, layer)
    if ranks[0] == 3:
        a = a if ax == 2 else g.op("Transpose", [a], layer.name, perm=[0, 2, 1])
    else:
        a = g.op("Unsqueeze", [a, g.const(np.array([1], np.int64), "axes")], layer.name)
    if ranks[1] == 3:
        b = b if bx == 1 else g.op("Transpose", [b], layer.name, perm=[0, 2, 1])
    else:
        b = g.op("Unsqueeze", [b, g.const(np.array([2], np.int64), "axes")], layer.name)
    y = g.op("MatMul", [a, b], layer.name)
    if ranks == [3, 3]:
        return y
    squeeze = 1 if ranks == [2, 3] else 2  # (batch, 1, m) -> (batch, m); (batch, n, 1) -> ...
    return g.op("Squeeze", [y, g.const(np.array([squeeze], np.int64), "axes")], layer.name)


def _variadic(op_type: str) -> Any:
    def emit(g: _Graph, layer: Any, xs: list[str]) -> str:
        return g.op(op_type, xs, layer.name)

    return emit


def _concatenate(g: _Graph, layer: Any, xs: list[str]) -> str:
    return g.op("Concat", xs, layer.name, axis=layer._axis(len(layer.input_shapes[0])))


#: merge layer class name -> emitter taking the list of input names
_MERGE_EMITTERS = {
    "Add": _variadic("Sum"),
    "Subtract": _variadic("Sub"),
    "Multiply": lambda g, layer, xs: _fold(g, "Mul", xs, layer.name),
    "Average": _variadic("Mean"),
    "Maximum": _variadic("Max"),
    "Minimum": _variadic("Min"),
    "Concatenate": _concatenate,
    "Dot": _dot,
}


def _fold(g: _Graph, op_type: str, xs: list[str], hint: str) -> str:
    y = xs[0]
    for x in xs[1:]:
        y = g.op(op_type, [y, x], hint)
    return y


#: the layers that read a mask -> their emitters with a ``mask`` argument
_MASK_READERS = {
    "SimpleRNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "Bidirectional": _bidirectional,
}


def _emit_call(
    g: _Graph, layer: Any, xs: list[str], multi: bool, mask: str | None = None
) -> list[str]:
    """One node of a graph: a nested model, a merge layer, or a one-input layer (a recurrent
    layer or Bidirectional given the ``mask`` of its input reads it)."""
    from engram.nn.layers import layers
    from engram.nn.model import Model

    if mask is not None:
        return [_MASK_READERS[layers.name_of(layer)](g, layer, xs[0], mask)]
    if isinstance(layer, Model):
        return _emit_model(g, layer, xs)
    if multi:
        class_name = layers.name_of(layer)
        if class_name not in _MERGE_EMITTERS:
            raise ValueError(
                f"Layer {layer.name!r} ({class_name}) is called on a list; the merge layers "
                f"that export are {', '.join(sorted(_MERGE_EMITTERS))}."
            )
        return [_MERGE_EMITTERS[class_name](g, layer, xs)]
    return [_emit(g, layer, xs[0])]


def _emit_model(g: _Graph, model: Any, inputs: list[str]) -> list[str]:
    """A model's nodes in the graph's (topological) order; returns its output names."""
    from engram.nn.export.masks import PASS, mask_plan

    names = {id(t): x for t, x in zip(model.graph.inputs, inputs, strict=True)}
    masks: dict[int, str] = {}  # tensor -> its mask's name, for the tensors that carry one
    plan = mask_plan(model.graph)
    for node in model.graph.nodes:
        xs = [names[id(t)] for t in node.inputs]
        reads, made = plan.get(id(node), (False, None))
        mask_in = masks.get(id(node.inputs[0])) if node.inputs else None
        outs = _emit_call(g, node.layer, xs, node.multi, mask_in if reads else None)
        names.update({id(t): y for t, y in zip(node.outputs, outs, strict=True)})
        if made is not None:
            mask = mask_in if made == PASS else _make_mask(g, node.layer, made, xs[0])
            masks.update({id(t): mask for t in node.outputs})
    return [names[id(t)] for t in model.graph.outputs]


def _integer_inputs(model: Any) -> list[bool]:
    """Per input: whether every layer that reads it is an Embedding (its data are indices)."""
    from engram.nn.layers import Embedding

    readers = {id(t): [] for t in model.graph.inputs}
    for node in model.graph.nodes:
        for t in node.inputs:
            if id(t) in readers:
                readers[id(t)].append(node.layer)
    return [
        bool(readers[id(t)]) and all(isinstance(la, Embedding) for la in readers[id(t)])
        for t in model.graph.inputs
    ]


def _io_names(names: list[str], single: str, keys: list[str] | None) -> list[str]:
    """The ONNX names of the inputs (or outputs): a dict's keys, else ``single`` for one and
    ``single_<layer name>`` for several."""
    if keys:
        return list(keys)
    return [single] if len(names) == 1 else [f"{single}_{name}" for name in names]


def _check_io_names(in_names: list[str], out_names: list[str]) -> None:
    """ONNX names each value once and reads an empty name as "absent": refuse dict keys that
    would break either rule, naming them."""
    if "" in in_names or "" in out_names:
        raise ValueError(
            "to_onnx names a dict's inputs and outputs by their keys, and ONNX cannot name a "
            "value with the empty key ''. Rename that key."
        )
    both = sorted(set(in_names) & set(out_names))
    if both:
        raise ValueError(
            f"to_onnx names a dict's inputs and outputs by their keys, and ONNX names each "
            f"value once: {both[0]!r} is both an input and an output key. Rename one of them."
        )


def to_onnx_bytes(model: Any, opset: int | None = None) -> bytes:
    """The serialized ONNX model (see `to_onnx`)."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("ONNX export needs onnx: pip install 'engram[onnx]'.") from None
    opset = OPSET if opset is None else int(opset)
    if not 13 <= opset <= 17:
        raise ValueError(
            f"opset must be between 13 and 17 (the ops engram writes, with Squeeze's axes as an "
            f"input and ReduceMean's as an attribute). Got {opset} instead."
        )
    from engram.nn.saving.architecture import require_graph_model

    require_graph_model(model, "to_onnx")
    if not model.built:
        raise ValueError("Only a built model can be exported: fit it, or pass input_shape.")
    real = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    in_names = _io_names(list(model.input_names), "input", model.__dict__.get("_input_dict"))
    out_names = _io_names(list(model.output_names), "output", model.__dict__.get("_output_dict"))
    _check_io_names(in_names, out_names)
    g = _Graph(reserved=[*in_names, *out_names])
    outs = _emit_model(g, model, in_names)
    for out, name in zip(outs, out_names, strict=True):
        g.nodes.append(helper.make_node("Identity", [out], [name], name=name))
    in_types = [TensorProto.INT64 if i else real for i in _integer_inputs(model)]
    graph = helper.make_graph(
        g.nodes,
        model.name,
        [
            helper.make_tensor_value_info(name, dtype, ["batch", *t.shape[1:]])
            for name, dtype, t in zip(in_names, in_types, model.graph.inputs, strict=True)
        ],
        [
            helper.make_tensor_value_info(name, real, ["batch", *t.shape[1:]])
            for name, t in zip(out_names, model.graph.outputs, strict=True)
        ],
        g.initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="engram",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()


def to_onnx(model: Any, path: str | os.PathLike, opset: int | None = None) -> Path:
    """Write ``model`` as an ONNX file (atomically) with IR version `IR_VERSION` and ``opset``
    (default `OPSET`); onnxruntime's CPU provider runs it with outputs within 1e-5 of
    ``model.predict``. The input is named ``input`` (int64 for an Embedding model), the output
    ``output``; several are ``input_<layer name>`` / ``output_<layer name>``; a dict of inputs
    or outputs is named by its keys (a key that is empty or both an input's and an output's is
    refused). The batch axis is dynamic.

    Raises:
        ValueError: a layer or activation with no ONNX counterpart (named), or a bad opset.
    """
    return atomic_write_bytes(path, to_onnx_bytes(model, opset=opset))


# --------------------------------------------------------------- layers of the layers2 set
def _conv2d_transpose(g: _Graph, layer: Any, x: str) -> str:
    """ConvTranspose (W = kernel.transpose(3, 2, 0, 1): (in, out, kh, kw)); Keras's window of
    the full image as the op's begin pads (crops) and its end pads or output_padding (zeros)."""
    kernel = np.transpose(layer.params["kernel"], (3, 2, 0, 1))
    inputs = [_nchw(g, x, layer.name), g.const(kernel, "kernel")]
    if layer.use_bias:
        inputs.append(g.const(layer.params["bias"], "bias"))
    (oh, ow), (top, left), (fh, fw) = layer.crop_plan(tuple(layer.input_shape[:2]))
    bottom, right = fh - top - oh, fw - left - ow  # negative: zeros past the full image
    y = g.op(
        "ConvTranspose",
        inputs,
        layer.name,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        pads=[top, left, max(bottom, 0), max(right, 0)],
        output_padding=[max(-bottom, 0), max(-right, 0)],
    )
    return _activation(g, _nhwc(g, y, layer.name), layer.activation, layer.name)


_EMITTERS["Conv2DTranspose"] = _conv2d_transpose


def _repeat_vector(g: _Graph, layer: Any, x: str) -> str:
    """(batch, f) -> (batch, 1, f), broadcast by Expand to (batch, n, f)."""
    y = g.op("Unsqueeze", [x, g.const(np.array([1], np.int64), "axes")], layer.name)
    shape = g.const(np.array([1, layer.n, layer.input_shape[0]], np.int64), "shape")
    return g.op("Expand", [y, shape], layer.name)


def _permute(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Transpose", [x], layer.name, perm=[0, *layer.dims])


def _cropping(g: _Graph, layer: Any, x: str) -> str:
    """Slice the cropped axes (1, or 1 and 2) between before and size - after."""
    pairs = [layer.cropping] if len(layer.input_shape) == 2 else list(layer.cropping)
    starts = [before for before, _ in pairs]
    ends = [size - after for (_, after), size in zip(pairs, layer.input_shape, strict=False)]
    axes = list(range(1, len(pairs) + 1))
    consts = [g.const(np.array(v, np.int64), "slice") for v in (starts, ends, axes)]
    return g.op("Slice", [x, *consts], layer.name)


def _unit_normalization(g: _Graph, layer: Any, x: str) -> str:
    """x / max(sqrt(sum x^2 over the axes), 1e-12)."""
    from engram.nn.layers.layer_normalization import normalize_axes

    axes = list(normalize_axes(layer.axis, len(layer.input_shape) + 1, layer))
    square = g.op("Mul", [x, x], layer.name)
    total = g.op("ReduceSum", [square, g.const(np.array(axes, np.int64), "axes")], layer.name)
    norm = g.op("Sqrt", [total], layer.name)
    floor = g.const(np.array(1e-12, np.dtype(layer.dtype)), "eps")
    return g.op("Div", [x, g.op("Max", [norm, floor], layer.name)], layer.name)


_EMITTERS.update(
    {
        "RepeatVector": _repeat_vector,
        "Permute": _permute,
        "Cropping1D": _cropping,
        "Cropping2D": _cropping,
        "UnitNormalization": _unit_normalization,
        # the identity at inference, which is what an exported graph runs
        "Identity": _identity,
        "ActivityRegularization": _identity,
        "GaussianNoise": _identity,
        "GaussianDropout": _identity,
        "SpatialDropout1D": _identity,
        "SpatialDropout2D": _identity,
    }
)


def _conv1d_transpose(g: _Graph, layer: Any, x: str) -> str:
    """The Conv2DTranspose it runs, on a (batch, 1, steps, channels) view."""
    axis = g.const(np.array([1], np.int64), "axes")
    y = _conv2d_transpose(g, layer.as_2d(), g.op("Unsqueeze", [x, axis], layer.name))
    return g.op("Squeeze", [y, axis], layer.name)


_EMITTERS["Conv1DTranspose"] = _conv1d_transpose


def _depthwise(g: _Graph, layer: Any, x: str) -> str:
    """Conv with group = in_channels (W = kernel as (cin * m, 1, kh, kw), Keras's channel
    order); SeparableConv2D adds a 1x1 Conv (W = pointwise.transpose(3, 2, 0, 1))."""
    from engram.nn.layers import SeparableConv2D

    separable = isinstance(layer, SeparableConv2D)
    k = layer.params["depthwise_kernel" if separable else "kernel"]
    kh, kw, cin, mult = k.shape
    weight = np.transpose(k.reshape(kh, kw, 1, cin * mult), (3, 2, 0, 1))
    inputs = [_nchw(g, x, layer.name), g.const(weight, "depthwise")]
    if layer.use_bias and not separable:
        inputs.append(g.const(layer.params["bias"], "bias"))
    y = g.op(
        "Conv",
        inputs,
        layer.name,
        kernel_shape=[kh, kw],
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        pads=_pads(layer, layer.window),
        group=cin,
    )
    if separable:
        inputs = [y, g.const(np.transpose(layer.params["pointwise_kernel"], (3, 2, 0, 1)), "pw")]
        if layer.use_bias:
            inputs.append(g.const(layer.params["bias"], "bias"))
        y = g.op("Conv", inputs, layer.name, kernel_shape=[1, 1])
    return _activation(g, _nhwc(g, y, layer.name), layer.activation, layer.name)


_EMITTERS["DepthwiseConv2D"] = _depthwise
_EMITTERS["SeparableConv2D"] = _depthwise
