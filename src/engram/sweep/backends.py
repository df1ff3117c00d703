"""Where a sweep's cells run: in this process, in joblib worker processes, or on Dask.

Each backend takes the same list of tasks (``run_cell`` arguments) and yields each cell's
`Outcome` as soon as it finishes, in whatever order they finish; the sweep writes them down.
joblib and dask.distributed are imported only when their backend is asked for (the ``cluster``
extra: ``pip install engram[cluster]``).

- ``serial``: one cell after another, here.
- ``processes``: joblib's loky process pool on this machine, ``jobs`` workers.
- ``dask``: a `dask.distributed.LocalCluster` of ``jobs`` single-threaded worker processes, or
  the running cluster whose scheduler is at ``scheduler`` (``tcp://host:8786``). Workers of a
  remote cluster write each cell's folder at the path they are given: the output folder must be
  on a file system they share.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from engram.sweep.cell import Outcome, Task, run_cell

BACKENDS = ("serial", "processes", "dask")
SCHEDULER_TIMEOUT_S = 10


class SweepError(RuntimeError):
    """A sweep stopped early: the backend could not start or a worker died."""


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SweepError(
            f"This backend needs {module.split('.')[0]}, which is not installed. Install it with "
            "pip install 'engram[cluster]', or use --backend serial."
        ) from None


def run_tasks(
    tasks: Sequence[Task],
    backend: str = "processes",
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> Iterator[Outcome]:
    """Run ``run_cell(*task)`` for every `Task`; yield the outcomes as they finish.

    Raises:
        SweepError: the backend is not installed, the scheduler cannot be reached, or a worker
            process died (the outcomes already yielded stand).
    """
    jobs = jobs or available_cores()
    if not tasks:
        return
    if backend == "serial":
        for task in tasks:
            yield run_cell(*task)
    elif backend == "processes":
        yield from _joblib(tasks, jobs)
    elif backend == "dask":
        yield from _dask(tasks, jobs, scheduler)
    else:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}. Got {backend!r}.")


def _joblib(tasks: Sequence[Task], jobs: int) -> Iterator[Outcome]:
    joblib = _need("joblib")
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    parallel = joblib.Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    try:
        yield from parallel(joblib.delayed(run_cell)(*task) for task in tasks)
    except TerminatedWorkerError as exc:
        codes = re.search(r"exit codes of the workers are (\{.*?\})", str(exc))
        why = f"exit codes {codes.group(1)}" if codes else "no exit code"
        raise SweepError(
            f"A worker process died ({why}): killed, out of memory, or crashed in native code"
        ) from None


def _dask(tasks: Sequence[Task], jobs: int, scheduler: str | None) -> Iterator[Outcome]:
    distributed = _need("dask.distributed")
    cluster = None
    try:
        if scheduler:
            client = _connect(distributed, scheduler)
        else:
            cluster = distributed.LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = distributed.Client(cluster)
        try:
            run = uuid.uuid4().hex[:8]  # two sweeps on one cluster never share a task key
            futures = {
                client.submit(run_cell, *task, key=f"engram-{run}-{task.cell_id}"): task.cell_id
                for task in tasks
            }
            for future in distributed.as_completed(futures):
                try:
                    yield future.result()
                except distributed.KilledWorker as exc:  # Dask gave up after retrying it
                    yield Outcome(futures[future], error=f"its worker died each time ({exc})")
                except Exception as exc:  # run_cell catches the experiment's own errors
                    raise SweepError(f"Dask: {type(exc).__name__}: {exc}") from None
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _connect(distributed: Any, scheduler: str) -> Any:
    try:
        return distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(
            f"Cannot reach the Dask scheduler at {scheduler!r} within {SCHEDULER_TIMEOUT_S} s "
            f"({type(exc).__name__}: {str(exc).rstrip('.')}). Start one with 'dask scheduler' "
            "(and workers with 'dask worker ADDRESS'), check the address, or leave out "
            "--scheduler to start a local cluster"
        ) from None
