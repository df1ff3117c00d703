"""The delayed center-out reaching task, as batches of arrays for recurrent networks.

A trial, in time steps of ``dt`` milliseconds::

    fixation | delay (target shown) | reaction | movement | hold | (padding to the batch length)
             ^ target onset         ^ go cue   ^ movement onset

The network sees the target's position from target onset on and a go-cue channel; it must keep
the hand still at the centre until ``reaction`` ms after the go cue, then move to the target along
a minimum-jerk (bell-shaped velocity) profile within ``movement`` ms and stay there. Catch trials
show a target but never give the go cue: the hand must stay at the centre.

`FlipFlopTask` (Sussillo & Barak 2013) lives in `engram.motor.flipflop` and is re-exported here.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engram.motor.flipflop import FlipFlopTask
from engram.validation import Seed, as_rng, check_choice, check_fraction, check_positive

__all__ = ["DEFAULT_REACH_TIMING", "FlipFlopTask", "ReachTask", "minimum_jerk"]

#: Default epoch durations in milliseconds (``delay`` is a (min, max) range sampled uniformly).
DEFAULT_REACH_TIMING: dict[str, Any] = {
    "dt": 10,
    "fixation": 200,
    "delay": (300, 600),
    "reaction": 150,
    "movement": 500,
    "hold": 200,
    "go_pulse": 50,
}

_MAY_BE_ZERO = ("fixation", "reaction", "hold")
_OUTPUTS = ("position", "velocity", "muscles")


def minimum_jerk(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minimum-jerk profile and its derivative on normalized time ``s`` in [0, 1].

    Math:
        p(s)  = 10 s^3 - 15 s^4 + 6 s^5          p(0) = 0, p(1) = 1
        p'(s) = 30 s^2 - 60 s^3 + 30 s^4         bell-shaped, peak 1.875 at s = 1/2
        A reach from x0 to xf lasting T seconds: x(t) = x0 + (xf - x0) p(t / T),
        velocity v(t) = (xf - x0) p'(t / T) / T. Values of s outside [0, 1] are clipped.

    Args:
        s: normalized time, any shape.

    Returns:
        ``(p, dp)``: the profile and its derivative with respect to ``s``, shaped like ``s``.

    Reference:
        Flash & Hogan 1985, J. Neurosci. 5:1688.
    """
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    return 10 * s**3 - 15 * s**4 + 6 * s**5, 30 * s**2 - 60 * s**3 + 30 * s**4


def _timing_error(key: str, value: Any, problem: str, fix: str) -> ValueError:
    shown = f"{value:g}" if isinstance(value, numbers.Real) else repr(value)
    return ValueError(f"timing[{key!r}] = {shown} {problem}. {fix}")


def _check_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"timing[{key!r}] must be a number of milliseconds. Got {type(value).__name__} "
            f"{value!r} instead."
        )
    if not np.isfinite(value):
        raise _timing_error(key, value, "is not finite", "Give a duration in milliseconds.")
    if value < 0:
        raise _timing_error(
            key,
            value,
            "is negative",
            f"Durations are in milliseconds and must be >= 0, "
            f"e.g. timing={{{key!r}: {DEFAULT_REACH_TIMING.get(key, 100)!r}}}.",
        )
    return float(value)


def _to_steps(key: str, value: float, dt: float, *, may_be_zero: bool) -> int:
    """Milliseconds to whole steps, refusing durations that would round to zero steps."""
    if value == 0 and may_be_zero:
        return 0
    if value < dt:
        skip = "Use 0 to skip this epoch, or a" if may_be_zero else "Use a"
        raise _timing_error(
            key,
            value,
            f"ms is shorter than one step (dt = {dt:g} ms)",
            f"{skip} value >= {dt:g} ms, or a smaller timing['dt'].",
        )
    return int(round(value / dt))


def _resolve_timing(timing: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge ``timing`` into the defaults, check it, and return (ms, steps)."""
    merged = dict(DEFAULT_REACH_TIMING)
    for key, value in dict(timing or {}).items():
        if key not in DEFAULT_REACH_TIMING:
            close = difflib.get_close_matches(str(key), list(DEFAULT_REACH_TIMING), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown timing key {key!r}.{hint} Valid keys: {', '.join(DEFAULT_REACH_TIMING)}."
            )
        merged[key] = value
    dt = _check_number("dt", merged["dt"])
    if dt == 0:
        raise _timing_error("dt", 0, "is zero", "Give the step length in ms, e.g. 10.")
    steps: dict[str, Any] = {}
    for key in ("fixation", "reaction", "movement", "hold", "go_pulse"):
        value = _check_number(key, merged[key])
        steps[key] = _to_steps(key, value, dt, may_be_zero=key in _MAY_BE_ZERO)
    delay = merged["delay"]
    low, high = (delay, delay) if isinstance(delay, numbers.Real) else _delay_pair(delay)
    low, high = _check_number("delay", low), _check_number("delay", high)
    if low > high:
        raise _timing_error(
            "delay", delay, "has min > max", "Give (min, max) in ms, e.g. (300, 600)."
        )
    steps["delay"] = (
        _to_steps("delay", low, dt, may_be_zero=True),
        _to_steps("delay", high, dt, may_be_zero=True),
    )
    if steps["delay"][1] == 0:
        raise _timing_error(
            "delay",
            delay,
            "leaves no delay",
            "The go cue needs at least one step after target onset; use a delay >= dt.",
        )
    if steps["movement"] < 2:
        raise _timing_error(
            "movement",
            merged["movement"],
            "is under two steps",
            f"A reach needs at least two steps; use >= {2 * dt:g} ms.",
        )
    return merged, steps


def _delay_pair(delay: Any) -> tuple[Any, Any]:
    if isinstance(delay, (str, bytes)) or not isinstance(delay, Sequence) or len(delay) != 2:
        raise TypeError(
            "timing['delay'] must be a number of ms or a (min, max) pair sampled uniformly. "
            f"Got {delay!r} instead."
        )
    return delay[0], delay[1]


class ReachTask:
    """Delayed center-out reaching with a minimum-jerk hand trajectory.

    Math:
        targets on a circle: g_k = radius (cos(2 pi k / n), sin(2 pi k / n)), k = 0..n-1
        inputs:   (g_x, g_y) from target onset to the end, 0 before; go = 1 from the go cue on
                  ("step") or for timing["go_pulse"] ms ("pulse"); plus N(0, input_noise^2)
        position: x(t) = g p((t - t_move) / T_move) with p the minimum-jerk profile, 0 before
                  movement onset and g after the movement (0 throughout a catch trial)
        velocity: dx/dt in units per second
        muscles:  [x, y, vx, vy] @ muscle_map, a fixed random (4, n_muscles) linear map
        mask:     1 up to the trial's own end, 0 on the padding that evens out the delays

    Args:
        n_targets: number of targets on the circle (>= 2).
        radius: reach distance (arbitrary units; MotorNet uses 0.1 m).
        timing: epoch durations in ms overriding `DEFAULT_REACH_TIMING`: ``dt``, ``fixation``,
            ``delay`` (a number or a (min, max) range), ``reaction`` (go cue to movement onset),
            ``movement``, ``hold`` and ``go_pulse`` (length of the go pulse). Durations are
            rounded to whole steps; a positive duration under one step is refused.
        catch_fraction: fraction of trials without a go cue, in [0, 1).
        outputs: which targets to produce, in order: any of ``"position"``, ``"velocity"``,
            ``"muscles"``.
        n_muscles: size of the muscle-like output (needed when ``"muscles"`` is in outputs).
        muscle_seed: seed of the fixed muscle map (independent of the trial randomness).
        go_cue: ``"step"`` (go channel stays on) or ``"pulse"``.
        input_noise: standard deviation of Gaussian noise added to every input at every step.
        seed: seed of the task's own generator, used when `sample` gets no ``rng``.

    Raises:
        ValueError: fewer than 2 targets, a negative timing value or one under one step, an
            unknown timing key or output, or ``"muscles"`` without ``n_muscles``.

    Example:
        >>> task = ReachTask(n_targets=8, timing={"delay": (300, 600)}, seed=0)
        >>> batch = task.sample(16)
        >>> batch["inputs"].shape, batch["targets"].shape
        ((16, 165, 3), (16, 165, 4))

    Reference:
        Churchland et al. 2012, Nature 487:51 (task); Sussillo et al. 2015, Nat. Neurosci.
        18:1025 (networks trained on it); Codol et al. 2024, MotorNet (timing defaults).
    """

    input_names = ("target_x", "target_y", "go")

    def __init__(
        self,
        n_targets: int = 8,
        radius: float = 1.0,
        timing: Mapping[str, Any] | None = None,
        catch_fraction: float = 0.2,
        outputs: Sequence[str] = ("position", "velocity"),
        n_muscles: int = 0,
        muscle_seed: int = 0,
        go_cue: str = "step",
        input_noise: float = 0.0,
        seed: Seed = None,
    ) -> None:
        if isinstance(n_targets, bool) or not isinstance(n_targets, numbers.Integral):
            raise TypeError(f"n_targets must be an int. Got {n_targets!r} instead.")
        if n_targets < 2:
            raise ValueError(
                f"n_targets must be >= 2 for a reaching task with a choice of direction. Got "
                f"{n_targets} instead. Center-out tasks use 8 (Churchland 2012) or 24 (MotorNet)."
            )
        self.n_targets = int(n_targets)
        self.radius = float(check_positive(radius, "radius"))
        self.timing, self._steps = _resolve_timing(timing)
        self.catch_fraction = check_fraction(catch_fraction, "catch_fraction")
        self.outputs = tuple(outputs) if not isinstance(outputs, str) else (outputs,)
        if not self.outputs:
            raise ValueError("outputs must name at least one of 'position', 'velocity', 'muscles'.")
        for name in self.outputs:
            check_choice(name, "each entry of outputs", _OUTPUTS)
        self.n_muscles = int(check_positive(n_muscles, "n_muscles", integer=True, strict=False))
        if "muscles" in self.outputs and self.n_muscles == 0:
            raise ValueError(
                "outputs includes 'muscles' but n_muscles is 0. Pass n_muscles=6 (or any "
                "positive number), or drop 'muscles' from outputs."
            )
        self.muscle_seed = int(muscle_seed)
        self.muscle_map = np.random.default_rng(self.muscle_seed).normal(
            0.0, 0.5, size=(4, self.n_muscles)
        )
        self.go_cue = check_choice(go_cue, "go_cue", ("step", "pulse"))
        self.input_noise = float(check_positive(input_noise, "input_noise", strict=False))
        self._rng = as_rng(seed)

    # ----------------------------------------------------------------- shapes
    @property
    def dt(self) -> float:
        """Step length in milliseconds."""
        return float(self.timing["dt"])

    @property
    def n_steps(self) -> int:
        """Length of every trial in a batch (the longest possible delay included)."""
        s = self._steps
        return s["fixation"] + s["delay"][1] + s["reaction"] + s["movement"] + s["hold"]

    @property
    def n_inputs(self) -> int:
        return 3

    @property
    def output_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for name in self.outputs:
            if name == "position":
                names += ["x", "y"]
            elif name == "velocity":
                names += ["vx", "vy"]
            else:
                names += [f"muscle_{i}" for i in range(self.n_muscles)]
        return tuple(names)

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    @property
    def target_positions(self) -> np.ndarray:
        """Target positions, shape (n_targets, 2): counter-clockwise from angle 0."""
        angles = 2 * np.pi * np.arange(self.n_targets) / self.n_targets
        return self.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)

    # --------------------------------------------------------------- sampling
    def sample(
        self,
        batch_size: int,
        rng: Seed = None,
        *,
        conditions: Sequence[int] | np.ndarray | None = None,
        delays: float | Sequence[float] | np.ndarray | None = None,
        catch: bool | Sequence[bool] | np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Draw a batch of trials, all of length `n_steps`.

        Args:
            batch_size: number of trials.
            rng: seed or Generator; the task's own generator (from ``seed``) when None.
            conditions: target index per trial, shape (batch,); random when None.
            delays: delay in ms per trial (or one for all); random in timing["delay"] when None.
            catch: catch-trial flag per trial (or one for all); random with catch_fraction
                when None.

        Returns:
            A dict of arrays: ``inputs`` (batch, time, 3) float32, ``targets`` (batch, time,
            n_outputs) float32, ``mask`` (batch, time, n_outputs) float32, ``condition``
            (batch,) int, ``is_catch`` (batch,) bool, ``delay`` (batch,) ms, and the epoch
            boundaries as step indices (batch,) int: ``target_on``, ``go`` and
            ``movement_onset`` (-1 in catch trials), ``movement_end`` and ``trial_end``
            (first padding step; equals time when there is none).

        Example:
            >>> task = ReachTask(seed=0)
            >>> batch = task.sample(8, conditions=range(8), delays=450, catch=False)
            >>> int(batch["go"][0] - batch["target_on"][0])
            45
        """
        batch_size = int(check_positive(batch_size, "batch_size", integer=True))
        gen = self._rng if rng is None else as_rng(rng)
        trials = self._draw_trials(batch_size, gen, conditions, delays, catch)
        return self._build(trials, gen)

    def _draw_trials(self, batch_size, gen, conditions, delays, catch) -> dict[str, np.ndarray]:
        s = self._steps
        if conditions is None:
            cond = gen.integers(0, self.n_targets, size=batch_size)
        else:
            cond = np.broadcast_to(np.asarray(list(np.atleast_1d(conditions))), (batch_size,))
            if cond.dtype.kind not in "iu" or cond.min() < 0 or cond.max() >= self.n_targets:
                raise ValueError(
                    f"conditions must be target indices in [0, {self.n_targets}). Got "
                    f"{np.asarray(conditions).tolist()!r} instead."
                )
        if delays is None:
            delay_steps = gen.integers(s["delay"][0], s["delay"][1] + 1, size=batch_size)
        else:
            delay_ms = np.broadcast_to(np.asarray(delays, dtype=np.float64), (batch_size,))
            delay_steps = np.rint(delay_ms / self.dt).astype(int)
            if (delay_steps < 1).any() or (delay_steps > s["delay"][1]).any():
                raise ValueError(
                    f"delays must lie between {self.dt:g} ms and the longest delay of the "
                    f"timing, {s['delay'][1] * self.dt:g} ms. Got {np.asarray(delays)!r} "
                    "instead. Widen timing['delay'] to sample longer delays."
                )
        if catch is None:
            is_catch = gen.random(batch_size) < self.catch_fraction
        else:
            is_catch = np.broadcast_to(np.asarray(catch, dtype=bool), (batch_size,))
        return {
            "condition": np.asarray(cond, dtype=np.int64).copy(),
            "delay_steps": np.asarray(delay_steps, dtype=np.int64).copy(),
            "is_catch": np.asarray(is_catch, dtype=bool).copy(),
        }

    def _build(self, trials: dict[str, np.ndarray], gen: np.random.Generator) -> dict:
        s, n_time = self._steps, self.n_steps
        batch = len(trials["condition"])
        steps = np.arange(n_time)[None, :]
        target_on = np.full(batch, s["fixation"])
        go = target_on + trials["delay_steps"]
        onset = go + s["reaction"]
        move_end = onset + s["movement"]
        trial_end = move_end + s["hold"]
        is_catch = trials["is_catch"]
        goal = self.target_positions[trials["condition"]]  # (batch, 2)

        inputs = np.zeros((batch, n_time, 3))
        shown = steps >= target_on[:, None]
        inputs[:, :, :2] = shown[:, :, None] * goal[:, None, :]
        go_on = steps >= go[:, None]
        if self.go_cue == "pulse":
            go_on &= steps < (go + s["go_pulse"])[:, None]
        inputs[:, :, 2] = go_on & ~is_catch[:, None]
        if self.input_noise > 0:
            inputs += gen.normal(0.0, self.input_noise, size=inputs.shape)

        s_norm = (steps - onset[:, None]) / s["movement"]
        profile, dprofile = minimum_jerk(s_norm)
        moving = ~is_catch[:, None]
        position = (profile * moving)[:, :, None] * goal[:, None, :]
        seconds = s["movement"] * self.dt / 1000.0
        velocity = (dprofile * moving)[:, :, None] * goal[:, None, :] / seconds
        targets = self._outputs(position, velocity)
        mask = np.broadcast_to((steps < trial_end[:, None])[:, :, None], targets.shape)

        return {
            "inputs": inputs.astype(np.float32),
            "targets": targets.astype(np.float32),
            "mask": mask.astype(np.float32),
            "condition": trials["condition"],
            "is_catch": is_catch,
            "delay": trials["delay_steps"] * self.dt,
            "target_on": target_on,
            "go": np.where(is_catch, -1, go),
            "movement_onset": np.where(is_catch, -1, onset),
            "movement_end": np.where(is_catch, -1, move_end),
            "trial_end": trial_end,
        }

    def _outputs(self, position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        parts = []
        for name in self.outputs:
            if name == "position":
                parts.append(position)
            elif name == "velocity":
                parts.append(velocity)
            else:
                parts.append(np.concatenate([position, velocity], axis=-1) @ self.muscle_map)
        return np.concatenate(parts, axis=-1)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (the seed excepted), so ``ReachTask(**config)`` rebuilds."""
        return {
            "n_targets": self.n_targets,
            "radius": self.radius,
            "timing": dict(self.timing),
            "catch_fraction": self.catch_fraction,
            "outputs": self.outputs,
            "n_muscles": self.n_muscles,
            "muscle_seed": self.muscle_seed,
            "go_cue": self.go_cue,
            "input_noise": self.input_noise,
        }
