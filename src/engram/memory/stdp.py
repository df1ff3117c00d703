"""Competitive Hebbian learning through spike timing: one LIF neuron whose excitatory synapses
follow STDP, driven by Poisson inputs (Song, Miller & Abbott 2000).

Units: time in ms, voltage in mV, rates in Hz; conductances in units of the leak conductance.

Reference:
    Song, Miller & Abbott (2000), "Competitive Hebbian learning through spike-timing-dependent
    synaptic plasticity", Nat. Neurosci. 3:919.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.memory.hebbian import stdp_step
from engram.spiking.neurons import LIFParams
from engram.validation import Seed, as_rng


@dataclass
class CompetitionResult:
    """What `stdp_competition` returns."""

    weights: np.ndarray  # (n_inputs,) final peak conductances, in units of g_max
    weight_history: np.ndarray  # (n_snapshots, n_inputs)
    snapshot_times: np.ndarray  # (n_snapshots,) ms
    output_rate: np.ndarray  # (n_snapshots,) Hz of the postsynaptic neuron in each window
    input_rates: np.ndarray  # (n_inputs,) Hz
    initial_weights: np.ndarray  # (n_inputs,) in units of g_max


def stdp_competition(
    n_inputs: int = 1000,
    rates: Any = 10.0,
    duration: float = 100_000.0,
    dt: float = 1.0,
    g_max: float = 0.015,
    a_plus: float = 0.005,
    a_minus_ratio: float = 1.05,
    tau_stdp: float = 20.0,
    tau_syn: float = 5.0,
    e_exc: float = 0.0,
    n_inhibitory: int = 200,
    g_inhibitory: float = 0.05,
    e_inh: float = -70.0,
    n_snapshots: int = 20,
    seed: Seed = None,
) -> CompetitionResult:
    """A LIF neuron with STDP at its excitatory synapses, driven by Poisson inputs.

    Math:
        tau_m dv/dt = (v_rest - v) + g (e_exc - v) + g_in (e_inh - v)
        tau_syn dg/dt = -g;  g += w_a on a spike of excitatory input a; g_in likewise from
        ``n_inhibitory`` fixed synapses of strength ``g_inhibitory`` firing at 10 Hz;
        w in [0, g_max] changed by `stdp_step` with A+ = a_plus g_max, A- = a_minus_ratio A+.
        Depression slightly stronger than potentiation makes the synapses compete: the weights
        split into a strong and a weak group (bimodal) and the output rate regulates itself.

    Returns:
        `CompetitionResult` (weights in units of g_max).

    Reference:
        Song, Miller & Abbott (2000), Nat. Neurosci. 3:919, fig. 2.
    """
    rng = as_rng(seed)
    rate = np.broadcast_to(np.asarray(rates, np.float64), (n_inputs,)).copy()
    p = LIFParams()
    steps = int(round(duration / dt))
    w = np.full((1, n_inputs), 0.5 * g_max) * rng.uniform(0.5, 1.5, n_inputs)
    initial = w[0] / g_max
    x, y = np.zeros(n_inputs), np.zeros(1)
    v, g, g_in = p.v_rest, 0.0, 0.0
    every = max(1, steps // n_snapshots)
    history, times, out_rate, count = [], [], [], 0
    decay_g = np.exp(-dt / tau_syn)
    block = 1000
    for lo in range(0, steps, block):
        pre_block = rng.random((min(block, steps - lo), n_inputs)) < rate * dt / 1000.0
        inh_block = rng.poisson(n_inhibitory * 10.0 * dt / 1000.0, len(pre_block))
        for k, pre in enumerate(pre_block):
            g = g * decay_g + w[0] @ pre
            g_in = g_in * decay_g + g_inhibitory * inh_block[k]
            v += dt / p.tau_m * (p.v_rest - v + g * (e_exc - v) + g_in * (e_inh - v))
            post = v >= p.v_threshold
            if post:
                v = p.v_reset
                count += 1
            w, x, y = stdp_step(
                w, x, y, pre, np.array([post], np.float64), dt, a_plus * g_max,
                a_minus_ratio * a_plus * g_max, tau_stdp, tau_stdp, g_max,
            )  # fmt: skip
            if (lo + k + 1) % every == 0:
                history.append(w[0] / g_max)
                times.append((lo + k + 1) * dt)
                out_rate.append(count / (every * dt / 1000.0))
                count = 0
    return CompetitionResult(
        w[0] / g_max, np.array(history), np.array(times), np.array(out_rate), rate, initial
    )
