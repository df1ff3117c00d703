"""Every registered experiment runs in quick mode and writes a complete report.

Parametrized over the registry: a new experiment file brings its test with it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from engram.experiments import names
from engram.experiments.runner import run_experiment


def numeric_leaves(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number inside nested metrics, with its dotted path."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from numeric_leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple, np.ndarray)):
        for i, item in enumerate(np.asarray(value, dtype=object).ravel()):
            yield from numeric_leaves(item, f"{path}[{i}]")
    elif isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_)):
        yield path, value


@pytest.mark.parametrize("name", names())
def test_quick_run_writes_complete_report(name, tmp_path):
    out = run_experiment(name, quick=True, out_dir=tmp_path, verbose=0)
    for file_name in ("report.html", "report.md", "metrics.json"):
        assert (tmp_path / file_name).stat().st_size > 0, file_name
    for figure in out.result.figures:
        assert (tmp_path / f"{figure.name}.png").stat().st_size > 0, figure.name
    not_finite = [k for k, v in numeric_leaves(out.result.metrics) if not math.isfinite(v)]
    assert not not_finite, f"non-finite metrics: {not_finite}"
