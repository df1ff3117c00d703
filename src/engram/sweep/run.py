"""Run a sweep: the missing cells on a backend, each written down as it finishes, then the report.

Example:
    >>> from engram.experiments import get
    >>> from engram.sweep import make_plan, run_sweep
    >>> plan = make_plan(get("xor"), ["learning_rate=0.01,0.1"], seeds=4, quick=True)
    >>> out = run_sweep(plan, "runs/xor-sweep", backend="processes", jobs=2)  # doctest: +SKIP
    >>> out.paths["results.csv"]  # doctest: +SKIP
    PosixPath('runs/xor-sweep/results.csv')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram.sweep.backends import BACKENDS, SweepError, run_tasks
from engram.sweep.cell import Outcome, Task
from engram.sweep.grid import Plan
from engram.sweep.report import write_sweep_report
from engram.sweep.results import RESULTS, Ledger
from engram.validation import check_choice, check_positive

REPORT_EVERY_S = 30.0
THREADS_PER_CELL = 1  # one BLAS thread per cell: identical sums whatever the backend or job count


@dataclass
class SweepOutput:
    """What `run_sweep` returns: what ran, what was already there, what failed, and the files."""

    plan: Plan
    total: int
    kept: int  # cells finished by an earlier run of the same sweep
    ran: int  # cells finished by this run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell id, error)
    elapsed_s: float = 0.0
    cell_seconds: float = 0.0  # the experiments' own run time, summed over this run's cells
    paths: dict[str, Path] = field(default_factory=dict)
    metric_values: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.kept + self.ran


def _bar(total: int, initial: int, show: bool) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="cells", unit="cell", dynamic_ncols=True)


def run_sweep(
    plan: Plan,
    out_dir: str | Path,
    *,
    backend: str = "processes",
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    report_every_s: float = REPORT_EVERY_S,
    on_cell: Callable[[Outcome], None] | None = None,
) -> SweepOutput:
    """Run the cells of ``plan`` that ``out_dir`` does not hold yet, then write ``report.html``.

    Each finished cell's row goes into ``results.csv`` at once and its report into
    ``cells/<id>/``; a cell whose experiment raises is listed in ``failed`` (and runs again next
    time). Re-running after a crash or a kill runs only the missing cells.

    Args:
        plan: from `make_plan`.
        out_dir: the sweep's folder (see `Ledger` for what it may already hold).
        backend: ``"serial"``, ``"processes"`` (joblib) or ``"dask"``.
        jobs: worker processes (default: every core this process may use).
        scheduler: a running Dask scheduler's address (``tcp://host:8786``), dask only.
        progress: show a progress bar.
        log: called with a line when a cell fails.
        report_every_s: rewrite ``report.html`` at most this often while cells finish (and
            less often when drawing it takes over a tenth of that).
        on_cell: called with each cell's `Outcome` once it is written down.

    Raises:
        ValueError: a bad backend, jobs or scheduler, or ``out_dir`` holds another sweep.
        SweepError: the backend could not start or a worker died; finished cells are kept.
    """
    check_choice(backend, "backend", BACKENDS)
    if jobs is not None:
        check_positive(jobs, "jobs", integer=True)
    if scheduler is not None and backend != "dask":
        raise ValueError("--scheduler joins a Dask cluster: it needs --backend dask.")
    start = time.perf_counter()
    ledger = Ledger(out_dir, plan)
    todo = ledger.missing()
    output = SweepOutput(plan, len(ledger.cells), len(ledger.rows), 0)
    tasks = [
        Task(plan.experiment, plan.config(c), str(ledger.folder(c)), c.id, THREADS_PER_CELL)
        for c in todo
    ]
    bar, last_report = _bar(len(ledger.cells), len(ledger.rows), progress), time.perf_counter()
    wait_s = report_every_s

    def report(running: bool) -> Path:
        return write_sweep_report(
            ledger.out, plan, ledger.metric_values(), failed=output.failed,
            elapsed_s=time.perf_counter() - start, running=running,
        )  # fmt: skip

    try:
        for outcome in run_tasks(tasks, backend, jobs=jobs, scheduler=scheduler):
            if outcome.ok:
                ledger.add(outcome)
                output.ran += 1
                output.cell_seconds += outcome.elapsed_s
            else:
                output.failed.append((outcome.cell_id, outcome.error))
                if log:
                    log(f"cell {outcome.cell_id} failed: {outcome.error}")
            if bar is not None:
                bar.update(1)
            if on_cell is not None:
                on_cell(outcome)
            if time.perf_counter() - last_report > wait_s:
                took = time.perf_counter()
                report(running=True)
                last_report = time.perf_counter()
                wait_s = max(report_every_s, 10 * (last_report - took))  # under 10% of the time
    except SweepError as exc:
        report(running=False)
        raise SweepError(
            f"{exc}. {output.finished} of {output.total} cells are finished and kept in "
            f"{ledger.out / RESULTS}; run the same command again to run the rest."
        ) from None
    finally:
        if bar is not None:
            bar.close()
    output.paths = {"results.csv": ledger.out / RESULTS, "report.html": report(running=False)}
    output.elapsed_s = time.perf_counter() - start
    output.metric_values = ledger.metric_values()
    return output
