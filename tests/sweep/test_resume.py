"""A sweep killed part-way (SIGKILL of the real process) and run again: every cell exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engram
from engram.sweep import run_sweep
from tests.sweep.helpers import TINY_SETTINGS, read_rows, tiny_plan, without_times

GRID = ["sizes=30,40"]
SEEDS = 2


def _command(out: Path) -> list[str]:
    sets = [arg for s in TINY_SETTINGS for arg in ("--set", s)]
    return [sys.executable, "-m", "engram.cli", "sweep", "hopfield-capacity", "--grid", *GRID,
            "--seeds", str(SEEDS), "--quick", *sets, "--backend", "serial", "--out", str(out),
            "--quiet"]  # fmt: skip


def _env() -> dict[str, str]:
    src = str(Path(engram.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _kill_after_rows(out: Path, rows: int, timeout_s: float = 120.0) -> None:
    process = subprocess.Popen(_command(out), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and process.poll() is None:
            results = out / "results.csv"
            if results.exists() and len(read_rows(results)) >= rows:
                break
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"


def test_killed_sweep_rerun_ends_with_exactly_the_uninterrupted_cells(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    _kill_after_rows(killed, rows=1)
    before = read_rows(killed / "results.csv")
    assert 1 <= len(before) < len(tiny_plan(SEEDS, GRID).cells())
    stamps = {r["cell"]: (killed / r["folder"] / "metrics.json").stat().st_mtime_ns for r in before}

    again = subprocess.run(_command(killed), env=_env(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    total = len(tiny_plan(SEEDS, GRID).cells())
    assert f"{len(before)} were already done" in again.stdout
    assert f"{total - len(before)} ran now" in again.stdout

    run_sweep(tiny_plan(SEEDS, GRID), whole, backend="serial", progress=False)
    after, expected = read_rows(killed / "results.csv"), read_rows(whole / "results.csv")
    assert [r["cell"] for r in after] == [r["cell"] for r in expected]  # each cell once, in order
    assert without_times(after) == without_times(expected)
    for cell, stamp in stamps.items():  # the cells finished before the kill did not run again
        assert (killed / "cells" / cell / "metrics.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seeds": 3}, r"different sweep \(seeds: stored 2, now 3\)"),
        ({"grid": ["sizes=30,50"]}, r"different sweep \(grid: stored"),
    ],
)
def test_a_changed_sweep_is_refused_not_mixed(tmp_path, change, message):
    run_sweep(tiny_plan(2, ["sizes=30"]), tmp_path, backend="serial", progress=False)
    plan = tiny_plan(change.get("seeds", 2), change.get("grid", ["sizes=30"]))
    with pytest.raises(ValueError, match=message):
        run_sweep(plan, tmp_path, backend="serial", progress=False)
    assert len(read_rows(tmp_path / "results.csv")) == 2


def test_another_engram_version_is_refused(tmp_path, monkeypatch):
    run_sweep(tiny_plan(1, ["sizes=30"]), tmp_path, backend="serial", progress=False)
    monkeypatch.setattr(engram, "__version__", "99.0")
    with pytest.raises(ValueError, match=r"engram_version: stored '0\.1\.0', now '99\.0'"):
        run_sweep(tiny_plan(1, ["sizes=30"]), tmp_path, backend="serial", progress=False)


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no sweep.json"):
        run_sweep(tiny_plan(1, ["sizes=30"]), tmp_path, backend="serial", progress=False)
