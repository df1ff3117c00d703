"""What an experiment is, what it returns, and the registry that holds them.

An experiment is declared in one file: a name, a one-line summary, a reference, its default
settings and the smaller settings of quick mode, and a ``run(config)`` function that trains or
simulates and returns a `Result`: metrics, arrays, declarative `Figure`s and a short text. It never
plots; `engram.viz` turns a `Result` into PNG figures and a report.

Example:
    >>> from engram.experiments.base import Experiment, Figure, Result, register
    >>> def run(config):
    ...     return Result(metrics={"answer": 42})
    >>> EXPERIMENT = register(Experiment(
    ...     name="demo", summary="A demo.", reference="None.", defaults={"seed": 0},
    ...     quick={}, run=run))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engram.nn.utils import progress  # noqa: F401  (experiments import it from here)
from engram.registry import Registry

experiments: Registry[Experiment] = Registry("experiment")


@dataclass
class Figure:
    """A figure described as data; `engram.viz.plots` draws it.

    Args:
        name: file stem of the PNG, e.g. ``"loss_curve"``.
        title: the figure's title.
        kind: how to draw it; one of the kinds `engram.viz.plots.KINDS` knows (``"lines"``,
            ``"scatter"``, ``"images"``, ``"heatmap"``, ``"bars"``, ``"decision_boundary"`` ...).
        data: the arrays and labels the kind needs (see `engram.viz.plots`).
        caption: one or two sentences shown under the figure in the report.
    """

    name: str
    title: str
    kind: str
    data: dict[str, Any]
    caption: str = ""


@dataclass
class Table:
    """A small table for the report and the terminal: a title, column headers and rows."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Result:
    """What an experiment returns.

    Args:
        metrics: JSON-able scalars, lists and small dicts, written to ``metrics.json``.
        figures: `Figure` declarations drawn by `engram.viz`.
        tables: `Table`s shown in the report and printed.
        text: markdown paragraphs for the report: what was done, what came out, honestly.
        arrays: larger arrays kept for programmatic use (not written to the report).
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    text: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A registered, runnable experiment.

    Args:
        name: the name used on the command line (``engram run NAME``).
        summary: one line saying what it shows.
        reference: where the idea or the program comes from.
        defaults: every setting with its default value (types are used to parse ``--set``).
            Always includes ``seed``; training experiments include ``epochs``.
        quick: the settings that quick mode (and ``engram tour``) overrides: small and fast, on
            embedded data.
        run: ``run(config: dict) -> Result``; ``config["verbose"]`` (0 or 1) says whether to show
            progress bars.
    """

    name: str
    summary: str
    reference: str
    defaults: Mapping[str, Any]
    quick: Mapping[str, Any]
    run: Callable[[dict[str, Any]], Result]


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry and return it."""
    if "seed" not in experiment.defaults:
        raise ValueError(f"Experiment {experiment.name!r} must declare a 'seed' default.")
    unknown = set(experiment.quick) - set(experiment.defaults)
    if unknown:
        raise ValueError(
            f"Experiment {experiment.name!r}: quick settings {sorted(unknown)} are not in its "
            "defaults."
        )
    return experiments.add(experiment.name, experiment)


def epoch_progress(desc: str, verbose: int) -> list[Any]:
    """Callbacks for ``fit``: one progress bar over all epochs (none when not verbose)."""
    if not verbose:
        return []
    from engram.nn.callbacks import Callback

    class EpochProgress(Callback):
        def on_train_begin(self, logs=None):
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.params["epochs"],
                desc=desc,
                unit="epoch",
                leave=False,
                dynamic_ncols=True,
            )

        def on_epoch_end(self, epoch, logs=None):
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in (logs or {}).items()})

        def on_train_end(self, logs=None):
            self.bar.close()

    return [EpochProgress()]
