"""Kinds drawn over a grid or a state space: ``images``, ``heatmap``, ``decision_boundary`` and
``trajectories`` (data keys in `engram.viz.kinds`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np

from engram.viz.kinds import (
    KINDS,
    PALETTE,
    as_array,
    axes_kind,
    axis_labels,
    grid_shape,
    is_diverging,
    legend,
    need,
    text_color,
)


def _image_scale(images: np.ndarray, data: Mapping[str, Any], cmap: Any) -> tuple[Any, Any]:
    """``(vmin, vmax)`` for all images (None: each image its own); diverging maps centred."""
    low = high = None
    if data.get("shared_scale", True) and images.ndim == 3:
        if is_diverging(cmap):
            high = float(np.abs(images).max()) or 1.0
            low = -high
        else:
            low, high = float(images.min()), float(images.max())
    return data.get("vmin", low), data.get("vmax", high)


def _image_axes(ax: Any) -> None:
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def draw_images(fig: Any, data: dict[str, Any]) -> None:
    """A grid of images (digits, stored patterns, receptive fields), one label per image."""
    images = np.asarray(need(data, "images"), dtype=float)
    if data.get("image_shape") is not None:
        images = images.reshape((len(images), *tuple(data["image_shape"])))
    if images.ndim == 2:
        images = images[None]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must have shape (n, h, w) or (n, h, w, 3); got {images.shape}")
    labels = list(data.get("labels") or [])
    row_labels = list(data.get("row_labels") or [])
    rows, cols = grid_shape(len(images), data.get("ncols"), 10)
    cell = min(2.2, max(1.25, 5.2 / cols))  # inches per image: few images are drawn larger
    margin = 1.1 if row_labels else 0.3  # room for the row labels on the left
    fig.set_size_inches(max(4.2, cell * cols + margin), (cell + 0.1) * rows + 0.6)
    cmap = data.get("cmap", "gray")
    vmin, vmax = _image_scale(images, data, cmap)
    axes = fig.subplots(rows, cols, squeeze=False)
    shown = None
    for i, ax in enumerate(axes.flat):
        _image_axes(ax)
        if i >= len(images):
            ax.set_visible(False)
            continue
        image = images[i] if images.ndim == 3 else np.clip(images[i], 0, 1)
        low, high = vmin, vmax
        if vmin is None and is_diverging(cmap) and images.ndim == 3:
            high = float(np.abs(image).max()) or 1.0
            low = -high
        shown = ax.imshow(image, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
        if i < len(labels):
            ax.set_title(str(labels[i]), fontsize=8)
        if i % cols == 0 and i // cols < len(row_labels):
            label = textwrap.fill(str(row_labels[i // cols]), 16)  # horizontal, wrapped
            ax.set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    if data.get("colorbar") and shown is not None and images.ndim == 3:
        fig.colorbar(shown, ax=axes, shrink=0.8, label=data.get("clabel", ""))


KINDS.add("images", draw_images)


def _annotate_cells(ax: Any, image: Any, matrix: np.ndarray, fmt: str | None) -> None:
    integer = np.all(matrix == np.round(matrix))
    fmt = fmt or (".0f" if integer else ".2f")
    size = 8 if max(matrix.shape) <= 8 else 7
    for (r, c), value in np.ndenumerate(matrix):
        color = text_color(image.cmap(image.norm(value)))
        ax.text(c, r, format(value, fmt), ha="center", va="center", fontsize=size, color=color)


@axes_kind("heatmap")
def draw_heatmap(ax: Any, data: dict[str, Any]) -> None:
    """A matrix as colours (confusion matrices, weights), annotated when it is small."""
    matrix = as_array(need(data, "matrix"), "matrix")
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
    if data.get("xticklabels") is not None:
        ticks = [str(t) for t in data["xticklabels"]]
        rotate = max(len(t) for t in ticks) > 3
        ax.set_xticks(range(len(ticks)), ticks, rotation=45 if rotate else 0)
        if rotate:
            for label in ax.get_xticklabels():
                label.set(ha="right", rotation_mode="anchor")
    if data.get("yticklabels") is not None:
        ax.set_yticks(range(len(data["yticklabels"])), [str(t) for t in data["yticklabels"]])
    if data.get("annotate", matrix.shape[0] <= 12 and matrix.shape[1] <= 12):
        _annotate_cells(ax, image, matrix, data.get("fmt"))
    axis_labels(ax, data)


@axes_kind("decision_boundary")
def draw_decision_boundary(ax: Any, data: dict[str, Any]) -> None:
    """A classifier's probability over the plane, the 0.5 contour and the data points."""
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap
    from matplotlib.ticker import MaxNLocator

    xx, yy = as_array(need(data, "xx"), "xx"), as_array(need(data, "yy"), "yy")
    zz = as_array(need(data, "zz"), "zz")
    points = as_array(need(data, "points_x"), "points_x")
    classes = np.asarray(need(data, "points_y")).astype(int).ravel()
    ax.grid(False)
    if zz.ndim == 3:
        n = zz.shape[-1]
        cmap = ListedColormap(PALETTE[:n])
        ax.contourf(xx, yy, zz.argmax(-1), levels=np.arange(n + 1) - 0.5, cmap=cmap, alpha=0.3)
    else:
        zz = zz.reshape(xx.shape)
        cmap = LinearSegmentedColormap.from_list("classes", [PALETTE[0], "#ffffff", PALETTE[1]])
        levels = np.linspace(0, 1, 11)
        filled = ax.contourf(xx, yy, zz, levels=levels, cmap=cmap, alpha=0.45)
        ax.contour(xx, yy, zz, levels=[0.5], colors="#222222", linewidths=1.5)
        ax.figure.colorbar(filled, ax=ax, label="P(class 1)")
    colors = [PALETTE[c % len(PALETTE)] for c in classes]
    size = float(np.clip(3000 / max(len(points), 1), 14, 70))
    ax.scatter(points[:, 0], points[:, 1], c=colors, s=size, edgecolors="#222222", linewidths=0.5)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
    names = data.get("class_names")
    if names:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], ls="", marker="o", color=PALETTE[i % 8], label=str(name))
            for i, name in enumerate(names)
        ]
        ax.legend(handles=handles, loc="best", framealpha=0.8, frameon=True)
    axis_labels(ax, data)


def _trajectory_projection(data: dict[str, Any]) -> str | None:
    shape = np.shape(data.get("trajectories", [[[0, 0]]])[0])
    return "3d" if shape and shape[-1] == 3 else None


@axes_kind("trajectories", projection=_trajectory_projection)
def draw_trajectories(ax: Any, data: dict[str, Any]) -> None:
    """Paths through a 2-D or 3-D state space (e.g. population activity), one per condition."""
    import matplotlib

    trajectories = [as_array(t, "trajectory") for t in need(data, "trajectories")]
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
    three_d = dims == {3}
    if numeric:
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        pad, shrink = (0.12, 0.75) if three_d else (0.05, 1.0)
        ax.figure.colorbar(mappable, ax=ax, label=data.get("clabel", ""), pad=pad, shrink=shrink)
    if three_d:
        from matplotlib.ticker import MaxNLocator

        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(MaxNLocator(4))
        ax.tick_params(labelsize=8, pad=0)
        if data.get("zlabel"):
            ax.set_zlabel(data["zlabel"], labelpad=2)
    axis_labels(ax, data)
    legend(ax)
