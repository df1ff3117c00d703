"""The class-incremental finding of van de Ven & Tolias (2019) on Fashion-MNIST, test-sized, and
the report's sentences flipping with the values they are computed from."""

from __future__ import annotations

from pathlib import Path

import pytest

from engram.continual import load_stream, train_stream
from engram.experiments import _continual_report as report

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)
def test_class_incremental_ewc_and_si_no_better_than_fine_tuning_replay_far_better():
    stream = load_stream("fashion-mnist", "split", seed=0, data_dir=str(FASHION), train_limit=6000)
    settings = {"iterations": 100, "batch_size": 128, "hidden": (100,), "seed": 0}  # paper batch
    acc = {
        "none": train_stream("none", stream, "class", **settings).average,
        "ewc": train_stream(
            "ewc", stream, "class", strength=1e9, fisher_samples=200, **settings
        ).average,
        "si": train_stream("si", stream, "class", strength=5e3, **settings).average,
        "replay": train_stream("replay", stream, "class", capacity=500, **settings).average,
    }
    assert acc["none"] < 0.3  # catastrophic forgetting: about the last context's share
    assert max(acc["ewc"], acc["si"]) <= acc["none"] + 0.05, acc
    assert acc["replay"] >= max(acc["ewc"], acc["si"], acc["none"]) + 0.2, acc


def _metrics(none, ewc, si, replay, seeds=1, std=0.0):
    acc = {"class": {"none": none, "ewc": ewc, "si": si, "replay": replay}}
    return {
        "accuracy": acc,
        "accuracy_std": {"class": {m: std for m in acc["class"]}},
        "seeds": seeds,
    }


def test_class_finding_sentence_follows_the_values():
    assert report.class_finding(_metrics(0.2, 0.21, 0.19, 0.8)).startswith("As van de Ven")
    assert "does not hold" in report.class_finding(_metrics(0.2, 0.5, 0.19, 0.8))
    assert "does not hold" in report.class_finding(_metrics(0.2, 0.2, 0.2, 0.3))


def test_published_numbers_only_for_mnist_and_matched_by_seed_spread():
    config = {"dataset": "digits", "benchmark": "split"}
    assert "No published numbers" in report._paper_sentence(_metrics(0.2, 0.2, 0.2, 0.9), config)
    config["dataset"] = "mnist"
    assert "no spread" in report._paper_sentence(_metrics(0.2, 0.2, 0.2, 0.9), config)
    near = _metrics(0.199, 0.2001, 0.1999, 0.9, seeds=5, std=0.01)  # paper: 19.90 20.01 19.99
    assert "for none/class, ewc/class, si/class;" in report._paper_sentence(near, config)
    far = _metrics(0.5, 0.2001, 0.1999, 0.9, seeds=5, std=0.01)
    assert "differs for none/class" in report._paper_sentence(far, config)


def test_searched_strengths_are_used_reported_and_their_edge_named():
    from engram.experiments.continual_learning import search_jobs

    searched = {
        "task/ewc": {"candidates": [1.0, 10.0], "validation_accuracy": [0.9, 0.8], "chosen": 1.0},
        "task/si": {"candidates": [1.0, 10.0], "validation_accuracy": [0.7, 0.8], "chosen": 10.0},
    }
    sentence = report._edge_sentence(searched)
    assert (
        "For 2 of the 2 searches the best strength was the grid's smallest or largest" in sentence
    )
    inside = {"task/ewc": {"candidates": [1.0, 2.0, 3.0], "validation_accuracy": [0.1, 0.9, 0.2],
                           "chosen": 2.0}}  # fmt: skip
    assert report._edge_sentence(inside) == ""
    (table,) = report.search_tables({"strength_search": searched})
    assert table.rows[0] == ["task / ewc", "1: 90.0%, 10: 80.0%", "1"]
    assert callable(search_jobs)


def test_experiment_trains_with_the_strength_its_search_chose(tmp_path):
    from engram.experiments.runner import run_experiment

    out = run_experiment(
        "continual-learning",
        quick=True,
        out_dir=tmp_path,
        verbose=0,
        overrides=[
            "methods=none,ewc",
            "scenarios=task",
            "iterations=10",
            "strength_search=0.0001,100",
        ],
    )
    m = out.result.metrics
    found = m["strength_search"]["task/ewc"]
    assert found["candidates"] == [1e5 * 1e-4, 1e5 * 100]
    assert m["options"]["task"]["ewc"]["strength"] == found["chosen"]
    assert "searches on held-out training images" in out.result.text


def test_time_sentence_follows_the_values():
    m = {"seconds": 100.0, "cpu_seconds": 190.0, "workers": 2, "streams": 63, "cores": 2,
         "load_average": 2.1}  # fmt: skip
    sentence = report._time_sentence(m)
    assert "The 63 streams (strength search included) took 100 s wall on 2 worker processes" in (
        sentence
    )
    assert "190 s CPU in all" in sentence and "load average 2.1 on 2 cores" in sentence
    assert "waited for the cores" not in sentence
    m.update(seconds=400.0, load_average=9.5)
    assert "waited for the cores" in report._time_sentence(m)
    assert report._time_sentence({"seconds": 5.0}) == "All runs took 5 s."


def _scenario(acc, bwt=-0.5):
    return {"accuracy": {"domain": acc}, "bwt": {"domain": {m: bwt for m in acc}},
            "contexts": ["a", "b"]}  # fmt: skip


def test_scenario_sentence_and_opening_name_the_best_remedy_or_none():
    better = _scenario({"none": 0.5, "ewc": 0.6, "si": 0.7, "joint": 0.9})
    sentence = report._scenario_sentence(better, "domain")
    assert "fine-tuning ends at 50.0% (backward transfer -0.50)" in sentence
    assert "the best remedy is si at 70.0%" in sentence and "upper bound: 90.0%" in sentence
    assert "the best remedy, si, on 70.0%." in report.opening(better)
    worse = _scenario({"none": 0.8, "ewc": 0.6, "si": 0.7, "joint": 0.9})
    sentence = report._scenario_sentence(worse, "domain")
    assert "no remedy did better than fine-tuning (the best, si: 70.0%)" in sentence
    assert "best remedy is" not in sentence
    assert "the best remedy, si, on 70.0% (no better than fine-tuning)." in report.opening(worse)
    alone = report._scenario_sentence(_scenario({"none": 0.8, "joint": 0.9}), "domain")
    assert "remedy" not in alone and "upper bound: 90.0%" in alone
    above = report._scenario_sentence(_scenario({"none": 0.95, "si": 0.9, "joint": 0.9}), "domain")
    assert "meant as the upper bound, reached only 90.0% here" in above
    assert "the upper bound: 90.0%" not in above


def test_hippocampus_sentence_says_above_below_or_within_a_point():
    def sentence(hippocampal, replay):
        acc = {"class": {"replay": replay, "hippocampal-replay": hippocampal}}
        return report.hippocampus_sentence({"accuracy": acc})

    assert "reaches 60.0% in the class scenario, above experience replay's 50.0%" in sentence(
        0.6, 0.5
    )
    assert "below experience replay's 50.0%" in sentence(0.4, 0.5)
    assert "within a point of experience replay's 50.0%" in sentence(0.505, 0.5)
    assert report.hippocampus_sentence({"accuracy": {"class": {"replay": 0.5}}}) == ""


def test_search_length_says_whether_the_search_was_shorter():
    shorter = report._search_length({"search_iterations": 500, "iterations": 2000})
    assert shorter.startswith("each with 500 iterations per context where the runs have 2000")
    assert "need not be the best for the runs" in shorter
    same = report._search_length({"search_iterations": 2000, "iterations": 2000})
    assert same == "each with the runs' 2000 iterations per context"
