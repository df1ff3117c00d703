"""How many random memories a Hopfield network holds: hebb, storkey, pseudo-inverse and modern.

For N units and P random unbiased +/-1 patterns (load alpha = P/N), each stored pattern is cued
with a copy that has 10% of its units flipped, the network runs (synchronous updates, up to 20
steps) and the pattern counts as retrieved when the final state overlaps it by more than 0.95.
The critical load is where the fraction retrieved, averaged over seeds, first falls below 0.5
(linear interpolation between the two loads around it). Measured values are printed beside the
published ones: Hebb alpha_c = 0.138 (Amit, Gutfreund & Sompolinsky 1985), Storkey above Hebb
(Storkey 1997), pseudo-inverse up to N patterns, modern networks exponential in N.

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
from engram.memory.hopfield import recall
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
    """Fraction retrieved, fraction of exact fixed points, and seconds spent storing."""
    retrieved, fixed = [], []
    weights, stored, store_seconds = None, 0, 0.0
    for p in counts:
        start = time.perf_counter()  # hebb, storkey: only the new patterns are added
        weights = update_weights(rule, patterns[:p], weights, stored)
        store_seconds += time.perf_counter() - start
        stored = p
        out = recall(
            weights, cues[:p], update=config["update"], max_steps=config["max_steps"],
            track_energy=False, seed=config["seed"],
        )  # fmt: skip
        overlap = np.einsum("ij,ij->i", out.states, patterns[:p]) / n
        retrieved.append(float(np.mean(overlap > config["retrieval_overlap"])))
        one_step = recall(weights, patterns[:p], max_steps=1, track_energy=False)
        fixed.append(float(np.mean(one_step.steps == 0)))
    return retrieved, fixed, store_seconds


def _modern_trial(n, loads, beta, rng, config):
    """Fraction retrieved by one update of the continuous modern network at each load."""
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
    """Critical load of the seed-averaged curve, and mean / sd of the per-seed values."""
    curves = np.asarray(curves)
    per_seed = [critical_load(loads, c) for c in curves]
    found = [v for v in per_seed if v is not None]
    return {
        "alpha_c": critical_load(loads, curves.mean(axis=0)),
        "alpha_c_seed_mean": float(np.mean(found)) if found else None,
        "alpha_c_seed_sd": float(np.std(found)) if len(found) > 1 else None,
        "seeds_found": len(found),
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
        curves = {r: ([], []) for r in rules}
        modern: dict[str, list[list[float]]] = {}
        for _ in progress(range(config["seeds"]), desc=f"N={n}", verbose=config["verbose"]):
            patterns = np.where(rng.random((p_max, n)) < 0.5, -1.0, 1.0).astype(np.float32)
            cues = flip_bits(patterns, config["flip_fraction"], rng)
            for rule in rules:
                start = time.perf_counter()
                retrieved, fixed, stored = _classic_trial(
                    rule, n, counts[rule], patterns, cues, config
                )
                out["seconds"][rule] += time.perf_counter() - start
                if n == max(config["sizes"]):  # storing the whole sweep once, largest N
                    out["store_seconds"][rule] = (stored, int(counts[rule][-1]), n)
                curves[rule][0].append(retrieved)
                curves[rule][1].append(fixed)
            if "modern" in config["rules"]:
                start = time.perf_counter()
                for name, beta in _modern_betas(n, config).items():
                    trial = _modern_trial(n, config["modern_loads"], beta, rng, config)
                    modern.setdefault(name, []).append(trial)
                out["seconds"]["modern"] += time.perf_counter() - start
        for rule in rules:
            loads = counts[rule] / n
            out["classic"].setdefault(rule, {})[n] = {
                "loads": loads,
                "retrieved": np.array(curves[rule][0]),
                "fixed": np.array(curves[rule][1]),
                **_summary(loads, curves[rule][0]),
            }
        for name, trials in modern.items():
            loads = np.asarray(config["modern_loads"], float)
            out["modern"].setdefault(name, {})[n] = {
                "loads": loads, "retrieved": np.array(trials), **_summary(loads, trials)
            }  # fmt: skip
    return out


def _modern_betas(n: int, config: dict[str, Any]) -> dict[str, float]:
    betas = {f"beta={config['modern_beta']:g}": float(config["modern_beta"])}
    if config["attention_beta"]:
        betas["beta=1/sqrt(N)"] = 1.0 / math.sqrt(n)
    return betas


def _fixed_load(v: dict[str, Any]) -> float:
    """The largest load tested up to which at least 99% of stored patterns are fixed points."""
    ok = v["fixed"].mean(axis=0) >= 0.99
    last = int(np.argmin(ok)) - 1 if not ok.all() else len(ok) - 1
    return float(v["loads"][last]) if last >= 0 else 0.0


def _finite_size_fit(per_n: dict[int, dict[str, Any]]) -> float | None:
    """alpha_c(N) = a + b / sqrt(N) fitted by least squares; returns a (N -> infinity)."""
    points = [(n, v["alpha_c"]) for n, v in per_n.items() if v["alpha_c"] is not None]
    if len(points) < 2:
        return None
    x = np.array([1 / math.sqrt(n) for n, _ in points])
    y = np.array([a for _, a in points])
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept)


def run(config: dict[str, Any]) -> Result:
    # The matrices here are small (N <= 500): one BLAS thread is as fast on an idle machine and
    # much faster when the cores are shared with other jobs.
    with single_blas_thread():
        data = _measure(config)
    metrics = _metrics(data, config)
    return Result(
        metrics=metrics,
        figures=report.figures(data, config),
        tables=[report.table(data, config)],
        text=report.explain(data, metrics, config),
        arrays={
            f"{rule}_N{n}_retrieved": v["retrieved"]
            for group in ("classic", "modern")
            for rule, per_n in data[group].items()
            for n, v in per_n.items()
        },
    )


def _metrics(data: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    critical = {
        rule: {str(n): v["alpha_c"] for n, v in per_n.items()}
        for group in ("classic", "modern")
        for rule, per_n in data[group].items()
    }
    spread = {
        rule: {str(n): v["alpha_c_seed_sd"] for n, v in per_n.items()}
        for rule, per_n in data["classic"].items()
    }
    metrics: dict[str, Any] = {
        "critical_load": critical,
        "critical_load_seed_sd": spread,
        "definition": "load where the seed-averaged fraction retrieved (overlap > "
        f"{config['retrieval_overlap']} from {config['flip_fraction']:.0%} flipped units) "
        "first falls below 0.5, linearly interpolated",
        "seconds_per_rule": {k: round(v, 3) for k, v in data["seconds"].items()},
        "store_seconds_largest_sweep": {
            k: round(v[0], 4) for k, v in data["store_seconds"].items()
        },
        "fixed_point_load": {
            rule: {str(n): _fixed_load(v) for n, v in per_n.items()}
            for rule, per_n in data["classic"].items()
        },
        "published_hebb": 0.138,
    }
    hebb = data["classic"].get("hebb", {})
    if hebb:
        largest = max(hebb)
        metrics[f"hebb_alpha_c_N{largest}"] = hebb[largest]["alpha_c"]
        metrics["hebb_alpha_c_extrapolated"] = _finite_size_fit(hebb)
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
        reference="Amit, Gutfreund & Sompolinsky 1985; Storkey 1997; Personnaz et al. 1985; "
        "Demircigil et al. 2017; Ramsauer et al. 2020.",
        defaults={
            "seed": 0,
            "sizes": (100, 200, 500),
            "seeds": 10,
            "rules": ("hebb", "storkey", "pseudo_inverse", "modern"),
            "grid": "fine",
            "flip_fraction": 0.1,
            "retrieval_overlap": 0.95,
            "update": "sync",
            "max_steps": 20,
            "modern_loads": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
            "modern_beta": 1.0,
            "attention_beta": True,
            "modern_max_cues": 200,
        },
        quick={"sizes": (100,), "seeds": 5, "modern_loads": (0.5, 1.0, 2.0, 4.0, 8.0)},
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
