"""Optimizers with Keras's names, defaults and update formulas.

Parameters and gradients are dicts with the same keys (``layer.params`` / ``layer.grads``), so an
optimizer is one loop: for every trainable layer and every key, update ``params[key]`` in place
from ``grads[key]``, with its own state (``slots``) stored under the same ``"layer/key"`` name.
Every constant is a Python float, so float32 weights stay float32 (NumPy 2 promotion rules).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.registry import Registry
from engram.validation import check_positive

optimizers: Registry[Any] = Registry("optimizer")


class Optimizer:
    """Base class: gradient clipping, the step counter and per-weight state.

    Args:
        learning_rate: step size.
        clipnorm: clip each weight's gradient to this L2 norm (Keras semantics).
        clipvalue: clip every gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global L2 norm.
    """

    name = "optimizer"
    slot_names: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate: float = 0.001,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ) -> None:
        check_positive(learning_rate, "learning_rate")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        for arg, value in clips.items():
            if value is not None:
                check_positive(value, arg)
        given = [arg for arg, value in clips.items() if value is not None]
        if len(given) > 1:
            raise ValueError(
                "Only one of clipnorm, clipvalue and global_clipnorm can be set (as in Keras). "
                f"Got {', '.join(f'{a}={clips[a]!r}' for a in given)}."
            )
        # Python floats, never NumPy float64 scalars: float32 weights must stay float32
        self.learning_rate = float(learning_rate)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self.iterations = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}
        self._buffers: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}

    def step(self, layers: list[Any]) -> None:
        """Update every trainable layer's ``params`` in place from its ``grads``."""
        self.iterations += 1
        pairs = [
            (f"{layer.name}/{key}", layer.params[key], layer.grads[key])
            for layer in layers
            if layer.trainable
            for key in layer.params
            if key in layer.grads
        ]
        scale = self._global_scale([g for _, _, g in pairs])
        for slot_key, param, grad in pairs:
            grad = self._clip(grad, scale)
            state = self.slots.get(slot_key)
            if state is None:
                state = self.slots[slot_key] = self.init_slots(param)
            self.update(param, grad, state)

    def _global_scale(self, grads: list[np.ndarray]) -> float:
        if self.global_clipnorm is None:
            return 1.0
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
        return min(1.0, self.global_clipnorm / max(norm, 1e-12))

    def _clip(self, grad: np.ndarray, scale: float) -> np.ndarray:
        if scale != 1.0:
            grad = grad * scale
        if self.clipnorm is not None:
            norm = math.sqrt(float(np.vdot(grad, grad)))
            if norm > self.clipnorm:
                grad = grad * (self.clipnorm / norm)
        if self.clipvalue is not None:
            grad = np.clip(grad, -self.clipvalue, self.clipvalue)
        return grad

    def buffer(self, param: np.ndarray) -> np.ndarray:
        """A scratch array shaped like ``param``, reused across updates (not saved)."""
        key = (param.shape, param.dtype)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = np.empty_like(param)
        return buf

    def init_slots(self, param: np.ndarray) -> dict[str, np.ndarray]:
        """The state kept for one weight, created at its first update (zeros by default)."""
        return {name: np.zeros_like(param) for name in self.slot_names}

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"learning_rate": self.learning_rate}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config


@optimizers.register("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Math:
        plain:     w <- w - lr g
        momentum:  v <- momentum v - lr g;   w <- w + v
        nesterov:  v <- momentum v - lr g;   w <- w + momentum v - lr g
    """

    name = "sgd"
    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1]. Got {momentum!r} instead.")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("velocity",) if self.momentum else ()

    def update(self, param, grad, state):
        step = np.multiply(grad, self.learning_rate, out=self.buffer(param))  # lr g
        if not self.momentum:
            param -= step
            return
        velocity = state["velocity"]
        velocity *= self.momentum
        velocity -= step
        if self.nesterov:
            param -= step
            param += np.multiply(velocity, self.momentum, out=step)
        else:
            param += velocity

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


@optimizers.register("adam")
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), in Keras's form.

    Math:
        m <- m + (1 - b1) (g - m);      v <- v + (1 - b2) (g^2 - v)
        lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
        w <- w - lr_t m / (sqrt(v) + eps)       (eps outside the bias correction, as Keras)
    """

    name = "adam"
    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update(self, param, grad, state):
        t = self.iterations
        b1, b2 = self.beta_1, self.beta_2
        lr_t = self.learning_rate * math.sqrt(1 - b2**t) / (1 - b1**t)
        m, v = state["m"], state["v"]
        t = np.subtract(grad, m, out=self.buffer(param))  # one scratch array, no allocations
        t *= 1 - b1
        m += t
        np.square(grad, out=t)
        t -= v
        t *= 1 - b2
        v += t
        np.sqrt(v, out=t)
        t += self.epsilon
        np.divide(m, t, out=t)
        t *= lr_t
        param -= t

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


@optimizers.register("rmsprop")
class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012), in Keras's form.

    Math:
        v <- rho v + (1 - rho) g^2
        w <- w - lr g / sqrt(v + eps)      (Keras puts eps inside the root; torch outside)
    """

    name = "rmsprop"
    slot_names = ("v",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update(self, param, grad, state):
        v = state["v"]
        t = np.square(grad, out=self.buffer(param))
        t -= v
        t *= 1 - self.rho
        v += t  # v <- rho v + (1 - rho) g^2
        np.add(v, self.epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= self.learning_rate
        param -= t

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


@optimizers.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), in Keras's form.

    Math:
        a <- a + g^2            (a starts at initial_accumulator_value)
        w <- w - lr g / sqrt(a + eps)      (Keras puts eps inside the root; torch outside)
    """

    name = "adagrad"
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def init_slots(self, param):
        return {"accumulator": np.full_like(param, self.initial_accumulator_value)}

    def update(self, param, grad, state):
        acc = state["accumulator"]
        t = np.square(grad, out=self.buffer(param))
        acc += t
        np.add(acc, self.epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= self.learning_rate
        param -= t

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


def get(identifier: Any) -> Optimizer:
    """An `Optimizer` from a name, a ``{"name", "config"}`` dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return optimizers.get(identifier["name"])(**identifier.get("config", {}))
    if isinstance(identifier, str):
        return optimizers.get(identifier)()
    raise TypeError(
        f"optimizer must be a name such as 'adam' or an Optimizer instance. Got "
        f"{type(identifier).__name__} instead."
    )


def to_json(optimizer: Optimizer) -> dict[str, Any]:
    return {"name": optimizer.name, "config": optimizer.get_config()}
