"""What the first three experiments claim, checked on their quick settings."""

import numpy as np
import pytest

from engram.experiments import get


def quick_config(name, **overrides):
    experiment = get(name)
    config = {**experiment.defaults, **experiment.quick, "verbose": 0, **overrides}
    return experiment, config


def test_xor_article_setting_fails_and_larger_rate_solves():
    experiment, config = quick_config("xor")
    metrics = experiment.run(config).metrics
    assert metrics["solved_at_article_lr"] == 0
    assert metrics["final_loss_article_lr_median"] > 0.6
    assert metrics["solved_at_best_lr"] >= config["n_seeds"] // 2
    assert metrics["final_loss_best_lr_median"] < 0.1


def test_xor_same_seed_same_result():
    experiment, config = quick_config("xor", n_seeds=1, epochs=50)
    a, b = experiment.run(config), experiment.run(config)
    np.testing.assert_array_equal(a.arrays["losses_lr_0.001"], b.arrays["losses_lr_0.001"])


def test_binary_classifier_random_labels_stay_at_chance_and_moons_are_learned():
    experiment, config = quick_config("binary-classifier")
    metrics = experiment.run(config).metrics
    assert 0.4 < metrics["random_labels_test_accuracy"] < 0.6
    assert metrics["moons_test_accuracy"] > 0.8


def test_backprop_from_scratch_matches_gradcheck_and_sequential():
    experiment, config = quick_config("backprop-from-scratch")
    metrics = experiment.run(config).metrics
    assert metrics["gradcheck_max_relative_error"] < 1e-6
    assert metrics["max_grad_difference_vs_sequential"] < 1e-6
    assert metrics["max_weight_difference_vs_sequential_after_training"] < 1e-5
    assert metrics["final_loss"] < 0.1 * metrics["initial_loss"]


def test_xor_learning_rate_among_the_others_is_compared_once():
    # the setting's own rate among the others was compared with itself ("from 0 of 2 at 0.05,
    # and from 0 of 2 at 0.05"); now it is left out of the others, and nothing else is refused
    experiment, config = quick_config(
        "xor", n_seeds=2, epochs=20, learning_rate=0.05, better_learning_rates=(0.05, 0.01)
    )
    result = experiment.run(config)
    assert result.metrics["best_learning_rate"] == 0.01
    assert list(result.metrics["solved_by_learning_rate"]) == ["0.05", "0.01"]


def test_xor_without_another_rate_is_refused_by_name():
    experiment, config = quick_config("xor", learning_rate=0.05, better_learning_rates=(0.05,))
    with pytest.raises(ValueError, match="better_learning_rates=.* no rate other than"):
        experiment.run(config)
