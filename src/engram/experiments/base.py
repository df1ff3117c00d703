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

import math
import numbers
import re
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
            Math goes between dollar signs in TeX (``$r = \\sqrt{1 - K_c/K}$``): the HTML
            report shows it as MathML, offline.
        arrays: larger arrays kept for programmatic use (not written to the report).
        opening: two or three plain sentences saying what this run showed, computed from its
            values, for a reader who reads nothing else: the report opens with them.
        headline: the findings shown as the report's cards and printed first: metric key
            (``"group.name"`` for nested metrics) -> a plain label, in order.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    text: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    opening: str = ""
    headline: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bounds:
    """The values a setting may take, checked before an experiment runs.

    The type comes from the setting's default (an int setting takes ints); ``Bounds`` adds the
    range. For a list or tuple setting the range applies to every element, and the list must hold
    at least ``min_items`` of them.

    Args:
        low, high: the smallest and largest value allowed (None: no bound).
        low_open, high_open: ``low`` (``high``) itself is not allowed (e.g. a rate > 0).
        min_items: the fewest elements a list setting may have.
        choices: for a text setting (or a list of text), the words allowed.

    Example:
        >>> Bounds(1, 10_000).problem("epochs", 0)
        "Setting 'epochs' must be in [1, 10,000]. Got 0 instead."
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    min_items: int = 1
    max_items: int | None = None
    choices: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, spec: Bounds | str | tuple[str, ...]) -> Bounds:
        """Bounds from an interval: ``"[1, 8]"``, ``"(0, inf)"``, ``"[0, 1)"``, ``"[0, inf) x2"``.

        ``x2`` asks a list setting for exactly two values; ``-inf``/``inf`` mean no bound; a
        tuple of words is a choice (``("sync", "async")``).

        Raises:
            ValueError: the spec is not one of these forms.
        """
        if isinstance(spec, Bounds):
            return spec
        if isinstance(spec, tuple) and all(isinstance(c, str) for c in spec):
            return cls(choices=spec)
        match = _INTERVAL.match(spec) if isinstance(spec, str) else None
        if not match:
            raise ValueError(
                f"Bounds must be an interval such as '[1, 8]', '(0, inf)' or '[0, 1) x2', or a "
                f"tuple of words. Got {spec!r} instead."
            )
        left, low, high, right, items = match.groups()
        return cls(
            None if low == "-inf" else float(low),
            None if high == "inf" else float(high),
            low_open=left == "(",
            high_open=right == ")",
            min_items=int(items) if items else 1,
            max_items=int(items) if items else None,
        )

    def _range(self) -> str:
        def number(x: float | None, infinite: str) -> str:
            if x is None:
                return infinite
            return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"

        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{number(self.low, '-inf')}, {number(self.high, 'inf')}{right}"

    def _scalar_problem(self, value: Any) -> str | None:
        if self.choices is not None:
            return None if value in self.choices else f"one of {', '.join(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return None  # the type was checked when the value was parsed
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return f"a finite number in {self._range()}"  # (an int of any size is finite)
        too_low = self.low is not None and (
            value <= self.low if self.low_open else value < self.low
        )
        too_high = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        return f"in {self._range()}" if too_low or too_high else None

    def problem(self, key: str, value: Any) -> str | None:
        """A one-line message when ``value`` is outside the bounds, else None."""
        if isinstance(value, (list, tuple)):
            if len(value) < self.min_items or len(value) > (self.max_items or len(value)):
                many = (
                    f"exactly {self.min_items}"
                    if self.max_items == self.min_items
                    else f"at least {self.min_items}"
                )
                return f"Setting {key!r} needs {many} value(s). Got {list(value)!r} instead."
            for item in value:
                wanted = self._scalar_problem(item)
                if wanted:
                    return (
                        f"Every value of setting {key!r} must be {wanted}. "
                        f"Got {item!r} in {list(value)!r} instead."
                    )
            return None
        wanted = self._scalar_problem(value)
        return f"Setting {key!r} must be {wanted}. Got {value!r} instead." if wanted else None


@dataclass(frozen=True)
class Cost:
    """What a run is estimated to need, from its settings alone (before it starts).

    Args:
        memory_bytes: peak memory of the largest arrays the run makes (a lower bound).
        seconds: the run time, where it can be estimated (None when it cannot).
        detail: what the estimate counts, for the message, e.g. ``"512 x 1,000,002 x 17"``.
    """

    memory_bytes: float = 0.0
    seconds: float | None = None
    detail: str = ""


_NUMBER = r"\s*(-inf|inf|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_INTERVAL = re.compile(rf"^\s*([\[(]){_NUMBER},{_NUMBER}([\])])\s*(?:x\s*(\d+))?\s*$")


# Bounds every experiment has without declaring them: a seed any generator takes, epochs >= 1.
SEED_BOUNDS = Bounds(0, 2**32 - 1)
COMMON_BOUNDS = {"seed": SEED_BOUNDS, "epochs": Bounds(1, 1_000_000)}


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
        limits: the range of each numeric, list or text setting, as `Bounds` or its short form
            (``{"units": "[1, 10000]", "learning_rate": "(0, inf)", "update": ("sync",
            "async")}``, see `Bounds.parse`); ``seed`` and ``epochs`` have `COMMON_BOUNDS`.
            The runner checks them before the run starts; every float must also be finite.
        constraint: ``constraint(config) -> str | None``: a problem between settings that
            `Bounds` cannot say (e.g. ``dt <= tau``), as a one-line message, or None.
        cost: ``cost(config) -> dict`` with the keys of `Cost` (``memory_bytes``, ``seconds``,
            ``detail``): what a run with these settings needs, estimated before it starts from
            the largest arrays (a lower bound); the runner refuses a run that will not fit
            (see `engram.experiments.runner.check_resources`).
    """

    name: str
    summary: str
    reference: str
    defaults: Mapping[str, Any]
    quick: Mapping[str, Any]
    run: Callable[[dict[str, Any]], Result]
    limits: Mapping[str, Bounds | str | tuple[str, ...]] = field(default_factory=dict)
    cost: Callable[[Mapping[str, Any]], Mapping[str, Any] | Cost] | None = None
    constraint: Callable[[Mapping[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        parsed = {key: Bounds.parse(spec) for key, spec in self.limits.items()}
        object.__setattr__(self, "limits", parsed)

    def bounds(self, key: str) -> Bounds | None:
        """The declared `Bounds` of setting ``key`` (or the common ones), or None."""
        found = self.limits.get(key, COMMON_BOUNDS.get(key))
        return found if isinstance(found, Bounds) else None

    def estimate(self, config: Mapping[str, Any]) -> Cost | None:
        """The `Cost` of a run with ``config`` (None when the experiment declares no ``cost``)."""
        if self.cost is None:
            return None
        cost = self.cost(config)
        return cost if isinstance(cost, Cost) else Cost(**cost)


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
    unknown = set(experiment.limits) - set(experiment.defaults)
    if unknown:
        raise ValueError(
            f"Experiment {experiment.name!r}: limits {sorted(unknown)} are not in its defaults."
        )
    return experiments.add(experiment.name, experiment)


def epoch_progress(desc: str, verbose: int) -> list[Any]:
    """Callbacks for ``fit``: one progress bar over all epochs (none when not verbose)."""
    if not verbose:
        return []
    from engram.nn.callbacks import BAR_FORMAT, Callback, short_logs

    class EpochProgress(Callback):
        def on_train_begin(self, logs=None):
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.params["epochs"],
                desc=desc,
                unit="epoch",
                leave=False,
                dynamic_ncols=True,
                bar_format=BAR_FORMAT,
            )

        def on_epoch_end(self, epoch, logs=None):
            self.bar.update(1)
            self.bar.set_description_str(f"{desc}  {short_logs(logs)}")

        def on_train_end(self, logs=None):
            self.bar.close()

    return [EpochProgress()]
