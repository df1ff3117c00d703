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
    "LESSONS",
    "LESSON_ORDER",
    "Experiment",
    "Figure",
    "Result",
    "Table",
    "experiments",
    "register",
    "get",
    "lesson_of",
    "names",
]

_NOT_EXPERIMENTS = {"base", "runner"}
# the lessons (docs/lessons/NN-slug.md), each with its experiments, in the order a learner needs
LESSONS = (
    ("01-neuron-backprop", "A neuron and backpropagation",
     ("xor", "backprop-from-scratch", "binary-classifier")),
    ("02-convolution-vision", "Convolution and vision",
     ("mnist-mlp", "mnist-cnn", "visual-filters")),
    ("03-recurrence-working-memory", "Recurrence and working memory",
     ("rnn-basics", "working-memory")),
    ("04-hebbian-hopfield", "Hebbian learning and Hopfield memory",
     ("hebbian-learning", "hopfield-capacity")),
    ("05-brain-vs-network-memory", "Brain memory versus network memory", ("memory-recall",)),
    ("06-motor-cortex", "The motor cortex", ("flip-flop", "motor-reach")),
    ("07-synchrony-spiking", "Synchrony and spiking networks",
     ("synchrony", "spiking-classifier")),
    ("08-consolidation-continual", "Consolidation and continual learning",
     ("consolidation", "continual-learning")),
)  # fmt: skip
LESSON_ORDER = tuple(name for _, _, names in LESSONS for name in names)
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


def lesson_of(name: str) -> str:
    """The "read more" line for experiment ``name``: its lesson's number, title and file ("")."""
    for number, (slug, title, members) in enumerate(LESSONS, start=1):
        if name in members:
            return f"Read more: lesson {number}, {title} (docs/lessons/{slug}.md)."
    return ""


def names() -> list[str]:
    """Every registered experiment's name, in `LESSON_ORDER`; the others after, alphabetically."""
    load_all()
    rank = {name: i for i, name in enumerate(LESSON_ORDER)}
    return sorted(experiments.names(), key=lambda name: (rank.get(name, len(rank)), name))
