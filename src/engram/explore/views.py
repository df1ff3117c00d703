"""What the explorer page shows, computed by engram's API and returned as JSON-ready dicts.

Every function checks its settings at the boundary (a `ValueError` naming the setting and the
fix becomes an HTTP 400 with that message) and is deterministic given its ``seed``.

Example:
    >>> digits = digit_patterns()["patterns"]
    >>> steps = hopfield_recall(digits[:3], damage(digits[1], 0.2, seed=0)["cue"])["steps"]
    >>> energies = [step["energy"] for step in steps]
    >>> energies == sorted(energies, reverse=True)
    True
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from engram.data import load_digits, make_gaussian_clusters, make_moons, make_spirals, xor
from engram.memory import CapacityWarning, Hopfield, binarize, flip_bits
from engram.memory.hopfield import retrieved_fraction
from engram.synchrony import kuramoto as km
from engram.validation import check_choice, check_fraction, check_positive

DIGIT_SIDE = 8  # the embedded digits: 8x8 pixels, one unit per pixel
DATASETS = ("moons", "spirals", "clusters", "xor")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
MAX_UNITS = 64
MAX_LAYERS = 4
SURFACE_SIDE = 40
MAX_OSCILLATORS = 5000
FRAMES = 40  # phase snapshots the page animates
SHOWN_OSCILLATORS = 120  # dots drawn on the circle


def digit_patterns() -> dict[str, Any]:
    """The first image of each digit 0-9 of the embedded 8x8 digits, binarized to +/-1."""
    (x, y), _ = load_digits(test_fraction=0.3, seed=0, flat=True)
    patterns = binarize(np.stack([x[y == d][0] for d in range(10)]))
    return {"side": DIGIT_SIDE, "patterns": patterns.astype(int).tolist()}


def _pattern(value: Any, name: str, n_units: int | None = None) -> np.ndarray:
    x = np.asarray(value, dtype=np.float32)
    if x.ndim != 1 or not np.isin(x, (-1.0, 1.0)).all():
        raise ValueError(f"{name} must be a list of -1 and +1 values. Got {value!r:.60} instead.")
    if n_units is not None and x.size != n_units:
        raise ValueError(
            f"{name} must have {n_units} units like the stored patterns; got {x.size}."
        )
    return x


def damage(pattern: Any, fraction: float, seed: int = 0) -> dict[str, Any]:
    """A copy of ``pattern`` with round(fraction * N) units flipped (`engram.memory.flip_bits`)."""
    x = _pattern(pattern, "pattern")
    check_fraction(fraction, "fraction", inclusive_high=True)
    return {"cue": flip_bits(x, fraction, seed=seed)[0].astype(int).tolist()}


def hopfield_recall(
    patterns: Any, cue: Any, rule: str = "hebb", max_steps: int = 20
) -> dict[str, Any]:
    """Store ``patterns`` in a `Hopfield` network and recall from ``cue`` one step at a time.

    The updates are synchronous, so the steps taken one at a time end at the state that
    ``Hopfield(rule).store(patterns).recall(cue, update="sync", max_steps=max_steps)`` returns.

    Returns:
        ``steps``: for the cue and each update that changed the state, the state, its energy
        and its overlap with each stored pattern; ``load``, ``capacity`` (the rule's published
        capacity, in patterns) and ``converged``.
    """
    if not isinstance(patterns, list) or not patterns:
        raise ValueError("Store at least one pattern before recalling (patterns is empty).")
    stored = np.stack([_pattern(p, f"patterns[{i}]") for i, p in enumerate(patterns)])
    state = _pattern(cue, "cue", stored.shape[1])[None]
    check_positive(max_steps, "max_steps", integer=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CapacityWarning)  # the page shows load and capacity
        net = Hopfield(rule).store(stored)

    def record(s: np.ndarray) -> dict[str, Any]:
        overlaps = (stored @ s[0]) / stored.shape[1]
        return {
            "state": s[0].astype(int).tolist(),
            "energy": float(net.energy(s)[0]),
            "overlaps": [round(float(m), 6) for m in overlaps],
        }

    steps, converged = [record(state)], False
    for _ in range(max_steps):
        result = net.recall(state, update="sync", max_steps=1, track_energy=False)
        if np.array_equal(result.states, state):
            converged = True
            break
        state = result.states
        steps.append(record(state))
    return {
        "steps": steps,
        "converged": converged,
        "load": net.load,
        "capacity": net.capacity,
    }


def capacity_curve(
    n_units: int = 100,
    max_load: float = 0.3,
    n_loads: int = 15,
    flip_fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, Any]:
    """Share of random patterns recalled (final overlap > 0.95) against the load P/N.

    For each load, P = round(load * N) random +/-1 patterns are stored with Hebb's rule and each
    is recalled (synchronously, at most 50 steps) from a copy with ``flip_fraction`` of its units
    flipped. One network per load, so the curve is noisy at small N.
    """
    n = int(check_positive(n_units, "n_units", integer=True))
    if not 20 <= n <= 400:
        raise ValueError(f"n_units must be between 20 and 400 for the page. Got {n} instead.")
    check_fraction(flip_fraction, "flip_fraction", inclusive_high=True)
    check_positive(max_load, "max_load")
    check_positive(n_loads, "n_loads", integer=True)
    rng = np.random.default_rng(seed)
    loads = np.linspace(max_load / n_loads, max_load, n_loads)
    recalled = []
    for load in loads:
        p = max(1, int(round(load * n)))
        xs = np.where(rng.random((p, n)) < 0.5, -1.0, 1.0).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CapacityWarning)
            net = Hopfield("hebb").store(xs)
        cues = flip_bits(xs, flip_fraction, seed=rng)
        recalled.append(retrieved_fraction(net.weights, xs, cues, overlap=0.95, max_steps=50))
    return {"n_units": n, "loads": loads.round(4).tolist(), "recalled": recalled, "alpha_c": 0.138}


def _dataset(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    check_choice(name, "dataset", DATASETS)
    if name == "moons":
        x, y = make_moons(300, noise=0.15, seed=seed)
    elif name == "spirals":
        x, y = make_spirals(300, noise=0.2, seed=seed)
    elif name == "clusters":
        x, y = make_gaussian_clusters(300, n_clusters=2, cluster_std=1.5, seed=seed)
    else:
        x, y = xor()
    return np.asarray(x, np.float32), np.asarray(y, np.float32).reshape(-1, 1)


class TrainingSession:
    """A small classifier on a 2-D dataset, trained a few epochs per call to `advance`.

    Args:
        dataset: ``"moons"``, ``"spirals"``, ``"clusters"`` or ``"xor"``.
        layers: hidden units per layer, e.g. ``(8, 8)``; at most 4 layers of 64 units.
        learning_rate: Adam's learning rate.
        activation: hidden units' activation (``"tanh"``, ``"relu"`` or ``"sigmoid"``).
        seed: seeds the data, the initial weights and the shuffling.
    """

    def __init__(
        self,
        dataset: str = "moons",
        layers: tuple[int, ...] = (8, 8),
        learning_rate: float = 0.03,
        activation: str = "tanh",
        seed: int = 0,
    ) -> None:
        from engram.nn import Sequential
        from engram.nn.layers import Dense
        from engram.nn.optimizers import Adam

        check_choice(activation, "activation", ACTIVATIONS)
        check_positive(learning_rate, "learning_rate")
        layers = tuple(int(check_positive(u, "layers", integer=True)) for u in layers)
        if not 1 <= len(layers) <= MAX_LAYERS or max(layers) > MAX_UNITS:
            raise ValueError(
                f"layers must be 1 to {MAX_LAYERS} hidden layers of at most {MAX_UNITS} units, "
                f"e.g. 8,8. Got {','.join(map(str, layers))} instead."
            )
        self.x, self.y = _dataset(dataset, seed)
        hidden = [Dense(u, activation=activation) for u in layers]
        self.model = Sequential(
            [*hidden, Dense(1, activation="sigmoid")], seed=seed, name="explore"
        )
        self.model.build((None, 2))
        self.model.compile(optimizer=Adam(learning_rate=learning_rate), loss="binary_crossentropy")
        self.losses: list[float] = []
        self.lock = threading.Lock()
        pad = 0.5
        lo, hi = self.x.min(axis=0) - pad, self.x.max(axis=0) + pad
        gx, gy = np.meshgrid(
            np.linspace(lo[0], hi[0], SURFACE_SIDE), np.linspace(lo[1], hi[1], SURFACE_SIDE)
        )
        self.bounds = [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]
        self.grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)

    def advance(self, epochs: int = 5) -> dict[str, Any]:
        """Train ``epochs`` more epochs (batch 32); the losses so far and the decision surface."""
        check_positive(epochs, "epochs", integer=True)
        with self.lock:
            history = self.model.fit(self.x, self.y, epochs=epochs, batch_size=32, verbose=0)
            self.losses += [float(v) for v in history.history["loss"]]
            surface = self.model.predict(self.grid)[:, 0]
            predicted = self.model.predict(self.x)[:, 0] > 0.5
            accuracy = float(np.mean(predicted == (self.y[:, 0] > 0.5)))
        return {
            "epoch": len(self.losses),
            "loss": list(self.losses),
            "accuracy": accuracy,
            "surface": np.round(surface.astype(np.float64), 4).tolist(),
            "side": SURFACE_SIDE,
            "bounds": self.bounds,
            "points": self.x.round(4).tolist(),
            "labels": self.y[:, 0].astype(int).tolist(),
        }


def _kuramoto_settings(n: int, width: float, duration: float) -> int:
    n = int(check_positive(n, "n", integer=True))
    if not 10 <= n <= MAX_OSCILLATORS:
        raise ValueError(f"n must be between 10 and {MAX_OSCILLATORS:,} oscillators for the page. "
                         f"Got {n} instead.")  # fmt: skip
    check_positive(width, "width")
    check_positive(duration, "duration")
    if duration > 200:
        raise ValueError(f"duration must be at most 200 for the page. Got {duration:g} instead.")
    return n


def kuramoto(
    n: int = 500,
    coupling: float = 1.5,
    width: float = 0.5,
    distribution: str = "lorentzian",
    duration: float = 40.0,
    seed: int = 0,
) -> dict[str, Any]:
    """N Kuramoto oscillators at one coupling K, from random phases (`engram.synchrony`).

    The run is `kuramoto.simulate` cut into `FRAMES` pieces, each starting from the previous
    piece's final phases, so that the page can animate the phases; the pieces together are the
    same integration as one call (same steps, same RK4).

    Returns:
        ``times`` and ``r`` (the order parameter every 10 steps, or once per piece when a
        piece is shorter), ``frames`` (the phases of the
        first `SHOWN_OSCILLATORS` oscillators at FRAMES + 1 times), ``kc`` (the critical coupling
        of the infinite-N theory) and ``r_theory`` (its stationary r at this K).
    """
    n = _kuramoto_settings(n, width, duration)
    check_choice(distribution, "distribution", ("lorentzian", "gaussian"))
    omega = km.natural_frequencies(n, distribution, width, quantiles=True)
    phases = np.random.default_rng(seed).uniform(-np.pi, np.pi, n)
    dt, piece = 0.05, duration / FRAMES
    every = max(1, min(10, round(piece / dt)))  # at least one record per piece
    times, r, frames = [0.0], [float(km.order_parameter(phases)[0])], [phases]
    for i in range(FRAMES):
        run = km.simulate(
            omega, coupling, piece, dt, record_every=every, initial_phases=phases, dtype=np.float64
        )
        phases = run.phases[0]
        times += [float(t) + i * piece for t in run.times[1:]]
        r += [float(v) for v in run.r[0, 1:]]
        frames.append(phases)
    show = min(n, SHOWN_OSCILLATORS)
    return {
        "n": n,
        "coupling": float(coupling),
        "times": np.round(times, 4).tolist(),
        "r": np.round(r, 5).tolist(),
        "frames": [np.round(f[:show], 4).tolist() for f in frames],
        "omega": np.round(omega[:show], 4).tolist(),
        "kc": km.critical_coupling(distribution, width),
        "r_theory": float(km.theory_order_parameter(coupling, distribution, width)),
    }


def kuramoto_sweep(
    n: int = 500,
    width: float = 0.5,
    distribution: str = "lorentzian",
    max_ratio: float = 3.0,
    n_couplings: int = 15,
    duration: float = 60.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Stationary r against K (up to ``max_ratio`` K_c), all couplings in one vectorised run."""
    n = _kuramoto_settings(n, width, duration)
    check_choice(distribution, "distribution", ("lorentzian", "gaussian"))
    check_positive(max_ratio, "max_ratio")
    count = int(check_positive(n_couplings, "n_couplings", integer=True))
    kc = km.critical_coupling(distribution, width)
    couplings = np.linspace(0, max_ratio * kc, count + 1)[1:]
    omega = km.natural_frequencies(n, distribution, width, quantiles=True)
    run = km.simulate(omega, couplings, duration, 0.05, seed=seed, dtype=np.float64)
    return {
        "couplings": couplings.round(4).tolist(),
        "r": run.stationary_r().round(5).tolist(),
        "theory": np.asarray(km.theory_order_parameter(couplings, distribution, width))
        .round(5)
        .tolist(),
        "kc": kc,
    }
