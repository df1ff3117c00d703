"""engram models as ``torch.nn.Module`` and back, with the weights copied.

`to_torch` keeps engram's (Keras's) layout: images are (batch, height, width, channels) between
modules, and each convolution or pooling permutes to channels-first and back around PyTorch's
op, so the module's inputs and outputs are those of ``model.predict`` and it trains in PyTorch
(on a GPU with ``.to("cuda")``) as it is. Weights map one to one:

    Dense            nn.Linear:   weight = kernel.T
    Conv2D           nn.Conv2d:   weight = kernel.transpose(3, 2, 0, 1)  (asymmetric "same"
                                  padding as a ZeroPad2d, as Keras pads)
    SimpleRNN/LSTM   nn.RNN/LSTM: weight_ih = kernel.T, weight_hh = recurrent.T, bias_ih = bias,
                                  bias_hh = 0 (Keras's i, f, c, o is PyTorch's i, f, g, o)
    GRU              nn.GRU:      gate blocks z, r, h -> r, z, n; bias rows are bias_ih, bias_hh
    BatchNorm        nn.BatchNorm1d/2d over the last axis, momentum = 1 - Keras momentum
    Embedding        nn.Embedding
    Conv1D           nn.Conv1d:   weight = kernel.transpose(2, 1, 0), dilation kept ("same" and
                                  "causal" zeros padded before/after the steps, as engram pads)
    LayerNorm.       gamma, beta shaped to broadcast over the normalized axes (any axes)
    Rescaling, Normalization: constant buffers, y = x * scale + shift
Average pooling ("same") divides the padded window's sum by its count of real cells, as Keras
does; UpSampling2D is ``nn.Upsample`` (bilinear: align_corners=False, engram's half-pixel rule).
Bidirectional runs one recurrent module per direction and merges them (concat, sum, ave, mul).
Masks (``Embedding(mask_zero=True)``, ``Masking``) are computed from the inputs inside the
module as engram computes them (masks.py), and a recurrent module that reads one runs step by
step as engram does (any mask, gaps included), so a masked model exports as a ``Graph`` module.

A functional model becomes a module with one submodule per layer, run over the graph's nodes in
order (merge layers as tensor ops, Dot as Keras's batch dot); shared layers share one submodule.

`from_torch` reads back the ``nn.Sequential`` modules that map one to one (Linear, Embedding,
activations, Dropout, Flatten); anything else is refused with its name.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("PyTorch export needs torch: pip install torch.") from None
    return torch


@functools.cache
def _modules() -> dict[str, Any]:
    """The small wrapper modules, defined once, when torch is first imported (one class each,
    so `from_torch` recognizes the modules `to_torch` made)."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class ChannelsFirst(nn.Module):
        """Run ``inner`` on a channels-last image or sequence: move the channels to axis 1,
        pad (``pads`` as ``F.pad`` takes them: (left, right, top, bottom) for an image,
        (before, after) for a sequence), inner, move the channels back."""

        def __init__(self, inner: Any, pads: tuple[int, ...], value: float = 0.0):
            super().__init__()
            self.inner, self.pads, self.value = inner, pads, value

        def forward(self, x):
            x = x.movedim(-1, 1)
            if any(self.pads):
                x = F.pad(x, self.pads, value=self.value)
            return self.inner(x).movedim(1, -1)

    class AvgPoolSame(nn.Module):
        """Keras's average pooling with "same" padding: the mean over the window's cells that
        lie inside the image or sequence (sum of the padded window / count of real cells)."""

        def __init__(self, pool: Any, pads: tuple[int, ...]):
            super().__init__()
            self.pool, self.pads = pool, pads

        def forward(self, x):
            x = x.movedim(-1, 1)
            ones = torch.ones_like(x[:1, :1])
            y = self.pool(F.pad(x, self.pads)) / self.pool(F.pad(ones, self.pads))
            return y.movedim(1, -1)

    class Affine(nn.Module):
        """y = x * scale + shift (Rescaling, Normalization), constants broadcast against x;
        integer inputs are cast to the constants' float dtype first."""

        def __init__(self, scale: np.ndarray, shift: np.ndarray):
            super().__init__()
            self.register_buffer("scale", torch.from_numpy(np.ascontiguousarray(scale)))
            self.register_buffer("shift", torch.from_numpy(np.ascontiguousarray(shift)))

        def forward(self, x):
            return x.to(self.scale.dtype) * self.scale + self.shift

    class GlobalPool(nn.Module):
        """Max or mean over every axis between the batch and the channels."""

        def __init__(self, kind: str, keepdims: bool):
            super().__init__()
            self.kind, self.keepdims = kind, keepdims

        def forward(self, x):
            axes = tuple(range(1, x.dim() - 1))
            if self.kind == "max":
                return x.amax(dim=axes, keepdim=self.keepdims)
            return x.mean(dim=axes, keepdim=self.keepdims)

    class LayerNorm(nn.Module):
        """Keras's LayerNormalization over any ``axes``: (x - mean) / sqrt(var + eps), times
        gamma plus beta (shaped to broadcast against x), moments over ``axes`` (biased)."""

        def __init__(self, axes: tuple[int, ...], epsilon: float, gamma: Any, beta: Any):
            super().__init__()
            self.axes, self.epsilon, self.gamma, self.beta = axes, epsilon, gamma, beta

        def forward(self, x):
            mean = x.mean(dim=self.axes, keepdim=True)
            centered = x - mean
            var = (centered * centered).mean(dim=self.axes, keepdim=True)
            y = centered * (1.0 / torch.sqrt(var + self.epsilon))
            if self.gamma is not None:
                y = y * self.gamma
            return y if self.beta is None else y + self.beta

    class Recurrent(nn.Module):
        """A recurrent layer; with a (batch, time) ``mask`` it runs one step at a time as
        engram does: a masked step keeps the states and its output repeats the previous one
        (zeros with ``zero_output``, Bidirectional's setting)."""

        def __init__(
            self, rnn: Any, return_sequences: bool, go_backwards: bool, zero_output: bool = False
        ):
            super().__init__()
            self.rnn, self.return_sequences, self.go_backwards = rnn, return_sequences, go_backwards
            self.zero_output = zero_output

        def forward(self, x, mask=None):
            if self.go_backwards:
                x = torch.flip(x, dims=[1])
            if mask is not None:
                return self._masked(x, torch.flip(mask, dims=[1]) if self.go_backwards else mask)
            y, _ = self.rnn(x)
            return y if self.return_sequences else y[:, -1]

        def _masked(self, x, mask):
            zeros = x.new_zeros(1, x.shape[0], self.rnn.hidden_size)
            states = (zeros, zeros) if isinstance(self.rnn, nn.LSTM) else (zeros,)
            outputs = []
            for t in range(x.shape[1]):
                _, new = self.rnn(x[:, t : t + 1], states if len(states) > 1 else states[0])
                keep = mask[:, t].reshape(1, -1, 1)
                new = new if isinstance(new, tuple) else (new,)
                states = tuple(torch.where(keep, n, s) for n, s in zip(new, states, strict=True))
                h = states[0][0]
                outputs.append(torch.where(keep[0], h, zeros[0]) if self.zero_output else h)
            return torch.stack(outputs, dim=1) if self.return_sequences else states[0][0]

    class Bidirectional(nn.Module):
        """Two `Recurrent` modules over the same sequence, the backward one's outputs put back
        in time order (with return_sequences), merged as ``merge_mode`` says."""

        def __init__(self, forward_rnn: Any, backward_rnn: Any, mode: str, sequences: bool):
            super().__init__()
            self.forward_rnn, self.backward_rnn = forward_rnn, backward_rnn
            self.mode, self.sequences = mode, sequences

        def forward(self, x, mask=None):
            y_f, y_b = self.forward_rnn(x, mask), self.backward_rnn(x, mask)
            if self.sequences:
                y_b = torch.flip(y_b, dims=[1])
            if self.mode == "concat":
                return torch.cat([y_f, y_b], dim=-1)
            if self.mode == "sum":
                return y_f + y_b
            if self.mode == "ave":
                return (y_f + y_b) * 0.5
            return y_f * y_b

    class BatchNormLast(nn.Module):
        """BatchNorm over the last axis (channels-last), by moving it to axis 1 and back."""

        def __init__(self, bn: Any):
            super().__init__()
            self.bn = bn

        def forward(self, x):
            if x.dim() == 2:
                return self.bn(x)
            return self.bn(x.movedim(-1, 1)).movedim(1, -1)

    class Masking(nn.Module):
        """Zeros the steps whose features all equal ``value`` (the mask is the graph's)."""

        def __init__(self, value: float):
            super().__init__()
            self.value = value

        def forward(self, x):
            return x * (x != self.value).any(dim=-1, keepdim=True).to(x.dtype)

    class Reshape(nn.Module):
        def __init__(self, shape: tuple[int, ...]):
            super().__init__()
            self.shape = tuple(shape)

        def forward(self, x):
            return x.reshape(x.shape[0], *self.shape)

    class TimeDistributed(nn.Module):
        def __init__(self, inner: Any, in_shape: tuple[int, ...]):
            super().__init__()
            self.inner, self.in_shape = inner, tuple(in_shape)

        def forward(self, x):
            batch, steps = x.shape[:2]
            y = self.inner(x.reshape(batch * steps, *self.in_shape))
            return y.reshape(batch, steps, *y.shape[1:])

    class Embedding(nn.Module):
        def __init__(self, embedding: Any):
            super().__init__()
            self.embedding = embedding

        def forward(self, x):
            return self.embedding(x.long())

    class Merge(nn.Module):
        """A merge layer over a list of tensors: ``kind`` is the engram class name."""

        def __init__(self, kind: str, axis: int = -1, axes: Any = None, normalize: bool = False):
            super().__init__()
            self.kind, self.axis, self.axes, self.normalize = kind, axis, axes, normalize

        def forward(self, xs):
            kind = self.kind
            if kind == "Add":
                return torch.stack(xs).sum(0)
            if kind == "Subtract":
                return xs[0] - xs[1]
            if kind == "Multiply":
                return torch.stack(xs).prod(0)
            if kind == "Average":
                return torch.stack(xs).mean(0)
            if kind == "Maximum":
                return torch.stack(xs).amax(0)
            if kind == "Minimum":
                return torch.stack(xs).amin(0)
            if kind == "Concatenate":
                return torch.cat(xs, dim=self.axis)
            return _batch_dot(torch, xs, self.axes, self.normalize)

    class Graph(nn.Module):
        """A functional model: one module per layer (a shared layer's module runs at each of
        its calls), run over the graph's nodes in order. ``steps`` holds, per node, the module's
        index, the value slots it reads and writes, and whether it takes a list; no code is
        generated. A model with a dict of inputs (``input_keys``, sorted) takes a dict (or
        keyword arguments, or the arrays in sorted key order); one with a dict of outputs
        (``output_keys``) returns a dict."""

        def __init__(
            self,
            layers: list[Any],
            steps: list[tuple],
            n_inputs: int,
            outputs: list,
            masks=None,
            input_keys: list[str] | None = None,
            output_keys: list[str] | None = None,
        ):
            super().__init__()
            self.layers = nn.ModuleList(layers)
            self.steps, self.n_inputs, self.outputs = steps, n_inputs, outputs
            #: per step: None, or (reads the input's mask, how the output's mask is made)
            self.masks = masks or [None] * len(steps)
            self.input_keys, self.output_keys = input_keys, output_keys

        def forward(self, *xs, **named):
            if named or len(xs) == 1 and isinstance(xs[0], dict):
                xs = self._by_key(named if named else xs[0], len(xs) - (not named))
            if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
                xs = tuple(xs[0])
            if len(xs) != self.n_inputs:
                raise ValueError(f"This module takes {self.n_inputs} inputs; got {len(xs)}.")
            values = list(xs)
            masks: list[Any] = [None] * len(xs)
            for (index, ins, outs, multi), masking in zip(self.steps, self.masks, strict=True):
                args = [values[i] for i in ins]
                mask = masks[ins[0]] if masking is not None else None
                if masking is not None and masking[0]:
                    y = self.layers[index](args[0], mask)
                else:
                    y = self.layers[index](args if multi else args[0])
                if isinstance(y, dict):  # a nested model's dict of outputs (sorted keys)
                    y = tuple(y.values())
                ys = y if len(outs) > 1 else (y,)
                values.extend(ys)
                made = None if masking is None else masking[1]
                if isinstance(made, tuple) and made[0] == "tokens":
                    mask = args[0] != 0
                elif isinstance(made, tuple):
                    mask = (args[0] != made[1]).any(dim=-1)
                masks.extend([mask if made is not None else None] * len(ys))
            result = tuple(values[i] for i in self.outputs)
            if self.output_keys:
                return dict(zip(self.output_keys, result, strict=True))
            return result if len(result) > 1 else result[0]

        def _by_key(self, named: dict, extra: int) -> tuple:
            """The arrays of a dict of inputs in the graph's order (sorted keys)."""
            if not self.input_keys or extra:
                takes = f"a dict keyed by {self.input_keys}" if self.input_keys else "no dict"
                raise TypeError(f"This module takes {takes} (and nothing beside it).")
            if sorted(named) != self.input_keys:
                raise ValueError(
                    f"This module takes a dict keyed by {self.input_keys}; got the keys "
                    f"{sorted(map(str, named))}."
                )
            return tuple(named[k] for k in self.input_keys)

    return {k: v for k, v in locals().items() if isinstance(v, type)}


def _batch_dot(torch: Any, xs: list[Any], axes: list[int], normalize: bool) -> Any:
    """Keras's batch dot (engram's Dot): a' @ b', a's contracted axis last, b's first."""
    a, b = xs
    if normalize:
        a = a / torch.sqrt(torch.clamp((a * a).sum(axes[0], keepdim=True), min=1e-12))
        b = b / torch.sqrt(torch.clamp((b * b).sum(axes[1], keepdim=True), min=1e-12))
    a3 = a.movedim(axes[0], -1) if a.dim() == 3 else a[:, None, :]
    b3 = b.movedim(axes[1], 1) if b.dim() == 3 else b[:, :, None]
    y = a3 @ b3
    if a.dim() == 2 and b.dim() == 2:
        return y.reshape(len(y), 1)
    if a.dim() == 2:
        return y[:, 0, :]
    return y[:, :, 0] if b.dim() == 2 else y


def _param(array: np.ndarray) -> Any:
    torch = _torch()
    return torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(array)).clone())


def _activation(activation: Any) -> Any:
    nn = _torch().nn
    name = activation.name
    table = {
        "linear": nn.Identity,
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "elu": nn.ELU,
    }
    if name in table:
        return table[name]()
    if name == "softmax":
        return nn.Softmax(dim=-1)
    if name == "leaky_relu":
        return nn.LeakyReLU(activation.negative_slope)
    raise ValueError(f"The activation {name!r} has no PyTorch module in engram's export.")


def _pads(layer: Any, window: tuple[int, int]) -> tuple[int, int, int, int]:
    from engram.nn import conv_functional as C

    _, ((top, bottom), (left, right)) = C.spatial_plan(
        layer.input_shape, window, layer.strides, layer.padding
    )
    return (left, right, top, bottom)


def _blocks(array: np.ndarray, order: list[int], n: int) -> np.ndarray:
    parts = np.split(array, n, axis=-1)
    return np.concatenate([parts[i] for i in order], axis=-1)


def _layer_module(layer: Any, m: dict[str, Any]) -> list[Any]:
    """The torch modules for one engram layer, weights copied."""
    from engram.nn.layers import layers

    torch = _torch()
    nn = torch.nn
    kind = layers.name_of(layer)
    if kind == "Dense":
        w = layer.params["weights"]
        linear = nn.Linear(w.shape[0], w.shape[1], bias=layer.use_bias, dtype=torch.float32)
        linear.weight = _param(w.T)
        if layer.use_bias:
            linear.bias = _param(layer.params["bias"])
        return [linear, _activation(layer.activation)]
    if kind == "Conv2D":
        k = layer.params["kernel"]
        conv = nn.Conv2d(
            k.shape[2],
            k.shape[3],
            tuple(layer.kernel_size),
            tuple(layer.strides),
            dilation=tuple(layer.dilation_rate),
        )
        conv.bias = _param(layer.params["bias"]) if layer.use_bias else None
        conv.weight = _param(np.transpose(k, (3, 2, 0, 1)))
        return [
            m["ChannelsFirst"](conv, _pads(layer, layer.span)),
            _activation(layer.activation),
        ]
    if kind == "MaxPooling2D":
        pool = nn.MaxPool2d(tuple(layer.pool_size), tuple(layer.strides))
        return [m["ChannelsFirst"](pool, _pads(layer, layer.pool_size), value=-float("inf"))]
    if kind == "AveragePooling2D":
        pool = nn.AvgPool2d(tuple(layer.pool_size), tuple(layer.strides))
        return [m["AvgPoolSame"](pool, _pads(layer, layer.pool_size))]
    if kind in _GLOBAL_POOLS:
        return [m["GlobalPool"](_GLOBAL_POOLS[kind], layer.keepdims)]
    if kind in _NEW_LAYER_MODULES:
        return _NEW_LAYER_MODULES[kind](layer, m)
    if kind == "BatchNormalization":
        return [_batch_norm(layer, m)]
    if kind == "Flatten":
        return [nn.Flatten()]
    if kind == "Reshape":
        return [m["Reshape"](layer.output_shape)]
    if kind in ("Dropout",):
        return [nn.Dropout(layer.rate)]
    if kind == "InputLayer":
        return []
    if kind in ("Activation", "ReLU", "LeakyReLU", "Softmax"):
        return [_activation(layer.activation)]
    if kind == "Masking":
        return [m["Masking"](layer.mask_value)]
    if kind == "Embedding":
        table = layer.params["embeddings"]
        embedding = nn.Embedding(table.shape[0], table.shape[1])
        embedding.weight = _param(table)
        return [m["Embedding"](embedding)]
    if kind == "TimeDistributed":
        inner = nn.Sequential(*_layer_module(layer.layer, m))
        return [m["TimeDistributed"](inner, layer.layer.input_shape)]
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return [_recurrent(layer, kind, m)]
    raise ValueError(f"Layer {layer.name!r} ({kind}) has no PyTorch module in engram's export.")


#: global pooling layer -> the reduction
_GLOBAL_POOLS = {
    "GlobalAveragePooling2D": "mean",
    "GlobalAveragePooling1D": "mean",
    "GlobalMaxPooling2D": "max",
    "GlobalMaxPooling1D": "max",
}


def _affine(layer: Any, m: dict[str, Any]) -> list[Any]:
    """Rescaling and Normalization: y = x * scale + shift."""
    from engram.nn.layers import layers

    dtype = np.dtype(layer.dtype)
    if layers.name_of(layer) == "Rescaling":
        scale, shift = np.asarray(layer.scale), np.asarray(layer.offset)
    else:  # Normalization: (x - mean) / std, or mean + x * std when inverting
        std, mean = layer._statistics(np.zeros((1, *layer.input_shape), dtype))
        scale, shift = (std, mean) if layer.invert else (1 / std, -mean / std)
    return [m["Affine"](scale.astype(dtype), shift.astype(dtype))]


def _zero_padding(layer: Any, m: dict[str, Any]) -> list[Any]:
    (top, bottom), (left, right) = layer.padding
    return [m["ChannelsFirst"](_torch().nn.Identity(), (left, right, top, bottom))]


def _upsampling(layer: Any, m: dict[str, Any]) -> list[Any]:
    """Nearest repeats pixels; bilinear is PyTorch's half-pixel rule (align_corners=False),
    the one `bilinear_matrix` writes out."""
    h, w = layer.input_shape[:2]
    size = (h * layer.size[0], w * layer.size[1])
    mode = layer.interpolation
    up = _torch().nn.Upsample(
        size=size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {})
    )
    return [m["ChannelsFirst"](up, ())]


def _layer_norm(layer: Any, m: dict[str, Any]) -> list[Any]:
    from engram.nn.layers.layer_normalization import normalize_axes

    rank = len(layer.input_shape) + 1
    axes = tuple(normalize_axes(layer.axis, rank, layer))
    shape = [1] * rank
    for a in axes:
        shape[a] = layer.input_shape[a - 1]

    def weight(name: str) -> Any:
        return _param(layer.params[name].reshape(shape)) if name in layer.params else None

    return [m["LayerNorm"](axes, layer.epsilon, weight("gamma"), weight("beta"))]


def _conv1d(layer: Any, m: dict[str, Any]) -> list[Any]:
    """nn.Conv1d with weight = kernel.transpose(2, 1, 0); the zeros before and after the steps
    ("same", "causal") as `sequence_plan` puts them."""
    from engram.nn.layers.conv1d import sequence_plan

    k = layer.params["kernel"]  # (kernel, in, out)
    conv = _torch().nn.Conv1d(
        k.shape[1], k.shape[2], k.shape[0], layer.strides, dilation=layer.dilation_rate
    )
    conv.bias = _param(layer.params["bias"]) if layer.use_bias else None
    conv.weight = _param(np.transpose(k, (2, 1, 0)))
    _, before, after = sequence_plan(
        layer.input_shape[0], k.shape[0], layer.strides, layer.dilation_rate, layer.padding
    )
    return [m["ChannelsFirst"](conv, (before, after)), _activation(layer.activation)]


def _pool1d(layer: Any, m: dict[str, Any]) -> list[Any]:
    from engram.nn.layers import layers
    from engram.nn.layers.conv1d import sequence_plan

    nn = _torch().nn
    _, before, after = sequence_plan(
        layer.input_shape[0], layer.pool_size, layer.strides, 1, layer.padding
    )
    if layers.name_of(layer) == "MaxPooling1D":
        pool = nn.MaxPool1d(layer.pool_size, layer.strides)
        return [m["ChannelsFirst"](pool, (before, after), value=-float("inf"))]
    return [m["AvgPoolSame"](nn.AvgPool1d(layer.pool_size, layer.strides), (before, after))]


def _bidirectional(layer: Any, m: dict[str, Any]) -> list[Any]:
    from engram.nn.layers import layers

    if layer.merge_mode is None:
        raise ValueError(
            f"Bidirectional layer {layer.name!r} has merge_mode=None (two outputs), which has no "
            "PyTorch module in engram's export; use 'concat', 'sum', 'ave' or 'mul'."
        )
    directions = [
        _recurrent(inner, layers.name_of(inner), m)
        for inner in (layer.forward_layer, layer.backward_layer)
    ]
    return [m["Bidirectional"](*directions, layer.merge_mode, layer.return_sequences)]


#: the layers of the Keras-port set -> their modules
_NEW_LAYER_MODULES = {
    "Rescaling": _affine,
    "Normalization": _affine,
    "ZeroPadding2D": _zero_padding,
    "UpSampling2D": _upsampling,
    "LayerNormalization": _layer_norm,
    "Conv1D": _conv1d,
    "MaxPooling1D": _pool1d,
    "AveragePooling1D": _pool1d,
    "Bidirectional": _bidirectional,
}


def _batch_norm(layer: Any, m: dict[str, Any]) -> Any:
    torch = _torch()
    nn = torch.nn
    n = layer.moving_mean.shape[0]
    cls = nn.BatchNorm2d if len(layer.input_shape) == 3 else nn.BatchNorm1d
    bn = cls(n, eps=layer.epsilon, momentum=1 - layer.momentum, affine=True)
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(layer.moving_mean))
        bn.running_var.copy_(torch.from_numpy(layer.moving_variance))
        bn.weight.copy_(torch.from_numpy(layer.params.get("gamma", np.ones(n, np.float32))))
        bn.bias.copy_(torch.from_numpy(layer.params.get("beta", np.zeros(n, np.float32))))
    bn.weight.requires_grad_(layer.scale)
    bn.bias.requires_grad_(layer.center)
    return m["BatchNormLast"](bn)


def _recurrent(layer: Any, kind: str, m: dict[str, Any]) -> Any:
    torch = _torch()
    nn = torch.nn
    acts = [layer.activation.name] + (
        [layer.recurrent_activation.name] if kind != "SimpleRNN" else []
    )
    wanted = ["tanh"] if kind != "SimpleRNN" else ["tanh", "relu"]
    if acts[0] not in wanted or (kind != "SimpleRNN" and acts[1] != "sigmoid"):
        raise ValueError(
            f"{kind} layer {layer.name!r} uses activations {acts}; PyTorch's {kind} has only "
            "tanh with sigmoid gates (SimpleRNN: tanh or relu)."
        )
    kernel, recurrent = layer.params["weights"], layer.params["recurrent_weights"]
    bias = layer.params.get("bias")
    n_in, units = kernel.shape[0], layer.units
    use_bias = bias is not None
    if kind == "SimpleRNN":
        rnn = nn.RNN(n_in, units, nonlinearity=acts[0], bias=use_bias, batch_first=True)
        order, n = [0], 1
    elif kind == "LSTM":
        rnn, order, n = nn.LSTM(n_in, units, bias=use_bias, batch_first=True), [0, 1, 2, 3], 4
    else:
        rnn, order, n = nn.GRU(n_in, units, bias=use_bias, batch_first=True), [1, 0, 2], 3
    rnn.weight_ih_l0 = _param(_blocks(kernel, order, n).T)
    rnn.weight_hh_l0 = _param(_blocks(recurrent, order, n).T)
    if use_bias:
        if kind == "GRU":
            b_ih, b_hh = _blocks(bias[0], order, n), _blocks(bias[1], order, n)
        else:
            b_ih, b_hh = _blocks(bias, order, n), np.zeros(n * units, bias.dtype)
        rnn.bias_ih_l0, rnn.bias_hh_l0 = _param(b_ih), _param(b_hh)
    zero_output = bool(layer.zero_output_for_mask)
    return m["Recurrent"](rnn, layer.return_sequences, layer.go_backwards, zero_output)


def _merge_module(layer: Any, m: dict[str, Any]) -> Any:
    from engram.nn.layers import layers

    kind = layers.name_of(layer)
    if kind == "Concatenate":
        return m["Merge"](kind, axis=layer._axis(len(layer.input_shapes[0])))
    if kind == "Dot":
        axes = layer._pair([len(s) + 1 for s in layer.input_shapes])
        return m["Merge"](kind, axes=axes, normalize=layer.normalize)
    if kind not in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        raise ValueError(f"Layer {layer.name!r} ({kind}) has no PyTorch module in engram's export.")
    return m["Merge"](kind)


def _module(model: Any, m: dict[str, Any]) -> Any:
    """A Sequential model as ``nn.Sequential``; a functional one (or a Sequential one with
    masks) as a ``Graph`` module."""
    from engram.nn.export.masks import mask_plan
    from engram.nn.layers.merge import Merge
    from engram.nn.model import Model
    from engram.nn.sequential import Sequential

    torch = _torch()
    graph = model.graph
    plan = mask_plan(graph)
    if isinstance(model, Sequential) and not plan:  # masks need the graph's steps
        modules = [mod for layer in model.layers for mod in _layer_module(layer, m)]
        return torch.nn.Sequential(*modules)
    slot = {id(t): i for i, t in enumerate(graph.inputs)}
    index: dict[int, int] = {}
    layers, steps = [], []
    readers = {id(node.layer) for node in graph.nodes if plan.get(id(node), (False,))[0]}
    for node in graph.nodes:
        layer = node.layer
        if id(layer) not in index:  # a shared layer gets one module, run at each call
            index[id(layer)] = len(layers)
            if isinstance(layer, Model):
                layers.append(_module(layer, m))
            elif isinstance(layer, Merge):
                layers.append(_merge_module(layer, m))
            elif id(layer) in readers:  # its one module takes (x, mask)
                (module,) = _layer_module(layer, m)
                layers.append(module)
            else:
                layers.append(torch.nn.Sequential(*_layer_module(layer, m)))
        outs = []
        for t in node.outputs:
            slot[id(t)] = len(slot)
            outs.append(slot[id(t)])
        ins = tuple(slot[id(t)] for t in node.inputs)
        steps.append((index[id(layer)], ins, tuple(outs), node.multi))
    outputs = [slot[id(t)] for t in graph.outputs]
    masks = [plan.get(id(node)) for node in graph.nodes]
    keys = model.__dict__.get("_input_dict"), model.__dict__.get("_output_dict")
    return m["Graph"](layers, steps, len(graph.inputs), outputs, masks, *keys)


def to_torch(model: Any) -> Any:
    """A ``torch.nn.Module`` computing ``model.predict`` (same inputs, same layout), weights
    copied; in eval mode. Float32 models only. A Sequential model becomes an ``nn.Sequential``;
    a functional one a module that runs one submodule per layer over the graph's nodes in order
    (shared layers share their module and weights; nested models become nested modules),
    called as ``module(x1, x2, ...)`` and returning a tuple when the model has several outputs.
    A model with a dict of inputs is called with that dict (``module({"a": xa, "b": xb})`` or
    ``module(a=xa, b=xb)``), and one with a dict of outputs returns a dict, as ``predict``.

    Raises:
        ValueError: a layer or activation with no PyTorch counterpart, named.
    """
    from engram.nn.saving.architecture import require_graph_model

    require_graph_model(model, "to_torch")
    if not model.built:
        raise ValueError("Only a built model can be exported: fit it, or pass input_shape.")
    if model.dtype != np.float32:
        raise ValueError(f"to_torch exports float32 models; this one is {model.dtype}.")
    return _module(model, _modules()).eval()


def from_torch(module: Any, input_shape: Any) -> Any:
    """An engram model from a torch module whose parts map one to one: an ``nn.Sequential``
    of Linear, Embedding, ReLU, Tanh, Sigmoid, ELU (alpha 1), LeakyReLU, Softmax(dim=-1),
    Identity, Dropout and Flatten (start_dim 1) becomes a `Sequential`; the ``Graph`` module
    `to_torch` makes of a functional model becomes a functional `Model` (torch_graph.py),
    with its dict of inputs or outputs where it has one (``input_keys``/``output_keys``).
    ``input_shape`` is one sample's shape (a list of them for a graph with several inputs, in
    sorted key order for a dict).

    Raises:
        ValueError: any other module (named), e.g. Conv2d (channels-first, not one to one).
    """
    torch = _torch()
    nn = torch.nn
    from engram.nn import Sequential

    if isinstance(module, _modules()["Graph"]):
        from engram.nn.export.torch_graph import graph_from_torch

        return graph_from_torch(module, input_shape, _modules(), _layer_from_torch)
    if not isinstance(module, nn.Sequential):
        raise ValueError(
            "from_torch reads an nn.Sequential or the Graph module to_torch makes. Got "
            f"{type(module).__name__}."
        )
    pairs = [_layer_from_torch(child, i, tuple(input_shape)) for i, child in enumerate(module)]
    model = Sequential([layer for layer, _ in pairs])
    model.build((None, *input_shape))
    for layer, arrays in pairs:
        if arrays:
            layer.set_weights(arrays)
    return model


def _layer_from_torch(child: Any, i: int, input_shape: tuple[int, ...]) -> tuple[Any, list]:
    """(the engram layer, its weights) for one torch module that maps one to one."""
    nn = _torch().nn
    from engram.nn import layers as L

    def numpy(p):
        return p.detach().cpu().numpy().astype(np.float32)

    t = type(child)
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "linear"}
    if t is nn.Linear:
        bias = [numpy(child.bias)] if child.bias is not None else []
        return L.Dense(child.out_features, use_bias=child.bias is not None), [
            numpy(child.weight).T,
            *bias,
        ]
    if t is nn.Embedding and child.padding_idx is None and child.max_norm is None:
        return L.Embedding(child.num_embeddings, child.embedding_dim), [numpy(child.weight)]
    if t in simple:
        return L.Activation(simple[t]), []
    if t is nn.ELU and child.alpha == 1.0:
        return L.Activation("elu"), []
    if t is nn.LeakyReLU:
        return L.LeakyReLU(child.negative_slope), []
    if t is nn.Softmax and child.dim in (-1, len(input_shape)):
        return L.Softmax(), []
    if t is nn.Dropout:
        return L.Dropout(child.p), []
    if t is nn.Flatten and child.start_dim == 1 and child.end_dim == -1:
        return L.Flatten(), []
    raise ValueError(
        f"Module {i} ({t.__name__}: {child}) has no one-to-one engram layer. from_torch "
        "reads Linear, Embedding, ReLU, Tanh, Sigmoid, ELU, LeakyReLU, Softmax(dim=-1), "
        "Identity, Dropout and Flatten (and to_torch's Graph and merge modules)."
    )


def save_torch_state(model: Any, path: Any) -> Any:
    """Write ``to_torch(model).state_dict()`` as a safetensors file (atomically; no pickle):
    ``to_torch(engram_model).load_state_dict(safetensors.torch.load_file(path))`` reads it."""
    from safetensors.torch import save

    from engram.fileio import atomic_write_bytes

    state = {k: v.detach().contiguous() for k, v in to_torch(model).state_dict().items()}
    return atomic_write_bytes(path, save(state, metadata={"format": "engram-torch-state"}))


# --------------------------------------------------------------- layers of the layers2 set
@functools.cache
def _layers2_modules() -> dict[str, Any]:
    """The wrapper modules of the layers2 set, defined once torch is imported."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class ConvTransposeWindow(nn.Module):
        """Keras's window of a transposed convolution's full image (channels first): F.pad
        with negative pads crops, positive ones add zeros; then the bias, everywhere."""

        def __init__(self, conv: Any, pads: tuple[int, int, int, int], bias: Any):
            super().__init__()
            self.conv, self.pads, self.bias = conv, pads, bias

        def forward(self, x):
            y = F.pad(self.conv(x), self.pads)
            return y if self.bias is None else y + self.bias[:, None, None]

    class Lambda(nn.Module):
        """A fixed rearrangement of the values (no weights): ``fn(x)``, described by ``what``."""

        def __init__(self, fn: Any, what: str):
            super().__init__()
            self.fn, self.what = fn, what

        def forward(self, x):
            return self.fn(x)

        def extra_repr(self) -> str:
            return self.what

    class Noise(nn.Module):
        """Keras's Gaussian noise layers in training mode (``module.train()``), the identity in
        ``eval()``: ``x + stddev * e`` (additive) or ``x * (1 + stddev * e)``, e ~ N(0, 1)."""

        def __init__(self, stddev: float, multiplicative: bool):
            super().__init__()
            self.stddev, self.multiplicative = stddev, multiplicative

        def forward(self, x):
            if not self.training or self.stddev == 0:
                return x
            noise = self.stddev * torch.randn_like(x)
            return x * (1 + noise) if self.multiplicative else x + noise

    class UnitNorm(nn.Module):
        """x / max(||x||_2 over ``axes``, 1e-12), as Keras's UnitNormalization."""

        def __init__(self, axes: tuple[int, ...]):
            super().__init__()
            self.axes = axes

        def forward(self, x):
            norm = torch.sqrt(torch.sum(x * x, dim=self.axes, keepdim=True))
            return x / torch.clamp(norm, min=1e-12)

    return {
        "ConvTransposeWindow": ConvTransposeWindow,
        "Lambda": Lambda,
        "Noise": Noise,
        "UnitNorm": UnitNorm,
    }


def _conv2d_transpose(layer: Any, m: dict[str, Any]) -> list[Any]:
    """nn.ConvTranspose2d with no padding and no bias (the full image; weight =
    kernel.transpose(3, 2, 0, 1), (in, out, kh, kw)), Keras's window of it, then the bias."""
    nn = _torch().nn
    k = layer.params["kernel"]  # (kh, kw, filters, cin)
    conv = nn.ConvTranspose2d(
        k.shape[3], k.shape[2], tuple(layer.kernel_size), tuple(layer.strides),
        dilation=tuple(layer.dilation_rate), bias=False,
    )  # fmt: skip
    conv.weight = _param(np.transpose(k, (3, 2, 0, 1)))
    bias = _param(layer.params["bias"]) if layer.use_bias else None
    (oh, ow), (top, left), (fh, fw) = layer.crop_plan(tuple(layer.input_shape[:2]))
    pads = (-left, left + ow - fw, -top, top + oh - fh)
    window = _layers2_modules()["ConvTransposeWindow"](conv, pads, bias)
    return [m["ChannelsFirst"](window, ()), _activation(layer.activation)]


_NEW_LAYER_MODULES["Conv2DTranspose"] = _conv2d_transpose


def _shaping(layer: Any, m: dict[str, Any]) -> list[Any]:
    """RepeatVector, Permute, Cropping1D and Cropping2D as fixed rearrangements; Identity and
    ActivityRegularization as the identity (the activity penalty is a training loss term,
    which a module's forward does not hold)."""
    from engram.nn.layers import layers

    kind, lam = layers.name_of(layer), _layers2_modules()["Lambda"]
    if kind == "RepeatVector":
        n = layer.n
        return [lam(lambda x: x.unsqueeze(1).expand(-1, n, -1), f"repeat {n} times")]
    if kind == "Permute":
        dims = (0, *layer.dims)
        return [lam(lambda x: x.permute(*dims), f"permute {dims}")]
    if kind == "Cropping1D":
        before, after = layer.cropping
        steps = layer.input_shape[0]
        return [lam(lambda x: x[:, before : steps - after], f"crop {layer.cropping}")]
    if kind == "Cropping2D":
        (top, bottom), (left, right) = layer.cropping
        h, w = layer.input_shape[:2]
        return [lam(lambda x: x[:, top : h - bottom, left : w - right], f"crop {layer.cropping}")]
    return [_torch().nn.Identity()]


def _noise(layer: Any, m: dict[str, Any]) -> list[Any]:
    """Noise in ``train()`` mode as Keras draws it in training, the identity in ``eval()``;
    SpatialDropout as nn.Dropout1d/2d over channels-first maps (whole channels dropped)."""
    from engram.nn.layers import layers

    nn, kind = _torch().nn, layers.name_of(layer)
    if kind == "GaussianNoise":
        return [_layers2_modules()["Noise"](layer.stddev, False)]
    if kind == "GaussianDropout":
        stddev = math.sqrt(layer.rate / (1 - layer.rate)) if layer.rate else 0.0
        return [_layers2_modules()["Noise"](stddev, True)]
    dropout = nn.Dropout1d(layer.rate) if kind == "SpatialDropout1D" else nn.Dropout2d(layer.rate)
    return [m["ChannelsFirst"](dropout, ())]


def _unit_normalization(layer: Any, m: dict[str, Any]) -> list[Any]:
    from engram.nn.layers.layer_normalization import normalize_axes

    axes = normalize_axes(layer.axis, len(layer.input_shape) + 1, layer)
    return [_layers2_modules()["UnitNorm"](tuple(axes))]


for _kind in ("RepeatVector", "Permute", "Cropping1D", "Cropping2D", "Identity"):
    _NEW_LAYER_MODULES[_kind] = _shaping
_NEW_LAYER_MODULES["ActivityRegularization"] = _shaping
for _kind in ("GaussianNoise", "GaussianDropout", "SpatialDropout1D", "SpatialDropout2D"):
    _NEW_LAYER_MODULES[_kind] = _noise
_NEW_LAYER_MODULES["UnitNormalization"] = _unit_normalization


def _conv1d_transpose(layer: Any, m: dict[str, Any]) -> list[Any]:
    """The Conv2DTranspose it runs, on a (batch, 1, steps, channels) view."""
    lam = _layers2_modules()["Lambda"]
    return [
        lam(lambda x: x.unsqueeze(1), "add a height axis of 1"),
        *_conv2d_transpose(layer.as_2d(), m),
        lam(lambda x: x.squeeze(1), "drop the height axis"),
    ]


_NEW_LAYER_MODULES["Conv1DTranspose"] = _conv1d_transpose


def _depthwise(layer: Any, m: dict[str, Any]) -> list[Any]:
    """DepthwiseConv2D as nn.Conv2d(groups=in_channels) with weight = kernel reshaped to
    (kh, kw, 1, cin * m) and transposed to (cin * m, 1, kh, kw) (Keras's channel order);
    SeparableConv2D adds the 1x1 nn.Conv2d (weight = pointwise.transpose(3, 2, 0, 1))."""
    from engram.nn.layers import SeparableConv2D

    nn = _torch().nn
    separable = isinstance(layer, SeparableConv2D)
    k = layer.params["depthwise_kernel" if separable else "kernel"]
    kh, kw, cin, mult = k.shape
    conv = nn.Conv2d(
        cin, cin * mult, (kh, kw), tuple(layer.strides), dilation=tuple(layer.dilation_rate),
        groups=cin, bias=layer.use_bias and not separable,
    )  # fmt: skip
    conv.weight = _param(np.transpose(k.reshape(kh, kw, 1, cin * mult), (3, 2, 0, 1)))
    inner = [conv]
    if separable:
        w = layer.params["pointwise_kernel"]
        pointwise = nn.Conv2d(w.shape[2], w.shape[3], 1, bias=layer.use_bias)
        pointwise.weight = _param(np.transpose(w, (3, 2, 0, 1)))
        inner.append(pointwise)
    if layer.use_bias:
        inner[-1].bias = _param(layer.params["bias"])
    body = inner[0] if len(inner) == 1 else nn.Sequential(*inner)
    return [m["ChannelsFirst"](body, _pads(layer, layer.window)), _activation(layer.activation)]


_NEW_LAYER_MODULES["DepthwiseConv2D"] = _depthwise
_NEW_LAYER_MODULES["SeparableConv2D"] = _depthwise
