"""A sweep's folder: ``sweep.json`` (what it runs), ``results.csv`` (one row per finished cell).

``results.csv`` is rewritten atomically each time a cell finishes (temporary file, then
``os.replace``), rows in the plan's order, so a kill at any moment leaves either the old or the
new file, never half a row, and a finished cell is never written twice. Floats are written with
``repr`` (they read back bit for bit). Re-opening a folder checks that ``sweep.json`` describes
the same sweep (experiment, engram version, settings, grid, seeds); a different one is refused,
never mixed.

Columns: ``cell``, one per grid key, ``seed_index``, ``seed``, the metrics (in the order they
first appear), ``elapsed_s``, ``engram_version``, ``folder`` (the cell's report, relative).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engram.fileio import atomic_write_text
from engram.sweep.cell import Outcome
from engram.sweep.grid import Cell, Plan, format_setting

MANIFEST = "sweep.json"
RESULTS = "results.csv"
CELLS = "cells"
_TAIL = ["elapsed_s", "engram_version", "folder"]


def _difference(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    parts = []
    for key in wanted:
        if stored.get(key) != wanted[key]:
            parts.append(f"{key}: stored {stored.get(key)!r}, now {wanted[key]!r}")
    return "; ".join(parts)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _read_value(text: str) -> float | int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


class Ledger:
    """The results of one sweep folder: which cells are done, and their rows.

    Args:
        out_dir: the sweep's folder (created if missing).
        plan: the sweep it holds.

    Raises:
        ValueError: the folder holds a different sweep, another engram version's results, files
            that are not a sweep's, or a results.csv that does not match its sweep.json.
    """

    def __init__(self, out_dir: str | Path, plan: Plan) -> None:
        self.out = Path(out_dir)
        self.plan = plan
        self.cells = {cell.id: cell for cell in plan.cells()}
        self.rows: dict[str, dict[str, Any]] = {}
        self._open()

    def _open(self) -> None:
        wanted = self.plan.manifest()
        manifest = self.out / MANIFEST
        if manifest.exists():
            stored = json.loads(manifest.read_text(encoding="utf-8"))
            if stored != wanted:
                raise ValueError(
                    f"{self.out} holds a different sweep ({_difference(stored, wanted)}). "
                    "Results of different sweeps or engram versions are never mixed: give a new "
                    "--out folder, or repeat the stored sweep's command to finish it."
                )
            self._load()
        elif self.out.exists() and any(self.out.iterdir()):
            raise ValueError(
                f"{self.out} is not empty and holds no {MANIFEST}: it is not a sweep's folder. "
                "Give a new or empty --out folder."
            )
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(manifest, json.dumps(wanted, indent=2) + "\n")

    def _load(self) -> None:
        path = self.out / RESULTS
        if not path.exists():
            return
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                cell_id = row.get("cell", "")
                if cell_id not in self.cells or cell_id in self.rows:
                    raise ValueError(
                        f"{path}: row for cell {cell_id!r} is "
                        + ("repeated" if cell_id in self.rows else "not in this sweep")
                        + f". The file does not match {MANIFEST}; move it away to start again."
                    )
                self.rows[cell_id] = row

    # ------------------------------------------------------------------ reading

    def done(self, cell: Cell) -> bool:
        return cell.id in self.rows

    def missing(self) -> list[Cell]:
        """The cells without a row, in plan order."""
        return [cell for cell in self.cells.values() if cell.id not in self.rows]

    def folder(self, cell: Cell) -> Path:
        return self.out / CELLS / cell.id

    def metric_values(self) -> dict[str, dict[str, float | int | None]]:
        """cell id -> metric name -> value, for every finished cell."""
        fixed = {"cell", *self.plan.grid, "seed_index", "seed", *_TAIL}
        return {  # plan order, whatever order the cells finished in
            cell_id: {k: _read_value(v) for k, v in self.rows[cell_id].items() if k not in fixed}
            for cell_id in self.cells
            if cell_id in self.rows
        }

    # ------------------------------------------------------------------ writing

    def add(self, outcome: Outcome) -> None:
        """Record a finished cell and rewrite ``results.csv`` (atomically)."""
        from engram.viz.values import engram_version

        cell = self.cells[outcome.cell_id]
        row = {
            "cell": cell.id,
            **{k: format_setting(v) for k, v in cell.settings.items()},
            "seed_index": str(cell.seed_index),
            "seed": str(cell.seed),
            **{k: _cell_text(v) for k, v in outcome.metrics.items()},
            "elapsed_s": f"{outcome.elapsed_s:.3f}",
            "engram_version": engram_version(),
            "folder": f"{CELLS}/{cell.id}",
        }
        self.rows[cell.id] = row
        self._write()

    def _columns(self) -> list[str]:
        head = ["cell", *self.plan.grid, "seed_index", "seed"]
        metrics: dict[str, None] = {}
        for cell_id in self.cells:  # plan order: the same columns whatever order cells finish
            for key in self.rows.get(cell_id, {}):
                if key not in head and key not in _TAIL:
                    metrics.setdefault(key)
        return [*head, *metrics, *_TAIL]

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self._columns(), restval="", lineterminator="\n")
        writer.writeheader()
        for cell_id in self.cells:
            if cell_id in self.rows:
                writer.writerow(self.rows[cell_id])
        atomic_write_text(self.out / RESULTS, buffer.getvalue())
