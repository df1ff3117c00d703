"""Figures, table and computed sentences of the continual-learning experiment."""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.experiments.base import Figure, Table

SCENARIO_TEXT = {
    "task": "task-incremental",
    "domain": "domain-incremental",
    "class": "class-incremental",
}


def paper_values(config: dict[str, Any]) -> dict[str, tuple[float, ...]]:
    """The published numbers for this run, or {} (only MNIST has them)."""
    from engram.experiments.continual_learning import PAPER

    if config["dataset"] != "mnist":
        return {}
    return PAPER.get(config["benchmark"], {})


def figures(results, stream) -> list[Figure]:
    out = []
    names = [f"{j + 1}" for j in range(len(stream))]
    for scenario, by_method in results.items():
        out.append(
            Figure(
                f"matrices_{scenario}",
                f"Accuracy matrices, {SCENARIO_TEXT[scenario]} (%)",
                "heatmap",
                {
                    "panels": [
                        {"title": m, "matrix": 100 * runs[0].accuracy}
                        for m, runs in by_method.items()
                    ],
                    "ncols": 4,
                    "xticklabels": names,
                    "yticklabels": names,
                    "xlabel": "tested on context",
                    "ylabel": "after learning context",
                    "vmin": 0,
                    "vmax": 100,
                    "fmt": ".0f",
                },
                "R[i, j]: test accuracy on context j after learning contexts 1..i (first seed).",
            )
        )
        out.append(
            Figure(
                f"stream_{scenario}",
                f"Each context's accuracy over the stream, {SCENARIO_TEXT[scenario]}",
                "lines",
                {
                    "panels": [
                        {
                            "title": m,
                            "series": {
                                f"context {j + 1}": {
                                    "x": runs[0].curve_steps,
                                    "y": 100 * runs[0].curves[:, j],
                                }
                                for j in range(len(stream))
                            },
                        }
                        for m, runs in by_method.items()
                    ],
                    "ncols": 4,
                    "xlabel": "iteration",
                    "ylabel": "test accuracy (%)",
                    "ylim": (0, 100),
                },
                "Each line is one context's test accuracy as the stream goes on (first seed).",
            )
        )
    methods = list(next(iter(results.values())))
    out.append(
        Figure(
            "methods",
            "Average accuracy over all contexts after the last one",
            "bars",
            {
                "labels": methods,
                "values": {
                    s: [100 * float(np.mean([r.average for r in runs])) for runs in by.values()]
                    for s, by in results.items()
                },
                "ylabel": "average accuracy (%)",
                "ylim": (0, 100),
            },
            "One bar per method and scenario (mean over seeds).",
        )
    )
    return out


def table(metrics: dict[str, Any], config: dict[str, Any]) -> Table:
    paper = paper_values(config)
    columns = ["method"]
    for s in metrics["accuracy"]:
        columns += [f"{s} ACC %", f"{s} BWT"] + ([f"{s} paper %"] if paper else [])
    rows = []
    for method in next(iter(metrics["accuracy"].values())):
        row: list[Any] = [method]
        for s in metrics["accuracy"]:
            acc, std = metrics["accuracy"][s][method], metrics["accuracy_std"][s][method]
            row.append(f"{100 * acc:.2f}" + (f" ± {100 * std:.2f}" if metrics["seeds"] > 1 else ""))
            row.append(f"{metrics['bwt'][s][method]:+.3f}")
            if paper:
                value = paper.get(method)
                row.append(f"{value[('task', 'domain', 'class').index(s)]:.2f}" if value else "")
        rows.append(row)
    return Table("Average accuracy (ACC) and backward transfer (BWT) per scenario", columns, rows)


def search_tables(metrics: dict[str, Any]) -> list[Table]:
    """The strengths tried per scenario and method, with their held-out accuracy (if searched)."""
    found = metrics.get("strength_search") or {}
    if not found:
        return []
    rows = [
        [
            key.replace("/", " / "),
            ", ".join(f"{c:g}: {100 * a:.1f}%" for c, a in zip(
                v["candidates"], v["validation_accuracy"], strict=True)),
            f"{v['chosen']:g}",
        ]
        for key, v in found.items()
    ]  # fmt: skip
    return [
        Table(
            "Regularisation strengths searched (held-out training images, average accuracy)",
            ["scenario / method", "strength: held-out accuracy", "chosen"],
            rows,
        )
    ]


def _edge_sentence(searched: dict[str, Any]) -> str:
    """Whether the chosen strengths lie at the edge of the grid (the best may lie beyond)."""
    low = [k for k, v in searched.items() if v["chosen"] == min(v["candidates"])]
    high = [k for k, v in searched.items() if v["chosen"] == max(v["candidates"])]
    edge = [k for k in searched if k in low or k in high]
    if not edge or all(len(v["candidates"]) < 2 for v in searched.values()):
        return ""
    return (
        f" For {len(edge)} of the {len(searched)} searches the best strength was the grid's "
        + ("smallest" if not high else "largest" if not low else "smallest or largest")
        + f" ({', '.join(edge)}): a better one may lie beyond it (widen `strength_search`)."
    )


def _scenario_sentence(metrics, s) -> str:
    acc, bwt = metrics["accuracy"][s], metrics["bwt"][s]
    parts = [f"In the {SCENARIO_TEXT[s]} scenario"]
    if "none" in acc:
        parts.append(
            f" fine-tuning ends at {acc['none']:.1%} (backward transfer {bwt['none']:+.2f})"
        )
    others = [m for m in acc if m not in ("joint", "none")]
    if others:
        best = max(others, key=acc.get)
        if "none" in acc and acc[best] <= acc["none"]:
            parts.append(f"; no remedy did better than fine-tuning (the best, {best}: "
                         f"{acc[best]:.1%})")  # fmt: skip
        else:
            parts.append(f"; the best remedy is {best} at {acc[best]:.1%}")
    if "joint" in acc:
        top = max((acc[m] for m in acc if m != "joint"), default=None)
        if top is not None and top > acc["joint"]:
            parts.append(f" (joint training, meant as the upper bound, reached only "
                         f"{acc['joint']:.1%} here)")  # fmt: skip
        else:
            parts.append(f" (joint training, the upper bound: {acc['joint']:.1%})")
    return "".join(parts) + "."


def class_finding(metrics) -> str:
    """The paper's class-incremental finding, checked on this run's values."""
    acc = metrics["accuracy"].get("class", {})
    if not {"none", "ewc", "si", "replay"} <= set(acc):
        return ""
    regs = max(acc["ewc"], acc["si"])
    holds = regs <= acc["none"] + 0.05 and acc["replay"] >= regs + 0.2
    values = (
        f"EWC {acc['ewc']:.1%} and SI {acc['si']:.1%} against fine-tuning {acc['none']:.1%} "
        f"and replay {acc['replay']:.1%}"
    )
    if holds:
        return (
            "As van de Ven & Tolias found, in the class-incremental scenario the regularisation "
            f"methods do no better than fine-tuning (within 5 points) and replay does far better "
            f"(20 points or more): {values}."
        )
    return (
        "Here the class-incremental finding of van de Ven & Tolias (EWC and SI within 5 points "
        f"of fine-tuning, replay 20 points or more above them) does not hold: {values}."
    )


def _lead_scenario(metrics) -> str:
    return "class" if "class" in metrics["accuracy"] else next(iter(metrics["accuracy"]))


def headline(metrics) -> dict[str, str]:
    """The findings as cards: average accuracy after the last context, per method."""
    s = _lead_scenario(metrics)
    order = ("none", "ewc", "si", "replay", "hippocampal-replay", "generative-replay", "joint")
    methods = [m for m in order if m in metrics["accuracy"][s]]
    return {f"accuracy.{s}.{m}": f"{s}-incremental: {m}" for m in methods}


def opening(metrics) -> str:
    """What the run showed, for a reader who reads nothing else."""
    s = _lead_scenario(metrics)
    acc = metrics["accuracy"][s]
    others = [m for m in acc if m not in ("joint", "none")]
    lead = (
        f"A network learned {len(metrics['contexts'])} contexts one after another. "
        f"In the {SCENARIO_TEXT[s]} scenario, after the last context"
    )
    if "none" in acc:
        lead += f" plain fine-tuning was right on {acc['none']:.1%} of all test items"
    if others:
        best = max(others, key=acc.get)
        lead += f"{',' if 'none' in acc else ''} the best remedy, {best}, on {acc[best]:.1%}"
        if "none" in acc and acc[best] <= acc["none"]:
            lead += " (no better than fine-tuning)"
    return lead + ". " + class_finding(metrics)


def hippocampus_sentence(metrics) -> str:
    """Hippocampal replay against experience replay with the same memory budget."""
    parts = []
    for s, acc in metrics["accuracy"].items():
        if {"replay", "hippocampal-replay"} <= set(acc):
            a, b = acc["hippocampal-replay"], acc["replay"]
            word = "above" if a > b + 0.01 else "below" if a < b - 0.01 else "within a point of"
            parts.append(f"{a:.1%} in the {s} scenario, {word} experience replay's {b:.1%}")
    if not parts:
        return ""
    return (
        "Replay from the Hopfield memory (examples stored one-shot, recalled from half cues) "
        f"reaches {'; '.join(parts)}."
    )


def _paper_sentence(metrics, config) -> str:
    paper = paper_values(config)
    if not paper:
        return (
            f"No published numbers are shown: van de Ven & Tolias report MNIST, and this run used "
            f"{config['dataset']}."
        )
    if metrics["seeds"] < 2:
        return (
            "The table shows van de Ven & Tolias's MNIST numbers beside engram's; with one seed "
            "there is no spread to judge a match by (run with `--set seeds=5`)."
        )
    matches, misses = [], []
    for method, values in paper.items():
        for s, published in zip(("task", "domain", "class"), values, strict=True):
            if method not in metrics["accuracy"].get(s, {}):
                continue
            mean = 100 * metrics["accuracy"][s][method]
            spread = 2 * 100 * metrics["accuracy_std"][s][method]
            (matches if abs(mean - published) <= spread else misses).append(f"{method}/{s}")
    return (
        f"Within two standard deviations over {metrics['seeds']} seeds, engram matches the "
        f"published number for {', '.join(matches) or 'none of the entries'}; it differs for "
        f"{', '.join(misses) or 'none'}."
    )


def _time_sentence(metrics: dict[str, Any]) -> str:
    """How long the streams took: wall time, and CPU time summed over the worker processes."""
    if "cpu_seconds" not in metrics:
        return f"All runs took {metrics['seconds']:.0f} s."
    workers = metrics["workers"]
    return (
        f"The {metrics['streams']} streams (strength search included) took "
        f"{metrics['seconds']:.0f} s wall on {workers} worker process{'es' * (workers != 1)} "
        f"and {metrics['cpu_seconds']:.0f} s CPU in all (every process's CPU time, summed)"
        + _load_clause(metrics)
        + "."
    )


def _load_clause(metrics: dict[str, Any]) -> str:
    """The machine's load at the end of the run, and whether the workers waited for cores."""
    load, cores = metrics.get("load_average"), metrics.get("cores")
    if load is None or not cores:
        return ""
    busy = metrics["seconds"] * min(metrics["workers"], cores) > 1.5 * metrics["cpu_seconds"]
    return f"; load average {load:.1f} on {cores} cores at the end" + (
        ": the processes waited for the cores, so the wall time says more about the machine's "
        "other work than about this run"
        if busy
        else ""
    )


def _search_length(metrics: dict[str, Any]) -> str:
    """The search's iterations per context against the runs', when they differ."""
    searched, run = metrics.get("search_iterations"), metrics["iterations"]
    if not searched or searched == run:
        return f"each with the runs' {run} iterations per context"
    return (
        f"each with {searched} iterations per context where the runs have {run}: a shorter "
        "protocol, so the strength best there need not be the best for the runs"
    )


def text(metrics: dict[str, Any], config: dict[str, Any], stream) -> str:
    opts = metrics["options"]
    intro = (
        f"A {metrics['network']} ReLU network learned the {len(stream)} contexts of "
        f"{config['benchmark']} {config['dataset']} ({', '.join(metrics['contexts'][:3])}, ...) "
        f"one after another, {metrics['iterations']} Adam steps each (learning rate "
        f"{metrics['learning_rate']:g}, batch {config['batch_size']}), with {metrics['seeds']} "
        f"seed(s). {_time_sentence(metrics)}"
    )
    strengths = []
    for s, by in opts.items():
        for m in ("ewc", "si"):
            if m in by:
                strengths.append(f"{m} {s} {by[m]['strength']:g}")
    paragraphs = [intro]
    searched = metrics.get("strength_search") or {}
    if strengths and searched:
        paragraphs.append(
            f"Regularisation strengths were chosen per scenario from {len(searched)} searches "
            "on held-out training images (the published strength times "
            f"{', '.join(f'{f:g}' for f in config['strength_search'])}; table below), "
            f"{_search_length(metrics)}; used: "
            f"{', '.join(strengths)}." + _edge_sentence(searched)
        )
    elif strengths:
        paragraphs.append(
            "Regularisation strengths used (van de Ven & Tolias's code unless set; not searched "
            f"in this run): {', '.join(strengths)}."
        )
    paragraphs.append(" ".join(_scenario_sentence(metrics, s) for s in metrics["accuracy"]))
    finding = class_finding(metrics)
    if finding:
        paragraphs.append(finding)
    paragraphs += [p for p in [hippocampus_sentence(metrics)] if p]
    paragraphs.append(_paper_sentence(metrics, config))
    return "\n\n".join(paragraphs)
