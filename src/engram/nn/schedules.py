"""Learning-rate schedules with Keras's names, arguments and formulas.

A schedule is a function of the optimizer's step counter: an optimizer built with
``learning_rate=schedule`` uses ``schedule(iterations)`` for the update it is about to make,
where ``iterations`` counts the updates already made (0 for the first), exactly as Keras's
``optimizer.iterations``. Reachable as ``engram.nn.optimizers.schedules`` (Keras's
``keras.optimizers.schedules``) and saved as data: ``serialize`` writes Keras's
``{"module", "class_name", "config"}`` entry and ``deserialize`` looks the class name up in
this module's registry, never importing anything.

Example:
    >>> from engram.nn import optimizers
    >>> lr = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(lr(10), 6)
    0.05
    >>> opt = optimizers.SGD(learning_rate=lr)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from engram.registry import Registry
from engram.validation import check_positive, describe

schedules: Registry[Any] = Registry("learning-rate schedule", normalize=False)

#: the module Keras writes for its schedules (``keras.optimizers.schedules.serialize``)
KERAS_MODULE = "keras.optimizers.schedules"


def _check_step(step: Any) -> float:
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or step < 0:
        raise ValueError(f"step must be a number >= 0 (the update count). Got {describe(step)}.")
    return float(step)


def _check_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number. Got {describe(value)} instead.")
    return float(value)


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate`` plus ``get_config``/``from_config``.

    A subclass written by a user trains like Keras's (override ``__call__``); only the
    schedules of this module can be saved in a model file, since a file never names code.
    """

    def __call__(self, step: Any) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step).")

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define get_config().")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class _Decay(LearningRateSchedule):
    """Shared checks of the decays that take an initial rate and a positive step count."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, name: str) -> None:
        self.initial_learning_rate = _check_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = check_positive(decay_steps, "decay_steps")
        self.name = name


@schedules.register("ExponentialDecay")
class ExponentialDecay(_Decay):
    """Exponential decay.

    Math:
        lr(step) = initial_learning_rate * decay_rate ^ (step / decay_steps)
        (staircase: the exponent is floor(step / decay_steps))
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, name)
        self.decay_rate = _check_number(decay_rate, "decay_rate")
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = _check_step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


@schedules.register("InverseTimeDecay")
class InverseTimeDecay(ExponentialDecay):
    """Inverse time decay.

    Math:
        lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)
        (staircase: floor(step / decay_steps) in place of step / decay_steps)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        p = _check_step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)


@schedules.register("PiecewiseConstantDecay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """Piecewise constant learning rate.

    Math:
        lr(step) = values[0]   if step <= boundaries[0]
                   values[i]   if boundaries[i-1] < step <= boundaries[i]
                   values[-1]  if step > boundaries[-1]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        for i, b in enumerate(boundaries):
            _check_number(b, f"boundaries[{i}]")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:], strict=False)):
            raise ValueError(f"boundaries must be strictly increasing. Got {boundaries}.")
        self.boundaries = boundaries
        self.values = [_check_number(v, f"values[{i}]") for i, v in enumerate(values)]
        self.name = name

    def __call__(self, step):
        step = _check_step(step)
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


@schedules.register("PolynomialDecay")
class PolynomialDecay(_Decay):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``.

    Math:
        without cycle:  s = min(step, decay_steps),  D = decay_steps
        with cycle:     s = step,  D = decay_steps * max(1, ceil(step / decay_steps))
        lr(step) = (initial_learning_rate - end_learning_rate) (1 - s / D) ^ power
                   + end_learning_rate
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, name)
        self.end_learning_rate = _check_number(end_learning_rate, "end_learning_rate")
        self.power = _check_number(power, "power")
        self.cycle = bool(cycle)

    def __call__(self, step):
        step = _check_step(step)
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        fraction_left = 1.0 - step / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return span * fraction_left**self.power + self.end_learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


@schedules.register("CosineDecay")
class CosineDecay(_Decay):
    """Cosine decay (Loshchilov & Hutter 2017), with an optional linear warmup.

    Math:
        without warmup_target:  s = min(step, decay_steps)
                                lr = initial_learning_rate * decayed(s)
        with warmup_target:     s = min(step, warmup_steps + decay_steps)
                                s < warmup_steps:  lr = initial_learning_rate
                                    + (warmup_target - initial_learning_rate) s / warmup_steps
                                otherwise:         lr = warmup_target * decayed(s - warmup_steps)
        decayed(s) = (1 - alpha) * 0.5 (1 + cos(pi s / decay_steps)) + alpha

    Reference:
        Loshchilov & Hutter (2017), SGDR: stochastic gradient descent with warm restarts;
        Goyal et al. (2017) for the linear warmup.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        super().__init__(initial_learning_rate, decay_steps, name)
        self.alpha = _check_number(alpha, "alpha")
        self.warmup_target = (
            None if warmup_target is None else _check_number(warmup_target, "warmup_target")
        )
        self.warmup_steps = check_positive(warmup_steps, "warmup_steps", strict=False)

    def _decayed(self, step: float, start: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _check_step(step)
        if self.warmup_target is None:
            return self._decayed(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """Keras's entry for ``schedule``: ``{"module", "class_name", "config", "registered_name"}``.

    Raises:
        ValueError: ``schedule`` is not one of this module's classes (a subclass written in
            your program trains, but a file cannot name its code).
    """
    class_name = type(schedule).__name__
    if class_name not in schedules or schedules.get(class_name) is not type(schedule):
        raise ValueError(
            f"The learning-rate schedule {class_name} cannot be saved as data: engram's model "
            f"files hold only the schedules of engram.nn.optimizers.schedules "
            f"({', '.join(schedules.names())}). Save the weights with save_weights, or use one "
            f"of those schedules."
        )
    return {
        "module": KERAS_MODULE,
        "class_name": class_name,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(entry: Any) -> LearningRateSchedule:
    """A schedule from ``serialize``'s entry (or Keras's ``{"class_name", "config"}``)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(
            f"A learning-rate schedule must be given as {{'class_name': ..., 'config': {{...}}}}."
            f" Got {describe(entry)} instead."
        )
    module = entry.get("module", KERAS_MODULE)
    if module not in (KERAS_MODULE, None):
        raise ValueError(
            f"A learning-rate schedule from module {module!r} is not one engram has; only "
            f"{KERAS_MODULE} ({', '.join(schedules.names())})."
        )
    config = entry.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"The schedule's config must be a dict. Got {describe(config)} instead.")
    return schedules.get(entry["class_name"]).from_config(config)


def get(identifier: Any) -> LearningRateSchedule:
    """A schedule from an instance or a serialized entry."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    return deserialize(identifier)
