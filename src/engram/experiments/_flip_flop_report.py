"""The flip-flop experiment's report: figures, the fixed-point table and the text.

Everything here turns what `engram.experiments.flip_flop` computed (training history, test
trials, fixed points, metrics) into what the report shows; each verdict is a small function of
the metrics with its condition beside the sentence. (A module whose name starts with ``_`` is
not loaded as an experiment.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.experiments.base import Figure, Table
from engram.motor import pca

__all__ = ["explain", "figures", "table"]

_SADDLE_NAMES = {0: "stable", 1: "1 unstable dim", 2: "2 unstable dims", 3: "3 unstable dims"}


def _labels(found, readout, level: float) -> list[str]:
    names = []
    for n_unstable, r in zip(found.n_unstable, readout, strict=True):
        signs = "".join("+" if v > level else "-" if v < -level else "0" for v in r)
        names.append(f"{_SADDLE_NAMES.get(int(n_unstable), f'{n_unstable} unstable')} ({signs})")
    return names


def table(found, readout, radius, level: float) -> Table:
    """The fixed points, their type, q, readout (+/- beyond ``level``) and largest |lambda|."""
    rows = []
    for i, name in enumerate(_labels(found, readout, level)):
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
        [
            "#",
            f"type (readout: + > {level:g}, - < -{level:g}, else 0)",
            "q of the Euler map",
            "readout",
            "max |lambda|",
        ],
        rows,
    )


def figures(history, test, found, readout, config) -> list[Figure]:
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
            "Grey: the input pulses of each bit; dashed: the target; solid: the network's output.",
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
            "Grey: six test trials. Black: stable fixed points; orange: fixed points with at least "
            "one unstable direction.",
        ),
        Figure(
            "eigenvalues",
            "Jacobian eigenvalues at the fixed points",
            "scatter",
            {"points": eig_points, "xlabel": "Re(lambda)", "ylabel": "Im(lambda)", "equal": True},
            "Eigenvalues of dF/dh of the Euler map (a map eigenvalue lambda is the ODE's "
            "(lambda - 1) / dt). Inside the unit circle: decaying directions; outside: growing.",
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
            "Rows: the stable fixed points; columns: the readout of each bit (see the table).",
        ),
    ]


def _cube_counts(n_bits: int) -> dict[str, int]:
    """Fixed points of an ideal n-bit flip-flop by unstable dims: C(n, k) 2^(n - k)."""
    return {str(k): math.comb(n_bits, k) * 2 ** (n_bits - k) for k in range(n_bits + 1)}


HEADLINE = {
    "accuracy": "steps with the right sign",
    "memories_held": "memories held without input",
    "n_stable": "stable fixed points (attractors)",
    "n_saddles": "unstable fixed points (saddles)",
}


def opening(m: dict[str, Any], config: dict[str, Any]) -> str:
    """What the run showed, for a reader who reads nothing else."""
    n = m["n_memories"]
    held = (
        f"held all {n} of its memories"
        if m["memories_held"] == n
        else f"held {m['memories_held']} of its {n} memories"
    )
    shape = (
        f"Its dynamics have one stable fixed point per memory ({m['n_stable']}): the memories "
        "are attractors, as Sussillo & Barak (2013) found."
        if m["every_memory_has_one_attractor"]
        else f"Its dynamics have {m['n_stable']} stable fixed point(s) for {n} memories: not "
        "the one attractor per memory that Sussillo & Barak (2013) found."
    )
    return (
        f"A recurrent network trained to remember {config['n_bits']} bits answered with the "
        f"right sign on {m['accuracy']:.1%} of the steps and {held} through "
        f"{config['hold_steps']} steps without input. {shape}"
    )


def explain(m: dict[str, Any], config: dict[str, Any]) -> str:
    return "\n\n".join([_explain_training(m, config), _explain_points(m, config), _DIFFERENCES])


def _explain_training(m: dict[str, Any], config: dict[str, Any]) -> str:
    share = m["misses_after_flip_share"]
    misses = (
        "no step is missed"
        if share is None
        else f"{100 * share:.0f}% of the missed steps lie within {m['miss_window_steps']} "
        "steps after their bit flipped"
    )
    return (
        f"A continuous-time rate network ({config['units']} tanh units, tau = "
        f"{config['tau']:g} ms, Euler steps of {config['dt']:g} ms) with a linear readout was "
        f"trained on the {config['n_bits']}-bit flip-flop ({config['trial_steps']}-step trials, "
        f"pulse probability {config['pulse_prob']:g} per step and bit) for "
        f"{config['train_steps']} steps of {config['batch_size']} fresh trials (Adam, learning "
        f"rate {config['learning_rate']:g}, global gradient-norm clip 1.0). On "
        f"{m['n_test_trials']} new trials it gives the right sign on "
        f"{100 * m['accuracy']:.2f}% of the steps after each bit's first pulse (MSE "
        f"{m['test_mse']:.3f}; {misses}), and {m['memories_held']} of the {m['n_memories']} "
        "memories, set by one pulse per bit, keep their sign through "
        f"{config['hold_steps']} steps without input."
    )


def _explain_points(m: dict[str, Any], config: dict[str, Any]) -> str:
    counts = m["count_by_unstable_dims"]
    unstable = ", ".join(
        f"{v} with {k} unstable dim(s)" for k, v in counts.items() if k != "0" and v
    )
    q_speed = m["max_q_continuous_per_s2"]
    return (
        f"With the input off, the fixed-point finder (Levenberg-Marquardt on q, started from "
        f"{m['n_initial_states']} states: visited states and midpoints between attractors) "
        f"found {m['n_fixed_points']} fixed points with q < {m['tol_q']:g}, q being the Euler "
        f"map's 1/2 |F(h) - h|^2 (largest {m['max_q']:.1e}; in Sussillo & Barak's continuous-time "
        f"units, 1/2 |dh/dt|^2 = q / dt^2 = {q_speed:.1e} s^-2): {m['n_stable']} stable and "
        f"{m['n_saddles']} unstable ({unstable or 'none'}). {_verdict_attractors(m)} "
        f"{_verdict_layout(m, config)} {_verdict_saddles(m)} {_verdict_attraction(m, config)} "
        f"{_verdict_paper(m, config)}"
    )


def _verdict_attractors(m: dict[str, Any]) -> str:
    n = m["n_memories"]
    if m["every_memory_has_one_attractor"]:
        return (
            f"That is **as published: {n} stable fixed points, each reading out as a different "
            "sign pattern, i.e. one attractor per memory**."
        )
    return (
        f"That is **not as published: {m['n_stable']} stable fixed point(s) covering "
        f"{m['stable_sign_patterns']} of the {n} sign patterns** (every bit's readout beyond "
        f"+-{m['read_level']:g}); train longer "
        "(--set train_steps=...) or try another seed."
    )


def _verdict_layout(m: dict[str, Any], config: dict[str, Any]) -> str:
    cube = _cube_counts(config["n_bits"])
    ideal = f"{config['n_bits']}-cube ({' + '.join(map(str, cube.values()))})"
    if {k: v for k, v in m["count_by_unstable_dims"].items() if v} == cube:
        return (
            "The counts by number of unstable directions are those of the corners, edges, "
            f"faces and centre of a {ideal}."
        )
    return f"The counts by number of unstable directions are not those of a {ideal}."


def _verdict_saddles(m: dict[str, Any]) -> str:
    n, links = m["saddles_one_unstable"], m["saddles_linking_neighbours"]
    if n == 0:
        return "There is no saddle with one unstable direction."
    what = (
        "each lies between two memories"
        if links == n
        else f"{links} of them lie between two memories"
    )
    return (
        f"Of the {n} saddles with one unstable direction, pushed off both ways along it, {what} "
        "whose sign patterns differ in one bit (both pushes end at attractors)."
    )


def _verdict_attraction(m: dict[str, Any], config: dict[str, Any]) -> str:
    n, at, kept = m["n_memories"], m["memories_at_attractor"], m["memories_held"]
    hold = config["hold_steps"]
    if at == n:
        tau = m["stable_slowest_time_constant_ms"]
        return (
            f"After {hold} silent steps every memory's state sits at a stable fixed point that "
            f"reads out its pattern (slowest decay at an attractor: largest |lambda| "
            f"{m['stable_largest_abs_eigenvalue']:.3f} per {config['dt']:g} ms step, a time "
            f"constant of {tau:.0f} ms): **the memories are held by attraction**."
        )
    if kept == n:
        return (
            f"All {n} memories keep their sign through {hold} silent steps, but only {at} of "
            "their states sit at an attractor with their pattern: the others are held by slow "
            "drift, not by attraction."
        )
    return (
        f"Only {kept} of {n} memories keep their sign through {hold} silent steps and {at} sit "
        "at an attractor with their pattern: **the memories are not all held**."
    )


def _verdict_paper(m: dict[str, Any], config: dict[str, Any]) -> str:
    cube = _cube_counts(config["n_bits"])
    same = (
        m["every_memory_has_one_attractor"]
        and m["memories_at_attractor"] == m["n_memories"]
        and m["saddles_one_unstable"] == cube["1"] == m["saddles_linking_neighbours"]
    )
    if same:
        return (
            "Sussillo & Barak (2013) describe the same picture: one attractor per memory and "
            "saddles between neighbouring memories, whose stable manifolds separate the basins."
        )
    return (
        "Sussillo & Barak (2013) found one attractor per memory and a saddle between each pair "
        "of neighbouring memories; this run does not show that whole picture."
    )


_DIFFERENCES = (
    "Differences from the paper: a rate network trained by BPTT with Adam (they used "
    "Hessian-free optimization); the search only reports points near the visited region."
)
