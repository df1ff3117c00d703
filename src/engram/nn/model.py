"""Model: a graph of layer calls with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

The training step, written out (one `Graph` executor; `Sequential` is the graph of one chain):

    forward:   y_k = graph.forward(x)                         every output k
    loss:      L = sum_k w_k L_k(y_k, t_k)                     loss_weights w_k
               g_k = w_k dL_k/dy_k
               (softmax or sigmoid + cross-entropy: L_k, g_k = loss.forward_logits(z_k, t_k), the
                fused, stable gradient with respect to the logits z_k)
    backward:  graph.backward(g)                               fills every layer's grads; nodes
                                                               behind nothing that learns are
                                                               skipped
    update:    optimizer.step(layers)                          params -= f(grads)

`compute_gradients` is the first three lines, the one public gradient step (fit's train step,
`gradcheck` and teaching code call it); `fit` adds the update. Inputs are checked once, at the
boundary (``fit``/``evaluate``/``predict``/``compute_gradients``), and cast to float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from engram.nn import losses as losses_module
from engram.nn import metrics as metrics_module
from engram.nn import optimizers as optimizers_module
from engram.nn.callbacks import Callback, CallbackList, History, ProgbarLogger, as_callbacks
from engram.nn.graph import Graph, SymbolicTensor, call_layer, is_symbolic
from engram.nn.layers.base import Layer, register_layer, shape_str, weight_list
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


def _check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    return check_positive(batch_size, "batch_size", integer=True)


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
        self, inputs: Any = None, outputs: Any = None, name: str | None = None, seed: Any = None
    ) -> None:
        self._init_model(name or "functional", seed)
        if inputs is None or outputs is None:
            raise NotImplementedError(
                "Model subclassing (a Model without inputs and outputs) is not supported yet. "
                "Build the model with Model(inputs, outputs), or use Sequential([...])."
            )
        self._set_graph(inputs, outputs)

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
        for layer in self.graph_layers():
            layer.trainable = bool(value)

    @property
    def layers(self) -> list[Layer]:
        """The layers, input layers included, in Keras's order (that of `get_weights`)."""
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
            out += layer._leaves() if isinstance(layer, Model) else [layer]
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
        """A functional model is built when created; ``input_shape`` must then match."""
        if self.built and input_shape is not None:
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
                if isinstance(name, str) and name.lower() not in ("accuracy", "acc"):
                    metrics_module.metrics.get(name)
        self._metrics = None
        self._fused_cache = None

    def _require_compiled(self, method: str) -> None:
        if not self._losses or self.optimizer is None:
            raise ValueError(
                f"The model must be compiled before {method}(). Call "
                "model.compile(optimizer='adam', loss=...) first."
            )

    def _resolved_metrics(self) -> list[tuple[int, str, Callable]]:
        """(output index, history key, function) for every metric."""
        if self._metrics is None:
            prefix = len(self._losses) > 1
            self._metrics = []
            for k, spec in enumerate(self._metric_specs):
                shape = self.graph.outputs[k].shape
                for m in spec:
                    key, fn = metrics_module.resolve(m, self._losses[k].name, shape)
                    self._metrics.append(
                        (k, f"{self.output_names[k]}_{key}" if prefix else key, fn)
                    )
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
                    and id(t) not in consumed
                    and [id(o) for o in self.graph.outputs].count(id(t)) == 1
                    and sum(n.layer is layer for n in self.graph.nodes) == 1
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

    def _check_sample_weight(self, sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = check_array(sample_weight, "sample_weight", dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(
                f"sample_weight must have one weight per sample, shape ({n},). Received shape "
                f"{w.shape}."
            )
        return w

    # ------------------------------------------------------ the gradient step
    def _losses_of(self, outs, ys, fused, sample_weight, grads: bool):
        """Total and per-output losses, and the weighted output gradients."""
        self.graph.refuse_masked_outputs()
        total, per, out_grads = 0.0, [], []
        for k, (loss, weight) in enumerate(zip(self._losses, self._loss_weights, strict=True)):
            fn = loss.forward_logits if k in fused else loss.forward
            value, grad = fn(outs[k], ys[k])
            if sample_weight is not None:
                value, grad = _weighted(fn, outs[k], ys[k], grad, sample_weight)
            per.append(value)
            total += weight * value
            if grads:
                out_grads.append(grad if weight == 1.0 else grad * np.asarray(weight, grad.dtype))
        return total, per, out_grads

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
                then averaged over the batch as Keras does (sum(w_i L_i) / n).
            training: run dropout and batch statistics as in training (True, as fit does).

        Returns:
            The loss (weighted over the outputs by ``loss_weights``).
        """
        self._require_compiled("compute_gradients")
        xs, ys = self._check_xy(x, y)
        w = self._check_sample_weight(sample_weight, len(xs[0]))
        return self._gradients(xs, ys, w, training)[0]

    def _train_step(self, xs, ys, need_output: bool):
        loss, per, outs = self._gradients(xs, ys, None, True, need_output)
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
        for k, key, fn in self._metrics:  # resolved when the totals were made (_log_keys)
            value, count = fn(ys[k], outs[k])
            totals[key][0] += value
            totals[key][1] += count
        return {key: total / count for key, (total, count) in totals.items()}

    def _log_keys(self) -> list[str]:
        keys = ["loss"]
        if len(self._losses) > 1:
            keys += [f"{name}_loss" for name in self.output_names]
        return keys + [key for _, key, _ in self._resolved_metrics()]

    def train_on_batch(self, x: Any, y: Any) -> float | list[float]:
        """One gradient step on one batch; returns the loss (and metrics) on that batch."""
        self._require_compiled("train_on_batch")
        xs, ys = self._check_xy(x, y)
        loss, per, outs = self._train_step(xs, ys, True)
        totals = {key: [0.0, 0] for key in self._log_keys()}
        values = list(self._batch_logs(loss, per, outs, ys, totals, len(xs[0])).values())
        return values[0] if len(values) == 1 else values

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
        initial_epoch: int = 0,
    ) -> History:
        """Train for ``epochs`` passes over the data; returns a `History` (Keras's keys).

        Args:
            x: inputs, (samples, ...); a list (or dict by name) for several inputs. Integer and
                float64 data are cast to float32.
            y: targets: integer labels (n,) or (n, 1) for sparse cross-entropy, one-hot for
                categorical, values in [0, 1] for binary cross-entropy, anything for mse/mae;
                a list (or dict by output name) for several outputs.
            batch_size: samples per gradient step (default 32).
            epochs: number of passes.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch ("auto" = 1).
            callbacks: `Callback` objects (EarlyStopping, ModelCheckpoint, ...), or one.
            validation_split: fraction of the data, taken from the end before shuffling, held
                out for validation.
            validation_data: ``(x_val, y_val)``, used instead of validation_split.
            shuffle: reshuffle the training samples before each epoch.
            initial_epoch: epoch to start counting from (to resume training), an int >= 0.

        A loss that becomes NaN or infinite is named once, in a `DivergenceWarning`, and
        recorded in ``History.diverged_epoch``; training goes on, as in Keras, unless a
        `TerminateOnNaN` callback stops it (NumPy's own overflow warnings are silenced).

        Raises:
            ValueError: not compiled, bad shapes, labels or values (each message says the fix).
        """
        self._require_compiled("fit")
        batch_size = _check_batch_size(batch_size)
        check_positive(epochs, "epochs", integer=True, strict=False)
        check_positive(initial_epoch, "initial_epoch", integer=True, strict=False)
        callbacks = as_callbacks(callbacks)
        check_fraction(validation_split, "validation_split")
        verbose = _check_verbose(verbose)
        xs, ys = self._check_xy(x, y)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) < 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            val = self._check_xy(validation_data[0], validation_data[1], "val_")
        elif validation_split:
            # Keras's split: the first floor(n * (1 - split)) samples train, the rest validate
            n = len(xs[0])
            split_at = math.floor(n * (1.0 - validation_split))
            if split_at == 0 or split_at == n:
                raise ValueError(
                    f"validation_split={validation_split} leaves {split_at} training and "
                    f"{n - split_at} validation samples out of {n}. Use a split that "
                    "leaves both."
                )
            val = ([a[split_at:] for a in xs], [a[split_at:] for a in ys])
            xs, ys = [a[:split_at] for a in xs], [a[:split_at] for a in ys]
        self.history = History()
        cbs = [self.history, *callbacks]
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        callback_list = CallbackList(cbs, self)
        keys = self._log_keys()
        if val is not None:
            keys += ["val_" + key for key in keys]
        params = {
            "epochs": epochs,
            "steps": math.ceil(len(xs[0]) / batch_size),
            "verbose": verbose,
            "metrics": keys,  # the keys each epoch logs, so callbacks can check before training
        }
        callback_list.set_params(params)
        self.stop_training = False
        callback_list.on_train_begin()
        # a diverging run is named once by History's DivergenceWarning, not by NumPy's
        # overflow warnings at every step
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(initial_epoch, epochs):
                callback_list.on_epoch_begin(epoch)
                logs = self._run_epoch(xs, ys, batch_size, shuffle, callback_list)
                if val is not None:
                    val_logs = self._evaluate_arrays(val[0], val[1], batch_size)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                callback_list.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        callback_list.on_train_end()
        return self.history

    def _run_epoch(self, xs, ys, batch_size, shuffle, callback_list) -> dict[str, float]:
        n = len(xs[0])
        order = self.rng.permutation(n) if shuffle else None
        need_output = bool(self._resolved_metrics())
        totals = {key: [0.0, 0] for key in self._log_keys()}
        leaves = self._leaves()
        single = len(xs) == 1 and len(ys) == 1
        # shuffled batches are gathered into reused arrays, not a fresh allocation per step
        # (safe: the layers read their cached inputs only within the step)
        buffers = (
            None if order is None else [np.empty((batch_size, *a.shape[1:]), a.dtype) for a in xs]
        )
        logs: dict[str, float] = {}
        for step, start in enumerate(range(0, n, batch_size)):
            if order is None:
                xb = [a[start : start + batch_size] for a in xs]
                yb = [a[start : start + batch_size] for a in ys]
            elif single:  # one input, one output: no per-batch list building
                idx = order[start : start + batch_size]
                full = len(idx) == batch_size
                x0 = xs[0]
                xb = [np.take(x0, idx, axis=0, out=buffers[0], mode="clip") if full else x0[idx]]
                yb = [ys[0][idx]]
            else:
                idx = order[start : start + batch_size]
                full = len(idx) == batch_size
                # mode="clip": the indices are a permutation, always in range; the default
                # mode="raise" buffers the output against a bad index (42 -> 31 us a batch)
                xb = [
                    np.take(a, idx, axis=0, out=buf, mode="clip") if full else a[idx]
                    for a, buf in zip(xs, buffers, strict=True)
                ]
                yb = [a[idx] for a in ys]
            loss, per, outs = self._gradients(xb, yb, None, True, need_output)
            self.optimizer.step(leaves)
            logs = self._batch_logs(loss, per, outs, yb, totals, len(xb[0]))
            callback_list.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        return logs

    # ---------------------------------------------------------- evaluate / predict
    def _evaluate_arrays(self, xs, ys, batch_size) -> dict[str, float]:
        fused = self._fused_outputs()
        totals = {key: [0.0, 0] for key in self._log_keys()}
        logs: dict[str, float] = {}
        for start in range(0, len(xs[0]), batch_size):
            xb = [a[start : start + batch_size] for a in xs]
            yb = [a[start : start + batch_size] for a in ys]
            outs = self.graph.forward(xb, False)
            # fused outputs: the loss from the logits their layers cached (stable on huge ones)
            scored = _logits(self, outs, fused) if fused else outs
            loss, per, _ = self._losses_of(scored, yb, fused, None, False)
            logs = self._batch_logs(loss, per, outs, yb, totals, len(xb[0]))
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``(x, y)``: a scalar if no metrics, else ``[loss, *metrics]``."""
        self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        xs, ys = self._check_xy(x, y)
        logs = self._evaluate_arrays(xs, ys, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0) -> Any:
        """The model's outputs for ``x``, computed in batches (inference mode); a list of
        arrays for several outputs."""
        batch_size = _check_batch_size(batch_size)
        _check_verbose(verbose)
        xs = self._check_x(x)
        forward = self.graph.forward
        if len(xs) == 1:  # one input: slice it directly (the per-batch cost counts here)
            x0 = xs[0]
            batches = [
                forward([x0[s : s + batch_size]], False) for s in range(0, len(x0), batch_size)
            ]
        else:
            batches = [
                forward([a[s : s + batch_size] for a in xs], False)
                for s in range(0, len(xs[0]), batch_size)
            ]
        if len(batches) == 1:
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
            elif layer.trainable:
                total += sum(p.size for p in layer.params.values())
        return total

    def _summary_rows(self) -> list[tuple[str, ...]]:
        """(layer (type), output shape, params, connected to) for every layer, as Keras lists
        them for a functional model."""
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
    def _check_saveable(self, what: str) -> None:
        if any(isinstance(layer, Model) for layer in self.layers):
            raise NotImplementedError(
                f"{what} of a model that contains another model is not supported yet: its "
                "weights would be left out. Save the inner model on its own."
            )

    def save(self, filepath: str) -> None:
        """Save architecture, weights and compile settings to one data-only file, atomically:
        Keras 3's format for ``*.keras``, engram's own (safetensors) otherwise."""
        from engram.nn.saving import save_model

        if type(self) is Model:
            raise NotImplementedError(
                "save() of a functional Model (its graph) is not supported yet; save_weights() "
                "works, or build the model as a Sequential."
            )
        self._check_saveable("save()")
        save_model(self, filepath)

    def save_weights(self, filepath: str) -> None:
        from engram.nn.saving import save_weights

        self._check_saveable("save_weights()")
        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from engram.nn.saving import load_weights

        self._check_saveable("load_weights()")
        load_weights(self, filepath)


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
