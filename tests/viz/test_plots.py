"""Every figure kind draws a PNG; bad kinds and data get clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from engram.experiments import Figure
from engram.viz.plots import KINDS, figure_png, render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_rng = np.random.default_rng(0)
_t = np.linspace(0, 3, 20)
_xx, _yy = np.meshgrid(np.linspace(-1, 1, 12), np.linspace(-1, 1, 12))

SAMPLES = {
    "lines": {
        "series": {
            "train": {"x": np.arange(1, 6), "y": [5, 4, 3, 2, 1], "yerr": np.ones(5)},
            "val": {"y": [6, 5, 4, 3, 3], "style": "--"},
            "bare": [1, 1, 1, 1, 1],
        },
        "xlabel": "epoch",
        "ylabel": "loss",
        "logy": True,
        "hlines": {"chance": 2},
        "vlines": {"best": 3},
    },
    "scatter": {
        "points": {
            "a": {"x": [0, 1, 2], "y": [1, 0, 1]},
            "b": {"x": [3, 4], "y": [0, 1], "c": [0.1, 0.9]},
        },
        "equal": True,
    },
    "images": {
        "images": _rng.random((5, 6, 6)),
        "labels": list("abcde"),
        "ncols": 3,
        "row_labels": ["top", "bottom"],
    },
    "heatmap": {
        "matrix": _rng.integers(0, 9, (3, 3)),
        "xticklabels": ["a", "b", "c"],
        "yticklabels": ["a", "b", "c"],
        "annotate": True,
        "xlabel": "pred",
    },
    "bars": {
        "labels": ["x", "y"],
        "values": {"s1": [1, 2], "s2": [2, 1]},
        "errors": {"s1": [0.1, 0.2]},
        "ylabel": "accuracy",
    },
    "decision_boundary": {
        "xx": _xx,
        "yy": _yy,
        "zz": 1 / (1 + np.exp(-4 * _xx)),
        "points_x": _rng.normal(size=(10, 2)),
        "points_y": np.arange(10) % 2,
    },
    "histogram": {
        "samples": {"a": _rng.normal(size=50), "b": _rng.normal(size=50)},
        "vlines": {"zero": 0.0},
        "xlabel": "value",
    },
    "trajectories": {
        "trajectories": np.stack([np.c_[np.cos(_t + k), np.sin(_t)] for k in range(3)]),
        "colors": [0.0, 0.5, 1.0],
        "mark_start": True,
    },
}


def test_every_registered_kind_has_a_sample():
    assert sorted(SAMPLES) == KINDS.names()


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_kind_renders_png(kind, tmp_path):
    path = render(Figure(kind, f"A {kind}", kind, SAMPLES[kind]), tmp_path / f"{kind}.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == [f"{kind}.png"]  # no temporary left


@pytest.mark.parametrize(
    "kind, data",
    [
        (
            "lines",
            {
                "panels": [
                    {"title": "a", "series": {"s": [1, 2]}},
                    {"title": "b", "series": {"s": [2, 1]}},
                ],
                "xlabel": "x",
            },
        ),
        ("images", {"images": _rng.random((4, 16)), "image_shape": (4, 4)}),
        ("images", {"images": _rng.random((2, 3, 3, 3))}),
        ("heatmap", {"matrix": _rng.normal(size=(20, 20))}),
        ("bars", {"labels": ["a", "b", "c"], "values": [0.1, 0.5, 0.9]}),
        (
            "decision_boundary",
            {
                "xx": _xx,
                "yy": _yy,
                "zz": _rng.random((12, 12, 3)),
                "points_x": _rng.normal(size=(6, 2)),
                "points_y": [0, 1, 2] * 2,
                "class_names": ["a", "b", "c"],
            },
        ),
        ("trajectories", {"trajectories": _rng.normal(size=(2, 10, 3)), "labels": ["a", "b"]}),
    ],
)
def test_kind_variants_render(kind, data):
    assert figure_png(Figure("variant", "Variant", kind, data)).startswith(PNG_MAGIC)


def test_unknown_kind_lists_available_kinds(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown figure kind 'line'\. Did you mean 'lines'"):
        render(Figure("f", "F", "line", {}), tmp_path / "f.png")
    with pytest.raises(ValueError, match="Available: bars, decision_boundary, heatmap"):
        render(Figure("f", "F", "pie", {}), tmp_path / "f.png")
    assert not list(tmp_path.iterdir())


def test_missing_data_key_names_figure_and_key():
    with pytest.raises(ValueError, match=r"Figure 'loss' \(kind 'lines'\).*needs the key 'series'"):
        figure_png(Figure("loss", "Loss", "lines", {"serie": {}}))


def test_bad_shape_is_a_value_error():
    with pytest.raises(ValueError, match="matrix must be 2-D"):
        figure_png(Figure("m", "M", "heatmap", {"matrix": np.zeros((2, 2, 2))}))


def _drawn(kind: str, data: dict):
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(layout="constrained")
    KINDS.get(kind)(fig, data)
    return fig


def test_panels_with_the_same_legend_show_it_once():
    panel = {"series": {"a": [1, 2], "b": [2, 1]}}
    fig = _drawn("lines", {"panels": [panel, panel, panel], "ylabel": "loss", "ncols": 2})
    assert [ax.get_legend() for ax in fig.axes] == [None, None, None]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "", "loss"]


def test_many_series_get_distinct_colours_and_an_outside_legend():
    fig = _drawn("lines", {"series": {f"seed {i}": [i, i + 1] for i in range(12)}})
    ax = fig.axes[0]
    from matplotlib.colors import to_hex

    assert len({to_hex(line.get_color()) for line in ax.get_lines()}) == 12
    assert ax.get_legend()._loc == 2  # "upper left", anchored beside the axes


def test_heatmap_text_is_readable_on_its_cell():
    fig = _drawn("heatmap", {"matrix": [[0, 10], [5, 10]], "cmap": "viridis"})
    colors = {t.get_text(): t.get_color() for t in fig.axes[0].texts}
    assert colors["0"] == "white" and colors["10"] == "#222222"  # dark purple, bright yellow


def test_count_bars_have_integer_ticks():
    fig = _drawn("bars", {"labels": ["a", "b"], "values": [0, 3]})
    ticks = fig.axes[0].get_yticks()
    assert np.all(ticks == np.round(ticks))


def test_diverging_images_are_centred_on_zero():
    fig = _drawn("images", {"images": [[[0.0, 2.0]], [[-1.0, 0.5]]], "cmap": "RdBu_r"})
    assert fig.axes[0].images[0].get_clim() == (-2.0, 2.0)
    fig = _drawn(
        "images", {"images": [[[0.0, 2.0]], [[-1.0, 0.5]]], "cmap": "RdBu_r", "shared_scale": False}
    )
    assert fig.axes[1].images[0].get_clim() == (-1.0, 1.0)


def test_long_titles_wrap_to_the_figure_width():
    from matplotlib.figure import Figure as MplFigure

    from engram.viz.plots import _title

    fig = MplFigure(figsize=(3, 2))
    _title(fig, "A rather long title that cannot fit on one line of a narrow figure")
    assert "\n" in fig._suptitle.get_text()
    fig = MplFigure(figsize=(8, 2))
    _title(fig, "Short title")
    assert fig._suptitle.get_text() == "Short title"
