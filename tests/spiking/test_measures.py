"""Each synchrony measure on trains with a known answer: identical, jittered, independent."""

import numpy as np
import pytest

from engram.spiking.measures import (
    binned_counts,
    cv_isi,
    phase_locking,
    population_synchrony,
    raster_to_times,
    rhythm_phase,
    spike_count_correlation,
    spike_phase_order,
    spike_synchronization,
)


def poisson(rate_hz, duration, rng):
    n = rng.poisson(rate_hz * duration / 1000.0)
    return np.sort(rng.uniform(0, duration, n))


def test_raster_to_times_round_trip():
    raster = np.zeros((10, 3), bool)
    raster[[1, 4], 0] = True
    raster[7, 2] = True
    times = raster_to_times(raster, dt=0.5)
    assert [t.tolist() for t in times] == [[0.5, 2.0], [], [3.5]]


def test_cv_isi_is_zero_for_a_clock_and_one_for_poisson():
    rng = np.random.default_rng(0)
    cv = cv_isi([np.arange(0, 1000.0, 10.0), poisson(50, 200_000, rng), [1.0]])
    assert cv[0] == pytest.approx(0, abs=1e-12)
    assert cv[1] == pytest.approx(1.0, abs=0.03)  # 10,000 intervals: std of CV ~ 0.01
    assert np.isnan(cv[2])


def test_phase_locking_identical_jittered_and_independent():
    rng = np.random.default_rng(1)
    f, dt = 40.0, 0.1  # Hz, ms
    phase = rhythm_phase(np.cos(2 * np.pi * f * np.arange(0, 10_000, dt) / 1000), dt, (30, 50))
    cycles = np.arange(5, 395) * 25.0  # one spike at each trough-free peak (phase 0)
    r, mean = phase_locking(cycles, phase, dt)
    assert r == pytest.approx(1.0, abs=1e-3) and mean == pytest.approx(0.0, abs=0.02)
    # Gaussian jitter s: R = exp(-(2 pi f s)^2 / 2); 20,000 spikes give std ~ 1/sqrt(2n) = 0.005
    s = 2.0
    jittered = np.repeat(cycles, 52) + rng.normal(0, s, cycles.size * 52)
    expected = np.exp(-((2 * np.pi * f / 1000 * s) ** 2) / 2)
    assert phase_locking(jittered, lambda t: 2 * np.pi * f * t / 1000, dt)[0] == pytest.approx(
        expected, abs=0.02
    )
    independent = poisson(200, 10_000, rng)  # ~2000 spikes: R ~ sqrt(pi / 4n) ~ 0.02
    assert phase_locking(independent, phase, dt)[0] < 3 / np.sqrt(independent.size)


def test_spike_phase_order_identical_offset_and_independent():
    rng = np.random.default_rng(2)
    period, n = 25.0, 2000
    base = np.arange(0, 2000.0, period)
    times = np.arange(200.0, 1800.0, 0.5)
    assert np.nanmean(spike_phase_order([base] * 5, times)) == pytest.approx(1.0)
    s = 3.0  # each neuron shifted by its own N(0, s^2): r = exp(-(2 pi s / P)^2 / 2)
    shifted = [base + d for d in rng.normal(0, s, n)]
    expected = np.exp(-((2 * np.pi * s / period) ** 2) / 2)
    # the sample of n offsets gives r a standard deviation ~ 1/sqrt(2n) ~ 0.016
    assert np.nanmean(spike_phase_order(shifted, times)) == pytest.approx(expected, abs=0.05)
    independent = [poisson(40, 2000.0, rng) for _ in range(n)]
    r = np.nanmean(spike_phase_order(independent, times))
    assert r == pytest.approx(np.sqrt(np.pi / (4 * n)), rel=0.2)


def test_spike_count_correlation_identical_jittered_independent():
    rng = np.random.default_rng(3)
    duration, w, s = 200_000.0, 10.0, 4.0
    a = poisson(30, duration, rng)
    assert spike_count_correlation([a, a], w, duration) == pytest.approx(1.0)
    b = np.clip(a + rng.normal(0, s, a.size), 0, duration - 1e-9)
    e = np.linspace(-8 * s, 8 * s, 20001)
    density = np.exp(-0.5 * (e / s) ** 2) / (s * np.sqrt(2 * np.pi))
    expected = np.sum(np.maximum(0, 1 - np.abs(e) / w) * density) * (e[1] - e[0])
    # 20,000 bins: the estimate's standard error is ~ 1/sqrt(20000) = 0.007
    assert spike_count_correlation([a, b], w, duration) == pytest.approx(expected, abs=0.025)
    c = poisson(30, duration, rng)
    assert abs(spike_count_correlation([a, c], w, duration)) < 4 / np.sqrt(duration / w)


def _spike_sync_by_definition(trains):
    """The literal definition, one spike at a time (a reference for the vectorised one)."""
    hits = total = 0
    for ia, a in enumerate(trains):
        for ib, b in enumerate(trains):
            if ia == ib:
                continue
            for i, t in enumerate(a):
                total += 1
                if len(b) == 0:
                    continue
                j = int(np.argmin(np.abs(b - t)))
                gaps = [
                    a[i + 1] - t if i + 1 < len(a) else np.inf,
                    t - a[i - 1] if i > 0 else np.inf,
                    b[j + 1] - b[j] if j + 1 < len(b) else np.inf,
                    b[j] - b[j - 1] if j > 0 else np.inf,
                ]
                hits += abs(t - b[j]) < min(gaps) / 2
    return hits / total


def test_spike_synchronization_identical_jittered_independent_and_definition():
    rng = np.random.default_rng(4)
    period = 20.0
    base = np.arange(10.0, 5000.0, period)
    assert spike_synchronization([base, base, base]) == 1.0
    # jitter bounded by 0.2 P: every gap >= 0.6 P, every window >= 0.3 P > offset -> all coincide
    jittered = base + rng.uniform(-0.2, 0.2, base.size) * period
    assert spike_synchronization([base, jittered]) == 1.0
    assert spike_synchronization([base, np.array([])]) == 0.0
    independent = [poisson(50, 5000.0, rng) for _ in range(3)]
    value = spike_synchronization(independent)
    assert value == pytest.approx(_spike_sync_by_definition(independent), abs=1e-12)
    assert value < 0.8  # far from locked
    assert spike_synchronization([base, jittered, independent[0]]) < 1.0


def test_population_synchrony_chi():
    rng = np.random.default_rng(5)
    common = rng.normal(size=(5000, 1))
    assert population_synchrony(np.repeat(common, 50, axis=1)) == pytest.approx(1.0)
    chi = population_synchrony(rng.normal(size=(5000, 100)))
    assert chi == pytest.approx(0.1, abs=0.02)  # independent: chi ~ 1 / sqrt(N)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="raster"):
        raster_to_times(np.zeros(5, bool), 1.0)
    with pytest.raises(ValueError, match="band"):
        rhythm_phase(np.zeros(10), 1.0, (50, 30))
    with pytest.raises(ValueError, match="two spike trains"):
        spike_synchronization([np.arange(3.0)])
    with pytest.raises(ValueError, match="empty"):
        phase_locking([], np.zeros(10), 1.0)
    assert binned_counts([np.array([0.5, 1.5, 1.6])], 1.0, 2.0).tolist() == [[1.0, 2.0]]
