"""What a continual-learning method is: hooks into the learner's stream loop.

The loop (`engram.continual.learner.train_stream`) calls, per context ``k``:
``batches`` (the training batches: the current context's by default), ``terms`` per batch (the
loss terms: the current batch alone by default; replay and distillation add theirs),
``penalty_gradient`` and ``after_step`` inside each step (EWC, SI), and ``end_context`` once the
context is learned (consolidation: Fisher, importance, a teacher's snapshot, memories).
Fine-tuning ("none") is this base class: every hook does nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from engram.continual.learner import Learner, Term, shuffled_batches


class Method:
    """Fine-tuning: learn each context with the plain loss; the lower bound.

    Reference:
        van de Ven & Tolias (2019), "None" baseline.
    """

    name = "none"

    def begin(self, learner: Learner) -> None:
        """Called once, before the first context."""

    def batches(
        self, learner: Learner, k: int, iterations: int, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(x, packed targets) for each step of context ``k``: its own shuffled data."""
        ctx = learner.stream.contexts[k]
        for idx in shuffled_batches(len(ctx.x_train), batch_size, iterations, learner.rng):
            yield ctx.x_train[idx], learner.targets(k, ctx.y_train[idx], k)

    def terms(self, learner: Learner, k: int, x: np.ndarray, targets: np.ndarray) -> list[Term]:
        return [Term(x, targets)]

    def penalty_gradient(self, theta: np.ndarray) -> np.ndarray | None:
        return None

    def after_step(self, learner: Learner, grad: np.ndarray, theta_before: np.ndarray) -> None:
        """Called after each optimizer step with the gradient used and the weights before."""

    def end_context(self, learner: Learner, k: int) -> None:
        """Called once context ``k`` is learned."""

    def share(self, first: Method) -> None:
        """Take over from ``first`` (this method in the first of several scenarios learned side
        by side, `engram.continual.learner.train_streams`) the work that is the same in every
        scenario; called after `begin`. Nothing is shared by default."""

    def acts_in_step(self) -> bool:
        """Whether this method overrides ``penalty_gradient`` or ``after_step`` (the learner
        then hands them the flat gradient and weights)."""
        cls = type(self)
        return (
            cls.penalty_gradient is not Method.penalty_gradient
            or cls.after_step is not Method.after_step
        )

    def info(self) -> dict[str, Any]:
        """The method's settings, for the report."""
        return {}


def replay_weights(k: int) -> tuple[float, float]:
    """(current, replayed) loss weights at context ``k`` (0-based): 1/(k+1) and k/(k+1), so
    that every context seen so far counts equally (van de Ven & Tolias's code)."""
    return 1.0 / (k + 1), k / (k + 1)


def replay_terms(learner: Learner, k: int, x, targets, memory) -> list[Term]:
    """The current batch and as many replayed examples, drawn from ``memory`` = (inputs,
    classes, contexts), weighted by `replay_weights`; the batch alone when nothing is stored."""
    if memory is None:
        return [Term(x, targets)]
    mx, my, mctx = memory
    idx = learner.rng.integers(len(my), size=len(x))
    w_now, w_old = replay_weights(k)
    old = learner.targets(mctx[idx], my[idx], k)
    return [Term(x, targets, w_now), Term(mx[idx], old, w_old)]
