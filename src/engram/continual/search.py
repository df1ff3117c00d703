"""Choosing a method's regularisation strength per scenario on held-out training data.

The strengths that van de Ven & Tolias found by grid search on MNIST need not suit another
dataset, network or number of iterations (users of their code report EWC and SI failing at the
recommended values). `search_strength` trains the stream once per candidate strength on the
training images that remain after `streams.hold_out` and keeps the strength with the best
average accuracy on the held-out images: the test sets are never looked at. The candidates'
runs are independent `Job`s (`candidate_jobs`): ``workers`` runs them in parallel processes,
with the same results.

Example:
    >>> from engram.continual import load_stream
    >>> stream = load_stream("digits", "split", seed=0)
    >>> found = search_strength("si", stream, "domain", (1.0, 100.0), iterations=10,
    ...                         hidden=(16,), seed=0)
    >>> found.best in (1.0, 100.0)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engram.continual.jobs import Done, Job, Source, run_jobs
from engram.continual.streams import Stream, hold_out
from engram.validation import check_positive


@dataclass(frozen=True)
class StrengthSearch:
    """The candidates tried, the held-out average accuracy of each, and the best one."""

    method: str
    scenario: str
    candidates: tuple[float, ...]
    validation_accuracy: tuple[float, ...]
    iterations: int | None = None  # per context, in the searched runs (None: not recorded)

    @property
    def best(self) -> float:
        """The candidate with the highest held-out accuracy (the smaller one on a tie)."""
        pairs = sorted(zip(self.candidates, self.validation_accuracy, strict=True))
        return max(pairs, key=lambda p: p[1])[0]


def candidate_jobs(
    method: str,
    source: Stream | Source,
    scenario: str,
    candidates: Sequence[float],
    *,
    fraction: float = 0.2,
    seed: int = 0,
    **train_settings: Any,
) -> list[Job]:
    """One `Job` per candidate strength: ``method`` on ``source`` held out (`hold_out`), keyed
    ``("search", scenario, method, strength)``."""
    if not candidates:
        raise ValueError("candidates must hold at least one strength to try.")
    tried = tuple(float(check_positive(c, "candidates")) for c in candidates)
    if isinstance(source, Source):
        validation: Stream | Source = source.held(fraction, seed)
    else:
        validation = hold_out(source, fraction, seed)
    return [
        Job(
            validation,
            method,
            scenario,
            {**train_settings, "seed": seed, "strength": c},
            key=("search", scenario, method, c),
        )
        for c in tried
    ]


def collect(done: Sequence[Done]) -> StrengthSearch:
    """The `StrengthSearch` of one method's finished candidate jobs (in their order)."""
    _, scenario, method, _ = done[0].job.key
    return StrengthSearch(
        method,
        scenario,
        tuple(d.job.key[3] for d in done),
        tuple(d.result.average for d in done),
        done[0].job.settings.get("iterations"),
    )


def search_strength(
    method: str,
    stream: Stream | Source,
    scenario: str,
    candidates: Sequence[float],
    *,
    fraction: float = 0.2,
    seed: int = 0,
    workers: int = 1,
    **train_settings: Any,
) -> StrengthSearch:
    """Train ``method`` on ``stream`` held out (`hold_out`) once per strength in ``candidates``.

    Args:
        method: a method taking ``strength`` (``"ewc"``, ``"online-ewc"``, ``"si"``).
        stream: the stream, or the `Source` worker processes load it from.
        candidates: the strengths to try (each > 0).
        fraction: the share of each context's training images held out.
        workers: processes to run the candidates on (`run_jobs`; 1: here, serially).
        **train_settings: passed on to `train_stream` (iterations, hidden, options, ...).

    Returns:
        `StrengthSearch` with every candidate's held-out average accuracy.
    """
    jobs = candidate_jobs(
        method, stream, scenario, candidates, fraction=fraction, seed=seed, **train_settings
    )
    return collect(run_jobs(jobs, workers))
