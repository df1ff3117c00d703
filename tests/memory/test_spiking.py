"""Poisson spike trains, the LIF neuron and the STDP competition."""

import numpy as np
import pytest

from engram.memory.spiking import LIFParams, poisson_spike_train, simulate_lif, stdp_competition


def test_poisson_rates():
    spikes = poisson_spike_train([5.0, 40.0], duration=100_000.0, dt=1.0, seed=0)
    assert spikes.shape == (100_000, 2) and spikes.dtype == bool
    np.testing.assert_allclose(spikes.sum(axis=0) / 100.0, [5.0, 40.0], rtol=0.05)


def test_lif_is_silent_below_threshold_and_fires_at_the_analytic_rate_above():
    p = LIFParams()
    drive = np.array([10.0, 20.0, 30.0])  # v_inf - v_rest in mV; threshold is 16 mV above rest
    _, spikes = simulate_lif(np.tile(drive, (20_000, 1)), dt=0.05, params=p)  # 1 s
    rates = spikes.sum(axis=0)
    assert rates[0] == 0
    gap = p.v_threshold - p.v_rest
    reset = p.v_reset - p.v_rest
    period = p.tau_m * np.log((drive[1:] - reset) / (drive[1:] - gap))
    np.testing.assert_allclose(rates[1:], 1000.0 / period, rtol=0.03)


def test_lif_refractory_period_caps_the_rate():
    _, spikes = simulate_lif(np.full(20_000, 1000.0), dt=0.05, params=LIFParams(refractory=5.0))
    assert 150 < spikes.sum() <= 200  # at most one spike per 5 ms


def test_stdp_competition_runs_and_keeps_weights_in_bounds():
    r = stdp_competition(n_inputs=50, duration=2000.0, n_snapshots=4, seed=0)
    assert r.weights.shape == (50,) and r.weight_history.shape == (4, 50)
    assert r.weights.min() >= 0 and r.weights.max() <= 1
    assert np.all(np.diff(r.snapshot_times) > 0) and (r.output_rate >= 0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="below one spike per step"):
        poisson_spike_train([2000.0], duration=10.0, dt=1.0)
    with pytest.raises(ValueError, match="duration must be > 0"):
        poisson_spike_train([2.0], duration=0.0)
