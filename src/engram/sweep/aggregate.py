"""The aggregate over seeds: per settings combination and metric, n, mean, spread, 95% interval.

Metric names that carry a grid value are folded: with ``--grid sizes=100,200`` the cell at
N = 100 reports ``critical_load.hebb.100`` and the one at 200 ``critical_load.hebb.200``; both
become ``critical_load.hebb.{sizes}``, one metric across the grid. Metrics named ``published_*``
(reference values from the literature that the experiment reports beside its own) are not
aggregated; they are matched to the metrics whose names contain the rest of their name
(``published_hebb`` to ``critical_load.hebb.{sizes}``), except times (a name with ``seconds`` or
ending in ``_s``: ``seconds_per_rule.hebb`` is not compared with a published load).

Example:
    >>> summarize([1.0, 2.0, 3.0]).mean
    2.0
    >>> fold_name("critical_load.hebb.100", {"sizes": (100,)})
    'critical_load.hebb.{sizes}'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.sweep.cell import PUBLISHED_PREFIX
from engram.sweep.grid import Plan, format_setting

CONFIDENCE = 0.95
_TOKEN = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class Summary:
    """One metric at one settings combination, over its seeds.

    ``sd`` is the sample standard deviation (n - 1); ``low`` and ``high`` bound the 95% t
    interval of the mean (None with fewer than two values).
    """

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None


def summarize(values: Sequence[float]) -> Summary:
    """n, mean, sample sd and the 95% t interval of the mean of ``values`` (None dropped)."""
    x = np.array([v for v in values if v is not None], dtype=np.float64)
    n = len(x)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, None, None, None)
    from scipy.special import stdtrit  # the t quantile (scipy.stats takes seconds to import)

    sd = float(x.std(ddof=1))
    half = float(stdtrit(n - 1, 0.5 + CONFIDENCE / 2)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def _pattern(token: str) -> re.Pattern[str]:
    if re.fullmatch(r"[0-9.eE+-]+", token):  # a number: not inside a longer number
        return re.compile(rf"(?<![0-9])(?<![0-9]\.){re.escape(token)}(?![0-9])(?!\.[0-9])")
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])")


def fold_name(name: str, settings: Mapping[str, Any]) -> str:
    """``name`` with each grid value it contains replaced by ``{key}``."""
    for key, value in settings.items():
        token = format_setting(value)
        if _TOKEN.match(token):
            name = _pattern(token).sub("{" + key + "}", name)
    return name


def fold_metrics(metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's metrics with grid values folded out of their names (unchanged on a clash)."""
    folded = {fold_name(k, settings): v for k, v in metrics.items()}
    return folded if len(folded) == len(metrics) else dict(metrics)


def published_values(cells: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``published_*`` metrics with one value in every finished cell, e.g. {"hebb": 0.138}."""
    found: dict[str, set[Any]] = {}
    for metrics in cells:
        for key, value in metrics.items():
            if key.startswith(PUBLISHED_PREFIX):
                found.setdefault(key, set()).add(value)
    prefix = len(PUBLISHED_PREFIX) + 1
    return {
        key[prefix:]: float(next(iter(v)))
        for key, v in found.items()
        if len(v) == 1 and None not in v and all(key in m for m in cells)
    }


def is_time(metric: str) -> bool:
    """Whether a metric is a duration (``seconds`` in its name, or a name ending in ``_s``)."""
    return "seconds" in metric or metric.endswith("_s")


def published_for(metric: str, published: Mapping[str, float]) -> dict[str, float]:
    """The published values whose name appears in ``metric``'s, as {label: value}."""
    if is_time(metric):
        return {}
    return {
        f"published {name}: {value:g}": value
        for name, value in published.items()
        if name and _pattern(name).search(metric)
    }


def aggregate(
    plan: Plan, metric_values: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[int, Summary]]:
    """metric (folded) -> settings index -> `Summary` over the finished seeds.

    Args:
        plan: the sweep's plan (for each cell's settings).
        metric_values: cell id -> metric name -> value, from `Ledger.metric_values`.
    """
    cells = {cell.id: cell for cell in plan.cells()}
    collected: dict[str, dict[int, list[Any]]] = {}
    for cell_id, metrics in metric_values.items():
        cell = cells[cell_id]
        for name, value in fold_metrics(metrics, cell.settings).items():
            if not name.startswith(PUBLISHED_PREFIX):
                collected.setdefault(name, {}).setdefault(cell.settings_index, []).append(value)
    return {
        name: {i: summarize(values) for i, values in sorted(per.items())}
        for name, per in collected.items()
        if any(v is not None for values in per.values() for v in values)
    }
