"""A rate network trained to reach: rotational dynamics (jPCA) and preparatory fixed points.

A continuous-time rate network (`engram.motor.RateRNN`, tanh units) with a linear readout is
trained on the delayed center-out reach (`ReachTask`): it sees the target from target onset and
a go cue, and must hold the hand at the centre through a random delay, then produce the hand's
position and velocity along a minimum-jerk path. Training follows Sussillo et al. 2015's recipe
for "simple" solutions (input and recurrent noise, L2 penalties on rates and weights) and
MotorNet's gradient clipping. The trained network is then analysed as the monkeys were:

* hand paths and speed profiles for every target;
* condition-averaged rates in PCA (how many PCs hold 90% of the variance), and jPCA around
  movement onset with R2_skew, R2_best and the tensor-normal surrogate test (Churchland et al.
  2012; Elsayed & Cunningham 2017). ``jpca_convention`` picks engram's fit ("midpoint": the
  derivative against the step's midpoint, normalization over the analysis window) or the
  original code's ("churchland2012": against the earlier state, normalization over the whole
  trial); the report names the one that ran;
* fixed points with the target input held and no go cue: the preparatory states. The report
  calls preparation "convergence to a target-specific attractor" only when the network is
  usable, every target has exactly one stable point, the delay state is within PREP_SETTLED
  of it at the go cue, and reaches released from each attractor go to their own target with
  endpoint errors within RELEASE_MATCH of the trials'.

Advice from development runs: with the full settings but MotorNet's 300-600 ms delays
(``--set delay=300,600``), 5 of 8 targets' delay states were still drifting at the go cue,
their attractors far away, so preparation used a slow transient; delays up to 1 s made the
attractors appear. An untrained network (quick mode, ``--set train_steps=2``) is not usable,
yet its jPCA rotations also beat 39 tensor-normal surrogates (p = 0.025): rotations alone do
not show that a network solves the task. With the quick settings the trained network needs 7
PCs for 90% of the trial's variance, the untrained one 3.

This file trains and analyses; `_motor_reach_report` turns the results into figures, the
per-target table and the text, and `_rate_network` holds the network and training loop it shares
with flip-flop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments import _motor_reach_report as report
from engram.experiments._rate_network import readout, train_rate_network
from engram.experiments.base import Experiment, Result, register
from engram.motor import ReachTask, condition_average, find_fixed_points, jpca_surrogate_test, pca
from engram.motor.rate_network import single_blas_thread
from engram.nn import Sequential
from engram.validation import check_choice

#: a reach is "usable" when every endpoint and every catch-trial drift is under this x radius
USABLE_ERROR = 0.2
#: the delay state has "converged" when at most this share of the way to its attractor is left
PREP_SETTLED = 0.1
#: a reach released from the attractor "matches" when its endpoint error is within this x radius
#: of the trial's own
RELEASE_MATCH = 0.05
#: "low-dimensional": this share of the trial's variance in at most LOW_DIM_PCS PCs (6: the
#: dimensions jPCA fits the dynamics in, Churchland et al. 2012)
LOW_DIM_VARIANCE = 0.9
LOW_DIM_PCS = 6
#: the surrogate test's level
SIGNIFICANCE = 0.05
#: ``jpca_convention``: how jPCA fits and normalizes (see `engram.motor.jpca`)
JPCA_CONVENTIONS = ("midpoint", "churchland2012")


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
    return train_rate_network(
        config,
        task,
        desc="motor-reach",
        rate_l2=config["rate_l2"],
        weight_l2=config["weight_l2"],
    )


def simulate(model: Sequential, inputs: np.ndarray, initial_state=None) -> dict[str, np.ndarray]:
    """States, rates and hand outputs of the noiseless network, float64."""
    states, rates = model.layers[0].simulate(inputs, initial_state)
    hand = readout(model, rates)
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
    start, stop = int(batch["target_on"][0]), int(batch["trial_end"][0])
    original = config["jpca_convention"] == "churchland2012"
    test = jpca_surrogate_test(
        window,
        n_surrogates=config["n_surrogates"],
        method="tensor_normal",
        times=times,
        soft_normalize=config["soft_normalize"],
        state="earlier" if original else "midpoint",
        # the original code takes the ranges over every time it is given: the whole trial
        normalize_over=condition_average(rates[:, :stop], batch["condition"]) if original else None,
        seed=config["seed"],
    )
    trial = condition_average(rates[:, start:stop], batch["condition"])
    spectrum = pca(trial, min(trial.shape[0] * trial.shape[1], trial.shape[2]))
    return {
        "surrogate": test,
        "jpca": test.observed,
        "pca": pca(trial, 3),
        "variance_spectrum": spectrum.explained_variance_ratio,
        "times": times,
    }


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
    check_choice(config["jpca_convention"], "jpca_convention", JPCA_CONVENTIONS)
    task, test = make_task(config), make_task(config, train=False)
    model, history = train_network(config, task)
    beh = behaviour(model, test, config)
    pop = population(beh, config)
    prep = preparatory_fixed_points(model, beh, test, config)
    metrics = _metrics(history, beh, pop, prep, test)
    return Result(
        metrics=metrics,
        figures=report.figures(history, beh, pop, prep, test, config),
        tables=[report.target_table(beh, prep, test)],
        text=report.explain(metrics, config),
        opening=report.opening(metrics, config),
        headline=report.HEADLINE,
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


def _preparation(targets, errors) -> dict[str, Any]:
    """The per-target preparatory measures, summarised, and whether each condition holds."""
    found = [t for t in targets if t["n_stable"] > 0]
    left = max((t["remaining"] for t in found), default=float("nan"))
    gap = max(
        (abs(t["release_error"] - errors[k]) for k, t in enumerate(targets) if t["n_stable"]),
        default=float("nan"),
    )
    reaches = sum(t["released_to"] == k for k, t in enumerate(targets))
    return {
        "targets_with_one_stable_point": int(sum(t["n_stable"] == 1 for t in targets)),
        "targets_whose_point_reaches_them": int(reaches),
        "prep_max_remaining_at_go": _finite_or_none(left),
        "prep_max_release_gap": _finite_or_none(gap),
        "prep_settled_at_go": bool(left <= PREP_SETTLED),  # False for NaN
        "prep_release_matches_trial": bool(reaches == len(targets) and gap <= RELEASE_MATCH),
    }


def _metrics(history, beh, pop, prep, test) -> dict[str, Any]:
    errors, jp, sur = beh["endpoint_errors"], pop["jpca"], pop["surrogate"]
    targets = prep["targets"]
    usable = bool(errors.max() < USABLE_ERROR and beh["catch_drift"] < USABLE_ERROR)
    spectrum = pop["variance_spectrum"]
    pcs_90 = int(np.searchsorted(np.cumsum(spectrum), LOW_DIM_VARIANCE) + 1)
    summary = _preparation(targets, errors)
    summary["preparation_is_attractor"] = bool(
        usable
        and summary["targets_with_one_stable_point"] == len(targets)
        and summary["prep_settled_at_go"]
        and summary["prep_release_matches_trial"]
    )
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
        "significance": SIGNIFICANCE,
        "prep_settled": PREP_SETTLED,
        "release_match": RELEASE_MATCH,
        "low_dim_pcs": LOW_DIM_PCS,
        "pca_variance_top3": [float(v) for v in pop["pca"].explained_variance_ratio],
        "pcs_for_90_percent": pcs_90,
        "participation_ratio": float(spectrum.sum() ** 2 / np.sum(spectrum**2)),
        "low_dimensional": bool(pcs_90 <= LOW_DIM_PCS),
        "jpca_state": jp.state,
        "jpca_r2_skew": jp.r2_skew,
        "jpca_r2_best": jp.r2_best,
        "jpca_r2_ratio": jp.r2_ratio,
        "jpca_plane1_frequency_hz": float(jp.frequencies[0]),
        "jpca_plane1_variance": float(jp.variance_per_plane[0]),
        "jpca_pc_variance": float(jp.pc_variance_ratio.sum()),
        "surrogate_p_value": sur.p_value,
        "surrogate_p_value_ratio": sur.p_value_ratio,
        "rotations_beyond_surrogates": bool(sur.p_value <= SIGNIFICANCE),
        "surrogate_median_r2_skew": float(np.median(sur.null_r2_skew)),
        "surrogate_median_r2_ratio": float(np.median(sur.null_r2_ratio)),
        "n_surrogates": len(sur.null_r2_skew),
        "prep_fixed_points_per_target": [t["n_points"] for t in targets],
        "prep_stable_per_target": [t["n_stable"] for t in targets],
        "prep_remaining_at_go": [_finite_or_none(t["remaining"]) for t in targets],
        "prep_release_error": [_finite_or_none(t["release_error"]) for t in targets],
        **summary,
    }


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """Weights, Adam and Jacobians (units^2) and BPTT states over the longest trial."""
    u, b = config["units"], config["batch_size"]
    span = sum(config[k] for k in ("fixation", "reaction", "movement", "hold"))
    t = int((span + max(config["delay"])) / config["dt"]) + 1
    flops = 6 * config["train_steps"] * b * t * u * u
    return {
        "memory_bytes": 8 * (12 * u * u + 8 * b * t * u),
        "seconds": flops / 5e10,  # an optimistic 50 GFLOP/s: a lower bound on the time
        "detail": f"{u:,} units, batch {b} x {t:,} steps, {config['train_steps']:,} steps",
    }


def constraint(c: dict[str, Any]) -> str | None:
    """Settings that must agree with each other, checked before the run (None when they do)."""
    if c["dt"] > c["tau"]:
        return f"Settings dt and tau need dt <= tau. Got dt = {c['dt']:g}, tau = {c['tau']:g}."
    if not c["dt"] <= c["test_delay"] <= max(c["delay"]):
        return (
            f"Setting test_delay must lie between dt ({c['dt']:g}) and the longest delay "
            f"({max(c['delay']):g}). Got {c['test_delay']:g} instead."
        )
    if c["jpca_window"][1] - c["jpca_window"][0] < c["dt"]:
        return (
            f"Setting jpca_window must span at least dt ({c['dt']:g}) ms. Got {c['jpca_window']}."
        )
    return None


EXPERIMENT = register(
    Experiment(
        name="motor-reach",
        summary="A rate network trained to reach: rotations in jPCA, and whether preparation "
        "converges to one attractor per target.",
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
            "jpca_convention": "midpoint",
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
        limits={
            "units": "[6, inf)",
            "n_targets": "[2, 360]",
            "dt": "(0, inf)",
            "tau": "(0, inf)",
            "fixation": "[0, inf)",
            "delay": "[0, inf) x2",
            "reaction": "[0, inf)",
            "movement": "(0, inf)",
            "hold": "[0, inf)",
            "test_delay": "[0, inf)",
            "catch_fraction": "[0, 1)",
            "input_noise": "[0, 10]",
            "noise_std": "[0, 10]",
            "recurrent_gain": "[0, 10]",
            "rate_l2": "[0, inf)",
            "weight_l2": "[0, inf)",
            "batch_size": "[1, inf)",
            "train_steps": "[1, inf)",
            "learning_rate": "(0, inf)",
            "jpca_window": "[-inf, inf] x2",
            "soft_normalize": "[0, inf)",
            "n_surrogates": "[1, inf)",
            "fp_starts": "[1, inf)",
            "fp_iterations": "[1, inf)",
        },
        cost=cost,
        constraint=constraint,
    )
)
