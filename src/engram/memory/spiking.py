"""Deprecated alias: the LIF neuron and Poisson spike trains moved to `engram.spiking.neurons`,
the STDP competition to `engram.memory.stdp`. Import from there; this module will be removed.
"""

import warnings

from engram.memory.stdp import CompetitionResult, stdp_competition
from engram.spiking.neurons import LIFParams, poisson_spike_train, simulate_lif

__all__ = [
    "CompetitionResult",
    "LIFParams",
    "poisson_spike_train",
    "simulate_lif",
    "stdp_competition",
]

warnings.warn(
    "engram.memory.spiking is deprecated: import LIFParams, poisson_spike_train and "
    "simulate_lif from engram.spiking.neurons, and stdp_competition from engram.memory.stdp.",
    DeprecationWarning,
    stacklevel=2,
)
