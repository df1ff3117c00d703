"""How values look in reports and on the terminal: metrics, settings, times, JSON.

Numbers get 4 significant digits, nested metric dicts become ``group.name`` pairs, numpy values
become plain JSON, and a run's settings become the ``engram run`` command that reproduces it.

Example:
    >>> format_value(0.123456)
    '0.1235'
    >>> flatten_metrics({"loss": 0.5, "per_class": {"a": 1}})
    [('loss', 0.5), ('per_class.a', 1)]
"""

from __future__ import annotations

import math
import numbers
import os
import shlex
from collections.abc import Mapping
from typing import Any

import numpy as np

HIDDEN_SETTINGS = {"verbose"}  # settings that do not change results: not shown, not reproduced


def engram_version() -> str:
    """The engram version (``engram.__version__``, always defined)."""
    import engram

    return engram.__version__


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars and arrays, tuples, paths and nested containers to plain JSON.

    Non-finite floats become ``None`` (JSON has no NaN); unknown objects become their ``repr``.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (str, type(None))):
        return value
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def format_value(value: Any) -> str:
    """A short human form of a metric or setting: 4 significant digits, short lists inline."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    if value is None:
        return "–"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) > 8 or any(isinstance(v, (list, tuple, Mapping)) for v in value):
            return f"{len(value)} values (see metrics.json)"
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def format_seconds(seconds: float) -> str:
    """``12.3 s`` or ``2 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metric dicts as ``("group.name", value)`` pairs, in order."""
    pairs: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            pairs.extend(flatten_metrics(value, f"{name}."))
        else:
            pairs.append((name, value))
    return pairs


def scalar_metrics(
    metrics: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> list[tuple[str, float]]:
    """The finite numeric scalar metrics (not booleans), in the order the experiment gave them.

    With ``config``, metrics that only repeat a setting (``n_seeds`` equal to the ``n_seeds``
    setting) are left out.
    """
    config = config or {}
    return [
        (k, v)
        for k, v in flatten_metrics(metrics)
        if isinstance(v, numbers.Real)
        and not isinstance(v, (bool, np.bool_))
        and math.isfinite(v)
        and not (k in config and config[k] == v)
    ]


def headline_values(
    metrics: Mapping[str, Any], headline: Mapping[str, str], config: Mapping[str, Any] | None = None
) -> list[tuple[str, Any]]:
    """The run's findings as ``(label, value)`` pairs.

    ``headline`` maps metric keys (``"group.name"`` for nested ones) to plain labels, as a
    `Result` declares them. Without one, the first eight finite scalar metrics stand in, named by
    their keys.

    Raises:
        KeyError: a headline key that the metrics do not hold (the experiment's mistake).
    """
    if not headline:
        top_level = {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}
        return scalar_metrics(top_level, config)[:8]
    flat = dict(flatten_metrics(metrics))
    missing = [key for key in headline if key not in flat]
    if missing:
        raise KeyError(
            f"Headline metric(s) {missing} are not in the run's metrics; "
            f"the metrics hold {sorted(flat)}."
        )
    return [(label, flat[key]) for key, label in headline.items()]


def key_metric(
    metrics: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    headline: Mapping[str, str] | None = None,
) -> tuple[str, float] | None:
    """The key finding: the first headline entry, else the first finite scalar metric."""
    if headline:
        return headline_values(metrics, headline, config)[0]
    scalars = scalar_metrics(metrics, config)
    return scalars[0] if scalars else None


def reproduce_command(experiment: Any, config: Mapping[str, Any]) -> str:
    """The ``engram run`` command line that resolves to ``config``."""
    parts = ["engram", "run", experiment.name, "--seed", str(config.get("seed"))]
    for key, value in config.items():
        if key in HIDDEN_SETTINGS or key == "seed" or experiment.defaults.get(key) == value:
            continue
        if isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value)
        parts += ["--epochs", text] if key == "epochs" else ["--set", f"{key}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


def _non_finite(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        return value.dtype.kind in "fc" and not bool(np.isfinite(value).all())
    if isinstance(value, (list, tuple, np.ndarray)):
        return any(_non_finite(v) for v in value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Number):
        return False
    return not np.isfinite(value)


def non_finite_values(result: Any) -> list[str]:
    """What in a `Result` is NaN or infinite: metric names (lists included), tables, figures.

    A non-empty list means the run diverged: its numbers are not results, and every report says
    so (see `engram.viz.report`). A figure counts when one of its float arrays is not finite
    (e.g. the all-NaN decision surface of a network whose weights overflowed).
    """
    names = [k for k, v in flatten_metrics(result.metrics) if _non_finite(v)]
    names += [f"table '{t.title}'" for t in result.tables if _non_finite(t.rows)]
    names += [f"figure '{f.name}'" for f in result.figures if _non_finite(f.data)]
    return names


def divergence_banner(names: list[str]) -> str:
    """The one sentence a report of a diverged run starts with (empty when nothing diverged)."""
    if not names:
        return ""
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        f"This run diverged: {len(names)} value(s) are NaN or infinite ({shown}). Its figures, "
        "metrics and sentences describe a failed run, not a result; change the settings (e.g. "
        "a smaller learning rate) and run it again."
    )
