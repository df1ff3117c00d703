"""Sequential: the model whose graph is one chain of layers, built as layers are added.

It is a `Model` (same training step, same executor): ``build`` records the chain
``Input -> layer_1 -> ... -> layer_L`` as a graph once the input shape is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engram.nn.graph import Graph, SymbolicTensor, call_layer, input_tensor
from engram.nn.layers.base import Layer, layers, register_layer, shape_str
from engram.nn.layers.reshape import InputLayer
from engram.nn.model import Model, type_name


def _sample_shape(layer: Layer) -> tuple[int, ...]:
    """The shape of one output sample of a built layer or model (no batch axis)."""
    if isinstance(layer, Model):
        return tuple(layer.output_shape[1:])
    return tuple(layer.output_shape)


@register_layer
class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: the layers, first to last (or add them with `add`); the first may be an
            ``Input(shape=...)``.
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
        self, layers: Iterable[Any] | None = None, name: str = "sequential", seed: Any = None
    ) -> None:
        self._init_model(name, seed)
        self._layers: list[Layer] = []
        self._multi_input = self._multi_output = False
        self.input_names, self.output_names = ["input"], ["output"]
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- structure
    def add(self, layer: Any) -> None:
        """Append a layer (built when the model is); ``Input(shape=...)`` declares the shape."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a Layer instance such as Dense(10). Got "
                f"{type(layer).__name__} instead."
                + (" Call the class: Dense(10), not Dense." if isinstance(layer, type) else "")
            )
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Layer names must be unique; {layer.name!r} is already used.")
        self._layers.append(layer)
        if self.built:
            self._build_layer(layer, _sample_shape(self._layers[-2]))
            self._chain()
        elif self._declared_shape() is not None:
            self.build()

    @property
    def layers(self) -> list[Layer]:
        """The layers, in the order they were added, without an ``Input(...)`` given first:
        Keras's ``Sequential.layers`` leaves its InputLayer out, so ``model.layers[0]`` is the
        first layer that computes something (the transfer-learning line
        ``model.layers[0].trainable = False`` freezes it, as in Keras)."""
        if self._layers and isinstance(self._layers[0], InputLayer):
            return self._layers[1:]
        return list(self._layers)

    def graph_layers(self) -> list[Layer]:
        return self._layers

    def _declared_shape(self) -> tuple[int, ...] | None:
        first = self._layers[0]
        if isinstance(first, Model):
            return None if not first.built else tuple(first.input_shape[1:])
        return first.declared_input_shape

    def build(self, input_shape: Any = None, rng: Any = None) -> None:
        """Create every layer's weights. ``input_shape`` includes the batch axis (Keras)."""
        if not self._layers:
            raise ValueError("The model has no layers. Add some with model.add(Dense(...)).")
        if input_shape is None:
            shape = self._declared_shape()
            if shape is None:
                raise ValueError(
                    "The model does not know its input shape yet. Pass input_shape=... to the "
                    "first layer, call model.build((None, features)), or call fit/predict."
                )
        else:
            shape = tuple(input_shape)[1:]
        self._input_shape = tuple(shape)
        for layer in self._layers:
            self._build_layer(layer, shape)
            shape = _sample_shape(layer)
        self._chain()

    def compute_output_shape(self, input_shape: Any) -> tuple[int, ...]:
        """Called on a symbolic tensor inside a functional model: build for its shape."""
        if not self.built:
            self.build((None, *input_shape))
        return tuple(self.graph.outputs[0].shape[1:])

    def _build_layer(self, layer: Layer, shape: tuple[int, ...]) -> None:
        if isinstance(layer, Model):
            layer.build((None, *shape))
        elif not layer.built:
            layer.build(tuple(shape), self.rng)

    def _chain(self) -> None:
        """Record the chain Input -> layer_1 -> ... -> layer_L as this model's graph."""
        tensor = input_tensor(
            InputLayer(shape=self._input_shape, name=f"{self.name}_input"),
            (None, *self._input_shape),
            "float32",
        )
        inputs = tensor
        for layer in self._layers:
            tensor = call_layer(layer, tensor)
            if isinstance(tensor, list):
                raise ValueError(
                    f"Layer {layer.name!r} returns {len(tensor)} outputs, but every layer of a "
                    "Sequential model must return one (as in Keras). Use the functional API "
                    "for it: outputs = layer(inputs); Model(inputs, ...)."
                )
        self.graph = Graph([inputs], [tensor])
        self.built = True
        self._fused_cache = None
        self._metrics = None

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        return None if not self.built else (None, *self._input_shape)

    @property
    def output_shape(self) -> tuple[int | None, ...] | None:
        return None if not self.built else tuple(self.graph.outputs[0].shape)

    @property
    def dtype(self) -> Any:
        import numpy as np

        return np.dtype(self._layers[0].dtype) if self._layers else np.dtype(np.float32)

    # -------------------------------------------------------------- input checks
    def _check_x(self, x: Any, name: str = "x") -> list:
        if x is None:
            raise ValueError(f"{name} is required: pass the input data as an array.")
        if not self.built:
            from engram.validation import check_array

            arr = check_array(x, name, dtype=self.dtype)
            self.build((None, *(arr.shape[1:] if arr.ndim > 1 else (1,))))
        try:
            return super()._check_x(x, name)
        except ValueError as exc:
            if str(exc).startswith(f"{name} has shape"):
                from engram.validation import check_array

                first = self._layers[0]
                first.check_input(check_array(x, name, dtype=None).shape)
            raise

    # ---------------------------------------------------------------- summary
    def _summary_rows(self) -> list[tuple[str, ...]]:
        """(layer (type), output shape, params); before the model is built, ``?`` and
        ``0 (unbuilt)`` for a layer without weights yet, as Keras prints them."""
        return [
            (
                f"{layer.name} ({type_name(layer)})",
                shape_str((None, *_sample_shape(layer))) if layer.built else "?",
                f"{layer.count_params():,}" if layer.built else "0 (unbuilt)",
            )
            for layer in self._layers
            if not isinstance(layer, InputLayer)  # Keras lists no input layer
        ]

    # ------------------------------------------------------------ config / files
    def get_config(self) -> dict[str, Any]:
        """Keras's ``Sequential.get_config()``: name, trainable, dtype policy and the layers'
        entries as Keras writes them (an InputLayer first and ``build_input_shape`` once the
        model is built); Keras's ``Sequential.from_config`` builds the same model from it."""
        from engram.nn.saving.architecture import model_config

        self._refuse_unsaveable("get_config()")  # a custom layer is code, which no config names
        return model_config(self)

    def _engram_config(self) -> dict[str, Any]:
        """engram's own config of the model, as ``.engram`` files keep it (``model_config``):
        its layers by engram class name, whatever package registered them, and its seed."""
        return {
            "name": self.name,
            "seed": self.seed if isinstance(self.seed, int) else None,
            "layers": [
                {"class_name": layers.name_of(layer), "config": layer.get_config()}
                for layer in self._layers
            ],
            "input_shape": None if not self.built else list(self._input_shape),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Sequential:
        """A new model (fresh weights) from `get_config()`'s config or Keras's (read by the
        .keras reader's data-only checks), or from engram's own (`_engram_config`)."""
        from engram.nn.model import _refuse_custom_objects

        _refuse_custom_objects(custom_objects)
        if "build_input_shape" in config or any(
            isinstance(entry, dict) and "module" in entry for entry in config.get("layers", ())
        ):
            from engram.nn.saving.architecture import model_from_config

            return model_from_config(config, "Sequential")
        model = cls(name=config.get("name", "sequential"), seed=config.get("seed"))
        for entry in config["layers"]:
            model.add(layers.get(entry["class_name"]).from_config(entry["config"]))
        if config.get("input_shape") is not None and not model.built:
            model.build((None, *config["input_shape"]))
        return model
