"""Weight and activity penalties added to the loss, as Keras adds them.

A regularizer is a penalty R(w) with its gradient: ``reg(w) -> float`` and
``reg.gradient(w) -> dR/dw``. Layers take them as Keras spells the arguments
(``kernel_regularizer``, ``bias_regularizer``, ``recurrent_regularizer``,
``embeddings_regularizer``, ``activity_regularizer``); the model adds them to the loss in one
place (`Model.compute_gradients`, and so `fit`, `evaluate` and `gradcheck`):

    loss = compiled loss + sum over trainable weights w of R_w(w)
                         + sum over layers with an activity regularizer of R_a(y) / batch

(y: the layer's output; Keras divides the activity penalty by the batch size so that its
weight relative to the weight penalties does not change with the batch size.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.registry import Registry

regularizers: Registry[Any] = Registry("regularizer")


def _factor(value: Any, name: str) -> float:
    """Keras's validate_float_arg: a finite number >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0. Received: {name}={value!r}.")
    return float(value)


class Regularizer:
    """Base class: a penalty ``__call__(w) -> float`` and its ``gradient(w)``.

    Subclass it for a penalty of your own (engram needs the gradient written out; a plain
    function ``fn(w)`` as Keras takes has none, and is refused).
    """

    def __call__(self, x: np.ndarray) -> float:
        return 0.0

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """L1 and L2 penalties together.

    Math:
        R(w)  = l1 * sum |w| + l2 * sum w^2
        dR/dw = l1 * sign(w) + 2 * l2 * w          (sign(0) = 0, as torch's |w|' at 0)

    Args:
        l1, l2: factors >= 0 (both 0 by default, as Keras's ``L1L2()``; the string
            ``"l1_l2"`` gives 0.01 and 0.01).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x: np.ndarray) -> float:
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.sum(np.abs(x), dtype=np.float64))
        if self.l2:
            total += self.l2 * float(np.sum(np.square(x, dtype=np.float64)))
        return total

    def gradient(self, x: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(x)
        if self.l1:
            grad += np.asarray(self.l1, x.dtype) * np.sign(x)
        if self.l2:
            grad += np.asarray(2.0 * self.l2, x.dtype) * x
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


@regularizers.register("l1")
class L1(L1L2):
    """R(w) = l1 * sum |w|  (l1 = 0.01 by default, as Keras)."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


@regularizers.register("l2")
class L2(L1L2):
    """R(w) = l2 * sum w^2  (l2 = 0.01 by default, as Keras)."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


def _l1_l2_default() -> L1L2:
    """The string ``"l1_l2"``: L1L2(l1=0.01, l2=0.01), as Keras documents it. (Keras 3.15.1
    itself refuses the string "l1_l2", and makes "l1l2" a zero penalty: engram gives both
    spellings the documented factors, so that a penalty asked for is never silently zero.)"""
    return L1L2(l1=0.01, l2=0.01)


# Keras's function spellings are its classes (keras.regularizers.l2 is L2)
l1, l2, l1_l2 = L1, L2, L1L2
regularizers.add("l1_l2", _l1_l2_default)
_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier: Any) -> Regularizer | None:
    """A regularizer from None, a name, a config dict or an instance (Keras's ``get``).

    Raises:
        ValueError: an unknown name (with close matches) or class in a config.
        TypeError: a plain function, which has no gradient in engram.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return regularizers.get(identifier)()
    if isinstance(identifier, dict):
        name = identifier.get("class_name", identifier.get("name"))
        if not isinstance(name, str):
            raise ValueError(f"A regularizer config needs a 'class_name'. Got {identifier!r}.")
        cls = _CLASSES.get(name)
        if cls is None:
            raise ValueError(
                f"Unknown regularizer class {name!r} in a config. Available: {', '.join(_CLASSES)}."
            )
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        raise TypeError(
            f"A regularizer function ({getattr(identifier, '__name__', identifier)!r}) is not "
            "supported by engram: it needs the penalty's gradient. Subclass "
            "engram.nn.regularizers.Regularizer with __call__(w) and gradient(w), or use l1, "
            "l2 or l1_l2."
        )
    raise TypeError(
        f"A regularizer must be a name ('l1', 'l2', 'l1_l2'), a Regularizer or None. Got "
        f"{type(identifier).__name__} instead."
    )


def to_json(regularizer: Regularizer | None) -> dict[str, Any] | None:
    """The data a model file stores: Keras's ``{"class_name", "config"}``."""
    if regularizer is None:
        return None
    name = type(regularizer).__name__
    if _CLASSES.get(name) is not type(regularizer):
        raise ValueError(
            f"The regularizer {name} is not one of engram's ({', '.join(_CLASSES)}): a model "
            "file stores data only and could not rebuild it. Use L1, L2 or L1L2 to save the "
            "model, or save_weights()."
        )
    return {"class_name": name, "config": regularizer.get_config()}
