"""Optimizers with Keras's names, defaults and update formulas.

Parameters and gradients are dicts with the same keys (``layer.params`` / ``layer.grads``): an
optimizer updates every trainable layer's ``params[key]`` in place from ``grads[key]``, with its
own state (``slots``) stored under the same ``"layer/key"`` name. Every update rule here is
element-wise, so the weights of all layers are packed into one contiguous buffer (per dtype) at
the first step and each rule runs once over that buffer: the same numbers as weight by weight,
without a dozen NumPy calls per bias vector (``Optimizer.step``).
Every constant is a Python float, so float32 weights stay float32 (NumPy 2 promotion rules).
"""

from __future__ import annotations

import math
import re
import sys
import weakref
from typing import Any

import numpy as np

from engram.nn import constraints, schedules
from engram.registry import Registry
from engram.validation import check_fraction, check_positive, describe

optimizers: Registry[Any] = Registry("optimizer")


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Got {describe(value)} instead.")
    return bool(value)


def _as_learning_rate(value: Any) -> float | schedules.LearningRateSchedule:
    """A positive Python float, a schedule, or a schedule's saved entry (a dict)."""
    if isinstance(value, schedules.LearningRateSchedule):
        return value
    if isinstance(value, dict):
        return schedules.deserialize(value)
    if callable(value):
        raise TypeError(
            f"learning_rate must be a number or a LearningRateSchedule. Got {describe(value)} "
            "instead. Write the function as a LearningRateSchedule subclass (its __call__ "
            "takes the step), or change the rate per epoch with "
            "callbacks.LearningRateScheduler."
        )
    check_positive(value, "learning_rate")
    # Python floats, never NumPy float64 scalars: float32 weights must stay float32
    return float(value)


class Optimizer:
    """Base class: gradient clipping, the step counter and per-weight state.

    Math (every update, in Keras's order):
        lr = learning_rate, or learning_rate(iterations) for a schedule (iterations = the
             updates made before this one, as Keras's ``optimizer.iterations``)
        g  <- clip(g)                                  (clipnorm / clipvalue / global_clipnorm)
        w  <- w - weight_decay * lr * w                (decoupled weight decay, if set)
        w  <- w - step(g, state)                       (the optimizer's own rule)

    Args:
        learning_rate: step size, > 0, or a schedule from ``optimizers.schedules``.
        weight_decay: decoupled weight decay, >= 0, applied to every trainable weight (biases
            included, as Keras) before the update; None for none.
        clipnorm: clip each weight's gradient to this L2 norm (Keras semantics), > 0.
        clipvalue: clip every gradient element to [-clipvalue, clipvalue], > 0.
        global_clipnorm: clip all gradients together to this global L2 norm, > 0.

    Every hyperparameter is checked here, when the optimizer is made: a value that would turn
    the weights into NaN (a negative epsilon or accumulator, a decay rate outside [0, 1)) is
    refused with its valid range. Keras accepts some of them (``RMSprop(epsilon=-1)``,
    ``RMSprop(rho=5)``, ``Adagrad(initial_accumulator_value=-1)``) and trains to NaN.

    One optimizer belongs to one model (its step count and moments are that model's):
    compiling a second model with the same instance raises `ValueError`, as Keras refuses to
    step variables it was not built with.
    """

    name = "optimizer"
    slot_names: tuple[str, ...] = ()
    extra_variables = 0  # scalars Keras's optimizer keeps besides its step and learning rate

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ) -> None:
        self._learning_rate = _as_learning_rate(learning_rate)
        if weight_decay is not None:
            check_positive(weight_decay, "weight_decay", strict=False)
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
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self.iterations = 0
        self._lr = self.learning_rate  # the rate of the update being made (set by step)
        self.slots: dict[str, dict[str, np.ndarray]] = {}
        self._buffers: dict[tuple[tuple[int, ...], np.dtype, str], np.ndarray] = {}
        self._groups: list[_Packed] = []
        self._entries: list[_Entry] = []
        self._owner: weakref.ref | None = None
        self._no_decay: tuple[set[int], re.Pattern | None] | None = None  # exclude_from_...
        self._no_decay_keys: set[str] = set()  # "layer/key" of the weights left out

    @property
    def learning_rate(self) -> float:
        """The rate the next update uses: for a schedule, its value at ``iterations``."""
        lr = self._learning_rate
        return lr if isinstance(lr, float) else float(lr(self.iterations))

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) and not isinstance(
            value, (schedules.LearningRateSchedule, dict)
        ):
            raise TypeError(
                "This optimizer was created with a LearningRateSchedule as its learning_rate, "
                "hence its learning rate is not settable (as in Keras). Create the optimizer "
                "with a float learning_rate to set it, or give it another schedule."
            )
        self._learning_rate = _as_learning_rate(value)

    @property
    def schedule(self) -> schedules.LearningRateSchedule | None:
        """The learning-rate schedule, or None for a constant rate."""
        lr = self._learning_rate
        return None if isinstance(lr, float) else lr

    def bind(self, model: Any) -> None:
        """Tie this optimizer to ``model`` (at compile); refuse it while another living model
        still trains with it."""
        owner = None if self._owner is None else self._owner()
        if owner is not None and owner is not model and getattr(owner, "optimizer", None) is self:
            raise ValueError(
                f"This {type(self).__name__} optimizer is already used by the model "
                f"{getattr(owner, 'name', '?')!r}: its step count and moments belong to that "
                f"model. Give each model its own optimizer, e.g. "
                f"compile(optimizer={type(self).__name__}(learning_rate="
                f"{self.learning_rate!r})) or optimizer={self.name!r}."
            )
        self._owner = weakref.ref(model)

    def step(self, layers: list[Any]) -> None:
        """Update every trainable layer's ``params`` in place from its ``grads``.

        The first step moves the weights of all layers into one contiguous buffer per dtype
        (``layer.params[key]`` becomes a view into it; gradients and optimizer state likewise),
        so a step is one pass of whole-buffer NumPy operations, not one pass per weight. The
        update is element-wise, so every number is the same as weight by weight. Weights that
        are replaced (``set_weights``, loading a file) are noticed and packed again.
        """
        self._lr = self.learning_rate  # before counting this update, as Keras
        self.iterations += 1
        weights = [
            (f"{layer.name}/{key}", layer, key)
            for layer in layers
            if layer.trainable
            for key in layer.params
            if key in layer.grads
        ]
        if not self._still_packed(weights):
            if self._no_decay is not None:
                self._no_decay_keys |= _excluded(weights, *self._no_decay)
            self._pack(weights)
        grads = [group.collect_grads() for group in self._groups]
        scale = self._global_scale(grads)
        clipping = self.clipnorm is not None or self.clipvalue is not None or scale != 1.0
        for group, grad in zip(self._groups, grads, strict=True):
            if clipping:
                grad = self._clip_group(group, grad, scale)
            if self.weight_decay and not self._no_decay_keys:  # the gaps stay zeros
                group.param *= 1.0 - self.weight_decay * self._lr
            elif self.weight_decay:
                for entry in group.entries:
                    if f"{entry.layer.name}/{entry.key}" not in self._no_decay_keys:
                        entry.param *= 1.0 - self.weight_decay * self._lr
            self.update(group.param, grad, group.slots)
            if self.iterations % self.FLUSH_EVERY == 0:
                _flush_tiny(group.slots.values())
        constraints.apply(layers)  # kernel_constraint & co., after the update, as Keras does

    #: every this many updates, state entries below `_flush_tiny`'s bound are set to zero
    FLUSH_EVERY = 16

    def exclude_from_weight_decay(
        self, var_list: Any = None, var_names: list[str] | None = None
    ) -> None:
        """Keras's: leave weights out of ``weight_decay``: the arrays in ``var_list`` (a layer's
        ``params`` values, compared by identity) and every weight whose Keras variable name
        (``kernel``, ``recurrent_kernel``, ``bias``, ``gamma``, ``beta``, ``embeddings``, ...)
        contains a match of one of ``var_names`` (regular expressions, searched as Keras does).
        Call it before the first update, as Keras requires; it replaces an earlier call.

        Raises:
            ValueError: the optimizer has already made an update.
        """
        if self.iterations or self._entries:
            raise ValueError(
                "exclude_from_weight_decay() can only be configured before the optimizer is "
                "built (its first update), as in Keras. Call it before fit."
            )
        names = list(dict.fromkeys(var_names or []))
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"var_names must be strings. Got {describe(name)} instead.")
        pattern = re.compile("|".join(names)) if names else None
        self._no_decay = ({id(v) for v in var_list or []}, pattern)
        self._no_decay_keys = set()

    def variable_size(self) -> tuple[int, int] | None:
        """(numbers, bytes) that Keras's ``optimizer.variables`` hold once it is built (at its
        first update): every trained weight's slots, the step count (int32), the learning rate
        (float32; a schedule is no variable) and ``extra_variables``. Keras's summary prints
        them as "Optimizer params". None before the first update (Keras's optimizer is not
        built yet)."""
        if not self.iterations and not self.slots:
            return None
        arrays = [array for state in self.slots.values() for array in state.values()]
        scalars = 1 + self.extra_variables
        scalars += not isinstance(self._learning_rate, schedules.LearningRateSchedule)
        return sum(a.size for a in arrays) + scalars, sum(a.nbytes for a in arrays) + 4 * scalars

    def _still_packed(self, weights: list[tuple[str, Any, str]]) -> bool:
        """Whether the packed buffers still hold exactly these weights and their state."""
        entries = self._entries
        if len(entries) != len(weights):
            return False
        slots = self.slots
        for (slot_key, layer, key), entry in zip(weights, entries, strict=True):
            if (
                layer is not entry.layer
                or key != entry.key
                or layer.params[key] is not entry.param
                or slots.get(slot_key) is not entry.state
            ):
                return False
            for name, view in entry.slot_views.items():
                if entry.state.get(name) is not view:
                    return False
        return True

    def _pack(self, weights: list[tuple[str, Any, str]]) -> None:
        by_dtype: dict[np.dtype, list[tuple[str, Any, str]]] = {}
        for item in weights:
            by_dtype.setdefault(item[1].params[item[2]].dtype, []).append(item)
        self._groups = [_Packed(self, items, dtype) for dtype, items in by_dtype.items()]
        self._entries = [entry for group in self._groups for entry in group.entries]

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

    def _clip_group(self, group: _Packed, grad: np.ndarray, scale: float) -> np.ndarray:
        """The group's gradients clipped weight by weight (Keras's clipnorm is per weight),
        in a scratch buffer: the layers' ``grads`` keep the raw values."""
        clipped = self.buffer(grad, "clipped")
        np.copyto(clipped, grad)
        for entry in group.entries:
            view = entry.view_of(clipped)
            view[...] = self._clip(view, scale)
        return clipped

    def buffer(self, param: np.ndarray, tag: str = "") -> np.ndarray:
        """A scratch array shaped like ``param``, reused across updates (not saved)."""
        key = (param.shape, param.dtype, tag)
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
        """The constructor's arguments as data; a schedule as Keras's serialized entry."""
        lr = self._learning_rate
        config: dict[str, Any] = {
            "learning_rate": lr if isinstance(lr, float) else schedules.serialize(lr)
        }
        for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config


def keras_variable_name(layer: Any, key: str) -> str:
    """The name Keras gives the variable of ``layer.params[key]`` (Dense's "weights" is
    Keras's "kernel", a recurrent layer's "recurrent_weights" its "recurrent_kernel")."""
    prefix = {engram: keras for keras, engram in getattr(layer, "keras_weights", {}).items()}
    name = prefix.get(key, key)
    return "recurrent_kernel" if name == "recurrent" else name


def _excluded(weights: list[tuple[str, Any, str]], ids: set[int], pattern: Any) -> set[str]:
    """The "layer/key" of the weights that `exclude_from_weight_decay` leaves out."""
    return {
        slot_key
        for slot_key, layer, key in weights
        if id(layer.params[key]) in ids
        or (pattern is not None and pattern.search(keras_variable_name(layer, key)))
    }


def _flush_tiny(arrays: Any) -> None:
    """Set to zero the state entries too small to move any weight: |x| < 2**-100 (~8e-31) in
    float32 and float64 arrays (float16 has no such range: left alone).

    A moment that decays with a zero gradient (a dead ReLU unit's weights: m <- b1 m) reaches
    float32's subnormal range (< 1.2e-38) after some hundreds of updates, and every
    arithmetic pass over a buffer holding subnormal numbers runs several times slower on x86
    (measured: Adam's update over the 478,410 weights of a 784-400-400-10 MLP, 1.5 -> 6 ms
    CPU, after 900 steps on split Fashion-MNIST). Flushed every `Optimizer.FLUSH_EVERY`
    updates, an entry never gets there (a decay of 0.9 a step needs ~170 steps from 2**-100
    to 2**-126). What the flushed entries would have added to a weight is below ~1e-27 per
    update (Adam: lr (1 - b1) m_sum / (sqrt(v_sum) + eps / sqrt(1 - b2)) with m_sum < 8e-31;
    SGD: the velocity itself), far below float32's resolution of any weight that is not
    itself within ~1e-20 of zero: the same weights as without the flush, in every test here.
    """
    for array in arrays:
        if array.dtype in (np.float32, np.float64):
            np.copyto(array, 0.0, where=np.abs(array) < 2.0**-100)


class _Entry:
    """One weight inside a packed buffer: where it lives and the arrays bound to it."""

    __slots__ = ("layer", "key", "start", "shape", "param", "grad", "state", "slot_views")

    def __init__(self, layer: Any, key: str, start: int, shape: tuple[int, ...]) -> None:
        self.layer, self.key, self.start, self.shape = layer, key, start, shape
        self.param: np.ndarray | None = None
        self.grad: np.ndarray | None = None
        self.state: dict[str, np.ndarray] = {}
        self.slot_views: dict[str, np.ndarray] = {}

    def view_of(self, flat: np.ndarray) -> np.ndarray:
        """This weight's part of a packed buffer, in the weight's shape."""
        return flat[self.start : self.start + math.prod(self.shape)].reshape(self.shape)


class _Packed:
    """The weights of one dtype in one contiguous buffer, with gradients and slots alike.

    Each weight starts on a 64-byte boundary (aligned vector loads); the gaps are zeros in
    every buffer, and every optimizer here turns a zero gradient with zero (or Adagrad's
    constant) state into a zero step, so they stay zero.
    """

    ALIGN_BYTES = 64

    def __init__(self, optimizer: Optimizer, items: list[tuple[str, Any, str]], dtype) -> None:
        align = max(1, self.ALIGN_BYTES // np.dtype(dtype).itemsize)
        self.entries: list[_Entry] = []
        total = 0
        for _, layer, key in items:
            shape = layer.params[key].shape
            self.entries.append(_Entry(layer, key, total, shape))
            total += -(-math.prod(shape) // align) * align
        self.param = self._zeros(total, dtype)
        self.grad = self._zeros(total, dtype)
        self.slots = {}
        for name, init in optimizer.init_slots(self.param).items():
            self.slots[name] = self._zeros(total, dtype)
            self.slots[name][...] = init
        for (slot_key, layer, key), entry in zip(items, self.entries, strict=True):
            entry.param = entry.view_of(self.param)
            entry.param[...] = layer.params[key]
            layer.params[key] = entry.param
            entry.grad = entry.view_of(self.grad)
            entry.grad[...] = layer.grads[key]
            layer.grads[key] = entry.grad
            old = optimizer.slots.get(slot_key, {})
            entry.slot_views = {name: entry.view_of(flat) for name, flat in self.slots.items()}
            for name, view in entry.slot_views.items():
                if name in old:
                    view[...] = old[name]
            entry.state = optimizer.slots[slot_key] = dict(entry.slot_views)

    @classmethod
    def _zeros(cls, size: int, dtype) -> np.ndarray:
        """Zeros whose first element sits on a 64-byte boundary."""
        itemsize = np.dtype(dtype).itemsize
        raw = np.zeros(size * itemsize + cls.ALIGN_BYTES, np.uint8)
        skip = -raw.ctypes.data % cls.ALIGN_BYTES
        return raw[skip : skip + size * itemsize].view(dtype)

    def collect_grads(self) -> np.ndarray:
        """The packed gradient buffer, after copying in any gradient a layer returned as a new
        array (a layer that writes into last step's array, as Dense does, costs no copy)."""
        for entry in self.entries:
            grads = entry.layer.grads
            if grads[entry.key] is not entry.grad:
                entry.grad[...] = grads[entry.key]
                grads[entry.key] = entry.grad
        return self.grad


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
        check_fraction(momentum, "momentum", inclusive_high=True)
        self.momentum, self.nesterov = float(momentum), _check_bool(nesterov, "nesterov")
        self.slot_names = ("velocity",) if self.momentum else ()

    def update(self, param, grad, state):
        step = np.multiply(grad, self._lr, out=self.buffer(param))  # lr g
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
    """Adam (Kingma & Ba 2015), in Keras's form, with Keras's AMSGrad variant.

    Math:
        m <- b1 m + (1 - b1) g;      v <- b2 v + (1 - b2) g^2
        amsgrad:  v_hat <- max(v_hat, v), used below in place of v
        lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
        w <- w - lr_t m / (sqrt(v) + eps)       (eps outside the bias correction, as Keras)

    The state is kept as the exponentially weighted sums ``m_sum = m / (1 - b1)`` and
    ``v_sum = v / (1 - b2)`` (and ``v_hat_sum = v_hat / (1 - b2)``: the maximum commutes with
    the positive factor), which take two passes over the weights to update, not three:
        m_sum <- b1 m_sum + g;       v_sum <- b2 v_sum + g^2
        w <- w - c m_sum / (sqrt(v_sum) + eps / r),   r = sqrt(1 - b2),  c = lr_t (1 - b1) / r
    the same step as above, in ten passes instead of twelve (measured 111 -> 90 us for 101,776
    float32 weights). Keras's m and v are ``(1 - b1) m_sum`` and ``(1 - b2) v_sum``.

    Args:
        beta_1, beta_2: decay rates of the two moments, in [0, 1).
        epsilon: added to sqrt(v) in the denominator, > 0 (0 would divide 0 by 0 wherever a
            gradient is always 0, e.g. a dead ReLU unit's weights).
        amsgrad: divide by the largest v seen so far (Reddi et al. 2018), not the current v.

    Reference:
        Kingma & Ba (2015), Adam: a method for stochastic optimization.
        Reddi, Kale & Kumar (2018), On the convergence of Adam and beyond.
    """

    name = "adam"
    slot_names = ("m_sum", "v_sum")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        check_fraction(beta_1, "beta_1")
        check_fraction(beta_2, "beta_2")
        check_positive(epsilon, "epsilon")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = _check_bool(amsgrad, "amsgrad")
        if self.amsgrad:
            self.slot_names = ("m_sum", "v_sum", "v_hat_sum")

    def update(self, param, grad, state):
        t = self.iterations
        b1, b2 = self.beta_1, self.beta_2
        r = math.sqrt(1 - b2)
        c = self._lr * math.sqrt(1 - b2**t) / (1 - b1**t) * (1 - b1) / r
        m, v = state["m_sum"], state["v_sum"]
        m *= b1
        m += grad
        s = np.square(grad, out=self.buffer(param))  # one scratch array, no allocations
        v *= b2
        v += s
        if self.amsgrad:
            v = np.maximum(state["v_hat_sum"], v, out=state["v_hat_sum"])
        np.sqrt(v, out=s)
        s += self.epsilon / r
        np.divide(m, s, out=s)
        s *= c
        param -= s

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


@optimizers.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as Keras's AdamW.

    Math:
        w <- w - weight_decay * lr * w          (before the update, every trainable weight)
        then Adam's update (see `Adam`), with the same lr (a schedule's value at this step)

    Args:
        weight_decay: the decay rate, >= 0 (Keras's default 0.004; None is refused, as Keras).

    Reference:
        Loshchilov & Hutter (2019), Decoupled weight decay regularization.
    """

    name = "adamw"

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError(
                "AdamW's weight_decay must be a number >= 0 (as in Keras). Received: "
                "weight_decay=None. Use Adam for no weight decay."
            )
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )


@optimizers.register("nadam")
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (Dozat 2016), with Keras's momentum schedule.

    Math (t = the update's number, from 1):
        u_t = b1 (1 - 0.5 * 0.96^t)               momentum schedule
        U_t = u_1 u_2 ... u_t                       its running product ("momentum cache")
        m <- b1 m + (1 - b1) g;      v <- b2 v + (1 - b2) g^2
        m_hat = u_{t+1} m / (1 - U_{t+1}) + (1 - u_t) g / (1 - U_t)
        v_hat = v / (1 - b2^t)
        w <- w - lr m_hat / (sqrt(v_hat) + eps)

    U_t depends only on t, so it is recomputed from ``iterations`` (and cached) rather than
    stored: a model file that restores ``iterations`` restores it too.

    Args:
        beta_1, beta_2: decay rates of the two moments, in [0, 1).
        epsilon: added to sqrt(v_hat), > 0.

    Reference:
        Dozat (2016), Incorporating Nesterov momentum into Adam.
    """

    name = "nadam"
    slot_names = ("m", "v")
    extra_variables = 1  # Keras stores U_t, the momentum product

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        check_fraction(beta_1, "beta_1")
        check_fraction(beta_2, "beta_2")
        check_positive(epsilon, "epsilon")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._cache = (0, 1.0)  # (t, U_t)

    def momentum_schedule(self, t: int) -> float:
        """u_t = beta_1 (1 - 0.5 * 0.96^t)."""
        return self.beta_1 * (1.0 - 0.5 * 0.96**t)

    def momentum_product(self, t: int) -> float:
        """U_t = u_1 ... u_t (1 for t = 0)."""
        start, product = self._cache if self._cache[0] <= t else (0, 1.0)
        for i in range(start + 1, t + 1):
            product *= self.momentum_schedule(i)
        self._cache = (t, product)
        return product

    def update(self, param, grad, state):
        t = self.iterations
        b1, b2 = self.beta_1, self.beta_2
        u_t, u_next = self.momentum_schedule(t), self.momentum_schedule(t + 1)
        product = self.momentum_product(t)
        m, v = state["m"], state["v"]
        a, b = self.buffer(param, "a"), self.buffer(param, "b")
        np.multiply(grad, 1.0 - b1, out=a)
        m *= b1
        m += a
        np.square(grad, out=a)
        a *= 1.0 - b2
        v *= b2
        v += a
        np.multiply(m, u_next / (1.0 - product * u_next), out=a)  # m_hat
        np.multiply(grad, (1.0 - u_t) / (1.0 - product), out=b)
        a += b
        np.sqrt(v, out=b)
        b *= 1.0 / math.sqrt(1.0 - b2**t)  # sqrt(v_hat)
        b += self.epsilon
        a /= b
        a *= self._lr
        param -= a

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

    Args:
        rho: decay rate of the mean square, in [0, 1).
        epsilon: added to v under the root, > 0 (keeps the step finite where g = 0).
    """

    name = "rmsprop"
    slot_names = ("v",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        check_fraction(rho, "rho")
        check_positive(epsilon, "epsilon")
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
        t *= self._lr
        param -= t

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


@optimizers.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), in Keras's form.

    Math:
        a <- a + g^2            (a starts at initial_accumulator_value)
        w <- w - lr g / sqrt(a + eps)      (Keras puts eps inside the root; torch outside)

    Args:
        initial_accumulator_value: the starting value of a, >= 0 (a is a sum of squares).
        epsilon: added to a under the root, > 0.
    """

    name = "adagrad"
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        check_positive(initial_accumulator_value, "initial_accumulator_value", strict=False)
        check_positive(epsilon, "epsilon")
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
        t *= self._lr
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


# ``keras.optimizers.schedules`` has its twin here: ``optimizers.schedules.ExponentialDecay``,
# and ``from engram.nn.optimizers.schedules import ...`` finds the module too
sys.modules.setdefault(f"{__name__}.schedules", schedules)
