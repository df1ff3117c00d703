"""What the memory experiments claim, checked on small settings (the registry test runs them
whole in quick mode)."""

import numpy as np
import pytest

from engram.experiments import get


def config_of(name, **overrides):
    experiment = get(name)
    return experiment, {**experiment.defaults, **experiment.quick, "verbose": 0, **overrides}


def test_hebb_critical_load_at_500_units_is_near_the_published_value():
    experiment, config = config_of(
        "hopfield-capacity", sizes=(500,), seeds=2, rules=("hebb",), attention_beta=False
    )
    metrics = experiment.run(config).metrics
    assert 0.12 <= metrics["hebb_alpha_c_N500"] <= 0.16


def test_capacity_ranks_the_rules_as_published():
    experiment, config = config_of("hopfield-capacity", seeds=3)
    result = experiment.run(config)
    critical = result.metrics["critical_load"]
    hebb, storkey = critical["hebb"]["100"], critical["storkey"]["100"]
    assert 0.13 < hebb < 0.25 and storkey > 1.8 * hebb
    assert critical["pseudo_inverse"]["100"] > hebb
    assert critical["beta=1"]["100"] is None  # modern, beta = 1: never fails in the sweep
    assert result.metrics["fixed_point_load"]["pseudo_inverse"]["100"] >= 0.9
    assert "first falls below 0.5" in result.text and "0.138" in result.text
    assert any(row[0] == "Hebb" and row[4] == "0.138" for row in result.tables[0].rows)


def test_hebbian_learning_finds_principal_components_selectivity_and_the_window():
    experiment, config = config_of("hebbian-learning", competition_ms=2000)
    metrics = experiment.run(config).metrics
    assert metrics["oja_cosine_pc1"] > 0.99
    assert abs(metrics["oja_weight_norm"] - 1) < 0.02
    assert metrics["sanger_components_above_0.99"] >= 6
    assert metrics["sanger_variance_captured"] > 0.98 * metrics["pca_variance_captured"]
    assert metrics["plain_hebb_weight_norm_growth"] > 2
    assert metrics["bcm_selectivity_mean"] > 0.9 > 0.5 > metrics["bcm_initial_selectivity_mean"]
    assert metrics["stdp_window_max_relative_error"] < 1e-3
    assert metrics["stdp_tau_fitted_ms"] == pytest.approx(20.0, rel=0.02)


def test_memory_recall_shows_correlated_failure_and_each_memory_cost():
    experiment, config = config_of("memory-recall", correlated_seeds=2)
    result = experiment.run(config)
    m = result.metrics
    correct = m["correct_recall"]
    assert correct["Hopfield (Hebb)"][0] == 0.0  # correlated digits: not even fixed points
    assert correct["modern Hopfield"][1] >= 0.95 and correct["autoencoder"][0] >= 0.9
    assert correct["Hopfield (pseudo-inverse)"][0] == 1.0
    crit = m["critical_patterns"]
    random_limit = crit["random patterns (Hebb)"] or config["max_correlated"]  # None: beyond
    assert crit["digits (Hebb)"] < 0.5 * random_limit
    assert (
        m["mean_overlap_between_stored_digits"] > 3 * m["mean_abs_overlap_random_patterns_expected"]
    )
    forgetting = m["add_one_more"]["autoencoder"]
    assert forgetting["old_correct_after"] < forgetting["old_correct_before"]
    assert m["numbers_stored"]["autoencoder"] == 64 * 128 + 128 + 128 * 64 + 64
    assert any("above the hebb rule" in w for w in m["warnings"])
    assert np.all(np.diff(m["ideal_nearest_memory"]) <= 1e-9)
    assert m["modern_update_vs_attention_max_abs_diff"] < 1e-5
