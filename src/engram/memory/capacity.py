"""How many patterns a Hopfield network holds: published capacities and the measured load.

`published_capacity` gives each learning rule's capacity from the literature, `critical_load`
reads the load at which retrieval breaks down off a measured curve, and `CapacityWarning` is what
`Hopfield.store` warns with above the published capacity.

Reference:
    Amit, Gutfreund & Sompolinsky (1985), Phys. Rev. Lett. 55:1530. Storkey (1997), ICANN.
    Personnaz, Guyon & Dreyfus (1985), J. Physique Lett. 46:359.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.memory.hopfield_rules import RULES
from engram.validation import check_choice


class CapacityWarning(UserWarning):
    """More patterns are stored than the learning rule's published capacity at this size."""


def published_capacity(rule: str, n_units: int) -> float:
    """Published number of patterns a rule can hold at ``n_units`` units (random patterns).

    - ``hebb``: 0.138 N, retrieval with few errors (Amit, Gutfreund & Sompolinsky 1985).
    - ``storkey``: N / sqrt(2 ln N), error-free capacity (Storkey 1997; Hebb's counterpart is
      N / (2 ln N)).
    - ``pseudo_inverse``: N linearly independent patterns (Personnaz et al. 1985).
    """
    check_choice(rule, "rule", RULES)
    if rule == "hebb":
        return 0.138 * n_units
    if rule == "storkey":
        return n_units / math.sqrt(2 * math.log(n_units))
    return float(n_units)


def critical_load(loads: Any, fractions: Any, level: float = 0.5) -> float | None:
    """The load at which the fraction of patterns retrieved first falls below ``level``.

    Linear interpolation between the last load at or above ``level`` and the first below it.

    Returns:
        The interpolated load, or None when the curve never falls below ``level`` (the critical
        load is beyond the largest load tested) or starts below it.

    Example:
        >>> critical_load([0.1, 0.2, 0.3], [1.0, 0.8, 0.2])
        0.25
    """
    a = np.asarray(loads, np.float64)
    f = np.asarray(fractions, np.float64)
    below = np.flatnonzero(f < level)
    if below.size == 0 or below[0] == 0:
        return None
    i = below[0]
    t = (f[i - 1] - level) / (f[i - 1] - f[i])
    return float(a[i - 1] + t * (a[i] - a[i - 1]))
