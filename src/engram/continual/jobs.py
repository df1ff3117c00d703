"""Many streams at once: independent `train_stream` runs in this process or in worker processes.

A benchmark is dozens of independent streams (each method in each scenario, each candidate
strength of a search). `run_jobs` runs a list of `Job`s, serially here (``workers=1``) or on
``workers`` spawned processes, and returns their results in the jobs' order. A run depends only
on its job (the method, scenario, settings and seed; every random choice comes from the seed,
and BLAS runs on one thread in every process), so the results are the same numbers, bit for
bit, whichever way and in whatever order the jobs run.

Worker policy: each worker runs single-threaded (`train_stream` holds BLAS to one thread; the
workers' initializer sets it for everything else), so ``workers`` workers use ``workers`` cores:
``workers=0`` means one per core this process may use. Workers start with the ``spawn`` method
(no forked copies of the parent's threads or locks) and load the stream themselves from its
`Source` (the dataset's name and options), so the images never travel between processes; a
`Stream` given as such travels pickled (fine for small ones). A job may name follow-up jobs
(``then``): the benchmark's run of a regularised method starts as soon as its strength search
is done, while the other streams keep the workers busy.

Example:
    >>> source = Source("digits", "split", seed=0)
    >>> jobs = [Job(source, m, "task", {"iterations": 5, "hidden": (8,)}) for m in ("none", "si")]
    >>> [done.result.method for done in run_jobs(jobs, workers=1)]
    ['none', 'si']
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engram.continual.learner import StreamResult, train_stream, train_streams
from engram.continual.streams import Stream, hold_out, load_stream

_WORKER_STREAMS: dict[Any, Stream] = {}  # a worker process's loaded streams, by Source


@dataclass(frozen=True)
class Source:
    """How to load a stream (`load_stream`'s arguments), and optionally the share of each
    context's training images held out as its test set (`hold_out`, for searches)."""

    dataset: str
    benchmark: str = "split"
    seed: int = 0
    data_dir: str = ""
    n_contexts: int = 10
    train_limit: int = 0
    held_out: float = 0.0
    hold_out_seed: int = 0

    def load(self, cache: dict[Any, Stream] | None = None) -> Stream:
        """The stream; taken from ``cache`` (by source) if there, else loaded and put there."""
        cache = {} if cache is None else cache
        if self not in cache:
            if self.held_out:
                whole = dataclasses.replace(self, held_out=0.0, hold_out_seed=0).load(cache)
                cache[self] = hold_out(whole, self.held_out, self.hold_out_seed)
            else:
                cache[self] = load_stream(
                    self.dataset,
                    self.benchmark,
                    self.seed,
                    self.data_dir,
                    self.n_contexts,
                    self.train_limit,
                )
        return cache[self]

    def held(self, fraction: float, seed: int) -> Source:
        """This source with ``fraction`` of each context's training images held out."""
        return dataclasses.replace(self, held_out=float(fraction), hold_out_seed=int(seed))


@dataclass(frozen=True)
class Job:
    """One `train_stream` run: ``train_stream(method, stream, scenario, **settings)``; with a
    tuple of scenarios, one `train_streams` run (the scenarios side by side, sharing what the
    method does the same in each), whose `Done` holds a list of results, one per scenario.

    ``key`` labels it for the caller; ``then``, if given, is called in the parent with the
    finished `Done` and returns further jobs to run (or none)."""

    source: Source | Stream
    method: str
    scenario: str | tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    key: Any = None
    then: Callable[[Done], Sequence[Job]] | None = field(default=None, compare=False)

    def stream(self, cache: dict[Any, Stream] | None = None) -> Stream:
        return self.source.load(cache) if isinstance(self.source, Source) else self.source


@dataclass(frozen=True)
class Done:
    """A finished job: its result (a list of them for a job of several scenarios) and the CPU
    seconds the run took in its process."""

    job: Job
    result: StreamResult | list[StreamResult]
    cpu_seconds: float

    @property
    def results(self) -> list[StreamResult]:
        """The job's results as a list (one per scenario)."""
        return self.result if isinstance(self.result, list) else [self.result]


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int, n_jobs: int | None = None) -> int:
    """``workers`` checked (an integer >= 0), 0 replaced by the available cores, and capped at
    the number of jobs."""
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 0:
        raise ValueError(
            f"workers must be an int >= 0 (the number of worker processes; 0: one per core, "
            f"1: run here, serially). Got {workers!r} instead."
        )
    n = int(workers) or available_cores()
    return max(1, min(n, n_jobs)) if n_jobs is not None else n


def _train(job: Job, progress: Any = None, cache: dict | None = None) -> tuple[Any, float]:
    """Run one job here; (result or list of results, CPU seconds of this process while it
    ran). Streams come from ``cache`` (None: this worker process's own)."""
    stream = job.stream(_WORKER_STREAMS if cache is None else cache)
    start = time.process_time()
    if isinstance(job.scenario, str):
        result = train_stream(job.method, stream, job.scenario, progress=progress, **job.settings)
    else:
        result = train_streams(job.method, stream, job.scenario, progress=progress, **job.settings)
    return result, time.process_time() - start


def _submit(pool: Any, job: Job) -> Any:
    """Run ``job`` on a worker: without its ``then`` (the callback stays in the parent)."""
    return pool.submit(_train, dataclasses.replace(job, then=None))


def _init_worker() -> None:
    """Worker initializer: BLAS on one thread for the worker's whole life; on Linux, the worker
    is ended when its parent dies (a killed run leaves no worker finishing its stream)."""
    from threadpoolctl import threadpool_limits

    _LIMITS.append(threadpool_limits(limits=1, user_api="blas"))
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        pass


_LIMITS: list[Any] = []


def run_jobs(
    jobs: Sequence[Job],
    workers: int = 1,
    progress: Any = None,
    streams: dict[Source, Stream] | None = None,
) -> list[Done]:
    """Run ``jobs`` (and the follow-ups their ``then`` returns); the `Done` of each: the given
    jobs first, in their order, then the follow-ups (in the order their parents finished, which
    differs between runs in parallel: look them up by ``key``).

    Args:
        workers: processes to run on (1: this process, serially; 0: one per available core).
        progress: an object with ``update(n)``: called once per context learned when serial,
            with the stream's number of contexts once per finished stream when parallel.
        streams: streams already loaded here, by `Source` (the serial path uses them; workers
            load their own).
    """
    workers = resolve_workers(workers)
    if workers <= 1 or not jobs:
        return _serial(list(jobs), progress, dict(streams or {}))
    return _parallel(list(jobs), workers, progress)


def _serial(queue: list[Job], progress: Any, cache: dict) -> list[Done]:
    done: list[Done] = []
    while len(done) < len(queue):
        job = queue[len(done)]
        result, cpu = _train(job, progress, cache)
        done.append(Done(job, result, cpu))
        if job.then is not None:
            queue.extend(job.then(done[-1]))
    return done


def _parallel(queue: list[Job], workers: int, progress: Any) -> list[Done]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    out: dict[int, Done] = {}
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
    try:
        pending = {_submit(pool, job): i for i, job in enumerate(queue)}
        _collect(pool, queue, pending, out, progress)
    except BaseException:  # a failed run or Ctrl-C: stop everything now, then raise
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return [out[i] for i in range(len(queue))]


def _stop(pool: Any) -> None:
    """Drop the jobs that have not started and end the running workers at once (a stream can
    take minutes, and nothing of an interrupted run is kept). The workers ignore SIGINT, so a
    Ctrl-C reaches only this process: without this it would wait for every running stream."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def _collect(pool: Any, queue: list[Job], pending: dict, out: dict[int, Done], progress) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait

    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in sorted(finished, key=pending.get):
            i = pending.pop(future)
            result, cpu = future.result()
            out[i] = Done(queue[i], result, cpu)
            if progress is not None:
                progress.update(sum(len(r.accuracy) for r in out[i].results))
            for follow in queue[i].then(out[i]) if queue[i].then is not None else ():
                queue.append(follow)
                pending[_submit(pool, follow)] = len(queue) - 1
