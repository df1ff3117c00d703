"""A rate network trained to reach: rotational dynamics (jPCA) and preparatory fixed points.

A continuous-time rate network (`engram.motor.RateRNN`, tanh units) with a linear readout is
trained on the delayed center-out reach (`ReachTask`): it sees the target from target onset and
a go cue, and must hold the hand at the centre through a random delay, then produce the hand's
position and velocity along a minimum-jerk path. Training follows Sussillo et al. 2015's recipe
for "simple" solutions (input and recurrent noise, L2 penalties on rates and weights) and
MotorNet's gradient clipping. The trained network is then analysed as the monkeys were:

* hand paths and speed profiles for every target;
* condition-averaged rates in PCA, and jPCA around movement onset with R2_skew, R2_best and the
  tensor-normal surrogate test (Churchland et al. 2012; Elsayed & Cunningham 2017);
* fixed points with the target input held and no go cue: the preparatory states.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments.base import Experiment, Figure, Result, Table, register
from engram.motor import (
    RateRNN,
    ReachTask,
    condition_average,
    find_fixed_points,
    fit_task,
    jpca_surrogate_test,
    pca,
)
from engram.motor.rate_network import single_blas_thread
from engram.nn import Sequential
from engram.nn.layers import Dense
from engram.nn.optimizers import Adam

#: a reach is "usable" when every endpoint and every catch-trial drift is under this x radius
USABLE_ERROR = 0.2


def make_task(config: dict[str, Any], *, train: bool = True) -> ReachTask:
    """The reach task of ``config``: training (noise, catch trials) or clean test trials."""
    timing = {key: config[key] for key in ("fixation", "reaction", "movement", "hold")}
    timing.update(dt=config["dt"], delay=tuple(config["delay"]))
    return ReachTask(
        n_targets=config["n_targets"],
        radius=1.0,
        timing=timing,
        catch_fraction=config["catch_fraction"] if train else 0.0,
        outputs=("position", "velocity"),
        input_noise=config["input_noise"] if train else 0.0,
        seed=config["seed"],
    )


def train_network(config: dict[str, Any], task: ReachTask) -> tuple[Sequential, dict]:
    """RateRNN + Dense readout, trained with the masked loss and L2 penalties."""
    rnn = RateRNN(
        config["units"],
        dt=config["dt"],
        tau=config["tau"],
        noise_std=config["noise_std"],
        recurrent_gain=config["recurrent_gain"],
        input_shape=(task.n_steps, task.n_inputs),
    )
    model = Sequential([rnn, Dense(task.n_outputs)], seed=config["seed"])
    optimizer = Adam(learning_rate=config["learning_rate"], global_clipnorm=1.0)
    history = fit_task(
        model,
        lambda _: task.sample(config["batch_size"]),
        config["train_steps"],
        optimizer,
        rate_l2=config["rate_l2"],
        weight_l2=config["weight_l2"],
        verbose=config["verbose"],
        desc="motor-reach",
    )
    return model, history


def simulate(model: Sequential, inputs: np.ndarray, initial_state=None) -> dict[str, np.ndarray]:
    """States, rates and hand outputs of the noiseless network, float64."""
    states, rates = model.layers[0].simulate(inputs, initial_state)
    dense = model.layers[1].params
    hand = rates @ dense["weights"].astype(np.float64) + dense["bias"]
    return {"states": states.astype(np.float64), "rates": rates.astype(np.float64), "hand": hand}


def behaviour(model: Sequential, test: ReachTask, config: dict[str, Any]) -> dict[str, Any]:
    """One clean trial per target (fixed delay) and one catch trial per target."""
    n = test.n_targets
    go = test.sample(n, conditions=range(n), delays=config["test_delay"], catch=False)
    catch = test.sample(n, conditions=range(n), delays=config["test_delay"], catch=True)
    run, run_catch = simulate(model, go["inputs"]), simulate(model, catch["inputs"])
    end = go["trial_end"] - 1
    endpoints = run["hand"][np.arange(n), end, :2]
    errors = np.linalg.norm(endpoints - test.target_positions, axis=1) / test.radius
    before = np.arange(test.n_steps)[None, :] < go["movement_onset"][:, None]
    early = np.linalg.norm(run["hand"][:, :, :2], axis=-1)[before].max() / test.radius
    in_trial = np.arange(test.n_steps)[None, :] < catch["trial_end"][:, None]
    drift = np.linalg.norm(run_catch["hand"][:, :, :2], axis=-1)[in_trial].max() / test.radius
    mask = go["mask"] > 0
    residual = np.sum((run["hand"] - go["targets"])[mask] ** 2)
    return {
        "batch": go,
        "catch_batch": catch,
        "run": run,
        "catch_run": run_catch,
        "endpoint_errors": errors,
        "catch_drift": float(drift),
        "early_drift": float(early),
        "output_r2": float(
            1 - residual / np.sum((go["targets"] - go["targets"][mask].mean()) ** 2 * mask)
        ),
    }


def population(beh: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """PCA of the whole trial and jPCA with its surrogate test around movement onset."""
    batch, rates = beh["batch"], beh["run"]["rates"]
    dt = config["dt"]
    before = int(round(-config["jpca_window"][0] / dt))
    after = int(round(config["jpca_window"][1] / dt)) + 1
    window = condition_average(
        rates, batch["condition"], batch["movement_onset"], before=before, after=after
    )
    times = np.arange(-before, after) * dt / 1000.0
    test = jpca_surrogate_test(
        window,
        n_surrogates=config["n_surrogates"],
        method="tensor_normal",
        times=times,
        soft_normalize=config["soft_normalize"],
        seed=config["seed"],
    )
    start, stop = int(batch["target_on"][0]), int(batch["trial_end"][0])
    whole = pca(rates[:, start:stop], 3)
    return {"surrogate": test, "jpca": test.observed, "pca": whole, "times": times}


def preparatory_fixed_points(model: Sequential, beh: dict, test: ReachTask, config: dict) -> dict:
    """Fixed points with target k's input held and no go cue, and where each one reaches to."""
    step, jacobian = model.layers[0].recurrent_map()
    batch, states = beh["batch"], beh["run"]["states"]
    n, on, go = test.n_targets, int(batch["target_on"][0]), int(batch["go"][0])
    delay_end = states[:, go - 1]
    before = states[:, on - 1] if on > 0 else np.zeros_like(delay_end)
    picks = np.linspace(on, go - 1, config["fp_starts"]).round().astype(int)
    rows = []
    for k in range(n):
        u = np.array([*test.target_positions[k], 0.0])
        starts = np.concatenate([states[k, picks], delay_end])
        found = find_fixed_points(
            step, jacobian, starts, inputs=u, max_iter=config["fp_iterations"]
        )
        ends = (before[k], delay_end[k])
        rows.append(_describe_target(model, found, k, ends, u, batch, test))
    return {"targets": rows, "delay_end": delay_end}


def _describe_target(model, found, k, ends, u, batch, test) -> dict[str, Any]:
    """The attractor nearest the delay-end state: how close the state got, and its reach."""
    before, delay_end = ends
    row: dict[str, Any] = {"n_points": len(found), "n_stable": int(found.is_stable.sum())}
    row["n_unstable"] = row["n_points"] - row["n_stable"]
    row["points"], row["is_stable"] = found.points, found.is_stable
    if row["n_stable"] == 0:
        nan = float("nan")
        return {
            **row,
            "remaining": nan,
            "hand_at_point": nan,
            "release_error": nan,
            "released_to": -1,
        }
    stable = found.stable_points
    nearest = stable[np.argmin(np.linalg.norm(stable - delay_end, axis=1))]
    go_inputs = batch["inputs"][k : k + 1, int(batch["go"][k]) : int(batch["trial_end"][k])]
    end = simulate(model, go_inputs, nearest)["hand"][0, -1, :2]
    at_point = simulate(model, u[None, None, :], nearest)["hand"][0, 0, :2]
    return {
        **row,
        # the share of the way from the pre-target state to the attractor still left at go
        "remaining": float(np.linalg.norm(nearest - delay_end) / np.linalg.norm(nearest - before)),
        "hand_at_point": float(np.linalg.norm(at_point) / test.radius),
        "release_error": float(np.linalg.norm(end - test.target_positions[k]) / test.radius),
        "released_to": int(np.argmin(np.linalg.norm(test.target_positions - end, axis=1))),
    }


def run(config: dict[str, Any]) -> Result:
    with single_blas_thread():  # small matrices throughout: see `single_blas_thread`
        return _run(config)


def _run(config: dict[str, Any]) -> Result:
    task, test = make_task(config), make_task(config, train=False)
    model, history = train_network(config, task)
    beh = behaviour(model, test, config)
    pop = population(beh, config)
    prep = preparatory_fixed_points(model, beh, test, config)
    metrics = _metrics(history, beh, pop, prep, test)
    return Result(
        metrics=metrics,
        figures=_figures(history, beh, pop, prep, test, config),
        tables=[_target_table(beh, prep, test)],
        text=_explain(metrics, config),
        arrays={
            "task_loss": history["task_loss"],
            "rates": beh["run"]["rates"],
            "hand": beh["run"]["hand"],
            "jpca_projections": pop["jpca"].projections,
            "null_r2_skew": pop["surrogate"].null_r2_skew,
        },
    )


def _finite_or_none(value: float) -> float | None:
    """NaN (no attractor found for a target) becomes None: null in metrics.json."""
    return float(value) if np.isfinite(value) else None


def _metrics(history, beh, pop, prep, test) -> dict[str, Any]:
    errors, jp, sur = beh["endpoint_errors"], pop["jpca"], pop["surrogate"]
    targets = prep["targets"]
    maps = [t["released_to"] == k for k, t in enumerate(targets)]
    usable = bool(errors.max() < USABLE_ERROR and beh["catch_drift"] < USABLE_ERROR)
    return {
        "final_train_loss": float(history["task_loss"][-20:].mean()),
        "endpoint_error_mean": float(errors.mean()),
        "endpoint_error_max": float(errors.max()),
        "endpoint_error_per_target": [float(e) for e in errors],
        "catch_drift_max": beh["catch_drift"],
        "early_drift_max": beh["early_drift"],
        "output_r2": beh["output_r2"],
        "usable": usable,
        "usable_threshold": USABLE_ERROR,
        "pca_variance_top3": [float(v) for v in pop["pca"].explained_variance_ratio],
        "jpca_r2_skew": jp.r2_skew,
        "jpca_r2_best": jp.r2_best,
        "jpca_r2_ratio": jp.r2_ratio,
        "jpca_plane1_frequency_hz": float(jp.frequencies[0]),
        "jpca_plane1_variance": float(jp.variance_per_plane[0]),
        "jpca_pc_variance": float(jp.pc_variance_ratio.sum()),
        "surrogate_p_value": sur.p_value,
        "surrogate_p_value_ratio": sur.p_value_ratio,
        "surrogate_median_r2_skew": float(np.median(sur.null_r2_skew)),
        "surrogate_median_r2_ratio": float(np.median(sur.null_r2_ratio)),
        "n_surrogates": len(sur.null_r2_skew),
        "prep_fixed_points_per_target": [t["n_points"] for t in targets],
        "prep_stable_per_target": [t["n_stable"] for t in targets],
        "targets_with_one_stable_point": int(sum(t["n_stable"] == 1 for t in targets)),
        "targets_whose_point_reaches_them": int(sum(maps)),
        "prep_remaining_at_go": [_finite_or_none(t["remaining"]) for t in targets],
        "prep_release_error": [_finite_or_none(t["release_error"]) for t in targets],
    }


# ------------------------------------------------------------------------------ report


def _angles(test: ReachTask) -> np.ndarray:
    return np.degrees(np.arctan2(test.target_positions[:, 1], test.target_positions[:, 0])) % 360


def _target_table(beh, prep, test) -> Table:
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


def _figures(history, beh, pop, prep, test, config) -> list[Figure]:
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
            "Bell-shaped speed profiles against the minimum-jerk target.",
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
            "Condition-averaged rates: preparatory states fan out during the delay, then each "
            "condition sweeps through the movement.",
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
                        "xlabel": "R2_skew",
                    },
                    {
                        "samples": {"surrogates": sur.null_r2_ratio},
                        "vlines": {f"network {sur.r2_ratio:.2f}": sur.r2_ratio},
                        "xlabel": "R2_skew / R2_best",
                    },
                ],
            },
            f"p = {sur.p_value:.3f} (R2_skew) and {sur.p_value_ratio:.3f} (ratio): surrogates "
            "keep the covariance across conditions, time and units, nothing else.",
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


def _explain(m: dict[str, Any], config: dict[str, Any]) -> str:
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
        f"catch-trial drift under {USABLE_ERROR:g} radius) the solution is **{usable}**."
    )


def _explain_rotations(m: dict[str, Any], config: dict[str, Any]) -> str:
    verdict = "beyond" if m["surrogate_p_value"] <= 0.05 else "**not** beyond"
    return (
        f"**Rotations.** jPCA of the condition-averaged rates from {config['jpca_window'][0]:g} "
        f"to {config['jpca_window'][1]:g} ms around movement onset (6 PCs holding "
        f"{100 * m['jpca_pc_variance']:.0f}% of the variance; soft-normalization constant "
        f"{config['soft_normalize']:g} because tanh rates span about 2, not tens of spikes/s): "
        f"R2_skew = {m['jpca_r2_skew']:.2f}, R2_best = {m['jpca_r2_best']:.2f}, ratio "
        f"{m['jpca_r2_ratio']:.2f}. The fastest plane turns at "
        f"{m['jpca_plane1_frequency_hz']:.2f} Hz and holds {100 * m['jpca_plane1_variance']:.0f}% "
        f"of the variance. That is {verdict} what {m['n_surrogates']} tensor-normal surrogates "
        f"with the same covariances across conditions, time and units give (p = "
        f"{m['surrogate_p_value']:.3f} for R2_skew, surrogate median "
        f"{m['surrogate_median_r2_skew']:.2f}; p = {m['surrogate_p_value_ratio']:.3f} for the "
        f"ratio, surrogate median {m['surrogate_median_r2_ratio']:.2f})."
    )


def _explain_prep(m: dict[str, Any], config: dict[str, Any]) -> str:
    n = config["n_targets"]
    pairs = [
        (left, abs(release - trial))
        for left, release, trial in zip(
            m["prep_remaining_at_go"],
            m["prep_release_error"],
            m["endpoint_error_per_target"],
            strict=True,
        )
        if left is not None
    ]
    left, gap = np.max(pairs, axis=0) if pairs else (np.nan, np.nan)
    left = 100 * left
    return (
        f"**Preparatory states.** With a target's input held and no go cue, the fixed-point "
        f"finder (started from the delay states) finds exactly one stable fixed point for "
        f"{m['targets_with_one_stable_point']} of {n} targets (stable points per target "
        f"{m['prep_stable_per_target']}, all fixed points {m['prep_fixed_points_per_target']}). "
        f"At the go cue ({config['test_delay']:g} ms) each delay state has at most {left:.1f}% "
        "of the way from its pre-target state to its attractor left. Released from the "
        "attractor itself with the go cue, the network reaches its own target (the nearest "
        f"target to the endpoint) for {m['targets_whose_point_reaches_them']} of {n}, with "
        f"endpoint errors within {gap:.1g} of the trials' own. So preparation here is "
        "convergence to a target-specific attractor, and that state is the initial condition "
        "from which the movement unfolds: the dynamical-systems view of preparation "
        "(Churchland et al. 2012; Sussillo et al. 2015). This depends on the training delays: "
        "in a development run with the full settings but MotorNet's 300-600 ms delays, 5 of 8 "
        "targets' delay states were still drifting at the go cue, their attractors far away, "
        "so preparation used a slow transient (try --set delay=300,600); delays up to "
        "1 s made the attractors appear."
    )


def _explain_comparison(m: dict[str, Any]) -> str:
    n = len(m["prep_stable_per_target"])
    rotations = m["surrogate_p_value"] <= 0.05
    attractors = m["targets_with_one_stable_point"] == n
    within = 0.2 <= m["jpca_r2_skew"] <= 0.5
    kaufman = (
        "Sabatini & Kaufman put the share of M1/PMd variance that rotational models explain at "
        f"about 20-50%; our R2_skew of {m['jpca_r2_skew']:.2f} is "
        f"{'within' if within else 'outside'} that range (the measures differ: a loose "
        "comparison)"
    )
    matches = [
        "rotations in the top jPCA plane around movement onset, ordered by the preparatory "
        "state, as in Churchland et al. 2012, Fig. 3, and stronger than in surrogates that keep "
        "the covariances (Elsayed & Cunningham 2017's question)"
        if rotations
        else None,
        "one attractor per target during the delay" if attractors else None,
        f"a low-dimensional solution (3 PCs hold {100 * sum(m['pca_variance_top3']):.0f}% of "
        "the variance over the trial), the kind Sussillo et al. 2015 got only from regularized "
        "networks",
        kaufman if within else None,
    ]
    misses = [
        None
        if rotations
        else f"no rotations beyond the surrogates (p = {m['surrogate_p_value']:.3f})",
        None
        if attractors
        else f"not one attractor per target (stable points: {m['prep_stable_per_target']})",
        None if within else kaufman,
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
        "**What matches the published findings:** "
        + ("; ".join(x for x in matches if x) or "none of the above")
        + ".\n\n**What does not, or was not tested:** "
        + "; ".join(x for x in misses if x)
        + "."
    )


EXPERIMENT = register(
    Experiment(
        name="motor-reach",
        summary="A rate network trained to reach: rotations in jPCA, one preparatory attractor "
        "per target.",
        reference="Churchland et al. 2012, Nature 487:51; Sussillo et al. 2015, Nat. Neurosci. "
        "18:1025; Sussillo & Barak 2013; Elsayed & Cunningham 2017.",
        defaults={
            "seed": 0,
            "units": 100,
            "n_targets": 8,
            "dt": 10.0,
            "tau": 50.0,
            "fixation": 200.0,
            "delay": (300.0, 1000.0),
            "reaction": 150.0,
            "movement": 500.0,
            "hold": 200.0,
            "test_delay": 600.0,
            "catch_fraction": 0.2,
            "input_noise": 0.05,
            "noise_std": 0.05,
            "recurrent_gain": 1.0,
            "rate_l2": 1e-3,
            "weight_l2": 1e-5,
            "batch_size": 64,
            "train_steps": 2000,
            "learning_rate": 0.005,
            "jpca_window": (-50.0, 150.0),
            "soft_normalize": 0.1,
            "n_surrogates": 200,
            "fp_starts": 12,
            "fp_iterations": 200,
        },
        quick={
            "units": 48,
            "dt": 20.0,
            "fixation": 100.0,
            "delay": (200.0, 800.0),
            "reaction": 100.0,
            "movement": 400.0,
            "hold": 100.0,
            "test_delay": 500.0,
            "train_steps": 1200,
            "learning_rate": 0.01,
            "n_surrogates": 39,
        },
        run=run,
    )
)
