"""`import engram` is fast and pulls in no heavy optional dependency."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["matplotlib", "sklearn", "torch", "tqdm", "safetensors", "scipy", "pandas"]

PROBE = """
import json, sys, time
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(module: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", ["engram", "engram.nn"])
def test_import_is_fast_and_light(module):
    # best of 5 fresh interpreters: on a busy shared machine single runs vary 2-3x
    runs = [probe(module) for _ in range(5)]
    assert runs[0]["heavy"] == [], f"import {module} pulled in {runs[0]['heavy']}"
    best = min(r["seconds"] for r in runs)
    assert best < 0.3, f"import {module} took {best:.3f} s (best of 5)"


def test_engram_adds_little_to_numpy_import():
    # engram's own share, measured against numpy's import in the same conditions
    engram_nn = min(probe("engram.nn")["seconds"] for _ in range(5))
    numpy_only = min(probe("numpy")["seconds"] for _ in range(5))
    assert engram_nn - numpy_only < 0.15, f"engram.nn {engram_nn:.3f} s, numpy {numpy_only:.3f} s"


def test_public_api_is_reachable():
    import engram
    import engram.nn

    assert engram.__version__
    for name in (
        "Sequential",
        "Input",
        "load_model",
        "gradcheck",
        "ModelFileError",
        "set_random_seed",
        "layers",
        "losses",
        "optimizers",
        "activations",
        "initializers",
        "metrics",
        "callbacks",
        "utils",
        "models",
    ):
        assert hasattr(engram.nn, name), name
