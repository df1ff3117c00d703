"""The documentation: its code runs, its commands name real experiments and settings, every
experiment has a lesson, and the site builds offline with warnings as errors."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engram.experiments import get, names
from engram.experiments.runner import resolve_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
LESSONS = sorted((DOCS / "lessons").glob("0*.md"))
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
RUN_LINE = re.compile(r"engram run [a-z][^`#\n]*")


def _blocks() -> list[tuple[str, int, str]]:
    return [
        (page.relative_to(DOCS).as_posix(), i, code)
        for page in PAGES
        for i, code in enumerate(PYTHON_BLOCK.findall(page.read_text()))
    ]


@pytest.mark.parametrize(("page", "index", "code"), _blocks(), ids=lambda v: str(v)[:40])
def test_python_blocks_run(page, index, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{page}[{index}]", "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out.strip(), f"{page} block {index} printed nothing"


def _run_commands() -> list[tuple[str, str]]:
    return [
        (page.relative_to(DOCS).as_posix(), line.strip())
        for page in PAGES
        for line in RUN_LINE.findall(page.read_text())
    ]


def test_the_docs_name_engram_run_commands():
    assert len(_run_commands()) >= 20


@pytest.mark.parametrize(("page", "command"), _run_commands())
def test_run_commands_name_real_experiments_and_settings(page, command):
    words = shlex.split(command)[2:]
    name, options, overrides, quick = words[0], words[1:], [], False
    while options:
        option = options.pop(0)
        if option == "--quick":
            quick = True
        elif option == "--set":
            overrides.append(options.pop(0))
        elif option in ("--dataset", "--data-dir", "--out", "--seed", "--epochs"):
            value = options.pop(0)
            if option == "--dataset":
                overrides.append(f"dataset={value}")
        else:
            pytest.fail(f"{page}: unknown option {option!r} in {command!r}")
    resolve_config(get(name), quick=quick, overrides=overrides)


def test_every_experiment_has_a_lesson():
    text = "\n".join(page.read_text() for page in LESSONS)
    assert [name for name in names() if f"engram run {name}" not in text] == []


def test_every_lesson_has_its_parts():
    parts = ["The question", "What the brain does", "What the network does", "The code to run"]
    parts += ["What to look at", "The takeaway", "Exercises"]
    for page in LESSONS:
        headings = re.findall(r"^## (.+)$", page.read_text(), re.M)
        assert headings == parts, page.name


def test_site_builds_strict_and_offline(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")
    pytest.importorskip("material", reason="the docs extra is not installed")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 15
    remote = re.compile(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=\"(?:https?:)?//")
    for page in pages:
        html = page.read_text()
        assert not remote.search(html), f"{page.relative_to(site)} loads something remote"
        assert "fonts.googleapis" not in html
    api = (site / "api" / "memory" / "index.html").read_text()
    assert "E(s) = -1/2 s^T W s" in api  # the docstrings' math shows in the reference
    nn = (site / "api" / "nn" / "index.html").read_text()
    assert "<code>forward:   z = x @ weights + bias" in nn  # as a block, columns kept
