"""The aggregate over seeds, folded metric names, published values and the report page."""

from __future__ import annotations

import math

import pytest

from engram.experiments import Experiment, Result
from engram.sweep import make_plan, run_sweep
from engram.sweep.aggregate import fold_name, published_for, published_values, summarize
from tests.sweep.helpers import read_rows


def test_summary_is_mean_sample_sd_and_t_interval():
    s = summarize([1.0, 2.0, 3.0, None])
    assert (s.n, s.mean, s.sd) == (3, 2.0, 1.0)
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert s.low == pytest.approx(2.0 - half) and s.high == pytest.approx(2.0 + half)
    one = summarize([5.0])
    assert (one.n, one.mean, one.sd, one.low) == (1, 5.0, None, None)


def test_grid_values_fold_out_of_metric_names_but_not_out_of_other_numbers():
    settings = {"sizes": (100,), "rule": "hebb"}
    assert fold_name("critical_load.hebb.100", settings) == "critical_load.{rule}.{sizes}"
    assert fold_name("hebb_alpha_c_N100", settings) == "{rule}_alpha_c_N{sizes}"
    assert fold_name("loss_1000", settings) == "loss_1000"
    assert fold_name("x.0.100", {"lr": 0.1}) == "x.0.100"


def test_published_values_are_matched_by_name():
    published = published_values([{"published_hebb": 0.138, "a": 1}, {"published_hebb": 0.138}])
    assert published == {"hebb": 0.138}
    assert published_for("critical_load.hebb.{sizes}", published) == {
        "published hebb: 0.138": 0.138
    }
    assert published_for("critical_load.storkey.{sizes}", published) == {}
    assert published_for("seconds_per_rule.hebb", published) == {}  # a time, not a load
    assert published_values([{"published_x": 1.0}, {"published_x": 2.0}]) == {}


def _linear(config):
    noise = (config["seed"] % 1000) / 1000.0
    return Result(metrics={f"value_at_{config['n']}": config["n"] + noise, "published_value": 3.0})


LINEAR = Experiment("linear", "n plus noise.", "None.", {"seed": 0, "n": 1}, {}, _linear)


def test_report_shows_the_aggregate_per_grid_value_beside_the_published_value(tmp_path):
    done = run_sweep(make_plan(LINEAR, ["n=2,4"], 3), tmp_path, backend="serial", progress=False)
    rows = read_rows(tmp_path / "results.csv")
    at_2 = [float(r["value_at_2"]) for r in rows if r["n"] == "2"]
    page = (tmp_path / "report.html").read_text()
    assert "value_at_{n}" in page and "6 of 6 cells finished" in page
    mean = summarize(at_2).mean
    assert f"<td>{mean:.4g}</td>" in page  # the table's mean for n = 2
    assert page.count("<figure") == 1  # one metric against one grid key
    assert '<progress value="6" max="6"' in page
    assert "<td>3</td></tr>" in page  # the published value beside value_at_{n}
    assert done.kept == 0 and done.ran == 6


def test_report_is_rewritten_while_the_sweep_runs(tmp_path):
    seen = []

    def look(outcome):
        page = tmp_path / "report.html"
        seen.append(page.read_text() if page.exists() else "")

    run_sweep(make_plan(LINEAR, ["n=2"], 3), tmp_path, backend="serial", progress=False,
              report_every_s=0.0, on_cell=look)  # fmt: skip
    assert seen[0] == ""  # the page is written after the first cell, not before
    assert "1 of 3 cells finished (running)" in seen[1]
    assert '<progress value="1" max="3"' in seen[1]
    assert "3 of 3 cells finished (finished)" in (tmp_path / "report.html").read_text()
