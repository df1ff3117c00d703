"""``utils.plot_model`` and ``utils.model_to_dot``: a model's graph as a picture, with no
system dependency.

Keras draws with pydot and Graphviz and fails without them. engram writes the graph itself:

* ``.dot`` / ``.gv``: Graphviz's text format, always (open it with any Graphviz viewer, or
  ``dot -Tpng model.dot -o model.png``);
* ``.png``, ``.svg``, ``.pdf``, ``.jpg``: drawn by Graphviz's ``dot`` program when it is on the
  PATH (Keras's look: one box per layer, arrows along the data), otherwise by matplotlib (a
  dependency of engram) with a layered layout: each layer one rank below the deepest layer it
  reads, nested models drawn as dashed frames.

One box per layer (a shared layer is one box with an arrow from each of its callers, as Keras
draws it); ``expand_nested`` draws a nested model's own layers inside a frame named after it.
Files are written atomically (`engram.fileio.atomic_write_bytes`).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram.validation import check_choice

#: the formats a file name may ask for, by extension
TEXT_FORMATS = {".dot": "dot", ".gv": "dot"}
IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg"}


@dataclass
class PlotGraph:
    """Boxes, arrows and frames, as data: what `model_to_dot` writes and the drawings show.

    ``boxes`` maps a key to its lines of text and the frame it sits in (``()``: none);
    ``arrows`` are (from, to) keys in drawing order; ``frames`` maps a frame's key to its title.
    """

    name: str
    boxes: dict[tuple, tuple[list[str], tuple]] = field(default_factory=dict)
    arrows: list[tuple[tuple, tuple]] = field(default_factory=list)
    frames: dict[tuple, str] = field(default_factory=dict)

    def ranks(self) -> dict[tuple, int]:
        """Each box's rank: 0 for a box nothing points to, else 1 + the deepest rank among
        the boxes pointing to it (the graph has no cycles)."""
        into: dict[tuple, list[tuple]] = {key: [] for key in self.boxes}
        for a, b in self.arrows:
            into[b].append(a)
        rank: dict[tuple, int] = {}

        def of(key: tuple) -> int:
            if key not in rank:
                rank[key] = 1 + max((of(a) for a in into[key]), default=-1)
            return rank[key]

        for key in self.boxes:
            of(key)
        return rank


def _label(layer: Any, node: Any, options: dict[str, bool]) -> list[str]:
    from engram.nn.graph import shape_str
    from engram.nn.model import type_name

    kind = "InputLayer" if not node.inputs else type_name(layer)
    lines = [f"{layer.name} ({kind})" if options["show_layer_names"] else kind]
    if options["show_shapes"]:

        def shapes(tensors: list[Any]) -> str:
            text = [shape_str(t.shape) for t in tensors]
            return text[0] if len(text) == 1 else "[" + ", ".join(text) + "]"

        if node.inputs:
            lines.append(f"Input shape: {shapes(node.inputs)}")
        lines.append(f"Output shape: {shapes(node.outputs)}")
    if options["show_dtype"]:
        lines.append(f"Output dtype: {node.outputs[0].dtype}")
    activation = getattr(layer, "activation", None)
    if options["show_layer_activations"] and activation is not None:
        name = getattr(activation, "name", None) or getattr(activation, "__name__", activation)
        lines.append(f"Activation: {name}")
    if options["show_trainable"]:
        lines.append(f"Trainable: {bool(getattr(layer, 'trainable', True))}")
    return lines


def _graph_of(model: Any) -> Any:
    graph = getattr(model, "graph", None)
    if graph is None:
        raise ValueError(
            f"plot_model needs a built model; {model.name!r} is not built yet. Build it first: "
            "give the first layer input_shape= (or start with Input(...)), call "
            "model.build(input_shape), or call the model on data."
        )
    return graph


def _add(plot: PlotGraph, model: Any, frame: tuple, sources: list[tuple] | None, options) -> list:
    """Add ``model``'s layers to ``plot`` (in ``frame``); ``sources``: the boxes feeding its
    inputs (None at the top). Returns the boxes producing its outputs."""
    from engram.nn.model import type_name

    graph = _graph_of(model)
    producer: dict[int, tuple] = {}
    for i, tensor in enumerate(graph.inputs):
        key = (*frame, id(tensor.node.layer))
        plot.boxes.setdefault(key, (_label(tensor.node.layer, tensor.node, options), frame))
        if sources is not None:
            plot.arrows.append((sources[i], key))
        producer[id(tensor)] = key
    for node in graph.nodes:
        layer = node.layer
        inputs = [producer[id(t)] for t in node.inputs]
        if options["expand_nested"] and getattr(layer, "graph", None) is not None:
            inner = (*frame, id(layer))
            plot.frames[inner] = f"{layer.name} ({type_name(layer)})"
            outputs = _add(plot, layer, inner, inputs, options)
            for tensor, key in zip(node.outputs, outputs, strict=True):
                producer[id(tensor)] = key
            continue
        key = (*frame, id(layer))
        plot.boxes.setdefault(key, (_label(layer, node, options), frame))
        for source in inputs:
            if (source, key) not in plot.arrows:
                plot.arrows.append((source, key))
        for tensor in node.outputs:
            producer[id(tensor)] = key
    return [producer[id(t)] for t in graph.outputs]


def plot_graph(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    expand_nested: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> PlotGraph:
    """The boxes, arrows and frames of ``model`` (a built Sequential, functional or
    subclassed model), as `plot_model` draws them."""
    options = {
        "show_shapes": bool(show_shapes),
        "show_dtype": bool(show_dtype),
        "show_layer_names": bool(show_layer_names),
        "expand_nested": bool(expand_nested),
        "show_layer_activations": bool(show_layer_activations),
        "show_trainable": bool(show_trainable),
    }
    plot = PlotGraph(model.name)
    _add(plot, model, (), None, options)
    return plot


def _quote(*lines: str) -> str:
    """A DOT string of ``lines`` (backslashes and quotes escaped, lines joined by ``\\n``)."""
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'


def to_dot(plot: PlotGraph, rankdir: str = "TB", dpi: int = 200, splines: str = "ortho") -> str:
    """Graphviz's text for ``plot``: one box per layer, its lines of text centred."""
    ids = {key: f"n{i}" for i, key in enumerate(plot.boxes)}
    lines = [
        f"digraph {_quote(plot.name)} {{",
        f"  graph [rankdir={rankdir}, dpi={int(dpi)}, splines={_quote(str(splines))}];",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
    ]

    def boxes_in(frame: tuple, indent: str) -> None:
        for key, (text, where) in plot.boxes.items():
            if where == frame:
                lines.append(f"{indent}{ids[key]} [label={_quote(*text)}];")
        for i, (inner, title) in enumerate(plot.frames.items()):
            if inner[:-1] == frame:
                lines.append(f"{indent}subgraph cluster_{len(inner)}_{i} {{")
                lines.append(f"{indent}  label={_quote(title)}; style=dashed;")
                boxes_in(inner, indent + "  ")
                lines.append(f"{indent}}}")

    boxes_in((), "  ")
    lines += [f"  {ids[a]} -> {ids[b]};" for a, b in plot.arrows]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _draw(plot: PlotGraph, fmt: str, rankdir: str, dpi: int) -> bytes:
    """The layered drawing of ``plot`` with matplotlib (no Graphviz), as ``fmt`` bytes."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Rectangle

    rank = plot.ranks()
    # columns: the top-level boxes first, then each frame's (frames in the order they nest, so
    # that a frame's columns sit beside its inner frames' and no other box falls inside it)
    groups = [(), *plot.frames]
    cells: dict[tuple[tuple, int], list[tuple]] = {}
    for key, (_, frame) in plot.boxes.items():
        cells.setdefault((frame, rank[key]), []).append(key)
    offset, start = {}, 0
    for group in groups:
        offset[group] = start
        start += max((len(keys) for (g, _), keys in cells.items() if g == group), default=0)
    width = max(len(line) for text, _ in plot.boxes.values() for line in text) * 0.075 + 0.3
    height = max(len(text) for text, _ in plot.boxes.values()) * 0.16 + 0.2
    step_across, step_down = width + 0.4, height + 0.5  # ranks down the page (TB, BT)
    if rankdir in ("LR", "RL"):  # ranks across it: boxes side by side along a rank's axis
        step_across, step_down = height + 0.4, width + 0.6
    place: dict[tuple, tuple[float, float]] = {}
    for (group, r), keys in cells.items():
        for i, key in enumerate(keys):
            across, down = (offset[group] + i - (start - 1) / 2) * step_across, r * step_down
            place[key] = {
                "TB": (across, -down),
                "BT": (across, down),
                "LR": (down, -across),
                "RL": (-down, -across),
            }[rankdir]
    # arrows leave a box on the side facing the next rank and enter the next box opposite
    half = {"TB": (0, -height / 2), "BT": (0, height / 2), "LR": (width / 2, 0)}
    half["RL"] = (-width / 2, 0)
    dx, dy = half[rankdir]
    xs = [x for x, _ in place.values()]
    ys = [y for _, y in place.values()]
    span = (max(xs) - min(xs) + width + 1.0, max(ys) - min(ys) + height + 1.0)
    # at most 200 dots per inch, and fewer for a model so long that its picture would pass
    # 16,000 pixels on a side (a deep model still draws, smaller)
    figure = Figure(figsize=span, dpi=max(1, min(int(dpi), 200, int(16_000 / max(span)))))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(min(xs) - width / 2 - 0.5, max(xs) + width / 2 + 0.5)
    axes.set_ylim(min(ys) - height / 2 - 0.5, max(ys) + height / 2 + 0.5)
    axes.axis("off")
    for frame, title in plot.frames.items():
        inside = [place[k] for k, (_, where) in plot.boxes.items() if where[: len(frame)] == frame]
        if not inside:
            continue
        pad = 0.2 + 0.1 * (4 - min(len(frame), 4))
        x0 = min(x for x, _ in inside) - width / 2 - pad
        y0 = min(y for _, y in inside) - height / 2 - pad
        x1 = max(x for x, _ in inside) + width / 2 + pad
        y1 = max(y for _, y in inside) + height / 2 + pad
        axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=0.8))
        axes.text(x0 + 0.05, y1 - 0.05, title, ha="left", va="top", fontsize=7, style="italic")
    for a, b in plot.arrows:
        (xa, ya), (xb, yb) = place[a], place[b]
        axes.annotate(
            "",
            xy=(xb - dx, yb - dy),
            xytext=(xa + dx, ya + dy),
            arrowprops={"arrowstyle": "-|>", "lw": 0.8, "shrinkA": 0, "shrinkB": 0},
        )
    for key, (text, _) in plot.boxes.items():
        x, y = place[key]
        axes.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.02",
                fc="#eef3fb",
                ec="#33415c",
                lw=0.8,
            )
        )
        axes.text(x, y, "\n".join(text), ha="center", va="center", fontsize=8, family="monospace")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="jpeg" if fmt == "jpg" else fmt)
    return buffer.getvalue()


def plot_model(
    model: Any,
    to_file: str | os.PathLike = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    *,
    engine: str = "auto",
) -> Path:
    """Draw ``model``'s layers and how they connect into ``to_file``, as Keras's
    ``utils.plot_model`` (its arguments and defaults), without pydot.

    Args:
        model: a built Sequential, functional or subclassed model.
        to_file: ``.dot``/``.gv`` (Graphviz text), ``.png``, ``.svg``, ``.pdf`` or ``.jpg``.
        show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable:
            what each box shows beside the layer's type (Keras's options).
        rankdir: ``"TB"`` (top to bottom), ``"LR"``, ``"BT"`` or ``"RL"``.
        expand_nested: draw a nested model's layers inside a frame instead of one box.
        dpi: the image's resolution (the matplotlib drawing caps it at 200, and lower where
            the picture would pass 16,000 pixels on a side).
        splines: Graphviz's edge style (``"ortho"``, ``"line"``, ``"curved"``, ...).
        engine: ``"auto"`` (Graphviz's ``dot`` when installed, else matplotlib),
            ``"graphviz"`` or ``"matplotlib"`` (engram's addition).

    Returns:
        The path written.

    Raises:
        ValueError: an unbuilt model, an unknown extension or ``rankdir``.
        FileNotFoundError: ``engine="graphviz"`` without the ``dot`` program.

    Example:
        >>> plot_model(model, to_file="model.svg", show_shapes=True)  # doctest: +SKIP
    """
    from engram.fileio import atomic_write_bytes

    check_choice(rankdir, "rankdir", ("TB", "LR", "BT", "RL"))
    check_choice(engine, "engine", ("auto", "graphviz", "matplotlib"))
    path = Path(to_file)
    ext = path.suffix.lower()
    if ext not in TEXT_FORMATS and ext not in IMAGE_FORMATS:
        raise ValueError(
            f"plot_model writes {', '.join([*TEXT_FORMATS, *IMAGE_FORMATS])} files; "
            f"to_file={str(to_file)!r} has none of these extensions. Name the file e.g. "
            "'model.png', or 'model.dot' for Graphviz's text."
        )
    plot = plot_graph(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        expand_nested=expand_nested,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    text = to_dot(plot, rankdir=rankdir, dpi=dpi, splines=splines)
    if ext in TEXT_FORMATS:
        return atomic_write_bytes(path, text.encode())
    fmt = IMAGE_FORMATS[ext]
    dot = shutil.which("dot") if engine != "matplotlib" else None
    if engine == "graphviz" and dot is None:
        raise FileNotFoundError(
            "plot_model(engine='graphviz') needs Graphviz's dot program, which is not on the "
            "PATH. Install Graphviz (e.g. apt-get install graphviz), or leave engine='auto' to "
            "draw with matplotlib, or write to_file='model.dot'."
        )
    if dot is not None:
        done = subprocess.run([dot, f"-T{fmt}"], input=text.encode(), capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"Graphviz's dot failed: {done.stderr.decode(errors='replace')}")
        return atomic_write_bytes(path, done.stdout)
    return atomic_write_bytes(path, _draw(plot, fmt, rankdir, dpi))


def model_to_dot(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    subgraph: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
) -> str:
    """Graphviz's text for ``model`` (Keras's ``model_to_dot`` returns a pydot object; engram
    returns the text it would write, which ``pydot.graph_from_dot_data`` reads)."""
    check_choice(rankdir, "rankdir", ("TB", "LR", "BT", "RL"))
    if subgraph:
        raise NotImplementedError(
            "model_to_dot(subgraph=True) is not supported by engram; use expand_nested=True "
            "to draw nested models inside frames."
        )
    plot = plot_graph(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        expand_nested=expand_nested,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    return to_dot(plot, rankdir=rankdir, dpi=dpi, splines=splines)
