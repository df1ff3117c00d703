"""Chart kinds: ``lines``, ``scatter``, ``bars`` and ``histogram``.

Their data keys are listed in `engram.viz.kinds`. Each is a ``draw(ax, data)`` registered with
`axes_kind`, so each also draws ``panels``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from engram.viz.kinds import (
    PALETTE,
    as_array,
    axes_kind,
    axis_labels,
    legend,
    need,
    reference_lines,
)


def _set_log_scale(ax: Any, axis: str) -> None:
    """Log scale; plain numbers (``2``, ``0.3``) as tick labels when it spans under 2 decades."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    low, high = getattr(ax, f"get_{axis}lim")()
    if low > 0 and high / low < 100:
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        target = getattr(ax, f"{axis}axis")
        target.set_major_formatter(plain)
        target.set_minor_formatter(plain if high / low < 10 else NullFormatter())


@axes_kind("lines")
def draw_lines(ax: Any, data: dict[str, Any]) -> None:
    """Curves such as loss per epoch, with optional shaded error bands and reference lines."""
    import matplotlib

    all_series = dict(need(data, "series"))
    colors = None
    if len(all_series) > len(PALETTE):
        colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(all_series)))
    for i, (label, series) in enumerate(all_series.items()):
        if not isinstance(series, Mapping):
            series = {"y": series}
        y = as_array(need(series, "y"), f"series {label!r} y")
        x = as_array(series["x"], f"series {label!r} x") if "x" in series else np.arange(len(y))
        style = series.get("style", {})
        kwargs = dict(style) if isinstance(style, Mapping) else {}
        args = (style,) if isinstance(style, str) else ()
        if colors is not None and not (args and re.search(r"[bgrcmykw]|C\d", style)):
            kwargs.setdefault("color", colors[i])  # unless the format string names a colour
        if not style and len(y) <= 15:
            kwargs.setdefault("marker", "o")
            kwargs.setdefault("markersize", 4)
        (line,) = ax.plot(x, y, *args, label=str(label), **kwargs)
        if series.get("yerr") is not None:
            err = as_array(series["yerr"], f"series {label!r} yerr")
            ax.fill_between(x, y - err, y + err, color=line.get_color(), alpha=0.2, lw=0)
    reference_lines(ax, data)
    if data.get("ylim") is not None:
        ax.set_ylim(*data["ylim"])
    for axis in ("x", "y"):
        if data.get(f"log{axis}"):
            _set_log_scale(ax, axis)
    axis_labels(ax, data)
    legend(ax)


@axes_kind("scatter")
def draw_scatter(ax: Any, data: dict[str, Any]) -> None:
    """Point clouds, one colour per group, or coloured by a value with a colour bar."""
    mappable = None
    groups = dict(need(data, "points"))
    for label, group in groups.items():
        x = as_array(need(group, "x"), f"points {label!r} x")
        y = as_array(need(group, "y"), f"points {label!r} y")
        kwargs: dict[str, Any] = {"s": group.get("s", 18), "alpha": 0.85, "lw": 0}
        if group.get("c") is not None:
            kwargs.update(c=np.asarray(group["c"]), cmap=data.get("cmap", "viridis"))
        shown = str(label) if len(groups) > 1 else None  # one group needs no legend
        artist = ax.scatter(x, y, label=shown, **kwargs)
        mappable = artist if "c" in kwargs else mappable
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, label=data.get("clabel", ""))
    if data.get("equal"):
        ax.set_aspect("equal", adjustable="datalim")
    reference_lines(ax, data)
    axis_labels(ax, data)
    legend(ax)


@axes_kind("bars")
def draw_bars(ax: Any, data: dict[str, Any]) -> None:
    """Bars per label, grouped when ``values`` holds several series, with optional error bars."""
    from matplotlib.ticker import MaxNLocator

    labels = [str(label) for label in need(data, "labels")]
    values = need(data, "values")
    series = dict(values) if isinstance(values, Mapping) else {"": values}
    errors = data.get("errors")
    errors = dict(errors) if isinstance(errors, Mapping) else {"": errors}
    width = 0.8 / len(series)
    x = np.arange(len(labels))
    annotate = data.get("annotate", len(labels) * len(series) <= 12)
    integers = True
    for i, (name, vals) in enumerate(series.items()):
        vals = as_array(vals, f"values {name!r}")
        if len(vals) != len(labels):
            raise ValueError(f"values {name!r} has {len(vals)} entries for {len(labels)} labels")
        integers = integers and bool(np.all(vals == np.round(vals)))
        offset = (i - (len(series) - 1) / 2) * width
        color = PALETTE[i % len(PALETTE)]
        err = errors.get(name)
        bars = ax.bar(
            x + offset, vals, width * 0.92, yerr=err, capsize=3, label=name or None, color=color
        )
        if annotate:
            ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    rotate = max(len(label) for label in labels) * len(labels) > 60
    ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.grid(False, axis="x")
    ax.margins(y=0.1)
    if integers:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if data.get("ylim") is not None:
        ax.set_ylim(*data["ylim"])
    reference_lines(ax, data)
    axis_labels(ax, data)
    legend(ax, above=len(series) > 1)


@axes_kind("histogram")
def draw_histogram(ax: Any, data: dict[str, Any]) -> None:
    """Overlaid distributions on shared bins, with optional marker lines (means, thresholds)."""
    samples = {
        str(k): as_array(v, f"samples {k!r}").ravel()
        for k, v in dict(need(data, "samples")).items()
    }
    edges = np.histogram_bin_edges(
        np.concatenate(list(samples.values())), bins=data.get("bins", "auto")
    )
    alpha = 0.75 if len(samples) == 1 else 0.35
    density = data.get("density", False)
    for i, (label, values) in enumerate(samples.items()):
        color = PALETTE[i % len(PALETTE)]
        ax.hist(values, bins=edges, alpha=alpha, color=color, density=density, label=label)
        ax.hist(values, bins=edges, histtype="step", color=color, lw=1.4, density=density)
    if data.get("logy"):
        _set_log_scale(ax, "y")
    reference_lines(ax, data)
    ax.set_ylabel(data.get("ylabel") or ("density" if density else "count"))
    axis_labels(ax, data)
    legend(ax)
