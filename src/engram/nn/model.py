"""Model: a graph of layer calls with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

The training step, written out (one `Graph` executor; `Sequential` is the graph of one chain):

    forward:   y_k = graph.forward(x)                         every output k
    loss:      L = sum_k w_k L_k(y_k, t_k)                     loss_weights w_k
               g_k = w_k dL_k/dy_k
               (softmax or sigmoid + cross-entropy: L_k, g_k = loss.forward_logits(z_k, t_k), the
                fused, stable gradient with respect to the logits z_k)
               L += sum_w R_w(w) + sum_a R_a(y_a) / batch      the regularizers' penalties,
                                                               as Keras adds them (`_penalty`)
    backward:  graph.backward(g)                               fills every layer's grads; nodes
                                                               behind nothing that learns are
                                                               skipped; + dR/dw and dR_a/dy_a
    update:    optimizer.step(layers)                          params -= f(grads), then each
                                                               weight's constraint w <- c(w)

`compute_gradients` is the first three lines, the one public gradient step (fit's train step,
`gradcheck` and teaching code call it); `fit` adds the update. Inputs are checked once, at the
boundary (``fit``/``evaluate``/``predict``/``compute_gradients``), and cast to float32.
"""

from __future__ import annotations

import itertools
import math
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from engram.nn import losses as losses_module
from engram.nn import metrics as metrics_module
from engram.nn import optimizers as optimizers_module
from engram.nn.callbacks import Callback, CallbackList, History, ProgbarLogger, as_callbacks
from engram.nn.data_adapters import (
    ArrayBatches,
    EpochIterator,
    GeneratorBatches,
    Sequence,
    SequenceBatches,
    check_class_weight,
    check_steps,
    class_sample_weight,
    refuse_unsupported,
    unpack,
)
from engram.nn.graph import Graph, SymbolicTensor, call_layer, is_symbolic
from engram.nn.layers.base import Layer, register_layer, shape_str, weight_list
from engram.nn.subclassing import (
    check_model_kwargs,
    subclass_init,
    summary_rows,
    trace_for_data,
    trace_for_shape,
    track_attribute,
    tracked_layers,
)
from engram.validation import (
    as_rng,
    check_array,
    check_fraction,
    check_positive,
    check_same_length,
    shape_fits,
)

_default_seed: list[int | None] = [None]


def _check_verbose(verbose: Any) -> int:
    """Keras's verbose: "auto" (= 1), 0 silent, 1 progress bar, 2 one line per epoch."""
    if verbose == "auto" and isinstance(verbose, str):
        return 1
    if isinstance(verbose, str) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Got {verbose!r} instead.")
    return int(verbose)


def _check_validation_freq(freq: Any) -> None:
    """Keras's validation_freq: an int >= 1 (every that many epochs) or a list of epochs."""
    if isinstance(freq, list):
        for epoch in freq:
            check_positive(epoch, "validation_freq entries", integer=True)
    elif isinstance(freq, bool) or not isinstance(freq, int):
        raise ValueError(
            "validation_freq must be an int (validate every that many epochs) or a list of "
            f"epochs counted from 1. Got {freq!r} instead."
        )
    else:
        check_positive(freq, "validation_freq", integer=True)


def _should_eval(epoch: int, freq: int | list[int]) -> bool:
    """Keras's rule: epochs counted from 1; every ``freq``-th, or those listed."""
    return epoch + 1 in freq if isinstance(freq, list) else (epoch + 1) % freq == 0


def _returned(logs: dict[str, float], return_dict: bool) -> Any:
    """Keras's return convention: the dict, or its values in order (one value unwrapped)."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def set_random_seed(seed: int | None) -> None:
    """Keras's ``utils.set_random_seed``: models created afterwards with ``seed=None`` use it.

    engram never touches NumPy's global random state; this only sets the default seed of new
    models (each model still owns its own generator).
    """
    as_rng(seed)  # validates
    _default_seed[0] = seed


def _per_output(value: Any, names: list[str], what: str) -> list[Any]:
    """Keras's per-output arguments: one value for all, a list in output order, or a dict."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"{what} names outputs {unknown} that the model does not have. Its outputs: "
                f"{names}."
            )
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and len(names) == 1 and len(value) == 1:
        return list(value)  # Keras takes loss=["mse"] for one output too
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(
                f"{what} has {len(value)} entries, but the model has {len(names)} outputs "
                f"({names}). Pass one per output, or a dict keyed by output name."
            )
        return list(value)
    return [value] * len(names)


@register_layer
class Model(Layer):
    """A model from symbolic inputs to outputs: ``Model(inputs, outputs)`` as in Keras.

    Args:
        inputs: a tensor from `Input`, or a list of them (the order of the arrays in ``x``).
        outputs: a tensor from layer calls on the inputs, or a list of them.
        name: the model's name.
        seed: seeds weight initialization, shuffling and dropout; same seed, same result, bit
            for bit. None uses `set_random_seed`'s value if set, else fresh entropy.

    Example:
        >>> inputs = Input(shape=(4,))
        >>> hidden = Dense(8, activation="relu")(inputs)
        >>> outputs = Dense(3, activation="softmax")(layers.concatenate([hidden, inputs]))
        >>> model = Model(inputs, outputs, seed=0)
        >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        seed: Any = None,
        **kwargs: Any,
    ) -> None:
        if inputs is None and outputs is None and _subclassed(self):
            subclass_init(self, name, seed, kwargs)
            return
        trainable = check_model_kwargs(kwargs)
        self._init_model(name or "functional", seed)
        if inputs is None or outputs is None:
            raise ValueError(
                "Model() needs inputs and outputs: Model(inputs, outputs) with tensors from "
                "Input(...) and layer calls on them. Or subclass Model, create the layers in "
                "__init__ and write call(self, inputs), as in Keras."
            )
        self._set_graph(inputs, outputs)
        if not trainable:
            self.trainable = False

    def call(self, inputs: Any, training: Any = None) -> Any:
        """What the model computes: a subclass writes it from layer calls and merges (traced
        once into the graph, see `engram.nn.subclassing`); a functional model runs its graph."""
        if not _subclassed(self) and self.graph is not None:
            return self(inputs, training=bool(training))
        raise NotImplementedError(
            f"{type(self).__name__} must define call(self, inputs, training=None), made of "
            "calls of the layers created in __init__."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        track_attribute(self, name, value)
        object.__setattr__(self, name, value)

    def _init_model(self, name: str, seed: Any) -> None:
        # a Model is a Layer (it can be called inside another model) but keeps Keras's model
        # attributes: input_shape/output_shape include the batch axis
        self.name = name
        self._trainable = True
        self.declared_input_shape = None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.built = False
        self.seed = seed if seed is not None else _default_seed[0]
        self.rng = as_rng(self.seed)
        self.graph: Graph | None = None
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss: Any = None
        self.metric_names: list[Any] = []
        self._losses: list[losses_module.Loss] = []
        self._loss_weights: list[float] = []
        self._metric_specs: list[list[Any]] = []
        self._metrics: list[tuple[int, str, Callable]] | None = None
        self._fused_cache: tuple[int, ...] | None = None
        self.stop_training = False
        self.history: History | None = None

    # ---------------------------------------------------------------- structure
    def _set_graph(self, inputs: Any, outputs: Any) -> None:
        self._multi_input = isinstance(inputs, (list, tuple))
        self._multi_output = isinstance(outputs, (list, tuple))
        inputs = list(inputs) if self._multi_input else [inputs]
        outputs = list(outputs) if self._multi_output else [outputs]
        for t in [*inputs, *outputs]:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    "Model(inputs, outputs) takes tensors from Input(...) and layer calls on "
                    f"them. Received: {type(t).__name__}."
                )
        for t in inputs:
            if t.node.inputs:
                raise ValueError(
                    f"Model inputs must come from Input(...); {t.name!r} is a layer's output."
                )
        self.graph = Graph(inputs, outputs)
        for node in self.graph.nodes:
            layer = node.layer
            if not layer.built:
                shapes = [t.shape[1:] for t in node.inputs]
                shape = shapes if node.multi else shapes[0]
                if isinstance(layer, Model):
                    layer.build((None, *shape))
                else:
                    layer.build(shape, self.rng)
        names = [t.node.layer.name for t in outputs]
        self.output_names = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
        self.input_names = [t.node.layer.name for t in inputs]
        self.built = True
        self._fused_cache = None

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """As in Keras 3: setting it sets every layer's flag (nested models included), and fit
        follows the flags from its next step on."""
        self._trainable = bool(value)
        for layer in dict.fromkeys([*self.graph_layers(), *tracked_layers(self)]):
            layer.trainable = bool(value)

    @property
    def layers(self) -> list[Layer]:
        """The layers, input layers included, in Keras's order (that of `get_weights`); for a
        subclassed model, the layers assigned as attributes, in assignment order."""
        if _subclassed(self):
            return tracked_layers(self)
        return self.graph.keras_layers if self.graph is not None else []

    def graph_layers(self) -> list[Layer]:
        """The layers the graph runs (each once), without the input layers."""
        return self.graph.layers if self.graph is not None else []

    def _leaves(self) -> list[Layer]:
        """The layers whose weights the optimizer updates, nested models flattened (one list
        per graph: the optimizer skips the frozen ones)."""
        cached = self.__dict__.get("_leaf_cache")
        if cached is not None and cached[0] is self.graph:
            return cached[1]
        out: list[Layer] = []
        for layer in self.graph_layers():
            out += layer._leaves()  # a nested model's layers, a custom layer's inner layers
        # the optimizer skips layers whose trainable flag is off (a frozen model's layers are)
        self._leaf_cache = (self.graph, out)
        return out

    def get_layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No layer named {name!r}. Layers: {', '.join(layer.name for layer in self.layers)}."
        )

    @property
    def losses(self) -> list[float]:
        """Keras's ``model.losses``: the regularizers' penalties, part of `compute_gradients`'s
        loss: the activity penalties R(y) / batch of the last forward pass (nested models
        included), then each weight penalty."""
        if self.graph is None:
            return []
        activity = self.graph.activity_penalty()
        weights = [layer.regularization_penalty() for layer in self._leaves()]
        return ([activity] if self.graph._activity_outputs or activity else []) + [
            w for w in weights if w
        ]

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self.graph.inputs) if self.graph is not None else []

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self.graph.outputs) if self.graph is not None else []

    @property
    def input_shape(self) -> Any:
        if not self.built:
            return None
        shapes = [t.shape for t in self.graph.inputs]
        return shapes if self._multi_input else shapes[0]

    @property
    def output_shape(self) -> Any:
        if not self.built:
            return None
        shapes = [t.shape for t in self.graph.outputs]
        return shapes if self._multi_output else shapes[0]

    @property
    def dtype(self) -> np.dtype:
        layers = self._leaves() if self.built else []
        return np.dtype(layers[0].dtype) if layers else np.dtype(np.float32)

    # ------------------------------------------------- a model used as a layer
    def build(self, input_shape: Any = None, rng: Any = None) -> None:
        """A functional model is built when created; ``input_shape`` must then match. A
        subclassed model traces its ``call`` for inputs of ``input_shape`` (batch axis first;
        a list of shapes for several inputs)."""
        if not self.built and _subclassed(self):
            trace_for_shape(self, input_shape)
        elif self.built and input_shape is not None:
            self.check_input((None, *tuple(input_shape)[1:]))

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape[1:] for t in self.graph.outputs]
        return shapes if self._multi_output else shapes[0]

    def check_input(self, shape: tuple[int, ...]) -> None:
        expected = self.graph.inputs[0].shape[1:]
        if not self._multi_input and not shape_fits(tuple(shape[1:]), expected):
            raise ValueError(
                f"Model {self.name!r} expects inputs of shape {shape_str((None, *expected))}, "
                f"but received shape {shape_str(tuple(shape))}."
            )

    def forward(self, x: Any, training: bool = False) -> Any:
        outs = self.graph.forward(x if self._multi_input else [x], training)
        return outs if self._multi_output else outs[0]

    def backward(self, grad_y: Any) -> Any:
        grads = self.graph.backward(
            grad_y if self._multi_output else [grad_y], input_grads=self.needs_input_grad
        )
        return grads if self._multi_input else grads[0]

    def __call__(self, x: Any, training: bool = False) -> Any:
        """On symbolic tensors: record the model as one layer of a bigger graph. On arrays:
        the outputs (``training=True`` runs dropout and batch statistics)."""
        if is_symbolic(x):
            if not self.built and _subclassed(self):
                trace_for_shape(self, _symbolic_shapes(x))
            return call_layer(self, x)
        return self.forward(self._prepare_x(x), training)

    def astype(self, dtype: Any) -> Model:
        for layer in self._leaves():
            layer.astype(dtype)
        return self

    # ----------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
    ) -> None:
        """Choose the optimizer, the loss(es) and the metrics (names, functions or objects).

        With several outputs, ``loss``, ``loss_weights`` and ``metrics`` are one value for all
        outputs, a list in output order, or a dict keyed by output name (Keras's forms).

        Raises:
            ValueError: an unknown name (with close matches), a missing loss, or per-output
                arguments that do not match the outputs.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'.")
        names = self.output_names if self.built else ["output"]
        losses = _per_output(loss, names, "loss")
        if any(entry is None for entry in losses):
            missing = [n for n, entry in zip(names, losses, strict=True) if entry is None]
            raise ValueError(f"compile() needs a loss for every output; none for {missing}.")
        self._losses = [losses_module.get(entry) for entry in losses]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        for w in weights:
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float))):
                raise ValueError(
                    f"loss_weights must be numbers (one per output). Received: {w!r}. Keras's "
                    "compile order is (optimizer, loss, loss_weights, metrics): pass metrics "
                    "by name, metrics=[...]."
                )
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        optimizer = optimizers_module.get(optimizer)
        optimizer.bind(self)  # one model per optimizer instance (Keras refuses a second too)
        self.optimizer = optimizer
        self.loss = self._losses[0] if len(self._losses) == 1 else self._losses
        if isinstance(metrics, str):
            metrics = [metrics]
        if len(names) > 1 and isinstance(metrics, (list, tuple)):
            if metrics and not all(isinstance(m, (list, tuple)) for m in metrics):
                raise ValueError(
                    "With several outputs, metrics must be a list of lists (one per output) or "
                    f"a dict keyed by output name ({names}). Received: {metrics!r}."
                )
        specs = _per_output(metrics, names, "metrics") if len(names) > 1 else [metrics]
        self._metric_specs = [
            [entry] if isinstance(entry, str) else list(entry or []) for entry in specs
        ]
        self.metric_names = list(metrics or []) if len(names) == 1 else metrics
        for spec in self._metric_specs:
            for name in spec:
                metrics_module.check(name)
        self._metrics = None
        self._fused_cache = None
        self._compile_args = (loss, loss_weights, metrics)  # resolved again once traced

    def _require_compiled(self, method: str) -> None:
        if not self._losses or self.optimizer is None:
            raise ValueError(
                f"The model must be compiled before {method}(). Call "
                "model.compile(optimizer='adam', loss=...) first."
            )

    def _resolved_metrics(self) -> list[tuple[int, str, metrics_module.Metric]]:
        """(output index, history key, metric object) for every metric."""
        if self._metrics is None:
            prefix = len(self._losses) > 1
            self._metrics = []
            seen: dict[str, int] = {}  # a repeated key gets _1, _2, ... as Keras names it
            for k, spec in enumerate(self._metric_specs):
                shape = self.graph.outputs[k].shape
                for m in spec:
                    key, fn = metrics_module.resolve(m, self._losses[k].name, shape)
                    key = f"{self.output_names[k]}_{key}" if prefix else key
                    seen[key] = seen.get(key, 0) + 1
                    key = key if seen[key] == 1 else f"{key}_{seen[key] - 1}"
                    self._metrics.append((k, key, fn))
        return self._metrics

    def _fused_outputs(self) -> tuple[int, ...]:
        """The outputs whose last activation and loss combine into the stable logits path."""
        if self._fused_cache is None:
            consumed = {id(t) for n in self.graph.nodes for t in n.inputs}
            fused = []
            for k, (t, loss) in enumerate(zip(self.graph.outputs, self._losses, strict=True)):
                layer = t.node.layer
                activation = getattr(layer, "activation", None)
                if (
                    loss.fuses_with is not None
                    and not loss.from_logits
                    and activation is not None
                    and activation.name == loss.fuses_with
                    and getattr(activation, "axis", -1) == -1
                    and hasattr(layer, "backward_from_logits")
                    and layer.activity_regularizer is None  # its penalty reads the activation
                    and id(t) not in consumed
                    and [id(o) for o in self.graph.outputs].count(id(t)) == 1
                    and sum(n.layer is layer for n in self.graph.nodes) == 1
                    and getattr(layer, "activity_regularizer", None) is None
                ):
                    fused.append(k)
            self._fused_cache = tuple(fused)
        return self._fused_cache

    def _fused(self) -> bool:
        """Whether any output takes the fused softmax/sigmoid + cross-entropy path."""
        return bool(self._fused_outputs())

    # -------------------------------------------------------------- input checks
    def _prepare_x(self, x: Any, name: str = "x") -> list[np.ndarray] | np.ndarray:
        xs = self._check_x(x, name)
        return xs if self._multi_input else xs[0]

    def _check_x(self, x: Any, name: str = "x") -> list[np.ndarray]:
        """The input arrays, one per model input, checked and cast."""
        if x is None:
            raise ValueError(f"{name} is required: pass the input data as an array.")
        if self.graph is None and _subclassed(self):
            trace_for_data(self, x, name)
        inputs = self.graph.inputs
        if isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise ValueError(f"{name} has no arrays for the inputs {missing}.")
            x = [x[n] for n in self.input_names]
        if len(inputs) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(inputs):
                raise ValueError(
                    f"{name} must be a list of {len(inputs)} arrays, one per input "
                    f"({self.input_names}), or a dict keyed by input name."
                )
        else:
            x = [x[0]] if isinstance(x, (list, tuple)) and len(x) == 1 else [x]
        out = []
        for k, (t, arr) in enumerate(zip(inputs, x, strict=True)):
            label = name if len(inputs) == 1 else f"{name}[{k}]"
            dtype = t.dtype if np.dtype(t.dtype).kind in "iu" else self.dtype
            arr = check_array(arr, label, dtype=dtype)
            expected = t.shape[1:]
            if arr.ndim == 1 and expected == (1,):
                arr = arr[:, None]
            if not shape_fits(arr.shape[1:], expected):
                raise ValueError(
                    f"{label} has shape {arr.shape}, but the model expects inputs of shape "
                    f"{shape_str((None, *expected))}."
                )
            out.append(arr)
        for arr in out[1:]:
            check_same_length(out[0], arr, f"{name}[0]", f"{name}[...]")
        return out

    def _check_y(self, y: Any, x0: np.ndarray, prefix: str = "") -> list[np.ndarray]:
        name = prefix + "y"
        if y is None:
            raise ValueError(f"{name} is required: pass the targets for {prefix}x.")
        if isinstance(y, dict):
            missing = [k for k in self.output_names if k not in y]
            if missing:
                raise ValueError(f"{name} has no targets for the outputs {missing}.")
            y = [y[k] for k in self.output_names]
        outputs = self.graph.outputs
        if len(outputs) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(outputs):
                raise ValueError(
                    f"{name} must be a list of {len(outputs)} arrays, one per output "
                    f"({self.output_names}), or a dict keyed by output name."
                )
        else:
            y = [y]
        out = []
        for k, (t, loss, arr) in enumerate(zip(outputs, self._losses, y, strict=True)):
            label = name if len(outputs) == 1 else f"{name}[{k}]"
            arr = check_array(arr, label, dtype=None)
            check_same_length(x0, arr, prefix + "x", label)
            out.append(loss.prepare_targets(arr, t.shape, label))
        return out

    def _check_xy(self, x: Any, y: Any, prefix: str = ""):
        xs = self._check_x(x, prefix + "x")
        return xs, self._check_y(y, xs[0], prefix)

    def _check_sample_weight(
        self, sample_weight: Any, n: int, name: str = "sample_weight", y=None, loss=None
    ) -> np.ndarray | None:
        """One weight per sample, (n,); or, for a loss that weighs entries itself
        (``forward_weighted``: a mask), weights shaped like the targets' leading axes."""
        if sample_weight is None:
            return None
        w = check_array(sample_weight, name, dtype=np.float64)
        if (
            y is not None
            and w.ndim > 1
            and hasattr(loss, "forward_weighted")
            and w.shape == y.shape[: w.ndim]
        ):
            return w  # weights per time step or per entry, for losses that take them
        if w.shape == (n, 1):
            w = w[:, 0]
        if w.shape != (n,):
            raise ValueError(
                f"{name} must have one weight per sample, shape ({n},). Received shape {w.shape}."
            )
        return w

    # ------------------------------------------------------ the gradient step
    def _losses_of(self, outs, ys, fused, sample_weight, grads: bool):
        """Total and per-output losses, and the weighted output gradients."""
        self.graph.refuse_masked_outputs()
        total, per, out_grads = 0.0, [], []
        for k, (loss, weight) in enumerate(zip(self._losses, self._loss_weights, strict=True)):
            fn = loss.forward_logits if k in fused else loss.forward
            w = sample_weight[k] if isinstance(sample_weight, list) else sample_weight
            if w is not None and hasattr(loss, "forward_weighted"):
                # a loss that defines its own weighting (per time step or entry: a mask)
                value, grad = loss.forward_weighted(outs[k], ys[k], w)
            else:
                value, grad = fn(outs[k], ys[k])
                if w is not None:
                    value, grad = _weighted(fn, outs[k], ys[k], grad, w)
            per.append(value)
            total += weight * value
            if grads:
                out_grads.append(grad if weight == 1.0 else grad * np.asarray(weight, grad.dtype))
        return total + self._penalty(), per, out_grads

    def _penalty(self) -> float:
        """The regularizers' term of the loss, as Keras adds it: every trainable weight's
        penalty R_w(w), plus R_a(y) / batch for each layer output y with an activity
        regularizer in the last forward pass (`engram.nn.regularizers`)."""
        return self.graph.activity_penalty() + sum(
            layer.regularization_penalty() for layer in self._leaves()
        )

    def _gradients(self, xs, ys, sample_weight=None, training=True, need_output=False):
        """Forward, loss and backward on checked arrays; fills every layer's ``grads``.

        Returns (total loss, per-output losses, outputs or None).
        """
        fused = self._fused_cache
        if fused is None:
            fused = self._fused_outputs()
        outs = self.graph.forward(xs, training, fused)
        total, per, out_grads = self._losses_of(outs, ys, fused, sample_weight, True)
        self.graph.backward(out_grads, fused)
        for layer in self._leaves():  # the weight penalties' gradients (activity: in backward)
            layer.add_regularization_grads()
        if need_output:
            for k in fused:  # the loss took logits: apply the activation for the metrics
                outs[k] = self.graph.outputs[k].node.layer.activation.forward(outs[k])
        return total, per, outs if need_output else None

    def compute_gradients(
        self, x: Any, y: Any, sample_weight: Any = None, *, training: bool = True
    ) -> float:
        """One forward pass, the loss and one backward pass, without updating any weight.

        Every layer's ``grads`` then holds dL/d(its params) for this batch (a layer called
        several times holds the sum over its calls). `fit`'s train step is this plus
        ``optimizer.step``.

        Args:
            x: inputs (one array, or one per model input).
            y: targets (one array, or one per output).
            sample_weight: one weight per sample (n,): each sample's loss is multiplied by it,
                then averaged over the batch as Keras does (sum(w_i L_i) / n); with several
                outputs, one array for all or one per output (a list, or a dict by name). A
                loss that defines ``forward_weighted(y_pred, y_true, weights)`` (a masked loss)
                also takes weights per time step or per entry, shaped like the targets'
                leading axes.
            training: run dropout and batch statistics as in training (True, as fit does).

        Returns:
            The loss (weighted over the outputs by ``loss_weights``), plus the regularizers'
            penalties (`losses`), as Keras adds them.
        """
        self._require_compiled("compute_gradients")
        xs, ys = self._check_xy(x, y)
        weights = self._sample_weights(sample_weight, len(xs[0]), ys=ys)
        return self._gradients(xs, ys, weights, training)[0]

    def _train_step(self, xs, ys, sample_weight, need_output: bool):
        loss, per, outs = self._gradients(xs, ys, sample_weight, True, need_output)
        self.optimizer.step(self._leaves())
        return loss, per, outs

    def _batch_logs(self, loss, per, outs, ys, totals, n) -> dict[str, float]:
        entry = totals["loss"]
        entry[0] += loss * n
        entry[1] += n
        if len(per) > 1:
            for name, value in zip(self.output_names, per, strict=True):
                entry = totals[f"{name}_loss"]
                entry[0] += value * n
                entry[1] += n
        for k, key, metric in self._metrics:  # resolved when the totals were made (_log_keys)
            # a metric object keeps its own state: a fresh entry (count 0) starts it again
            # (each epoch, each evaluate, as Keras resets them); the entry holds its result
            entry = totals[key]
            if not entry[1]:
                metric.reset_state()
            metric.update_state(ys[k], outs[k])
            entry[0], entry[1] = metric.result(), 1
        return {key: total / count for key, (total, count) in totals.items()}

    def _log_keys(self) -> list[str]:
        keys = ["loss"]
        if len(self._losses) > 1:
            keys += [f"{name}_loss" for name in self.output_names]
        return keys + [key for _, key, _ in self._resolved_metrics()]

    def _sample_weights(
        self, sample_weight: Any, n: int, prefix: str = "", ys: Any = None
    ) -> list | None:
        """``sample_weight`` as one (n,) array per output, or None: one array for every output,
        or (several outputs) a list in output order or a dict keyed by output name. With the
        targets ``ys``, a loss that weighs entries itself may take weights per entry."""
        if sample_weight is None:
            return None
        names = self.output_names
        if len(names) > 1 and isinstance(sample_weight, dict):
            missing = [k for k in names if k not in sample_weight]
            if missing:
                raise ValueError(f"{prefix}sample_weight has no weights for outputs {missing}.")
            sample_weight = [sample_weight[k] for k in names]
        per_output = (
            len(names) > 1
            and isinstance(sample_weight, (list, tuple))
            and len(sample_weight) == len(names)
            and all(np.ndim(w) == 1 for w in sample_weight)
        )
        weights = list(sample_weight) if per_output else [sample_weight] * len(names)
        ys = ys if ys is not None else [None] * len(names)
        return [
            self._check_sample_weight(w, n, prefix + "sample_weight", y, loss)
            for w, y, loss in zip(weights, ys, self._losses, strict=True)
        ]

    def _batch_arrays(self, batch: Any, iterator: Any, need_y: bool, what: str):
        """A batch from a source as checked arrays (xs, ys, sample weights per output)."""
        if iterator.source.checked:
            return batch
        x, y, sw = unpack(batch)
        xs = self._check_x(x, what)
        if not need_y:
            return xs, None, None
        if y is None:
            raise ValueError(
                f"{what} yielded a batch without targets. Yield (x, y) or (x, y, sample_weight)."
            )
        ys = self._check_y(y, xs[0], what[:-1])
        class_weight = getattr(iterator, "class_weight", None)
        if class_weight is not None:
            if sw is not None:
                raise ValueError(
                    "You cannot use class_weight and sample_weight at the same time: "
                    f"{what} yielded (x, y, sample_weight) batches. Drop one of them."
                )
            sw = class_sample_weight(ys[0], class_weight)
        return xs, ys, self._sample_weights(sw, len(xs[0]), what[:-1])

    def _source(
        self, x, y, sample_weight, class_weight, batch_size, shuffle, steps, prefix="", need_y=True
    ):
        """An `EpochIterator` over arrays, a `Sequence` or a Python generator (predict: no
        targets, ``need_y=False``)."""
        what = prefix + "x"
        class_weight = check_class_weight(class_weight)
        if class_weight is not None and len(self.output_names) > 1:
            raise ValueError("class_weight is only supported for models with a single output.")
        if isinstance(x, (Sequence, types.GeneratorType)):
            kind = "Sequence" if isinstance(x, Sequence) else "generator"
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(
                        f"When {what} is a {kind}, {name} must not be passed: the {kind} yields "
                        "it, in batches (x, y) or (x, y, sample_weight)."
                    )
            if batch_size is not None:
                warnings.warn(
                    f"batch_size={batch_size} is ignored: {what} is a {kind}, whose batches "
                    "have the sizes it makes.",
                    UserWarning,
                    3,
                )
            if kind == "generator":
                if class_weight is not None:
                    raise ValueError("class_weight is not supported for Python generator inputs.")
                if shuffle:
                    warnings.warn(
                        "shuffle=True was passed, but will be ignored since the data x was "
                        "provided as a generator. The generator is expected to yield "
                        "already-shuffled data.",
                        UserWarning,
                        3,
                    )
                if not self.built:  # build from the first batch, then yield it first
                    first = next(x, None)
                    if first is None:
                        raise ValueError(f"{what} is a generator that yields no batches.")
                    self._check_x(unpack(first)[0], what)
                    x = itertools.chain([first], x)
                source = GeneratorBatches(x)
            else:
                source = SequenceBatches(x, shuffle, self.rng)
                if not self.built:  # build from the first batch
                    self._check_x(unpack(x[0])[0], what)
        else:
            refuse_unsupported(x, what)
            xs = self._check_x(x, what)
            n = len(xs[0])
            ys = self._check_y(y, xs[0], prefix) if need_y else None
            if class_weight is not None and ys is not None:
                if sample_weight is not None:
                    raise ValueError(
                        "You cannot use class_weight and sample_weight at the same time."
                    )
                sample_weight = class_sample_weight(ys[0], class_weight)
            sws = None if ys is None else self._sample_weights(sample_weight, n, prefix)
            if batch_size is None:
                batch_size = math.ceil(n / steps) if steps else 32
            batch_size = check_positive(batch_size, prefix + "batch_size", integer=True)
            source = ArrayBatches(xs, ys, sws, batch_size, shuffle, self.rng)
        iterator = EpochIterator(source, steps)
        iterator.class_weight = class_weight
        return iterator

    def _callback_list(self, callbacks, verbose, params, history=False) -> CallbackList:
        cbs = [*as_callbacks(callbacks)]
        if history:  # after the user's callbacks, as Keras: it sees what they add to the logs
            self.history = History()
            cbs.append(self.history)
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        callback_list = CallbackList(cbs, self)
        callback_list.set_params({"verbose": verbose, **params})
        return callback_list

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """One gradient step on one batch: the loss (and metrics) on that batch, before the
        step's update, as Keras returns them (a number without metrics, else a list in
        `metrics_names` order, or a dict with ``return_dict=True``)."""
        self._require_compiled("train_on_batch")
        xs, ys = self._check_xy(x, y)
        class_weight = check_class_weight(class_weight)
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot use class_weight and sample_weight at the same time.")
            sample_weight = class_sample_weight(ys[0], class_weight)
        sws = self._sample_weights(sample_weight, len(xs[0]))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, per, outs = self._train_step(xs, ys, sws, True)
        totals = {key: [0.0, 0] for key in self._log_keys()}
        return _returned(self._batch_logs(loss, per, outs, ys, totals, len(xs[0])), return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on one batch (inference mode), returned as `train_on_batch` does."""
        self._require_compiled("test_on_batch")
        xs, ys = self._check_xy(x, y)
        sws = self._sample_weights(sample_weight, len(xs[0]))
        totals = {key: [0.0, 0] for key in self._log_keys()}
        return _returned(self._test_batch(xs, ys, sws, totals), return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch (inference mode); a list for several outputs."""
        outs = [out.copy() for out in self.graph.forward(self._check_x(x), False)]
        return outs if self._multi_output else outs[0]

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: list[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | list[int] = 1,
    ) -> History:
        """Train for ``epochs`` passes over the data; returns a `History` (Keras's keys).

        Args:
            x: inputs, (samples, ...); a list (or dict by name) for several inputs. Integer and
                float64 data are cast to float32. Or a `utils.Sequence`, or a Python generator
                yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches (then ``y`` and
                ``sample_weight`` stay None).
            y: targets: integer labels (n,) or (n, 1) for sparse cross-entropy, one-hot for
                categorical, values in [0, 1] for binary cross-entropy, anything for mse/mae;
                a list (or dict by output name) for several outputs.
            batch_size: samples per gradient step (default 32, or ceil(n / steps_per_epoch)).
            epochs: number of passes.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch ("auto" = 1).
            callbacks: `Callback` objects (EarlyStopping, ModelCheckpoint, ...), or one.
            validation_split: fraction of the data, taken from the end before shuffling, held
                out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``, a
                `Sequence` or a generator; used instead of validation_split.
            shuffle: reshuffle the training samples (a Sequence's batches) before each epoch.
            class_weight: ``{class index: weight}``: each sample's loss is weighted by its
                class's weight (single-output models).
            sample_weight: one weight per sample (n,) (for several outputs: one array for all,
                or one per output): the loss is sum_i(w_i L_i) / n per batch, as in Keras;
                compiled metrics stay unweighted, as Keras's ``metrics=`` are.
            initial_epoch: epoch to start counting from (to resume training), an int >= 0.
            steps_per_epoch: batches per epoch (Keras's rules: see `engram.nn.data_adapters`).
            validation_steps: batches per validation (default: all).
            validation_batch_size: batch size for validation (default: ``batch_size``).
            validation_freq: validate every ``validation_freq`` epochs, or at the epochs
                (counted from 1) in a list.

        Callbacks get every Keras hook in Keras's order (`Callback`); ``model.stop_training =
        True`` from a callback ends the epoch after the current batch, then training.

        A loss that becomes NaN or infinite is named once, in a `DivergenceWarning`, and
        recorded in ``History.diverged_epoch``; training goes on, as in Keras, unless a
        `TerminateOnNaN` callback stops it (NumPy's own overflow warnings are silenced).

        Raises:
            ValueError: not compiled, bad shapes, labels or values (each message says the fix).
        """
        self._require_compiled("fit")
        check_positive(epochs, "epochs", integer=True, strict=False)
        check_positive(initial_epoch, "initial_epoch", integer=True, strict=False)
        check_fraction(validation_split, "validation_split")
        verbose = _check_verbose(verbose)
        _check_validation_freq(validation_freq)
        if isinstance(shuffle, str):
            raise ValueError(
                f"shuffle={shuffle!r} (Keras's shuffling in batch-sized chunks) is not supported; "
                "pass shuffle=True or False."
            )
        steps_per_epoch = check_steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = check_steps(validation_steps, "validation_steps")
        if validation_data is None and validation_split:
            x, y, sample_weight, validation_data = self._split(
                x, y, sample_weight, validation_split
            )
        train = self._source(
            x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch
        )
        val = None
        if validation_data is not None:
            refuse_unsupported(validation_data, "validation_data")
            if not isinstance(validation_data, (tuple, list, Sequence, types.GeneratorType)):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                    "sample_weight_val), a Sequence or a generator."
                )
            vx, vy, vsw = unpack(validation_data)
            if vy is None and not isinstance(vx, (Sequence, types.GeneratorType)):
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            vbatch = validation_batch_size or batch_size
            val = self._source(vx, vy, vsw, None, vbatch, False, validation_steps, "val_")
        keys = self._log_keys()
        if val is not None:
            keys += ["val_" + key for key in keys]
        params = {"epochs": epochs, "steps": train.num_batches, "metrics": keys}
        # params["metrics"]: the keys each epoch logs, so callbacks can check before training
        callback_list = self._callback_list(callbacks, verbose, params, history=True)
        self.stop_training = False
        training_logs: dict[str, float] = {}
        # where training stands, for BackupAndRestore: the batch source, and (epoch, next step,
        # the epoch's running sums) after every step
        self._fit_iterator, self._fit_position = train, (initial_epoch, 0, None)
        callback_list.on_train_begin()
        # BackupAndRestore's on_train_begin may leave where a killed run stood
        resume = self.__dict__.pop("_resume", None) or {"epoch": initial_epoch}
        if "history" in resume and self.history is not None:
            self.history.history = resume["history"]
            self.history.epoch = resume["history_epochs"]
        if "step" in resume:
            train.resume(resume["seen"], resume["order"], resume["step"])
            states = resume.get("metric_states") or {}
            for _, key, metric in self._resolved_metrics():  # where the epoch's metrics stood
                if key in states:
                    metric.set_state(states[key])
        # a diverging run is named once by History's DivergenceWarning, not by NumPy's
        # overflow warnings at every step
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(resume["epoch"], epochs):
                callback_list.on_epoch_begin(epoch)
                totals = resume.get("totals") if epoch == resume["epoch"] else None
                logs = self._train_epoch(train, callback_list, epoch, totals)
                if val is not None and _should_eval(epoch, validation_freq):
                    val.reset()
                    val_logs = self._test_loop(val, callback_list)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                self._fit_position = (epoch + 1, 0, None)
                callback_list.on_epoch_end(epoch, logs)
                training_logs = logs
                if self.stop_training or train.ran_out:
                    break
        callback_list.on_train_end(training_logs)
        self._fit_iterator = None  # the model does not keep the training data alive
        return self.history

    def _split(self, x, y, sample_weight, validation_split):
        """Keras's validation_split: the first floor(n * (1 - split)) samples train, the rest
        validate."""
        if isinstance(x, (Sequence, types.GeneratorType)):
            raise ValueError(
                "validation_split is only supported for arrays, not for a Sequence or a "
                "generator. Pass validation_data instead."
            )
        xs, ys = self._check_xy(x, y)
        n = len(xs[0])
        split_at = math.floor(n * (1.0 - validation_split))
        if split_at == 0 or split_at == n:
            raise ValueError(
                f"validation_split={validation_split} leaves {split_at} training and "
                f"{n - split_at} validation samples out of {n}. Use a split that leaves both."
            )
        sws = self._sample_weights(sample_weight, n)

        def part(arrays, s, multi):  # one array back for one input or output
            if arrays is None:
                return None
            return [a[s] for a in arrays] if multi else arrays[0][s]

        head, tail = slice(None, split_at), slice(split_at, None)
        multi_in, multi_out = len(xs) > 1, len(ys) > 1
        val = (part(xs, tail, multi_in), part(ys, tail, multi_out), part(sws, tail, multi_out))
        return part(xs, head, multi_in), part(ys, head, multi_out), part(sws, head, multi_out), val

    def _train_epoch(self, iterator, callback_list, epoch, totals=None) -> dict[str, float]:
        """One epoch of train steps; ``totals``: the running sums of a resumed epoch."""
        need_output = bool(self._resolved_metrics())
        logs = {key: total / count for key, (total, count) in (totals or {}).items()}
        totals = totals or {key: [0.0, 0] for key in self._log_keys()}
        leaves = self._leaves()
        checked = iterator.source.checked
        # per-step calls only when some callback listens
        begin, end = (
            getattr(callback_list, hook) if callback_list.listens(hook) else None
            for hook in ("on_train_batch_begin", "on_train_batch_end")
        )
        for step, batch in iterator:
            if begin is not None:
                begin(step)
            xs, ys, sws = batch if checked else self._batch_arrays(batch, iterator, True, "x")
            loss, per, outs = self._gradients(xs, ys, sws, True, need_output)
            self.optimizer.step(leaves)
            logs = self._batch_logs(loss, per, outs, ys, totals, len(xs[0]))
            self._fit_position = (epoch, step + 1, totals)  # what a backup saves
            if end is not None:
                end(step, logs)
            if self.stop_training:
                break
        return dict(logs)

    # ---------------------------------------------------------- evaluate / predict
    def _test_batch(self, xs, ys, sws, totals) -> dict[str, float]:
        fused = self._fused_outputs()
        outs = self.graph.forward(xs, False)
        # fused outputs: the loss from the logits their layers cached (stable on huge ones)
        scored = _logits(self, outs, fused) if fused else outs
        loss, per, _ = self._losses_of(scored, ys, fused, sws, False)
        return self._batch_logs(loss, per, outs, ys, totals, len(xs[0]))

    def _test_loop(self, iterator, callback_list, what: str = "val_x") -> dict[str, float]:
        """The on_test_* hooks around one pass; returns the logs (running means)."""
        totals = {key: [0.0, 0] for key in self._log_keys()}
        logs: dict[str, float] = {}
        self.stop_evaluating = False
        callback_list.on_test_begin()
        for step, batch in iterator:
            callback_list.on_test_batch_begin(step)
            xs, ys, sws = self._batch_arrays(batch, iterator, True, what)
            logs = self._test_batch(xs, ys, sws, totals)
            callback_list.on_test_batch_end(step, logs)
            if self.stop_evaluating:
                break
        if not logs:
            raise ValueError(
                f"{what} gave no batches to evaluate (a generator that ran dry?). Pass a "
                "generator that loops forever with steps, or a Sequence."
            )
        logs = dict(logs)
        callback_list.on_test_end(logs)
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``(x, y)`` (arrays, a `Sequence` or a generator): a scalar if
        no metrics, else ``[loss, *metrics]``; ``sample_weight`` weighs the loss as in `fit`.
        Callbacks get the on_test_* hooks."""
        self._require_compiled("evaluate")
        verbose = _check_verbose(verbose)
        steps = check_steps(steps, "steps")
        source = self._source(x, y, sample_weight, None, batch_size, False, steps)
        callback_list = self._callback_list(
            callbacks, 0, {"epochs": 1, "steps": source.num_batches}
        )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logs = self._test_loop(source, callback_list, "x")
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return _returned(logs, return_dict)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = 0,
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
    ) -> Any:
        """The model's outputs for ``x`` (arrays, a `Sequence` or a generator; targets in its
        batches are ignored), computed in batches (inference mode); a list of arrays for
        several outputs. Callbacks get the on_predict_* hooks; each on_predict_batch_end's
        logs hold ``{"outputs": that batch's outputs}``."""
        _check_verbose(verbose)
        steps = check_steps(steps, "steps")
        source = self._source(x, None, None, None, batch_size, False, steps, need_y=False)
        callback_list = self._callback_list(
            callbacks, 0, {"epochs": 1, "steps": source.num_batches}
        )
        forward = self.graph.forward
        checked = source.source.checked
        batches = []
        self.stop_predicting = False
        callback_list.on_predict_begin()
        begin = callback_list.on_predict_batch_begin if callback_list.callbacks else None
        for step, batch in source:
            if begin is not None:
                begin(step)
            xs = batch[0] if checked else self._batch_arrays(batch, source, False, "x")[0]
            outs = forward(xs, False)
            batches.append(outs)
            if callback_list.callbacks:
                callback_list.on_predict_batch_end(
                    step, {"outputs": outs if self._multi_output else outs[0]}
                )
            if self.stop_predicting:
                break
        callback_list.on_predict_end()
        if not batches:
            raise ValueError("x gave no batches to predict (a generator that ran dry?).")
        if len(batches) == 1:  # a copy: the graph keeps its last outputs
            outs = [out.copy() for out in batches[0]]
        else:
            outs = [np.concatenate([b[k] for b in batches], axis=0) for k in range(len(batches[0]))]
        return outs if self._multi_output else outs[0]

    # ---------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """All weights, layer by layer, in Keras's order and shapes."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set all weights from a list in `get_weights`'s order (every array is checked before
        any layer changes)."""
        if not self.built:
            self.build()
        self.assign_weights(self.checked_weights(weights))

    def checked_weights(self, weights: Any) -> list[tuple[Layer, Any]]:
        """(layer, that layer's checked weights) for every layer, none assigned yet: a model
        used as a layer is checked through its own layers."""
        weights = weight_list(weights, "set_weights")
        expected = sum(len(layer.get_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(
                f"set_weights expects {expected} arrays (get_weights()'s order), but received "
                f"{len(weights)}."
            )
        checked, i = [], 0
        for layer in self.layers:
            n = len(layer.get_weights())
            checked.append((layer, layer.checked_weights(weights[i : i + n])))
            i += n
        return checked

    def assign_weights(self, checked: list[tuple[Layer, Any]]) -> None:
        """Set weights that `checked_weights` returned."""
        for layer, pairs in checked:
            layer.assign_weights(pairs)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError("count_params() needs a built model: pass input_shape or call build.")
        return sum(layer.count_params() for layer in self.layers)

    def _trainable_count(self) -> int:
        # only `params` are trained; state arrays (BatchNormalization's moving statistics) are not
        total = 0
        for layer in self.layers:
            if isinstance(layer, Model):
                total += layer._trainable_count() if layer.trainable else 0
            else:  # a custom layer counts the layers it holds too
                leaves = [leaf for leaf in layer._leaves() if leaf.trainable]
                total += sum(p.size for leaf in leaves for p in leaf.params.values())
        return total

    def _summary_rows(self) -> list[tuple[str, ...]]:
        """(layer (type), output shape, params, connected to) for every layer, as Keras lists
        them for a functional model (without "connected to" for a plain chain, as Keras)."""
        if _subclassed(self):
            return summary_rows(self, type_name)
        nodes = {id(t.node): t.node for t in self.graph.inputs}
        nodes.update({id(n): n for n in self.graph.nodes})
        calls: dict[int, list[Any]] = {}
        for node in nodes.values():
            calls.setdefault(id(node.layer), []).append(node)
        rows = []
        for layer in self.layers:
            own = calls[id(layer)]
            links = [
                f"{t.node.layer.name}[{calls[id(t.node.layer)].index(t.node)}]"
                f"[{t.node.outputs.index(t)}]"  # which output of a layer with several
                for node in own
                for t in node.inputs
            ]
            outs = [shape_str(t.shape) for t in own[0].outputs]
            rows.append(
                (
                    f"{layer.name} ({type_name(layer)})",
                    outs[0] if len(outs) == 1 else "[" + ", ".join(outs) + "]",
                    f"{layer.count_params():,}",
                    ", ".join(links) or "-",
                )
            )
        if self.graph._as_chain() is not None:  # Keras's "sequential-like": no Connected to
            return [row[:3] for row in rows]
        return rows

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does."""
        if not self.built:
            raise ValueError("summary() needs a built model: pass input_shape or call build.")
        rows = self._summary_rows()
        headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")[: len(rows[0])]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        line = "-" * (sum(widths) + 3 * (len(widths) - 1))
        aligns = ["<", "<", ">", "<"][: len(widths)]
        fmt = "   ".join(f"{{:{a}{w}}}" for a, w in zip(aligns, widths, strict=True))
        total = self.count_params()
        trainable = self._trainable_count()
        out = [
            f'Model: "{self.name}"',
            line,
            fmt.format(*headers),
            "=" * len(line),
            *(fmt.format(*r).rstrip() for r in rows),
            "=" * len(line),
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            line,
        ]
        for text in out:
            print_fn(text)

    # ------------------------------------------------------------------ files
    def _check_saveable(self, what: str, filepath: Any = None) -> None:
        from engram.nn.saving import is_keras_file

        custom = [type(layer).__name__ for layer in self._leaves() if layer.runs_call]
        if custom:
            raise NotImplementedError(
                f"{what} of a model with the custom layer {custom[0]} is not supported: a "
                "custom layer is Python code, and engram never imports or runs code from a file "
                "(its weights files do not hold such layers yet either). Keep the weights with "
                "model.get_weights() and set_weights() in Python."
            )
        if filepath is not None and is_keras_file(filepath):
            return  # Keras's format holds nested models and functional graphs
        if any(isinstance(layer, Model) for layer in self.layers):
            raise NotImplementedError(
                f"{what} of a model that contains another model is not supported yet: its "
                "weights would be left out. Save the inner model on its own."
            )

    def save(self, filepath: str) -> None:
        """Save architecture, weights and compile settings to one data-only file, atomically:
        Keras 3's format for ``*.keras``, engram's own (safetensors) otherwise."""
        from engram.nn.saving import is_keras_file, save_model

        if type(self) is Model and not is_keras_file(filepath):
            raise NotImplementedError(
                "save() of a functional Model (its graph) to an engram file is not supported "
                "yet; save it as .keras (model.save('model.keras')), or use save_weights()."
            )
        if _subclassed(self):
            raise NotImplementedError(
                f"save() of a subclassed model ({type(self).__name__}: its architecture is "
                "Python code) is not supported; save_weights() works, then create the model "
                "again and load_weights()."
            )
        self._check_saveable("save()", filepath)
        save_model(self, filepath)

    def save_weights(self, filepath: str) -> None:
        from engram.nn.saving import save_weights

        self._check_saveable("save_weights()", filepath)
        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from engram.nn.saving import load_weights

        self._check_saveable("load_weights()", filepath)
        load_weights(self, filepath)


def _subclassed(model: Model) -> bool:
    """Whether ``model`` is a subclass that writes its own ``call`` (Keras's subclassing)."""
    return type(model).call is not Model.call


def _symbolic_shapes(x: Any) -> Any:
    return [t.shape for t in x] if isinstance(x, (list, tuple)) else x.shape


def type_name(layer: Layer) -> str:
    """The type Keras's summary shows: a functional model's class is called Functional."""
    return "Functional" if type(layer) is Model else type(layer).__name__


def _logits(model: Model, outs: list[np.ndarray], fused: tuple[int, ...]) -> list[np.ndarray]:
    """The outputs with the fused ones replaced by the logits their layers cached."""
    outs = list(outs)
    for k in fused:
        outs[k] = model.graph.outputs[k].node.layer.z
    return outs


def _weighted(fn, out, y, grad, sample_weight):
    """Keras's weighted loss: (sum_i w_i L_i) / n, with L_i each sample's own loss; the
    gradient of sample i is w_i times its unweighted gradient (every loss averages over the
    batch, so L = mean_i L_i)."""
    n = len(out)
    per_sample = np.array([fn(out[i : i + 1], y[i : i + 1])[0] for i in range(n)])
    value = float(np.dot(sample_weight, per_sample) / n)
    w = sample_weight.astype(grad.dtype).reshape((n,) + (1,) * (grad.ndim - 1))
    return value, grad * w
