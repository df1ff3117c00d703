"""The hopfield-capacity experiment's report: figures, the critical-load table and the text.

Everything here turns the data `engram.experiments.hopfield_capacity` measured (per rule and
size: the fraction of stored patterns that stay retrieved when recall starts at the pattern, the
fraction retrieved from corrupted cues, exact fixed points, critical loads, the finite-size fit,
timings) into what the report shows; nothing is stored or recalled. Every sentence that states a
result is built from those values, with its condition checked. (A module whose name starts with
``_`` is not loaded as an experiment.)
"""

from __future__ import annotations

import math
from typing import Any

from engram.experiments.base import Figure, Table
from engram.memory.capacity import BELOW_AT_FIRST, NOT_REACHED, CriticalLoad

__all__ = ["explain", "figures", "table"]

AGS = 0.138  # Amit, Gutfreund & Sompolinsky 1985, N -> infinity
PUBLISHED = {
    "hebb": ("alpha_c = 0.138 (N -> infinity); exact recall of most patterns up to "
             "N / (2 ln N)", "Amit, Gutfreund & Sompolinsky 1985; McEliece et al. 1987"),
    "storkey": ("error-free (absolute) capacity N / sqrt(2 ln N)", "Storkey 1997"),
    "pseudo_inverse": ("every pattern a fixed point up to N linearly independent patterns",
                       "Personnaz et al. 1985"),
    "modern": ("at least sqrt(p) c^((d-1)/4) random patterns (d = N; c = 1.37 or 3.15 in the "
               "paper's examples): exponential in N", "Ramsauer et al. 2020, Theorem 3"),
}  # fmt: skip
LABELS = {"hebb": "Hebb", "storkey": "Storkey", "pseudo_inverse": "pseudo-inverse"}


def _bounds(c: CriticalLoad) -> tuple[float, float]:
    """The interval a critical load is known to lie in."""
    if c.crossed:
        return c.value, c.value
    return (c.last_load, math.inf) if c.status == NOT_REACHED else (0.0, c.first_load)


def _trend(per_n: dict[int, CriticalLoad]) -> str | None:
    """How a critical load changes with N, checked on the intervals each size pins it to:
    None for one size, else a phrase."""
    if len(per_n) < 2:
        return None
    sizes = sorted(per_n)
    statuses = {c.status for c in per_n.values()}
    if statuses == {NOT_REACHED}:
        return "stays beyond the largest load tested at every size: its trend is not measured"
    if statuses == {BELOW_AT_FIRST}:
        return "is below the first load tested at every size: its trend is not measured"
    known = ", ".join(f"{per_n[n].text()} at N = {n}" for n in sizes)
    steps = zip(sizes[:-1], sizes[1:], strict=True)
    pairs = [(_bounds(per_n[a]), _bounds(per_n[b])) for a, b in steps]
    if all(lo[1] < hi[0] for lo, hi in pairs):
        return f"rises as N grows ({known})"
    if all(lo[0] > hi[1] for lo, hi in pairs):
        return f"falls as N grows ({known})"
    if all(per_n[n].crossed for n in sizes):
        return f"does not change monotonically with N ({known})"
    return f"cannot be ordered over N from this sweep ({known})"


def _curve_panels(data, config, curve: str) -> list[dict[str, Any]]:
    panels = []
    for n in config["sizes"]:
        series = {}
        for rule, per_n in data["classic"].items():
            y = per_n[n][curve]
            series[LABELS[rule]] = {"x": per_n[n]["loads"], "y": y.mean(0), "yerr": y.std(0)}
        panels.append({"title": f"N = {n}", "series": series})
    return panels


def _load_figure(name, title, panels, caption) -> Figure:
    return Figure(
        name,
        title,
        "lines",
        {
            "panels": panels,
            "xlabel": "load alpha = P / N",
            "ylabel": "fraction retrieved",
            "hlines": {"criterion 0.5": 0.5},
            "vlines": {"0.138 (Amit et al. 1985)": AGS},
            "ylim": (-0.02, 1.02),
        },
        caption,
    )


def figures(data: dict[str, Any], config: dict[str, Any]) -> list[Figure]:
    """Both retrieval measures against load per size, the modern sweep, alpha_c against N,
    fixed points."""
    classic = data["classic"]
    criterion = (f"ends with overlap > {config['retrieval_overlap']} ({config['update']} "
                 f"updates, at most {config['max_steps']} steps)")  # fmt: skip
    figs = []
    if classic:
        figs += [
            _load_figure(
                "stability_vs_load",
                "Retrieval state: recall started at each stored pattern",
                _curve_panels(data, config, "stable"),
                f"Mean over {config['seeds']} seeds (band: one standard deviation). A pattern "
                f"counts as retrieved when recall started at the pattern itself {criterion}: "
                "the measure whose breakdown Amit, Gutfreund & Sompolinsky computed.",
            ),
            _load_figure(
                "basin_vs_load",
                f"Basin: recall from cues with {config['flip_fraction']:.0%} of units flipped",
                _curve_panels(data, config, "retrieved"),
                f"Mean over {config['seeds']} seeds. The same criterion, recall started from a "
                f"copy of the pattern with {config['flip_fraction']:.0%} of its units flipped.",
            ),
        ]
    if data["modern"]:
        series = {
            f"N={n}, {name}": {"x": v["loads"], "y": v["retrieved"].mean(0)}
            for name, per_n in data["modern"].items()
            for n, v in per_n.items()
        }
        figs.append(
            Figure(
                "modern_retrieval_vs_load",
                "Modern Hopfield: retrieval from cues against the load",
                "lines",
                {
                    "series": series,
                    "xlabel": "load alpha = P / N (log scale)",
                    "logx": True,
                    "ylabel": "fraction retrieved",
                    "hlines": {"criterion 0.5": 0.5},
                    "ylim": (-0.02, 1.02),
                },  # fmt: skip
                "One update xi <- X^T softmax(beta X xi) from cues with "
                f"{config['flip_fraction']:.0%} of units flipped. Critical loads: "
                + _modern_parts(data)
                + ".",
            )
        )
    crossed = any(v["ags"]["critical"].crossed for p in classic.values() for v in p.values())
    if len(config["sizes"]) > 1 and crossed:
        figs.append(_size_figure(data, config))
    if classic:
        n = max(config["sizes"])
        fixed = {
            LABELS[r]: {"x": per_n[n]["loads"], "y": per_n[n]["fixed"].mean(0)}
            for r, per_n in classic.items()
        }
        figs.append(
            Figure(
                "fixed_points_vs_load",
                f"Exact fixed points among the stored patterns (N = {n})",
                "lines",
                {
                    "series": fixed,
                    "xlabel": "load alpha = P / N",
                    "ylabel": "fraction fixed points",
                    "ylim": (-0.02, 1.02),
                },  # fmt: skip
                "Share of stored patterns that one synchronous update leaves unchanged.",
            )
        )
    return figs


def _size_figure(data, config) -> Figure:
    series = {}
    for rule, per_n in data["classic"].items():
        ns = [n for n in config["sizes"] if per_n[n]["ags"]["critical"].crossed]
        if not ns:
            continue
        series[LABELS[rule]] = {
            "x": ns, "y": [per_n[n]["ags"]["critical"].value for n in ns],
            "yerr": [per_n[n]["ags"]["seed_sd"] or 0.0 for n in ns],
        }  # fmt: skip
    hebb = data["classic"].get("hebb")
    trend = _trend({n: v["ags"]["critical"] for n, v in hebb.items()}) if hebb else None
    return Figure(
        "critical_load_vs_size",
        "Critical load (recall from the stored pattern) against network size",
        "lines",
        {
            "series": series,
            "xlabel": "units N",
            "ylabel": "critical load alpha_c",
            "hlines": {"Hebb, N -> infinity: 0.138": AGS},
            "logx": True,
        },  # fmt: skip
        "Band: standard deviation of the per-seed critical loads. Only sizes whose curve "
        "crosses 0.5 inside the sweep are drawn." + (f" Hebb's alpha_c {trend}." if trend else ""),
    )


def _modern_parts(data) -> str:
    return "; ".join(
        f"{name}, N = {n}: {v['basin']['critical'].text()}"
        for name, per_n in data["modern"].items()
        for n, v in per_n.items()
    )


def table(data: dict[str, Any], config: dict[str, Any]) -> Table:
    """The critical loads per rule and size, both measures, beside the published value."""
    rows = []
    for group in ("classic", "modern"):
        for rule, per_n in data[group].items():
            label = LABELS.get(rule, f"modern, {rule}")
            published = PUBLISHED[rule if group == "classic" else "modern"]
            for n, v in per_n.items():
                ags = v.get("ags")
                sd = ags["seed_sd"] if ags else None
                rows.append([
                    label, n,
                    ags["critical"].text() + (f" +/- {sd:.3f}" if sd is not None else "")
                    if ags else "not measured",
                    v["basin"]["critical"].text(), *published,
                ])  # fmt: skip
    return Table(
        "Critical load: measured beside published",
        ["rule", "N", "alpha_c from the stored pattern (+/- sd over seeds)",
         f"alpha_c from {config['flip_fraction']:.0%}-flipped cues", "published", "source"],
        rows,
    )  # fmt: skip


def _setup(config) -> str:
    return (
        f"**What was measured.** For N in {list(config['sizes'])} units and {config['seeds']} "
        "seeds, random unbiased +/-1 patterns were stored with each rule at a sweep of loads "
        "alpha = P/N, and recall ran with "
        f"{config['update']}hronous updates (at most {config['max_steps']} steps). Two "
        "measures, each the fraction of stored patterns whose final state overlaps the pattern "
        f"by more than m = {config['retrieval_overlap']}: **from the stored pattern** (recall "
        "starts at the pattern itself: does a stable retrieval state exist near it? this is "
        "what Amit, Gutfreund & Sompolinsky 1985 computed, alpha_c = 0.138 for Hebb as "
        "N -> infinity), and **from cues** with "
        f"{config['flip_fraction']:.0%} of the units flipped (the basin of attraction). The "
        "critical load of either curve is where its seed-averaged value first falls below 0.5, "
        "linearly interpolated between the two loads around it."
    )


def _hebb(data, metrics, config) -> str:
    hebb = data["classic"]["hebb"]
    n = max(hebb)
    v = hebb[n]
    a, basin = v["ags"]["critical"], v["basin"]["critical"]
    parts = [f"**Hebb.** From the stored pattern, $\\alpha_c$ = {a.text()} at N = {n}"]
    if a.crossed:
        rel = "above" if a.value > AGS else "below"
        parts[0] += f", {rel} the published 0.138 for N -> infinity by {abs(a.value - AGS):.3f}."
    else:
        parts[0] += ": no crossing inside the sweep to compare with 0.138."
    trend = _trend({k: w["ags"]["critical"] for k, w in hebb.items()})
    parts.append(
        f"Over the sizes run, it {trend}." if trend
        else "One size only: how alpha_c changes with N is not measured in this run."
    )  # fmt: skip
    parts.append(_fit_sentence(data["fit"]))
    if a.crossed and basin.crossed:
        order = "below" if basin.value < a.value else "not below"
        parts.append(
            f"From cues with {config['flip_fraction']:.0%} flipped units the curve falls below "
            f"0.5 at {basin.value:.3f}, {order} the retrieval-state value."
        )
    else:
        parts.append(f"From {config['flip_fraction']:.0%}-flipped cues: {basin.text()}.")
    parts.append(_fixed_sentence(metrics, "hebb", n, 1 / (2 * math.log(n)),
                                 "N / (2 ln N) (McEliece et al. 1987: most patterns exactly "
                                 "recoverable)"))  # fmt: skip
    return " ".join(parts)


def _fit_sentence(fit) -> str:
    if fit is None:
        return ("No finite-size extrapolation: it needs a crossing inside the sweep at two or "
                "more sizes.")  # fmt: skip
    text = (
        "A fit of alpha_c(N) = a + b / sqrt(N) (an assumed form, not a published law) over "
        f"N = {fit['sizes']} extrapolates to a = {fit['intercept']:.3f} for N -> infinity"
    )
    if fit["seed_sem"] is None:
        return text + "; too few seeds crossed at every size to give its spread."
    gap = fit["intercept"] - AGS
    agrees = abs(gap) <= 2 * fit["seed_sem"]
    return (
        text + f" (fitted seed by seed: {fit['seed_mean']:.3f} +/- {fit['seed_sd']:.3f} sd over "
        f"{fit['n_seeds']} seeds, standard error {fit['seed_sem']:.3f}); "
        + ("0.138 lies within two standard errors of it." if agrees
           else f"it differs from 0.138 by {gap:+.3f}, more than two standard errors.")
    )  # fmt: skip


def _fixed_sentence(metrics, rule, n, published: float, name: str) -> str:
    fixed = metrics["fixed_point_load"][rule][str(n)]
    if fixed is None:
        return (f"Fewer than 99% of the stored patterns are exact fixed points already at the "
                f"first load tested (N = {n}); {name} = {published:.3f} N.")  # fmt: skip
    return (
        f"At least 99% of the stored patterns are exact fixed points up to alpha = "
        f"{fixed:.2f} at N = {n}: {fixed / published:.2f} times the {published:.3f} N of "
        f"{name}."
    )


def _storkey(data, metrics, config) -> str:
    per_n = data["classic"]["storkey"]
    n = max(per_n)
    v = per_n[n]
    text = (f"**Storkey.** alpha_c = {v['ags']['critical'].text()} from the stored pattern and "
            f"{v['basin']['critical'].text()} from cues at N = {n}. "
            + _fixed_sentence(metrics, "storkey", n, 1 / math.sqrt(2 * math.log(n)),
                              "Storkey's error-free capacity N / sqrt(2 ln N)"))  # fmt: skip
    hebb_fixed = metrics["fixed_point_load"].get("hebb", {}).get(str(n))
    fixed = metrics["fixed_point_load"]["storkey"][str(n)]
    if hebb_fixed and fixed:
        text += (f" Against Hebb's {hebb_fixed:.2f} that is {fixed / hebb_fixed:.1f} times; "
                 f"the published capacities differ by sqrt(2 ln N) = "
                 f"{math.sqrt(2 * math.log(n)):.1f} at this N.")  # fmt: skip
    cost = data["store_seconds"].get("storkey")
    if cost:
        seconds, p, n_cost = cost
        text += (f" Storing {p} patterns one by one (one matrix-vector product and one rank-2 "
                 f"update each) took {seconds * 1000:.0f} ms at N = {n_cost}, "
                 f"{seconds / max(data['seconds']['storkey'], 1e-12):.1%} of the rule's time "
                 "including recall.")  # fmt: skip
    return text


def _pseudo_inverse(data, metrics, config) -> str:
    per_n = data["classic"]["pseudo_inverse"]
    n = max(per_n)
    v = per_n[n]
    a, basin = v["ags"]["critical"], v["basin"]["critical"]
    fixed = metrics["fixed_point_load"]["pseudo_inverse"][str(n)]
    text = (f"**Pseudo-inverse.** From the stored pattern: {a.text()}; from "
            f"{config['flip_fraction']:.0%}-flipped cues: {basin.text()} (N = {n}). "
            + (f"At least 99% of the stored patterns are exact fixed points up to alpha = "
               f"{fixed:.2f} (largest load tested {float(v['loads'][-1]):.2f}; published: up to "
               "N linearly independent patterns)." if fixed is not None else
               "Fewer than 99% are exact fixed points at the first load tested."))  # fmt: skip
    if basin.crossed and not a.crossed:
        text += (
            " The patterns stay stable while recall from cues fails: the basins shrink "
            "before the stored states stop being fixed points."
        )
    return text + " The rule is non-local: every weight depends on all patterns."


def _modern(data, config) -> str:
    parts = [
        r"**Modern.** One update $\xi \leftarrow X^\top \mathrm{softmax}(\beta X \xi)$ of the "
        "continuous modern network "
        "(Ramsauer et al. 2020; attention with query beta * xi and keys = values = the stored "
        f"patterns), from {config['flip_fraction']:.0%}-flipped cues; critical loads: "
        + _modern_parts(data)
        + "."
    ]
    for name, per_n in data["modern"].items():
        if len(per_n) > 1:
            trend = _trend({n: v["basin"]["critical"] for n, v in per_n.items()})
            parts.append(f"For {name} the critical load {trend}.")
    parts.append(
        "Published: Ramsauer et al. (2020, Theorem 3) prove that this update stores at least "
        "sqrt(p) c^((d-1)/4) random patterns on a sphere with failure probability p (c = 1.37 "
        "or 3.15 in their examples) - exponential in N, with a constant that depends on beta; "
        "the 2^(N/2) often quoted is the binary network with exponential energy (Demircigil "
        "et al. 2017), not this continuous update. The memory is the P x N pattern matrix "
        "itself (P N numbers, against N^2 weights for the classic network)."
    )
    return " ".join(parts)


def opening(data: dict[str, Any], config: dict[str, Any]) -> str:
    """What the run showed, for a reader who reads nothing else."""
    parts = []
    hebb = data["classic"].get("hebb")
    if hebb:
        n = max(hebb)
        a = hebb[n]["ags"]["critical"]
        if a.crossed:
            rel = "above" if a.value > AGS else "below"
            parts.append(
                f"A Hopfield network of {n} units that stores patterns by Hebb's rule held them "
                f"up to a load of {a.value:.3f} patterns per unit, {rel} the 0.138 that theory "
                "gives for a very large network."
            )
        else:
            parts.append(
                f"For a Hopfield network of {n} units that stores patterns by Hebb's rule, the "
                f"load where it stops holding them was not found inside the loads tested "
                f"({a.text()})."
            )
    for name, per_n in data["modern"].items():
        n = max(per_n)
        c = per_n[n]["basin"]["critical"]
        if c.crossed:
            held = f"up to a load of {c.value:.3g} patterns per unit"
        elif c.status == "not_reached":
            held = f"at every load tested, up to {c.last_load:g} patterns per unit"
        else:
            held = f"at none of the loads tested (from {c.first_load:g} patterns per unit)"
        parts.append(
            f"The modern Hopfield network ({name}, N = {n}) recalled from damaged cues {held}."
        )
    return " ".join(parts[:3])


def headline(metrics: dict[str, Any]) -> dict[str, str]:
    """The findings as cards: Hebb's critical load and its extrapolation, where measured."""
    labels = {
        key: "critical load, Hebb, N = " + key.rpartition("_N")[2]
        for key in metrics
        if key.startswith("hebb_alpha_c_N")
    }
    labels["hebb_alpha_c_extrapolated"] = "critical load, Hebb, extrapolated to large N"
    labels["published_hebb"] = "critical load, published (large N)"
    return {key: label for key, label in labels.items() if metrics.get(key) is not None}


def explain(data: dict[str, Any], metrics: dict[str, Any], config: dict[str, Any]) -> str:
    """The report's text: what was measured, then each rule against the literature."""
    lines = [_setup(config)]
    classic = data["classic"]
    if "hebb" in classic:
        lines.append(_hebb(data, metrics, config))
    if "storkey" in classic:
        lines.append(_storkey(data, metrics, config))
    if "pseudo_inverse" in classic:
        lines.append(_pseudo_inverse(data, metrics, config))
    if data["modern"]:
        lines.append(_modern(data, config))
    lines.append(
        "Timings (this run, all seeds, recall included): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in data["seconds"].items())
        + ". BLAS was limited to one thread for these small matrices."
    )
    return "\n\n".join(lines)
