"""One cell of a sweep, run inside a worker: the experiment, its report folder, its metrics.

`run_cell` is what every backend sends to its workers. It runs the experiment with the runner's
`run_resolved` (the same code as ``engram run``), with BLAS limited to ``threads`` threads, and
returns the scalar metrics. An error inside the experiment comes back as an `Outcome` with the
error and its traceback (the sweep reports it and leaves the cell to be run again); it never
takes the other cells down with it.
"""

from __future__ import annotations

import functools
import math
import numbers
import shutil
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from engram.experiments.base import Experiment
from engram.viz.values import flatten_metrics

PUBLISHED_PREFIX = "published"  # metrics named published_* are reference values, not measurements


@dataclass
class Outcome:
    """What a cell returns: its scalar metrics and run time, or the error it raised."""

    cell_id: str
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    elapsed_s: float = 0.0
    error: str = ""
    details: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def scalar_row(metrics: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The numeric scalars of nested metrics, as ``group.name`` -> value.

    Booleans become 0/1 (their mean over seeds is a fraction); None and non-finite numbers stay
    as None (an empty cell in ``results.csv``); strings and lists are left out.
    """
    row: dict[str, float | int | None] = {}
    for name, value in flatten_metrics(metrics):
        if value is None:
            row[name] = None
        elif isinstance(value, numbers.Integral):  # bool and numpy ints included
            row[name] = int(value)
        elif isinstance(value, numbers.Real):
            row[name] = float(value) if math.isfinite(value) else None
    return row


class Task(NamedTuple):
    """The arguments of `run_cell` for one cell, as a backend sends them to a worker."""

    experiment: Experiment
    config: Mapping[str, Any]
    out_dir: str
    cell_id: str
    threads: int = 1


@functools.lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # slow to build: once per worker process


def run_cell(
    experiment: Experiment,
    config: Mapping[str, Any],
    out_dir: str,
    cell_id: str,
    threads: int = 1,
) -> Outcome:
    """Run one cell into ``out_dir`` (emptied first) with at most ``threads`` BLAS threads.

    Returns:
        An `Outcome`: the metrics and the cell's time (the run and its report), or the error
        and its traceback.
    """
    from engram.experiments.runner import run_resolved

    start = time.perf_counter()
    try:
        shutil.rmtree(Path(out_dir), ignore_errors=True)  # a killed run's leftovers go
        with _controller().limit(limits=threads):
            run = run_resolved(experiment, config, out_dir=out_dir, verbose=0)
    except Exception as exc:  # reported by the sweep, and the cell runs again next time
        return Outcome(
            cell_id,
            elapsed_s=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
            details=traceback.format_exc(),
        )
    return Outcome(cell_id, scalar_row(run.result.metrics), time.perf_counter() - start)
