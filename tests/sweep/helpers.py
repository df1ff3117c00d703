"""Shared pieces of the sweep tests: a tiny real sweep of hopfield-capacity and CSV reading."""

from __future__ import annotations

import csv
from pathlib import Path

# hopfield-capacity, quick, Hebb only, one trial per cell, coarse loads: ~0.3 s a cell
TINY_SETTINGS = ["seeds=1", "rules=hebb", "grid=coarse"]
TINY_GRID = ["sizes=30,40"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


def without_times(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows without the columns that are wall-clock times (they differ from run to run)."""
    from engram.sweep.aggregate import is_time

    return [{k: v for k, v in row.items() if not is_time(k)} for row in rows]


def tiny_plan(seeds: int = 2, grid: list[str] = TINY_GRID):
    """The plan of a tiny hopfield-capacity sweep (sizes 30 and 40 by default)."""
    from engram.experiments import get
    from engram.sweep import make_plan

    return make_plan(get("hopfield-capacity"), grid, seeds, quick=True, overrides=TINY_SETTINGS)
