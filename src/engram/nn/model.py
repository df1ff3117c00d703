"""Sequential: a stack of layers with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

The training step, written out:

    forward:   a_0 = x;  a_l = layer_l.forward(a_{l-1})         for l = 1..L
    loss:      L, g = loss.forward(a_L, y)                      g = dL/da_L
               (softmax or sigmoid + cross-entropy: L, g = loss.forward_logits(z_L, y), g = dL/dz_L,
                the fused, stable gradient)
    backward:  g = layer_l.backward(g)                          for l = L..k, fills layer.grads
               (k: the first layer with trainable weights; nothing below it learns, and its
                own input gradient is skipped: layer_k.needs_input_grad is False meanwhile)
    update:    optimizer.step(layers)                           params -= f(grads)

Inputs are checked once, at the boundary (``fit``/``evaluate``/``predict``), and cast to float32;
nothing inside the loop re-checks them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from engram.nn import losses as losses_module
from engram.nn import metrics as metrics_module
from engram.nn import optimizers as optimizers_module
from engram.nn.callbacks import Callback, CallbackList, History, ProgbarLogger
from engram.nn.layers.base import Layer, layers, shape_str
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


def set_random_seed(seed: int | None) -> None:
    """Keras's ``utils.set_random_seed``: models created afterwards with ``seed=None`` use it.

    engram never touches NumPy's global random state; this only sets the default seed of new
    `Sequential` models (each model still owns its own generator).
    """
    as_rng(seed)  # validates
    _default_seed[0] = seed


class Sequential:
    """A linear stack of layers.

    Args:
        layers: the layers, first to last (or add them with `add`).
        name: the model's name.
        seed: seeds weight initialization, shuffling and dropout; same seed, same result, bit
            for bit. None uses `set_random_seed`'s value if set, else fresh entropy.

    Example:
        >>> model = Sequential([Dense(16, activation="relu", input_shape=(2,)),
        ...                     Dense(1, activation="sigmoid")], seed=0)
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(x, y, epochs=10, verbose=0)   # doctest: +SKIP
    """

    def __init__(
        self, layers: Iterable[Layer] | None = None, name: str = "sequential", seed: Any = None
    ) -> None:
        self.name = name
        self.seed = seed if seed is not None else _default_seed[0]
        self.rng = as_rng(self.seed)
        self.layers: list[Layer] = []
        self.built = False
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss: losses_module.Loss | None = None
        self.metric_names: list[Any] = []
        self.stop_training = False
        self.history: History | None = None
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- structure
    def add(self, layer: Layer) -> None:
        """Append a layer (built when the model is)."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a Layer instance such as Dense(10). Got "
                f"{type(layer).__name__} instead."
                + (" Call the class: Dense(10), not Dense." if isinstance(layer, type) else "")
            )
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"Layer names must be unique; {layer.name!r} is already used.")
        self.layers.append(layer)
        if self.built:
            layer.build(self.layers[-2].output_shape, self.rng)
        elif self.layers[0].declared_input_shape is not None:
            self.build()

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        return None if not self.built else (None, *self.layers[0].input_shape)

    @property
    def output_shape(self) -> tuple[int | None, ...] | None:
        return None if not self.built else (None, *self.layers[-1].output_shape)

    def build(self, input_shape: tuple[int | None, ...] | None = None) -> None:
        """Create every layer's weights. ``input_shape`` includes the batch axis (Keras)."""
        if not self.layers:
            raise ValueError("The model has no layers. Add some with model.add(Dense(...)).")
        if input_shape is None:
            shape = self.layers[0].declared_input_shape
            if shape is None:
                raise ValueError(
                    "The model does not know its input shape yet. Pass input_shape=... to the "
                    "first layer, call model.build((None, features)), or call fit/predict."
                )
        else:
            shape = tuple(input_shape)[1:]
        for layer in self.layers:
            if not layer.built:
                layer.build(tuple(shape), self.rng)
            shape = layer.output_shape
        self.built = True

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.layers[0].dtype) if self.layers else np.dtype(np.float32)

    # ----------------------------------------------------------------- compile
    def compile(
        self, optimizer: Any = "rmsprop", loss: Any = None, metrics: list[Any] | None = None
    ) -> None:
        """Choose the optimizer, the loss and the metrics (names or objects).

        Raises:
            ValueError: an unknown name (with close matches) or a missing loss.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'.")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metric_names = list(metrics or [])
        for name in self.metric_names:
            if isinstance(name, str) and name.lower() not in ("accuracy", "acc"):
                metrics_module.metrics.get(name)
        self._metrics: list[tuple[str, Callable]] | None = None

    def _require_compiled(self, method: str) -> None:
        if self.loss is None or self.optimizer is None:
            raise ValueError(
                f"The model must be compiled before {method}(). Call "
                "model.compile(optimizer='adam', loss=...) first."
            )

    def _resolved_metrics(self) -> list[tuple[str, Callable]]:
        if self._metrics is None:
            self._metrics = [
                metrics_module.resolve(m, self.loss.name, self.output_shape)
                for m in self.metric_names
            ]
        return self._metrics

    def _fused(self) -> bool:
        """Whether the last activation and the loss combine into the stable logits path."""
        last = self.layers[-1]
        activation = getattr(last, "activation", None)
        return (
            self.loss.fuses_with is not None
            and not self.loss.from_logits
            and activation is not None
            and activation.name == self.loss.fuses_with
            and getattr(activation, "axis", -1) == -1
            and hasattr(last, "backward_from_logits")
        )

    # -------------------------------------------------------------- input checks
    def _check_x(self, x: Any, name: str = "x") -> np.ndarray:
        if x is None:
            raise ValueError(f"{name} is required: pass the input data as an array.")
        x = check_array(x, name, dtype=self.dtype)
        if not self.built:
            if x.ndim == 1:
                x = x[:, None]
            self.build((None, *x.shape[1:]))
        expected = self.layers[0].input_shape
        if x.ndim == 1 and expected == (1,):
            x = x[:, None]
        if not shape_fits(x.shape[1:], expected):
            first = self.layers[0]
            first.check_input(x.shape)
            raise ValueError(
                f"{name} has shape {x.shape}, but the model expects inputs of shape "
                f"{shape_str((None, *expected))}."
            )
        return x

    def _check_xy(self, x: Any, y: Any, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, prefix + "x")
        if y is None:
            raise ValueError(f"{prefix}y is required: pass the targets for {prefix}x.")
        y_arr = check_array(y, prefix + "y", dtype=None)
        check_same_length(x, y_arr, prefix + "x", prefix + "y")
        return x, self.loss.prepare_targets(y_arr, self.output_shape, prefix + "y")

    # --------------------------------------------------------------- one step
    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def _loss_and_grad(self, out: np.ndarray, y: np.ndarray, fused: bool):
        if fused:
            return self.loss.forward_logits(self.layers[-1].z, y)
        return self.loss.forward(out, y)

    def _train_step(
        self, x: np.ndarray, y: np.ndarray, fused: bool, need_output: bool = True
    ) -> tuple[float, np.ndarray | None]:
        layers_ = self.layers
        if fused:
            # the loss takes the logits and applies softmax/sigmoid itself, so the last
            # layer's activation runs only when something (a metric) reads the output
            for layer in layers_[:-1]:
                x = layer.forward(x, True)
            logits = layers_[-1].forward_logits(x)
            loss, grad = self.loss.forward_logits(logits, y)
            out = layers_[-1].activation.forward(logits) if need_output else None
        else:
            out = self._forward(x, True)
            loss, grad = self.loss.forward(out, y)
        last = len(layers_) - 1
        # Backpropagate only down to the first layer with trainable weights: the layers below
        # it have nothing to learn, and nobody reads its gradient with respect to its input.
        stop = next(
            (i for i, layer in enumerate(layers_) if layer.trainable and layer.params), None
        )
        if stop is not None:
            first = layers_[stop]
            before = first.needs_input_grad
            first.needs_input_grad = False
            try:
                for i in range(last, stop - 1, -1):
                    if i == last and fused:
                        grad = layers_[i].backward_from_logits(grad)
                    else:
                        grad = layers_[i].backward(grad)
            finally:
                first.needs_input_grad = before
        self.optimizer.step(layers_)
        return loss, out

    def train_on_batch(self, x: Any, y: Any) -> float | list[float]:
        """One gradient step on one batch; returns the loss (and metrics) on that batch."""
        self._require_compiled("train_on_batch")
        x, y = self._check_xy(x, y)
        loss, out = self._train_step(x, y, self._fused())
        values = [loss]
        for _, fn in self._resolved_metrics():
            total, count = fn(y, out)
            values.append(total / count)
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
            x: inputs, (samples, ...). Integer and float64 data are cast to float32.
            y: targets: integer labels (n,) or (n, 1) for sparse cross-entropy, one-hot for
                categorical, values in [0, 1] for binary cross-entropy, anything for mse/mae.
            batch_size: samples per gradient step (default 32).
            epochs: number of passes.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch ("auto" = 1).
            callbacks: `Callback` objects (EarlyStopping, ModelCheckpoint, ...).
            validation_split: fraction of the data, taken from the end before shuffling, held
                out for validation.
            validation_data: ``(x_val, y_val)``, used instead of validation_split.
            shuffle: reshuffle the training samples before each epoch.
            initial_epoch: epoch to start counting from (to resume training).

        Raises:
            ValueError: not compiled, bad shapes, labels or values (each message says the fix).
        """
        self._require_compiled("fit")
        batch_size = (
            32 if batch_size is None else check_positive(batch_size, "batch_size", integer=True)
        )
        check_positive(epochs, "epochs", integer=True, strict=False)
        check_fraction(validation_split, "validation_split")
        verbose = _check_verbose(verbose)
        x, y = self._check_xy(x, y)
        x_val = y_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) < 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            x_val, y_val = self._check_xy(validation_data[0], validation_data[1], "val_")
        elif validation_split:
            # Keras's split: the first floor(n * (1 - split)) samples train, the rest validate
            split_at = math.floor(len(x) * (1.0 - validation_split))
            if split_at == 0 or split_at == len(x):
                raise ValueError(
                    f"validation_split={validation_split} leaves {split_at} training and "
                    f"{len(x) - split_at} validation samples out of {len(x)}. Use a split that "
                    "leaves both."
                )
            x, x_val = x[:split_at], x[split_at:]
            y, y_val = y[:split_at], y[split_at:]
        self.history = History()
        cbs = [self.history, *(callbacks or [])]
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        callback_list = CallbackList(cbs, self)
        keys = ["loss", *(key for key, _ in self._resolved_metrics())]
        if x_val is not None:
            keys += ["val_" + key for key in keys]
        params = {
            "epochs": epochs,
            "steps": math.ceil(len(x) / batch_size),
            "verbose": verbose,
            "metrics": keys,  # the keys each epoch logs, so callbacks can check before training
        }
        callback_list.set_params(params)
        self.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            logs = self._run_epoch(x, y, batch_size, shuffle, callback_list)
            if x_val is not None:
                val = self._evaluate_arrays(x_val, y_val, batch_size)
                logs.update({"val_" + k: v for k, v in val.items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return self.history

    def _run_epoch(self, x, y, batch_size, shuffle, callback_list) -> dict[str, float]:
        n = len(x)
        order = self.rng.permutation(n) if shuffle else None
        fused = self._fused()
        metric_fns = self._resolved_metrics()
        loss_total, seen = 0.0, 0
        totals = [[0.0, 0] for _ in metric_fns]
        # shuffled batches are gathered into one reused array, not a fresh allocation per step
        # (safe: the layers read their cached inputs only within the step)
        x_batch = None if order is None else np.empty((batch_size, *x.shape[1:]), x.dtype)
        for step, start in enumerate(range(0, n, batch_size)):
            if order is None:
                xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                full = len(idx) == batch_size
                # mode="clip": the indices are a permutation, always in range; the default
                # mode="raise" buffers the output against a bad index (42 -> 31 us a batch)
                xb = np.take(x, idx, axis=0, out=x_batch, mode="clip") if full else x[idx]
                yb = y[idx]
            loss, out = self._train_step(xb, yb, fused, need_output=bool(metric_fns))
            loss_total += loss * len(xb)
            seen += len(xb)
            logs = {"loss": loss_total / seen}
            for (key, fn), total in zip(metric_fns, totals, strict=True):
                value, count = fn(yb, out)
                total[0] += value
                total[1] += count
                logs[key] = total[0] / total[1]
            callback_list.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        return logs

    # ---------------------------------------------------------- evaluate / predict
    def _evaluate_arrays(self, x, y, batch_size) -> dict[str, float]:
        fused = self._fused()
        metric_fns = self._resolved_metrics()
        loss_total = 0.0
        totals = [[0.0, 0] for _ in metric_fns]
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = self._forward(xb, False)
            loss, _ = self._loss_and_grad(out, yb, fused)
            loss_total += loss * len(xb)
            for (_, fn), total in zip(metric_fns, totals, strict=True):
                value, count = fn(yb, out)
                total[0] += value
                total[1] += count
        logs = {"loss": loss_total / len(x)}
        for (key, _), total in zip(metric_fns, totals, strict=True):
            logs[key] = total[0] / total[1]
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
        batch_size = (
            32 if batch_size is None else check_positive(batch_size, "batch_size", integer=True)
        )
        verbose = _check_verbose(verbose)
        x, y = self._check_xy(x, y)
        logs = self._evaluate_arrays(x, y, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0) -> np.ndarray:
        """The model's outputs for ``x``, computed in batches (inference mode)."""
        batch_size = (
            32 if batch_size is None else check_positive(batch_size, "batch_size", integer=True)
        )
        x = self._check_x(x)
        outs = [self._forward(x[s : s + batch_size], False) for s in range(0, len(x), batch_size)]
        return outs[0].copy() if len(outs) == 1 else np.concatenate(outs, axis=0)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        return self._forward(self._check_x(x), training)

    # ---------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """All weights, layer by layer, in Keras's order and shapes."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set all weights from a list in `get_weights`'s order."""
        if not self.built:
            self.build()
        expected = sum(len(layer.get_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(
                f"set_weights expects {expected} arrays (get_weights()'s order), but received "
                f"{len(weights)}."
            )
        i = 0
        for layer in self.layers:
            n = len(layer.get_weights())
            layer.set_weights(list(weights[i : i + n]))
            i += n

    def count_params(self) -> int:
        if not self.built:
            raise ValueError("count_params() needs a built model: pass input_shape or call build.")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does."""
        if not self.built:
            raise ValueError("summary() needs a built model: pass input_shape or call build.")
        rows = [
            (
                f"{layer.name} ({type(layer).__name__})",
                shape_str((None, *layer.output_shape)),
                f"{layer.count_params():,}",
            )
            for layer in self.layers
            if type(layer).__name__ != "InputLayer"  # Keras lists no input layer
        ]
        widths = [
            max(len(h), *(len(r[i]) for r in rows))
            for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))
        ]
        line = "-" * (sum(widths) + 6)
        fmt = f"{{:<{widths[0]}}}   {{:<{widths[1]}}}   {{:>{widths[2]}}}"
        total = self.count_params()
        # only `params` are trained; state arrays (BatchNormalization's moving statistics) are not
        trainable = sum(
            sum(p.size for p in layer.params.values()) for layer in self.layers if layer.trainable
        )
        out = [
            f'Model: "{self.name}"',
            line,
            fmt.format("Layer (type)", "Output Shape", "Param #"),
            "=" * len(line),
            *(fmt.format(*r) for r in rows),
            "=" * len(line),
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            line,
        ]
        for text in out:
            print_fn(text)

    # ------------------------------------------------------------ config / files
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed if isinstance(self.seed, int) else None,
            "layers": [
                {"class_name": layers.name_of(layer), "config": layer.get_config()}
                for layer in self.layers
            ],
            "input_shape": None if not self.built else list(self.layers[0].input_shape),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        model = cls(name=config.get("name", "sequential"), seed=config.get("seed"))
        for entry in config["layers"]:
            model.add(layers.get(entry["class_name"]).from_config(entry["config"]))
        if config.get("input_shape") is not None and not model.built:
            model.build((None, *config["input_shape"]))
        return model

    def save(self, filepath: str) -> None:
        """Save architecture, weights and compile settings to one data-only file, atomically:
        Keras 3's format for ``*.keras``, engram's own (safetensors) otherwise."""
        from engram.nn.saving import save_model

        save_model(self, filepath)

    def save_weights(self, filepath: str) -> None:
        from engram.nn.saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from engram.nn.saving import load_weights

        load_weights(self, filepath)
