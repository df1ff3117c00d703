"""Resource bounds: a run's estimated memory and time against what this machine has.

Each experiment may declare ``cost(config)`` (see `engram.experiments.base.Cost`): the memory of
its largest arrays and, where it can be counted, a lower bound on its time. `check_resources`
compares it with the memory available now (``MemAvailable``, capped by a cgroup limit) and with
`MAX_SECONDS`, and refuses a run that will not fit, before it starts, with the estimate and how
to go ahead anyway (``force=True``, ``--force`` or ``ENGRAM_FORCE=1``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engram.experiments.base import Cost, Experiment

ENV_FORCE = "ENGRAM_FORCE"
MAX_SECONDS = 24 * 3600.0  # a run estimated to take longer is refused unless forced


class ResourceError(ValueError):
    """A run whose estimated memory or time is beyond this machine; refused before it starts."""


def available_memory() -> int | None:
    """Bytes of memory this process can still use: MemAvailable, capped by a cgroup limit."""
    found = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            found.append(int(limit) - int(used))
    except OSError:
        pass
    return min(found) if found else None


def _bytes_text(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


def _seconds_text(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 60:.3g} minutes"


def _forced(force: bool) -> bool:
    return force or os.environ.get(ENV_FORCE, "") not in ("", "0")


def check_resources(
    experiment: Experiment, config: Mapping[str, Any], *, force: bool = False
) -> Cost | None:
    """Estimate a run's memory and time from its settings; refuse one that will not fit.

    Returns:
        The experiment's `Cost` estimate (None when it declares no ``cost``).

    Raises:
        ResourceError: the estimate exceeds the available memory or `MAX_SECONDS`, unless
            ``force`` or ``ENGRAM_FORCE=1``; the message gives the estimate and how to go ahead.
    """
    cost = experiment.estimate(config)
    if cost is None or _forced(force):
        return cost
    available = available_memory()
    how = (
        "Use smaller settings, or run it anyway with --force (run_experiment(..., force=True), "
        f"or {ENV_FORCE}=1)."
    )
    detail = f" ({cost.detail})" if cost.detail else ""
    if available is not None and cost.memory_bytes > available:
        raise ResourceError(
            f"{experiment.name} with these settings needs about "
            f"{_bytes_text(cost.memory_bytes)} of memory{detail}, but "
            f"{_bytes_text(available)} is available. {how}"
        )
    if cost.seconds is not None and (not math.isfinite(cost.seconds) or cost.seconds > MAX_SECONDS):
        raise ResourceError(
            f"{experiment.name} with these settings would run for about "
            f"{_seconds_text(cost.seconds)}{detail}; runs over {_seconds_text(MAX_SECONDS)} are "
            f"refused. {how}"
        )
    return cost
