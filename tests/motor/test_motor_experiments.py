"""The motor experiments in quick mode find what the papers found (figures elsewhere)."""

import math

import numpy as np
import pytest

from engram.experiments import get
from engram.experiments.runner import resolve_config


def run_quick(name):
    experiment = get(name)
    return experiment.run({**resolve_config(experiment, quick=True), "verbose": 0})


@pytest.fixture(scope="module")
def flip_flop():
    return run_quick("flip-flop")


@pytest.fixture(scope="module")
def reach():
    return run_quick("motor-reach")


def test_flip_flop_has_exactly_one_attractor_per_memory(flip_flop):
    m = flip_flop.metrics
    assert m["accuracy"] > 0.98 and m["memories_held"] == 8
    assert m["n_stable"] == 8
    assert m["stable_sign_patterns"] == 8 and m["every_memory_has_one_attractor"]
    assert m["stable_readout_min_abs"] > 0.5  # each attractor reads out a clear sign pattern
    assert m["count_by_unstable_dims"]["1"] >= 1  # and saddles lie between them
    assert m["max_q"] < 1e-12
    assert m["stable_largest_abs_eigenvalue"] < 1.0


def test_motor_reach_quick_is_usable_with_finite_analyses(reach):
    m = reach.metrics
    assert m["usable"]
    assert m["endpoint_error_max"] < m["usable_threshold"] == 0.2
    assert m["catch_drift_max"] < 0.2
    for key in ("jpca_r2_skew", "jpca_r2_best", "jpca_r2_ratio", "jpca_plane1_frequency_hz"):
        assert math.isfinite(m[key]), key
    assert 0 < m["jpca_r2_skew"] <= m["jpca_r2_best"] <= 1
    assert 0 < m["surrogate_p_value"] <= 1
    assert np.isfinite(m["prep_remaining_at_go"]).all()
    assert np.isfinite(m["prep_release_error"]).all()
    assert all(n >= 1 for n in m["prep_stable_per_target"])
