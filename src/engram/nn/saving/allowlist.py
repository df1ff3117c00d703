"""The only Keras objects engram builds from a file: (module, class_name) pairs, nothing else.

Each pair maps to an engram class by a table entry, never by importing the module the file
names. A name that is not here -- ``Lambda``, ``TFSMLayer``, a custom object, a function,
any module outside Keras's public one -- is refused before anything is created.

Layer configs go through one `LayerMapping` per class: the Keras keys engram's class reads
(its constructor's arguments), the keys engram does not implement together with the values
that mean "off" (a file that turns one on is refused, naming the option), and the keys that
do not change the numbers (e.g. ``unroll``). A functional model's graph wiring can later be
added on top of these mappers (``inbound_nodes`` reading lives in one place: keras_format).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from engram.nn.io import ModelFileError

LAYERS_MODULE = "keras.layers"

#: Keras class name -> engram layer class name (the same names today)
LAYER_CLASSES = {
    name: name
    for name in (
        "Dense", "Activation", "Dropout", "Flatten", "Reshape", "InputLayer", "Conv2D",
        "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "BatchNormalization",
        "SimpleRNN", "LSTM", "GRU", "Embedding", "TimeDistributed", "ReLU", "LeakyReLU",
        "Softmax", "Bidirectional",
    )
}  # fmt: skip
LAYER_CLASSES.update(
    {
        name: name
        for name in (
            "Rescaling", "ZeroPadding2D", "UpSampling2D", "GlobalMaxPooling2D",
            "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Conv1D", "MaxPooling1D",
            "AveragePooling1D", "LayerNormalization", "Normalization",
        )
    }
)  # fmt: skip
#: merge layers (functional models)
MERGE_CLASSES = (
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
)
LAYER_CLASSES.update({name: name for name in MERGE_CLASSES})
#: the layers2 set (transposed convolution and the shaping, noise and regularizing layers)
LAYER_CLASSES.update(
    {
        name: name
        for name in (
            "Conv2DTranspose", "RepeatVector", "Permute", "Cropping1D", "Cropping2D", "Identity",
            "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D",
            "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
            "ActivityRegularization", "UnitNormalization",
        )
    }
)  # fmt: skip
#: wrapper classes -> their config keys that hold a whole serialized layer (converted in turn)
NESTED_LAYERS = {"TimeDistributed": ("layer",), "Bidirectional": ("layer", "backward_layer")}

#: Keras options engram does not implement, with the values meaning "not used"
OFF_VALUES: dict[str, tuple[Any, ...]] = {
    **{
        f"{w}_{kind}": (None,)
        for w in ("kernel", "bias", "recurrent", "embeddings", "beta", "gamma", "activity")
        for kind in ("regularizer", "constraint")
    },
    "quantization_config": (None,),
    "lora_rank": (None,),
    "lora_alpha": (None,),
    "lora_enabled": (False, None),
    "stateful": (False,),
    "groups": (1,),
    "synchronized": (False,),
    "sparse": (False,),
    "ragged": (False,),
    "optional": (False,),
    "input_length": (None,),
    "max_value": (None,),
    "threshold": (0, 0.0),
    "renorm": (False,),
    "renorm_clipping": (None,),
    "data_format": ("channels_last", None),
}
#: Keras options that do not change what a layer computes in a Sequential model
#: (renorm_momentum only matters with renorm, which is refused when on)
IGNORED = frozenset(
    {"unroll", "zero_output_for_mask", "use_cudnn", "implementation", "renorm_momentum"}
)
#: per class: Keras options whose only value engram implements
CLASS_OFF_VALUES: dict[str, dict[str, tuple[Any, ...]]] = {
    "ReLU": {"negative_slope": (0, 0.0)},
    "BatchNormalization": {"axis": (-1,)},
    "GlobalAveragePooling2D": {"keepdims": (False,)},
}

#: Keras activation names engram implements (Keras 3 writes built-in activations as strings)
ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "tanh", "softmax", "elu", "leaky_relu", None})
#: Keras initializer classes (module keras.initializers) -> engram initializer names
INITIALIZERS = {
    "Zeros": "zeros",
    "Ones": "ones",
    "Constant": "constant",
    "RandomNormal": "random_normal",
    "RandomUniform": "random_uniform",
    "GlorotUniform": "glorot_uniform",
    "GlorotNormal": "glorot_normal",
    "HeUniform": "he_uniform",
    "HeNormal": "he_normal",
    "LecunUniform": "lecun_uniform",
    "LecunNormal": "lecun_normal",
    "Orthogonal": "orthogonal",
    "VarianceScaling": "variance_scaling",
}
#: Keras optimizer classes -> engram optimizer names; the module must be Keras's own
OPTIMIZERS = {"Adam": "adam", "SGD": "sgd", "RMSprop": "rmsprop", "Adagrad": "adagrad"}
OPTIMIZERS["AdamW"] = "adamw"  # the same variables as Adam's
OPTIMIZERS["Nadam"] = "nadam"
_OPTIMIZER_MODULE = re.compile(
    r"keras\.optimizers|keras\.src\.backend\.(torch|tensorflow|jax|numpy)\.optimizers(\.\w+)?"
)
#: Keras optimizer options engram implements only when off
OPTIMIZER_OFF: dict[str, tuple[Any, ...]] = {
    "use_ema": (False,),
    "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None,),
    "centered": (False,),
    "momentum": (0, 0.0),  # RMSprop's momentum (SGD reads its own)
}
OPTIMIZER_IGNORED = frozenset({"name", "ema_momentum", "ema_overwrite_frequency"})
#: Keras loss classes (module keras.losses) -> engram loss names
LOSSES = {
    "MeanSquaredError": "mean_squared_error",
    "MeanAbsoluteError": "mean_absolute_error",
    "BinaryCrossentropy": "binary_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}
LOSSES.update(
    Huber="huber",
    LogCosh="log_cosh",
    Hinge="hinge",
    KLDivergence="kl_divergence",
    CosineSimilarity="cosine_similarity",
)
#: the loss names of Keras 3.15.1 (``keras.losses.get``) that engram has: a compile config
#: holds the one compile was given, and engram writes one of these where it was given one
KERAS_LOSS_NAMES = frozenset(
    {
        *LOSSES,
        *LOSSES.values(),
        *("mse", "MSE", "mae", "MAE", "bce", "BCE", "kld", "KLD"),
    }
)
#: Keras metric classes (module keras.metrics) -> engram metric classes, for compile configs
METRICS = {
    name: name
    for name in (
        "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
        "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanSquaredError",
        "MeanAbsoluteError", "RootMeanSquaredError", "Precision", "Recall", "AUC",
    )
}  # fmt: skip
#: the most thresholds a metric from a file may count at (AUC allocates counts per threshold)
MAX_METRIC_THRESHOLDS = 100_000
DTYPES = frozenset({"float32", "float64"})
INPUT_DTYPES = ("float32", "float64", "int32", "int64", None)


def refuse(name: str, what: str, fix: str = "") -> ModelFileError:
    return ModelFileError(f"{name}: {what}. Refused before anything was built{fix}.")


def check_entry(entry: Any, name: str, where: str) -> tuple[str, str, dict]:
    """A serialized Keras object ``{"module", "class_name", "config"}``: (module, class, config)."""
    if not isinstance(entry, dict):
        raise refuse(name, f"{where} must be an object, got {type(entry).__name__}")
    module, class_name, config = entry.get("module"), entry.get("class_name"), entry.get("config")
    if not isinstance(class_name, str) or not isinstance(module, (str, type(None))):
        raise refuse(name, f"{where} has no class_name (or its module is not a string)")
    if not isinstance(config, (dict, type(None))):
        raise refuse(
            name,
            f"{where} is {module}.{class_name} with config {config!r} (a function, not a "
            "class); not on engram's allowlist",
        )
    registered = entry.get("registered_name")
    if registered not in (None, class_name) and not (
        isinstance(registered, str) and registered.split(">")[-1] == class_name
    ):
        raise refuse(
            name,
            f"{where} names the registered (custom) object {registered!r}",
            " (custom objects are not loaded)",
        )
    return str(module), class_name, config or {}


def snake_case(name: str) -> str:
    """Keras's object-to-path names: Dense -> dense, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


@dataclass(frozen=True)
class LayerMapping:
    """How one Keras layer class becomes an engram layer config and back."""

    keras_class: str
    engram_class: str
    accepted: frozenset[str] = field(default_factory=frozenset)

    def to_engram(self, config: dict, name: str, where: str) -> dict:
        out: dict[str, Any] = {}
        off = {**OFF_VALUES, **CLASS_OFF_VALUES.get(self.keras_class, {})}
        for key, value in config.items():
            if key in IGNORED or key in ("build_config", "registered_name"):
                continue
            if self.keras_class == "InputLayer" and key == "dtype":
                if value not in INPUT_DTYPES:  # the data's dtype (int for Embedding), not weights'
                    raise refuse(name, f"{where}.dtype is {value!r}, not one of {INPUT_DTYPES}")
                continue
            if key in off and key not in self.accepted:
                if value not in off[key]:
                    raise refuse(
                        name,
                        f"{where} ({self.keras_class}) sets {key}={value!r}, which engram's "
                        f"{self.engram_class} does not implement",
                    )
                continue
            if key in off and value not in off[key] and not _is_weight_option(key):
                raise refuse(
                    name,
                    f"{where} ({self.keras_class}) sets {key}={value!r}, which engram does "
                    "not implement",
                )
            if key not in self.accepted:
                raise refuse(
                    name, f"{where} ({self.keras_class}) has option {key!r}, unknown to engram"
                )
            out[key] = convert_value(key, value, name, f"{where}.{key}")
        if self.keras_class == "InputLayer":
            shape = out.pop("batch_shape", None) or out.pop("batch_input_shape", None)
            if shape is not None:
                out["shape"] = tuple(shape[1:])
        return out


def convert_value(key: str, value: Any, name: str, where: str) -> Any:
    """A Keras config value as engram's constructor takes it; refuses anything executable."""
    if key == "dtype":
        return dtype_name(value, name, where)
    if key.endswith("activation"):
        if not isinstance(value, (str, type(None))) or value not in ACTIVATIONS:
            raise refuse(
                name,
                f"{where} is {value!r}; engram loads only the activations "
                f"{sorted(a for a in ACTIVATIONS if a)} (functions and custom objects are "
                "not loaded)",
            )
        return "linear" if value is None else value
    if key.endswith("initializer"):
        return initializer(value, name, where)
    if _is_weight_option(key) and value is not None:
        return weight_option(key, value, name, where)
    if isinstance(value, dict):
        raise refuse(
            name,
            f"{where} is an object ({value.get('class_name')!r}); engram expected a plain value",
        )
    return value


def dtype_name(value: Any, name: str, where: str) -> str:
    if isinstance(value, dict):
        module, class_name, config = check_entry(value, name, where)
        if (module, class_name) != ("keras", "DTypePolicy"):
            raise refuse(name, f"{where} is a {module}.{class_name}, not a DTypePolicy")
        value = config.get("name")
    if not isinstance(value, str) or value not in DTYPES:
        raise refuse(name, f"{where} is {value!r}; engram loads float32 and float64 layers only")
    return str(value)


def initializer(value: Any, name: str, where: str) -> Any:
    """A Keras initializer as an engram initializer name or ``{"name", "config"}``."""
    from engram.nn import initializers

    if isinstance(value, str):
        if value not in allowlist_initializer_names():
            raise refuse(
                name, f"{where} names the initializer {value!r}, which engram does not have"
            )
        return value
    module, class_name, config = check_entry(value, name, where)
    if module != "keras.initializers" or class_name not in INITIALIZERS:
        raise refuse(name, f"{where} is {module}.{class_name}, not an initializer engram has")
    engram_name = INITIALIZERS[class_name]
    cls = initializers.initializers.get(engram_name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kept = {}
    for key, val in config.items():
        if key in accepted:
            kept[key] = val
        elif val is not None:
            raise refuse(
                name, f"{where} ({class_name}) sets {key}={val!r}, which engram does not implement"
            )
    return {"name": engram_name, "config": kept} if kept else engram_name


def allowlist_initializer_names() -> frozenset[str]:
    """Initializer names a config may give as a plain string (Keras's snake-case names)."""
    return frozenset(INITIALIZERS.values())


def _constructor_args(cls: type) -> frozenset[str]:
    """The keyword arguments ``cls`` takes, its own and Layer's (less the input-shape ones)."""
    from engram.nn.layers.base import Layer

    args: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters
            names = {p for p, v in params.items() if v.kind is v.POSITIONAL_OR_KEYWORD}
            if klass is Layer:
                names -= {"input_shape", "input_dim", "batch_input_shape"}
            args |= names
        if klass is Layer:
            break
    return frozenset(args - {"self"})


def layer_mapping(module: str, class_name: str, name: str, where: str) -> LayerMapping:
    """The mapping for a Keras layer (module, class_name) on the allowlist, or a refusal."""
    if module != LAYERS_MODULE or class_name not in LAYER_CLASSES:
        hint = {
            "Lambda": " (Lambda layers carry Python code; engram never runs code from a file)",
            "TFSMLayer": " (TFSMLayer loads a TensorFlow SavedModel; engram never does)",
        }.get(class_name, " (only Keras's built-in layers that engram implements are loaded)")
        raise refuse(
            name, f"{where} is the class {module}.{class_name}, not on engram's allowlist", hint
        )
    from engram.nn.layers import layers

    engram_class = LAYER_CLASSES[class_name]
    cls = layers.get(engram_class)
    accepted = _constructor_args(cls) | {  # Keras's per-weight regularizers and constraints
        f"{w}_{kind}" for w in cls.keras_weights for kind in ("regularizer", "constraint")
    }
    if class_name == "InputLayer":
        accepted = accepted | {"batch_shape", "batch_input_shape"}
    return LayerMapping(class_name, engram_class, accepted)


def optimizer_config(entry: Any, name: str) -> dict:
    """A Keras optimizer entry as engram's ``{"name", "config"}``."""
    module, class_name, config = check_entry(entry, name, "compile_config.optimizer")
    if class_name not in OPTIMIZERS or not _OPTIMIZER_MODULE.fullmatch(module):
        raise refuse(
            name, f"compile_config.optimizer is {module}.{class_name}, not an optimizer engram has"
        )
    from engram.nn import optimizers

    engram_name = OPTIMIZERS[class_name]
    cls = optimizers.optimizers.get(engram_name)
    accepted = _constructor_args(cls) | {
        "learning_rate",
        "weight_decay",
        "clipnorm",
        "clipvalue",
        "global_clipnorm",
    }
    out = {}
    for key, value in config.items():
        if key in OPTIMIZER_IGNORED:
            continue
        if key == "learning_rate" and isinstance(value, dict):
            out[key] = _schedule_entry(value, name)
            continue
        if key in accepted:
            if isinstance(value, dict):
                raise refuse(
                    name,
                    f"compile_config.optimizer.{key} is an object; engram takes numbers only",
                )
            if value is not None:
                out[key] = value
        elif key in OPTIMIZER_OFF:
            if value not in OPTIMIZER_OFF[key]:
                raise refuse(
                    name,
                    f"compile_config.optimizer ({class_name}) sets {key}={value!r}, which "
                    "engram does not implement",
                )
        else:
            raise refuse(
                name,
                f"compile_config.optimizer ({class_name}) has option {key!r}, unknown to engram",
            )
    return {"name": engram_name, "config": out}


def _schedule_entry(entry: dict, name: str) -> dict:
    """A Keras learning-rate schedule entry, checked against engram's schedules (data only)."""
    from engram.nn import schedules

    try:
        schedules.deserialize(entry)
    except (ValueError, TypeError) as exc:
        raise refuse(name, f"compile_config.optimizer.learning_rate: {exc}") from None
    return entry


def loss_config(value: Any, name: str) -> Any:
    from engram.nn import losses

    if isinstance(value, str):
        if value not in losses.losses:
            raise refuse(name, f"compile_config.loss is {value!r}, a loss engram does not have")
        return value
    module, class_name, config = check_entry(value, name, "compile_config.loss")
    if module != "keras.losses" or class_name not in LOSSES:
        raise refuse(name, f"compile_config.loss is {module}.{class_name}, not a loss engram has")
    # the base Loss's name/reduction/dtype are Keras's bookkeeping, checked below
    takes = _constructor_args(losses.losses.get(LOSSES[class_name])) - {
        "from_logits",
        "name",
        "reduction",
        "dtype",
    }
    options = {k: v for k, v in config.items() if k in takes}  # Huber's delta, an axis
    extra = {
        k: v
        for k, v in config.items()
        if k not in ("name", "reduction", "dtype", "from_logits") and k not in takes
    }
    if any(v not in (None, -1, 0.0) for v in extra.values()) or config.get("reduction") not in (
        None,
        "sum_over_batch_size",
    ):
        raise refuse(
            name,
            f"compile_config.loss ({class_name}) sets options engram does not implement: "
            f"{sorted(extra)}",
        )
    from_logits = bool(config.get("from_logits", False))
    if not from_logits and not options:
        return LOSSES[class_name]
    if from_logits:
        options["from_logits"] = True
    # a loss object, not its config: compile reads a dict as one loss per output name
    try:
        return losses.get({"name": LOSSES[class_name], "config": options})
    except (ValueError, TypeError) as exc:
        raise refuse(name, f"compile_config.loss ({class_name}): {exc}") from None


def _is_weight_option(key: str) -> bool:
    return key.endswith(("_regularizer", "_constraint"))


def weight_option(key: str, value: Any, name: str, where: str) -> dict:
    """A Keras regularizer or constraint (its own module, a class engram has) as engram's
    ``{"class_name", "config"}``, checked by building it; anything else is refused."""
    from engram.nn import constraints, regularizers

    kind = "regularizer" if key.endswith("_regularizer") else "constraint"
    module_name = f"keras.{kind}s"
    module, class_name, config = check_entry(value, name, where)
    entry = {"class_name": class_name, "config": config}
    try:
        if module != module_name:
            raise ValueError(f"the module {module!r} is not {module_name!r}")
        (regularizers if kind == "regularizer" else constraints).get(entry)
    except (ValueError, TypeError) as exc:
        raise refuse(
            name, f"{where} is {module}.{class_name}, not a {kind} engram has ({exc})"
        ) from None
    return entry


def metric_config(value: Any, name: str, where: str) -> Any:
    """A Keras metric in a compile config: a name as given, or an entry of a class on `METRICS`
    (module ``keras.metrics``) as the engram metric object, its options checked by name."""
    from engram.nn import metrics

    if isinstance(value, str):
        return value
    module, class_name, config = check_entry(value, name, where)
    if module != "keras.metrics" or class_name not in METRICS:
        raise refuse(name, f"{where} is {module}.{class_name}, not a metric engram has")
    cls = metrics.metrics.get(METRICS[class_name])
    accepted = set()
    for klass in cls.__mro__:  # its own arguments and its bases' (name, dtype)
        if "__init__" in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    options = {}
    for key, option in config.items():
        if key not in accepted:
            raise refuse(name, f"{where} ({class_name}) has option {key!r}, unknown to engram")
        if (  # Keras writes AUC's label_weights as a tensor: its values as a list
            key == "label_weights"
            and isinstance(option, dict)
            and option.get("class_name") == "__tensor__"
            and isinstance(option.get("config"), dict)
            and option["config"].get("dtype") in DTYPES
        ):
            option = option["config"].get("value")
        if isinstance(option, dict) or (
            isinstance(option, list) and not all(isinstance(v, (int, float)) for v in option)
        ):
            raise refuse(name, f"{where}.{key} is not a plain value or a list of numbers")
        options[key] = option
    size = options.get("num_thresholds", 0)
    thresholds = options.get("thresholds")
    if (isinstance(size, int) and size > MAX_METRIC_THRESHOLDS) or (
        isinstance(thresholds, list) and len(thresholds) > MAX_METRIC_THRESHOLDS
    ):
        raise refuse(
            name, f"{where} ({class_name}) asks for over {MAX_METRIC_THRESHOLDS} thresholds"
        )
    try:
        metric = cls.from_config(options)
        metrics.check(metric)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise refuse(name, f"{where} ({class_name}): {exc}") from None
    return metric
