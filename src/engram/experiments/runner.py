"""Run registered experiments: resolve their settings, time them, write their reports.

Settings are resolved in one order: the experiment's defaults, then its quick settings (in quick
mode), then ``seed`` and ``epochs``, then ``--set key=value`` overrides, each parsed by the type
of its default, then checked against the experiment's declared `Bounds`. `run_experiment` runs
one experiment into a folder; `run_tour` runs every one in quick mode and writes a combined
report.

Before anything is computed, a run is checked, and refused with a one-line `ValueError`:

* its settings (types and declared ranges: ``epochs=0``, an empty list, a seed above 2**32-1);
* its output folder (`engram.fileio.check_output_folder`: empty name, under a file, not
  writable, a folder of other files);
* its resources: the experiment's `Cost` estimate against the memory this machine has available
  (and a time bound, `MAX_SECONDS`), raising `ResourceError`; ``force=True`` (``--force``) or
  ``ENGRAM_FORCE=1`` runs it anyway.

A run is written into a hidden staging folder and moved into place when complete
(`engram.fileio.staged_folder`): an earlier run in the same folder is kept, renamed
``NAME.earlier-YYYYmmdd-HHMMSS``; an interrupted or killed run leaves the folder as it was. A
run whose metrics hold NaN or infinity is *diverged* (``RunOutput.diverged``); its reports say
so in a banner and ``metrics.json`` has ``"diverged": true``.

Example:
    >>> from engram.experiments.runner import run_experiment
    >>> out = run_experiment("xor", quick=True, overrides=["learning_rate=0.1"])  # doctest: +SKIP
    >>> out.paths["report.html"]  # doctest: +SKIP
    PosixPath('engram-runs/xor/report.html')
"""

from __future__ import annotations

import difflib
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram.experiments import experiments, lesson_of
from engram.experiments import get as get_experiment
from engram.experiments import names as experiment_names
from engram.experiments._resources import (  # noqa: F401 (part of the runner's API)
    ENV_FORCE,
    MAX_SECONDS,
    ResourceError,
    available_memory,
    check_resources,
)
from engram.experiments.base import Bounds, Experiment, Result
from engram.validation import check_positive

Overrides = Mapping[str, Any] | Sequence[str] | None
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
DEFAULT_OUT = Path("engram-runs")


@dataclass
class RunOutput:
    """What `run_experiment` returns: the result, the settings used and the files written."""

    result: Result
    config: dict[str, Any]
    paths: dict[str, Path]
    elapsed_s: float
    experiment: Experiment | None = None
    out_dir: Path | None = None
    earlier: Path | None = None
    data_files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def diverged(self) -> list[str]:
        """The metrics (and tables) holding NaN or infinity; empty when the run did not diverge."""
        from engram.viz.values import non_finite_values

        return non_finite_values(self.result)


@dataclass
class TourOutput:
    """What `run_tour` returns: one entry per experiment and the combined report's paths."""

    entries: list[Any] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    earlier: Path | None = None

    @property
    def failed(self) -> list[str]:
        """Names of the experiments that raised or diverged."""
        return [e.name for e in self.entries if e.status != "ok"]


# --------------------------------------------------------------------------- settings


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "a bool (true/false)"
    if isinstance(default, int):
        return "an int"
    if isinstance(default, float):
        return "a float"
    if isinstance(default, (tuple, list)):
        return "a comma-separated list, e.g. 1,2,3"
    if default is None:
        return "a value"
    return f"a {type(default).__name__}"


def _parse_scalar(text: str, like: Any) -> Any:
    word = text.strip()
    if isinstance(like, bool):
        if word.lower() in _TRUE | _FALSE:
            return word.lower() in _TRUE
        raise ValueError(word)
    if isinstance(like, int):
        try:  # exact for any size; "1e6" and "5.0" go through float below
            return int(word)
        except ValueError:
            pass
        number = float(word)
        if not number.is_integer():
            raise ValueError(word)
        return int(number)
    if isinstance(like, float):
        return float(word)
    if like is None:  # no type to go by: the most specific reading wins
        if word.lower() in ("none", "null"):
            return None
        for kind in (int, float):
            try:
                return kind(word)
            except ValueError:
                pass
        return word
    return text


def parse_setting(key: str, text: Any, default: Any) -> Any:
    """Parse one ``--set`` value by the type of the setting's default.

    Booleans read true/false/1/0/yes/no/on/off; lists and tuples read ``1,2,3`` (brackets
    optional) with elements typed like the default's first element. A value that is not a string
    (from Python) is accepted when its type already fits.

    Raises:
        ValueError: the value cannot be read as the expected type; the message names the key.
    """
    if not isinstance(text, str):
        fits = isinstance(text, type(default)) or (
            isinstance(default, float) and isinstance(text, int) and not isinstance(text, bool)
        )
        if default is None or fits:
            return text
        text = ",".join(map(str, text)) if isinstance(text, (list, tuple)) else str(text)
    try:
        if isinstance(default, (tuple, list)):
            like = default[0] if len(default) else None
            body = text.strip().strip("()[]").strip()
            items = [_parse_scalar(part, like) for part in body.split(",")] if body else []
            return type(default)(items)
        return _parse_scalar(text, default)
    except ValueError:
        raise ValueError(
            f"Setting {key!r} expects {_type_name(default)} (default {default!r}). "
            f"Got {text!r} instead."
        ) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _split_overrides(overrides: Overrides) -> list[tuple[str, Any]]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    if isinstance(overrides, str):
        overrides = [overrides]
    pairs = []
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes key=value, e.g. --set epochs=5. Got {item!r} instead.")
        pairs.append((key.strip(), value))
    return pairs


def _unknown_setting(experiment: Experiment, key: str) -> ValueError:
    keys = sorted(experiment.defaults)
    close = difflib.get_close_matches(key, keys, n=3)
    hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
    return ValueError(
        f"Unknown setting {key!r} for experiment {experiment.name!r}.{hint} "
        f"Available: {', '.join(keys)}."
    )


def resolve_config(
    experiment: Experiment,
    *,
    quick: bool = False,
    seed: int | None = None,
    epochs: int | None = None,
    overrides: Overrides = None,
) -> dict[str, Any]:
    """The settings a run uses: defaults, then quick settings, then seed/epochs, then overrides.

    Args:
        experiment: the registered `Experiment`.
        quick: apply the experiment's quick settings (small and fast, on embedded data).
        seed: the random seed (a non-negative int), or None for the experiment's default.
        epochs: the number of training epochs, for experiments that have an ``epochs`` setting.
        overrides: ``{"key": "value"}`` or ``["key=value", ...]`` (from ``--set``), each parsed
            by the type of the setting's default.

    Returns:
        A new dict with every setting of the experiment.

    Raises:
        ValueError: an unknown key ("did you mean"), an unreadable value, a bad seed, or
            ``epochs`` for an experiment without that setting.
        TypeError: ``seed`` or ``epochs`` is not an int.
    """
    config = dict(experiment.defaults)
    if quick:
        config.update(experiment.quick)
    if seed is not None:  # type and sign here (np.isfinite cannot take a huge int); range below
        check_positive(
            min(seed, 2**63) if _is_int(seed) else seed, "seed", integer=True, strict=False
        )
        config["seed"] = seed
    if epochs is not None:
        if "epochs" not in experiment.defaults:
            raise ValueError(
                f"Experiment {experiment.name!r} has no 'epochs' setting (it does not train "
                f"by epochs). Its settings are: {', '.join(sorted(experiment.defaults))}."
            )
        check_positive(min(epochs, 2**63) if _is_int(epochs) else epochs, "epochs", integer=True)
        config["epochs"] = epochs
    for key, value in _split_overrides(overrides):
        if key not in experiment.defaults:
            raise _unknown_setting(experiment, key)
        config[key] = parse_setting(key, value, experiment.defaults[key])
    check_settings(experiment, config)
    return config


def check_settings(experiment: Experiment, config: Mapping[str, Any]) -> None:
    """Check every setting against the experiment's `Bounds` (floats finite), then its constraint.

    Raises:
        ValueError: one line naming the setting, the range and the value received.
    """
    for key, value in config.items():
        if key not in experiment.defaults:
            continue
        problem = (experiment.bounds(key) or Bounds(min_items=0)).problem(key, value)
        if problem:
            raise ValueError(f"{problem} (experiment {experiment.name!r})")
    problem = experiment.constraint(config) if experiment.constraint is not None else None
    if problem:
        raise ValueError(f"{problem} (experiment {experiment.name!r})")


# --------------------------------------------------------------------------- running


def run_experiment(
    name: str | Experiment,
    *,
    quick: bool = False,
    seed: int | None = None,
    epochs: int | None = None,
    overrides: Overrides = None,
    out_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    force: bool = False,
) -> RunOutput:
    """Run one experiment and write its report (figures, report.md/html, metrics.json).

    Args:
        name: a registered experiment's name (or the `Experiment` itself).
        quick, seed, epochs, overrides: see `resolve_config`.
        out_dir: where the report goes; default ``./engram-runs/<name>``. An earlier run there
            is renamed ``<name>.earlier-<time>``, never mixed with this one.
        verbose: 1 shows the experiment's progress bars, 0 keeps it silent.
        force: run even when the estimated memory or time is beyond this machine.

    Returns:
        A `RunOutput` with the result, the resolved config, the written paths and the time.

    Raises:
        ValueError: unknown experiment (with "did you mean"), bad settings or output folder.
        ResourceError: the run will not fit in memory or time (see `check_resources`).
        TypeError: the experiment's ``run`` did not return a `Result`.
    """
    experiment = get_experiment(name)
    config = resolve_config(experiment, quick=quick, seed=seed, epochs=epochs, overrides=overrides)
    return run_resolved(experiment, config, out_dir=out_dir, verbose=verbose, force=force)


def run_resolved(
    experiment: Experiment,
    config: Mapping[str, Any],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    force: bool = False,
) -> RunOutput:
    """Run ``experiment`` with settings already resolved by `resolve_config`; write its report.

    The command line resolves (and so checks) the settings first, then says what it runs. The
    output folder and the resources are checked here, before anything is computed; the report
    is written into a staging folder and moved into place whole.

    Raises:
        ValueError: the output folder cannot be used (see `check_output_folder`).
        ResourceError: the run will not fit (see `check_resources`).
        TypeError: the experiment's ``run`` did not return a `Result`.
    """
    from engram.data.provenance import record_reads
    from engram.fileio import check_output_folder, staged_folder

    out = check_output_folder(out_dir if out_dir is not None else DEFAULT_OUT / experiment.name)
    check_resources(experiment, config, force=force)
    config = {**config, "verbose": int(verbose)}
    start = time.perf_counter()
    with record_reads() as reads:
        result = experiment.run(dict(config))
    elapsed = time.perf_counter() - start
    if not isinstance(result, Result):
        raise TypeError(
            f"Experiment {experiment.name!r}: run(config) must return an "
            f"engram.experiments.Result. Got {type(result).__name__} instead."
        )
    from engram.viz.report import write_report

    data_files = [read.as_dict() for read in reads]
    with staged_folder(out) as staged:
        written = write_report(
            result,
            experiment,
            config,
            staged.path,
            elapsed_s=elapsed,
            data_files=data_files,
            read_more=lesson_of(experiment.name),
        )
    paths = {name: out / path.name for name, path in written.items()}
    return RunOutput(result, config, paths, elapsed, experiment, out, staged.earlier, data_files)


def run_tour(
    out_dir: str | os.PathLike[str],
    *,
    seed: int | None = None,
    verbose: int = 1,
    only: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> TourOutput:
    """Run every registered experiment in quick mode, then write one combined report.

    Each experiment writes into ``out_dir/<name>``. One that raises is recorded as failed, with
    its error and traceback, and the tour goes on; one whose metrics hold NaN or infinity is
    recorded as diverged; check ``TourOutput.failed``. The whole tour is written into a staging
    folder and moved into place at the end (an earlier tour there is kept, renamed).

    Args:
        out_dir: the tour's folder; the combined report.html/report.md go at its top.
        seed: a seed for every experiment, or None for each one's default.
        verbose: passed to each experiment (progress bars).
        only: run only these experiments (default: all, in lesson order).
        log: called with one line per experiment as it starts and ends (e.g. ``click.echo``).

    Returns:
        A `TourOutput`: the entries (status, time, result or error) and the combined paths.
    """
    from engram.fileio import check_output_folder, staged_folder
    from engram.viz.report import write_combined_report

    out = check_output_folder(out_dir)
    todo = list(only) if only is not None else experiment_names()
    tour = TourOutput()
    with staged_folder(out) as staged:
        for i, name in enumerate(todo, start=1):
            if log:
                log(f"[{i}/{len(todo)}] {name} ...")
            entry = _tour_entry(name, staged.path / name, seed, verbose)
            tour.entries.append(entry)
            if log:
                log(
                    f"[{i}/{len(todo)}] {name}: {entry.status} ({entry.elapsed_s:.1f} s)"
                    + (f" - {entry.error}" if entry.error else "")
                )
        written = write_combined_report(tour.entries, staged.path)
    for entry in tour.entries:  # the files now live under out, not the staging folder
        entry.paths = {k: out / p.relative_to(staged.path) for k, p in entry.paths.items()}
    tour.paths = {k: out / p.relative_to(staged.path) for k, p in written.items()}
    tour.earlier = staged.earlier
    return tour


def _tour_entry(name: str, out: Path, seed: int | None, verbose: int) -> Any:
    """One experiment of the tour, run quickly into ``out``: ok, diverged or failed."""
    from engram.viz.report import ReportEntry

    start = time.perf_counter()
    try:
        run = run_experiment(name, quick=True, seed=seed, out_dir=out, verbose=verbose)
    except Exception as exc:  # recorded in the report and in TourOutput.failed, not hidden
        return ReportEntry(
            name,
            "failed",
            time.perf_counter() - start,
            experiment=experiments.get(name) if name in experiments else None,
            error=f"{type(exc).__name__}: {exc}",
            details=traceback.format_exc(),
        )
    diverged = run.diverged
    return ReportEntry(
        name,
        "diverged" if diverged else "ok",
        run.elapsed_s,
        run.experiment,
        run.config,
        run.result,
        run.paths,
        error=f"diverged: NaN or infinite {', '.join(diverged[:3])}" if diverged else "",
        data_files=run.data_files,
    )
