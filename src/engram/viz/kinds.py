"""Figure kinds: the `KINDS` registry, what every kind takes, and the helpers they share.

The kinds themselves are drawn in `engram.viz.charts` and `engram.viz.maps` (imported, and so
registered, by `engram.viz.plots`).

Kinds and their ``data`` keys (``?`` marks optional keys):

- ``lines``: ``series`` {label: {"x"?, "y", "yerr"?, "style"?}} (a bare array is taken as
  ``y``; ``style`` is a matplotlib format string like ``"--"`` or a dict of ``plot`` keywords),
  ``xlabel``?, ``ylabel``?, ``logx``?, ``logy``?, ``ylim``?, ``hlines``? {label: y},
  ``vlines``? {label: x}. More series than palette colours are coloured along a colour map.
- ``scatter``: ``points`` {label: {"x", "y", "c"?, "s"?}}, ``cmap``?, ``clabel``?, ``xlabel``?,
  ``ylabel``?, ``equal``? (equal axis scales).
- ``images``: ``images`` (n, h, w), (n, h, w, 3) or (n, features) with ``image_shape``?,
  ``labels``? (one per image), ``ncols``?, ``cmap``? ("gray"), ``row_labels``?, ``vmin``?,
  ``vmax``?, ``shared_scale``? (True: one colour scale for all images), ``colorbar``? (False).
  A diverging colour map (``RdBu_r`` ...) without ``vmin``/``vmax`` is centred on zero.
- ``heatmap``: ``matrix`` (rows, cols), ``xticklabels``?, ``yticklabels``?, ``xlabel``?,
  ``ylabel``?, ``annotate``? (default: small matrices), ``cmap``?, ``vmin``?, ``vmax``?,
  ``colorbar``?, ``clabel``?, ``fmt``?.
- ``bars``: ``labels`` (one per group), ``values`` (a list, or {series: list}), ``errors``?
  (same form), ``ylabel``?, ``ylim``?, ``annotate``? (default: up to 12 bars),
  ``hlines``? {label: y}.
- ``decision_boundary``: ``xx``, ``yy`` (meshgrid), ``zz`` (P(class 1) on the grid, or
  (h, w, classes) probabilities), ``points_x`` (n, 2), ``points_y`` (n,), ``xlabel``?,
  ``ylabel``?, ``class_names``?.
- ``histogram``: ``samples`` {label: array}, ``vlines``? {label: x}, ``xlabel``?, ``ylabel``?,
  ``bins``? ("auto"), ``density``?, ``logy``?.
- ``trajectories``: ``trajectories`` (conditions, time, 2 or 3), ``colors``? (one colour or one
  number per condition), ``labels``?, ``mark_start``? (True), ``xlabel``?, ``ylabel``?,
  ``zlabel``?, ``clabel``?.

Every kind except ``images`` also accepts ``panels``: a list of data dicts drawn side by side
(each may have a ``title``; keys given next to ``panels`` are shared by all), with ``ncols``?.
Panels that share a legend show it once; a shared ``ylabel`` is written on the first column.
A new kind is one function ``draw(fig, data)`` added with ``KINDS.add(name, draw)``, or
``draw(ax, data)`` decorated with `axes_kind`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engram.registry import Registry

KINDS: Registry[Callable[[Any, dict[str, Any]], None]] = Registry("figure kind", normalize=False)

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
PANEL_SIZE = (5.2, 3.8)
_DIVERGING = {"RdBu", "bwr", "coolwarm", "seismic", "PiYG", "PRGn", "BrBG", "PuOr", "RdGy"}
_LEGEND_INSIDE = 6  # legends with more entries go outside the axes, on the right


# --------------------------------------------------------------------------- helpers


def need(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise ValueError(f"data needs the key {key!r}; got keys {sorted(data)}")
    return data[key]


def as_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def axis_labels(ax: Any, data: Mapping[str, Any]) -> None:
    if data.get("xlabel"):
        ax.set_xlabel(data["xlabel"])
    if data.get("ylabel"):
        ax.set_ylabel(data["ylabel"])


def reference_lines(ax: Any, data: Mapping[str, Any]) -> None:
    styles = ["--", ":", "-."]
    for i, (label, y) in enumerate(dict(data.get("hlines") or {}).items()):
        ax.axhline(float(y), color="#555555", ls=styles[i % 3], lw=1.2, label=label)
    for i, (label, x) in enumerate(dict(data.get("vlines") or {}).items()):
        ax.axvline(float(x), color="#888888", ls=styles[(i + 1) % 3], lw=1.4, label=label)


def legend(ax: Any, above: bool = False) -> None:
    """A legend when anything is labelled: inside if short, else beside (or ``above``) the axes."""
    _, labels = ax.get_legend_handles_labels()
    n = sum(1 for label in labels if label and not label.startswith("_"))
    if not n:
        return
    if above:
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=min(n, 4))
    elif ax.name == "3d":  # the corner above the box is free; a legend beside it is clipped
        ax.legend(loc="upper left", fontsize=8)
    elif n > _LEGEND_INSIDE:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(loc="best")


def grid_shape(n: int, ncols: int | None, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, int(ncols) if ncols else max_cols))
    return math.ceil(n / cols), cols


def is_diverging(cmap: Any) -> bool:
    return isinstance(cmap, str) and cmap.removesuffix("_r") in _DIVERGING


def text_color(rgba: Any) -> str:
    """Dark or white text, whichever reads better on a cell of colour ``rgba``."""
    r, g, b = rgba[:3]
    return "#222222" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def _tidy_panels(axes: list[Any], cols: int, shared: Mapping[str, Any], panels: list) -> None:
    """Panels that share a legend get one, below them all; a shared y label on column one."""
    legends = [ax.get_legend() for ax in axes]
    labels = [tuple(ax.get_legend_handles_labels()[1]) for ax in axes]
    if len(axes) > 1 and all(legends) and len(set(labels)) == 1:
        for old in legends:
            old.remove()
        handles, names = axes[0].get_legend_handles_labels()
        axes[0].figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6))
    if shared.get("ylabel") and not any("ylabel" in p for p in panels):
        for i, ax in enumerate(axes):
            if i % cols:
                ax.set_ylabel("")


def axes_kind(name: str, projection: Callable[[dict[str, Any]], str | None] | None = None):
    """Register ``draw(ax, data)`` as kind ``name``, with ``panels`` support for free."""

    def decorator(draw: Callable[[Any, dict[str, Any]], None]):
        def draw_figure(fig: Any, data: dict[str, Any]) -> None:
            shared = {k: v for k, v in data.items() if k not in ("panels", "ncols")}
            own = list(data["panels"]) if "panels" in data else [{}]
            if not own:
                raise ValueError("panels is empty")
            panels = [{**shared, **p} for p in own]
            rows, cols = grid_shape(len(panels), data.get("ncols"), 3)
            fig.set_size_inches(
                PANEL_SIZE[0] * (1 if cols == 1 else 0.85 * cols), PANEL_SIZE[1] * rows
            )
            axes = []
            for i, panel in enumerate(panels):
                proj = projection(panel) if projection else None
                axes.append(fig.add_subplot(rows, cols, i + 1, projection=proj))
                draw(axes[-1], panel)
                if len(panels) > 1 and panel.get("title"):
                    axes[-1].set_title(panel["title"])
            _tidy_panels(axes, cols, shared, own)

        draw_figure.__doc__ = draw.__doc__
        KINDS.add(name, draw_figure)
        return draw

    return decorator
