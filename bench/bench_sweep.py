"""Scheduler overhead of ``engram sweep``: wall time beyond the cells' own time, per backend.

Each cell runs an experiment that waits ``--seconds`` (default 1 s) and returns one metric, with
no figures; everything else a sweep does counts as overhead: starting the workers (joblib's
processes, a Dask LocalCluster) and importing engram in them, sending cells and results, writing
each cell's report folder and ``results.csv`` after every cell, and the final ``report.html``.
Waiting cells (not busy ones) keep the measurement free of the CPU contention of a shared
machine, so ``--jobs`` may exceed the cores.

Two numbers per backend:
- overall: ``(wall - ideal) / wall`` with ``ideal = ceil(cells / jobs) * seconds``: everything,
  the one-off start included, so it shrinks as a sweep has more cells;
- steady: the same from the first finished cell to the last one (ideal
  ``(ceil(cells / jobs) - 1) * seconds``): what each further cell costs once the workers run.
  The target, under 5% for cells of one second or more, is read on this one.

Run: ``python bench/bench_sweep.py [--cells 16] [--seconds 1] [--jobs 2,4]``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from engram.experiments import Experiment, Result
from engram.sweep import make_plan, run_sweep

TARGET = 0.05


def _wait(config: dict) -> Result:
    time.sleep(config["seconds"])
    return Result(metrics={"slept_s": config["seconds"]})


WAIT = Experiment(
    "bench-wait", "Waits, then returns.", "None.", {"seed": 0, "seconds": 1.0}, {}, _wait
)


def measure(backend: str, jobs: int, cells: int, seconds: float) -> dict[str, float]:
    """Wall time, first and last finished cell, and the two overheads of one sweep."""
    plan = make_plan(WAIT, [], cells, overrides=[f"seconds={seconds}"])
    finished: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = run_sweep(
            plan,
            Path(folder) / "s",
            backend=backend,
            jobs=jobs,
            progress=False,
            on_cell=lambda _: finished.append(time.perf_counter() - start),
        )
        wall = time.perf_counter() - start
    assert done.ran == cells and not done.failed, done.failed
    rounds = math.ceil(cells / jobs)
    span = finished[-1] - finished[0]
    return {
        "wall": wall,
        "overall": (wall - rounds * seconds) / wall,
        "first": finished[0],
        "span": span,
        "steady": (span - (rounds - 1) * seconds) / span,
        "after": wall - finished[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--jobs", default="2,4", help="job counts for processes and dask")
    parser.add_argument("--backends", default="serial,processes,dask")
    args = parser.parse_args()
    print(f"{args.cells} cells of {args.seconds:g} s each")
    print(
        f"{'backend':<10} {'jobs':>4} {'wall (s)':>8} {'overall':>8} {'1st cell (s)':>12} "
        f"{'1st-last (s)':>12} {'report (s)':>10} {'steady':>7}  target (steady)"
    )
    for backend in args.backends.split(","):
        for jobs in [1] if backend == "serial" else [int(j) for j in args.jobs.split(",")]:
            r = measure(backend, jobs, args.cells, args.seconds)
            verdict = "ok" if r["steady"] < TARGET else "MISSED"
            print(
                f"{backend:<10} {jobs:>4} {r['wall']:>8.2f} {r['overall']:>8.1%} "
                f"{r['first']:>12.2f} {r['span']:>12.2f} {r['after']:>10.2f} "
                f"{r['steady']:>7.1%}  {verdict} (< {TARGET:.0%})"
            )


if __name__ == "__main__":
    main()
