"""Constraints on weights, applied after each optimizer update as Keras applies them.

A constraint is a projection ``w <- c(w)``. Layers take them as Keras spells the arguments
(``kernel_constraint``, ``bias_constraint``, ``recurrent_constraint``,
``embeddings_constraint``); after every ``optimizer.step`` each trainable layer's constrained
weights are replaced, in place, by their projection.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.registry import Registry

constraints: Registry[type[Constraint]] = Registry("constraint")

EPSILON = 1e-7  # Keras's backend.epsilon(), in the norm constraints' denominators


def _axis(axis: Any) -> int | tuple[int, ...]:
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be an integer or a list of them. Got {axis!r} instead.")
    return int(axis)


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weights (here: unchanged)."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@constraints.register("max_norm")
class MaxNorm(Constraint):
    """Rescale each weight vector whose L2 norm exceeds ``max_value``.

    Math:
        n = ||w||_2 along ``axis`` (kept);   w <- w * clip(n, 0, max_value) / (eps + n)

    Args:
        max_value: the largest norm (2 by default, as Keras).
        axis: the axis (or axes) of one vector: 0 for a Dense kernel (in, units) constrains each
            unit's incoming weights; [0, 1, 2] for a Conv2D kernel constrains each filter.
    """

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value = max_value
        self.axis = axis
        _axis(axis)

    def __call__(self, w):
        norms = _norms(w, _axis(self.axis))
        return w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@constraints.register("non_neg")
class NonNeg(Constraint):
    """w <- max(w, 0)."""

    def __call__(self, w):
        return np.maximum(w, 0)


@constraints.register("unit_norm")
class UnitNorm(Constraint):
    """w <- w / (eps + ||w||_2 along ``axis``): unit norm (``axis`` as in `MaxNorm`)."""

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis
        _axis(axis)

    def __call__(self, w):
        return w / (EPSILON + _norms(w, _axis(self.axis)))

    def get_config(self):
        return {"axis": self.axis}


@constraints.register("min_max_norm")
class MinMaxNorm(Constraint):
    """Move each vector's norm toward [min_value, max_value] at ``rate``.

    Math:
        n = ||w||_2 along ``axis``
        w <- w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) / (eps + n)
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis: Any = 0) -> None:
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis
        _axis(axis)

    def __call__(self, w):
        norms = _norms(w, _axis(self.axis))
        desired = self.rate * np.clip(norms, self.min_value, self.max_value)
        desired = desired + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Keras's function spellings are its classes (keras.constraints.max_norm is MaxNorm)
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm


def get(identifier: Any) -> Constraint | None:
    """A constraint from None, a name, a config dict or an instance (Keras's ``get``)."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        return constraints.get(identifier)()
    if isinstance(identifier, dict):
        name = identifier.get("class_name", identifier.get("name"))
        if not isinstance(name, str):
            raise ValueError(f"A constraint config needs a 'class_name'. Got {identifier!r}.")
        return constraints.get(name).from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        raise TypeError(
            f"A constraint function ({getattr(identifier, '__name__', identifier)!r}) is not "
            "supported by engram (a model file could not store it). Subclass "
            "engram.nn.constraints.Constraint, or use max_norm, non_neg, unit_norm or "
            "min_max_norm."
        )
    raise TypeError(
        f"A constraint must be a name ('max_norm', 'non_neg', 'unit_norm'), a Constraint or "
        f"None. Got {type(identifier).__name__} instead."
    )


def to_json(constraint: Constraint | None) -> dict[str, Any] | None:
    """The data a model file stores: Keras's ``{"class_name", "config"}``."""
    if constraint is None:
        return None
    name = type(constraint).__name__
    if name not in constraints or constraints.get(name) is not type(constraint):
        raise ValueError(
            f"The constraint {name} is not one of engram's ({', '.join(constraints.names())}):"
            " a model file stores data only and could not rebuild it. Use a built-in "
            "constraint to save the model, or save_weights()."
        )
    return {"class_name": name, "config": constraint.get_config()}


def apply(layers: list[Any]) -> None:
    """Project every trainable layer's constrained weights, in place (after an update: the
    optimizer's packed buffers keep pointing at the same arrays)."""
    for layer in layers:
        own = getattr(layer, "constraints", None)
        if own and layer.trainable:
            for key, constraint in own.items():
                if key in layer.params:
                    weights = layer.params[key]
                    weights[...] = constraint(weights)
