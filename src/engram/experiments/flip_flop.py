"""The 3-bit flip-flop (Sussillo & Barak 2013): a trained rate network's memories are fixed points.

A continuous-time rate network (`engram.motor.RateRNN`) with a linear readout learns to hold the
sign of the last pulse on each of 3 input channels. With the input off, the trained network is
an autonomous map; `find_fixed_points` minimizes q(h) = 1/2 |F(h) - h|^2 from states the network
visited during trials (and, in a second pass, from midpoints between the attractors found) and
classifies each fixed point by the eigenvalues of the Jacobian. The published finding: 8 stable
fixed points, one per memory, and saddles between them that separate their basins. The report
checks each part of that picture on this run: attractors per sign pattern, where the saddles
with one unstable direction lead, and whether each memory's state, held without input, ends at
its attractor.

Advice from development runs (quick mode: 32 units, 400 training steps): with 100-step trials
and pulse probability 0.05 (1 of 6 seeds) or 0.03 (1 of 12 seeds), some networks had only 6 or
7 attractors, their other memories being slow transients that decayed within about 100 steps
yet passed the accuracy test, since pulses rarely leave a bit alone that long. With the
defaults (200-step trials, pulse probability 0.02) all 17 seeds tried gave 8 attractors and 19
unstable points. ``--set train_steps=3`` leaves the network untrained: the report then says
the memories are not held.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from engram.experiments import _flip_flop_report as report
from engram.experiments._rate_network import readout, train_rate_network
from engram.experiments.base import Experiment, Result, register
from engram.motor import FlipFlopTask, find_fixed_points, speed_of_euler_q
from engram.motor.rate_network import single_blas_thread
from engram.nn import Sequential

#: a state this close (Euclidean, in h) to a fixed point has settled there
SETTLED = 1e-3
#: fixed points kept: q (of the Euler map) below this
TOL_Q = 1e-12
#: test trials the accuracy is measured on
TEST_TRIALS = 128
#: a readout above this magnitude reads as a clear + or - (the table's labels use it too)
READ_LEVEL = 0.5
#: a missed step this many steps or fewer after its bit's flip counts as "right after a flip"
FLIP_WINDOW = 5


def train_network(config: dict[str, Any]) -> tuple[Sequential, FlipFlopTask, dict]:
    """Train RateRNN + Dense readout on fresh flip-flop batches; returns model, task, history."""
    task = FlipFlopTask(
        config["n_bits"],
        n_steps=config["trial_steps"],
        pulse_prob=config["pulse_prob"],
        input_noise=config["input_noise"],
        seed=config["seed"],
    )
    model, history = train_rate_network(config, task, desc="flip-flop")
    return model, task, history


def _readout(model: Sequential, states: np.ndarray) -> np.ndarray:
    """The readout of states (currents) h: Dense(tanh(h))."""
    return readout(model, np.tanh(states))


def find_all(model: Sequential, states: np.ndarray, config: dict[str, Any]):
    """Fixed points at zero input from visited states, then from midpoints between attractors."""
    rng = np.random.default_rng(config["seed"])
    flat = states.reshape(-1, states.shape[-1]).astype(np.float64)
    starts = flat[rng.choice(len(flat), size=min(config["n_initial"], len(flat)), replace=False)]
    step, jacobian = model.layers[0].recurrent_map()
    first = find_fixed_points(step, jacobian, starts, tol_q=TOL_Q, max_iter=config["fp_iterations"])
    stable = first.stable_points
    pairs = list(itertools.combinations(range(len(stable)), 2))
    midpoints = np.array([(stable[i] + stable[j]) / 2 for i, j in pairs]).reshape(-1, flat.shape[1])
    found = find_fixed_points(
        step,
        jacobian,
        np.concatenate([first.points, midpoints]),
        tol_q=TOL_Q,
        max_iter=config["fp_iterations"],
    )
    return found, len(starts) + len(midpoints)


def hold_memories(model: Sequential, n_bits: int, hold_steps: int) -> dict[str, np.ndarray]:
    """Set each of the 2^n_bits memories with one pulse per bit, then run ``hold_steps`` silent.

    Returns the sign ``patterns`` (2^n_bits, n_bits), the ``final`` states (currents h) and
    their ``readout``.
    """
    patterns = np.array(list(itertools.product([-1.0, 1.0], repeat=n_bits)))
    inputs = np.zeros((len(patterns), 3 * n_bits + hold_steps, n_bits), dtype=np.float32)
    for k in range(n_bits):
        inputs[:, 3 * k + 1, k] = patterns[:, k]  # one bit after another, as in the task
    states, _ = model.layers[0].simulate(inputs)
    final = states[:, -1].astype(np.float64)
    return {"patterns": patterns, "final": final, "readout": _readout(model, final)}


def _settled_at(points: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest of ``points`` to each state, and whether it is within SETTLED."""
    if len(points) == 0:
        return np.full(len(states), -1), np.zeros(len(states), dtype=bool)
    dist = np.linalg.norm(states[:, None, :] - points[None, :, :], axis=-1)
    nearest = np.argmin(dist, axis=1)
    return nearest, dist[np.arange(len(states)), nearest] < SETTLED


def memories_at_attractors(held: dict, found, readout: np.ndarray) -> int:
    """Memories whose held state sits at a stable fixed point that reads out their pattern.

    "Reads out" as in the table: every bit's readout has the memory's sign and a magnitude
    above READ_LEVEL.
    """
    stable = np.flatnonzero(found.is_stable)
    nearest, settled = _settled_at(found.points[stable], held["final"])
    if len(stable) == 0:
        return 0
    reads = readout[stable[nearest]] * held["patterns"] > READ_LEVEL  # right sign, clearly
    return int(np.sum(settled & np.all(reads, axis=1)))


def saddle_links(model: Sequential, found, readout: np.ndarray, n_steps: int) -> dict[str, int]:
    """Where the saddles with one unstable direction lead: pushed off both ways along it.

    A saddle "links neighbours" when both pushes end at stable fixed points whose readouts
    differ in exactly one bit (the picture of Sussillo & Barak 2013: a saddle on the edge
    between two memories).
    """
    rows = np.flatnonzero(found.n_unstable == 1)
    stable = np.flatnonzero(found.is_stable)
    if rows.size == 0 or stable.size == 0:
        return {"n_one_unstable": int(rows.size), "linking_neighbours": 0}
    step, _ = model.layers[0].recurrent_map()
    values, vectors = np.linalg.eig(found.jacobians[rows])
    unstable = np.argmax(np.abs(values), axis=1)
    direction = np.real(vectors[np.arange(len(rows)), :, unstable])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    h = np.concatenate(
        [found.points[rows] + 1e-3 * direction, found.points[rows] - 1e-3 * direction]
    )
    for _ in range(n_steps):
        h = step(h)
    nearest, settled = _settled_at(found.points[stable], h)
    signs = np.sign(readout[stable[nearest]])
    both = settled[: len(rows)] & settled[len(rows) :]
    one_bit = np.sum(signs[: len(rows)] != signs[len(rows) :], axis=1) == 1
    return {"n_one_unstable": int(rows.size), "linking_neighbours": int(np.sum(both & one_bit))}


def _evaluate(model: Sequential, task: FlipFlopTask, seed: int) -> dict[str, Any]:
    batch = task.sample(TEST_TRIALS, rng=seed + 1000)
    outputs = model.predict(batch["inputs"])
    held = batch["mask"] > 0
    states, _ = model.layers[0].simulate(batch["inputs"])
    miss = held & (np.sign(outputs) != batch["targets"])
    return {
        "batch": batch,
        "outputs": outputs,
        "states": states,
        "accuracy": float(np.mean(np.sign(outputs[held]) == batch["targets"][held])),
        "mse": float(np.mean((outputs - batch["targets"])[held] ** 2)),
        "misses_after_flip": _share_after_flip(miss, batch["targets"]),
    }


def _share_after_flip(miss: np.ndarray, targets: np.ndarray) -> float | None:
    """Share of the missed steps that lie within FLIP_WINDOW steps after their bit's flip."""
    if not miss.any():
        return None
    changed = np.zeros_like(miss)
    changed[:, 1:] = targets[:, 1:] != targets[:, :-1]
    changed[:, 0] = targets[:, 0] != 0
    recent = np.zeros_like(miss)
    for lag in range(FLIP_WINDOW):
        recent[:, lag:] |= changed[:, : changed.shape[1] - lag]
    return float(np.sum(miss & recent) / np.sum(miss))


def run(config: dict[str, Any]) -> Result:
    with single_blas_thread():  # small matrices throughout: see `single_blas_thread`
        return _run(config)


def _run(config: dict[str, Any]) -> Result:
    model, task, history = train_network(config)
    test = _evaluate(model, task, config["seed"])
    found, n_initial = find_all(model, test["states"], config)
    readout = _readout(model, found.points)
    held = hold_memories(model, config["n_bits"], config["hold_steps"])
    links = saddle_links(model, found, readout, config["hold_steps"])
    metrics = _metrics(config, history, test, found, readout, held, links)
    metrics["n_initial_states"] = n_initial
    radius = np.abs(found.eigenvalues).max(axis=1) if len(found) else np.zeros(0)
    return Result(
        metrics=metrics,
        figures=report.figures(history, test, found, readout, config),
        tables=[report.table(found, readout, radius, READ_LEVEL)],
        text=report.explain(metrics, config),
        opening=report.opening(metrics, config),
        headline=report.HEADLINE,
        arrays={
            "fixed_points": found.points,
            "q": found.q,
            "eigenvalues": found.eigenvalues,
            "readout": readout,
            "task_loss": history["task_loss"],
        },
    )


def _metrics(config, history, test, found, readout, held, links) -> dict[str, Any]:
    stable = found.is_stable
    clear = readout[stable][np.all(np.abs(readout[stable]) > READ_LEVEL, axis=1)]
    patterns = {tuple(np.sign(r).astype(int)) for r in clear}  # sign patterns read out clearly
    counts = np.bincount(found.n_unstable, minlength=config["n_bits"] + 1)
    n_memories = 2 ** config["n_bits"]
    radius = np.abs(found.eigenvalues).max(axis=1) if len(found) else np.zeros(0)
    slowest = float(radius[stable].max()) if stable.any() else float("nan")
    max_q = float(found.q.max()) if len(found) else 0.0
    kept = np.all(np.sign(held["readout"]) == held["patterns"], axis=1)
    return {
        "accuracy": test["accuracy"],
        "memories_held": int(kept.sum()),
        "memories_at_attractor": memories_at_attractors(held, found, readout),
        "test_mse": test["mse"],
        "misses_after_flip_share": test["misses_after_flip"],
        "miss_window_steps": FLIP_WINDOW,
        "read_level": READ_LEVEL,
        "n_test_trials": TEST_TRIALS,
        "tol_q": TOL_Q,
        "final_train_loss": float(history["task_loss"][-10:].mean()),
        "n_fixed_points": len(found),
        "n_stable": int(stable.sum()),
        "n_saddles": int((~stable).sum()),
        "count_by_unstable_dims": {str(k): int(v) for k, v in enumerate(counts)},
        "n_memories": n_memories,
        "stable_sign_patterns": len(patterns),
        "every_memory_has_one_attractor": bool(
            stable.sum() == n_memories and len(patterns) == n_memories
        ),
        "saddles_one_unstable": links["n_one_unstable"],
        "saddles_linking_neighbours": links["linking_neighbours"],
        "max_q": max_q,
        "max_q_continuous_per_s2": float(speed_of_euler_q(max_q, config["dt"] / 1000.0)),
        "max_q_stable": float(found.q[stable].max()) if stable.any() else 0.0,
        "stable_largest_abs_eigenvalue": slowest if stable.any() else None,
        "stable_slowest_time_constant_ms": _time_constant(slowest, config["dt"]),
        "stable_readout_min_abs": float(np.abs(readout[stable]).min()) if stable.any() else 0.0,
    }


def _time_constant(modulus: float, dt: float) -> float | None:
    """The decay time constant of a map eigenvalue of this modulus: -dt / ln|lambda|."""
    if not np.isfinite(modulus) or modulus >= 1.0 or modulus <= 0.0:
        return None
    return float(-dt / np.log(modulus))


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """Weights, Adam and Jacobians (units^2), BPTT states, fixed-point starts; FLOPs of training."""
    u, b, t = config["units"], config["batch_size"], config["trial_steps"]
    held = 2 ** config["n_bits"] * config["hold_steps"]
    memory = 8 * (12 * u * u + 8 * b * t * u + 4 * config["n_initial"] * u + held * u)
    flops = 6 * config["train_steps"] * b * t * u * u  # forward and backward matmuls
    return {
        "memory_bytes": memory,
        "seconds": flops / 5e10,  # an optimistic 50 GFLOP/s: a lower bound on the time
        "detail": f"{u:,} units, batch {b} x {t:,} steps, {config['train_steps']:,} steps",
    }


EXPERIMENT = register(
    Experiment(
        name="flip-flop",
        summary="3-bit flip-flop: does a trained rate network keep each memory as an attractor?",
        reference="Sussillo & Barak 2013, Neural Computation 25:626 (Opening the black box).",
        defaults={
            "seed": 0,
            "units": 64,
            "n_bits": 3,
            "trial_steps": 200,
            "pulse_prob": 0.02,
            "hold_steps": 1000,
            "input_noise": 0.0,
            "dt": 10.0,
            "tau": 20.0,
            "noise_std": 0.0,
            "recurrent_gain": 0.9,
            "batch_size": 64,
            "train_steps": 1500,
            "learning_rate": 0.01,
            "n_initial": 1024,
            "fp_iterations": 300,
        },
        quick={"units": 32, "train_steps": 400, "n_initial": 512},
        run=run,
        limits={
            "units": "[3, inf)",
            "n_bits": "[1, 8]",
            "trial_steps": "[10, inf)",
            "pulse_prob": "(0, 1]",
            "hold_steps": "[1, inf)",
            "input_noise": "[0, 10]",
            "dt": "(0, inf)",
            "tau": "(0, inf)",
            "noise_std": "[0, 10]",
            "recurrent_gain": "[0, 10]",
            "batch_size": "[1, inf)",
            "train_steps": "[1, inf)",
            "learning_rate": "(0, inf)",
            "n_initial": "[1, inf)",
            "fp_iterations": "[1, inf)",
        },
        cost=cost,
        constraint=lambda c: (
            None
            if c["dt"] <= c["tau"]
            else "Settings dt and tau need "
            f"dt <= tau for a stable Euler step. Got dt = {c['dt']:g}, tau = {c['tau']:g} instead."
        ),
    )
)
