"""Bidirectional: a recurrent layer run over the sequence in both directions, outputs merged."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import numpy as np

from engram.nn.layers.base import Layer, layers, register_layer, weight_list
from engram.nn.layers.recurrent_base import Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _copy(layer: Recurrent, name: str, **changes: Any) -> Recurrent:
    """A new, unbuilt layer with ``layer``'s configuration, renamed (Keras's way of making the
    forward and backward layers: through the config, so no weights are shared)."""
    config = {**layer.get_config(), "name": name, **changes}
    config.pop("input_shape", None)
    copy = type(layer).from_config(config)
    for key, value in vars(layer).items():  # the initializer objects themselves (stateless;
        if key.endswith("_initializer"):  # the model loaders pass size-checking placeholders)
            setattr(copy, key, value)
    return copy


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


class _Prefixed(MutableMapping):
    """An inner layer's ``params``: its keys, stored in the wrapper's dict as ``prefix_key``.

    The optimizer, `set_weights` and the model loaders replace arrays in the wrapper's dict; the
    inner layer reads through this view, so both always see the same arrays, and a loader that
    sets the inner layer's weights (Keras's files keep them per direction) writes the wrapper's.
    """

    def __init__(self, store: dict[str, np.ndarray], prefix: str, keys: list[str]) -> None:
        self.store, self.prefix, self.keys_ = store, prefix, keys

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.keys_:
            raise KeyError(key)
        return self.store[f"{self.prefix}_{key}"]

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        if key not in self.keys_:
            self.keys_.append(key)
        self.store[f"{self.prefix}_{key}"] = value

    def __delitem__(self, key: str) -> None:
        self.keys_.remove(key)
        del self.store[f"{self.prefix}_{key}"]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys_))

    def __len__(self) -> int:
        return len(self.keys_)


@register_layer
class Bidirectional(Layer):
    """Runs a copy of a recurrent layer forwards and another backwards in time, and merges them.

    Math (y_f: the forward layer's output; y_b: the backward layer's, which reads x from its
    last step to its first; with ``return_sequences`` y_b is flipped back to x's time order):
        forward:   y = [y_f, y_b] ("concat", last axis)   y_f + y_b ("sum")
                       (y_f + y_b) / 2 ("ave")            y_f * y_b ("mul")
                       the list [y_f, y_b] (None: a layer with two outputs)
        backward:  dy_f, dy_b = the split of dy (concat); dy, dy (sum); dy/2, dy/2 (ave);
                   dy * y_b, dy * y_f (mul); the two output gradients (None)
                   dy_b flipped in time again (return_sequences), then
                   grad_x = forward_layer.backward(dy_f) + backward_layer.backward(dy_b)
        Each direction's backpropagation through time is its own layer's `backward`.

    Args:
        layer: a `SimpleRNN`, `LSTM` or `GRU`. It is not run itself: the forward layer is a
            copy named ``forward_<name>``, and the backward one (unless given) a copy with
            ``go_backwards=True`` named ``backward_<name>``, as in Keras.
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or None.
        weights: initial weights, forward layer's then backward layer's (set when built).
        backward_layer: the layer for the backward direction; it must have the opposite
            ``go_backwards`` and the same ``return_sequences`` and ``return_state``.

    Weights (Keras's order): the forward layer's, then the backward layer's, as
    ``forward_<key>`` and ``backward_<key>`` (``forward_weights``, ``forward_recurrent_weights``,
    ``forward_bias``, ``backward_weights``, ...).

    States: as for a recurrent layer, ``return_state=True`` works in direct calls
    (``[output, *forward_states, *backward_states]``; ``initial_state`` takes the forward
    layer's states then the backward layer's) and is refused inside a model.

    Example:
        >>> Bidirectional(LSTM(8, return_sequences=True))(np.zeros((2, 5, 3), "float32")).shape
        (2, 5, 16)

    Reference: Schuster & Paliwal 1997, IEEE Trans. Signal Processing 45:2673.
    """

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Recurrent | None = None,
        **kwargs: Any,
    ) -> None:
        for label, value in (("layer", layer), ("backward_layer", backward_layer)):
            if value is not None and not isinstance(value, Recurrent):
                raise TypeError(
                    f"Bidirectional {label} must be a SimpleRNN, LSTM or GRU layer instance "
                    f"such as LSTM(64). Received: {type(value).__name__}."
                )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                "Bidirectional merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None. "
                f"Received: {merge_mode!r}."
            )
        if "input_shape" not in kwargs and layer.declared_input_shape is not None:
            kwargs["input_shape"] = layer.declared_input_shape
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = _copy(layer, "forward_" + _strip(layer.name, "forward_"))
        if backward_layer is None:
            name = "backward_" + _strip(layer.name, "backward_")
            backward_layer = _copy(layer, name, go_backwards=True)
        self.backward_layer = backward_layer
        self._check_pair()
        for inner in (self.forward_layer, self.backward_layer):  # masked steps output zeros
            inner.zero_output_for_mask = inner.return_sequences  # (Keras sets the same)
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.initial_weights = None if weights is None else weight_list(weights, "weights")
        self.weight_names = tuple(
            f"{prefix}_{key}" for prefix, inner in self._directions() for key in inner.weight_names
        )

    def _directions(self) -> tuple[tuple[str, Recurrent], tuple[str, Recurrent]]:
        return (("forward", self.forward_layer), ("backward", self.backward_layer))

    def _check_pair(self) -> None:
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError(
                "Bidirectional needs a forward and a backward layer with different go_backwards."
                f" Received go_backwards={fwd.go_backwards} for both. Leave backward_layer out "
                "(a copy with go_backwards=True is made), or set go_backwards=True on it."
            )
        for attr in ("return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise ValueError(
                    f"Bidirectional's forward and backward layers must have the same {attr}. "
                    f"Received {getattr(fwd, attr)} and {getattr(bwd, attr)}."
                )

    # ------------------------------------------------------------------ masks
    supports_masking = uses_mask = True

    def mask_flow(self, input_masked: bool) -> bool:
        return input_masked and self.return_sequences

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    # ----------------------------------------------------------------- building
    def build(self, input_shape, rng):
        for _, inner in self._directions():
            inner.build(tuple(input_shape), rng)
        self.params = {
            f"{prefix}_{key}": value
            for prefix, inner in self._directions()
            for key, value in inner.params.items()
        }
        for prefix, inner in self._directions():
            inner.params = _Prefixed(self.params, prefix, list(inner.params))
        super().build(input_shape, rng)
        if self.initial_weights is not None:
            weights, self.initial_weights = self.initial_weights, None
            self.set_weights(weights)

    def compute_output_shape(self, input_shape):
        shape_f = self.forward_layer.compute_output_shape(tuple(input_shape))
        shape_b = self.backward_layer.compute_output_shape(tuple(input_shape))
        if self.merge_mode is None:
            return [shape_f, shape_b]
        if self.merge_mode == "concat":
            return (*shape_f[:-1], shape_f[-1] + shape_b[-1])
        return shape_f

    def check_input(self, shape):
        self.forward_layer.check_input(shape)

    # ------------------------------------------------------- forward / backward
    def __call__(
        self, x: Any, training: bool = False, initial_state: Any = None, mask: Any = None
    ) -> Any:
        """Run on ``x`` (building first); with ``return_state`` returns
        ``[output, *forward_states, *backward_states]`` (two outputs first with merge_mode
        None). ``mask``: (batch, time), False at padded steps."""
        if initial_state is None and not self.return_state and mask is None:
            return super().__call__(x, training)
        x = np.asarray(x, dtype=self.dtype)
        self.check_input(x.shape)
        if not self.built:
            self.build(tuple(x.shape[1:]), np.random.default_rng(0))
        output = self._run(x, training, initial_state, mask)
        if not self.return_state:
            return output
        states = [s.copy() for _, inner in self._directions() for s in inner.states]
        return [*(output if self.merge_mode is None else [output]), *states]

    def forward(self, x, training=False, mask=None):
        if self.return_state:
            raise ValueError(
                f"Bidirectional layer {self.name!r} has return_state=True, which makes it return "
                "several arrays (the output and both directions' states); a model passes one "
                "array per output between layers. Use return_state=False in a model, or call "
                "the layer directly: output, *states = layer(x)."
            )
        return self._run(x, training, None, mask)

    def _run(self, x: np.ndarray, training: bool, initial_state: Any, mask: Any = None) -> Any:
        fwd, bwd = self.forward_layer, self.backward_layer
        if initial_state is None:
            states_f = states_b = None
        else:
            initial_state = list(initial_state)
            half = len(initial_state) // 2
            states_f, states_b = initial_state[:half], initial_state[half:]
        if x.ndim != 3 or x.shape[1] == 0:
            fwd.check_input(x.shape)
        y_f = fwd._forward(x, training, states_f, mask)
        y_b = bwd._forward(x, training, states_b, mask)
        if self.return_sequences:
            y_b = y_b[:, ::-1]
        self.y_f, self.y_b = y_f, y_b
        mode = self.merge_mode
        if mode is None:
            return [y_f, np.ascontiguousarray(y_b)]
        if mode == "concat":
            return np.concatenate([y_f, y_b], axis=-1)
        if mode == "sum":
            return y_f + y_b
        if mode == "ave":
            return (y_f + y_b) * y_f.dtype.type(0.5)
        return y_f * y_b

    def backward(self, grad_y, grad_states=None):
        grad_f, grad_b = self._split(grad_y)
        if self.return_sequences:
            grad_b = grad_b[:, ::-1]
        states_f = states_b = None
        if grad_states is not None:
            half = len(self.forward_layer.states)
            states_f, states_b = list(grad_states[:half]), list(grad_states[half:])
        grad_x = self.forward_layer.backward(grad_f, states_f)
        grad_x = grad_x + self.backward_layer.backward(grad_b, states_b)
        self.grads = {
            f"{prefix}_{key}": value
            for prefix, inner in self._directions()
            for key, value in inner.grads.items()
        }
        self.grad_initial_state = [
            *self.forward_layer.grad_initial_state,
            *self.backward_layer.grad_initial_state,
        ]
        self.y_f = self.y_b = None
        return grad_x

    def _split(self, grad_y: Any) -> tuple[np.ndarray, np.ndarray]:
        """The gradients of the forward and backward outputs (backward's in x's time order)."""
        y_f, y_b, mode = self.y_f, self.y_b, self.merge_mode
        if mode is None:
            grad_f, grad_b = grad_y
            return (
                np.zeros_like(y_f) if grad_f is None else grad_f,
                np.zeros_like(y_b) if grad_b is None else grad_b,
            )
        if mode == "concat":
            units = y_f.shape[-1]
            return grad_y[..., :units], grad_y[..., units:]
        if mode == "sum":
            return grad_y, grad_y
        if mode == "ave":
            half = grad_y * grad_y.dtype.type(0.5)
            return half, half
        return grad_y * y_b, grad_y * y_f

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        for key, inner in (("layer", self.forward_layer), ("backward_layer", self.backward_layer)):
            inner_config = {k: v for k, v in inner.get_config().items() if k != "input_shape"}
            config[key] = {"class_name": layers.name_of(inner), "config": inner_config}
        return {**config, "merge_mode": self.merge_mode}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("layer", "backward_layer"):
            inner = config.get(key)
            if inner is not None:
                config[key] = layers.get(inner["class_name"]).from_config(inner["config"])
        if config.get("input_shape") is not None:
            config["input_shape"] = tuple(config["input_shape"])
        return cls(**config)
