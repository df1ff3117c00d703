"""Weight initializers, with Keras's names and formulas.

An initializer is called as ``init(shape, rng, dtype)`` and returns a new array. Fans follow
Keras: a Dense kernel (in, out) has fan_in = in, fan_out = out; a convolution kernel
(kh, kw, in, out) multiplies both by the receptive field kh * kw.

Values are drawn in the weights' own dtype (float32 by default, as Keras draws them): a
float32 (4096, 4096) kernel never passes through a float64 array twice its size.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np

from engram.registry import Registry
from engram.validation import as_rng, check_choice

initializers: Registry[Any] = Registry("initializer")

# stddev of a standard normal truncated at +/-2, used to correct truncated-normal draws
_TRUNCATED_STD = 0.87962566103423978

_placeholders = contextvars.ContextVar("placeholders", default=False)


@contextlib.contextmanager
def placeholders() -> Iterator[None]:
    """While active, every initializer returns zeros (``np.zeros``: pages the system commits
    only when written) and draws no random numbers. `engram.nn.io` builds a model from a file
    this way, to compare its declared weight shapes with the file's before anything costs
    memory or time; the weights are then overwritten by the file's."""
    token = _placeholders.set(True)
    try:
        yield
    finally:
        _placeholders.reset(token)


def placeholders_active() -> bool:
    """Whether `placeholders` is in effect: a layer that draws weights without an initializer
    (e.g. a scaled normal matrix) must then make zeros too."""
    return _placeholders.get()


def _draw_dtype(dtype: Any) -> np.dtype:
    """The dtype random numbers are drawn in: the weights' own when NumPy draws in it."""
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)


def compute_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight of ``shape``, as Keras computes them."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def truncated_normal(
    rng: np.random.Generator, shape: tuple[int, ...], std: float, dtype: Any = np.float64
) -> np.ndarray:
    """Normal(0, std) draws in ``dtype``, redrawn until all lie within two standard deviations."""
    out = rng.standard_normal(shape, dtype=dtype)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()), dtype=dtype)
        bad = np.abs(out) > 2
    out *= std
    return out


def _uniform(rng: np.random.Generator, shape, low: float, high: float, dtype) -> np.ndarray:
    """U(low, high) drawn in ``dtype``, computed in place."""
    out = rng.random(shape, dtype=dtype)
    out *= high - low
    out += low
    return out


def _normal(rng: np.random.Generator, shape, mean: float, std: float, dtype) -> np.ndarray:
    out = rng.standard_normal(shape, dtype=dtype)
    out *= std
    out += mean
    return out


class Initializer:
    """Base class. ``seed`` (Keras's argument): when set, every call draws the same values from
    its own generator instead of the ``rng`` it is given (the model's)."""

    name = "initializer"
    seed: int | None = None

    def __call__(self, shape, rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
        if _placeholders.get():
            return np.zeros(tuple(shape), dtype)
        if self.seed is not None:
            rng = as_rng(self.seed)
        return np.asarray(self.sample(tuple(shape), rng, _draw_dtype(dtype)), dtype=dtype)

    def _seed_config(self) -> dict[str, Any]:
        return {} if self.seed is None else {"seed": self.seed}

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype):
        """New values of ``shape``, drawn from ``rng`` in ``dtype``."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}


class VarianceScaling(Initializer):
    """Draws with variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    Math:
        uniform:             U(-limit, limit), limit = sqrt(3 * scale / n)
        truncated normal:    N(0, sqrt(scale / n) / 0.8796) truncated at 2 std
                             (distribution "truncated_normal", or "normal" as in tf.keras)
        untruncated normal:  N(0, sqrt(scale / n))
    """

    name = "variance_scaling"

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ):
        check_choice(mode, "mode", ("fan_in", "fan_out", "fan_avg"))
        check_choice(
            distribution,
            "distribution",
            ("truncated_normal", "normal", "untruncated_normal", "uniform"),
        )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.seed = seed

    def sample(self, shape, rng, dtype):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = float(np.sqrt(3.0 * variance))
            return _uniform(rng, shape, -limit, limit, dtype)
        if self.distribution == "untruncated_normal":
            return _normal(rng, shape, 0.0, float(np.sqrt(variance)), dtype)
        return truncated_normal(rng, shape, float(np.sqrt(variance)) / _TRUNCATED_STD, dtype)

    def get_config(self):
        config = {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}
        return {**config, **self._seed_config()}


def _preset(name: str, scale: float, mode: str, distribution: str) -> type:
    cls = type(
        name,
        (VarianceScaling,),
        {
            "name": name,
            "__init__": lambda self, seed=None: VarianceScaling.__init__(
                self, scale, mode, distribution, seed
            ),
            "get_config": lambda self: self._seed_config(),
            "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, "
            f"distribution={distribution!r}), as Keras's {name}.",
        },
    )
    return initializers.add(name, cls)


GlorotUniform = _preset("glorot_uniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("glorot_normal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _preset("he_uniform", 2.0, "fan_in", "uniform")
HeNormal = _preset("he_normal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _preset("lecun_uniform", 1.0, "fan_in", "uniform")
LecunNormal = _preset("lecun_normal", 1.0, "fan_in", "truncated_normal")
initializers.add("variance_scaling", VarianceScaling)


@initializers.register("zeros")
class Zeros(Initializer):
    name = "zeros"

    def sample(self, shape, rng, dtype):
        return np.zeros(shape, dtype)


@initializers.register("ones")
class Ones(Initializer):
    name = "ones"

    def sample(self, shape, rng, dtype):
        return np.ones(shape, dtype)


@initializers.register("constant")
class Constant(Initializer):
    name = "constant"

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def sample(self, shape, rng, dtype):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


@initializers.register("random_normal")
class RandomNormal(Initializer):
    name = "random_normal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def sample(self, shape, rng, dtype):
        return _normal(rng, shape, self.mean, self.stddev, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **self._seed_config()}


@initializers.register("random_uniform")
class RandomUniform(Initializer):
    name = "random_uniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def sample(self, shape, rng, dtype):
        return _uniform(rng, shape, self.minval, self.maxval, dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **self._seed_config()}


@initializers.register("orthogonal")
class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix, times ``gain``.

    Math:
        A ~ N(0, 1) of shape (rows, cols) flattened as (prod(shape[:-1]), shape[-1]);
        Q, R = qr(A);  Q *= sign(diag(R));  W = gain * Q
    Reference: Saxe, McClelland & Ganguli 2014.
    """

    name = "orthogonal"

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain, self.seed = float(gain), seed

    def sample(self, shape, rng, dtype):
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)), dtype=dtype)
        q, r = np.linalg.qr(a)
        del a  # in place from here on: the peak is the QR's, not a chain of copies
        q *= np.sign(np.diag(r))
        del r
        out = np.ascontiguousarray(q.T if rows < cols else q)
        out *= self.gain
        return out.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, **self._seed_config()}


def get(identifier: Any) -> Initializer:
    """An `Initializer` from a name, a ``{"name", "config"}`` dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        return initializers.get(identifier["name"])(**identifier.get("config", {}))
    if isinstance(identifier, str):
        return initializers.get(identifier)()
    raise TypeError(
        f"initializer must be a name such as 'glorot_uniform' or an Initializer. Got "
        f"{type(identifier).__name__} instead."
    )


def to_json(init: Initializer) -> Any:
    config = init.get_config()
    return init.name if not config else {"name": init.name, "config": config}
