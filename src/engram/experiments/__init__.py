"""Runnable experiments: one file each, found and registered on first use.

`get(name)` and `names()` import every module in this package once (each module registers its
experiment), so adding an experiment is adding one file. `names()` lists them in the order of the
lessons (docs/lessons), which `engram list` and `engram tour` follow; an experiment missing from
`LESSON_ORDER` comes after those in it, alphabetically.
"""

from __future__ import annotations

import importlib
import pkgutil

from engram.experiments.base import Experiment, Figure, Result, Table, experiments, register

__all__ = [
    "LESSON_ORDER",
    "Experiment",
    "Figure",
    "Result",
    "Table",
    "experiments",
    "register",
    "get",
    "names",
]

_NOT_EXPERIMENTS = {"base", "runner"}
# the order a learner needs, lesson by lesson (docs/lessons/01 ... 08)
LESSON_ORDER = (
    "xor",
    "backprop-from-scratch",
    "binary-classifier",
    "mnist-mlp",
    "mnist-cnn",
    "visual-filters",
    "rnn-basics",
    "working-memory",
    "hebbian-learning",
    "hopfield-capacity",
    "memory-recall",
    "flip-flop",
    "motor-reach",
    "synchrony",
    "spiking-classifier",
    "consolidation",
    "continual-learning",
)
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
    """Every registered experiment's name, in `LESSON_ORDER`; the others after, alphabetically."""
    load_all()
    rank = {name: i for i, name in enumerate(LESSON_ORDER)}
    return sorted(experiments.names(), key=lambda name: (rank.get(name, len(rank)), name))
