"""Synchrony and irregularity of spike trains.

A spike train is a 1-D array of spike times in ms; a population is a list of them (see
`raster_to_times` for boolean rasters). Each measure has a known answer on identical trains,
on trains jittered by a known amount and on independent Poisson trains (tests/spiking/).

Reference:
    Vector strength: Goldberg & Brown (1969). Spike-phase order parameter: Pikovsky, Rosenblum &
    Kurths (2001), Synchronization, ch. 3. Golomb's chi: Golomb & Rinzel (1993); Golomb (2007),
    Scholarpedia 2:1347. SPIKE-synchronization: Kreuz, Mulansky & Bozanic (2015),
    J Neurophysiol 113:3432.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engram.validation import check_array, check_positive

SpikeTrains = Sequence[np.ndarray]


def raster_to_times(spikes: Any, dt: float) -> list[np.ndarray]:
    """(T, n) boolean raster -> n arrays of spike times in ms (step k at time k * dt)."""
    s = np.asarray(spikes)
    if s.ndim != 2:
        raise ValueError(f"spikes must be a (time, neurons) raster. Got shape {s.shape} instead.")
    steps, neurons = np.nonzero(s)
    order = np.argsort(neurons, kind="stable")
    split = np.searchsorted(neurons[order], np.arange(1, s.shape[1]))
    return [t * dt for t in np.split(steps[order].astype(np.float64), split)]


def _trains(trains: SpikeTrains, name: str = "trains") -> list[np.ndarray]:
    out = [np.sort(np.asarray(t, np.float64).ravel()) for t in trains]
    if not out:
        raise ValueError(f"{name} must hold at least one spike train. Got none.")
    return out


def cv_isi(trains: SpikeTrains, min_spikes: int = 3) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals, per train (NaN with too few).

    Math: CV = std(ISI) / mean(ISI): 0 for a clock, 1 for a Poisson process.
    """
    cv = np.full(len(trains), np.nan)
    for i, t in enumerate(_trains(trains)):
        if t.size >= min_spikes:
            isi = np.diff(t)
            cv[i] = isi.std() / isi.mean() if isi.mean() > 0 else np.nan
    return cv


def phase_locking(spike_times: Any, phase: Any, dt: float) -> tuple[float, float]:
    """Locking of spikes to a rhythm: |mean e^{i phi}| of the rhythm's phase at each spike.

    Math:
        phi_k = phase(t_k) (the rhythm's phase sampled at spike k);
        R = |(1/n) sum_k e^{i phi_k}|: 1 when every spike falls at one phase, ~sqrt(pi/(4n))
        for spikes independent of the rhythm; Gaussian jitter of std s around one phase of a
        rhythm of frequency f gives R = exp(-(2 pi f s)^2 / 2).

    Args:
        spike_times: spike times in ms (one train, or several concatenated).
        phase: (T,) the rhythm's phase in radians at times k * dt (e.g. from `rhythm_phase`),
            or a callable of time in ms.
        dt: step of ``phase`` in ms.

    Returns:
        (R, mean phase).
    """
    t = np.asarray(spike_times, np.float64).ravel()
    if t.size == 0:
        raise ValueError("phase_locking needs at least one spike. Got an empty train.")
    if callable(phase):
        phi = np.asarray(phase(t), np.float64)
    else:
        p = check_array(phase, "phase", ndim=1, dtype=np.float64)
        idx = np.clip(np.round(t / dt).astype(int), 0, p.size - 1)
        phi = p[idx]
    z = np.exp(1j * phi).mean()
    return float(np.abs(z)), float(np.angle(z))


def rhythm_phase(signal: Any, dt: float, band: tuple[float, float]) -> np.ndarray:
    """Phase of a signal's rhythm in a frequency band (FFT band-pass + analytic signal).

    Math:
        X = FFT(x - mean x); keep positive frequencies in ``band`` (doubled), zero the rest;
        phase = angle(IFFT(X)). The zero-phase (non-causal) filter has no delay.

    Args:
        signal: (T,) e.g. a population rate.
        dt: step in ms.
        band: (low, high) in Hz.
    """
    x = check_array(signal, "signal", ndim=1, dtype=np.float64)
    lo, hi = band
    if not 0 <= lo < hi:
        raise ValueError(f"band must be (low, high) Hz with 0 <= low < high. Got {band!r}.")
    spectrum = np.fft.fft(x - x.mean())
    f = np.fft.fftfreq(x.size, dt / 1000.0)
    keep = (f >= lo) & (f <= hi) & (f > 0)
    return np.angle(np.fft.ifft(np.where(keep, 2 * spectrum, 0)))


def spike_phase_order(trains: SpikeTrains, times: Any) -> np.ndarray:
    """Kuramoto order parameter of the neurons' spike phases, r(t).

    Math:
        Each neuron's phase rises by 2 pi between consecutive spikes:
        phi_k(t) = 2 pi (t - t_m) / (t_{m+1} - t_m) for t_m <= t < t_{m+1};
        r(t) = |(1/N) sum_k e^{i phi_k(t)}|, over the neurons whose phase is defined at t.
        Identical trains give 1; independent trains ~sqrt(pi / (4N)); trains shifted by
        independent Gaussian offsets of std s on a common period P give exp(-(2 pi s / P)^2 / 2).

    Args:
        trains: spike times in ms, one array per neuron.
        times: (T,) times in ms at which to evaluate r.

    Returns:
        (T,) r(t); NaN where fewer than two neurons have a defined phase.
    """
    t = np.asarray(times, np.float64).ravel()
    total = np.zeros(t.size, complex)
    count = np.zeros(t.size)
    for s in _trains(trains):
        if s.size < 2:
            continue
        m = np.searchsorted(s, t, side="right") - 1
        ok = (m >= 0) & (m < s.size - 1)
        mm = m[ok]
        phi = 2 * np.pi * (t[ok] - s[mm]) / (s[mm + 1] - s[mm])
        total[ok] += np.exp(1j * phi)
        count[ok] += 1
    r = np.full(t.size, np.nan)
    enough = count >= 2
    r[enough] = np.abs(total[enough]) / count[enough]
    return r


def binned_counts(trains: SpikeTrains, bin_ms: float, duration: float) -> np.ndarray:
    """(n_trains, n_bins) spike counts in bins of ``bin_ms`` over [0, duration)."""
    check_positive(bin_ms, "bin_ms")
    check_positive(duration, "duration")
    edges = np.arange(0.0, duration + 1e-9, bin_ms)
    return np.stack([np.histogram(s, edges)[0] for s in _trains(trains)]).astype(np.float64)


def spike_count_correlation(trains: SpikeTrains, bin_ms: float, duration: float) -> float:
    """Mean pairwise Pearson correlation of binned spike counts (silent trains left out).

    Math:
        rho_ab = cov(n_a, n_b) / (std n_a std n_b), averaged over pairs a < b. A Poisson train
        and a copy with every spike jittered by e ~ N(0, s^2) give rho = E[max(0, 1 - |e| / w)]
        for bins of width w: the chance that a spike stays in its bin, uniform within it.
    """
    counts = binned_counts(trains, bin_ms, duration)
    counts = counts[counts.std(axis=1) > 0]
    if len(counts) < 2:
        raise ValueError("spike_count_correlation needs two trains that are not silent or flat.")
    c = np.corrcoef(counts)
    return float(c[np.triu_indices(len(c), 1)].mean())


def _coincidences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each spike of ``a``: 1 if ``b`` has a spike within the adaptive window, else 0."""
    if b.size == 0:
        return np.zeros(a.size)
    inf = np.array([np.inf])
    gaps_a = np.minimum(np.diff(a, prepend=-inf), np.diff(a, append=inf))
    gaps_b = np.minimum(np.diff(b, prepend=-inf), np.diff(b, append=inf))
    j = np.searchsorted(b, a)
    left, right = np.clip(j - 1, 0, b.size - 1), np.clip(j, 0, b.size - 1)
    nearest = np.where(np.abs(a - b[left]) <= np.abs(b[right] - a), left, right)
    tau = 0.5 * np.minimum(gaps_a, gaps_b[nearest])
    return (np.abs(a - b[nearest]) < tau).astype(np.float64)


def spike_synchronization(trains: SpikeTrains) -> float:
    """SPIKE-synchronization: the fraction of spikes that have a coincident partner.

    Math:
        For spike t_i of train a and the nearest spike t_j of train b, the window is
        tau_ij = min(t_{i+1} - t_i, t_i - t_{i-1}, t_{j+1} - t_j, t_j - t_{j-1}) / 2 (a missing
        neighbour counts as infinitely far); C_i = 1 if |t_i - t_j| < tau_ij. The value is the
        mean of C over every spike of every ordered pair (a, b), a != b: 1 for identical trains,
        0 when no spike has a partner. The window adapts to the local rate: no bin width.

    Returns:
        a number in [0, 1] (NaN when no train has a spike).
    """
    ts = _trains(trains)
    if len(ts) < 2:
        raise ValueError("spike_synchronization needs at least two spike trains.")
    hits = total = 0.0
    for a_i, a in enumerate(ts):
        for b_i, b in enumerate(ts):
            if a_i != b_i and a.size:
                hits += _coincidences(a, b).sum()
                total += a.size
    return hits / total if total else float("nan")


def population_synchrony(voltages: Any) -> float:
    """Golomb's chi: how much of the neurons' voltage variance is shared.

    Math:
        chi^2 = var_t(mean_i V_i(t)) / mean_i var_t(V_i(t)): 1 for identical traces, ~1/N for
        independent ones.

    Args:
        voltages: (T, N) membrane potentials (or any per-neuron signal, e.g. filtered spikes).
    """
    v = check_array(voltages, "voltages", ndim=2, dtype=np.float64)
    individual = v.var(axis=0).mean()
    if individual == 0:
        return float("nan")
    return float(np.sqrt(v.mean(axis=1).var() / individual))


def spectral_peak(signal: Any, dt: float, min_hz: float = 5.0) -> float:
    """Frequency (Hz) of the largest peak of the signal's power spectrum above ``min_hz``.

    Args:
        signal: (T,) e.g. a population rate in bins of ``dt`` ms.
    """
    x = check_array(signal, "signal", ndim=1, dtype=np.float64)
    power = np.abs(np.fft.rfft(x - x.mean())) ** 2
    f = np.fft.rfftfreq(x.size, dt / 1000.0)
    keep = f >= min_hz
    if not keep.any():
        raise ValueError(f"signal is too short to resolve {min_hz} Hz; record longer.")
    return float(f[keep][np.argmax(power[keep])])


def rate_synchrony(rate: Any, n: int, bin_ms: float) -> float:
    """Fluctuation of a population rate beyond what independent neurons would give.

    Math:
        With A_k the population rate (Hz per neuron) in bin k, independent Poisson neurons give
        var(A) = mean(A) / (n bin) (in Hz^2, bin in s): their sum is Poisson. The index is
        sqrt(max(0, var(A) - mean(A) / (n bin))) / mean(A): 0 for an asynchronous population
        of any size, about the modulation depth / sqrt(2) for a population whose rate
        oscillates, and larger for volleys that leave silence between them.

    Args:
        rate: (T,) population rate in Hz per neuron, in bins of ``bin_ms``.
        n: number of neurons in the population.
        bin_ms: bin width in ms.
    """
    a = check_array(rate, "rate", ndim=1, dtype=np.float64)
    check_positive(n, "n", integer=True)
    mean = a.mean()
    if mean <= 0:
        return 0.0
    excess = a.var() - mean / (n * bin_ms / 1000.0)
    return float(np.sqrt(max(0.0, excess)) / mean)
