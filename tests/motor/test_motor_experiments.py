"""The motor experiments in quick mode: what the papers found when trained, and reports that flip.

Each experiment runs twice: with its quick settings (the headline numbers must land in a band a
broken engine would miss) and untrained (a few training steps), where the report's verdicts
must say the opposite. Figures are checked elsewhere.
"""

import numpy as np
import pytest

from engram.experiments import get
from engram.experiments.runner import resolve_config


def run_quick(name, **overrides):
    experiment = get(name)
    return experiment.run({**resolve_config(experiment, quick=True), "verbose": 0, **overrides})


@pytest.fixture(scope="module")
def flip_flop():
    return run_quick("flip-flop")


@pytest.fixture(scope="module")
def flip_flop_untrained():
    return run_quick("flip-flop", train_steps=3)


@pytest.fixture(scope="module")
def reach():
    return run_quick("motor-reach")


@pytest.fixture(scope="module")
def reach_untrained():
    return run_quick("motor-reach", train_steps=2)


# ------------------------------------------------------------------------------ flip-flop


def test_flip_flop_has_exactly_one_attractor_per_memory(flip_flop):
    m = flip_flop.metrics
    assert m["accuracy"] > 0.98 and m["memories_held"] == 8
    assert m["n_stable"] == 8
    assert m["stable_sign_patterns"] == 8 and m["every_memory_has_one_attractor"]
    assert m["stable_readout_min_abs"] > 0.5  # each attractor reads out a clear sign pattern
    assert m["memories_at_attractor"] == 8  # each held memory ends at its own attractor
    assert m["saddles_one_unstable"] == m["saddles_linking_neighbours"] == 12  # cube's edges
    assert m["max_q"] < 1e-12
    assert m["stable_largest_abs_eigenvalue"] < 1.0
    assert 20.0 < m["stable_slowest_time_constant_ms"] < 2000.0  # measured 143 ms


def test_flip_flop_reports_q_in_continuous_time_units(flip_flop):
    m = flip_flop.metrics
    assert m["max_q_continuous_per_s2"] == pytest.approx(m["max_q"] / 0.01**2)  # dt = 10 ms
    assert "1/2 |dh/dt|^2 = q / dt^2" in flip_flop.text


def test_flip_flop_report_says_what_the_trained_network_shows(flip_flop):
    text = flip_flop.text
    assert "**as published: 8 stable fixed points" in text
    assert "**the memories are held by attraction**" in text
    assert "Sussillo & Barak (2013) describe the same picture" in text
    assert "Of the 12 saddles with one unstable direction" in text and "each lies" in text
    assert "seeds tried" not in text and "1 of 6" not in text  # no development-run results


def test_flip_flop_report_flips_for_an_untrained_network(flip_flop, flip_flop_untrained):
    m, text = flip_flop_untrained.metrics, flip_flop_untrained.text
    assert not m["every_memory_has_one_attractor"] and m["memories_at_attractor"] < 8
    assert m["accuracy"] < 0.8
    assert "**not as published" in text and "**as published" not in text
    assert "held by attraction" not in text
    assert "**the memories are not all held**" in text
    assert "this run does not show that whole picture" in text
    assert text != flip_flop.text


# ---------------------------------------------------------------------------- motor-reach


def test_motor_reach_quick_reaches_and_prepares_by_attractors(reach):
    m = reach.metrics
    assert m["usable"]
    assert m["endpoint_error_max"] < 0.15 and m["catch_drift_max"] < 0.15  # measured 0.10, 0.06
    assert m["output_r2"] > 0.98  # measured 0.999
    assert m["targets_with_one_stable_point"] == m["targets_whose_point_reaches_them"] == 8
    assert m["prep_max_remaining_at_go"] < 0.05  # measured 0.006
    assert m["prep_max_release_gap"] < 0.01  # measured 0.0004
    assert m["preparation_is_attractor"]
    # rotations beat every one of the surrogates, with a fast plane as in the monkeys
    assert m["surrogate_p_value"] == pytest.approx(1 / (m["n_surrogates"] + 1))
    assert m["rotations_beyond_surrogates"]
    # measured (float32 initial weights, quick, seeds 0-3): R2_skew 0.58, 0.73, 0.66, 0.83;
    # R2_best 0.86, 0.91, 0.90, 0.93
    assert 0.5 < m["jpca_r2_skew"] <= m["jpca_r2_best"] <= 1
    assert 1.0 < m["jpca_plane1_frequency_hz"] < 4.0  # measured 2.1
    assert m["jpca_state"] == "midpoint"


def test_motor_reach_report_says_what_the_trained_network_shows(reach):
    text = reach.text
    assert "the solution is **usable**" in text
    assert "So preparation here is **convergence to a target-specific attractor**" in text
    assert "derivatives fitted against the midpoint" in text  # the convention that ran
    assert "That is beyond what 39 surrogates give" in text
    assert "development run" not in text and "Sabatini & Kaufman put" not in text
    low = reach.metrics["low_dimensional"]
    assert ("a low-dimensional solution" in text) == low
    assert ("not low-dimensional by our criterion" in text) == (not low)


def test_motor_reach_report_flips_for_an_untrained_network(reach, reach_untrained):
    m, text = reach_untrained.metrics, reach_untrained.text
    assert not m["usable"] and m["endpoint_error_max"] > 0.3  # measured 0.78
    assert not m["preparation_is_attractor"]
    assert "the solution is **NOT usable**" in text
    assert "convergence to a target-specific attractor**" not in text
    assert "So this run does **not** show preparation as convergence" in text
    assert "**What matches the published findings:** none" in text
    assert text != reach.text


def test_motor_reach_runs_the_original_jpca_convention():
    result = run_quick(
        "motor-reach", train_steps=2, n_surrogates=3, jpca_convention="churchland2012"
    )
    assert result.metrics["jpca_state"] == "earlier"
    assert "the convention of Churchland et al. 2012's code" in result.text
    with pytest.raises(ValueError, match="jpca_convention must be one of 'midpoint'"):
        run_quick("motor-reach", jpca_convention="original")


def test_motor_reach_prints_no_development_results(reach_untrained):
    assert np.isfinite(reach_untrained.metrics["jpca_r2_skew"])
    assert "development run" not in reach_untrained.text
