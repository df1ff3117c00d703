"""Imports point down: the engine names nothing above it, and no module imports itself back.

The import graph is read from the source with ast (module-level imports and the lazy ones inside
functions), not by importing anything.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import engram
from engram import registry

ROOT = Path(engram.__file__).parent
#: what the engine may import from engram besides itself
BELOW_NN = {"engram.registry", "engram.validation", "engram.fileio", "engram.runtime"}
#: engram.nn.datasets (Keras's load_data) reads the files through engram.data's verified
#: loaders; engram.data imports nothing of engram.nn (asserted below)
DATA_FOR_DATASETS = {
    "engram.data",
    "engram.data.mnist",
    "engram.data.cifar10",
    "engram.data.cifar100",
    "engram.data.housing",
}
#: cycles that exist only through imports inside functions, with why they are left for now
KNOWN_LAZY_CYCLES = [
    # Model.save/save_weights/load_weights hand the model to engram.nn.saving, whose loaders
    # build Sequential models: Keras's API puts saving on the model object (engram_graph: a
    # functional model's graph in .engram files, built by the same architecture module)
    {
        "engram.nn.model",
        "engram.nn.saving",
        "engram.nn.saving.architecture",
        "engram.nn.saving.engram_graph",
        "engram.nn.saving.functional",
        "engram.nn.saving.keras_format",
        "engram.nn.sequential",
    },
]


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(path: Path, lazy: bool) -> set[str]:
    """The engram modules ``path`` imports (``from engram.nn import losses`` is the module
    engram.nn.losses); with ``lazy``, imports inside functions too."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("engram")}


def cycles(lazy: bool, within: str = "engram") -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    graph = {
        m: {n for n in imports(p, lazy) if n in MODULES and n != m and n.startswith(within)}
        for m, p in MODULES.items()
        if m.startswith(within)
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_engine_imports_nothing_above_it():
    for name, path in MODULES.items():
        if not name.startswith("engram.nn"):
            continue
        above = {n for n in imports(path, lazy=True) if not n.startswith("engram.nn")} - BELOW_NN
        if name.startswith("engram.nn.datasets"):
            above -= DATA_FOR_DATASETS
        assert not above, f"{name} imports {sorted(above)} from above the engine"
        # nor names one in a string (an importlib.import_module list, as io.py once had)
        strings = [
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        named = {m for s in strings for m in re.findall(r"\bengram\.[a-z_.]+", s)}
        named = {m.rstrip(".") for m in named}
        named = {m for m in named if m in MODULES and not m.startswith("engram.nn")} - BELOW_NN
        if name.startswith("engram.nn.datasets"):
            named -= DATA_FOR_DATASETS  # its docstrings say where the files come from
        assert not named, f"{name} names {sorted(named)} in a string"


def test_the_data_the_datasets_read_imports_nothing_of_the_engine():
    for name, path in MODULES.items():
        if name.startswith("engram.data"):
            assert not {n for n in imports(path, lazy=True) if n.startswith("engram.nn")}, name


def test_no_import_cycles():
    assert cycles(lazy=False) == [], "module-level import cycles"
    lazy_nn = cycles(lazy=True, within="engram.nn")
    assert all(c in KNOWN_LAZY_CYCLES for c in lazy_nn), f"new cycles in engram.nn: {lazy_nn}"
    nn_io = imports(MODULES["engram.nn.io"], lazy=True)
    assert not {"engram.nn.model", "engram.nn.sequential"} & nn_io
    assert not any(
        n.startswith("engram.experiments")
        for n in imports(MODULES["engram.motor.training"], lazy=True)
    )


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    from engram.fake import b\n")
    b.write_text("import engram.fake.a\n")
    monkeypatch.setattr(sys.modules[__name__], "MODULES", {"engram.fake.a": a, "engram.fake.b": b})
    assert cycles(lazy=True) == [{"engram.fake.a", "engram.fake.b"}]
    assert cycles(lazy=False) == []


def test_every_name_registered_above_the_engine_is_declared():
    import engram.continual  # noqa: F401  (every package that might register a name)
    import engram.memory  # noqa: F401
    import engram.motor  # noqa: F401
    from engram.nn.layers.base import layers
    from engram.nn.losses import losses

    for kind, family in (("layer", layers), ("loss", losses)):
        for name in family.names():
            module = family.get(name).__module__
            if not module.startswith("engram.nn"):
                declared = registry._DECLARED.get(kind, {})
                assert declared.get(name) == module, (
                    f"{kind} {name!r} is registered by {module}: declare it in "
                    "engram/__init__.py so files naming it load in a fresh process"
                )


def test_declared_names_are_found_in_a_fresh_process():
    code = (
        "import sys\n"
        "from engram.nn.layers.base import layers\n"
        "from engram.nn.losses import losses\n"
        "assert 'engram.motor' not in sys.modules\n"
        "assert 'RateRNN' in layers.names()\n"
        "assert layers.get('RateRNN').__name__ == 'RateRNN'\n"
        "assert 'masked_mean_squared_error' in losses\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
