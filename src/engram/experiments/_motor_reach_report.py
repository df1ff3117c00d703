"""The motor-reach experiment's report: figures, the per-target table and the text.

Everything here turns the data `engram.experiments.motor_reach` computed (training history,
behaviour, population analyses, preparatory fixed points, metrics) into what the report shows;
nothing is trained or analysed. (A module whose name starts with ``_`` is not loaded as an
experiment.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments.base import Figure, Table
from engram.motor import ReachTask, pca

__all__ = ["explain", "figures", "target_table"]


def _angles(test: ReachTask) -> np.ndarray:
    return np.degrees(np.arctan2(test.target_positions[:, 1], test.target_positions[:, 0])) % 360


def target_table(beh, prep, test) -> Table:
    rows = []
    for k, (angle, t) in enumerate(zip(_angles(test), prep["targets"], strict=True)):
        rows.append(
            [
                f"{angle:.0f}",
                f"{beh['endpoint_errors'][k]:.3f}",
                f"{t['n_stable']} / {t['n_unstable']}",
                f"{100 * t['remaining']:.0f}%",
                f"{t['hand_at_point']:.3f}",
                f"{t['release_error']:.3f}",
                f"{_angles(test)[t['released_to']]:.0f}" if t["released_to"] >= 0 else "-",
            ]
        )
    return Table(
        "Per target (errors in units of the reach radius)",
        [
            "target (deg)",
            "endpoint error",
            "fixed points: stable / unstable",
            "way to the attractor left at go",
            "hand at attractor",
            "error of reach released from it",
            "released reach goes to (deg)",
        ],
        rows,
    )


def figures(history, beh, pop, prep, test, config) -> list[Figure]:
    angles = _angles(test)
    batch, run = beh["batch"], beh["run"]
    on, end = int(batch["target_on"][0]), int(batch["trial_end"][0])
    move = int(batch["movement_onset"][0])
    ms = (np.arange(test.n_steps) - move) * config["dt"]
    shared = {"colors": angles, "clabel": "target angle (deg)", "xlabel": "x", "ylabel": "y"}
    speed = np.linalg.norm(run["hand"][:, :, 2:], axis=-1)
    ideal = np.linalg.norm(batch["targets"][0, :, 2:], axis=-1)
    speed_series = {
        f"{a:.0f} deg": {"x": ms[on:end], "y": speed[k, on:end]} for k, a in enumerate(angles)
    }
    speed_series["minimum jerk"] = {
        "x": ms[on:end],
        "y": ideal[on:end],
        "style": {"color": "black", "linestyle": "--"},
    }
    jp, sur = pop["jpca"], pop["surrogate"]
    first = jp.projections[:, 0, 0]
    return [
        Figure(
            "training_loss",
            "Training: masked MSE and penalties",
            "lines",
            {
                "series": {
                    "task (masked MSE)": history["task_loss"],
                    "rate L2": history["rate_penalty"],
                    "weight L2": history["weight_penalty"],
                },
                "xlabel": "training step",
                "logy": True,
            },
            "One fresh batch of trials per step (random delays, catch trials, input noise).",
        ),
        Figure(
            "hand_paths",
            "Hand paths, one per target",
            "trajectories",
            {
                **shared,
                "panels": [
                    {"trajectories": run["hand"][:, on:end, :2], "title": "network"},
                    {"trajectories": batch["targets"][:, on:end, :2], "title": "minimum jerk"},
                    {"trajectories": beh["catch_run"]["hand"][:, on:end, :2], "title": "catch"},
                ],
            },
            f"Test trials with a {config['test_delay']:g} ms delay, no noise. Catch trials (no "
            "go cue) must stay at the centre.",
        ),
        Figure(
            "hand_speed",
            "Hand speed around movement onset",
            "lines",
            {
                "series": speed_series,
                "xlabel": "ms from movement onset",
                "ylabel": "speed (radius/s)",
            },
            "The network's hand speed per target against the minimum-jerk target (dashed).",
        ),
        Figure(
            "pca",
            "Population activity, top 3 PCs (target onset to trial end)",
            "trajectories",
            {
                **shared,
                "trajectories": pop["pca"].projections,
                "xlabel": "PC1",
                "ylabel": "PC2",
                "zlabel": "PC3",
            },
            "Condition-averaged rates from target onset to the end of the trial, one line per "
            "target.",
        ),
        Figure(
            "jpca",
            "jPCA around movement onset",
            "trajectories",
            {
                "colors": first,
                "clabel": "jPC1 at window start",
                "panels": [
                    {
                        "trajectories": jp.projections[:, :, 0:2],
                        "title": "plane 1 (fastest)",
                        "xlabel": "jPC1",
                        "ylabel": "jPC2",
                    },
                    {
                        "trajectories": jp.projections[:, :, 2:4],
                        "title": "plane 2",
                        "xlabel": "jPC3",
                        "ylabel": "jPC4",
                    },
                ],
            },
            f"Window {config['jpca_window'][0]:g} to {config['jpca_window'][1]:g} ms around "
            "movement onset; colour by the starting position on jPC1 as in Churchland et al. "
            "2012, Fig. 3.",
        ),
        Figure(
            "jpca_surrogates",
            f"Rotations against {len(sur.null_r2_skew)} tensor-normal surrogates",
            "histogram",
            {
                "panels": [
                    {
                        "samples": {"surrogates": sur.null_r2_skew},
                        "vlines": {f"network {sur.r2_skew:.2f}": sur.r2_skew},
                        "xlabel": r"$R^2_\mathrm{skew}$",
                    },
                    {
                        "samples": {"surrogates": sur.null_r2_ratio},
                        "vlines": {f"network {sur.r2_ratio:.2f}": sur.r2_ratio},
                        "xlabel": r"$R^2_\mathrm{skew} / R^2_\mathrm{best}$",
                    },
                ],
            },
            f"p = {sur.p_value:.3f} (R2_skew) and {sur.p_value_ratio:.3f} (ratio): surrogates "
            "keep the covariances across conditions, time and units (in expectation), nothing "
            "else.",
        ),
        _prep_figure(run, prep, batch, angles),
    ]


def _prep_figure(run, prep, batch, angles) -> Figure:
    on, go = int(batch["target_on"][0]), int(batch["go"][0])
    states = run["states"]
    space = pca(states[:, on:go], 2)
    paths = list(space.projections)
    colors = list(angles)
    for k, t in enumerate(prep["targets"]):
        if t["n_stable"]:
            paths += list(space.transform(t["points"][t["is_stable"]])[:, None, :])
            colors += [angles[k]] * t["n_stable"]
    return Figure(
        "preparatory_fixed_points",
        "Delay states and preparatory attractors",
        "trajectories",
        {
            "trajectories": paths,
            "colors": colors,
            "clabel": "target angle (deg)",
            "xlabel": "PC1 (delay states)",
            "ylabel": "PC2",
        },
        "Lines: the states from target onset to the go cue (circle: start, square: go). Lone "
        "markers: stable fixed points of the network with that target's input held and no go cue.",
    )


HEADLINE = {
    "endpoint_error_mean": "mean endpoint error (reach radii)",
    "jpca_r2_skew": "share of dynamics explained by rotation",
    "surrogate_p_value": "p, rotation vs surrogates",
    "targets_with_one_stable_point": "targets with one preparatory attractor",
}


def opening(m: dict[str, Any], config: dict[str, Any]) -> str:
    """What the run showed, for a reader who reads nothing else."""
    reach = (
        f"The network learned to reach: its hand ended on average {m['endpoint_error_mean']:.2f} "
        "reach radii from the target"
        if m["usable"]
        else f"The network did NOT learn to reach well (endpoint error up to "
        f"{m['endpoint_error_max']:.2f} reach radii)"
    )
    rotation = (
        f"its population activity rotates, as in monkey motor cortex, beyond what random "
        f"data with the same covariances show (p = {m['surrogate_p_value']:.3f})"
        if m["rotations_beyond_surrogates"]
        else f"its population rotations are not beyond what random data with the same "
        f"covariances show (p = {m['surrogate_p_value']:.3f})"
    )
    prep = (
        "Preparing a reach is settling into a target-specific attractor."
        if m["preparation_is_attractor"]
        else "This run does not show preparation as settling into a target-specific attractor."
    )
    return f"{reach}, and {rotation}. {prep}"


def explain(m: dict[str, Any], config: dict[str, Any]) -> str:
    return "\n\n".join(
        [
            _explain_training(m, config),
            _explain_rotations(m, config),
            _explain_prep(m, config),
            _explain_comparison(m),
        ]
    )


def _explain_training(m: dict[str, Any], config: dict[str, Any]) -> str:
    usable = "usable" if m["usable"] else "NOT usable"
    return (
        f"**Training.** A rate network of {config['units']} tanh units (tau = "
        f"{config['tau']:g} ms, Euler steps of {config['dt']:g} ms, input noise "
        f"{config['input_noise']:g} and recurrent noise {config['noise_std']:g}, L2 penalties "
        f"{config['rate_l2']:g} on rates and {config['weight_l2']:g} on weights, Adam with a "
        f"global gradient-norm clip of 1.0) was trained for {config['train_steps']} steps of "
        f"{config['batch_size']} trials (delays {config['delay'][0]:g}-{config['delay'][1]:g} "
        f"ms, {100 * config['catch_fraction']:.0f}% catch trials). On clean test trials "
        f"({config['test_delay']:g} ms delay) the endpoint error is "
        f"{m['endpoint_error_mean']:.3f} on average and {m['endpoint_error_max']:.3f} at worst, "
        f"in units of the reach radius; catch trials drift at most {m['catch_drift_max']:.3f} "
        f"and the hand moves at most {m['early_drift_max']:.3f} before movement onset; R^2 of "
        f"all outputs {m['output_r2']:.3f}. By our criterion (every endpoint error and every "
        f"catch-trial drift under {m['usable_threshold']:g} radius) the solution is **{usable}**."
    )


_CONVENTIONS = {
    "midpoint": "engram's convention: derivatives fitted against the midpoint of each step, "
    "soft-normalization ranges taken over the analysis window",
    "earlier": "the convention of Churchland et al. 2012's code: derivatives fitted against the "
    "earlier state of each step, soft-normalization ranges taken over the whole trial",
}


def _explain_rotations(m: dict[str, Any], config: dict[str, Any]) -> str:
    beyond = "beyond" if m["rotations_beyond_surrogates"] else "**not** beyond"
    window = config["jpca_window"]
    turn = 360 * m["jpca_plane1_frequency_hz"] * (window[1] - window[0]) / 1000
    return (
        f"**Rotations.** jPCA of the condition-averaged rates from {window[0]:g} to "
        f"{window[1]:g} ms around movement onset ({_CONVENTIONS[m['jpca_state']]}; 6 PCs "
        f"holding {100 * m['jpca_pc_variance']:.0f}% of the variance; soft-normalization "
        f"constant {config['soft_normalize']:g}, since tanh rates span at most 2, not tens of "
        f"spikes/s): $R^2_{{\\text{{skew}}}}$ = {m['jpca_r2_skew']:.2f} (the share of the "
        "population's change that a pure rotation explains), $R^2_{\\text{best}}$ = "
        f"{m['jpca_r2_best']:.2f} (the share any linear dynamics explains), "
        f"ratio {m['jpca_r2_ratio']:.2f}. The fastest plane turns at "
        f"{m['jpca_plane1_frequency_hz']:.2f} Hz ({turn:.0f} degrees over the window) and holds "
        f"{100 * m['jpca_plane1_variance']:.0f}% of the variance. That is {beyond} what "
        f"{m['n_surrogates']} surrogates give at the {m['significance']:g} level: random "
        "data drawn with the same covariances across conditions, time and units as the real "
        "rates (tensor-normal, in expectation), which have rotations only by chance "
        f"(p = {m['surrogate_p_value']:.3f} for $R^2_{{\\text{{skew}}}}$, surrogate median "
        f"{m['surrogate_median_r2_skew']:.2f}; p = {m['surrogate_p_value_ratio']:.3f} for the "
        f"ratio, surrogate median {m['surrogate_median_r2_ratio']:.2f}; the smallest p "
        f"{m['n_surrogates']} surrogates can give is {1 / (m['n_surrogates'] + 1):.3f})."
    )


def _explain_prep(m: dict[str, Any], config: dict[str, Any]) -> str:
    n = config["n_targets"]
    left, gap = m["prep_max_remaining_at_go"], m["prep_max_release_gap"]
    measured = (
        f"At the go cue ({config['test_delay']:g} ms) each delay state has at most "
        f"{100 * left:.1f}% of the way from its pre-target state to its nearest attractor left. "
        "Released from that attractor with the go cue, the network reaches its own target (the "
        f"nearest target to the endpoint) for {m['targets_whose_point_reaches_them']} of {n}, "
        f"with endpoint errors within {gap:.2g} radius of the trials' own."
        if left is not None
        else "No target has a stable fixed point to compare the delay states with."
    )
    return (
        f"**Preparatory states.** With a target's input held and no go cue, the fixed-point "
        f"finder (started from the delay states) finds exactly one stable fixed point for "
        f"{m['targets_with_one_stable_point']} of {n} targets (stable points per target "
        f"{m['prep_stable_per_target']}, all fixed points {m['prep_fixed_points_per_target']}). "
        f"{measured} {_verdict_preparation(m, n)}"
    )


def _verdict_preparation(m: dict[str, Any], n: int) -> str:
    """Preparation is convergence to a target-specific attractor only if every check holds."""
    if m["preparation_is_attractor"]:
        return (
            "So preparation here is **convergence to a target-specific attractor**, and that "
            "state is the initial condition from which the movement unfolds: the "
            "dynamical-systems view of preparation (Churchland et al. 2012; Sussillo et al. "
            "2015)."
        )
    failed = [
        None if m["usable"] else "the network does not perform the task (not usable)",
        None
        if m["targets_with_one_stable_point"] == n
        else f"only {m['targets_with_one_stable_point']} of {n} targets have exactly one "
        "stable fixed point",
        None
        if m["prep_settled_at_go"]
        else "the delay states have not converged to an attractor by the go cue (more than "
        f"{100 * m['prep_settled']:g}% of the way left)",
        _release_failure(m, n),
    ]
    return (
        "So this run does **not** show preparation as convergence to a target-specific "
        "attractor: " + "; ".join(x for x in failed if x) + "."
    )


def _release_failure(m: dict[str, Any], n: int) -> str | None:
    if m["prep_release_matches_trial"] or m["prep_max_release_gap"] is None:
        return None
    if m["targets_whose_point_reaches_them"] < n:
        return (
            "released from its attractor, the network reaches its own target for only "
            f"{m['targets_whose_point_reaches_them']} of {n}"
        )
    return (
        f"reaches released from the attractors end up to {m['prep_max_release_gap']:.2g} radius "
        f"from the trials' own endpoint errors (more than {m['release_match']:g})"
    )


def _explain_comparison(m: dict[str, Any]) -> str:
    low_dim = (
        f"{m['pcs_for_90_percent']} PCs hold 90% of the condition-averaged variance over the "
        f"trial (participation ratio {m['participation_ratio']:.1f})"
    )
    if not m["usable"]:
        matches = (
            "none: the network does not perform the task, so its analyses are not compared "
            "with findings in reaching monkeys"
        )
    else:
        found = [
            "rotations in the top jPCA plane around movement onset, as in Churchland et al. "
            "2012, Fig. 3, stronger than in surrogates that keep the covariances (Elsayed & "
            "Cunningham 2017's question)"
            if m["rotations_beyond_surrogates"]
            else None,
            "one attractor per target that the delay state converges to"
            if m["preparation_is_attractor"]
            else None,
            f"a low-dimensional solution ({low_dim}; at most {m['low_dim_pcs']} counts as low "
            "here), as Sussillo et al. 2015 found in their regularized networks"
            if m["low_dimensional"]
            else None,
        ]
        matches = "; ".join(x for x in found if x) or "none of the above"
    misses = [
        None
        if m["rotations_beyond_surrogates"]
        else f"no rotations beyond the surrogates (p = {m['surrogate_p_value']:.3f})",
        None
        if m["preparation_is_attractor"]
        else "preparation is not shown to be convergence "
        "to a target-specific attractor (see above)",
        None
        if m["low_dimensional"]
        else f"not low-dimensional by our criterion ({low_dim}; more than {m['low_dim_pcs']})",
        "no published value is printed beside R2_skew or the ratio: the papers' values are "
        "of recorded neurons under their own preprocessing, not of a network trained on this "
        "task, and Sabatini & Kaufman 2024's share of neural-response variance explained by "
        "a rotational model is a different measure",
        "the network outputs hand position and velocity, not the multiphasic muscle activity "
        "Sussillo et al. 2015 trained on; smooth bell-shaped kinematics imply some rotation by "
        "themselves (velocity leads position by a quarter cycle), which the surrogates do not "
        "control for",
        "no arm, no sensory feedback and no neural delay: the output follows the rates at "
        "once, so the jPCA window copies the monkeys' by convention, not physiology",
        "units are tanh rates that go negative; we compare statistics, never the network to "
        "recorded neurons (no CCA)",
        "not tested: Sussillo et al.'s regularized-against-unregularized comparison (try --set "
        "rate_l2=0 --set weight_l2=0) and the spread over seeds",
    ]
    return (
        f"**What matches the published findings:** {matches}.\n\n"
        "**What does not, or was not tested:** " + "; ".join(x for x in misses if x) + "."
    )
