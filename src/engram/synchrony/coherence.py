"""Communication through coherence: what reaches a rhythmic receiver depends on phase.

Two sender populations fire in a gamma rhythm, each carrying its own slow signal in its rate;
a receiver population of LIF neurons has its own rhythm of excitability (e.g. from its local
inhibition) at the same frequency. The sender whose volleys arrive at the receiver's excitable
phase gets its signal through; the other, arriving in the inhibited phase, is gated out.
Sweeping the phase offset between sender A and the receiver (with B in anti-phase to A) measures
transfer against phase: the correlation of the receiver's rate with each sender's signal.

Reference:
    Fries (2005), "A mechanism for cognitive dynamics: neuronal communication through neuronal
    coherence", Trends Cogn Sci 9:474; Fries (2015), Neuron 88:220.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engram.validation import Seed, as_rng, check_positive


@dataclass
class CoherenceSettings:
    """Rhythm, senders and receiver (ms, Hz, mV)."""

    frequency: float = 40.0  # the shared gamma rhythm
    sender_rate: float = 20.0  # mean rate per sender synapse
    modulation: float = 0.9  # depth of the senders' gamma modulation
    signal_depth: float = 0.6  # depth of each sender's slow signal in its rate
    signal_tau: float = 20.0  # correlation time of the slow signals
    synapses: int = 100  # synapses per receiver neuron from each sender
    weight: float = 0.3  # mV per sender spike
    bias: float = 0.0  # receiver mean drive
    excitability: float = 20.0  # amplitude of the receiver's rhythmic drive
    tau_m: float = 10.0
    theta: float = 20.0
    v_reset: float = 10.0
    refractory: float = 2.0
    bin_ms: float = 25.0  # bins for the rate/signal correlation: one cycle of the rhythm


@dataclass
class CoherenceResult:
    """Transfer of each sender's signal to the receiver, per phase offset of sender A."""

    offsets: np.ndarray  # (n_offsets,) radians: sender A's phase lead over the receiver
    transfer_a: np.ndarray  # (n_offsets,) corr(receiver rate, signal A)
    transfer_b: np.ndarray  # (n_offsets,) corr(receiver rate, signal B); B leads by offset + pi
    receiver_rate: np.ndarray  # (n_offsets,) Hz
    example: dict[str, np.ndarray] = field(default_factory=dict)


def _slow_signal(rng: np.random.Generator, steps: int, dt: float, tau: float) -> np.ndarray:
    """Zero-mean, unit-variance Ornstein-Uhlenbeck noise with correlation time ``tau``."""
    a = np.exp(-dt / tau)
    noise = rng.normal(0.0, np.sqrt(1 - a * a), steps)
    x = np.empty(steps)
    x[0] = rng.normal()
    for k in range(1, steps):  # a first-order filter; steps are few (<= 10^5)
        x[k] = a * x[k - 1] + noise[k]
    return x


def _correlate(rate: np.ndarray, signal: np.ndarray, per_bin: int) -> np.ndarray:
    """Pearson correlation, per row of ``rate`` (n, T), with ``signal`` (T,), in bins."""
    usable = (signal.size // per_bin) * per_bin
    r = rate[:, :usable].reshape(rate.shape[0], -1, per_bin).mean(axis=2)
    s = signal[:usable].reshape(-1, per_bin).mean(axis=1)
    r = r - r.mean(axis=1, keepdims=True)
    s = s - s.mean()
    denom = np.sqrt((r * r).sum(axis=1) * (s * s).sum())
    return np.divide((r @ s), denom, out=np.zeros(len(r)), where=denom > 0)


def communication_through_coherence(
    offsets: np.ndarray | int = 12,
    duration: float = 4000.0,
    *,
    n_receivers: int = 100,
    dt: float = 0.1,
    settings: CoherenceSettings | None = None,
    seed: Seed = None,
) -> CoherenceResult:
    """Simulate a rhythmic receiver driven by two gamma-rhythmic senders, per phase offset.

    Math:
        sender X's rate per synapse: nu (1 + m cos(2 pi f t + phi_X)) (1 + d s_X(t))_+ with s_X
        an independent slow signal; phi_A = offset, phi_B = offset + pi.
        receiver: tau_m dV/dt = -V + bias + a cos(2 pi f t) + tau_m w (spikes of A and B),
        Poisson spike counts per step, V >= theta -> spike, reset, refractory.
        transfer_X = corr(receiver population rate, s_X) over bins of ``bin_ms``.
        Every offset runs at once as its own group of ``n_receivers`` neurons, with the same
        signals, so the offsets differ only in phase.

    Args:
        offsets: (n,) phase offsets in radians, or a count spread evenly over [0, 2 pi).
        duration: model time in ms.
        n_receivers: receiver neurons per offset.
        dt: step in ms.
        settings: `CoherenceSettings`.
        seed: randomness (signals and spikes).

    Returns:
        `CoherenceResult`.
    """
    c = settings or CoherenceSettings()
    check_positive(duration, "duration")
    check_positive(n_receivers, "n_receivers", integer=True)
    if np.ndim(offsets) == 0:
        check_positive(int(offsets), "offsets", integer=True)
        offsets = np.arange(int(offsets)) * 2 * np.pi / int(offsets)
    phi = np.asarray(offsets, np.float64)
    rng = as_rng(seed)
    steps = int(round(duration / dt))
    t = np.arange(steps) * dt
    omega = 2 * np.pi * c.frequency / 1000.0
    signals = [_slow_signal(rng, steps, dt, c.signal_tau) for _ in range(2)]
    gain = [np.clip(1 + c.signal_depth * s, 0, None) for s in signals]
    decay = np.exp(-dt / c.tau_m)
    hold_steps = int(round(c.refractory / dt))
    v = rng.uniform(0, c.theta, (phi.size, n_receivers))
    hold = np.zeros_like(v, dtype=np.int32)
    counts = np.zeros((phi.size, steps), np.float32)
    lam = c.synapses * c.sender_rate * dt / 1000.0
    for k in range(steps):
        rate_a = lam * (1 + c.modulation * np.cos(omega * t[k] + phi)) * gain[0][k]
        rate_b = lam * (1 + c.modulation * np.cos(omega * t[k] + phi + np.pi)) * gain[1][k]
        spikes = rng.poisson((rate_a + rate_b)[:, None], v.shape)
        drive = c.bias + c.excitability * np.cos(omega * t[k])
        v_new = v * decay + drive * (1 - decay) + c.weight * spikes
        v = np.where(hold <= 0, v_new, c.v_reset)
        hold -= 1
        fired = v >= c.theta
        v[fired] = c.v_reset
        hold[fired] = hold_steps
        counts[:, k] = fired.sum(axis=1)
    rate = counts / (n_receivers * dt / 1000.0)
    per_bin = max(1, int(round(c.bin_ms / dt)))
    return CoherenceResult(
        offsets=phi,
        transfer_a=_correlate(rate, signals[0], per_bin),
        transfer_b=_correlate(rate, signals[1], per_bin),
        receiver_rate=rate.mean(axis=1),
        example={"signal_a": signals[0], "signal_b": signals[1], "rate": rate, "dt": dt},
    )
