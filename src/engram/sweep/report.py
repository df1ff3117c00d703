"""``report.html`` of a sweep: progress, the aggregate over seeds as tables and plots per grid key.

The page is rewritten while the sweep runs (a progress bar of finished cells) and once at the
end. Each plot shows one metric against one grid key: the mean over seeds with its 95% interval
as a band (or error bars for a key whose values are not numbers), one line per combination of
the other keys, and the experiment's published values as reference lines where it reports them
(see `engram.sweep.aggregate`). Figures are drawn by `engram.viz.plots` and the page is put
together with `engram.viz.markup`, the same as a run's report, and written atomically.
"""

from __future__ import annotations

import numbers
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engram.experiments.base import Figure
from engram.fileio import atomic_write_text
from engram.sweep.aggregate import CONFIDENCE, Summary, aggregate, published_for, published_values
from engram.sweep.grid import Plan, format_setting
from engram.viz.markup import esc, html_page, html_table
from engram.viz.values import HIDDEN_SETTINGS, engram_version, format_seconds, format_value

MAX_FIGURES = 16
MAX_SERIES = 8


def sweep_command(plan: Plan, out: str | Path) -> str:
    """The ``engram sweep`` command line that runs (or finishes) this sweep."""
    parts = ["engram", "sweep", plan.experiment.name]
    for key, values in plan.grid.items():
        texts = [
            f"[{format_setting(v)}]" if isinstance(v, (list, tuple)) and len(v) != 1
            else format_setting(v)
            for v in values
        ]  # fmt: skip
        parts += ["--grid", f"{key}={','.join(texts)}"]
    parts += ["--seeds", str(plan.seeds), "--seed", str(plan.root_seed)]
    parts += ["--quick"] if plan.quick else []
    like = {**plan.experiment.defaults, **(plan.experiment.quick if plan.quick else {})}
    for key, value in plan.base.items():
        if key not in HIDDEN_SETTINGS and key != "seed" and like.get(key) != value:
            parts += ["--set", f"{key}={format_setting(value)}"]
    return " ".join(shlex.quote(p) for p in [*parts, "--out", str(out)])


def _number(value: Any) -> float | None:
    """A grid value as a number for a plot's x axis (one-element lists count), else None."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _series_label(settings: Mapping[str, Any], key: str) -> str:
    others = [f"{k}={format_setting(v)}" for k, v in settings.items() if k != key]
    return ", ".join(others) or "mean"


def _figure_name(key: str, metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{key}-{metric}")


def _half(s: Summary) -> float:
    return s.high - s.mean if s.high is not None and s.mean is not None else 0.0


def metric_figure(
    plan: Plan, key: str, metric: str, per_settings: Mapping[int, Summary], hlines: dict
) -> Figure | None:
    """One metric against one grid key; None when no settings combination has a mean."""
    combos = plan.settings()
    groups: dict[str, list[tuple[Any, Summary]]] = {}
    for i, summary in per_settings.items():
        if summary.mean is not None:
            label = _series_label(combos[i], key)
            groups.setdefault(label, []).append((combos[i][key], summary))
    groups = dict(list(groups.items())[:MAX_SERIES])
    if not groups:
        return None
    values = plan.grid[key]
    numeric = all(_number(v) is not None for v in values)
    title = f"{metric} against {key}"
    caption = f"Mean over seeds; band or bars: {CONFIDENCE:.0%} interval of the mean."
    if numeric:
        xs = [_number(v) for v in values]
        series = {
            label: {
                "x": [_number(v) for v, _ in points],
                "y": [s.mean for _, s in points],
                "yerr": [_half(s) for _, s in points],
            }
            for label, points in groups.items()
        }
        logx = min(xs) > 0 and max(xs) / min(xs) >= 8
        data = {"series": series, "xlabel": key, "ylabel": metric, "hlines": hlines, "logx": logx}
        return Figure(_figure_name(key, metric), title, "lines", data, caption)
    labels = [format_setting(v) for v in values]
    means, errors = {}, {}
    for label, points in groups.items():
        by_value = {format_setting(v): s for v, s in points}
        means[label] = [by_value[t].mean if t in by_value else float("nan") for t in labels]
        errors[label] = [_half(by_value[t]) if t in by_value else 0.0 for t in labels]
    data = {"labels": labels, "values": means, "errors": errors, "xlabel": key, "ylabel": metric}
    return Figure(_figure_name(key, metric), title, "bars", {**data, "hlines": hlines}, caption)


def _interval(s: Summary) -> str:
    if s.low is None:
        return "–"
    return f"[{format_value(s.low)}, {format_value(s.high)}]"


def aggregate_rows(
    plan: Plan, summaries: Mapping[str, Mapping[int, Summary]], published: Mapping[str, float]
) -> list[list[str]]:
    """One row per settings combination and metric: settings, metric, n, mean, sd, interval."""
    combos = plan.settings()
    rows = []
    for i, combo in enumerate(combos):
        for metric, per in summaries.items():
            if i in per:
                s = per[i]
                ref = ", ".join(f"{v:g}" for v in published_for(metric, published).values())
                rows.append(
                    [*(format_setting(v) for v in combo.values()), metric, str(s.n),
                     format_value(s.mean), format_value(s.sd), _interval(s), ref or "–"]
                )  # fmt: skip
    return rows


def _figures_html(plan: Plan, summaries: Mapping[str, Mapping[int, Summary]], published) -> str:
    from engram.viz.plots import figure_png
    from engram.viz.report import html_figure

    parts = []
    for key in plan.grid:
        if len(plan.grid[key]) < 2:
            continue
        parts.append(f"<h3>Against {esc(key)}</h3>")
        for metric, per in list(summaries.items())[:MAX_FIGURES]:
            figure = metric_figure(plan, key, metric, per, published_for(metric, published))
            if figure is not None:
                parts.append(html_figure(figure, figure_png(figure)))
    return "\n".join(parts)


def sweep_html(
    plan: Plan,
    metric_values: Mapping[str, Mapping[str, Any]],
    *,
    out: Path,
    failed: Sequence[tuple[str, str]] = (),
    elapsed_s: float = 0.0,
    running: bool = False,
) -> str:
    """The text of ``report.html`` (``running``: the sweep is still going)."""
    total, done = len(plan.cells()), len(metric_values)
    summaries = aggregate(plan, metric_values)
    published = published_values(list(metric_values.values()))
    state = "running" if running else "finished"
    meta = (
        f"{done} of {total} cells finished ({state}) · {len(failed)} failed this time · "
        f"{plan.seeds} seeds per setting · {format_seconds(elapsed_s)} · engram {engram_version()}"
    )
    columns = [*plan.grid, "metric", "n", "mean", "sd", f"{CONFIDENCE:.0%} interval", "published"]
    body = [
        f'<header><p class="kicker">engram sweep</p><h1>{esc(plan.experiment.name)}</h1>'
        f'<p class="summary">{esc(plan.experiment.summary)}</p>'
        f'<p class="meta">{esc(meta)}<br>Reference: {esc(plan.experiment.reference)}</p>'
        f'<progress value="{done}" max="{total}" style="width:100%"></progress></header>',
        "<h2>Aggregate over seeds</h2>" + _figures_html(plan, summaries, published),
        html_table(columns, aggregate_rows(plan, summaries, published), "Mean over seeds"),
        "<p>sd: sample standard deviation over seeds; interval: Student t interval of the mean. "
        "Metric names with a grid value in them carry {key} in its place. Published values "
        "are the experiment's published_* metrics, shown beside the metrics that name them.</p>",
    ]
    if failed:
        body.append("<h2>Failed cells</h2>" + html_table(["cell", "error"], list(failed)))
    base = [[k, format_value(v)] for k, v in plan.base.items() if k not in HIDDEN_SETTINGS]
    body += [
        "<h2>Settings</h2>" + html_table(["setting", "value"], base, "Every cell's base settings"),
        f"<p>Per-cell rows: <code>results.csv</code>; each cell's report: <code>cells/</code>. "
        f"Run or finish it with:</p><pre><code>{esc(sweep_command(plan, out))}</code></pre>",
    ]
    return html_page(f"engram sweep · {plan.experiment.name}", "\n".join(body))


def summary_lines(done: Any, limit: int = 12) -> list[str]:
    """The end summary for the terminal: cells, time, each setting's first metric, the files."""
    plan = done.plan
    lines = [
        f"\n{done.finished} of {done.total} cells finished: {done.ran} ran now, {done.kept} were "
        f"already done, {len(done.failed)} failed. {format_seconds(done.elapsed_s)}."
    ]
    summaries = aggregate(plan, done.metric_values)
    if summaries:
        metric, per = next(iter(summaries.items()))
        combos = plan.settings()
        lines.append(f"\n{metric} (mean over seeds, {CONFIDENCE:.0%} interval):")
        for i, s in list(per.items())[:limit]:
            where = ", ".join(f"{k}={format_setting(v)}" for k, v in combos[i].items()) or "all"
            lines.append(f"  {where}: {format_value(s.mean)} {_interval(s)} (n={s.n})")
    for cell_id, error in done.failed[:limit]:
        lines.append(f"  failed {cell_id}: {error.splitlines()[0] if error else ''}")
    lines.append(f"\nResults: {done.paths['results.csv']}\nReport: {done.paths['report.html']}")
    return lines


def write_sweep_report(out: str | Path, plan: Plan, metric_values, **kwargs: Any) -> Path:
    """Write ``report.html`` into ``out`` atomically; returns its path."""
    out = Path(out)
    return atomic_write_text(
        out / "report.html", sweep_html(plan, metric_values, out=out, **kwargs)
    )
