"""Keras's ``keras.random`` on NumPy: seeded draws, in a custom layer's ``call`` or anywhere.

    noise = random.normal(ops.shape(x), stddev=0.1, seed=self.seed_generator)   # in call()
    mask = random.dropout(x, rate=0.5, seed=1337)

Seeds follow Keras's rules:

* an int: a stateless draw; the same int gives the same values at every call;
* a `SeedGenerator`: each draw reads its state and advances it, so successive draws differ and
  two generators made with the same seed give the same sequence;
* None: the global generator, seeded by `engram.nn.utils.set_random_seed` (else fresh entropy).

Every draw makes its `numpy.random.Generator` through `engram.validation.as_rng` from the pair
(seed, counter), so seeded runs repeat bit for bit. The values are NumPy's streams, not Keras's
(Keras's torch backend draws with torch's generator): distributions, shapes, dtypes and the
seeding rules above match Keras 3.15.1, the numbers themselves do not.

Inside a custom layer's ``call`` the draws are constants (no gradient), and `dropout` multiplies
its traced input by the mask with `engram.nn.ops.multiply`, so the gradient flows through the
kept units. While engram probes a layer's output shape, a `SeedGenerator` does not advance.
"""

from __future__ import annotations

import itertools
import numbers
from typing import Any

import numpy as np

from engram.nn import ops
from engram.nn.tape import probing
from engram.validation import as_rng

__all__ = [
    "SeedGenerator",
    "categorical",
    "dropout",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]

_MISSING = ("beta", "binomial", "gamma")


_names = itertools.count()


class SeedGenerator:
    """A seed that advances at every draw: Keras's ``keras.random.SeedGenerator``.

    Its ``state`` is ``[seed, counter]`` (int32, as in Keras); ``next()`` returns the state and
    adds one to the counter. It is not a weight: it counts in no ``get_weights()`` or
    ``count_params()``, as in Keras.

    Args:
        seed: a non-negative int; None draws one from the global generator (reproducible after
            `set_random_seed`).
        name: a name (Keras's argument; used in ``get_config``).

    Example:
        >>> gen = SeedGenerator(1337)
        >>> a, b = normal((2,), seed=gen), normal((2,), seed=gen)    # different values
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"SeedGenerator() got unexpected keyword arguments {sorted(kwargs)}. It takes "
                "seed and name."
            )
        if seed is None:
            seed = int(_global_rng().integers(1, 10**9))
        as_rng(seed)  # the same checks as every seed in engram
        self.seed = int(seed)
        if name is None:  # Keras's automatic names: seed_generator, seed_generator_1, ...
            count = next(_names)
            name = "seed_generator" if count == 0 else f"seed_generator_{count}"
        self.name = name
        self.counter = 0

    @property
    def state(self) -> np.ndarray:
        return np.array([self.seed, self.counter], np.int32)

    def next(self, ordered: bool = True) -> np.ndarray:
        """The current state; the counter advances by one (not while a shape is probed)."""
        state = self.state
        if not probing():
            self.counter += 1
        return state

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedGenerator:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator seed={self.seed} counter={self.counter}>"


#: the generator behind ``seed=None`` (replaced by `reset_global`)
_global: list[np.random.Generator] = []


def _global_rng() -> np.random.Generator:
    if not _global:
        _global.append(as_rng(None))
    return _global[0]


def reset_global(seed: int | None) -> None:
    """Seed the generator of ``seed=None`` draws (`set_random_seed` calls this)."""
    _global[:] = [as_rng(seed)]


def _rng(seed: Any) -> np.random.Generator:
    """The generator of one draw, from an int, a `SeedGenerator` or None (see the module)."""
    if seed is None:
        return _global_rng()
    if isinstance(seed, SeedGenerator):
        pair = seed.next()
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        as_rng(seed)  # validates (a non-negative int)
        pair = np.array([seed, 0])
    else:
        raise ValueError(
            "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
            f"Received: seed={seed!r} (of type {type(seed)})"
        )
    key = np.random.SeedSequence([int(v) for v in pair]).generate_state(1, np.uint64)[0]
    return as_rng(int(key))


def _shape(shape: Any, fn: str) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    ok = dims is not None and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0 for d in dims
    )
    if not ok:
        hint = (
            " A size is None: inside a model's call() the batch size is not known when engram "
            "traces it; draw the noise in a custom Layer's call() (ops.shape(x) is concrete "
            "there), or use random.dropout(x, ...), which takes the tensor."
            if dims is not None and None in dims
            else ""
        )
        raise ValueError(
            f"random.{fn}(shape=...) needs a tuple of non-negative ints. Received: "
            f"shape={shape!r}.{hint}"
        )
    return tuple(int(d) for d in dims)


def _float_dtype(dtype: Any, fn: str) -> np.dtype:
    dt = np.dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise ValueError(
            f"random.{fn} draws floats and requires a floating `dtype`. Received: dtype={dtype}"
        )
    return dt


# ----------------------------------------------------------------------- draws
def normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None
) -> np.ndarray:
    """Samples from N(mean, stddev^2), float32 unless ``dtype`` says otherwise."""
    dims, dt = _shape(shape, "normal"), _float_dtype(dtype, "normal")
    return (_rng(seed).standard_normal(dims) * stddev + mean).astype(dt)


def uniform(
    shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None, seed: Any = None
) -> np.ndarray:
    """Samples from U[minval, maxval)."""
    dims, dt = _shape(shape, "uniform"), _float_dtype(dtype, "uniform")
    return _rng(seed).uniform(minval, maxval, dims).astype(dt)


def truncated_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None
) -> np.ndarray:
    """Samples from N(mean, stddev^2) with those beyond two standard deviations drawn again."""
    dims, dt = _shape(shape, "truncated_normal"), _float_dtype(dtype, "truncated_normal")
    rng = _rng(seed)
    z = rng.standard_normal(dims)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return (z * stddev + mean).astype(dt)


def randint(
    shape: Any, minval: int, maxval: int, dtype: Any = "int32", seed: Any = None
) -> np.ndarray:
    """Integers drawn uniformly from [minval, maxval)."""
    dims, dt = _shape(shape, "randint"), np.dtype(dtype)
    if dt.kind not in "iu":
        raise ValueError(
            f"`keras.random.randint` requires an integer `dtype`. Received: dtype={dtype}"
        )
    if not maxval > minval:
        raise ValueError(
            f"random.randint needs minval < maxval. Received: minval={minval}, maxval={maxval}."
        )
    return _rng(seed).integers(minval, maxval, dims).astype(dt)


def categorical(logits: Any, num_samples: int, dtype: Any = "int32", seed: Any = None) -> Any:
    """For each row of ``logits`` (batch, classes), ``num_samples`` class indices drawn with
    probabilities softmax(row); returns (batch, num_samples)."""
    z = np.asarray(ops.convert_to_numpy(logits), np.float64)
    if z.ndim != 2:
        raise ValueError(
            "`logits` should be a 2-D tensor with shape [batch_size, num_classes]. "
            f"Received: logits of shape {z.shape}"
        )
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = _rng(seed).random((z.shape[0], int(num_samples)))
    picks = (u[:, :, None] >= cdf[:, None, :-1]).sum(axis=2)
    return picks.astype(np.dtype(dtype))


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> Any:
    """``x`` with its slices along ``axis`` in a random order (the same order for every other
    index, as Keras's TensorFlow and JAX backends shuffle; its torch backend shuffles each row
    on its own for axis > 0). On a traced tensor the gradient is unshuffled."""
    dims = ops.shape(x)
    axis = int(axis) % max(len(dims), 1)
    order = _rng(seed).permutation(dims[axis])
    return ops.take_index(x, (slice(None),) * axis + (order,))


def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Any:
    """Zero each entry with probability ``rate`` and scale the rest by 1 / (1 - rate)
    (``noise_shape`` broadcasts one mask, e.g. (batch, 1, features)). On a traced tensor the
    gradient is the same mask times the output gradient."""
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"random.dropout needs 0 <= rate < 1. Received: rate={rate}.")
    shape = tuple(ops.shape(inputs))
    dims = (
        shape
        if noise_shape is None
        else tuple(s if d is None else d for s, d in zip(shape, noise_shape, strict=True))
    )
    keep = _rng(seed).random(dims) >= rate
    dtype = getattr(inputs, "dtype", None) or np.asarray(inputs).dtype
    mask = (keep / (1.0 - rate)).astype(np.dtype(dtype))
    return ops.multiply(inputs, mask)


# on symbolic tensors (a model's traced call), each is one node that draws at every pass
categorical = ops.on_graph(categorical)
shuffle = ops.on_graph(shuffle)
dropout = ops.on_graph(dropout)


def __getattr__(name: str) -> Any:
    if name in _MISSING:
        raise AttributeError(
            f"keras.random.{name} is not implemented in engram.nn.random. It has: "
            f"{', '.join(__all__)}."
        )
    raise AttributeError(f"module 'engram.nn.random' has no attribute {name!r}")
