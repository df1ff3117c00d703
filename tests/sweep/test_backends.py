"""serial, joblib processes and a real Dask LocalCluster write the same results.csv rows."""

from __future__ import annotations

import os
import time

import pytest

from engram.experiments import Experiment, Result
from engram.sweep import SweepError, make_plan, run_sweep
from tests.sweep.helpers import read_rows, tiny_plan, without_times


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    done = run_sweep(tiny_plan(), out, backend="serial", progress=False)
    assert (done.ran, done.kept, done.failed) == (4, 0, [])
    return read_rows(out / "results.csv")


def test_serial_rows_hold_every_cell_once_with_its_metrics(serial_rows, tmp_path):
    plan = tiny_plan()
    assert [r["cell"] for r in serial_rows] == [c.id for c in plan.cells()]
    assert [r["seed"] for r in serial_rows] == [str(c.seed) for c in plan.cells()]
    assert [r["sizes"] for r in serial_rows] == ["30", "30", "40", "40"]
    assert float(serial_rows[0]["critical_load.hebb.30"]) > 0
    assert serial_rows[2]["critical_load.hebb.30"] == ""  # N = 40's cells have their own names
    assert all(r["engram_version"] and r["folder"] == f"cells/{r['cell']}" for r in serial_rows)


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_parallel_backends_give_the_serial_rows(backend, serial_rows, tmp_path):
    pytest.importorskip("joblib" if backend == "processes" else "dask.distributed")
    done = run_sweep(tiny_plan(), tmp_path, backend=backend, jobs=2, progress=False)
    assert (done.ran, done.failed) == (4, [])
    rows = read_rows(tmp_path / "results.csv")
    assert without_times(rows) == without_times(serial_rows)
    for row in rows:  # every cell's full report folder is kept
        assert (tmp_path / row["folder"] / "report.html").is_file()
        assert (tmp_path / row["folder"] / "metrics.json").is_file()


def _run_or_die(config):
    if config["die"]:
        time.sleep(1.0)  # the other cells finish first
        os._exit(3)  # a worker process dying, not an exception
    return Result(metrics={"value": config["seed"] % 7})


DYING = Experiment("dying", "Dies on request.", "None.", {"seed": 0, "die": False}, {}, _run_or_die)


def test_a_dying_worker_stops_with_a_clear_message_and_keeps_finished_cells(tmp_path):
    pytest.importorskip("joblib")
    plan = make_plan(DYING, ["die=false,true"], 2)
    with pytest.raises(SweepError, match=r"worker process died.*2 of 4 cells are finished"):
        run_sweep(plan, tmp_path, backend="processes", jobs=2, progress=False)
    rows = read_rows(tmp_path / "results.csv")
    assert [r["die"] for r in rows] == ["false", "false"]
    assert (tmp_path / "report.html").is_file()


def test_an_experiment_error_fails_its_cell_only(tmp_path):
    def run(config):
        if config["bad"]:
            raise RuntimeError("broken on purpose")
        return Result(metrics={"value": 1.0})

    experiment = Experiment("flaky", "x", "None.", {"seed": 0, "bad": False}, {}, run)
    done = run_sweep(make_plan(experiment, ["bad=false,true"], 2), tmp_path, backend="serial",
                     progress=False)  # fmt: skip
    assert (done.ran, len(done.failed)) == (2, 2)
    assert "RuntimeError: broken on purpose" in done.failed[0][1]
    again = run_sweep(make_plan(experiment, ["bad=false,true"], 2), tmp_path, backend="serial",
                      progress=False)  # fmt: skip
    assert (again.kept, again.ran, len(again.failed)) == (2, 0, 2)  # only the failed ones rerun
