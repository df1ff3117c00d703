"""`engram list` and `engram tour` follow the lessons; experiments not in the list come after."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import engram.experiments as experiments_pkg
import engram.experiments.runner as runner
from engram.cli import cli
from engram.experiments import LESSON_ORDER, Experiment, names


def _new(name: str) -> Experiment:
    return Experiment(name, "A new experiment.", "Nobody.", {"seed": 0}, {}, lambda config: None)


def test_every_lesson_name_is_a_registered_experiment():
    registered = set(names())
    assert [n for n in LESSON_ORDER if n not in registered] == []
    assert len(set(LESSON_ORDER)) == len(LESSON_ORDER)


def test_names_follow_the_lessons_then_new_ones_alphabetically(register_experiment):
    experiments_pkg.load_all()  # the real experiments first, so they are in the registry
    register_experiment(_new("zz-new"))
    register_experiment(_new("aa-new"))
    assert names() == [*LESSON_ORDER, "aa-new", "zz-new"]


def test_list_prints_lesson_order():
    output = CliRunner().invoke(cli, ["list"]).output
    listed = [line.split()[0] for line in output.splitlines() if line and not line[0].isspace()]
    assert [name for name in listed if name in LESSON_ORDER] == list(LESSON_ORDER)


def test_tour_runs_in_lesson_order(monkeypatch, tmp_path):
    ran: list[str] = []

    def fake_run(name, **kwargs):
        ran.append(name)
        raise RuntimeError("not run in this test")

    monkeypatch.setattr(runner, "run_experiment", fake_run)
    runner.run_tour(tmp_path, verbose=0, log=lambda *a, **k: None)
    assert ran == list(LESSON_ORDER)


def test_every_lesson_names_a_lesson_file_that_runs_its_experiments():
    from pathlib import Path

    from engram.experiments import LESSONS

    docs = Path(__file__).resolve().parents[2] / "docs" / "lessons"
    if not docs.is_dir():
        pytest.skip("the docs folder is not in this checkout")
    for slug, title, members in LESSONS:
        text = (docs / f"{slug}.md").read_text()
        assert title in text.splitlines()[0], slug
        assert all(f"engram run {name}" in text for name in members), slug
