"""Report sentences chosen by a condition checked on this run's values.

A report states a result only when the run's numbers support it: each such sentence is written
as a `verdict` with its condition beside it, so the text says otherwise when the data do, and a
test can flip the condition with one setting.

Example:
    >>> verdict(3 >= 2, "solved {n} of {m}", "solved only {n} of {m}", n=3, m=4)
    'solved 3 of 4'
    >>> verdict(None, "yes", "no", "cannot tell from {n} runs", n=1)
    'cannot tell from 1 runs'
"""

from __future__ import annotations

import math
from typing import Any


def verdict(
    condition: bool | None, if_true: str, if_false: str, if_unknown: str = "", **values: Any
) -> str:
    """``if_true`` when ``condition`` holds, ``if_false`` when not, ``if_unknown`` when None;
    the chosen template is formatted with ``values``."""
    text = if_unknown if condition is None else (if_true if condition else if_false)
    return text.format(**values)


def above_chance(correct_fraction: float, chance: float, n: int, z: float = 2.0) -> bool:
    """Whether an accuracy over ``n`` independent trials lies more than ``z`` binomial standard
    errors above ``chance`` (the accuracy of guessing)."""
    return correct_fraction > chance + z * chance_band(chance, n)


def chance_band(chance: float, n: int) -> float:
    """One binomial standard error of a guesser's accuracy over ``n`` trials."""
    return math.sqrt(chance * (1 - chance) / max(n, 1))


def count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1: ``count(1, "epoch") == "1 epoch"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
