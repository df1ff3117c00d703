"""Activation functions, each with its forward and its derivative side by side.

An activation is a small stateless object: ``forward(z) -> a`` and
``backward(z, a, grad_a) -> grad_z`` (it may read the input ``z`` or the output ``a``, whichever
makes the derivative cheaper). Layers keep ``z`` and ``a`` in their cache, or only ``a`` when the
activation says its derivative needs nothing else (``derivative_from_output``). Layers that run
many small steps (the recurrent layers, Conv2D's buffers) call the in-place forms
``forward_into`` and ``backward_into``, which each activation writes without temporaries where it
can. No layer switches on an activation's name: what a layer may exploit is a property of the
object (``derivative_from_output``, ``tanh_form``, ``scratch_dtype``).
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
    #: True when `backward` reads only the output ``a``: a layer may then keep no
    #: pre-activation, pass ``z=None``, and activate in place (``forward_into(z, z)``)
    derivative_from_output = False
    #: ``(k, s, c)`` when f(z) = s * tanh(k * z) + c (sigmoid: (1/2, 1/2, 1/2), tanh: (1, 1, 0)):
    #: a layer may fold k into its weights and activate several such functions in one tanh pass
    tanh_form: tuple[float, float, float] | None = None
    #: dtype of the ``scratch`` array `backward_into` works fastest with (None: the output's)
    scratch_dtype: str | None = None

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward_into(self, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[...] = f(z)``; ``out`` may be ``z`` itself. Returns ``out``."""
        out[...] = self.forward(z)
        return out

    def backward_into(
        self,
        z: np.ndarray | None,
        a: np.ndarray,
        grad_a: np.ndarray,
        out: np.ndarray,
        scratch: np.ndarray | None = None,
    ) -> np.ndarray:
        """``out[...] = backward(z, a, grad_a)``; ``out`` may be ``grad_a`` or ``a``; ``z`` may
        be None when `derivative_from_output`; ``scratch`` (``a``'s shape, `scratch_dtype`)
        spares a temporary. Returns ``out``."""
        out[...] = self.backward(z, a, grad_a)
        return out

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
    derivative_from_output = True

    def forward(self, z):
        return z

    def backward(self, z, a, grad_a):
        return grad_a

    def forward_into(self, z, out):
        if out is not z:
            out[...] = z
        return out

    def backward_into(self, z, a, grad_a, out, scratch=None):
        if out is not grad_a:
            out[...] = grad_a
        return out


@activations.register("sigmoid")
class Sigmoid(Activation):
    """Math: a = 1 / (1 + exp(-z)) (stable form);  dL/dz = dL/da * a * (1 - a).

    In place: a = 0.5 * tanh(z / 2) + 0.5 (stable for any z, one ufunc pass), and
    dL/dz = dL/da * (a - a^2) with a^2 in the scratch array.
    """

    name = "sigmoid"
    derivative_from_output = True
    tanh_form = (0.5, 0.5, 0.5)

    def forward(self, z):
        return F.sigmoid(z)

    def backward(self, z, a, grad_a):
        return grad_a * a * (1 - a)

    def forward_into(self, z, out):
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    def backward_into(self, z, a, grad_a, out, scratch=None):
        d = np.multiply(a, a, out=scratch)
        np.subtract(a, d, out=d)
        return np.multiply(grad_a, d, out=out)


@activations.register("tanh")
class Tanh(Activation):
    """Math: a = tanh(z);  dL/dz = dL/da * (1 - a^2)."""

    name = "tanh"
    derivative_from_output = True
    tanh_form = (1.0, 1.0, 0.0)

    def forward(self, z):
        return np.tanh(z)

    def backward(self, z, a, grad_a):
        return grad_a * (1 - a * a)

    def forward_into(self, z, out):
        return np.tanh(z, out=out)

    def backward_into(self, z, a, grad_a, out, scratch=None):
        d = np.multiply(a, a, out=scratch)
        np.subtract(1, d, out=d)
        return np.multiply(grad_a, d, out=out)


@activations.register("relu")
class ReLU(Activation):
    """Math: a = max(z, 0);  dL/dz = dL/da * [a > 0]   ([a > 0] = [z > 0])."""

    name = "relu"
    derivative_from_output = True
    scratch_dtype = "bool"  # the mask: multiplying by a bool array reads a quarter the bytes

    def forward(self, z):
        return np.maximum(z, 0)

    def backward(self, z, a, grad_a):
        return grad_a * (a > 0)  # a bool mask keeps grad_a's dtype; 3x faster than np.where

    def forward_into(self, z, out):
        return np.maximum(z, 0, out=out)

    def backward_into(self, z, a, grad_a, out, scratch=None):
        return np.multiply(grad_a, np.greater(a, 0, out=scratch), out=out)


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
    derivative_from_output = True

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
