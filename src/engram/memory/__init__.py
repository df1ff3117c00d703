"""Brain memory mechanisms beside their network counterparts.

- `hebbian`: plain Hebb (with decay), Oja, Sanger (GHA), BCM, pair-based STDP, a trainer.
- `stdp`: STDP competition (Song, Miller & Abbott 2000); its LIF neuron and Poisson trains
  come from `engram.spiking.neurons` (also exported here).
- `hopfield`: the classic Hopfield network: recall, energy, the `Hopfield` class.
- `hopfield_rules`: its learning rules (hebb, storkey and pseudo-inverse weights).
- `capacity`: published capacities, the measured critical load (`CriticalLoad`, which tells
  a crossing from a curve that never falls or starts below), `CapacityWarning`.
- `patterns`: +/-1 patterns shared by both kinds of network: binarize, flip_bits, checks.
- `modern_hopfield`: dense associative memory and the continuous modern Hopfield network,
  whose update is attention.
"""

from engram.memory.capacity import (
    CapacityWarning,
    CriticalLoad,
    critical_load,
    published_capacity,
)
from engram.memory.hebbian import (
    HebbianTrainer,
    bcm_update,
    hebb_update,
    oja_update,
    sanger_update,
    stdp_step,
    stdp_weight_change,
    stdp_window,
)
from engram.memory.hopfield import Hopfield, RecallResult, energy, recall, retrieved_fraction
from engram.memory.hopfield_rules import (
    DependentPatternsWarning,
    hebb_weights,
    pseudo_inverse_weights,
    storkey_weights,
)
from engram.memory.modern_hopfield import (
    DenseAssociativeMemory,
    ModernHopfield,
    ModernRecallResult,
    attention,
    dense_energy,
    modern_energy,
)
from engram.memory.patterns import binarize, flip_bits
from engram.memory.stdp import stdp_competition
from engram.spiking.neurons import LIFParams, poisson_spike_train, simulate_lif

__all__ = [
    "CapacityWarning",
    "CriticalLoad",
    "DenseAssociativeMemory",
    "DependentPatternsWarning",
    "HebbianTrainer",
    "Hopfield",
    "LIFParams",
    "ModernHopfield",
    "ModernRecallResult",
    "RecallResult",
    "attention",
    "bcm_update",
    "binarize",
    "critical_load",
    "dense_energy",
    "energy",
    "flip_bits",
    "hebb_update",
    "hebb_weights",
    "modern_energy",
    "oja_update",
    "poisson_spike_train",
    "pseudo_inverse_weights",
    "published_capacity",
    "recall",
    "retrieved_fraction",
    "sanger_update",
    "simulate_lif",
    "stdp_competition",
    "stdp_step",
    "stdp_weight_change",
    "stdp_window",
    "storkey_weights",
]
