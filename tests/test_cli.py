"""The command line: list, run, tour, errors and version."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import engram.experiments.runner as runner
from engram.cli import cli
from engram.experiments import Experiment


@pytest.fixture
def invoke():
    return lambda *args: CliRunner().invoke(cli, [str(a) for a in args])


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("engram ")


def test_list_shows_name_summary_and_reference(invoke, tiny_experiment):
    result = invoke("list")
    assert result.exit_code == 0
    assert tiny_experiment.name in result.output and "A tiny test experiment." in result.output
    assert "Nobody (2024)." in result.output


def test_run_prints_figures_metrics_and_report(invoke, tiny_experiment, tmp_path):
    result = invoke(
        "run",
        tiny_experiment.name,
        "--quick",
        "--seed",
        3,
        "--set",
        "learning_rate=2",
        "--out",
        tmp_path,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and "loss.png" not in result.output
    result = invoke("run", tiny_experiment.name, "--epochs", 3, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    for text in (
        "loss.png",
        "Training loss",
        "final_loss",
        "epochs_run",
        "Summary",
        "(seed 0)",
        str(tmp_path / "report.html"),
    ):
        assert text in result.output
    assert (tmp_path / "report.md").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "tiny-test-experimnt"], "Did you mean 'tiny-test-experiment'?"),
        (["run", "TINY", "--set", "lr=0.1"], "Unknown setting 'lr'"),
        (["run", "TINY", "--set", "epochs=many"], "'epochs' expects an int"),
        (["run", "TINY", "--seed", "-2"], "seed must be >= 0"),
    ],
)
def test_bad_names_and_settings_exit_2_without_traceback(invoke, tiny_experiment, args, message):
    result = invoke(*[tiny_experiment.name if a == "TINY" else a for a in args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_tour_summarises_and_exits_1_on_failure(
    invoke, register_experiment, tmp_path, tiny_experiment, monkeypatch
):
    def explode(config):
        raise ValueError("broken on purpose")

    register_experiment(Experiment("tiny-explodes", "Fails.", "R.", {"seed": 0}, {}, explode))
    monkeypatch.setattr(runner, "experiment_names", lambda: [tiny_experiment.name, "tiny-explodes"])
    result = invoke("tour", "--out", tmp_path, "--quiet")
    assert result.exit_code == 1
    assert "final_loss = " in result.output and "broken on purpose" in result.output
    assert str(tmp_path / "report.html") in result.output
    assert (tmp_path / tiny_experiment.name / "report.html").is_file()


def test_settings_error_is_reported_before_anything_runs(invoke, tiny_experiment):
    result = invoke("run", tiny_experiment.name, "--set", "epochs=abc")
    assert result.exit_code == 2 and "Running" not in result.output
    assert result.output.count("\n") == 1  # one line


def test_error_inside_an_experiment_is_not_a_usage_error(invoke, register_experiment, tmp_path):
    def explode(config):
        raise ValueError("bug in the experiment")

    register_experiment(Experiment("tiny-buggy", "Fails.", "R.", {"seed": 0}, {}, explode))
    result = invoke("run", "tiny-buggy", "--out", tmp_path)
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)


def test_dataset_and_data_dir_shorthands_reach_the_settings(tmp_path):
    from engram.experiments import get
    from engram.experiments.runner import resolve_config

    config = resolve_config(get("mnist-mlp"), overrides=["dataset=digits", f"data_dir={tmp_path}"])
    assert config["dataset"] == "digits" and config["data_dir"] == str(tmp_path)
    result = CliRunner().invoke(cli, ["run", "xor", "--dataset", "digits"])
    assert result.exit_code == 2
    assert "dataset" in result.output


def test_missing_dataset_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGRAM_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ENGRAM_DATA_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(
        cli, ["run", "mnist-mlp", "--dataset", "mnist", "--data-dir", str(empty)]
    )
    assert result.exit_code == 1
    assert "MNIST files not found" in result.output and "To fix" in result.output
    assert "Traceback" not in result.output
