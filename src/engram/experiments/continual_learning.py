"""Continual learning: every method in every scenario of van de Ven & Tolias (2019).

A ReLU MLP learns the contexts of a stream one after another (split: the classes in pairs,
5 contexts; permuted: a fixed pixel permutation per context) in the task-, domain- and
class-incremental scenarios, with each method of `engram.continual.methods`; after each context
it is tested on all of them, giving the accuracy matrix R[i, j].

The paper's settings are the defaults (``0`` means "the benchmark's value"): split, 784-400-400,
Adam lr 1e-3, 2000 iterations per context; permuted, 784-1000-1000, lr 1e-4, 5000 iterations,
10 contexts; batch 128. The paper pads MNIST to 32x32 (1024 inputs); engram uses the 784
pixels. Generative replay's VAE has the classifier's hidden layers (``generator_hidden=0``) and 100
latent units, as in the paper's code. The EWC and SI strengths are searched per scenario: the
strengths of van de Ven & Tolias's code (``param_values.py``, found there by a grid search on split
and permuted MNIST) times each factor of ``strength_search`` (default 1e-4, 0.01, 1, 100) are tried
on held-out training images (`engram.continual.search_strength`; the test sets are not looked at),
and the best is used; ``strength_search=1`` uses the published values as they are, and
``ewc_strength`` / ``si_strength`` fix a strength for every scenario. The search runs a shorter
protocol: ``search_iterations`` per context (0: a quarter of the runs' iterations, 500 for the
paper's 2000; set it to the runs' iterations for a full-length search), which the report and
metrics.json state. The grid's factors are a hundred apart, so a strength's rank among them is
expected to change little with the length of training; but the best strength on the shorter
protocol need not be the best on the full one, and the report says so.

Speed: every stream (each method in each scenario, each search candidate) is an independent job
(`engram.continual.jobs`), run on ``workers`` single-threaded processes (0: one per core); the
run of a searched method starts as soon as its search is done. Generative replay learns the three
scenarios side by side in one job (`engram.continual.train_streams`): its generator sees only
the inputs, the same batches in every scenario, so it is trained once for all three (it was
two thirds of that method's step); that long job starts first. The results are the same, bit for
bit, for any number of workers. metrics.json records the wall time, the CPU time of all the
processes together (``cpu_seconds``) and the number of workers. Development runs on the
embedded digits (quick settings) found the published task-incremental EWC strength (1e5) so strong
that the shared weights hardly moved after the first context (EWC then equals online EWC, and stays
below fine-tuning), which is why the strengths are searched.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np

from engram.continual import StrengthSearch
from engram.continual.jobs import Job, Source, available_cores, resolve_workers, run_jobs
from engram.continual.methods import METHODS
from engram.continual.search import candidate_jobs, collect
from engram.experiments.base import Experiment, Result, register

SCENARIO_NAMES = ("task", "domain", "class")
METHOD_NAMES = (
    "none",
    "joint",
    "ewc",
    "online-ewc",
    "si",
    "lwf",
    "replay",
    "hippocampal-replay",
    "generative-replay",
)
# van de Ven & Tolias (2019), Tables 4 and 5, average accuracy (%) on MNIST, (task, domain,
# class), as quoted in engram issue 15 (copied from the issue, not re-read from the paper).
PAPER = {
    "split": {
        "none": (87.19, 59.21, 19.90),
        "ewc": (98.64, 63.95, 20.01),
        "online-ewc": (99.12, 64.32, 19.96),
        "si": (99.09, 65.36, 19.99),
        "lwf": (99.57, 71.50, 23.85),
        "generative-replay": (99.61, 96.83, 91.79),  # "DGR+distill"
    },
    "permuted": {
        "none": (81.79, 78.51, 17.26),
        "ewc": (94.74, 94.31, 25.04),
        "online-ewc": (95.96, 94.42, 33.88),
        "si": (94.75, 95.33, 29.31),
    },
}
BENCHMARK = {
    "split": {"hidden_units": (400, 400), "learning_rate": 1e-3, "iterations": 2000},
    "permuted": {"hidden_units": (1000, 1000), "learning_rate": 1e-4, "iterations": 5000},
}
# van de Ven & Tolias's code, param_values.py (github.com/GMvandeVen/continual-learning)
STRENGTH = {
    "split": {"ewc": (1e5, 1e10, 1e9), "si": (10.0, 5e4, 5e3)},
    "permuted": {"ewc": (100.0, 100.0, 100.0), "si": (10.0, 10.0, 5.0)},
}


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """The run's settings with the benchmark's values where the config says 0."""
    paper = BENCHMARK[config["benchmark"]]
    hidden = tuple(int(h) for h in config["hidden_units"] if int(h) > 0) or paper["hidden_units"]
    return {
        "hidden": hidden,
        "learning_rate": config["learning_rate"] or paper["learning_rate"],
        "iterations": config["iterations"] or paper["iterations"],
    }


REGULARISED = {"ewc": "ewc", "online-ewc": "ewc", "si": "si"}  # method -> its strength setting


def method_options(
    config: dict[str, Any], method: str, scenario: str, chosen: dict | None = None
) -> dict[str, Any]:
    """The settings one method gets in one scenario (``chosen``: searched strengths by
    (scenario, method), used where the config sets none)."""
    s = SCENARIO_NAMES.index(scenario)
    strengths = STRENGTH[config["benchmark"]]
    if method in REGULARISED:
        key = REGULARISED[method]
        strength = config[f"{key}_strength"] or (chosen or {}).get(
            (scenario, method), strengths[key][s]
        )
        if key == "ewc":
            return {"strength": strength, "fisher_samples": config["fisher_samples"]}
        return {"strength": strength}
    if method in ("replay", "hippocampal-replay"):
        return {"capacity": config["replay_capacity"]}
    if method == "generative-replay":
        hidden = tuple(int(h) for h in config["generator_hidden"] if int(h) > 0)
        return {
            "generator_hidden": hidden or settings(config)["hidden"],
            "latent": config["latent"],
        }
    return {}


def search_iterations(config: dict[str, Any], run_settings: dict[str, Any]) -> int:
    """Iterations per context in the strength search: the config's, or (0) a quarter of the
    run's, rounded up."""
    return int(config["search_iterations"]) or -(-int(run_settings["iterations"]) // 4)


def search_jobs(config, methods, scenarios, source, run_settings) -> dict[tuple, list[Job]]:
    """Per (scenario, method) to search, the candidate strengths' jobs (`candidate_jobs`): the
    published strength (van de Ven & Tolias's code) times each factor of ``strength_search``,
    on held-out training images, `search_iterations` per context. A method whose strength the
    config sets is not searched, nor any when the only factor is 1."""
    factors = tuple(float(f) for f in config["strength_search"])
    found = {}
    for scenario in scenarios:
        for method in methods:
            key = REGULARISED.get(method)
            if key is None or config[f"{key}_strength"] or set(factors) == {1.0}:
                continue
            base = STRENGTH[config["benchmark"]][key][SCENARIO_NAMES.index(scenario)]
            options = method_options(config, method, scenario)
            options.pop("strength")
            found[scenario, method] = candidate_jobs(
                method,
                source,
                scenario,
                [base * f for f in factors],
                seed=config["seed"],
                batch_size=config["batch_size"],
                **{**run_settings, "iterations": search_iterations(config, run_settings)},
                **options,
            )
    return found


def run(config: dict[str, Any]) -> Result:
    methods = [METHODS.get(m).name for m in config["methods"]]
    scenarios = [s for s in config["scenarios"] if s in SCENARIO_NAMES]
    if not scenarios:
        raise ValueError(
            f"scenarios must name some of {SCENARIO_NAMES}. Got {config['scenarios']}."
        )
    source = Source(
        config["dataset"],
        config["benchmark"],
        config["seed"],
        config["data_dir"],
        config["n_contexts"],
        config["train_limit"],
    )
    stream = source.load()
    run_settings = settings(config)
    seeds = [config["seed"] + i for i in range(max(1, config["seeds"]))]
    searching = search_jobs(config, methods, scenarios, source, run_settings)
    chosen: dict[tuple[str, str], float] = {}
    searches: dict[tuple[str, str], StrengthSearch] = {}

    def runs(scenario: str, method: str) -> list[Job]:
        options = method_options(config, method, scenario, chosen)
        return [
            Job(
                source,
                method,
                scenario,
                {"batch_size": config["batch_size"], "seed": seed, **run_settings, **options},
                key=("run", scenario, method, seed),
            )
            for seed in seeds
        ]

    finished: dict[tuple[str, str], list] = {pair: [] for pair in searching}

    def then(done) -> list[Job]:  # a search's last candidate finished: its runs can start
        _, scenario, method, _ = done.job.key
        finished[scenario, method].append(done)
        if len(finished[scenario, method]) < len(searching[scenario, method]):
            return []
        order = {job.key: i for i, job in enumerate(searching[scenario, method])}
        found = collect(sorted(finished[scenario, method], key=lambda d: order[d.job.key]))
        searches[scenario, method] = found
        chosen[scenario, method] = found.best
        return runs(scenario, method)

    # a method that shares work across scenarios (`Method.share`) learns them side by side in
    # one job; those long jobs go first, so that the shorter ones fill the other workers
    shared = [m for m in methods if shares_across_scenarios(m) and len(scenarios) > 1]
    shared = [m for m in shared if not any((s, m) in searching for s in scenarios)]
    jobs = [
        dataclasses.replace(job, scenario=tuple(scenarios), key=("runs", m, job.key[3]))
        for m in shared
        for job in runs(scenarios[0], m)
    ]
    jobs += [dataclasses.replace(j, then=then) for group in searching.values() for j in group]
    jobs += [
        j
        for s in scenarios
        for m in methods
        if (s, m) not in searching and m not in shared
        for j in runs(s, m)
    ]
    n_streams = sum(map(len, searching.values())) + len(scenarios) * len(methods) * len(seeds)
    bar = _progress(n_streams * len(stream), config["verbose"])
    workers = resolve_workers(config["workers"], n_streams)
    start, cpu = time.perf_counter(), _cpu_seconds()
    done = run_jobs(jobs, workers, bar, {source: stream})
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    if bar is not None:
        bar.close()
    by_key = {d.job.key: d.result for d in done if d.job.key[0] != "runs"}
    by_key.update(
        {("run", r.scenario, *d.job.key[1:]): r for d in done if d.job.key[0] == "runs"
         for r in d.results}
    )  # fmt: skip
    results = {
        s: {m: [by_key["run", s, m, seed] for seed in seeds] for m in methods} for s in scenarios
    }
    metrics = _metrics(results, stream, run_settings, config, seconds)
    metrics.update(
        {
            "cpu_seconds": cpu,
            "workers": workers,
            "cores": available_cores(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "streams": n_streams,
            "search_iterations": search_iterations(config, run_settings) if searches else None,
        }
    )
    metrics["strength_search"] = {
        f"{f.scenario}/{f.method}": {
            "candidates": list(f.candidates),
            "validation_accuracy": list(f.validation_accuracy),
            "chosen": f.best,
            "iterations": f.iterations,
        }
        for f in (searches[pair] for pair in searching)
    }
    from engram.experiments import _continual_report as report

    return Result(
        metrics=metrics,
        figures=report.figures(results, stream),
        tables=[report.table(metrics, config)] + report.search_tables(metrics),
        text=report.text(metrics, config, stream),
        opening=report.opening(metrics),
        headline=report.headline(metrics),
    )


def shares_across_scenarios(method: str) -> bool:
    """Whether ``method`` does part of its work the same in every scenario (it overrides
    `Method.share`), so its runs in all scenarios are one side-by-side job."""
    from engram.continual.methods import Method

    return METHODS.get(method).share is not Method.share


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished child processes (the
    workers, once the pool has joined them)."""
    import resource

    return sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def _metrics(results, stream, run_settings, config, seconds) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dataset": config["dataset"],
        "benchmark": config["benchmark"],
        "contexts": [c.name for c in stream.contexts],
        "network": "-".join(str(n) for n in (stream.n_features, *run_settings["hidden"])),
        "iterations": run_settings["iterations"],
        "learning_rate": run_settings["learning_rate"],
        "seeds": len(next(iter(next(iter(results.values())).values()))),
        "seconds": seconds,
    }
    for key in ("accuracy", "accuracy_std", "bwt", "fwt", "matrices", "options"):
        out[key] = {s: {} for s in results}
    for scenario, by_method in results.items():
        for method, runs in by_method.items():
            acc = [r.average for r in runs]
            out["accuracy"][scenario][method] = float(np.mean(acc))
            out["accuracy_std"][scenario][method] = float(np.std(acc))
            out["bwt"][scenario][method] = float(np.mean([r.bwt for r in runs]))
            out["fwt"][scenario][method] = float(np.mean([r.fwt for r in runs]))
            out["matrices"][scenario][method] = runs[0].accuracy.round(4).tolist()
            info = {k: v for k, v in runs[0].info.items() if not isinstance(v, list)}
            out["options"][scenario][method] = info
    return out


def _progress(total: int, verbose: int):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="continual-learning", unit="context", leave=False)


def cost(config: dict[str, Any]) -> dict[str, Any]:
    """The MLP's weights with their gradients and Adam's two slots (float32), for the larger
    of the benchmark's and the config's hidden layers."""
    hidden = (
        tuple(h for h in config["hidden_units"] if h)
        or BENCHMARK[config["benchmark"]]["hidden_units"]
    )
    widths = (784, *hidden, 10)
    weights = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=False))
    return {"memory_bytes": 16 * weights * 2, "detail": f"{weights:,} weights"}


EXPERIMENT = register(
    Experiment(
        name="continual-learning",
        summary="Why networks forget, and EWC, SI, LwF and replay in the three scenarios.",
        reference=(
            "van de Ven & Tolias (2019), 'Three scenarios for continual learning', "
            "arXiv:1904.07734; Kirkpatrick et al. 2017 (EWC); Schwarz et al. 2018 (online EWC); "
            "Zenke, Poole & Ganguli 2017 (SI); Li & Hoiem 2017 (LwF); McClelland, McNaughton & "
            "O'Reilly 1995 (complementary learning systems); Lopez-Paz & Ranzato 2017 (metrics)."
        ),
        defaults={
            "seed": 0,
            "dataset": "mnist",
            "data_dir": "",
            "benchmark": "split",
            "methods": METHOD_NAMES,
            "scenarios": SCENARIO_NAMES,
            "iterations": 0,
            "batch_size": 128,
            "hidden_units": (0,),
            "learning_rate": 0.0,
            "n_contexts": 10,
            "train_limit": 0,
            "seeds": 1,
            "ewc_strength": 0.0,
            "si_strength": 0.0,
            "fisher_samples": 1000,
            "replay_capacity": 1000,
            "strength_search": (1e-4, 0.01, 1.0, 100.0),
            "generator_hidden": (0,),
            "latent": 100,
            "search_iterations": 0,
            "workers": 0,
        },
        quick={
            "dataset": "digits",
            "iterations": 40,
            "batch_size": 32,
            "hidden_units": (64,),
            "fisher_samples": 50,
            "replay_capacity": 200,
            "strength_search": (1e-4, 0.01, 1.0),
            "generator_hidden": (64,),
            "latent": 8,
        },
        run=run,
        limits={
            "dataset": ("mnist", "mnist-t10k", "fashion-mnist", "digits"),
            "benchmark": ("split", "permuted"),
            "methods": METHOD_NAMES,
            "scenarios": SCENARIO_NAMES,
            "iterations": "[0, 10000000]",
            "batch_size": "[1, 100000]",
            "hidden_units": "[0, 100000]",
            "learning_rate": "[0, inf)",
            "n_contexts": "[2, 100]",
            "train_limit": "[0, inf)",
            "seeds": "[1, 1000]",
            "ewc_strength": "[0, inf)",
            "si_strength": "[0, inf)",
            "fisher_samples": "[1, 10000000]",
            "replay_capacity": "[1, 10000000]",
            "strength_search": "(0, inf)",
            "generator_hidden": "[0, 100000]",
            "latent": "[1, 100000]",
            "search_iterations": "[0, 10000000]",
            "workers": "[0, 1024]",
        },
        cost=cost,
    )
)
