"""Model: a graph of layer calls with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

A model is a `Graph` of layer calls (`Sequential` is the graph of one chain) and, like Keras's,
it is put together from parts, each in its own module:

- this module: the structure (inputs, outputs, layers, weights, summary, files), and a model
  used as a layer inside another;
- `engram.nn.compile_utils.Compiled`: ``compile`` and the one gradient step
  (`compute_gradients`: forward, loss, backward), with the step written out;
- `engram.nn.trainer.Trainer`: ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` loops;
- `engram.nn.input_checks.InputChecks`: the arrays checked once, at the API boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engram.nn import losses as losses_module
from engram.nn import optimizers as optimizers_module
from engram.nn.callbacks import History
from engram.nn.compile_utils import Compiled
from engram.nn.graph import Graph, SymbolicTensor, call_layer, is_symbolic
from engram.nn.input_checks import InputChecks
from engram.nn.layers.base import Layer, register_layer, shape_str, weight_list
from engram.nn.subclassing import (
    add_loss as subclass_add_loss,
)
from engram.nn.subclassing import (
    check_model_kwargs,
    subclass_init,
    summary_rows,
    trace_for_shape,
    track_attribute,
    tracked_layers,
)
from engram.nn.trainer import Trainer
from engram.validation import as_rng, shape_fits

_default_seed: list[int | None] = [None]


def set_random_seed(seed: int | None) -> None:
    """Keras's ``utils.set_random_seed``: models created afterwards with ``seed=None`` use it.

    engram never touches NumPy's global random state; this sets the default seed of new
    models (each model still owns its own generator) and seeds the generator that
    `engram.nn.random` draws from with ``seed=None``.
    """
    from engram.nn import random

    as_rng(seed)  # validates
    _default_seed[0] = seed
    random.reset_global(seed)


@register_layer
class Model(Trainer, Compiled, InputChecks, Layer):
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

    def add_loss(self, loss: Any) -> None:
        """Keras's ``add_loss``: in a subclassed model's ``call``, a value made with ops from
        the call's tensors (a KL term) is added to the loss at every pass, its gradient flowing
        back through the ops (`engram.nn.subclassing.add_loss`)."""
        if not subclass_add_loss(self, loss):
            super().add_loss(loss)

    def _is_subclassed(self) -> bool:
        return _subclassed(self)

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
        self._input_dict: list[str] | None = None  # the keys of a dict of inputs (sorted)
        self._output_dict: list[str] | None = None  # the keys of a dict of outputs (sorted)

    # ---------------------------------------------------------------- structure
    def _set_graph(self, inputs: Any, outputs: Any) -> None:
        inputs, self._input_dict = _flatten_dict(inputs, "inputs")
        outputs, self._output_dict = _flatten_dict(outputs, "outputs")
        # a dict of one Input is one input, as in Keras: input_shape (None, ...), and an
        # array or a tensor is taken for it (Sequential([dict_model, ...]) chains it)
        self._multi_input = isinstance(inputs, (list, tuple)) and not (
            self._input_dict and len(inputs) == 1
        )
        self._multi_output = isinstance(outputs, (list, tuple))
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
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
    def _output_keys(self) -> list[str]:
        """The names that per-output arguments (``loss={...}``), targets, History keys and
        `predict`'s dict use: the keys of a dict of outputs, as Keras, else `output_names`."""
        return self.__dict__.get("_output_dict") or self.output_names

    @property
    def _input_keys(self) -> list[str]:
        """The keys of ``x`` as a dict: those of a dict of inputs, else the Inputs' names."""
        return self.__dict__.get("_input_dict") or self.input_names

    def _structured(self, outs: list[Any]) -> Any:
        """Outputs as the model declared them: a dict (sorted keys), a list, or one array."""
        if self.__dict__.get("_output_dict"):
            return dict(zip(self._output_dict, outs, strict=True))
        return outs if self._multi_output else outs[0]

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
        if self.graph is None:
            return []
        # ops calls are nodes of the graph (and rows of the summary) but no layers, as in Keras
        return [layer for layer in self.graph.keras_layers if not layer.is_op_call]

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
        if is_symbolic(x) or isinstance(x, dict) and any(map(is_symbolic, x.values())):
            if not self.built and _subclassed(self):
                trace_for_shape(self, _symbolic_shapes(x))
            if self._input_dict or isinstance(x, dict):
                x = self._symbolic_dict(x)
            out = call_layer(self, x)
            return dict(zip(self._output_dict, out, strict=True)) if self._output_dict else out
        xs = self._check_x(x)
        return self._structured(self.graph.forward(xs, training))

    def _symbolic_dict(self, x: Any) -> list[SymbolicTensor]:
        """A dict of symbolic inputs as the list this model's graph takes (sorted keys)."""
        keys = self._input_dict
        if keys and len(keys) == 1 and not isinstance(x, dict):
            return x  # Keras takes a tensor for a dict of one input
        if not keys or not isinstance(x, dict):
            takes = f"a dict keyed by {keys}" if keys else "a tensor or a list of tensors"
            raise TypeError(
                f"Model {self.name!r} takes {takes}; it was called on a {type(x).__name__}."
            )
        if sorted(x) != keys:
            raise ValueError(
                f"Model {self.name!r} takes a dict keyed by {keys}; it was called on one keyed "
                f"by {sorted(map(str, x))}."
            )
        return [x[k] for k in keys] if self._multi_input else x[keys[0]]

    def astype(self, dtype: Any) -> Model:
        for layer in self._leaves():
            layer.astype(dtype)
        return self

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

    def _trainable_arrays(self) -> list[np.ndarray]:
        # only `params` are trained; state arrays (BatchNormalization's moving statistics) are not
        arrays: list[np.ndarray] = []
        for layer in self.layers:
            if isinstance(layer, Model):
                arrays += layer._trainable_arrays() if layer.trainable else []
            elif layer.built:  # a custom layer holds layers too: each counts if trainable
                leaves = [leaf for leaf in layer._leaves() if leaf.trainable]
                arrays += [p for leaf in leaves for p in leaf.params.values()]
        return arrays

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
        for layer in self.graph.keras_layers:
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
        """Print a table of layers, output shapes and parameter counts, as Keras does.

        The table is plain text (Keras draws its borders with box characters); its rows hold
        Keras's cells, and the lines under it are Keras's word for word: total, trainable and
        non-trainable parameters with their bytes, and, once the optimizer has made its first
        update (when Keras builds its optimizer), "Optimizer params" (its slots, step count and
        learning rate), which the total includes as in Keras. A Sequential model that is not
        built yet lists its layers with output shape ``?`` and ``0 (unbuilt)`` parameters where
        a layer has no weights yet (a layer built on its own, such as an adapted Normalization,
        shows its weights and its output shape with batch axis None, where Keras shows the
        batch of the adapted data). A subclassed model before its first call lists the layers
        assigned to it likewise, with zero parameters in total, as Keras prints it.
        """
        rows = self._summary_rows()
        headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        headers = headers[: len(rows[0]) if rows else 3]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        line = "-" * (sum(widths) + 3 * (len(widths) - 1))
        aligns = ["<", "<", ">", "<"][: len(widths)]
        fmt = "   ".join(f"{{:{a}{w}}}" for a, w in zip(aligns, widths, strict=True))
        weights = [w for layer in self.layers if layer.built for w in layer.get_weights()]
        trainable = self._trainable_arrays()
        counts = {
            "Trainable": (sum(w.size for w in trainable), sum(w.nbytes for w in trainable)),
            "Non-trainable": (
                sum(w.size for w in weights) - sum(w.size for w in trainable),
                sum(w.nbytes for w in weights) - sum(w.nbytes for w in trainable),
            ),
        }
        optimizer = self.optimizer.variable_size() if self.optimizer is not None else None
        if optimizer is not None:
            counts["Optimizer"] = optimizer
        total = (sum(n for n, _ in counts.values()), sum(b for _, b in counts.values()))
        out = [
            f'Model: "{self.name}"',
            line,
            fmt.format(*headers),
            "=" * len(line),
            *(fmt.format(*r).rstrip() for r in rows),
            "=" * len(line),
            *(
                f" {label} params: {n:,} ({readable_size(nbytes)})"
                for label, (n, nbytes) in {"Total": total, **counts}.items()
            ),
        ]
        for text in out:
            print_fn(text)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """Keras's ``get_config()`` of a functional model: its layers and wiring as Keras's
        ``config.json`` holds them (data only; a dict of inputs or outputs as ``{key: [layer,
        node, tensor]}``, keys sorted); `from_config` builds the model again, and Keras's
        ``Model.from_config`` reads it too."""
        if _subclassed(self):
            raise NotImplementedError(
                f"get_config() of a subclassed model ({type(self).__name__}: its architecture "
                "is Python code) is not supported; build it as a functional model to get one."
            )
        from engram.nn.saving.architecture import model_config

        self._refuse_unsaveable("get_config()")  # ops calls and custom layers are code
        return model_config(self)

    def to_json(self, **kwargs: Any) -> str:
        """Keras's ``to_json()``: the architecture and compile settings as JSON (no weights);
        `engram.nn.models.model_from_json` and Keras's read it. ``kwargs`` go to json.dumps."""
        from engram.nn.saving.architecture import model_json

        self.get_config()  # the same refusals (a subclassed model, dict inputs, ops calls)
        return model_json(self, **kwargs)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Model:
        """A new functional model (fresh weights) from `get_config()`'s or Keras's config,
        through the .keras reader's checks: only allowlisted layers, every reference checked
        before anything is built; nothing in it names code that is run."""
        from engram.nn.saving.architecture import model_from_config

        _refuse_custom_objects(custom_objects)
        return model_from_config(config, "Functional")

    # ------------------------------------------------------------------ files
    def _refuse_unsaveable(self, what: str, weights_only: bool = False) -> None:
        """Files hold data, never code: a model with a custom layer, or an ops call in a file
        with the architecture, is refused by name (ops hold no weights: weights files take
        them, as Keras's do)."""
        if not weights_only:
            _refuse_op_calls(self, what)
        leaves = self._leaves()
        custom = [type(x).__name__ for x in leaves if x.runs_call and not x.is_op_call]
        if custom:
            raise NotImplementedError(
                f"{what} of a model with the custom layer {custom[0]} is not supported: a "
                "custom layer is Python code, and engram never imports or runs code from a file "
                "(its weights files do not hold such layers yet either). Keep the weights with "
                "model.get_weights() and set_weights() in Python."
            )

    def save(self, filepath: str) -> None:
        """Save architecture, weights and compile settings to one data-only file, atomically:
        Keras 3's format for ``*.keras``, engram's own (safetensors) otherwise."""
        from engram.nn.saving import save_model

        self._refuse_unsaveable("save()")
        if _subclassed(self):
            raise NotImplementedError(
                f"save() of a subclassed model ({type(self).__name__}: its architecture is "
                "Python code) is not supported; save_weights() works, then create the model "
                "again and load_weights()."
            )
        save_model(self, filepath)

    def save_weights(self, filepath: str) -> None:
        from engram.nn.saving import save_weights

        self._refuse_unsaveable("save_weights()", weights_only=True)
        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from engram.nn.saving import load_weights

        self._refuse_unsaveable("load_weights()", weights_only=True)
        load_weights(self, filepath)


def _subclassed(model: Model) -> bool:
    """Whether ``model`` is a subclass that writes its own ``call`` (Keras's subclassing)."""
    return type(model).call is not Model.call


def _refuse_op_calls(model: Model, what: str) -> None:
    """A graph with `engram.nn.ops` calls holds Python functions, which no config names."""
    ops_calls = [layer for layer in model._leaves() if layer.is_op_call]
    if ops_calls:
        op = ops_calls[0]
        call = f"ops.{op.fn.__name__}" if hasattr(op, "fn") else "self.add_loss"
        raise NotImplementedError(
            f"{what} of a model whose graph calls engram.nn.ops (here {call} as "
            f"{op.name!r}) is not supported: an op in a graph is Python code, and "
            "a file or config never names code to run. Write that step as a built-in layer "
            "(layers.Activation, layers.Add, ...), or keep the weights with save_weights()."
        )


def _refuse_custom_objects(custom_objects: Any) -> None:
    if custom_objects:
        raise NotImplementedError(
            "from_config(custom_objects=...) is not supported: engram builds only the layers it "
            "has, and a config never names code to import. Received: "
            f"{sorted(map(str, custom_objects))}."
        )


def _flatten_dict(tensors: Any, what: str) -> tuple[Any, list[str] | None]:
    """A dict of tensors as Keras flattens it: a list in sorted key order, and the keys."""
    if not isinstance(tensors, dict):
        return tensors, None
    keys = sorted(tensors)
    bad = [k for k in keys if not isinstance(k, str)]
    if bad:
        raise TypeError(f"Model({what}=dict): the keys must be strings. Received: {bad!r}.")
    if what == "inputs":
        first: dict[int, str] = {}
        for key in keys:
            other = first.setdefault(id(tensors[key]), key)
            if other != key:
                raise ValueError(
                    f"Model(inputs=dict): the keys {other!r} and {key!r} both hold the Input "
                    f"{getattr(tensors[key], 'name', '?')!r}, so one key's data would be ignored "
                    "(Keras 3.15.1 builds such a model, warns, and reads only the last key). "
                    "Give each key its own Input(..., name=key)."
                )
    return [tensors[k] for k in keys], keys


def _symbolic_shapes(x: Any) -> Any:
    return [t.shape for t in x] if isinstance(x, (list, tuple)) else x.shape


def readable_size(nbytes: float) -> str:
    """Bytes as Keras's summary writes them: "84.00 B", "1.50 KB", ... (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def type_name(layer: Layer) -> str:
    """The type Keras's summary shows: a functional model's class is called Functional."""
    return "Functional" if type(layer) is Model else type(layer).__name__
