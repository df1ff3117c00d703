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
                "methods=none,si,generative-replay",
                "scenarios=domain,class",
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
    assert serial.metrics["streams"] == 2 * 2 + 2 * 3  # 2 searches of 2 candidates + 6 runs
    assert "each with 3 iterations per context where the runs have 12: a shorter" in serial.text
    assert f"load average {serial.metrics['load_average']:.1f} on" in serial.text
    assert "10 streams (strength search included)" in serial.text
    # generative replay learned both scenarios side by side in one job: each as alone
    stream = load_stream("digits", "split", seed=0)
    for scenario in ("domain", "class"):
        alone = train_stream(
            "generative-replay", stream, scenario, iterations=12, batch_size=32, hidden=(64,),
            learning_rate=1e-3, seed=0, generator_hidden=(64,), latent=8,
        )  # fmt: skip
        matrix = serial.metrics["matrices"][scenario]["generative-replay"]
        np.testing.assert_array_equal(np.array(matrix), alone.accuracy.round(4))
    assert "on 2 worker processes" in parallel.text


def test_scenarios_side_by_side_give_each_scenarios_run_alone_bit_for_bit():
    """`train_streams`: the scenarios' learners step side by side; generative replay trains its
    generator once per step for all of them (its results would differ if it trained it once per
    scenario), every other method shares nothing; a job of several scenarios does the same in a
    worker."""
    from engram.continual import train_streams

    stream = load_stream("digits", "split", seed=0)
    scenarios = ("task", "domain", "class")
    cases = {
        "generative-replay": {"generator_hidden": (16,), "latent": 4},
        "replay": {"capacity": 40},
        "ewc": {"strength": 10.0, "fisher_samples": 20},
    }
    for method, options in cases.items():
        settings = {**SETTINGS, "seed": 3, **options}
        bar = Counter()
        together = train_streams(method, stream, scenarios, progress=bar, **settings)
        assert bar.calls == [1] * 15
        for scenario, result in zip(scenarios, together, strict=True):
            alone = train_stream(method, stream, scenario, **settings)
            assert result.scenario == scenario
            for key in ("accuracy", "baseline", "curves", "curve_steps"):
                np.testing.assert_array_equal(getattr(result, key), getattr(alone, key))
            assert result.info == alone.info
    job = Job(SOURCE, "generative-replay", scenarios, {**SETTINGS, "seed": 3,
              **cases["generative-replay"]})  # fmt: skip
    (serial,), (parallel,) = run_jobs([job]), run_jobs([job], workers=2)
    assert [r.scenario for r in parallel.results] == list(scenarios)
    for a, b in zip(serial.results, parallel.results, strict=True):
        np.testing.assert_array_equal(a.accuracy, b.accuracy)


def test_a_shared_generator_is_trained_once_per_step_and_refuses_other_batches():
    from engram.continual import Learner
    from engram.continual.methods import make

    stream = load_stream("digits", "split", seed=0)
    learners = [Learner(stream, s, (8,), seed=0) for s in ("task", "class")]
    methods = [make("generative-replay", generator_hidden=(8,), latent=2) for _ in learners]
    for learner, method in zip(learners, methods, strict=True):
        method.begin(learner)
    methods[1].share(methods[0])
    x = stream.contexts[0].x_train[:8]
    for learner, method in zip(learners, methods, strict=True):
        method.terms(learner, 0, x, learner.targets(0, stream.contexts[0].y_train[:8], 0))
    assert methods[0].generation.done == 1 and methods[1].generator is methods[0].generator
    methods[0].generation.step(methods[0], 0, x)
    with pytest.raises(RuntimeError, match="same steps with the same batches"):
        methods[1].generation.step(methods[1], 0, x + 1)
    other = make("generative-replay", generator_hidden=(8,), latent=2)
    other.begin(Learner(stream, "task", (8,), seed=1))
    with pytest.raises(ValueError, match="same seed and generator settings"):
        other.share(methods[0])


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
