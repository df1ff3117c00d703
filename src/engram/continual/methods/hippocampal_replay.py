"""Hippocampus-style replay: a fast memory stores examples one-shot, and while the slow network
learns the next context, memories reactivated from partial cues are interleaved with the new
data (complementary learning systems).

The fast memory is a modern Hopfield network (`engram.memory.modern_hopfield`). Each stored
pattern is an example's image with its context and class appended as one-hot codes:
``[x, onehot(context), onehot(class rank)]``; storing is appending one row (one shot, no
training). At the start of each context the memory "replays": it is cued with stored images of
which only a fraction of pixels is kept (the rest, and the codes, set to 0) and completes them
with one update ``xi <- X^T softmax(beta X xi)``; the completed images, with the context and
class read from the completed codes (argmax), form the replay pool, and each training step adds
one batch drawn from it, weighted like experience replay. A sharp memory (large beta) gives back
the stored examples; a soft one blends similar memories, and its replayed items then differ from
what was stored.

Args:
    capacity: examples stored in all, split evenly over the stream's contexts.
    beta: the memory's inverse temperature.
    cue_fraction: fraction of the pixels kept in a cue.
    pool: completed memories per context of replay (multiples of the memories stored).

Reference:
    McClelland, McNaughton & O'Reilly (1995), "Why there are complementary learning systems in
    the hippocampus and neocortex", Psychological Review 102(3); Ramsauer et al. (2020),
    "Hopfield Networks is All You Need" (the memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engram.continual.methods.base import Method, replay_terms
from engram.validation import check_fraction, check_positive


class HippocampalReplay(Method):
    name = "hippocampal-replay"

    def __init__(
        self, capacity: int = 1000, beta: float = 1.0, cue_fraction: float = 0.5, pool: int = 2
    ):
        self.capacity = int(check_positive(capacity, "capacity", integer=True))
        self.beta = float(check_positive(beta, "beta"))
        self.cue_fraction = check_fraction(cue_fraction, "cue_fraction", inclusive_high=True)
        self.pool_factor = int(check_positive(pool, "pool", integer=True))
        self.replayed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.recall_accuracy: list[float] = []

    def begin(self, learner):
        from engram.memory.modern_hopfield import ModernHopfield

        self.memory = ModernHopfield(self.beta)
        self.n_contexts = len(learner.stream)
        self.n_ranks = learner.stream.classes_per_context
        self.d = learner.stream.n_features

    def encode(self, x: np.ndarray, context: np.ndarray, rank: np.ndarray) -> np.ndarray:
        codes = np.zeros((len(x), self.n_contexts + self.n_ranks), np.float32)
        codes[np.arange(len(x)), context] = 1.0
        codes[np.arange(len(x)), self.n_contexts + rank] = 1.0
        return np.concatenate([x, codes], axis=1)

    def end_context(self, learner, k):
        ctx = learner.stream.contexts[k]
        n = min(len(ctx.y_train), max(1, self.capacity // self.n_contexts))
        idx = learner.rng.choice(len(ctx.y_train), n, replace=False)
        self.memory.store(self.encode(ctx.x_train[idx], np.full(n, k), ctx.rank(ctx.y_train[idx])))
        self.replayed = self.replay(learner)

    def replay(self, learner) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Complete partial cues of stored memories: (x, labels, contexts) of the pool."""
        stored = self.memory.patterns
        n = self.pool_factor * len(stored)
        which = learner.rng.integers(len(stored), size=n)
        cues = np.zeros_like(stored[which])
        keep = learner.rng.random((n, self.d)) < self.cue_fraction
        cues[:, : self.d] = np.where(keep, stored[which, : self.d], 0.0)
        out = self.memory.recall(cues, max_steps=1).states
        context = np.argmax(out[:, self.d : self.d + self.n_contexts], axis=1)
        rank = np.argmax(out[:, self.d + self.n_contexts :], axis=1)
        true_ctx = np.argmax(stored[which, self.d : self.d + self.n_contexts], axis=1)
        true_rank = np.argmax(stored[which, self.d + self.n_contexts :], axis=1)
        self.recall_accuracy.append(float(np.mean((context == true_ctx) & (rank == true_rank))))
        classes = np.array([c.classes for c in learner.stream.contexts])
        return out[:, : self.d].copy(), classes[context, rank], context

    def terms(self, learner, k, x, targets):
        return replay_terms(learner, k, x, targets, self.replayed)

    def info(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "beta": self.beta,
            "cue_fraction": self.cue_fraction,
            "recall_accuracy": self.recall_accuracy,
        }
