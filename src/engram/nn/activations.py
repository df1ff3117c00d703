"""Activation functions, each with its forward and its derivative side by side.

An activation is a small stateless object: ``forward(z) -> a`` and
``backward(z, a, grad_a) -> grad_z`` (it may read the input ``z`` or the output ``a``, whichever
makes the derivative cheaper). Layers keep ``z`` and ``a`` in their cache.
Look one up by name with ``activations.get("relu")``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.nn import functional as F
from engram.registry import Registry

activations: Registry[Any] = Registry("activation")


class Activation:
    """Base class. ``name`` is the registered name; ``get_config`` gives its arguments."""

    name = "activation"

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.forward(np.asarray(z))

    def get_config(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> Any:
        """A string when there are no arguments, else ``{"name": ..., "config": {...}}``."""
        config = self.get_config()
        return self.name if not config else {"name": self.name, "config": config}


@activations.register("linear", "identity", "none")
class Linear(Activation):
    """Math: a = z;  dL/dz = dL/da."""

    name = "linear"

    def forward(self, z):
        return z

    def backward(self, z, a, grad_a):
        return grad_a


@activations.register("sigmoid")
class Sigmoid(Activation):
    """Math: a = 1 / (1 + exp(-z)) (stable form);  dL/dz = dL/da * a * (1 - a)."""

    name = "sigmoid"

    def forward(self, z):
        return F.sigmoid(z)

    def backward(self, z, a, grad_a):
        return grad_a * a * (1 - a)


@activations.register("tanh")
class Tanh(Activation):
    """Math: a = tanh(z);  dL/dz = dL/da * (1 - a^2)."""

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, z, a, grad_a):
        return grad_a * (1 - a * a)


@activations.register("relu")
class ReLU(Activation):
    """Math: a = max(z, 0);  dL/dz = dL/da * [z > 0]."""

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def backward(self, z, a, grad_a):
        return grad_a * (z > 0)  # a bool mask keeps grad_a's dtype; 3x faster than np.where


@activations.register("leaky_relu")
class LeakyReLU(Activation):
    """Math: a = z if z > 0 else s * z;  dL/dz = dL/da * (1 if z > 0 else s).

    Args:
        negative_slope: s, the slope for z <= 0 (Keras's default for the function, 0.2).
    """

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.2) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, z):
        return np.where(z > 0, z, z * self.negative_slope).astype(z.dtype, copy=False)

    def backward(self, z, a, grad_a):
        return np.where(z > 0, grad_a, grad_a * self.negative_slope).astype(grad_a.dtype)

    def get_config(self):
        return {"negative_slope": self.negative_slope}


@activations.register("elu")
class ELU(Activation):
    """Math: a = z if z > 0 else alpha * (exp(z) - 1);  dL/dz = dL/da * (1 if z > 0 else a + alpha).

    Args:
        alpha: scale of the negative part (default 1.0).
    """

    name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0))).astype(z.dtype)

    def backward(self, z, a, grad_a):
        return np.where(z > 0, grad_a, grad_a * (a + self.alpha)).astype(grad_a.dtype)

    def get_config(self):
        return {"alpha": self.alpha}


@activations.register("softmax")
class Softmax(Activation):
    """Math: a_i = exp(z_i - max z) / sum_j exp(z_j - max z);
    dL/dz = a * (dL/da - sum_j(dL/da_j * a_j))   (the Jacobian-vector product, never the matrix).

    Args:
        axis: the axis normalized over (default the last).
    """

    name = "softmax"

    def __init__(self, axis: int = -1) -> None:
        self.axis = int(axis)

    def forward(self, z):
        return F.softmax(z, axis=self.axis)

    def backward(self, z, a, grad_a):
        return a * (grad_a - np.sum(grad_a * a, axis=self.axis, keepdims=True))

    def get_config(self):
        return {"axis": self.axis} if self.axis != -1 else {}


def get(identifier: Any) -> Activation:
    """An `Activation` from a name, a ``{"name", "config"}`` dict, an instance, or None (linear).

    Raises:
        ValueError: unknown name, with close matches.
    """
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, dict):
        return activations.get(identifier["name"])(**identifier.get("config", {}))
    if isinstance(identifier, str):
        return activations.get(identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Activation):
        return identifier()
    raise TypeError(
        f"activation must be a name such as 'relu', an Activation instance or None. Got "
        f"{type(identifier).__name__} instead."
    )
