"""Single spiking neurons and their inputs: Poisson spike trains and the leaky integrate-and-fire
(LIF) neuron, with the spike rule (threshold, reset, refractory hold) that every clock-driven LIF
simulation in engram shares.

Units: time in ms, voltage in mV, rates in Hz.

engram's LIF neurons differ only in how they integrate below threshold: `simulate_lif` takes a
forward Euler step of the leak (the textbook form, one neuron or many, given a current);
`engram.spiking.networks.simulate_network` integrates the leak exactly and adds synaptic jumps;
both then apply `fire_and_reset`. The trainable layer `engram.spiking.surrogate.LIFLayer` is a
different discretisation (SpyTorch's: threshold 1, reset by multiplying with 1 - spike, no
refractory hold, a synaptic current filter), written as its own forward and backward.

Reference:
    Lapicque (1907); Dayan & Abbott (2001), Theoretical Neuroscience, ch. 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.validation import Seed, as_rng, check_array, check_positive


def poisson_spike_train(
    rates: Any, duration: float, dt: float = 1.0, seed: Seed = None
) -> np.ndarray:
    """Independent Poisson spike trains.

    Math:
        P(spike in a step) = rate * dt / 1000         (rate in Hz, dt in ms)

    Args:
        rates: (n,) firing rates in Hz (or a scalar for one train).
        duration: length in ms.
        dt: time step in ms.
        seed: randomness.

    Returns:
        (round(duration / dt), n) boolean spikes.
    """
    r = np.atleast_1d(check_array(rates, "rates", dtype=np.float64))
    check_positive(duration, "duration")
    check_positive(dt, "dt")
    p = r * dt / 1000.0
    if (p > 1).any():
        raise ValueError(
            f"rates * dt must stay below one spike per step; got a rate of {r.max()} Hz at "
            f"dt={dt} ms. Use a smaller dt."
        )
    return as_rng(seed).random((int(round(duration / dt)), r.size)) < p


@dataclass
class LIFParams:
    """Leaky integrate-and-fire constants (defaults from Song, Miller & Abbott 2000)."""

    tau_m: float = 20.0
    v_rest: float = -70.0
    v_reset: float = -60.0
    v_threshold: float = -54.0
    refractory: float = 0.0


def fire_and_reset(
    v: np.ndarray, v_free: np.ndarray, hold: np.ndarray, threshold: float, v_reset: float,
    hold_steps: int,
) -> np.ndarray:  # fmt: skip
    """One step of the LIF spike rule, in place on ``v`` and ``hold``.

    Math:
        v <- v_free where hold <= 0, else v_reset    (refractory neurons ignore their input)
        hold <- hold - 1
        v >= threshold:  spike;  v <- v_reset;  hold <- hold_steps

    Args:
        v: (n,) membrane potentials, overwritten with the new ones.
        v_free: (n,) the potentials after this step's subthreshold integration.
        hold: (n,) integer steps of refractoriness left, updated.
        threshold, v_reset: mV; hold_steps: the refractory period in steps.

    Returns:
        Indices of the neurons that fired, ascending.
    """
    v[...] = np.where(hold <= 0, v_free, v.dtype.type(v_reset))
    hold -= 1
    fired = np.flatnonzero(v >= threshold)
    v[fired] = v_reset
    hold[fired] = hold_steps
    return fired


def simulate_lif(
    input_current: Any, dt: float = 0.1, params: LIFParams | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Leaky integrate-and-fire neurons driven by a current (forward Euler).

    Math:
        tau_m dv/dt = (v_rest - v) + R I(t)           (R I given in mV)
        v >= v_threshold  ->  spike, v <- v_reset, held there for ``refractory`` ms
        (`fire_and_reset`, the refractory period rounded to whole steps)

    Args:
        input_current: (T,) or (T, n) drive R*I in mV per step.
        dt: time step in ms.
        params: `LIFParams`.

    Returns:
        (voltage, spikes), both (T, n): membrane potential (mV) and boolean spikes.

    Example:
        >>> v, s = simulate_lif(np.full(10000, 20.0), dt=0.1)     # 1 s of constant drive
        >>> int(s.sum())                                         # regular firing
        53
    """
    p = params or LIFParams()
    drive = check_array(input_current, "input_current", ndim=(1, 2), dtype=np.float64)
    drive = drive.reshape(len(drive), -1)
    v = np.full(drive.shape[1], p.v_rest)
    hold = np.zeros(drive.shape[1], np.int64)
    hold_steps = int(round(p.refractory / dt))
    voltage = np.empty_like(drive)
    spikes = np.zeros(drive.shape, bool)
    for t in range(len(drive)):
        v_free = v + dt / p.tau_m * (p.v_rest - v + drive[t])
        spikes[t, fire_and_reset(v, v_free, hold, p.v_threshold, p.v_reset, hold_steps)] = True
        voltage[t] = v
    return voltage, spikes
