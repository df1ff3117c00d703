"""Fail fast, never mislead (issue 19): settings, output folders, resources, divergence, data.

Each case of the issue is pinned here to its message and exit code; the run folder is checked
to never mix two runs, including when the process is killed or interrupted while writing.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import engram.experiments._resources as _resources
import engram.experiments.runner as runner
from engram.cli import cli
from engram.experiments import Experiment, Figure, Result, get, names
from engram.experiments.base import COMMON_BOUNDS, Bounds
from engram.experiments.runner import (
    ResourceError,
    check_resources,
    check_settings,
    resolve_config,
    run_experiment,
)
from engram.fileio import check_output_folder, staged_folder

SRC = Path(__file__).resolve().parents[2] / "src"
GB = 10**9


def invoke(command: str):
    return CliRunner().invoke(cli, shlex.split(command))


# --------------------------------------------------------------------------- settings (item 6)


@pytest.mark.parametrize(
    "command, message",
    [
        ("run xor --set epochs=0", "Setting 'epochs' must be in [1, 1,000,000]. Got 0 instead."),
        ("run binary-classifier --set epochs=0", "'epochs' must be in [1, 1,000,000]. Got 0"),
        ("run rnn-basics --set epochs=0", "'epochs' must be in [1, 1,000,000]. Got 0"),
        ("run mnist-cnn --quick --set epochs=0", "'epochs' must be in [1, 1,000,000]. Got 0"),
        ("run memory-recall --set epochs=-3", "'epochs' must be in [1, 1,000,000]. Got -3"),
        ("run xor --set n_seeds=0", "Setting 'n_seeds' must be in [1, 100,000]. Got 0 instead."),
        ("run working-memory --set delays=", "Setting 'delays' needs at least 1 value(s)."),
        ("run hopfield-capacity --set sizes=-5", "Every value of setting 'sizes' must be in"),
        ("run hopfield-capacity --set seeds=0", "Setting 'seeds' must be in [1, 100,000]."),
        ("run xor --seed 18446744073709551617", "Setting 'seed' must be in [0, 4,294,967,295]."),
        ("run xor --set seed=18446744073709551617", "Got 18446744073709551617 instead."),
        ("run xor --set n_seeds=1" + "0" * 400, "Setting 'n_seeds' must be in [1, 100,000]."),
        ("run xor --epochs 1" + "0" * 30, "Setting 'epochs' must be in [1, 1,000,000]."),
        ("run xor --set learning_rate=nan", "'learning_rate' must be a finite number in (0, inf)"),
        ("run xor --set learning_rate=0", "'learning_rate' must be in (0, inf). Got 0.0"),
        ("run motor-reach --set delay=1,2,3", "Setting 'delay' needs exactly 2 value(s)."),
        ("run hopfield-capacity --set rules=hebb,hebbb", "must be one of hebb, storkey"),
        ("run hopfield-capacity --set update=later", "'update' must be one of sync, async."),
        ("run mnist-mlp --set dataset=cifar", "'dataset' must be one of digits, mnist"),
        ("run binary-classifier --set test_fraction=1", "must be in [0.05, 0.95]. Got 1.0"),
        ("run flip-flop --set n_bits=40", "Setting 'n_bits' must be in [1, 8]. Got 40 instead."),
        ("run flip-flop --set tau=1", "Settings dt and tau need dt <= tau for a stable Euler"),
        ("run hopfield-capacity --set modern_loads=0.001", "Use loads of at least 0.01."),
        ("run motor-reach --quick --set dt=100", "Got dt = 100, tau = 50."),
        ("run motor-reach --quick --set delay=0,200", "test_delay must lie between dt (20)"),
        ("run motor-reach --set jpca_window=-50,-50", "jpca_window must span at least dt (10)"),
        ("run mnist-mlp --quick --set train_limit=1", "leave 0 training and 1 validation images"),
        ("run motor-reach --set units=2", "Setting 'units' must be in [6, inf). Got 2 instead."),
    ],
)
def test_bad_settings_exit_2_with_one_line_before_running(command, message):
    result = invoke(command)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "Running" not in result.output and result.output.count("\n") == 1


def test_every_experiment_declares_the_range_of_every_numeric_or_list_setting():
    for name in names():
        experiment = get(name)
        for key, default in experiment.defaults.items():
            if isinstance(default, (int, float, list, tuple)) and not isinstance(default, bool):
                assert experiment.bounds(key) is not None, f"{name}: {key} has no bounds"
        check_settings(experiment, resolve_config(experiment))  # its own defaults fit
        check_settings(experiment, resolve_config(experiment, quick=True))


@pytest.mark.parametrize(
    "spec, value, problem",
    [
        ("[1, 8]", 8, None),
        ("[1, 8]", 9, "Setting 'k' must be in [1, 8]. Got 9 instead."),
        ("(0, inf)", 0.0, "Setting 'k' must be in (0, inf). Got 0.0 instead."),
        ("(0, inf)", 1e30, None),
        ("[0, 1)", 1.0, "Setting 'k' must be in [0, 1). Got 1.0 instead."),
        ("[0, 1)", math.inf, "Setting 'k' must be a finite number in [0, 1). Got inf instead."),
        ("[0, inf) x2", (1, 2), None),
        ("[0, inf) x2", (1,), "Setting 'k' needs exactly 2 value(s). Got [1] instead."),
        ("[0, 10]", (), "Setting 'k' needs at least 1 value(s). Got [] instead."),
        (("a", "b"), "c", "Setting 'k' must be one of a, b. Got 'c' instead."),
    ],
)
def test_bounds_parse_and_name_the_problem(spec, value, problem):
    assert Bounds.parse(spec).problem("k", value) == problem


@pytest.mark.parametrize("spec", ["1..8", "[1, 8", "(a, b)", 5])
def test_a_bad_bounds_spec_is_refused_at_registration(spec):
    with pytest.raises(ValueError, match="Bounds must be an interval"):
        Experiment("bad", "s", "r", {"seed": 0, "k": 1}, {}, lambda c: Result(), limits={"k": spec})


def test_limits_must_name_settings(register_experiment):
    with pytest.raises(ValueError, match=r"limits \['nope'\] are not in its defaults"):
        register_experiment(
            Experiment(
                "tiny-lim", "s", "r", {"seed": 0}, {}, lambda c: Result(), {"nope": "[0, 1]"}
            )
        )


def test_common_bounds_apply_without_a_declaration(tiny_experiment):
    assert COMMON_BOUNDS["seed"].high == 2**32 - 1
    with pytest.raises(ValueError, match="'epochs' must be in"):
        resolve_config(tiny_experiment, overrides=["epochs=0"])
    with pytest.raises(ValueError, match="'learning_rate' must be a finite number"):
        resolve_config(tiny_experiment, overrides=["learning_rate=-inf"])


def test_big_ints_are_parsed_exactly(tiny_experiment):
    assert resolve_config(tiny_experiment, overrides=["seed=4294967295"])["seed"] == 2**32 - 1


# --------------------------------------------------------------------------- resources (item 7)


@pytest.fixture
def sixteen_gb(monkeypatch):
    monkeypatch.setattr(_resources, "available_memory", lambda: 16 * GB)
    monkeypatch.delenv(runner.ENV_FORCE, raising=False)


@pytest.mark.parametrize(
    "command, message",
    [
        ("run working-memory --quick --set delays=1000000", "needs about 1.5 TB of memory"),
        ("run hopfield-capacity --set sizes=30000", "needs about 345.6 GB of memory (N = 30,000"),
        ("run flip-flop --set units=30000", "needs about 113.9 GB of memory (30,000 units"),
        ("run hebbian-learning --set competition_ms=1e12", "would run for about 231 days"),
        (
            "run mnist-mlp --set hidden_units=1000000,1000000",
            "16.0 TB of memory (1,000,796,000,010 weights)",
        ),
    ],
)
def test_runs_that_will_not_fit_are_refused_with_the_estimate(sixteen_gb, command, message):
    result = invoke(command)
    assert result.exit_code == 2, result.output
    assert (
        message in result.output
        and "--force" in result.output
        and "ENGRAM_FORCE=1" in result.output
    )
    assert "Running" not in result.output


def test_force_and_the_environment_variable_let_a_run_go_ahead(sixteen_gb, monkeypatch):
    experiment = get("hopfield-capacity")
    config = resolve_config(experiment, overrides=["sizes=30000"])
    with pytest.raises(ResourceError, match="16.0 GB is available"):
        check_resources(experiment, config)
    assert check_resources(experiment, config, force=True).memory_bytes > 300 * GB
    monkeypatch.setenv(runner.ENV_FORCE, "1")
    assert check_resources(experiment, config).memory_bytes > 300 * GB


def test_default_and_quick_settings_fit_comfortably():
    for name in names():
        experiment = get(name)
        for quick in (False, True):
            cost = experiment.estimate(resolve_config(experiment, quick=quick))
            if cost is not None:
                assert cost.memory_bytes < 1 * GB and (cost.seconds or 0) < 600, (name, cost)


def test_available_memory_is_a_positive_number():
    available = runner.available_memory()
    assert available is None or available > 0


# ---------------------------------------------------------------------- output folders (item 3)


def _marker_experiment(register_experiment, ran: list):
    def run(config):
        ran.append(config["label"])
        return Result(
            metrics={"value": 1.0},
            figures=[
                Figure(config["label"], "A figure", "lines", {"series": {"a": {"y": [1, 2]}}})
            ],
            text=f"Run {config['label']}.",
        )

    return register_experiment(
        Experiment("tiny-marker", "Marks.", "R.", {"seed": 0, "label": "first"}, {}, run)
    )


@pytest.mark.parametrize(
    "out, message",
    [
        ("''", "--out must name a folder. Got '' instead."),
        ("' '", "--out must name a folder."),
        ("/proc/engram-test/x", "cannot be written: making a folder in /proc failed"),
        ("FILE/sub", "lies under the file"),
        ("FILE", "is a file, not a folder."),
        ("OTHER", "holds files that are not an engram run (e.g. 'notes.txt')"),
        ("LOOP/sub", "is a broken symbolic link or a link loop"),
    ],
)
def test_bad_output_folders_are_refused_before_any_compute(
    register_experiment, tmp_path, out, message
):
    ran: list = []
    _marker_experiment(register_experiment, ran)
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    for word in ("FILE", "OTHER", "LOOP"):
        out = out.replace(word, str(tmp_path / word.lower()))
    result = invoke(f"run tiny-marker --out {out}")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert ran == []  # nothing was computed
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_an_earlier_run_is_kept_whole_and_never_mixed(register_experiment, tmp_path):
    ran: list = []
    _marker_experiment(register_experiment, ran)
    out = tmp_path / "runs" / "marker"
    first = run_experiment("tiny-marker", out_dir=out, verbose=0)
    assert first.earlier is None and (out / "first.png").is_file()
    result = invoke(f"run tiny-marker --out {out} --set label=second --quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json", "report.html", "report.md", "second.png"
    ]  # fmt: skip
    (earlier,) = (tmp_path / "runs").glob("marker.earlier-*")
    assert f"renamed {earlier}" in result.output
    assert (earlier / "first.png").is_file() and not (earlier / "second.png").exists()
    assert json.loads((earlier / "metrics.json").read_text())["config"]["label"] == "first"
    third = run_experiment("tiny-marker", out_dir=out, verbose=0, overrides=["label=third"])
    assert third.earlier is not None and third.earlier != earlier and earlier.is_dir()
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")] == []


def test_an_empty_folder_is_simply_used(tiny_experiment, tmp_path):
    run = run_experiment(tiny_experiment.name, out_dir=tmp_path, verbose=0)
    assert run.earlier is None and (tmp_path / "report.html").is_file()


def test_a_failure_while_writing_leaves_the_earlier_run_untouched(
    register_experiment, tmp_path, monkeypatch
):
    import engram.viz.report as report

    _marker_experiment(register_experiment, [])
    out = tmp_path / "marker"
    run_experiment("tiny-marker", out_dir=out, verbose=0)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = report.atomic_write_text

    def fail_on_html(path, text):
        if Path(path).name == "report.html":
            raise OSError("disk full")
        return real(path, text)

    monkeypatch.setattr(report, "atomic_write_text", fail_on_html)
    with pytest.raises(OSError, match="disk full"):
        run_experiment("tiny-marker", out_dir=out, verbose=0, overrides=["label=second"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker"]  # no staging folder left


def test_staging_folders_of_dead_processes_are_cleaned_up(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".out.partial-{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "report.md").write_text("half")
    mine = tmp_path / f".out.partial-{os.getpid()}-xyz"  # a live process: left alone
    mine.mkdir()
    with staged_folder(tmp_path / "out") as staged:
        (staged.path / "a.txt").write_text("new")
    assert not stale.exists() and mine.exists()
    assert (tmp_path / "out" / "a.txt").read_text() == "new"


def test_check_output_folder_accepts_new_empty_and_run_folders(tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_folder(tmp_path) == tmp_path
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "loss.png").write_bytes(b"")
    assert check_output_folder(tmp_path) == tmp_path


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import engram.experiments as E
    E._loaded = True  # only the experiment below
    from engram.experiments import Experiment, Result, register
    import engram.viz.report as report

    def run(config):  # no figures: the subprocesses stay fast (matplotlib is never imported)
        return Result(metrics={"v": 1.0}, text=f"Run {config['label']}.")

    register(Experiment("killme", "K.", "R.", {"seed": 0, "label": "a"}, {}, run))
    real = report.atomic_write_text

    def slow(path, text):
        if sys.argv[1] == "slow":
            print("WRITING", flush=True)
            time.sleep(60)
        return real(path, text)

    report.atomic_write_text = slow
    from engram.cli import main
    main(sys.argv[2:])
    """
)


def _start(script: Path, mode: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "ENGRAM_FORCE": ""}
    return subprocess.Popen(
        [sys.executable, str(script), mode, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_writing(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if "WRITING" in line or time.monotonic() > deadline:
            return
    pytest.fail(f"the run ended before writing: {process.stderr.read()}")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_real_kill_or_ctrl_c_while_writing_never_mixes_two_runs(tmp_path, how):
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "runs" / "killme"
    first = _start(script, "fast", "run", "killme", "--out", str(out), "--quiet")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert b"Run a." in before["report.md"]
    second = _start(script, "slow", "run", "killme", "--out", str(out), "--set", "label=b")
    _wait_for_writing(second)
    second.send_signal(how)
    code = second.wait(timeout=30)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier run, whole
    leftovers = [p for p in (tmp_path / "runs").iterdir() if p.name != "killme"]
    if how == signal.SIGINT:
        assert code == 130
        assert "Interrupted: nothing was written" in second.stderr.read()
        assert leftovers == []
    else:
        assert code == -signal.SIGKILL
        assert [p.name.startswith(".killme.partial-") for p in leftovers] == [True]
        third = _start(script, "fast", "run", "killme", "--out", str(out), "--set", "label=c")
        assert third.wait(timeout=120) == 0, third.stderr.read()
        assert not leftovers[0].exists()  # the killed run's staging folder is cleaned up
        assert b"Run c." in (out / "report.md").read_bytes()


# --------------------------------------------------------------------------- divergence (item 4)


def test_a_diverged_run_is_named_in_the_output_every_report_and_the_exit_code(
    register_experiment, tmp_path
):
    def run(config):
        return Result(
            metrics={"loss": float("nan"), "accuracy": 0.5, "curve": [1.0, np.inf]},
            figures=[Figure("curve", "C", "lines", {"series": {"a": {"y": [1.0, np.nan]}}})],
            text="Reaches nan accuracy.",
        )

    register_experiment(Experiment("tiny-nan", "NaN.", "R.", {"seed": 0}, {}, run))
    result = CliRunner().invoke(cli, ["run", "tiny-nan", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 3, result.output
    assert result.output.count("DIVERGED") == 1
    assert (
        "DIVERGED: This run diverged: 3 value(s) are NaN or infinite (loss, curve, figure 'curve')"
        in (result.output)
    )
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["diverged"] is True and document["non_finite"] == [
        "loss",
        "curve",
        "figure 'curve'",
    ]
    for name in ("report.md", "report.html"):
        assert (tmp_path / name).read_text().count("DIVERGED.") == 1


def test_a_finite_run_has_no_banner(tiny_experiment, tmp_path):
    run = run_experiment(tiny_experiment.name, out_dir=tmp_path, verbose=0)
    assert run.diverged == [] and "DIVERGED" not in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text())["diverged"] is False


def test_the_tour_records_a_diverged_experiment(register_experiment, tmp_path, monkeypatch):
    def run(config):
        return Result(metrics={"loss": float("inf")})

    register_experiment(Experiment("tiny-inf", "Inf.", "R.", {"seed": 0}, {}, run))
    monkeypatch.setattr(runner, "experiment_names", lambda: ["tiny-inf"])
    result = CliRunner().invoke(cli, ["tour", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 1 and "tiny-inf: diverged" in result.output
    assert "DIVERGED." in (tmp_path / "report.md").read_text()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings on the way
def test_binary_classifier_with_a_huge_learning_rate_is_reported_as_diverged(tmp_path):
    result = invoke(
        f"run binary-classifier --quick --set learning_rate=1e30 --epochs 2 --out {tmp_path} -q"
    )
    assert result.exit_code == 3, result.output
    assert "This run diverged" in result.output
    assert "DIVERGED." in (tmp_path / "report.md").read_text()


# --------------------------------------------------------------------------- data (item 1)


def test_a_missing_data_dir_is_refused_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = invoke("run mnist-mlp --dataset fashion-mnist --data-dir /nonexistent/typo --quiet")
    assert result.exit_code == 1
    assert "data_dir '/nonexistent/typo' (--data-dir) does not exist" in result.output
    assert "Traceback" not in result.output


def test_the_files_read_are_recorded_in_metrics_and_reports(register_experiment, tmp_path):
    from engram.data import load_mnist, write_idx

    folder = tmp_path / "data"
    folder.mkdir()
    for stem, shape in (("t10k-images-idx3-ubyte", (3, 28, 28)), ("t10k-labels-idx1-ubyte", (3,))):
        write_idx(folder / stem, np.zeros(shape, np.uint8))

    def run(config):
        x, _ = load_mnist(config["data_dir"], split="test", verify=False)
        return Result(metrics={"n": len(x)})

    defaults = {"seed": 0, "data_dir": str(folder)}
    register_experiment(Experiment("tiny-data", "Data.", "R.", defaults, {}, run))
    out = run_experiment("tiny-data", out_dir=tmp_path / "out", verbose=0)
    files = json.loads((tmp_path / "out" / "metrics.json").read_text())["data_files"]
    assert [Path(f["path"]).name for f in files] == [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    assert files[0]["bytes"] == 16 + 3 * 28 * 28 and len(files[0]["sha256"]) == 64
    assert out.data_files == files
    for name in ("report.md", "report.html"):
        text = (tmp_path / "out" / name).read_text()
        assert "Data read" in text and files[1]["sha256"] in text


def test_the_text_counts_the_images_actually_used(tmp_path):
    run = run_experiment(
        "mnist-mlp", quick=True, overrides=["train_limit=500", "epochs=1"], out_dir=tmp_path,
        verbose=0,
    )  # fmt: skip
    assert "(450 training, 50 validation and 540 test images)" in run.result.text


def test_a_tour_is_staged_whole_and_an_earlier_tour_kept(tiny_experiment, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "experiment_names", lambda: [tiny_experiment.name])
    out = tmp_path / "tour"
    first = runner.run_tour(out, verbose=0)
    assert first.earlier is None and first.paths["report.html"] == out / "report.html"
    assert first.entries[0].paths["report.md"] == out / tiny_experiment.name / "report.md"
    assert "../" not in (out / "report.md").read_text()  # links stay inside the folder
    second = runner.run_tour(out, verbose=0)
    assert second.earlier is not None and (second.earlier / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["tour", second.earlier.name])
