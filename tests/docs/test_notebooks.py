"""The lesson notebooks: each .ipynb agrees with its plain-text copy and runs to the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "docs" / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.py"))


def test_at_least_five_notebooks_each_with_its_pair():
    assert len(PAIRS) >= 5
    assert [p.name for p in PAIRS if not p.with_suffix(".ipynb").exists()] == []


@pytest.mark.parametrize("text", PAIRS, ids=lambda p: p.stem)
def test_notebook_matches_its_plain_text_copy(text):
    jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed")
    from_text = jupytext.read(text)
    from_ipynb = jupytext.read(text.with_suffix(".ipynb"))

    def cells(notebook):
        return [(c.cell_type, c.source.strip()) for c in notebook.cells]

    assert cells(from_text) == cells(from_ipynb), (
        f"{text.name} and its .ipynb differ: run jupytext --sync {text.with_suffix('.ipynb')}"
    )


@pytest.mark.parametrize("text", PAIRS, ids=lambda p: p.stem)
def test_notebook_runs(text, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed")
    notebook = nbformat.read(text.with_suffix(".ipynb"), as_version=4)
    # the kernel imports this tree's engram and draws figures inline, as in Jupyter
    src = str(Path(__file__).resolve().parents[2] / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "display_data" for o in outputs), "no figure was drawn"
