"""utils.plot_model / model_to_dot: Graphviz text always, images by Graphviz's dot or by
matplotlib, for Sequential, functional (several inputs, a shared layer), nested and subclassed
models; written atomically; bad calls named."""

from __future__ import annotations

import os
import re
import stat

import numpy as np
import pytest

from engram.nn import Input, Model, Sequential, model_visualization
from engram.nn import layers as L
from engram.nn.utils import model_to_dot, plot_model


def parse_dot(text: str) -> tuple[dict[str, list[str]], list[tuple[str, str]], list[str]]:
    """(box id -> its lines, arrows as (first line, first line), frame titles) of a DOT text."""
    boxes = {
        key: label.split("\\n") for key, label in re.findall(r'(n\d+) \[label="(.*?)"\];', text)
    }
    arrows = [(boxes[a][0], boxes[b][0]) for a, b in re.findall(r"(n\d+) -> (n\d+);", text)]
    frames = re.findall(r'label="([^"]*)"; style=dashed;', text)
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    return boxes, arrows, frames


def two_inputs_shared_and_nested():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = L.Dense(3, activation="relu", name="shared")
    inner = Sequential(
        [L.Dense(5, input_shape=(3,), name="i1"), L.Dense(2, name="i2")], name="inner"
    )
    merged = L.add([shared(a), shared(b)])
    return Model([a, b], [inner(merged), L.Dense(1, name="side")(merged)], name="demo")


def test_sequential_is_a_chain_of_its_layers_with_shapes():
    model = Sequential([L.Dense(8, activation="relu", input_shape=(4,), name="h"), L.Dense(2)])
    boxes, arrows, frames = parse_dot(model_to_dot(model, show_shapes=True))
    firsts = [lines[0] for lines in boxes.values()]
    assert firsts[1:] == ["h (Dense)", f"{model.layers[1].name} (Dense)"]
    assert firsts[0].endswith("(InputLayer)")
    assert arrows == [(firsts[0], firsts[1]), (firsts[1], firsts[2])]
    assert boxes["n1"][1:] == ["Input shape: (None, 4)", "Output shape: (None, 8)"]
    assert not frames
    # Keras's plot_model default: the layer types only
    boxes, _, _ = parse_dot(model_visualization.to_dot(model_visualization.plot_graph(model)))
    assert [lines[0] for lines in boxes.values()] == ["InputLayer", "Dense", "Dense"]


def test_a_shared_layer_is_one_box_fed_by_each_call_and_merges_meet():
    model = two_inputs_shared_and_nested()
    boxes, arrows, frames = parse_dot(model_to_dot(model))
    names = [lines[0] for lines in boxes.values()]
    assert names.count("shared (Dense)") == 1 and names.count("inner (Sequential)") == 1
    assert ("a (InputLayer)", "shared (Dense)") in arrows
    assert ("b (InputLayer)", "shared (Dense)") in arrows
    add = next(n for n in names if n.endswith("(Add)"))
    assert ("shared (Dense)", add) in arrows
    assert {(add, "inner (Sequential)"), (add, "side (Dense)")} <= set(arrows)
    assert len(arrows) == len(set(arrows)) == 5 and not frames


def test_expand_nested_draws_the_inner_layers_in_a_frame_wired_across():
    model = two_inputs_shared_and_nested()
    text = model_to_dot(model, expand_nested=True, show_layer_activations=True)
    boxes, arrows, frames = parse_dot(text)
    assert frames == ["inner (Sequential)"]
    frame = text[text.index("subgraph cluster") : text.index("}", text.index("subgraph cluster"))]
    inside = {boxes[key][0] for key in re.findall(r"(n\d+) \[", frame)}
    assert inside == {"inner_input (InputLayer)", "i1 (Dense)", "i2 (Dense)"}
    add = next(lines[0] for lines in boxes.values() if lines[0].endswith("(Add)"))
    assert (add, "inner_input (InputLayer)") in arrows
    assert ("i1 (Dense)", "i2 (Dense)") in arrows
    assert "inner (Sequential)" not in [lines[0] for lines in boxes.values()]
    assert ["shared (Dense)", "Activation: relu"] == next(
        lines for lines in boxes.values() if lines[0] == "shared (Dense)"
    )


def test_a_model_nested_twice_deep_gets_frames_inside_frames():
    core = Sequential([L.Dense(2, input_shape=(3,), name="core_dense")], name="core")
    x = Input((3,), name="x")
    middle = Model(x, core(L.Dense(3, name="pre")(x)), name="middle")
    top_in = Input((3,), name="top_in")
    model = Model(top_in, middle(top_in), name="top")
    text = model_to_dot(model, expand_nested=True)
    boxes, arrows, frames = parse_dot(text)
    assert frames == ["middle (Functional)", "core (Sequential)"]
    assert text.index("cluster_2") > text.index("cluster_1")  # core's frame inside middle's
    assert ("pre (Dense)", "core_input (InputLayer)") in arrows
    assert ("top_in (InputLayer)", "x (InputLayer)") in arrows


def test_a_subclassed_model_is_drawn_once_traced():
    class Residual(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = L.Dense(4, name="first")
            self.second = L.Dense(4, name="second")

        def call(self, inputs):
            return self.second(self.first(inputs)) + inputs

    model = Residual(name="residual")
    with pytest.raises(ValueError, match="plot_model needs a built model; 'residual'"):
        model_to_dot(model)
    model.build((None, 4))
    boxes, arrows, _ = parse_dot(model_to_dot(model))
    names = [lines[0] for lines in boxes.values()]
    assert "first (Dense)" in names and "second (Dense)" in names
    assert ("first (Dense)", "second (Dense)") in arrows
    assert len(arrows) == 4  # input -> first -> second -> add <- input


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_images_without_graphviz_are_drawn_by_matplotlib_atomically(tmp_path, rankdir):
    model = two_inputs_shared_and_nested()
    png = plot_model(
        model, tmp_path / "m.png", show_shapes=True, rankdir=rankdir, engine="matplotlib", dpi=50
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plot_model(model, tmp_path / "m.svg", expand_nested=True, engine="matplotlib")
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text
    dot = plot_model(model, tmp_path / "m.dot", show_shapes=True)
    assert dot.read_text() == model_to_dot(model, show_shapes=True, show_layer_names=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dot", "m.png", "m.svg"]


def test_graphviz_dot_is_used_when_on_the_path(tmp_path, monkeypatch):
    """A stand-in ``dot`` program (echoes its format and the DOT text): plot_model hands it the
    text and writes what it prints."""
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "format $1"\ncat\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    model = Sequential([L.Dense(2, input_shape=(3,), name="only")])
    out = plot_model(model, tmp_path / "m.svg", show_layer_names=True)
    written = out.read_text()
    assert written.startswith("format -Tsvg\ndigraph ")
    assert "only (Dense)" in written


def test_bad_calls_are_named(tmp_path, monkeypatch):
    unbuilt = Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="needs a built model.*input_shape="):
        plot_model(unbuilt, tmp_path / "m.png")
    model = Sequential([L.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="to_file='m.bmp' has none of these extensions"):
        plot_model(model, "m.bmp")
    with pytest.raises(ValueError, match="rankdir must be one of 'TB', 'LR', 'BT', 'RL'"):
        plot_model(model, tmp_path / "m.dot", rankdir="XY")
    monkeypatch.setattr(model_visualization.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install graphviz"):
        plot_model(model, tmp_path / "m.png", engine="graphviz")
    with pytest.raises(NotImplementedError, match="subgraph=True"):
        model_to_dot(model, subgraph=True)
    assert not list(tmp_path.iterdir())
    # quotes in names cannot break the DOT text
    odd = Sequential([L.Dense(2, input_shape=(3,), name='say "hi" \\ there')])
    boxes, _, _ = parse_dot(model_to_dot(odd))
    assert len(boxes) == 2
    np.testing.assert_equal(len(model_to_dot(odd).splitlines()), 7)
