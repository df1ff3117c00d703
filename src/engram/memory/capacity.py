"""How many patterns a Hopfield network holds: published capacities and the measured load.

`published_capacity` gives each learning rule's capacity from the literature, `critical_load`
reads the load at which retrieval breaks down off a measured curve, and `CapacityWarning` is what
`Hopfield.store` warns with above the published capacity.

Reference:
    Amit, Gutfreund & Sompolinsky (1985), Phys. Rev. Lett. 55:1530. McEliece, Posner, Rodemich
    & Venkatesh (1987), IEEE Trans. Inf. Theory 33:461. Storkey (1997), ICANN.
    Personnaz, Guyon & Dreyfus (1985), J. Physique Lett. 46:359.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.memory.hopfield_rules import RULES
from engram.validation import check_choice


class CapacityWarning(UserWarning):
    """More patterns are stored than the learning rule's published capacity at this size."""


def published_capacity(rule: str, n_units: int) -> float:
    """Published number of patterns a rule can hold at ``n_units`` units (random patterns).

    - ``hebb``: 0.138 N, the load up to which a retrieval state (overlap ~0.97 with the pattern)
      exists (Amit, Gutfreund & Sompolinsky 1985). Exact recall is rarer: most patterns are
      fixed points only up to N / (2 ln N) (McEliece et al. 1987; all of them: N / (4 ln N)).
    - ``storkey``: N / sqrt(2 ln N), the absolute (error-free) capacity Storkey (1997) gives for
      his rule, beside the Hebb rule's N / (2 ln N).
    - ``pseudo_inverse``: N linearly independent patterns (Personnaz et al. 1985).
    """
    check_choice(rule, "rule", RULES)
    if rule == "hebb":
        return 0.138 * n_units
    if rule == "storkey":
        return n_units / math.sqrt(2 * math.log(n_units))
    return float(n_units)


CROSSED, NOT_REACHED, BELOW_AT_FIRST = "crossed", "not_reached", "below_at_first"


@dataclass(frozen=True)
class CriticalLoad:
    """Where a measured retrieval curve falls below a level, and how the sweep saw it.

    Args:
        status: ``"crossed"`` (the curve falls below ``level`` inside the sweep: ``value`` is the
            interpolated load), ``"not_reached"`` (it never falls below ``level``: the critical
            load is above ``last_load``) or ``"below_at_first"`` (it is below ``level`` at the
            first load already: the critical load is below ``first_load``).
        value: the interpolated load when ``status == "crossed"``, else None.
        first_load, last_load: the sweep's smallest and largest loads.
        level: the fraction retrieved that defines the critical load.
    """

    status: str
    value: float | None
    first_load: float
    last_load: float
    level: float = 0.5

    @property
    def crossed(self) -> bool:
        return self.status == CROSSED

    def text(self, digits: int = 3) -> str:
        """``"0.177"``, ``"> 0.30 (never below 0.5)"`` or ``"< 0.02 (below 0.5 from the first
        load)"``."""
        if self.status == CROSSED:
            return f"{self.value:.{digits}f}"
        if self.status == NOT_REACHED:
            return f"> {self.last_load:g} (never below {self.level:g} in the sweep)"
        return f"< {self.first_load:g} (below {self.level:g} from the first load tested)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: the status, the value (None unless crossed) and the sweep's ends."""
        return {"status": self.status, "value": self.value, "first_load": self.first_load,
                "last_load": self.last_load}  # fmt: skip


def critical_load(loads: Any, fractions: Any, level: float = 0.5) -> CriticalLoad:
    """The load at which the fraction of patterns retrieved first falls below ``level``.

    Linear interpolation between the last load at or above ``level`` and the first below it.

    Args:
        loads: (L,) increasing loads of the sweep.
        fractions: (L,) fraction retrieved at each load.
        level: the fraction that defines the critical load.

    Returns:
        `CriticalLoad` whose ``status`` tells a crossing inside the sweep (``value`` set) from a
        curve that never falls below ``level`` (``"not_reached"``) and one that is below it from
        the first load (``"below_at_first"``).

    Raises:
        ValueError: ``loads`` and ``fractions`` differ in length or are empty.

    Example:
        >>> critical_load([0.1, 0.2, 0.3], [1.0, 0.8, 0.2]).value
        0.25
        >>> critical_load([0.1, 0.2], [1.0, 0.9]).status
        'not_reached'
    """
    a = np.asarray(loads, np.float64).ravel()
    f = np.asarray(fractions, np.float64).ravel()
    if a.size == 0 or a.shape != f.shape:
        raise ValueError(
            "loads and fractions must be non-empty and of the same length. Got "
            f"{a.size} loads and {f.size} fractions instead."
        )
    ends = {"first_load": float(a[0]), "last_load": float(a[-1]), "level": float(level)}
    below = np.flatnonzero(f < level)
    if below.size == 0:
        return CriticalLoad(NOT_REACHED, None, **ends)
    i = below[0]
    if i == 0:
        return CriticalLoad(BELOW_AT_FIRST, None, **ends)
    t = (f[i - 1] - level) / (f[i - 1] - f[i])
    return CriticalLoad(CROSSED, float(a[i - 1] + t * (a[i] - a[i - 1])), **ends)
