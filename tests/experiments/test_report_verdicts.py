"""A report's verdict follows its data: under a setting where the headline must flip (an untrained
network, an unlearnable data set, another kernel size), the report says so.

The normal quick runs and the verdicts they must print are checked in test_all_experiments.py
(HEADLINES); here each experiment runs once, small, under the flipping setting.
"""

from __future__ import annotations

import pytest

from engram.experiments import get
from engram.experiments._verdict import above_chance, count, verdict

# name -> (settings that flip the headline, phrases the flipped report prints, phrases it must
# no longer print: the normal quick run's verdicts)
FLIPS = {
    "xor": (
        {"learning_rate": 0.05, "n_seeds": 1, "epochs": 300},
        ("left that plateau", "No other rate tried solves more seeds", "the article's is 0.001"),
        ("stay on that plateau", "solves more seeds (median"),
    ),
    "binary-classifier": (
        {"noise": 3.0},
        ("not above chance",),
        ("held out, above chance", "learns the moons"),
    ),
    "backprop-from-scratch": (
        {"learning_rate": 1e-4},
        ("It does not fit",),
        ("It fits",),
    ),
    "mnist-mlp": (
        {"epochs": 1, "learning_rate": 1e-6, "train_limit": 200},
        ("no better than the 10% of guessing", "1 epoch on", "180 training"),
        ("above the 10% of guessing", "lowers its accuracy"),
    ),
    "mnist-cnn": (
        {"epochs": 1, "learning_rate": 1e-6, "train_limit": 64},
        ("no better than the 10% of guessing",),
        ("above the 10% of guessing",),
    ),
    "visual-filters": (
        {"kernel_size": 7, "epochs": 1, "learning_rate": 1e-6, "train_limit": 64},
        ("32 kernels of 7x7", "A 7x7 kernel has 49 weights", "did not change the match"),
        ("3x3", "training raised the match", "--set kernel_size=7"),
    ),
    "rnn-basics": (
        {"epochs": 1, "learning_rate": 1e-5},
        ("no better than the", "1 epoch,"),
        ("below the",),
    ),
    "working-memory": (
        {"epochs": 1, "delays": (4,), "samples": 64},
        ("No network holds even the shortest tested delay (4 steps)",),
        ("Longest delay held",),
    ),
}


@pytest.fixture(scope="module", params=sorted(FLIPS))
def flipped(request):
    name = request.param
    experiment, (settings, _, _) = get(name), FLIPS[name]
    config = {**experiment.defaults, **experiment.quick, "verbose": 0, **settings}
    return name, experiment.run(config)


def test_report_verdict_flips_with_the_data(flipped):
    name, result = flipped
    _, printed, gone = FLIPS[name]
    missing = [p for p in printed if p not in result.text]
    stale = [p for p in gone if p in result.text]
    assert not missing and not stale, (
        f"{name}: missing {missing}, still printed {stale}:\n{result.text}"
    )


def test_flipped_metrics_agree_with_the_verdict(flipped):
    name, result = flipped
    m = result.metrics
    if name in ("mnist-mlp", "mnist-cnn"):
        assert m["test_accuracy"] < 0.2
    elif name == "rnn-basics":
        assert m["test_mse"] >= m["persistence_mse"]
    elif name == "working-memory":
        assert set(m["span"].values()) == {0}
    elif name == "backprop-from-scratch":
        assert m["final_loss"] > 0.01 * m["initial_loss"]
    elif name == "binary-classifier":
        assert m["moons_test_accuracy"] < 0.6
    elif name == "xor":
        assert m["solved_at_article_lr"] == m["n_seeds"]


def test_verdict_picks_the_sentence_its_condition_supports():
    assert verdict(True, "held {n}", "lost {n}", n=3) == "held 3"
    assert verdict(False, "held {n}", "lost {n}", n=3) == "lost 3"
    assert verdict(None, "a", "b", "cannot tell") == "cannot tell"
    assert count(1, "epoch") == "1 epoch" and count(3, "epoch") == "3 epochs"


def test_above_chance_uses_two_binomial_standard_errors():
    # 10 classes over 540 trials: one standard error of a guesser is 0.0129
    assert not above_chance(0.12, 0.1, 540)
    assert above_chance(0.13, 0.1, 540)
    assert not above_chance(0.55, 0.5, 300) and above_chance(0.56, 0.5, 300)
