"""How many random memories a Hopfield network holds: hebb, storkey, pseudo-inverse and modern.

For N units and P random unbiased +/-1 patterns (load alpha = P/N), two measures per load:

- **from the stored pattern** (the critical load as Amit, Gutfreund & Sompolinsky 1985 define
  it: the load where the retrieval state stops existing): recall starts at each stored pattern,
  runs to a fixed point (``update``, at most ``max_steps`` steps) and the pattern counts as
  retrieved when the final overlap exceeds ``retrieval_overlap``;
- **from cues** (the basin of attraction): the same, started from a copy of the pattern with
  ``flip_fraction`` of its units flipped.

The critical load of either curve is where its seed-averaged value first falls below 0.5
(`engram.memory.capacity.critical_load`, which also says when the curve never falls or starts
below). For Hebb, alpha_c(N) = a + b / sqrt(N) is fitted over the sizes (once on the averages,
once per seed for the spread) and a is compared with 0.138. Exact fixed points (one synchronous
update changes nothing) are compared with the error-free capacities N / (2 ln N) (Hebb,
McEliece et al. 1987) and N / sqrt(2 ln N) (Storkey 1997). The modern network is measured from
cues, one update.

Advice from a development run (the defaults, seed 0), not a finding: the half-way crossing
from the stored pattern sat well above 0.138 and fell slowly with N (0.221, 0.187, 0.168 at
N = 100, 200, 500); the fit extrapolated to 0.123, and fitted seed by seed to 0.128 +/- 0.031
(sd over 10 seeds), so compare the extrapolation with 0.138 only with its spread, and use 10
seeds or more. Quick mode (N = 100, 200, 5 seeds, coarse grid) is a smoke run: its fit moves by
several hundredths with the seed.

This file measures; `_hopfield_capacity_report` turns the results into the figures, the table of
measured beside published critical loads, and the text.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from engram.experiments import _hopfield_capacity_report as report
from engram.experiments.base import Experiment, Result, progress, register
from engram.memory.capacity import critical_load
from engram.memory.hopfield import recall, retrieved_fraction
from engram.memory.hopfield_rules import update_weights
from engram.memory.modern_hopfield import ModernHopfield
from engram.memory.patterns import flip_bits
from engram.nn.layers.recurrent_base import single_blas_thread
from engram.validation import as_rng, check_choice

CLASSIC = ("hebb", "storkey", "pseudo_inverse")
# (first load, last load, step) of the load sweep per rule
GRIDS = {
    "fine": {"hebb": (0.02, 0.30, 0.01), "storkey": (0.04, 0.60, 0.02),
             "pseudo_inverse": (0.05, 0.95, 0.05)},
    "coarse": {"hebb": (0.04, 0.30, 0.02), "storkey": (0.05, 0.60, 0.05),
               "pseudo_inverse": (0.1, 0.9, 0.1)},
}  # fmt: skip


def _loads(rule: str, n: int, grid: str) -> np.ndarray:
    """The sweep's loads, rounded to whole patterns (duplicates dropped)."""
    lo, hi, step = GRIDS[grid][rule]
    counts = np.unique(np.maximum(1, np.round(np.arange(lo, hi + step / 2, step) * n)))
    return counts.astype(int)


def _classic_trial(rule, n, counts, patterns, cues, config):
    """Per load: fraction retrieved from the stored patterns themselves (AGS), from the cues
    (basin), fraction of exact fixed points; and the seconds spent storing."""
    stable, retrieved, fixed = [], [], []
    weights, stored, store_seconds = None, 0, 0.0
    settings = {"overlap": config["retrieval_overlap"], "update": config["update"],
                "max_steps": config["max_steps"], "seed": config["seed"]}  # fmt: skip
    for p in counts:
        start = time.perf_counter()  # hebb, storkey: only the new patterns are added
        weights = update_weights(rule, patterns[:p], weights, stored)
        store_seconds += time.perf_counter() - start
        stored = p
        stable.append(retrieved_fraction(weights, patterns[:p], **settings))
        retrieved.append(retrieved_fraction(weights, patterns[:p], cues[:p], **settings))
        one_step = recall(weights, patterns[:p], max_steps=1, track_energy=False)
        fixed.append(float(np.mean(one_step.steps == 0)))
    return {"stable": stable, "retrieved": retrieved, "fixed": fixed}, store_seconds


def _modern_trial(n, loads, beta, rng, config):
    """Fraction retrieved by one update of the continuous modern network at each load, from
    cues with ``flip_fraction`` of their units flipped."""
    p_max = int(round(max(loads) * n))
    patterns = np.where(rng.random((p_max, n)) < 0.5, -1.0, 1.0).astype(np.float32)
    n_cues = min(config["modern_max_cues"], p_max)
    cues = flip_bits(patterns[:n_cues], config["flip_fraction"], rng)
    fractions = []
    for load in loads:
        p = int(round(load * n))
        k = min(n_cues, p)
        out = ModernHopfield(beta).store(patterns[:p]).recall(cues[:k], max_steps=1)
        overlap = np.einsum("ij,ij->i", out.states, patterns[:k]) / n
        fractions.append(float(np.mean(overlap > config["retrieval_overlap"])))
    return fractions


def _summary(loads, curves):
    """Critical load of the seed-averaged curve and of each seed's curve."""
    curves = np.asarray(curves)
    per_seed = [critical_load(loads, c) for c in curves]
    found = [c.value for c in per_seed if c.crossed]
    return {
        "critical": critical_load(loads, curves.mean(axis=0)),
        "per_seed": per_seed,
        "seed_mean": float(np.mean(found)) if found else None,
        "seed_sd": float(np.std(found, ddof=1)) if len(found) > 1 else None,
    }


def _measure(config: dict[str, Any]) -> dict[str, Any]:
    check_choice(config["grid"], "grid", tuple(GRIDS))
    check_choice(config["update"], "update", ("sync", "async"))
    for rule in config["rules"]:
        check_choice(rule, "rules", (*CLASSIC, "modern"))
    rng = as_rng(config["seed"])
    rules = [r for r in config["rules"] if r in CLASSIC]
    out: dict[str, Any] = {
        "classic": {},
        "modern": {},
        "seconds": dict.fromkeys(config["rules"], 0.0),
        "store_seconds": {},
    }
    for n in config["sizes"]:
        counts = {r: _loads(r, n, config["grid"]) for r in rules}
        p_max = max((int(c[-1]) for c in counts.values()), default=1)
        curves: dict[str, dict[str, list]] = {r: {} for r in rules}
        modern: dict[str, list[list[float]]] = {}
        for _ in progress(range(config["seeds"]), desc=f"N={n}", verbose=config["verbose"]):
            patterns = np.where(rng.random((p_max, n)) < 0.5, -1.0, 1.0).astype(np.float32)
            cues = flip_bits(patterns, config["flip_fraction"], rng)
            for rule in rules:
                start = time.perf_counter()
                trial, stored = _classic_trial(rule, n, counts[rule], patterns, cues, config)
                out["seconds"][rule] += time.perf_counter() - start
                if n == max(config["sizes"]):  # storing the whole sweep once, largest N
                    out["store_seconds"][rule] = (stored, int(counts[rule][-1]), n)
                for key, values in trial.items():
                    curves[rule].setdefault(key, []).append(values)
            if "modern" in config["rules"]:
                start = time.perf_counter()
                for name, beta in _modern_betas(n, config).items():
                    trial = _modern_trial(n, config["modern_loads"], beta, rng, config)
                    modern.setdefault(name, []).append(trial)
                out["seconds"]["modern"] += time.perf_counter() - start
        for rule in rules:
            loads = counts[rule] / n
            c = {k: np.array(v) for k, v in curves[rule].items()}
            out["classic"].setdefault(rule, {})[n] = {
                "loads": loads, **c,
                "ags": _summary(loads, c["stable"]), "basin": _summary(loads, c["retrieved"]),
            }  # fmt: skip
        for name, trials in modern.items():
            loads = np.asarray(config["modern_loads"], float)
            out["modern"].setdefault(name, {})[n] = {
                "loads": loads, "retrieved": np.array(trials), "basin": _summary(loads, trials)
            }  # fmt: skip
    return out


def _modern_betas(n: int, config: dict[str, Any]) -> dict[str, float]:
    betas = {f"beta={config['modern_beta']:g}": float(config["modern_beta"])}
    if config["attention_beta"]:
        betas["beta=1/sqrt(N)"] = 1.0 / math.sqrt(n)
    return betas


def _fixed_load(v: dict[str, Any]) -> float | None:
    """The largest load tested up to which at least 99% of stored patterns are fixed points
    (None: fewer already at the first load)."""
    ok = v["fixed"].mean(axis=0) >= 0.99
    last = int(np.argmin(ok)) - 1 if not ok.all() else len(ok) - 1
    return float(v["loads"][last]) if last >= 0 else None


def _line_intercept(sizes: list[int], values: list[float]) -> float:
    """a of alpha_c(N) = a + b / sqrt(N), least squares."""
    x = 1 / np.sqrt(np.asarray(sizes, np.float64))
    return float(np.polyfit(x, np.asarray(values, np.float64), 1)[1])


def finite_size_fit(per_n: dict[int, dict[str, Any]], key: str = "ags") -> dict[str, Any] | None:
    """Extrapolate the critical load to N -> infinity by alpha_c(N) = a + b / sqrt(N).

    The form is an assumption (a leading 1/sqrt(N) correction), not a published law. The fit
    runs on the seed-averaged critical loads and, for the spread, once per seed (seed s at every
    size): the intercepts' mean, standard deviation and standard error.

    Returns:
        None when fewer than two sizes have a crossing inside the sweep; else a dict with
        ``intercept`` (the seed-averaged fit), ``sizes`` used, and ``seed_mean``, ``seed_sd``,
        ``seed_sem``, ``n_seeds`` (None where fewer than two seeds could be fitted).
    """
    sizes = sorted(n for n, v in per_n.items() if v[key]["critical"].crossed)
    if len(sizes) < 2:
        return None
    fit: dict[str, Any] = {
        "intercept": _line_intercept(sizes, [per_n[n][key]["critical"].value for n in sizes]),
        "sizes": sizes, "seed_mean": None, "seed_sd": None, "seed_sem": None, "n_seeds": 0,
    }  # fmt: skip
    per_seed = []
    for s in range(min(len(per_n[n][key]["per_seed"]) for n in sizes)):
        found = [per_n[n][key]["per_seed"][s] for n in sizes]
        if all(c.crossed for c in found):
            per_seed.append(_line_intercept(sizes, [c.value for c in found]))
    fit["n_seeds"] = len(per_seed)
    if len(per_seed) > 1:
        sd = float(np.std(per_seed, ddof=1))
        fit.update(seed_mean=float(np.mean(per_seed)), seed_sd=sd,
                   seed_sem=sd / math.sqrt(len(per_seed)))  # fmt: skip
    return fit


def run(config: dict[str, Any]) -> Result:
    # The matrices here are small (N <= 500): one BLAS thread is as fast on an idle machine and
    # much faster when the cores are shared with other jobs.
    with single_blas_thread():
        data = _measure(config)
    data["fit"] = finite_size_fit(data["classic"]["hebb"]) if "hebb" in data["classic"] else None
    metrics = _metrics(data, config)
    return Result(
        metrics=metrics,
        figures=report.figures(data, config),
        tables=[report.table(data, config)],
        text=report.explain(data, metrics, config),
        opening=report.opening(data, config),
        headline=report.headline(metrics),
        arrays={
            f"{rule}_N{n}_{curve}": v[curve]
            for group in ("classic", "modern")
            for rule, per_n in data[group].items()
            for n, v in per_n.items()
            for curve in ("stable", "retrieved")
            if curve in v
        },
    )


def _per_size(data: dict[str, Any], key: str, field: str) -> dict[str, dict[str, Any]]:
    """{rule: {N: field of the ``key`` summary's critical load}} over classic and modern."""
    return {
        rule: {str(n): getattr(v[key]["critical"], field) for n, v in per_n.items()}
        for group in ("classic", "modern")
        for rule, per_n in data[group].items()
        if all(key in v for v in per_n.values())
    }


def _metrics(data: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    hebb = data["classic"].get("hebb", {})
    if hebb:  # headline first: Hebb's critical load as AGS define it, then its extrapolation
        largest = max(hebb)
        metrics[f"hebb_alpha_c_N{largest}"] = hebb[largest]["ags"]["critical"].value
        fit = data["fit"] or {}
        metrics["hebb_alpha_c_extrapolated"] = fit.get("intercept")
        metrics["hebb_alpha_c_extrapolated_seed_sd"] = fit.get("seed_sd")
    metrics.update({
        "critical_load": _per_size(data, "ags", "value"),
        "critical_load_status": _per_size(data, "ags", "status"),
        "critical_load_seed_sd": {
            rule: {str(n): v["ags"]["seed_sd"] for n, v in per_n.items()}
            for rule, per_n in data["classic"].items()
        },
        "definition": "critical load alpha_c: load where the seed-averaged fraction of stored "
        f"patterns whose recall, started at the pattern itself, ends with overlap > "
        f"{config['retrieval_overlap']} first falls below 0.5 (linear interpolation)",
        "basin_critical_load": _per_size(data, "basin", "value"),
        "basin_critical_load_status": _per_size(data, "basin", "status"),
        "basin_definition": "the same, recall started from cues with "
        f"{config['flip_fraction']:.0%} of the units flipped",
        "fixed_point_load": {
            rule: {str(n): _fixed_load(v) for n, v in per_n.items()}
            for rule, per_n in data["classic"].items()
        },
        "published_hebb": 0.138,
        "seconds_per_rule": {k: round(v, 3) for k, v in data["seconds"].items()},
        "store_seconds_largest_sweep": {
            k: round(v[0], 4) for k, v in data["store_seconds"].items()
        },
    })  # fmt: skip
    return metrics


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """Classic rules: a few N x N float64 matrices; modern: load x N patterns of N float32."""
    n = max(config["sizes"])
    classic = 48 * n * n if set(config["rules"]) & set(CLASSIC) else 0
    modern = 12 * max(config["modern_loads"]) * n * n if "modern" in config["rules"] else 0
    return {"memory_bytes": max(classic, modern), "detail": f"N = {n:,} neurons"}


EXPERIMENT = register(
    Experiment(
        name="hopfield-capacity",
        summary="How many random patterns Hopfield networks hold: Hebb, Storkey, pseudo-inverse, "
        "modern.",
        reference="Amit, Gutfreund & Sompolinsky 1985; McEliece et al. 1987; Storkey 1997; "
        "Personnaz et al. 1985; Demircigil et al. 2017; Ramsauer et al. 2020.",
        defaults={
            "seed": 0,
            "sizes": (100, 200, 500),
            "seeds": 10,
            "rules": ("hebb", "storkey", "pseudo_inverse", "modern"),
            "grid": "fine",
            "flip_fraction": 0.1,
            "retrieval_overlap": 0.95,
            "update": "sync",
            "max_steps": 50,
            "modern_loads": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
            "modern_beta": 1.0,
            "attention_beta": True,
            "modern_max_cues": 200,
        },
        quick={
            "sizes": (100, 200),
            "seeds": 5,
            "grid": "coarse",
            "modern_loads": (0.5, 1.0, 2.0, 4.0, 8.0),
        },
        run=run,
        limits={
            "sizes": "[10, inf)",
            "seeds": "[1, 100000]",
            "rules": ("hebb", "storkey", "pseudo_inverse", "modern"),
            "grid": tuple(GRIDS),
            "flip_fraction": "[0, 0.5]",
            "retrieval_overlap": "[0, 1]",
            "update": ("sync", "async"),
            "max_steps": "[1, inf)",
            "modern_loads": "(0, inf)",
            "modern_beta": "(0, inf)",
            "modern_max_cues": "[1, inf)",
        },
        cost=cost,
        constraint=lambda c: (
            None
            if "modern" not in c["rules"] or round(min(c["modern_loads"]) * min(c["sizes"])) >= 1
            else f"Setting modern_loads stores no pattern at load {min(c['modern_loads']):g} "
            f"and size {min(c['sizes'])}. Use loads of at least {1 / min(c['sizes']):g}."
        ),
    )
)
