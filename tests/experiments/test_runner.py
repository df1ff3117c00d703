"""Settings resolution, one run, and the tour."""

from __future__ import annotations

import json

import pytest

from engram.experiments import Experiment, Result
from engram.experiments.runner import resolve_config, run_experiment, run_resolved, run_tour


def test_defaults_quick_seed_epochs_then_overrides(tiny_experiment):
    assert resolve_config(tiny_experiment) == dict(tiny_experiment.defaults)
    assert resolve_config(tiny_experiment, quick=True)["epochs"] == 2
    config = resolve_config(
        tiny_experiment, quick=True, seed=7, epochs=9, overrides=["learning_rate=0.25", "epochs=3"]
    )
    assert (config["seed"], config["epochs"], config["learning_rate"]) == (7, 3, 0.25)


@pytest.mark.parametrize(
    "key, text, expected",
    [
        ("epochs", "12", 12),
        ("epochs", "1e2", 100),
        ("learning_rate", "3", 3.0),
        ("use_bias", "no", False),
        ("use_bias", "TRUE", True),
        ("use_bias", "1", True),
        ("label", "hello world", "hello world"),
        ("sizes", "16, 32,64", (16, 32, 64)),
        ("sizes", "[1,2]", (1, 2)),
        ("anything", "0.5", 0.5),
        ("anything", "none", None),
    ],
)
def test_overrides_are_parsed_by_the_type_of_the_default(tiny_experiment, key, text, expected):
    value = resolve_config(tiny_experiment, overrides={key: text})[key]
    assert value == expected and type(value) is type(expected)


def test_python_values_pass_through(tiny_experiment):
    config = resolve_config(tiny_experiment, overrides={"learning_rate": 1, "sizes": [3, 4]})
    assert config["learning_rate"] == 1 and config["sizes"] == (3, 4)


def test_unknown_key_suggests_close_names(tiny_experiment):
    with pytest.raises(
        ValueError,
        match=r"Unknown setting 'learning_rte'.*Did you mean "
        r"'learning_rate'\?.*Available: anything, epochs",
    ):
        resolve_config(tiny_experiment, overrides=["learning_rte=0.1"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("use_bias=maybe", r"'use_bias' expects a bool \(true/false\).*Got 'maybe'"),
        ("epochs=2.5", r"'epochs' expects an int \(default 4\). Got '2.5'"),
        ("learning_rate=fast", r"'learning_rate' expects a float"),
        ("sizes=1,x", r"'sizes' expects a comma-separated list"),
        ("epochs", r"--set takes key=value"),
    ],
)
def test_bad_values_name_key_type_and_value(tiny_experiment, override, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(tiny_experiment, overrides=[override])


def test_bad_seed_and_epochs(tiny_experiment, register_experiment):
    with pytest.raises(ValueError, match="seed must be >= 0"):
        resolve_config(tiny_experiment, seed=-1)
    with pytest.raises(ValueError, match="epochs must be > 0"):
        resolve_config(tiny_experiment, epochs=0)
    no_epochs = register_experiment(
        Experiment("tiny-no-epochs", "S.", "R.", {"seed": 0}, {}, lambda c: Result())
    )
    with pytest.raises(ValueError, match="'tiny-no-epochs' has no 'epochs' setting"):
        resolve_config(no_epochs, epochs=3)


def test_run_experiment_writes_report(tiny_experiment, tmp_path):
    out = run_experiment(
        tiny_experiment.name,
        quick=True,
        seed=5,
        overrides=["learning_rate=1"],
        out_dir=tmp_path,
        verbose=0,
    )
    assert out.config["verbose"] == 0 and out.config["epochs"] == 2
    assert out.result.metrics["epochs_run"] == 2 and out.elapsed_s >= 0
    assert out.paths["loss.png"] == tmp_path / "loss.png"
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["seed"] == 5 and document["config"]["learning_rate"] == 1.0


def test_run_experiment_default_folder_and_bad_name(tiny_experiment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run_experiment(tiny_experiment.name.upper(), verbose=0)
    assert out.paths["report.html"] == tmp_path.joinpath(
        "engram-runs", tiny_experiment.name, "report.html"
    ).relative_to(tmp_path)
    with pytest.raises(
        ValueError, match=r"Unknown experiment 'tiny-test-experimnt'\. Did you mean"
    ):
        run_experiment("tiny-test-experimnt")


def test_run_must_return_a_result(register_experiment, tmp_path):
    register_experiment(Experiment("tiny-bad", "S.", "R.", {"seed": 0}, {}, lambda c: {"a": 1}))
    with pytest.raises(TypeError, match="must return an engram.experiments.Result. Got dict"):
        run_experiment("tiny-bad", out_dir=tmp_path)


def test_tour_records_failures_and_goes_on(tiny_experiment, register_experiment, tmp_path):
    def explode(config):
        raise RuntimeError("boom")

    register_experiment(Experiment("tiny-explodes", "Fails.", "R.", {"seed": 0}, {}, explode))
    lines: list[str] = []
    tour = run_tour(
        tmp_path, verbose=0, only=["tiny-explodes", tiny_experiment.name], log=lines.append
    )
    assert tour.failed == ["tiny-explodes"]
    assert [e.status for e in tour.entries] == ["failed", "ok"]
    assert "RuntimeError: boom" in tour.entries[0].error
    assert (tmp_path / tiny_experiment.name / "report.html").is_file()
    page = tour.paths["report.html"].read_text()
    assert "RuntimeError: boom" in page and "A tiny test experiment." in page
    assert any("tiny-explodes: failed" in line for line in lines)


def test_run_resolved_uses_the_config_as_given(tiny_experiment, tmp_path):
    config = resolve_config(tiny_experiment, quick=True, overrides=["epochs=3"])
    out = run_resolved(tiny_experiment, config, out_dir=tmp_path, verbose=0)
    assert out.result.metrics["epochs_run"] == 3 and out.config == {**config, "verbose": 0}
    assert "verbose" not in config  # the caller's dict is not changed
