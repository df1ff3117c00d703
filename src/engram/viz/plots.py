"""Figures declared as data (`engram.experiments.Figure`) drawn as PNG files with matplotlib.

Every ``kind`` is one function in the `KINDS` registry (see `engram.viz.kinds` for the kinds and
their ``data`` keys); ``figure_png(figure)`` looks the kind up and draws it in one consistent
style, and ``render(figure, path)`` writes the PNG atomically. Matplotlib is imported only when a
figure is drawn (never at ``import engram``), and pyplot is never used: figures are plain
``matplotlib.figure.Figure`` objects on the Agg canvas, so no global state or GUI is touched.

Example:
    >>> from engram.experiments import Figure
    >>> fig = Figure("loss", "Training loss", "lines", {"series": {"train": {"y": [3, 2, 1]}}})
    >>> render(fig, "loss.png")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path
from typing import Any

from engram.fileio import atomic_write_bytes
from engram.viz import charts, maps  # noqa: F401  (importing them registers their kinds)
from engram.viz.kinds import KINDS, PALETTE, PANEL_SIZE

__all__ = ["DPI", "KINDS", "PALETTE", "PANEL_SIZE", "STYLE", "figure_png", "render"]

DPI = 110
STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 13,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}
_TITLE_CHARS_PER_INCH = 8.5  # bold 13 pt text, with a margin


def _title(fig: Any, title: str) -> None:
    """The figure's title, wrapped onto several lines where the figure is narrower than it."""
    width = max(16, int(fig.get_figwidth() * _TITLE_CHARS_PER_INCH))
    fig.suptitle(textwrap.fill(title, width))


def figure_png(figure: Any) -> bytes:
    """Draw one `engram.experiments.Figure` and return the PNG bytes.

    Raises:
        ValueError: unknown kind (with the available kinds) or missing/ill-shaped data.
    """
    import matplotlib
    from matplotlib.figure import Figure as MplFigure

    try:
        draw = KINDS.get(figure.kind)
    except ValueError as exc:
        raise ValueError(f"Figure {figure.name!r}: {exc}") from None
    with matplotlib.rc_context(STYLE):
        matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=PALETTE)
        fig = MplFigure(figsize=PANEL_SIZE, layout="constrained")
        try:
            draw(fig, dict(figure.data))
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(
                f"Figure {figure.name!r} (kind {figure.kind!r}) could not be drawn: {exc}"
            ) from exc
        if figure.title:
            _title(fig, figure.title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Draw ``figure`` and write it as a PNG at ``path`` atomically.

    Args:
        figure: an `engram.experiments.Figure`.
        path: where to write the PNG.

    Returns:
        The path written.

    Raises:
        ValueError: unknown kind or bad data; nothing is written then.
    """
    return atomic_write_bytes(path, figure_png(figure))
