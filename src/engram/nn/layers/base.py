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
from engram.nn.layers import custom
from engram.nn.tape import Tensor, active_tape
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


def mask_layers() -> tuple[list[str], list[str]]:
    """The registered layers that read a (batch, time) mask (`Layer.uses_mask`) and those that
    pass one through unchanged (`Layer.supports_masking`, not making a mask of their own as
    Embedding and Masking do), by name: what the refusal of a mask lists, read from the layers'
    flags so that it stays true as layers learn masks."""
    read, passed = [], []
    for name in layers.names():
        cls = layers.get(name)
        if cls.uses_mask:
            read.append(name)
        elif cls.supports_masking and cls.compute_mask is Layer.compute_mask:
            passed.append(name)
    return read, passed


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


def _traced(x: Any) -> bool:
    if isinstance(x, (list, tuple)):
        return any(isinstance(v, Tensor) for v in x)
    return isinstance(x, Tensor)


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
    #: whether the layer is written as Keras writes custom layers: a ``call`` made of
    #: `engram.nn.ops` and no ``forward`` of its own; forward and backward then run ``call`` on a
    #: tape (`engram.nn.layers.custom`). Set for each class when it is defined.
    runs_call: bool = False
    declares_output_shape: bool = True
    #: True for an `engram.nn.ops` call recorded in a graph (`engram.nn.layers.op_call`): a
    #: node and a summary row, but not one of a model's ``layers``, as in Keras
    is_op_call: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.runs_call = callable(getattr(cls, "call", None)) and cls.forward is Layer.forward
        #: False for a custom layer that writes no compute_output_shape: a subclassed model's
        #: summary then shows "?" for its output, as Keras's does
        cls.declares_output_shape = not cls.runs_call or any(
            "compute_output_shape" in k.__dict__ for k in cls.__mro__[: cls.__mro__.index(Layer)]
        )
        if cls.runs_call:
            custom.adapt_class(cls)

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
        #: the scalars ``add_loss`` received in this forward pass (reset by each model pass)
        self._pass_losses: list[float] = []

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
    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator | None = None) -> None:
        """Create the weights for inputs of ``input_shape`` (no batch axis)."""
        if self.runs_call:  # a custom layer that writes no build of its own
            custom.build(self, input_shape, rng, None)
            return
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one output sample for one input sample of ``input_shape`` (a custom layer:
        that of its ``call`` on zeros, see `engram.nn.layers.custom`)."""
        if self.runs_call:
            return custom.probe_output_shape(self, input_shape)
        return tuple(input_shape)

    # ---------------------------------------------- Keras's custom-layer methods
    def add_weight(
        self,
        shape: Any = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        name: str | None = None,
        autocast: bool = True,
        aggregation: str = "none",
    ) -> Any:
        """Create a weight, as Keras's ``add_weight``: a `engram.nn.tape.Variable` that ops
        read (its gradient comes from the tape of ``call``). Trainable weights live in
        ``params[key]``, non-trainable ones in the saved state (`state_arrays`); ``key`` is
        ``name`` (``variable`` when omitted; ``_1``, ``_2`` ... when taken).

        Args:
            shape: the weight's shape (``()`` when omitted).
            initializer: a name or `engram.nn.initializers` object (``glorot_uniform`` for
                float weights when omitted, as in Keras).
            dtype: the layer's dtype when omitted.
            trainable: whether optimizers update it (a non-trainable weight changes only by
                ``assign``/``assign_add``).
            regularizer: a penalty on it, added to the loss (`engram.nn.regularizers`).
            constraint: applied after each update (`engram.nn.constraints`).
            name: the weight's name.
            autocast, aggregation: Keras's mixed-precision and multi-device settings, which
                change nothing here (engram computes in the weights' dtype on one device).
        """
        return custom.add_weight(
            self, shape, initializer, dtype, trainable, regularizer, constraint, name
        )

    def add_loss(self, loss: Any) -> None:
        """Inside ``call``: add ``loss`` (a scalar made with ops) to the training loss, as
        Keras adds it; its gradient flows back through the call's tape."""
        custom.add_loss(self, loss)

    @property
    def losses(self) -> list[float]:
        """The values given to ``add_loss`` in the last forward pass."""
        return list(self.__dict__.get("_pass_losses", []))

    def _sublayers(self) -> list[Layer]:
        """The layers a custom layer holds as attributes (none for built-in layers)."""
        return custom.sublayers(self) if self.runs_call else []

    def _leaves(self) -> list[Layer]:
        """This layer and the layers it holds, depth first (Keras's weight order): the layers
        whose ``params`` an optimizer updates."""
        if not self.runs_call:
            return [self]
        out: list[Layer] = [self]
        for sub in self._sublayers():
            out += [leaf for leaf in sub._leaves() if all(leaf is not o for o in out)]
        return out

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
        """The output for input ``x``: a custom layer runs its ``call`` on a tape."""
        if self.runs_call:
            return custom.forward(self, x, training)
        raise NotImplementedError(
            f"{type(self).__name__} must define call(self, inputs) made of engram.nn.ops, as "
            "Keras's custom layers do (or forward and backward, as engram's own layers do)."
        )

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """dL/d(input) from dL/d(output); fills ``grads``. A custom layer replays its tape."""
        if self.runs_call:
            return custom.backward(self, grad_y)
        raise NotImplementedError(f"{type(self).__name__} defines no backward.")

    def __call__(self, x: Any, training: Any = None) -> Any:
        """On a symbolic tensor (from `Input`): record the call in the graph and return the
        output tensor. Inside a custom layer's ``call`` (on traced tensors): record it on that
        call's tape. On arrays: build on first use, then run `forward`."""
        if is_symbolic(x):
            return call_layer(self, x)
        if active_tape() is not None or _traced(x):
            return custom.call_inside(self, x, training)
        training = bool(training)
        if self.runs_call:
            self._pass_losses = []
        if isinstance(x, (list, tuple)):
            x = [np.asarray(v) for v in x]
            shape: Any = [tuple(v.shape[1:]) for v in x]
        else:
            x = np.asarray(x)
            shape = tuple(x.shape[1:])
        if not self.built:  # a custom layer draws from its own generator (`custom.weight_rng`)
            rng = custom.weight_rng(self) if self.runs_call else np.random.default_rng(0)
            self.build(shape, rng)
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
            read, passed = mask_layers()
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} receives a mask (from "
                "Embedding(mask_zero=True) or Masking), which engram passes only into "
                f"{', '.join(read)} and through {', '.join(passed)} layers. Put the recurrent "
                "layer first (with return_sequences=False it consumes the mask), or leave the "
                "mask out."
            )
        return input_masked

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        """The output's (batch, time) mask for the input ``x`` and its mask (passed on)."""
        return mask

    # ---------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """The weights as a list of arrays, in Keras's order and shapes (copies): the trainable
        ``params`` and the saved non-trainable `state_arrays`, as ``weight_names`` orders them
        (then, for a custom layer, those of the layers it holds)."""
        if self.runs_call:
            return [w for leaf in self._leaves() for w in leaf._own_weights()]
        return self._own_weights()

    def _own_weights(self) -> list[np.ndarray]:
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
        """(name, array) pairs for `set_weights`, every one checked, none assigned yet (a
        custom layer: (layer, its pairs) for it and each layer it holds)."""
        weights = weight_list(weights, f"Layer {self.name!r}: set_weights")
        if self.runs_call:
            return custom.checked_weights(self, weights)
        return self._checked_own(weights)

    def _checked_own(self, weights: list[Any]) -> list[tuple[str, np.ndarray]]:
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

    def assign_weights(self, checked: list[tuple[Any, Any]]) -> None:
        """Set weights that `checked_weights` returned."""
        if self.runs_call:
            for leaf, pairs in checked:
                leaf._assign_own(pairs)
            return
        self._assign_own(checked)

    def _assign_own(self, checked: list[tuple[str, np.ndarray]]) -> None:
        for key, value in checked:
            if key in self.params:
                self.params[key] = value
            else:
                self._set_state_array(key, value)

    def _set_state_array(self, key: str, value: np.ndarray) -> None:
        store = self.__dict__.get("_state_store")
        if store is not None and key in store:
            store[key] = value  # a non-trainable weight from add_weight
        else:
            setattr(self, key, value)  # a state array is an attribute of that name

    def count_params(self) -> int:
        """Weights and saved state arrays, as Keras counts trainable and non-trainable ones."""
        total = 0
        for leaf in self._leaves():
            arrays = [*leaf.params.values(), *leaf.state_arrays().values()]
            total += int(sum(a.size for a in arrays))
        return total

    def astype(self, dtype: Any) -> Layer:
        """Cast the weights (and future weights) to ``dtype`` in place; returns the layer."""
        for leaf in self._leaves():
            leaf.dtype = np.dtype(dtype).name
            for key, value in leaf.params.items():
                leaf.params[key] = value.astype(dtype)
            for key, value in leaf.state_arrays().items():
                leaf._set_state_array(key, value.astype(dtype))
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Non-trainable arrays saved with the model (e.g. BatchNormalization's moving mean;
        a custom layer's non-trainable weights from ``add_weight``)."""
        return self.__dict__.get("_state_store", {})

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
