"""Experience replay: a small buffer of stored examples, class-balanced, replayed beside each
new batch.

After each context the buffer keeps at most ``capacity`` examples in all, the same number of
each (context, class) seen so far (``capacity // classes``, chosen at random; the old classes
give up examples as new ones arrive). Each step then adds one replayed batch from the buffer,
with its own context's targets, weighted so every context seen so far counts equally.

Reference:
    Rolnick et al. (2019), "Experience Replay for Continual Learning", NeurIPS; Chaudhry et al.
    (2019), "On Tiny Episodic Memories in Continual Learning"; van de Ven & Tolias (2019).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.continual.methods.base import Method, replay_terms
from engram.validation import Seed, as_rng, check_positive


class ReplayBuffer:
    """A class-balanced store of (x, label, context) examples with a fixed total capacity.

    Example:
        >>> buf = ReplayBuffer(6, seed=0)
        >>> buf.add(np.zeros((10, 2)), np.array([0, 1] * 5), context=0)
        >>> buf.add(np.zeros((10, 2)), np.array([2, 3] * 5), context=1)
        >>> sorted(buf.counts().values())
        [1, 1, 1, 1]
    """

    def __init__(self, capacity: int, seed: Seed = None) -> None:
        self.capacity = int(check_positive(capacity, "capacity", integer=True))
        self.rng = as_rng(seed)
        self.items: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def add(self, x: np.ndarray, labels: np.ndarray, context: int) -> None:
        """Store a context's examples, then trim every class to the same quota."""
        labels = np.asarray(labels, np.int64)
        for label in np.unique(labels):
            rows = np.flatnonzero(labels == label)
            self.items[(int(context), int(label))] = (x[rows], labels[rows])
        quota = max(1, self.capacity // len(self.items))
        for key, (xs, ys) in self.items.items():
            if len(ys) > quota:
                keep = np.sort(self.rng.choice(len(ys), quota, replace=False))
                self.items[key] = (xs[keep], ys[keep])

    def counts(self) -> dict[tuple[int, int], int]:
        """Examples stored per (context, class)."""
        return {key: len(ys) for key, (_, ys) in self.items.items()}

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, labels, contexts) of everything stored."""
        keys = sorted(self.items)
        x = np.concatenate([self.items[k][0] for k in keys])
        y = np.concatenate([self.items[k][1] for k in keys])
        ctx = np.concatenate([np.full(len(self.items[k][1]), k[0]) for k in keys])
        return x, y, ctx


class Replay(Method):
    name = "replay"

    def __init__(self, capacity: int = 1000):
        self.capacity = int(check_positive(capacity, "capacity", integer=True))
        self.memory: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def begin(self, learner):
        self.buffer = ReplayBuffer(self.capacity, learner.rng)

    def end_context(self, learner, k):
        ctx = learner.stream.contexts[k]
        self.buffer.add(ctx.x_train, ctx.y_train, k)
        self.memory = self.buffer.arrays()

    def terms(self, learner, k, x, targets):
        return replay_terms(learner, k, x, targets, self.memory)

    def info(self) -> dict[str, Any]:
        return {"capacity": self.capacity}
