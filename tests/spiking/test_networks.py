"""Sparse E/I LIF networks: connectivity, delays, synapses, the input-driven rate, PING."""

import math

import numpy as np
import pytest

from engram.spiking.measures import rate_synchrony, spectral_peak
from engram.spiking.networks import (
    BrunelParams,
    Connectivity,
    NeuronParams,
    SynapseParams,
    brunel_network,
    fixed_indegree,
    ping_network,
    random_connectivity,
    regime_statistics,
    simulate_network,
)


def test_fixed_indegree_gives_every_neuron_exactly_c_inputs_of_each_kind():
    conn = fixed_indegree(80, 20, 8, 2, seed=0)
    sources = np.repeat(np.arange(100), np.diff(conn.indptr))
    from_exc = np.bincount(conn.targets[sources < 80], minlength=100)
    from_inh = np.bincount(conn.targets[sources >= 80], minlength=100)
    assert (from_exc == 8).all() and (from_inh == 2).all()
    out = np.diff(conn.indptr)
    assert out[:80].mean() == pytest.approx(100 * 8 / 80) and out[80:].mean() == 10


def test_random_connectivity_probabilities():
    conn = random_connectivity(400, 100, {"ei": 0.5, "ie": 0.2}, seed=0)
    sources = np.repeat(np.arange(500), np.diff(conn.indptr))
    ei = np.mean((sources < 400) & (conn.targets >= 400)) * conn.n_synapses / (400 * 100)
    ie = np.mean((sources >= 400) & (conn.targets < 400)) * conn.n_synapses / (400 * 100)
    assert ei == pytest.approx(0.5, abs=0.01) and ie == pytest.approx(0.2, abs=0.01)
    assert not ((sources < 400) & (conn.targets < 400)).any()


def _pair(w_exc: float, tau_syn: float = 0.0):
    """Neuron 0 (E) -> neuron 1 (I); neuron 0 driven to fire, neuron 1 only listens."""
    conn = Connectivity(np.array([0, 1, 1]), np.array([1], np.int32), 2, 1)
    syn = SynapseParams(w_exc=w_exc, delay=1.5, tau_syn_exc=tau_syn)
    nrn = NeuronParams(refractory=50.0)
    return simulate_network(conn, 100.0, synapse=syn, neuron=nrn, bias=np.array([25.0, 0.0]),
                            v_init=(0.0, 0.0), record=2, dt=0.1, seed=0)  # fmt: skip


def test_a_spike_arrives_after_the_delay_with_its_weight():
    run = _pair(2.0)
    t_spike = run.spike_times[0]
    v1 = run.voltages[:, 1]
    jump = int(np.flatnonzero(v1 > 0)[0])
    assert jump * run.dt == pytest.approx(t_spike + 1.5)
    assert v1[jump] == pytest.approx(2.0, rel=1e-5)


def test_exponential_synapse_delivers_the_same_charge_as_a_delta():
    # without leak the membrane integrates the charge: compare after the current has decayed
    delta, expo = _pair(2.0), _pair(2.0, tau_syn=5.0)
    k = int((delta.spike_times[0] + 1.5 + 20.0) / 0.1)
    tau_m = 20.0
    # the delta jump decays with tau_m from arrival; the filtered one is the delta convolved
    # with e^{-t/5}/5: at time T after arrival, v = 2 (e^{-T/tau_m} - e^{-T/5}) tau_m/(tau_m-5)
    t_after = k * 0.1 - (delta.spike_times[0] + 1.5)
    assert delta.voltages[k, 1] == pytest.approx(2.0 * math.exp(-t_after / tau_m), rel=0.02)
    expected = 2.0 * (math.exp(-t_after / tau_m) - math.exp(-t_after / 5)) * tau_m / (tau_m - 5)
    assert expo.voltages[k, 1] == pytest.approx(expected, rel=0.02)


def _siegert(mu: float, sigma: float, p: NeuronParams) -> float:
    """Rate (Hz) of a LIF neuron with white-noise input (Brunel 2000, eq. 21)."""
    from scipy.special import erfcx

    u = np.linspace((p.v_reset - mu) / sigma, (p.theta - mu) / sigma, 20001)
    # e^{u^2}(1 + erf u) = erfcx(-u), stable for negative u
    integral = np.trapezoid(erfcx(-u), u)
    return 1000.0 / (p.refractory + p.tau_m * math.sqrt(math.pi) * integral)


def test_unconnected_neurons_fire_at_the_diffusion_rate_of_their_poisson_input():
    pytest.importorskip("scipy")
    p = BrunelParams(n=10_000, j=0.1, nu_ext_ratio=1.0)  # its C_E = 800 external synapses
    conn = Connectivity(np.zeros(501, np.int64), np.empty(0, np.int32), 500, 400)
    ext = p.nu_ext_ratio * p.nu_thr * p.c_exc
    run = simulate_network(conn, 2200.0, ext_rate=ext, ext_weight=p.j, seed=1)
    measured = run.spike_times[run.spike_times > 200].size / 500 / 2.0
    nrn = NeuronParams()
    mu = p.c_exc * p.j * p.nu_ext_ratio * p.nu_thr / 1000 * nrn.tau_m  # = theta at nu_thr
    sigma = math.sqrt(p.j * mu)
    # diffusion approximation, J = 0.1 mV << theta - V_r = 10 mV; ~15,000 spikes: 1% noise
    assert measured == pytest.approx(_siegert(mu, sigma, nrn), rel=0.06)


def test_brunel_network_is_reproducible_and_asynchronous_at_low_coupling():
    p = BrunelParams(n=1000, g=5.0, nu_ext_ratio=2.0, j=0.02)
    a, b = brunel_network(p, 200.0, seed=3), brunel_network(p, 200.0, seed=3)
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    stats = regime_statistics(a, 100.0)
    assert stats.rate > 1 and stats.synchrony < 0.3  # weak synapses: nearly independent


def test_ping_frequency_falls_as_inhibition_decays_more_slowly():
    freqs = [spectral_peak(ping_network(tau, 400.0, seed=0).population_rate(0.5, "exc")[200:],
                           0.5) for tau in (5.0, 15.0)]  # fmt: skip
    assert freqs[0] > 1.5 * freqs[1]


def test_rate_synchrony_is_zero_for_poisson_and_large_for_volleys():
    rng = np.random.default_rng(0)
    n, bin_ms = 1000, 0.5
    poisson = rng.poisson(20.0 * n * bin_ms / 1000, 20000) / (n * bin_ms / 1000)
    assert rate_synchrony(poisson, n, bin_ms) < 0.05
    t = np.arange(20000) * bin_ms
    wave = 20.0 * (1 + 0.8 * np.sin(2 * np.pi * 40 * t / 1000))
    rate = rng.poisson(wave * n * bin_ms / 1000) / (n * bin_ms / 1000)
    assert rate_synchrony(rate, n, bin_ms) == pytest.approx(0.8 / math.sqrt(2), abs=0.03)
