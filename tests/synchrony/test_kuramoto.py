"""The Kuramoto integrator against the mean-field theory (Kuramoto 1975; Strogatz 2000)."""

import numpy as np
import pytest

from engram.synchrony.kuramoto import (
    critical_coupling,
    measured_critical_coupling,
    natural_frequencies,
    order_parameter,
    simulate,
    theory_order_parameter,
)

N = 2000
# Finite-N tolerance: with frequencies at the quantiles of g the sample itself matches g, and what
# is left is the drifting oscillators' incoherent sum, whose size is O(1/sqrt(N)) (the
# central-limit scale of a sum of N unit phasors, ~0.022 at N = 2000), averaged over time.
TOLERANCE = 1.0 / np.sqrt(N)


def test_critical_couplings_match_the_closed_forms():
    assert critical_coupling("lorentzian", 0.7) == pytest.approx(1.4)
    assert critical_coupling("gaussian", 1.0) == pytest.approx(2.0 / (np.pi / np.sqrt(2 * np.pi)))


def test_theory_branches_match_closed_forms_and_the_gaussian_onset():
    k = np.array([0.5, 1.5, 2.0, 4.0])
    np.testing.assert_allclose(theory_order_parameter(k, "lorentzian", 0.5), [0, 0.57735, 0.70711,
                               0.86603], atol=1e-5)  # fmt: skip
    kc = critical_coupling("gaussian", 1.0)
    r = theory_order_parameter(kc * 1.01, "gaussian", 1.0)
    # near onset r ~ sqrt(16 mu / (pi K_c^3 (-g''(0)))), mu = (K - K_c) / K_c (Strogatz 2000)
    mu = 0.01
    g2 = -1.0 / np.sqrt(2 * np.pi)
    assert r == pytest.approx(np.sqrt(16 * mu / (np.pi * kc**3 * -g2)), rel=0.02)


@pytest.mark.parametrize("distribution", ["lorentzian", "gaussian"])
def test_simulated_order_parameter_matches_theory_above_and_below_kc(distribution):
    w = natural_frequencies(N, distribution, 0.5, quantiles=True)
    kc = critical_coupling(distribution, 0.5)
    couplings = kc * np.array([0.5, 1.5, 2.0, 3.0])
    run = simulate(w, couplings, duration=60.0, dt=0.05, seed=0)
    r = run.stationary_r()
    assert r[0] < 3 * TOLERANCE  # incoherent: only the 1/sqrt(N) residue
    np.testing.assert_allclose(r[1:], theory_order_parameter(couplings[1:], distribution, 0.5),
                               atol=TOLERANCE)  # fmt: skip


def test_measured_kc_from_a_sweep_recovers_two_gamma():
    gamma = 0.5
    w = natural_frequencies(N, "lorentzian", gamma, quantiles=True)
    couplings = np.array([1.3, 1.6, 2.0, 2.5, 3.0])
    r = simulate(w, couplings, duration=60.0, dt=0.05, seed=1).stationary_r()
    assert measured_critical_coupling(couplings, r) == pytest.approx(2 * gamma, abs=0.03)


def test_float32_and_float64_agree_and_seed_repeats_bit_for_bit():
    w = natural_frequencies(500, "lorentzian", 0.5, seed=3)
    a = simulate(w, 2.0, duration=10.0, seed=4)
    b = simulate(w, 2.0, duration=10.0, seed=4)
    np.testing.assert_array_equal(a.r, b.r)
    c = simulate(w, 2.0, duration=10.0, seed=4, dtype=np.float64)
    np.testing.assert_allclose(a.r, c.r, atol=1e-3)


def test_order_parameter_of_known_phases():
    r, psi = order_parameter(np.full(10, 0.3))
    assert r == pytest.approx(1.0) and psi == pytest.approx(0.3)
    r, _ = order_parameter(np.linspace(0, 2 * np.pi, 8, endpoint=False))
    assert r == pytest.approx(0.0, abs=1e-12)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="distribution"):
        natural_frequencies(10, "cauchy")
    with pytest.raises(ValueError, match="initial_phases"):
        simulate(np.zeros(5), 1.0, initial_phases=np.zeros(4))
    with pytest.raises(ValueError, match="at least two couplings"):
        measured_critical_coupling([1.0, 2.0], [0.0, 0.1])
