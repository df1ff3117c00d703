"""Poisson spike trains, the LIF neuron and its spike rule, the STDP competition, and the
deprecated `engram.memory.spiking` alias."""

import importlib
import sys

import numpy as np
import pytest

from engram.memory.stdp import stdp_competition
from engram.spiking.neurons import LIFParams, fire_and_reset, poisson_spike_train, simulate_lif


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


def test_fire_and_reset_holds_refractory_neurons_at_reset():
    v = np.array([0.0, 0.0, 5.0])
    hold = np.array([0, 2, 0])
    fired = fire_and_reset(v, np.array([25.0, 25.0, 12.0]), hold, 20.0, 10.0, hold_steps=3)
    assert fired.tolist() == [0]  # neuron 1 is refractory: its input is ignored
    assert v.tolist() == [10.0, 10.0, 12.0] and hold.tolist() == [3, 1, -1]


def test_memory_spiking_is_a_deprecated_alias_of_the_moved_names():
    import engram.memory.stdp as stdp
    import engram.spiking.neurons as neurons

    sys.modules.pop("engram.memory.spiking", None)
    with pytest.warns(DeprecationWarning, match="engram.spiking.neurons"):
        old = importlib.import_module("engram.memory.spiking")
    assert old.simulate_lif is neurons.simulate_lif and old.LIFParams is neurons.LIFParams
    assert old.poisson_spike_train is neurons.poisson_spike_train
    assert old.stdp_competition is stdp.stdp_competition
