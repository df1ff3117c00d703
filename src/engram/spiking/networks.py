"""Sparse networks of excitatory and inhibitory leaky integrate-and-fire neurons.

One vectorised, clock-driven simulator (`simulate_network`) serves two models:

- `brunel_network`: Brunel (2000), current-based delta synapses with one transmission delay,
  fixed in-degree C_E = eps N_E, C_I = eps N_I, inhibition g times excitation, external Poisson
  drive nu_ext in units of nu_thr = theta / (J C_E tau). Its regimes (synchronous regular,
  asynchronous irregular, synchronous irregular fast and slow) follow g and nu_ext.
- `ping_network`: pyramidal-interneuron gamma (Boergers & Kopell 2003): driven E cells excite I
  cells, whose inhibition, decaying with tau_syn_inh, silences the E cells until it wears off;
  the rhythm's period grows with the inhibitory decay.

Units: time in ms, voltage in mV (relative to rest), rates in Hz.

Connectivity is stored by source (CSR): a spike of neuron j adds its weight to the targets
``targets[indptr[j]:indptr[j + 1]]`` ``delay`` ms later, through a ring buffer, with one
``bincount`` per step for each synapse type. Cost per step: O(N) for the neurons plus O(spikes x
out-degree) for the synapses.

Reference:
    Brunel (2000), "Dynamics of sparsely connected networks of excitatory and inhibitory
    spiking neurons", J Comput Neurosci 8:183. Boergers & Kopell (2003), Neural Comput 15:509.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engram.spiking.neurons import fire_and_reset
from engram.validation import Seed, as_rng, check_positive


@dataclass
class Connectivity:
    """Synapses grouped by source neuron (CSR).

    indptr: (n + 1,) offsets; targets: (n_synapses,) target of each synapse, sorted by source.
    n_exc: neurons 0 .. n_exc - 1 are excitatory, the rest inhibitory.
    """

    indptr: np.ndarray
    targets: np.ndarray
    n: int
    n_exc: int

    @property
    def n_synapses(self) -> int:
        return int(self.targets.size)


def fixed_indegree(n_exc: int, n_inh: int, c_exc: int, c_inh: int, seed: Seed = None):
    """Random connectivity where every neuron receives exactly c_exc E and c_inh I synapses.

    Sources are drawn with replacement (a pair may be connected twice, as in Brunel's
    simulations of sparse networks: at eps = 0.1 about 5% of synapses are repeats); no
    self-connection is excluded either, which changes nothing at these sizes.
    """
    for value, name in ((n_exc, "n_exc"), (n_inh, "n_inh")):
        check_positive(value, name, integer=True)
    check_positive(c_exc, "c_exc", integer=True, strict=False)
    check_positive(c_inh, "c_inh", integer=True, strict=False)
    rng = as_rng(seed)
    n = n_exc + n_inh
    # Each of the n * c synapse slots of a block draws its source uniformly. The same
    # distribution, built already grouped by source (no sort of 10^7 synapses): each source's
    # count is multinomial, and the targets, each repeated c times, are dealt out shuffled.
    counts, targets = [], []
    for lo, hi, c in ((0, n_exc, c_exc), (n_exc, n, c_inh)):
        counts.append(rng.multinomial(n * c, np.full(hi - lo, 1.0 / (hi - lo))))
        targets.append(rng.permutation(np.repeat(np.arange(n, dtype=np.int32), c)))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
    return Connectivity(indptr.astype(np.int64), np.concatenate(targets), n, n_exc)


def random_connectivity(n_exc: int, n_inh: int, p: dict[str, float], seed: Seed = None):
    """Bernoulli connectivity: p["ee"], p["ei"], p["ie"], p["ii"] (source type, target type).

    Drawn one source block at a time as fixed in-degrees with binomial counts (the same
    distribution as independent coin flips, with repeats allowed).
    """
    rng = as_rng(seed)
    n = n_exc + n_inh
    blocks = {"e": (0, n_exc), "i": (n_exc, n)}
    src, tgt = [], []
    for key, prob in p.items():
        (s0, s1), (t0, t1) = blocks[key[0]], blocks[key[1]]
        counts = rng.binomial(s1 - s0, prob, t1 - t0)
        tgt.append(np.repeat(np.arange(t0, t1, dtype=np.int32), counts))
        src.append(rng.integers(s0, s1, counts.sum(), dtype=np.int32))
    sources, targets = np.concatenate(src), np.concatenate(tgt)
    order = np.argsort(sources, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(sources, minlength=n))])
    return Connectivity(indptr.astype(np.int64), targets[order], n, n_exc)


@dataclass
class NeuronParams:
    """LIF constants (Brunel 2000): tau_m, threshold theta, reset, refractory period (ms, mV)."""

    tau_m: float = 20.0
    theta: float = 20.0
    v_reset: float = 10.0
    refractory: float = 2.0


@dataclass
class SynapseParams:
    """Weights (mV of charge per spike), delay (ms) and synaptic decays (0 = delta synapses)."""

    w_exc: float = 0.1
    w_inh: float = -0.5
    delay: float = 1.5
    tau_syn_exc: float = 0.0
    tau_syn_inh: float = 0.0


@dataclass
class NetworkRun:
    """What `simulate_network` returns.

    spike_times (ms) and spike_neurons: every spike, in time order; rate: (steps,) population
    rate in Hz per step; voltages: (steps, n_recorded) of the neurons in ``recorded``.
    """

    spike_times: np.ndarray
    spike_neurons: np.ndarray
    rate: np.ndarray
    voltages: np.ndarray
    recorded: np.ndarray
    dt: float
    duration: float
    n: int
    n_exc: int
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def trains(self, neurons: Any = None) -> list[np.ndarray]:
        """Spike times of ``neurons`` (default all), one array each."""
        ids = np.arange(self.n) if neurons is None else np.asarray(neurons)
        order = np.argsort(self.spike_neurons, kind="stable")
        sorted_ids = self.spike_neurons[order]
        lo = np.searchsorted(sorted_ids, ids, "left")
        hi = np.searchsorted(sorted_ids, ids, "right")
        times = self.spike_times[order]
        return [times[a:b] for a, b in zip(lo, hi, strict=True)]

    def population_rate(self, bin_ms: float = 1.0, neurons: str = "all") -> np.ndarray:
        """Mean rate (Hz) per neuron in bins of ``bin_ms``, of "all", "exc" or "inh" neurons."""
        pick = {
            "all": np.ones(self.spike_neurons.size, bool),
            "exc": self.spike_neurons < self.n_exc,
            "inh": self.spike_neurons >= self.n_exc,
        }[neurons]
        count = {"all": self.n, "exc": self.n_exc, "inh": self.n - self.n_exc}[neurons]
        edges = np.arange(0.0, self.duration + 1e-9, bin_ms)
        hist = np.histogram(self.spike_times[pick], edges)[0]
        return hist / (count * bin_ms / 1000.0)


def _gather_targets(conn: Connectivity, sources: np.ndarray) -> np.ndarray:
    """Concatenated targets of ``sources`` without a Python loop (ranges from CSR offsets)."""
    starts = conn.indptr[sources]
    counts = conn.indptr[sources + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int32)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return conn.targets[offsets + np.arange(total)]


def _external(rng: np.random.Generator, lam: np.ndarray, uniform: bool, n: int) -> np.ndarray:
    """Poisson(lam_i) counts per neuron. With one rate for all, the total is Poisson(n lam) and
    each event lands on a uniformly chosen neuron: the same independent Poisson counts, drawn
    as a few integers instead of n Poisson variates."""
    if not uniform:
        return rng.poisson(lam).astype(np.float32)
    total = rng.poisson(lam[0] * n)
    return np.bincount(rng.integers(0, n, total), minlength=n).astype(np.float32)


def simulate_network(
    conn: Connectivity,
    duration: float,
    *,
    neuron: NeuronParams | None = None,
    synapse: SynapseParams | None = None,
    ext_rate: Any = 0.0,
    ext_weight: float = 0.1,
    bias: Any = 0.0,
    dt: float = 0.1,
    record: int = 100,
    v_init: tuple[float, float] = (0.0, 20.0),
    seed: Seed = None,
) -> NetworkRun:
    """Clock-driven simulation of current-based LIF neurons with delayed sparse synapses.

    Math (exact exponential integration of the leak over each step):
        V <- V e^{-dt/tau_m} + bias (1 - e^{-dt/tau_m}) + dt (s_E + s_I) + jumps
        delta synapses (tau_syn = 0): a spike arriving adds w to V directly (a jump);
        exponential synapses: it adds w / tau_syn to s, which decays with tau_syn (same charge);
        external drive: ext_weight x Poisson(ext_rate dt) jumps per neuron per step;
        V >= theta: spike, V <- v_reset, held for the refractory period (inputs ignored;
        `engram.spiking.neurons.fire_and_reset`).

    Args:
        conn: `Connectivity` (e.g. `fixed_indegree`).
        duration: model time in ms.
        neuron, synapse: `NeuronParams`, `SynapseParams`.
        ext_rate: total external Poisson rate per neuron in Hz (scalar or (n,)).
        ext_weight: mV per external spike.
        bias: constant drive in mV (the V it would settle to), scalar or (n,).
        dt: step in ms.
        record: voltages of this many neurons (evenly spread over E and I) are kept.
        v_init: initial V uniform in this range (mV).
        seed: randomness of the initial state and the external drive.

    Returns:
        `NetworkRun` (``wall_s`` holds the simulation's wall-clock time).
    """
    import time

    nrn, syn = neuron or NeuronParams(), synapse or SynapseParams()
    check_positive(duration, "duration")
    check_positive(dt, "dt")
    rng = as_rng(seed)
    n, n_exc = conn.n, conn.n_exc
    steps, delay = int(round(duration / dt)), max(1, int(round(syn.delay / dt)))
    decay = np.float32(np.exp(-dt / nrn.tau_m))
    drive = np.broadcast_to(np.asarray(bias, np.float32), (n,)) * (1 - decay)
    lam = np.broadcast_to(np.asarray(ext_rate, np.float64) * dt / 1000.0, (n,))
    uniform = bool(np.all(lam == lam[0]))
    syn_decay = [np.float32(np.exp(-dt / t)) if t > 0 else None for t in
                 (syn.tau_syn_exc, syn.tau_syn_inh)]  # fmt: skip
    weights = [
        np.float32(w / t if t > 0 else w)
        for w, t in ((syn.w_exc, syn.tau_syn_exc), (syn.w_inh, syn.tau_syn_inh))
    ]
    buffers = np.zeros((2, delay + 1, n), np.float32)
    current = np.zeros((2, n), np.float32)
    v = rng.uniform(*v_init, n).astype(np.float32)
    hold = np.zeros(n, np.int32)
    hold_steps = int(round(nrn.refractory / dt))
    recorded = np.unique(np.linspace(0, n - 1, min(record, n)).astype(int))
    voltages = np.empty((steps, recorded.size), np.float32)
    rate = np.empty(steps, np.float32)
    spike_steps, spike_ids = [], []
    start = time.perf_counter()
    for step in range(steps):
        slot = step % (delay + 1)
        jumps = _external(rng, lam, uniform, n) * np.float32(ext_weight)
        for k in range(2):
            if syn_decay[k] is None:
                jumps += buffers[k, slot]
            else:
                current[k] = current[k] * syn_decay[k] + buffers[k, slot]
        buffers[:, slot] = 0.0
        v_free = v * decay + drive + jumps + np.float32(dt) * current.sum(axis=0)
        fired = fire_and_reset(v, v_free, hold, nrn.theta, nrn.v_reset, hold_steps)
        voltages[step] = v[recorded]
        rate[step] = fired.size / (n * dt / 1000.0)
        if fired.size:
            spike_steps.append(np.full(fired.size, step, np.int32))
            spike_ids.append(fired.astype(np.int32))
            arrive = (step + delay) % (delay + 1)
            split = np.searchsorted(fired, n_exc)
            for k, group in enumerate((fired[:split], fired[split:])):
                if group.size:
                    hits = np.bincount(_gather_targets(conn, group), minlength=n)
                    buffers[k, arrive] += weights[k] * hits.astype(np.float32)
    wall = time.perf_counter() - start
    times = np.concatenate(spike_steps) * dt if spike_steps else np.empty(0)
    ids = np.concatenate(spike_ids) if spike_ids else np.empty(0, np.int32)
    return NetworkRun(times, ids, rate, voltages, recorded, dt, duration, n, n_exc, wall)


@dataclass
class BrunelParams:
    """Brunel (2000) model A, scaled by ``n``: N_E = 0.8 n, N_I = 0.2 n, C = eps N."""

    n: int = 10_000
    epsilon: float = 0.1
    j: float = 0.1
    g: float = 5.0
    nu_ext_ratio: float = 2.0
    delay: float = 1.5

    @property
    def n_exc(self) -> int:
        return int(round(0.8 * self.n))

    @property
    def c_exc(self) -> int:
        return int(round(self.epsilon * self.n_exc))

    @property
    def nu_thr(self) -> float:
        """External rate (Hz, per external synapse) that brings the mean input to threshold."""
        p = NeuronParams()
        return p.theta / (self.j * self.c_exc * p.tau_m) * 1000.0


def brunel_network(
    params: BrunelParams, duration: float = 1000.0, *, dt: float = 0.1, record: int = 100,
    seed: Seed = None, conn: Connectivity | None = None,
) -> NetworkRun:  # fmt: skip
    """Simulate Brunel's sparse E/I network at (g, nu_ext / nu_thr).

    Every neuron receives C_E = eps N_E excitatory synapses of J, C_I = eps N_I inhibitory
    synapses of -g J (all with one delay) and C_E external Poisson synapses at nu_ext each.

    Example:
        >>> run = brunel_network(BrunelParams(n=2000, g=5.0, nu_ext_ratio=2.0), 200.0, seed=0)
        >>> 5 < run.population_rate().mean() < 100                    # asynchronous irregular
        True
    """
    p = params
    n_inh = p.n - p.n_exc
    rng = as_rng(seed)
    if conn is None:
        conn = fixed_indegree(p.n_exc, n_inh, p.c_exc, int(round(p.epsilon * n_inh)), rng)
    synapse = SynapseParams(w_exc=p.j, w_inh=-p.g * p.j, delay=p.delay)
    ext = p.nu_ext_ratio * p.nu_thr * p.c_exc
    return simulate_network(
        conn, duration, synapse=synapse, ext_rate=ext, ext_weight=p.j, dt=dt, record=record,
        seed=rng,
    )  # fmt: skip


def ping_network(
    tau_syn_inh: float = 10.0, duration: float = 500.0, *, n_exc: int = 400, n_inh: int = 100,
    drive: float = 30.0, inh_peak: float = 0.05, dt: float = 0.1, seed: Seed = None,
) -> NetworkRun:  # fmt: skip
    """Pyramidal-interneuron gamma: E cells driven above threshold, I cells driven only by E.

    Math:
        E: bias ``drive`` mV (alone they would fire at 1 / (tau_m ln((drive - v_reset) /
        (drive - theta)))), plus weak Poisson noise; E -> I (p 0.5, tau_syn 2 ms) fires the I
        cells within a few ms of an E volley; I -> E and I -> I (p 0.5) inhibit with decay
        ``tau_syn_inh`` and a peak current of ``inh_peak`` mV/ms per spike (as a conductance
        that opens fully and closes with tau_syn_inh: the charge grows with the decay). The
        next E volley waits until the inhibition S e^{-t / tau_syn_inh} (S = 0.5 n_inh
        inh_peak) has fallen below the drive's excess over threshold, so in the quasi-static
        limit the period is T ~ tau_syn_inh ln(tau_m S / (drive - theta)): proportional to the
        inhibitory decay.

    Reference:
        Boergers & Kopell (2003), Neural Comput 15:509; Whittington et al. (2000),
        Int J Psychophysiol 38:315.
    """
    check_positive(tau_syn_inh, "tau_syn_inh")
    rng = as_rng(seed)
    p = {"ei": 0.5, "ie": 0.5, "ii": 0.5}
    conn = random_connectivity(n_exc, n_inh, p, rng)
    synapse = SynapseParams(
        w_exc=0.3,
        w_inh=-inh_peak * tau_syn_inh,
        delay=0.5,
        tau_syn_exc=2.0,
        tau_syn_inh=tau_syn_inh,
    )
    bias = np.concatenate([np.full(n_exc, drive), np.zeros(n_inh)])
    ext = np.concatenate([np.full(n_exc, 2000.0), np.zeros(n_inh)])
    run = simulate_network(
        conn, duration, synapse=synapse, bias=bias, ext_rate=ext, ext_weight=0.5, dt=dt,
        seed=rng, v_init=(0.0, 20.0),
    )  # fmt: skip
    run.extra["tau_syn_inh"] = tau_syn_inh
    return run


REGIMES = ("SR", "AI", "SI fast", "SI slow", "AR", "quiescent")


@dataclass
class RegimeStats:
    """Measured synchrony (of the population rate, and Golomb's chi), CV of ISIs, rate, rhythm."""

    rate: float
    cv: float
    synchrony: float
    chi: float
    frequency: float
    regime: str


def regime_statistics(
    run: NetworkRun, transient: float = 200.0, *, sync: float = 0.3, cv_irregular: float = 0.2,
    fast_hz: float = 80.0, sample: int = 1000,
) -> RegimeStats:  # fmt: skip
    """Measure a run and name its regime (after Brunel 2000, fig. 8).

    Math:
        synchronous  <=> the population rate's excess fluctuation >= ``sync``
                         (`measures.rate_synchrony`, bins of 0.5 ms); Golomb's chi on the
                         recorded voltages is reported beside it;
        irregular    <=> mean CV of ISIs (neurons with >= 3 spikes) >= ``cv_irregular``;
        SR: synchronous and regular; AI: asynchronous and irregular; SI fast / slow:
        synchronous and irregular with the population rhythm (peak of the rate's spectrum)
        above / below ``fast_hz``; AR: asynchronous and regular; quiescent: < 0.1 Hz.
        The thresholds are choices, shown with every phase diagram they draw.
    """
    from engram.spiking.measures import cv_isi, population_synchrony, rate_synchrony, spectral_peak

    ids = np.linspace(0, run.n - 1, min(sample, run.n)).astype(int)
    trains = [t[t >= transient] for t in run.trains(ids)]
    cvs = cv_isi(trains)
    cv = float(np.nanmean(cvs)) if np.isfinite(cvs).any() else 0.0
    rate_bins = run.population_rate(0.5)[int(transient / 0.5) :]
    rate = float(rate_bins.mean())
    chi = population_synchrony(run.voltages[int(transient / run.dt) :])
    chi = 0.0 if not np.isfinite(chi) else chi
    freq = spectral_peak(rate_bins, 0.5) if rate > 0 else 0.0
    synchrony = rate_synchrony(rate_bins, run.n, 0.5) if rate > 0 else 0.0
    if rate < 0.1:
        regime = "quiescent"
    elif synchrony >= sync:
        regime = "SR" if cv < cv_irregular else ("SI fast" if freq >= fast_hz else "SI slow")
    else:
        regime = "AI" if cv >= cv_irregular else "AR"
    return RegimeStats(rate, cv, synchrony, chi, freq, regime)
