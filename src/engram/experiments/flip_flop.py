"""The 3-bit flip-flop (Sussillo & Barak 2013): a trained rate network's memories are fixed points.

A continuous-time rate network (`engram.motor.RateRNN`) with a linear readout learns to hold the
sign of the last pulse on each of 3 input channels. With the input off, the trained network is
an autonomous map; `find_fixed_points` minimizes q(h) = 1/2 |F(h) - h|^2 from states the network
visited during trials (and, in a second pass, from midpoints between the attractors found) and
classifies each fixed point by the eigenvalues of the Jacobian. The published finding: 8 stable
fixed points, one per memory, and saddles between them that separate their basins.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from engram.experiments._rate_network import readout, train_rate_network
from engram.experiments.base import Experiment, Figure, Result, Table, register
from engram.motor import FlipFlopTask, find_fixed_points, pca
from engram.motor.rate_network import single_blas_thread
from engram.nn import Sequential

_SADDLE_NAMES = {0: "stable", 1: "1 unstable dim", 2: "2 unstable dims", 3: "3 unstable dims"}


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
    first = find_fixed_points(step, jacobian, starts, max_iter=config["fp_iterations"])
    stable = first.stable_points
    pairs = list(itertools.combinations(range(len(stable)), 2))
    midpoints = np.array([(stable[i] + stable[j]) / 2 for i, j in pairs]).reshape(-1, flat.shape[1])
    found = find_fixed_points(
        step,
        jacobian,
        np.concatenate([first.points, midpoints]),
        max_iter=config["fp_iterations"],
    )
    return found, len(starts) + len(midpoints)


def memories_held(model: Sequential, n_bits: int, hold_steps: int) -> int:
    """How many of the 2^n_bits memories survive ``hold_steps`` steps without input."""
    patterns = np.array(list(itertools.product([-1.0, 1.0], repeat=n_bits)))
    inputs = np.zeros((len(patterns), 3 * n_bits + hold_steps, n_bits), dtype=np.float32)
    for k in range(n_bits):
        inputs[:, 3 * k + 1, k] = patterns[:, k]  # one bit after another, as in the task
    states, _ = model.layers[0].simulate(inputs)
    final = _readout(model, states[:, -1].astype(np.float64))
    return int(np.all(np.sign(final) == patterns, axis=1).sum())


def _evaluate(model: Sequential, task: FlipFlopTask, seed: int) -> dict[str, Any]:
    batch = task.sample(128, rng=seed + 1000)
    outputs = model.predict(batch["inputs"])
    held = batch["mask"] > 0
    states, _ = model.layers[0].simulate(batch["inputs"])
    return {
        "batch": batch,
        "outputs": outputs,
        "states": states,
        "accuracy": float(np.mean(np.sign(outputs[held]) == batch["targets"][held])),
        "mse": float(np.mean((outputs - batch["targets"])[held] ** 2)),
    }


def run(config: dict[str, Any]) -> Result:
    with single_blas_thread():  # small matrices throughout: see `single_blas_thread`
        return _run(config)


def _run(config: dict[str, Any]) -> Result:
    model, task, history = train_network(config)
    test = _evaluate(model, task, config["seed"])
    found, n_initial = find_all(model, test["states"], config)
    readout = _readout(model, found.points)
    stable = found.is_stable
    patterns = {tuple(np.sign(r).astype(int)) for r in readout[stable]}
    counts = np.bincount(found.n_unstable, minlength=config["n_bits"] + 1)
    n_memories = 2 ** config["n_bits"]
    radius = np.abs(found.eigenvalues).max(axis=1)
    metrics = {
        "accuracy": test["accuracy"],
        "memories_held": memories_held(model, config["n_bits"], config["hold_steps"]),
        "test_mse": test["mse"],
        "final_train_loss": float(history["task_loss"][-10:].mean()),
        "n_initial_states": n_initial,
        "n_fixed_points": len(found),
        "n_stable": int(stable.sum()),
        "n_saddles": int((~stable).sum()),
        "count_by_unstable_dims": {str(k): int(v) for k, v in enumerate(counts)},
        "n_memories": n_memories,
        "stable_sign_patterns": len(patterns),
        "every_memory_has_one_attractor": bool(
            stable.sum() == n_memories and len(patterns) == n_memories
        ),
        "max_q": float(found.q.max()) if len(found) else 0.0,
        "max_q_stable": float(found.q[stable].max()) if stable.any() else 0.0,
        "stable_largest_abs_eigenvalue": float(radius[stable].max()) if stable.any() else 0.0,
        "stable_readout_min_abs": float(np.abs(readout[stable]).min()) if stable.any() else 0.0,
    }
    return Result(
        metrics=metrics,
        figures=_figures(model, history, test, found, readout, config),
        tables=[_table(found, readout, radius)],
        text=_explain(metrics, config),
        arrays={
            "fixed_points": found.points,
            "q": found.q,
            "eigenvalues": found.eigenvalues,
            "readout": readout,
            "task_loss": history["task_loss"],
        },
    )


def _labels(found, readout) -> list[str]:
    names = []
    for n_unstable, r in zip(found.n_unstable, readout, strict=True):
        signs = "".join("+" if v > 0.5 else "-" if v < -0.5 else "0" for v in r)
        names.append(f"{_SADDLE_NAMES.get(int(n_unstable), f'{n_unstable} unstable')} ({signs})")
    return names


def _table(found, readout, radius) -> Table:
    rows = []
    for i, name in enumerate(_labels(found, readout)):
        rows.append(
            [
                i,
                name,
                f"{found.q[i]:.1e}",
                ", ".join(f"{v:+.2f}" for v in readout[i]),
                f"{radius[i]:.3f}",
            ]
        )
    return Table(
        "Fixed points at zero input",
        ["#", "type (readout: + > 0.5, - < -0.5, else 0)", "q", "readout", "max |lambda|"],
        rows,
    )


def _figures(model, history, test, found, readout, config) -> list[Figure]:
    n_bits, batch = config["n_bits"], test["batch"]
    trial_panels = [
        {
            "series": {
                "input": {"y": batch["inputs"][0, :, k], "style": {"color": "#999999"}},
                "target": {"y": batch["targets"][0, :, k], "style": "--"},
                "network": {"y": test["outputs"][0, :, k]},
            },
            "title": f"bit {k + 1}",
            "xlabel": f"step ({config['dt']:g} ms)",
        }
        for k in range(n_bits)
    ]
    space = pca(np.tanh(test["states"][:6]), 3)  # in rate space: bounded, the cube shows
    traj = list(space.projections)
    paths = [*traj, *space.transform(np.tanh(found.points))[:, None, :]]
    colors = ["#bbbbbb"] * len(traj) + ["#000000" if s else "#D55E00" for s in found.is_stable]
    first_stable = int(np.argmax(found.is_stable)) if found.is_stable.any() else -1
    first_saddle = int(np.argmax(~found.is_stable)) if (~found.is_stable).any() else -1
    labels = [""] * len(paths)
    labels[0] = "trials"
    if first_stable >= 0:
        labels[len(traj) + first_stable] = "stable fixed points"
    if first_saddle >= 0:
        labels[len(traj) + first_saddle] = "saddles"
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    eig_points = {"unit circle": {"x": circle.real, "y": circle.imag, "s": 2}}
    for k in sorted(set(found.n_unstable.tolist())):
        values = found.eigenvalues[found.n_unstable == k].ravel()
        eig_points[_SADDLE_NAMES.get(k, f"{k} unstable")] = {"x": values.real, "y": values.imag}
    stable_readout = readout[found.is_stable]
    return [
        Figure(
            "training_loss",
            "Masked MSE during training",
            "lines",
            {
                "series": {"train": {"y": history["task_loss"]}},
                "xlabel": "training step",
                "ylabel": "masked MSE",
                "logy": True,
            },
            "One fresh batch per step; the mask hides each bit until its first pulse.",
        ),
        Figure(
            "example_trial",
            "One test trial: pulses, targets and the network's outputs",
            "lines",
            {"panels": trial_panels, "ncols": n_bits},
            "The output flips at each pulse of its own channel and holds in between.",
        ),
        Figure(
            "fixed_points_pca",
            "State space: trials and fixed points (top 3 PCs of the rates)",
            "trajectories",
            {
                "trajectories": paths,
                "colors": colors,
                "labels": labels,
                "xlabel": "PC1",
                "ylabel": "PC2",
                "zlabel": "PC3",
            },
            "Grey: six test trials. Black: stable fixed points (memories), at the corners of a "
            "cube; orange: saddles on its edges and faces, and the unstable point in the middle.",
        ),
        Figure(
            "eigenvalues",
            "Jacobian eigenvalues at the fixed points",
            "scatter",
            {"points": eig_points, "xlabel": "Re(lambda)", "ylabel": "Im(lambda)", "equal": True},
            "Eigenvalues of dF/dh of the Euler map. Inside the unit circle: decaying directions;"
            " a saddle has one real eigenvalue per unstable dimension outside it.",
        ),
        Figure(
            "stable_readouts",
            "Readout of each stable fixed point",
            "heatmap",
            {
                "matrix": stable_readout if len(stable_readout) else np.zeros((1, n_bits)),
                "xticklabels": [f"bit {k + 1}" for k in range(n_bits)],
                "xlabel": "output",
                "ylabel": "stable fixed point",
                "vmin": -1.2,
                "vmax": 1.2,
            },
            "Each attractor reads out as one of the 2^n sign patterns: one memory each.",
        ),
    ]


def _cube_counts(n_bits: int) -> dict[str, int]:
    """Fixed points of an ideal n-bit flip-flop by unstable dims: C(n, k) 2^(n - k)."""
    return {str(k): math.comb(n_bits, k) * 2 ** (n_bits - k) for k in range(n_bits + 1)}


def _explain(metrics: dict[str, Any], config: dict[str, Any]) -> str:
    n_mem = metrics["n_memories"]
    counts = metrics["count_by_unstable_dims"]
    cube = _cube_counts(config["n_bits"])
    saddles = ", ".join(f"{v} with {k} unstable dim(s)" for k, v in counts.items() if k != "0")
    verdict = (
        f"**as published: {n_mem} stable fixed points, each reading out as a different sign "
        f"pattern, i.e. one attractor per memory**"
        if metrics["every_memory_has_one_attractor"]
        else f"**not as published: {metrics['n_stable']} stable fixed points covering "
        f"{metrics['stable_sign_patterns']} of the {n_mem} sign patterns**; train longer "
        "(--set train_steps=...) or try another seed"
    )
    layout = (
        "exactly the points of a cube"
        if {k: v for k, v in counts.items() if v} == cube
        else f"not the full cube, which would have {' + '.join(map(str, cube.values()))}"
    )
    return (
        f"A continuous-time rate network ({config['units']} tanh units, tau = "
        f"{config['tau']:g} ms, Euler steps of {config['dt']:g} ms) with a linear readout was "
        f"trained on the {config['n_bits']}-bit flip-flop ({config['trial_steps']}-step trials, "
        f"pulse probability {config['pulse_prob']:g} per step and bit) for "
        f"{config['train_steps']} steps of {config['batch_size']} fresh trials (Adam, learning "
        f"rate {config['learning_rate']:g}, global gradient-norm clip 1.0). On 128 new trials it "
        f"gives the right sign on {100 * metrics['accuracy']:.2f}% of the steps after each "
        f"bit's first pulse (MSE {metrics['test_mse']:.3f}; the misses are the steps right "
        f"after a flip), and {metrics['memories_held']} of the {n_mem} memories, set by one "
        f"pulse per bit, keep their sign through {config['hold_steps']} steps without input."
        "\n\n"
        f"With the input off, the fixed-point finder (Levenberg-Marquardt on q, started from "
        f"{metrics['n_initial_states']} states: visited states and midpoints between "
        f"attractors) found {metrics['n_fixed_points']} fixed points with q < 1e-12 (largest q "
        f"{metrics['max_q']:.1e}): {metrics['n_stable']} stable and {metrics['n_saddles']} "
        f"unstable ({saddles}). That is {verdict}, and {layout}: memories at the corners, "
        "saddles with one unstable direction on the edges between neighbouring memories (a "
        "pulse pushes the state across the saddle's stable manifold into the next basin), "
        "more unstable points on the faces and in the middle. Sussillo & Barak (2013) "
        "describe the same picture. The largest eigenvalue modulus at an attractor is "
        f"{metrics['stable_largest_abs_eigenvalue']:.3f} per {config['dt']:g} ms step: "
        "memories are held by attraction, not by slow drift.\n\n"
        "Differences from the paper: a rate network trained by BPTT with Adam (they used "
        "Hessian-free optimization); the search only reports points near the visited region. "
        "The task settings matter: with 100-step trials and pulses with probability 0.05 "
        "(1 of 6 seeds tried) or 0.03 (1 of 12) per step, some quick-mode networks had only "
        "6 or 7 attractors, their other memories being slow transients that decay within "
        "about 100 steps yet pass the accuracy test, since pulses rarely leave a bit alone "
        "that long; 200-step trials with probability 0.02 gave 8 attractors and 19 unstable "
        "points for all 17 seeds tried in quick mode."
    )


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
        summary="3-bit flip-flop: a trained rate network keeps 8 memories as 8 attractors.",
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
