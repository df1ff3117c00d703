"""Reports: every file written, self-contained HTML, JSON round trip, atomic writes, the index."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import engram.viz.report as report
from engram.experiments import Experiment, Figure, Result, Table
from engram.viz.report import ReportEntry, index_rows, write_combined_report, write_report
from engram.viz.values import key_metric, to_jsonable

EXPERIMENT = Experiment(
    "demo",
    "A demo experiment.",
    "Someone (1982).",
    {"seed": 0, "epochs": 5, "rate": 0.1},
    {"epochs": 1},
    lambda c: Result(),
)
CONFIG = {"seed": 3, "epochs": 5, "rate": 0.5, "verbose": 0}


def make_result(n_figures: int = 2, tag: str = "") -> Result:
    figures = [
        Figure(
            f"fig{i}",
            f"Figure {i}{tag}",
            "lines",
            {"series": {"s": [1, 2, i]}},
            caption=f"Caption {i}.",
        )
        for i in range(n_figures)
    ]
    return Result(
        metrics={
            "accuracy": np.float64(0.9),
            "count": np.int64(3),
            "ok": np.bool_(True),
            "per_class": {"a": 0.5},
            "curve": np.array([1.0, 2.0]),
            "bad": float("nan"),
        },
        figures=figures,
        tables=[Table("Scores", ["model", "score"], [["mlp", 0.91]])],
        text="## Findings\n\nThe **model** learns `xor`.\n\n- first\n- second <b>",
    )


def test_write_report_writes_every_file(tmp_path):
    paths = write_report(make_result(), EXPERIMENT, CONFIG, tmp_path / "out", elapsed_s=1.5)
    expected = {"fig0.png", "fig1.png", "metrics.json", "report.md", "report.html"}
    assert set(paths) == expected
    assert {p.name for p in (tmp_path / "out").iterdir()} == expected
    markdown = paths["report.md"].read_text()
    assert (
        "# demo" in markdown and "![Figure 1](fig1.png)" in markdown and "*Caption 1.*" in markdown
    )
    assert "| rate | 0.5 | 0.1 |" in markdown  # changed setting shows its default
    assert "engram run demo --seed 3 --set rate=0.5" in markdown
    assert "### Findings" in markdown


def test_html_is_self_contained(tmp_path):
    page = write_report(make_result(), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)["report.html"]
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<script" not in text and "<link" not in text
    assert "<strong>model</strong>" in text and "&lt;b&gt;" in text  # markdown, escaped HTML
    assert "Caption 0." in text and "Scores" in text


def test_metrics_json_round_trips(tmp_path):
    result = make_result()
    path = write_report(result, EXPERIMENT, CONFIG, tmp_path, elapsed_s=2.25)["metrics.json"]
    document = json.loads(path.read_text())
    assert document["metrics"] == to_jsonable(result.metrics)
    assert document["metrics"]["bad"] is None and document["metrics"]["curve"] == [1.0, 2.0]
    assert document["seed"] == 3 and document["elapsed_s"] == 2.25
    assert document["config"] == {"seed": 3, "epochs": 5, "rate": 0.5}
    assert [f["file"] for f in document["figures"]] == ["fig0.png", "fig1.png"]
    assert document["engram_version"] and document["experiment"] == "demo"


def test_failed_figure_leaves_previous_report_intact(tmp_path, monkeypatch):
    write_report(make_result(), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real, calls = report.figure_png, []

    def fail_on_second(figure):
        calls.append(figure.name)
        if len(calls) == 2:
            raise RuntimeError("renderer crashed")
        return real(figure)

    monkeypatch.setattr(report, "figure_png", fail_on_second)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_report(
            make_result(3, " new"), EXPERIMENT, {**CONFIG, "seed": 9}, tmp_path, elapsed_s=1.0
        )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failed_replace_keeps_old_html_and_leaves_no_temporary(tmp_path, monkeypatch):
    old = write_report(make_result(), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)["report.html"]
    old_text = old.read_text()
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("report.html"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(make_result(1, " new"), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)
    assert old.read_text() == old_text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_figure_name_is_refused_before_writing(tmp_path):
    result = Result(figures=[Figure("../evil", "E", "lines", {"series": {"s": [1]}})])
    with pytest.raises(ValueError, match="Figure name must be a file stem"):
        write_report(result, EXPERIMENT, CONFIG, tmp_path / "out", elapsed_s=0.0)
    assert not (tmp_path / "out").exists()


def test_combined_report_embeds_successes_and_records_failures(tmp_path):
    result = make_result(1)
    paths = write_report(result, EXPERIMENT, CONFIG, tmp_path / "demo", elapsed_s=1.0)
    entries = [
        ReportEntry("demo", "ok", 1.0, EXPERIMENT, CONFIG, result, paths),
        ReportEntry("broken", "failed", 0.1, error="ValueError: boom", details="Traceback ..."),
    ]
    written = write_combined_report(entries, tmp_path)
    page = written["report.html"].read_text()
    assert 'src="data:image/png;base64,' in page and 'href="demo/report.html"' in page
    assert "ValueError: boom" in page and 'class="status failed"' in page
    assert "accuracy = 0.9" in page  # key metric in the index
    markdown = written["report.md"].read_text()
    assert "| broken | failed |" in markdown and "![Figure 0](demo/fig0.png)" in markdown


def test_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    paths = write_report(make_result(1), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name


def test_settings_echoed_as_metrics_are_not_headlines():
    metrics = {"n_seeds": 4, "solved": 3, "rate": 0.5}
    assert key_metric(metrics, {"n_seeds": 4, "rate": 0.1}) == ("solved", 3)
    assert key_metric(metrics) == ("n_seeds", 4)
    assert key_metric({"ok": True, "bad": float("nan")}) is None


def test_cards_skip_echoed_settings_and_break_long_names(tmp_path):
    result = Result(metrics={"epochs": 5, "final_test_accuracy": 0.9})
    page = write_report(result, EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)["report.html"]
    cards = re.search(r'<div class="cards">(.*?)</div></div></div>', page.read_text())[0]
    assert "final_<wbr>test_<wbr>accuracy" in cards and ">epochs<" not in cards


def test_figures_have_their_pixel_size(tmp_path):
    page = write_report(make_result(1), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)
    width, height = re.search(
        r'<img [^>]*width="(\d+)" height="(\d+)"', page["report.html"].read_text()
    ).groups()
    assert int(width) > 100 and int(height) > 100


def test_index_lists_summaries_and_links_back(tmp_path):
    result = make_result(1)
    config = {**CONFIG, "count": 3}  # "count" repeats a setting: not the headline
    paths = write_report(result, EXPERIMENT, config, tmp_path / "demo", elapsed_s=1.0)
    entries = [
        ReportEntry("demo", "ok", 1.0, EXPERIMENT, config, result, paths),
        ReportEntry("broken", "failed", 0.1, error="ValueError: boom\nsecond line"),
    ]
    assert index_rows(entries) == [
        ["demo", "ok", "1.0 s", "accuracy = 0.9"],
        ["broken", "failed", "0.1 s", "ValueError: boom"],
    ]
    page = write_combined_report(entries, tmp_path)["report.html"].read_text()
    index = re.search(r'<table class="index">.*?</table>', page)[0]
    assert '<a href="#demo">demo</a><span class="what">A demo experiment.</span>' in index
    assert page.count('href="#top"') == 2 and '<header id="top">' in page
