"""Figures declared as data (`engram.experiments.Figure`) drawn as PNG files with matplotlib.

Every ``kind`` is one function in the `KINDS` registry; ``render(figure, path)`` looks the kind
up, draws it in one consistent style and writes the PNG atomically. Matplotlib is imported only
when a figure is drawn (never at ``import engram``), and pyplot is never used: figures are plain
``matplotlib.figure.Figure`` objects on the Agg canvas, so no global state or GUI is touched.

Kinds and their ``data`` keys (``?`` marks optional keys):

- ``lines``: ``series`` {label: {"x"?, "y", "yerr"?, "style"?}} (a bare array is taken as
  ``y``; ``style`` is a matplotlib format string like ``"--"`` or a dict of ``plot`` keywords),
  ``xlabel``?, ``ylabel``?, ``logx``?, ``logy``?, ``ylim``?, ``hlines``? {label: y},
  ``vlines``? {label: x}.
- ``scatter``: ``points`` {label: {"x", "y", "c"?, "s"?}}, ``cmap``?, ``clabel``?, ``xlabel``?,
  ``ylabel``?, ``equal``? (equal axis scales).
- ``images``: ``images`` (n, h, w), (n, h, w, 3) or (n, features) with ``image_shape``?,
  ``labels``? (one per image), ``ncols``?, ``cmap``? ("gray"), ``row_labels``?, ``vmin``?,
  ``vmax``?, ``shared_scale``? (True: one colour scale for all images).
- ``heatmap``: ``matrix`` (rows, cols), ``xticklabels``?, ``yticklabels``?, ``xlabel``?,
  ``ylabel``?, ``annotate``? (default: small matrices), ``cmap``?, ``vmin``?, ``vmax``?,
  ``colorbar``?, ``clabel``?, ``fmt``?.
- ``bars``: ``labels`` (one per group), ``values`` (a list, or {series: list}), ``errors``?
  (same form), ``ylabel``?, ``ylim``?, ``annotate``? (True), ``hlines``? {label: y}.
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
A new kind is one function ``draw(fig, data)`` added with ``KINDS.add(name, draw)``.

Example:
    >>> from engram.experiments import Figure
    >>> fig = Figure("loss", "Training loss", "lines", {"series": {"train": {"y": [3, 2, 1]}}})
    >>> render(fig, "loss.png")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import io
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engram.registry import Registry

KINDS: Registry[Callable[[Any, dict[str, Any]], None]] = Registry("figure kind", normalize=False)

DPI = 110
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
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
PANEL_SIZE = (5.2, 3.8)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A reader sees either the old file or the complete new one, never a half-written file.

    Returns:
        The path written.
    """
    path = Path(path)
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
            fig.suptitle(figure.title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Draw ``figure`` and write it as a PNG at ``path`` atomically.

    Args:
        figure: an `engram.experiments.Figure`.
        path: where to write the PNG; its folder must exist.

    Returns:
        The path written.

    Raises:
        ValueError: unknown kind or bad data; nothing is written then.
    """
    return write_atomic(path, figure_png(figure))


# --------------------------------------------------------------------------- helpers


def _need(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise ValueError(f"data needs the key {key!r}; got keys {sorted(data)}")
    return data[key]


def _arr(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _labels(ax: Any, data: Mapping[str, Any]) -> None:
    if data.get("xlabel"):
        ax.set_xlabel(data["xlabel"])
    if data.get("ylabel"):
        ax.set_ylabel(data["ylabel"])


def _ref_lines(ax: Any, data: Mapping[str, Any]) -> None:
    styles = ["--", ":", "-."]
    for i, (label, y) in enumerate(dict(data.get("hlines") or {}).items()):
        ax.axhline(float(y), color="#555555", ls=styles[i % 3], lw=1.2, label=label)
    for i, (label, x) in enumerate(dict(data.get("vlines") or {}).items()):
        ax.axvline(float(x), color="#888888", ls=styles[(i + 1) % 3], lw=1.4, label=label)


def _legend(ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if any(label and not label.startswith("_") for label in labels):
        ax.legend(loc="best")


def _grid_shape(n: int, ncols: int | None, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, int(ncols) if ncols else max_cols))
    return math.ceil(n / cols), cols


def axes_kind(name: str, projection: Callable[[dict[str, Any]], str | None] | None = None):
    """Register ``draw(ax, data)`` as kind ``name``, with ``panels`` support for free."""

    def decorator(draw: Callable[[Any, dict[str, Any]], None]):
        def draw_figure(fig: Any, data: dict[str, Any]) -> None:
            shared = {k: v for k, v in data.items() if k not in ("panels", "ncols")}
            panels = [{**shared, **p} for p in data["panels"]] if "panels" in data else [data]
            if not panels:
                raise ValueError("panels is empty")
            rows, cols = _grid_shape(len(panels), data.get("ncols"), 3)
            fig.set_size_inches(
                PANEL_SIZE[0] * (1 if cols == 1 else 0.85 * cols), PANEL_SIZE[1] * rows
            )
            for i, panel in enumerate(panels):
                proj = projection(panel) if projection else None
                ax = fig.add_subplot(rows, cols, i + 1, projection=proj)
                draw(ax, panel)
                if len(panels) > 1 and panel.get("title"):
                    ax.set_title(panel["title"])

        draw_figure.__doc__ = draw.__doc__
        KINDS.add(name, draw_figure)
        return draw

    return decorator


# --------------------------------------------------------------------------- kinds


@axes_kind("lines")
def draw_lines(ax: Any, data: dict[str, Any]) -> None:
    """Curves such as loss per epoch, with optional shaded error bands and reference lines."""
    for label, series in dict(_need(data, "series")).items():
        if not isinstance(series, Mapping):
            series = {"y": series}
        y = _arr(_need(series, "y"), f"series {label!r} y")
        x = _arr(series["x"], f"series {label!r} x") if "x" in series else np.arange(len(y))
        style = series.get("style", {})
        kwargs = dict(style) if isinstance(style, Mapping) else {}
        args = (style,) if isinstance(style, str) else ()
        if not style and len(y) <= 15:
            kwargs.setdefault("marker", "o")
            kwargs.setdefault("markersize", 4)
        (line,) = ax.plot(x, y, *args, label=str(label), **kwargs)
        if series.get("yerr") is not None:
            err = _arr(series["yerr"], f"series {label!r} yerr")
            ax.fill_between(x, y - err, y + err, color=line.get_color(), alpha=0.2, lw=0)
    _ref_lines(ax, data)
    if data.get("logy"):
        ax.set_yscale("log")
    if data.get("logx"):
        ax.set_xscale("log")
    if data.get("ylim") is not None:
        ax.set_ylim(*data["ylim"])
    _labels(ax, data)
    _legend(ax)


@axes_kind("scatter")
def draw_scatter(ax: Any, data: dict[str, Any]) -> None:
    """Point clouds, one colour per group, or coloured by a value with a colour bar."""
    mappable = None
    for label, group in dict(_need(data, "points")).items():
        x = _arr(_need(group, "x"), f"points {label!r} x")
        y = _arr(_need(group, "y"), f"points {label!r} y")
        kwargs: dict[str, Any] = {"s": group.get("s", 18), "alpha": 0.85, "lw": 0}
        if group.get("c") is not None:
            kwargs.update(c=np.asarray(group["c"]), cmap=data.get("cmap", "viridis"))
        artist = ax.scatter(x, y, label=str(label), **kwargs)
        mappable = artist if "c" in kwargs else mappable
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, label=data.get("clabel", ""))
    if data.get("equal"):
        ax.set_aspect("equal", adjustable="datalim")
    _ref_lines(ax, data)
    _labels(ax, data)
    _legend(ax)


def draw_images(fig: Any, data: dict[str, Any]) -> None:
    """A grid of images (digits, stored patterns, receptive fields), one label per image."""
    images = np.asarray(_need(data, "images"), dtype=float)
    if data.get("image_shape") is not None:
        images = images.reshape((len(images), *tuple(data["image_shape"])))
    if images.ndim == 2:
        images = images[None]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must have shape (n, h, w) or (n, h, w, 3); got {images.shape}")
    labels = list(data.get("labels") or [])
    row_labels = list(data.get("row_labels") or [])
    rows, cols = _grid_shape(len(images), data.get("ncols"), 10)
    fig.set_size_inches(max(3.0, 1.25 * cols), 1.35 * rows + 0.6)
    shared = data.get("shared_scale", True)
    vmin = data.get("vmin", float(images.min()) if shared else None)
    vmax = data.get("vmax", float(images.max()) if shared else None)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i >= len(images):
            ax.set_visible(False)
            continue
        image = images[i] if images.ndim == 3 else np.clip(images[i], 0, 1)
        ax.imshow(
            image, cmap=data.get("cmap", "gray"), vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        if i < len(labels):
            ax.set_title(str(labels[i]), fontsize=8)
        if i % cols == 0 and i // cols < len(row_labels):
            ax.set_ylabel(str(row_labels[i // cols]), fontsize=9)


KINDS.add("images", draw_images)


@axes_kind("heatmap")
def draw_heatmap(ax: Any, data: dict[str, Any]) -> None:
    """A matrix as colours (confusion matrices, weights), annotated when it is small."""
    matrix = _arr(_need(data, "matrix"), "matrix")
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D; got shape {matrix.shape}")
    ax.grid(False)
    diverging = matrix.min() < 0 < matrix.max() and "cmap" not in data
    limit = float(np.abs(matrix).max()) if diverging else None
    vmin = data.get("vmin", -limit if diverging else None)
    vmax = data.get("vmax", limit)
    cmap = "RdBu_r" if diverging else data.get("cmap", "viridis")
    image = ax.imshow(
        matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    if data.get("colorbar", True):
        ax.figure.colorbar(image, ax=ax, label=data.get("clabel", ""))
    for axis, key in (("x", "xticklabels"), ("y", "yticklabels")):
        if data.get(key) is not None:
            ticks = [str(t) for t in data[key]]
            getattr(ax, f"set_{axis}ticks")(range(len(ticks)))
            rotate = axis == "x" and max(len(t) for t in ticks) > 3
            getattr(ax, f"set_{axis}ticklabels")(
                ticks, rotation=45 if rotate else 0, ha="right" if rotate else "center"
            )
    if data.get("annotate", matrix.shape[0] <= 12 and matrix.shape[1] <= 12):
        integer = np.all(matrix == np.round(matrix))
        fmt = data.get("fmt", ".0f" if integer else ".2f")
        middle = (image.norm.vmin + image.norm.vmax) / 2
        for (r, c), value in np.ndenumerate(matrix):
            dark = value > middle if not diverging else abs(value) > 0.6 * limit
            ax.text(
                c,
                r,
                format(value, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "#222222",
            )
    _labels(ax, data)


@axes_kind("bars")
def draw_bars(ax: Any, data: dict[str, Any]) -> None:
    """Bars per label, grouped when ``values`` holds several series, with optional error bars."""
    labels = [str(label) for label in _need(data, "labels")]
    values = _need(data, "values")
    series = dict(values) if isinstance(values, Mapping) else {"": values}
    errors = data.get("errors")
    errors = dict(errors) if isinstance(errors, Mapping) else {"": errors}
    width = 0.8 / len(series)
    x = np.arange(len(labels))
    for i, (name, vals) in enumerate(series.items()):
        vals = _arr(vals, f"values {name!r}")
        if len(vals) != len(labels):
            raise ValueError(f"values {name!r} has {len(vals)} entries for {len(labels)} labels")
        err = errors.get(name)
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar(
            x + offset,
            vals,
            width * 0.92,
            yerr=err,
            capsize=3,
            label=name or None,
            color=PALETTE[i % len(PALETTE)],
        )
        if data.get("annotate", True) and len(labels) * len(series) <= 24:
            ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    rotate = max(len(label) for label in labels) * len(labels) > 60
    ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.grid(False, axis="x")
    if data.get("ylim") is not None:
        ax.set_ylim(*data["ylim"])
    _ref_lines(ax, data)
    _labels(ax, data)
    _legend(ax)


@axes_kind("decision_boundary")
def draw_decision_boundary(ax: Any, data: dict[str, Any]) -> None:
    """A classifier's probability over the plane, the 0.5 contour and the data points."""
    xx, yy = _arr(_need(data, "xx"), "xx"), _arr(_need(data, "yy"), "yy")
    zz = _arr(_need(data, "zz"), "zz")
    points = _arr(_need(data, "points_x"), "points_x")
    classes = np.asarray(_need(data, "points_y")).astype(int).ravel()
    ax.grid(False)
    if zz.ndim == 3:
        from matplotlib.colors import ListedColormap

        n = zz.shape[-1]
        cmap = ListedColormap(PALETTE[:n])
        ax.contourf(xx, yy, zz.argmax(-1), levels=np.arange(n + 1) - 0.5, cmap=cmap, alpha=0.3)
        colors = [PALETTE[c % len(PALETTE)] for c in classes]
    else:
        zz = zz.reshape(xx.shape)
        filled = ax.contourf(xx, yy, zz, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
        ax.contour(xx, yy, zz, levels=[0.5], colors="#222222", linewidths=1.5)
        ax.figure.colorbar(filled, ax=ax, label="P(class 1)")
        colors = [PALETTE[0] if c == 0 else PALETTE[1] for c in classes]
    size = float(np.clip(3000 / max(len(points), 1), 14, 70))
    ax.scatter(points[:, 0], points[:, 1], c=colors, s=size, edgecolors="#222222", linewidths=0.6)
    names = data.get("class_names")
    if names:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], ls="", marker="o", color=PALETTE[i % 8], label=str(name))
            for i, name in enumerate(names)
        ]
        ax.legend(handles=handles, loc="best")
    _labels(ax, data)


@axes_kind("histogram")
def draw_histogram(ax: Any, data: dict[str, Any]) -> None:
    """Overlaid distributions on shared bins, with optional marker lines (means, thresholds)."""
    samples = {
        str(k): _arr(v, f"samples {k!r}").ravel() for k, v in dict(_need(data, "samples")).items()
    }
    edges = np.histogram_bin_edges(
        np.concatenate(list(samples.values())), bins=data.get("bins", "auto")
    )
    alpha = 0.85 if len(samples) == 1 else 0.5
    for label, values in samples.items():
        ax.hist(values, bins=edges, alpha=alpha, label=label, density=data.get("density", False))
    if data.get("logy"):
        ax.set_yscale("log")
    _ref_lines(ax, data)
    ax.set_ylabel(data.get("ylabel") or ("density" if data.get("density") else "count"))
    _labels(ax, data)
    _legend(ax)


def _trajectory_projection(data: dict[str, Any]) -> str | None:
    shape = np.shape(data.get("trajectories", [[[0, 0]]])[0])
    return "3d" if shape and shape[-1] == 3 else None


@axes_kind("trajectories", projection=_trajectory_projection)
def draw_trajectories(ax: Any, data: dict[str, Any]) -> None:
    """Paths through a 2-D or 3-D state space (e.g. population activity), one per condition."""
    import matplotlib

    trajectories = [_arr(t, "trajectory") for t in _need(data, "trajectories")]
    dims = {t.shape[-1] for t in trajectories}
    if dims - {2, 3} or len(dims) != 1 or any(t.ndim != 2 for t in trajectories):
        raise ValueError("trajectories must have shape (conditions, time, 2) or (..., 3)")
    colors = data.get("colors")
    numeric = colors is not None and np.asarray(colors).dtype.kind in "biuf"
    if numeric:
        values = np.asarray(colors, dtype=float)
        norm = matplotlib.colors.Normalize(values.min(), values.max())
        cmap = matplotlib.colormaps[data.get("cmap", "viridis")]
        colors = [cmap(norm(v)) for v in values]
    labels = list(data.get("labels") or [])
    for i, path in enumerate(trajectories):
        color = colors[i] if colors is not None else PALETTE[i % len(PALETTE)]
        label = labels[i] if i < len(labels) else None
        ax.plot(*path.T, color=color, lw=1.5, label=label)
        if data.get("mark_start", True):
            ax.plot(*path[0][:, None], "o", color=color, ms=5)
            ax.plot(*path[-1][:, None], "s", color=color, ms=4, mfc="white")
    if numeric:
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(mappable, ax=ax, label=data.get("clabel", ""))
    if dims == {3} and data.get("zlabel"):
        ax.set_zlabel(data["zlabel"])
    _labels(ax, data)
    _legend(ax)
