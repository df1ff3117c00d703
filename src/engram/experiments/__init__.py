"""Runnable experiments: one file each, found and registered on first use.

`get(name)` and `names()` import every module in this package once (each module registers its
experiment), so adding an experiment is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from engram.experiments.base import Experiment, Figure, Result, Table, experiments, register

__all__ = ["Experiment", "Figure", "Result", "Table", "experiments", "register", "get", "names"]

_NOT_EXPERIMENTS = {"base", "runner"}
_loaded = False


def load_all() -> None:
    """Import every experiment module in this package (once)."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_EXPERIMENTS and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


def get(name: str) -> Experiment:
    """The registered experiment called ``name`` (with "did you mean" on a typo)."""
    load_all()
    return experiments.get(name)


def names() -> list[str]:
    """Every registered experiment's name, sorted."""
    load_all()
    return experiments.names()
