"""`import engram` pulls in no heavy optional dependency (its time is in bench/bench_import.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "matplotlib",
    "sklearn",
    "torch",
    "tqdm",
    "safetensors",
    "scipy",
    "pandas",
    "joblib",
    "dask",
]

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


@pytest.mark.parametrize(
    "module", ["engram", "engram.nn", "engram.data", "engram.experiments", "engram.sweep"]
)
def test_import_pulls_in_no_heavy_dependency(module):
    # the import-time target itself (< 0.3 s) is measured in bench/bench_import.py: speed is
    # never asserted in unit tests; what makes the import fast is asserted here
    heavy = probe(module)["heavy"]
    assert heavy == [], f"import {module} pulled in {heavy}"


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
