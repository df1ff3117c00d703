"""The `Layer` base class every layer of engram derives from.

A layer is built in three steps, as in Keras:

* ``__init__`` stores its arguments unchanged (so ``from_config(get_config())`` rebuilds it);
* ``build(input_shape, rng)`` creates the weights once the input shape is known
  (``input_shape`` excludes the batch axis);
* ``forward(x, training)`` and ``backward(grad_y)`` sit side by side: ``forward`` caches exactly
  what ``backward`` reads, ``backward`` fills ``self.grads`` (same keys as ``self.params``) and
  returns the gradient with respect to the input.

Layers keep whatever float dtype their parameters and inputs have: float32 by default, float64
when `engram.nn.gradcheck` checks them.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import re
from collections import defaultdict
from typing import Any

import numpy as np

from engram.nn import constraints as constraints_module
from engram.nn import regularizers as regularizers_module
from engram.nn.graph import call_layer, is_symbolic, shape_str
from engram.registry import Registry
from engram.validation import check_positive, check_sample_shape

layers: Registry[type[Layer]] = Registry("layer", declared=True)

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)

#: arguments some Keras 3 layer takes that engram's layers do not implement: refused with a
#: message saying so (any other unknown argument is named as a typo, with close matches)
KERAS_ONLY_ARGUMENTS = frozenset(
    {
        "autocast", "batch_shape", "cell", "data_format", "groups", "input_tensor",
        "lora_alpha", "lora_rank", "mask_zero", "max_value", "negative_slope", "optional",
        "pool_dimensions", "pool_mode", "quantization_config", "ragged", "rank", "renorm",
        "renorm_clipping", "renorm_momentum", "sparse", "stateful", "synchronized",
        "threshold", "unroll", "use_cudnn", "weights", "zero_output_for_mask", "input_length",
        "dtype_policy", "kernel_regularizer", "bias_regularizer", "kernel_constraint",
        "bias_constraint", "recurrent_regularizer", "recurrent_constraint",
        "embeddings_regularizer", "embeddings_constraint", "beta_regularizer",
        "gamma_regularizer", "beta_constraint", "gamma_constraint", "dilation_rate",
    }
)  # fmt: skip


def _snake(name: str) -> str:
    """Keras's default layer names: Dense -> dense, Conv2D -> conv2d, SimpleRNN -> simple_rnn."""
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name).lower()


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: register a layer under its class name."""
    return layers.add(cls.__name__, cls)


def _real_array(value: Any, label: str) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{label} is a masked array; pass a plain array (w.filled(value)).")
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{label} could not be made an array: {exc}.") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{label} must hold real numbers. Got dtype {array.dtype} instead. Pass a float "
            "array (np.real(w) for complex values whose imaginary part is 0)."
        )
    return array


def weight_list(weights: Any, what: str) -> list[Any]:
    """``weights`` as a list, for ``set_weights``: a list or tuple in get_weights()'s order."""
    if isinstance(weights, (list, tuple)):
        return list(weights)
    if isinstance(weights, dict):
        hint = " A dict has no order to match: pass [d[name] for name in ...] in that order."
    elif isinstance(weights, np.ndarray):
        hint = " Wrap a single array in a list: [w]."
    else:
        hint = " Pass list(...) of the arrays."
    raise TypeError(
        f"{what} expects a list of arrays in get_weights()'s order. Got "
        f"{type(weights).__name__} instead.{hint}"
    )


class Layer:
    """Base class: weights, gradients, configuration and shape bookkeeping.

    Args:
        name: a unique name; generated from the class name when omitted (``dense``,
            ``dense_1``, ...).
        trainable: whether optimizers update this layer's weights.
        dtype: the float dtype of the weights (``"float32"`` by default).
        input_shape: shape of one sample (no batch axis), for the first layer of a model.
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        activity_regularizer: a penalty on the layer's output, added to the loss divided by
            the batch size, as Keras adds it (`engram.nn.regularizers`).
        **weight_options: Keras's per-weight arguments for the weights this layer names in
            `keras_weights`: ``kernel_regularizer``, ``bias_constraint``,
            ``recurrent_regularizer``, ``embeddings_constraint``, ... Any other argument is
            refused with a message that says whether Keras takes it.
    """

    #: names of the weights in Keras's ``get_weights()`` order
    weight_names: tuple[str, ...] = ()
    #: whether ``backward`` must return the input gradient. `Sequential` clears it on its first
    #: layer during a training step (nothing reads that gradient); a layer may then skip the
    #: computation and return None, as Dense does (a third of its backward matmul work).
    needs_input_grad: bool = True
    #: Keras's name of each weight -> its key in ``params`` (Dense: kernel -> weights): the
    #: layer takes ``<name>_regularizer`` and ``<name>_constraint`` for each
    keras_weights: dict[str, str] = {}
    # defaults for layers that never ran Layer.__init__ (a Model); __init__ sets its own.
    #: a penalty on this layer's output, added to the loss as Keras adds it: any object with
    #: ``R(y) -> float`` and ``R.gradient(y) -> dR/dy`` (see `engram.nn.graph`)
    activity_regularizer: Any = None
    regularizers: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    #: Keras's flag: a (batch, time) mask on the input passes on to the output unchanged
    #: (Dense, Dropout, Activation), or, for the layers that set `uses_mask`, is read by them
    supports_masking: bool = False
    #: whether ``forward`` takes ``mask=`` (the recurrent layers: masked steps keep the state)
    uses_mask: bool = False

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        dtype: str = "float32",
        input_shape: tuple[int, ...] | None = None,
        input_dim: int | None = None,
        batch_input_shape: tuple[int | None, ...] | None = None,
        activity_regularizer: Any = None,
        **weight_options: Any,
    ) -> None:
        self._set_weight_options(weight_options)
        self.activity_regularizer = regularizers_module.get(activity_regularizer)
        if name is None:
            base = _snake(type(self).__name__)
            count = next(_name_counters[base])
            name = base if count == 0 else f"{base}_{count}"
        self.name = name
        self.trainable = trainable
        self.dtype = np.dtype(dtype).name
        if input_dim is not None:
            input_shape = (check_positive(input_dim, "input_dim", integer=True),)
        if batch_input_shape is not None:
            batch_input_shape = check_sample_shape(batch_input_shape, "batch_input_shape")
            input_shape = batch_input_shape[1:]
        self.declared_input_shape = (
            None if input_shape is None else check_sample_shape(input_shape, "input_shape")
        )
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.built = False
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None

    def _set_weight_options(self, options: dict[str, Any]) -> None:
        """Keras's ``<weight>_regularizer`` / ``<weight>_constraint`` arguments, by params key
        (``self.regularizers`` and ``self.constraints``); anything else is refused by name."""
        self.regularizers, self.constraints = {}, {}
        self._weight_option_args: dict[str, Any] = {}
        for arg, value in options.items():
            weight, _, kind = arg.rpartition("_")
            if weight not in self.keras_weights or kind not in ("regularizer", "constraint"):
                raise TypeError(self._unknown_argument_message(arg))
            module = regularizers_module if kind == "regularizer" else constraints_module
            obj = module.get(value)
            self._weight_option_args[arg] = obj
            if obj is not None:
                target = self.regularizers if kind == "regularizer" else self.constraints
                target[self.keras_weights[weight]] = obj

    def _accepted_arguments(self) -> list[str]:
        names: list[str] = []
        for cls in type(self).__mro__:
            init = cls.__dict__.get("__init__")
            if init is None or cls is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    names.append(p.name)
        names += [f"{w}_{k}" for w in self.keras_weights for k in ("regularizer", "constraint")]
        return list(dict.fromkeys(names))

    def _unknown_argument_message(self, arg: str) -> str:
        cls = type(self).__name__
        accepted = self._accepted_arguments()
        if arg in KERAS_ONLY_ARGUMENTS:
            return (
                f"{cls}() got {arg!r}, a Keras layer argument that engram's {cls} does not "
                f"support (unexpected keyword argument {arg!r}). Remove it; engram's {cls} "
                f"takes: {', '.join(accepted)}."
            )
        close = difflib.get_close_matches(arg, accepted, n=2)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return (
            f"{cls}() got an unexpected keyword argument {arg!r}.{hint} {cls} takes: "
            f"{', '.join(accepted)}."
        )

    def regularization_penalty(self) -> float:
        """sum over this layer's regularized weights w of R_w(w) (0 when frozen: Keras
        penalizes trainable weights only)."""
        if not self.regularizers or not self.trainable:
            return 0.0
        return sum(reg(self.params[key]) for key, reg in self.regularizers.items())

    def add_regularization_grads(self) -> None:
        """grads[key] += dR/dw for every regularized weight (after this step's backward)."""
        if not self.regularizers or not self.trainable:
            return
        for key, reg in self.regularizers.items():
            if key in self.grads:
                self.grads[key] += reg.gradient(self.params[key])

    # ----------------------------------------------------------------- building
    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create the weights for inputs of ``input_shape`` (no batch axis)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one output sample for one input sample of ``input_shape``."""
        return tuple(input_shape)

    def check_input(self, shape: tuple[int, ...]) -> None:
        """Raise a clear error if a batch of ``shape`` does not fit this built layer."""
        if self.input_shape is not None and tuple(shape[1:]) != self.input_shape:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} was built for inputs of shape "
                f"{shape_str((None, *self.input_shape))}, but received shape {shape_str(shape)}."
                " Reshape the data to match, or rebuild the model for the new shape."
            )

    # ------------------------------------------------------- forward / backward
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: Any, training: bool = False) -> Any:
        """On a symbolic tensor (from `Input`): record the call in the graph and return the
        output tensor. On arrays: build on first use, then run `forward`."""
        if is_symbolic(x):
            return call_layer(self, x)
        if isinstance(x, (list, tuple)):
            x = [np.asarray(v) for v in x]
            shape: Any = [tuple(v.shape[1:]) for v in x]
        else:
            x = np.asarray(x)
            shape = tuple(x.shape[1:])
        if not self.built:
            self.build(shape, np.random.default_rng(0))
        return self.forward(x, training=training)

    def grad_array(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An array to write the gradient of ``key`` into: last step's when it fits, else new.

        Writing into the same array every step avoids a fresh allocation's first-touch page
        faults (measured: a new (784, 128) gradient made its matmul 263 us instead of 121 us),
        and once the optimizer has packed the weights, that array is its packed gradient buffer.
        """
        grad = self.grads.get(key)
        if grad is None or grad.shape != tuple(shape) or grad.dtype != dtype:
            grad = np.empty(shape, dtype)
        return grad

    # ------------------------------------------------------------------ masks
    def mask_flow(self, input_masked: bool) -> bool:
        """Whether the output carries a mask, given whether the input does (decided when the
        graph is built). A layer that neither passes a mask on nor reads it refuses one: in
        Keras it would read it (Softmax, pooling) or drop it, and engram does neither silently.
        """
        if input_masked and not self.supports_masking:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} receives a mask (from "
                "Embedding(mask_zero=True) or Masking), which engram passes only into SimpleRNN, "
                "LSTM, GRU and Bidirectional and through Dense, Dropout and Activation layers. "
                "Put the recurrent layer first (with return_sequences=False it consumes the "
                "mask), or leave the mask out."
            )
        return input_masked

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        """The output's (batch, time) mask for the input ``x`` and its mask (passed on)."""
        return mask

    # ---------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """The weights as a list of arrays, in Keras's order and shapes (copies): the trainable
        ``params`` and the saved non-trainable `state_arrays`, as ``weight_names`` orders them."""
        arrays = {**self.params, **self.state_arrays()}
        return [arrays[k].copy() for k in self.weight_names if k in arrays]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set the weights from a list in Keras's order; shapes must match exactly.

        Raises:
            TypeError: not a list or tuple (a dict, an iterator), or arrays that are not real
                numbers (complex, object).
            ValueError: a wrong count or shape, or NaN/Inf values, including values that
                overflow the weights' dtype (1e300 into float32). Keras stores all of these.
        """
        self.assign_weights(self.checked_weights(weights))

    def checked_weights(self, weights: Any) -> list[tuple[str, np.ndarray]]:
        """(name, array) pairs for `set_weights`, every one checked, none assigned yet."""
        weights = weight_list(weights, f"Layer {self.name!r}: set_weights")
        arrays = {**self.params, **self.state_arrays()}
        names = [k for k in self.weight_names if k in arrays]
        if len(weights) != len(names):
            raise ValueError(
                f"Layer {self.name!r} expects {len(names)} weight arrays ({', '.join(names)}), "
                f"but received {len(weights)}."
            )
        checked = []
        for key, value in zip(names, weights, strict=True):
            label = f"Layer {self.name!r} weight {key!r}"
            raw = _real_array(value, label)
            if raw.shape != arrays[key].shape:
                raise ValueError(
                    f"{label} has shape {arrays[key].shape}, but received shape {raw.shape}."
                )
            dtype = arrays[key].dtype
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
                value = raw.astype(dtype, copy=True)  # never the caller's array
            bad = value.size - int(np.count_nonzero(np.isfinite(value)))
            if bad:
                cast = f" after conversion to {dtype}" if raw.dtype != dtype else ""
                raise ValueError(
                    f"{label} holds {bad} NaN or Inf value(s){cast}. Weights must be finite "
                    f"({dtype} reaches +/-{np.finfo(dtype).max:.3g}): a model with such a "
                    "weight predicts NaN."
                )
            checked.append((key, value))
        return checked

    def assign_weights(self, checked: list[tuple[str, np.ndarray]]) -> None:
        """Set weights that `checked_weights` returned."""
        for key, value in checked:
            if key in self.params:
                self.params[key] = value
            else:
                setattr(self, key, value)  # a state array is an attribute of that name

    def count_params(self) -> int:
        """Weights and saved state arrays, as Keras counts trainable and non-trainable ones."""
        arrays = [*self.params.values(), *self.state_arrays().values()]
        return int(sum(a.size for a in arrays))

    def astype(self, dtype: Any) -> Layer:
        """Cast the weights (and future weights) to ``dtype`` in place; returns the layer."""
        self.dtype = np.dtype(dtype).name
        for key, value in self.params.items():
            self.params[key] = value.astype(dtype)
        for key, value in self.state_arrays().items():
            setattr(self, key, value.astype(dtype))
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Non-trainable arrays saved with the model (e.g. BatchNormalization's moving mean)."""
        return {}

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as JSON-able values."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.dtype != "float32":
            config["dtype"] = self.dtype
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers_module.to_json(self.activity_regularizer)
        for arg, obj in getattr(self, "_weight_option_args", {}).items():
            if obj is not None:
                module = regularizers_module if arg.endswith("_regularizer") else constraints_module
                config[arg] = module.to_json(obj)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        if "input_shape" in config and config["input_shape"] is not None:
            config["input_shape"] = tuple(config["input_shape"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
