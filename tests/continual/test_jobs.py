"""Streams as jobs: run in worker processes they give the serial path's numbers bit for bit;
follow-ups, progress, the workers setting, and the shorter strength search of the experiment."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engram.continual import hold_out, load_stream, train_stream
from engram.continual.jobs import Job, Source, resolve_workers, run_jobs
from engram.continual.search import candidate_jobs, collect

SETTINGS = {"iterations": 6, "batch_size": 16, "hidden": (8,)}
SOURCE = Source("digits", "split", seed=0)


class Counter:
    def __init__(self):
        self.calls: list[int] = []

    def update(self, n):
        self.calls.append(n)


def _jobs():
    jobs = [
        Job(SOURCE, m, s, {**SETTINGS, "seed": 1}, key=(m, s))
        for m, s in (("none", "task"), ("si", "domain"), ("replay", "class"))
    ]
    search = candidate_jobs(
        "ewc", SOURCE, "class", (1.0, 1e6), seed=0, fisher_samples=20, **SETTINGS
    )

    def then(done):  # the search's second candidate starts only when the first is done
        return [search[1]] if done.job.key == search[0].key else []

    return [*jobs, dataclasses.replace(search[0], then=then)]


def test_a_job_is_train_stream_on_its_source_and_a_held_out_source_is_hold_out():
    (done,) = run_jobs([Job(SOURCE.held(0.2, 3), "si", "task", {**SETTINGS, "seed": 2})])
    held = hold_out(load_stream("digits", "split", seed=0), 0.2, 3)
    direct = train_stream("si", held, "task", seed=2, **SETTINGS)
    np.testing.assert_array_equal(done.result.accuracy, direct.accuracy)
    assert done.cpu_seconds > 0


def test_worker_processes_give_the_serial_results_bit_for_bit_with_follow_ups_and_progress():
    serial_bar, parallel_bar = Counter(), Counter()
    serial = run_jobs(_jobs(), workers=1, progress=serial_bar)
    parallel = run_jobs(_jobs(), workers=2, progress=parallel_bar)
    assert [d.job.key for d in serial] == [d.job.key for d in parallel]
    assert len(serial) == 5  # the follow-up ran
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.result.accuracy, b.result.accuracy)
        np.testing.assert_array_equal(a.result.curves, b.result.curves)
        assert a.result.info == b.result.info
    assert serial_bar.calls == [1] * 25  # once per context here
    assert parallel_bar.calls == [5] * 5  # once per stream from the workers
    found = collect(serial[3:])
    assert found.candidates == (1.0, 1e6) and found.iterations == 6


def test_a_failing_job_raises_in_the_parent():
    bad = Job(SOURCE, "none", "task", {**SETTINGS, "strength": 1.0})
    with pytest.raises(ValueError, match="takes no option 'strength'"):
        run_jobs([bad], workers=2)


@pytest.mark.parametrize("workers", [-1, 1.5, True, "2"])
def test_workers_must_be_a_count(workers):
    with pytest.raises(ValueError, match="workers must be an int >= 0.*0: one per core"):
        resolve_workers(workers)


def test_workers_zero_is_the_cores_and_never_more_than_the_jobs():
    import os

    assert resolve_workers(0) == len(os.sched_getaffinity(0))
    assert resolve_workers(8, 3) == 3 and resolve_workers(1, 10) == 1


def test_experiment_in_workers_equals_serial_and_reports_its_shorter_search(tmp_path):
    from engram.experiments.runner import run_experiment

    def metrics(workers):
        return run_experiment(
            "continual-learning",
            quick=True,
            out_dir=tmp_path / str(workers),
            verbose=0,
            overrides=[
                "methods=none,si",
                "scenarios=domain",
                "iterations=12",
                "strength_search=0.01,1",
                f"workers={workers}",
            ],
        ).result

    serial, parallel = metrics(1), metrics(2)
    for key in ("accuracy", "bwt", "matrices", "strength_search", "options"):
        assert serial.metrics[key] == parallel.metrics[key], key
    assert (serial.metrics["workers"], parallel.metrics["workers"]) == (1, 2)
    assert serial.metrics["search_iterations"] == 3  # a quarter of 12
    assert serial.metrics["strength_search"]["domain/si"]["iterations"] == 3
    assert serial.metrics["streams"] == 2 + 2  # 2 candidates of one search + 2 runs
    assert "each with 3 iterations per context where the runs have 12: a shorter" in serial.text
    assert f"load average {serial.metrics['load_average']:.1f} on" in serial.text
    assert "4 streams (strength search included)" in serial.text
    assert "on 2 worker processes" in parallel.text


def test_a_failure_stops_the_running_workers_at_once():
    """A failed job (or Ctrl-C) ends the other workers' running streams instead of waiting for
    them: here a stream of minutes runs beside a job that fails at once."""
    import multiprocessing
    import time

    long = Job(SOURCE, "none", "task", {**SETTINGS, "iterations": 200_000})
    bad = Job(SOURCE, "none", "task", {**SETTINGS, "strength": 1.0})
    start = time.perf_counter()
    with pytest.raises(ValueError, match="takes no option 'strength'"):
        run_jobs([long, bad], workers=2)
    assert time.perf_counter() - start < 60  # the long stream alone takes minutes
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]
