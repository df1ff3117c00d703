"""engram sweep on the command line: the end summary, resuming, and bad input."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engram.cli import cli
from tests.sweep.helpers import read_rows


@pytest.fixture
def sweep(tiny_experiment, tmp_path):
    def invoke(*args):
        base = ["sweep", tiny_experiment.name, "--backend", "serial", "--out", tmp_path / "s", "-q"]
        return CliRunner().invoke(cli, [str(a) for a in [*base, *args]])

    return invoke


def test_sweep_prints_a_summary_and_resumes(sweep, tmp_path):
    result = sweep("--grid", "learning_rate=0.5,1", "--seeds", 2, "--quick")
    assert result.exit_code == 0, result.output
    assert "4 of 4 cells finished: 4 ran now, 0 were already done, 0 failed" in result.output
    assert "learning_rate=0.5:" in result.output and "(n=2)" in result.output
    assert len(read_rows(tmp_path / "s" / "results.csv")) == 4
    again = sweep("--grid", "learning_rate=0.5,1", "--seeds", 2, "--quick")
    assert "0 ran now, 4 were already done" in again.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "learnin_rate=1"], "Did you mean 'learning_rate'"),
        (["--grid", "epochs=1,two"], "expects an int"),
        (["--set", "nope=1"], "Unknown setting 'nope'"),
        (["--seeds", 0], "seeds"),
        (["--scheduler", "tcp://127.0.0.1:9"], "needs --backend dask"),
    ],
)
def test_bad_input_exits_2_with_the_problem_named(sweep, args, message):
    result = sweep(*args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_unknown_experiment_is_named(tmp_path):
    result = CliRunner().invoke(cli, ["sweep", "xorr", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Did you mean 'xor'" in result.output


def test_unreachable_scheduler_is_a_clear_error(sweep, tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr("engram.sweep.backends.SCHEDULER_TIMEOUT_S", 1)
    result = sweep("--backend", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert "Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
    assert "0 of 5 cells are finished" in result.output
