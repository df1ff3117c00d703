"""A sweep's plan: a grid of settings, a number of seeds, and one cell per (settings, seed).

Every value of the grid is parsed and checked by the runner's own `resolve_config` (the same
rules as ``engram run --set``), so a sweep accepts exactly what a run accepts. Each cell's seed
comes from one `numpy.random.SeedSequence`: the root seed spawns one child per settings
combination and each child one grandchild per seed index, so a cell's seed depends only on the
root seed and the cell's place in the grid, never on the backend, the job count or the order in
which cells finish.

Example:
    >>> from engram.experiments import get
    >>> plan = make_plan(get("xor"), ["learning_rate=0.01,0.1"], seeds=3, quick=True)
    >>> len(plan.cells())
    6
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.experiments.base import Experiment
from engram.experiments.runner import resolve_config
from engram.validation import check_positive
from engram.viz.values import to_jsonable


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: a settings combination and a seed index, with its own seed."""

    index: int
    settings_index: int
    seed_index: int
    settings: Mapping[str, Any]
    seed: int

    @property
    def id(self) -> str:
        """``"003-s07"``: settings combination 3, seed index 7 (also the output folder's name)."""
        return f"{self.settings_index:03d}-s{self.seed_index:03d}"


@dataclass(frozen=True)
class Plan:
    """What a sweep runs: the experiment, its base settings, the grid and the seeds.

    Args:
        experiment: the registered `Experiment`.
        base: the settings every cell starts from (defaults, quick, ``--set``), resolved.
        grid: grid key -> the values it takes, in the order given.
        seeds: how many seeds each settings combination runs with.
        root_seed: the entropy of the `SeedSequence` that every cell's seed is spawned from.
        quick: whether the base settings include the experiment's quick settings.
    """

    experiment: Experiment
    base: Mapping[str, Any]
    grid: Mapping[str, list[Any]]
    seeds: int
    root_seed: int
    quick: bool = False

    def settings(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, the first key varying slowest."""
        keys = list(self.grid)
        return [
            dict(zip(keys, combo, strict=True)) for combo in itertools.product(*self.grid.values())
        ]

    def cells(self) -> list[Cell]:
        """Every cell, settings-major: combination 0 with seeds 0..n-1, then combination 1 ..."""
        combos = self.settings()
        children = np.random.SeedSequence(self.root_seed).spawn(len(combos))
        cells = []
        for i, (combo, child) in enumerate(zip(combos, children, strict=True)):
            for s, grandchild in enumerate(child.spawn(self.seeds)):
                seed = int(grandchild.generate_state(1)[0])
                cells.append(Cell(len(cells), i, s, combo, seed))
        return cells

    def config(self, cell: Cell) -> dict[str, Any]:
        """The full settings one cell runs with."""
        return {**self.base, **cell.settings, "seed": cell.seed}

    def manifest(self) -> dict[str, Any]:
        """Everything that decides the cells' results, as JSON (stored in ``sweep.json``)."""
        from engram.viz.values import engram_version

        return to_jsonable(
            {
                "experiment": self.experiment.name,
                "engram_version": engram_version(),
                "quick": self.quick,
                "base": {k: v for k, v in self.base.items() if k != "seed"},
                "grid": self.grid,
                "seeds": self.seeds,
                "root_seed": self.root_seed,
            }
        )


def split_values(text: str) -> list[str]:
    """``"1,2,3"`` -> ``["1", "2", "3"]``; commas inside brackets stay: ``"[1,2],[3]"``."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += (char in "[(") - (char in "])")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def format_setting(value: Any) -> str:
    """A grid value as it is written on the command line: ``100``, ``0.01``, ``100,200``."""
    if isinstance(value, (list, tuple)):
        return ",".join(format_setting(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_grid(
    experiment: Experiment,
    items: Sequence[str],
    *,
    quick: bool = False,
    overrides: Sequence[str] = (),
) -> dict[str, list[Any]]:
    """Parse ``["KEY=V1,V2", ...]`` into ``{key: [value, ...]}``, each value typed and checked.

    A list-valued setting takes one bracketed list per grid value (``sizes=[100,200],[400]``); a
    bare value is a one-element list (``sizes=100,200`` is ``(100,)`` then ``(200,)``).

    Raises:
        ValueError: a malformed item, an unknown key ("did you mean"), a value of the wrong type,
            ``seed`` as a grid key, a key given twice or also given with ``--set``, or an empty
            or repeated value.
    """
    set_keys = {str(o).partition("=")[0].strip() for o in overrides}
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ValueError(
                f"--grid takes KEY=V1,V2,..., e.g. --grid sizes=100,200. Got {item!r}."
            )
        if key == "seed":
            raise ValueError("--grid seed=... is not allowed: seeds come from --seeds N.")
        if key in grid or key in set_keys:
            raise ValueError(f"Setting {key!r} is given twice (--grid or --set). Give it once.")
        values = []
        for piece in split_values(text):
            if not piece:
                raise ValueError(f"--grid {key}: empty value in {text!r}.")
            try:
                config = resolve_config(
                    experiment, quick=quick, overrides=[*overrides, f"{key}={piece}"]
                )
            except ValueError as exc:
                hint = ""
                if isinstance(experiment.defaults.get(key), (list, tuple)):
                    hint = " In --grid, write each list in brackets: --grid KEY=[1,2],[3]."
                raise ValueError(f"--grid {key}: {exc}{hint}") from None
            values.append(config[key])
        if len({format_setting(v) for v in values}) != len(values):
            raise ValueError(f"--grid {key}: a value is repeated in {text!r}.")
        grid[key] = values
    return grid


def make_plan(
    experiment: Experiment,
    grid: Sequence[str],
    seeds: int,
    *,
    quick: bool = False,
    overrides: Sequence[str] = (),
    root_seed: int | None = None,
) -> Plan:
    """Resolve the base settings, parse the grid and return the sweep's `Plan`.

    Args:
        experiment: the registered experiment.
        grid: ``["KEY=V1,V2", ...]`` (see `parse_grid`); may be empty (seeds only).
        seeds: seeds per settings combination (a positive int).
        quick, overrides: as for `resolve_config` (``--quick``, ``--set``).
        root_seed: the root of every cell's seed; default the base settings' ``seed``.

    Raises:
        ValueError, TypeError: bad settings, grid or seeds, with the setting named.
    """
    seeds = check_positive(seeds, "seeds", integer=True)
    base = resolve_config(experiment, quick=quick, seed=root_seed, overrides=list(overrides))
    parsed = parse_grid(experiment, grid, quick=quick, overrides=overrides)
    return Plan(experiment, base, parsed, int(seeds), int(base["seed"]), quick)
