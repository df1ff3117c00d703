"""Joint training: the upper bound. At context ``k`` the network trains on all the data of
contexts 0 .. k together (each sample with its own context's targets), so nothing needs to be
remembered; the last row of R is offline training on everything.

Reference:
    van de Ven & Tolias (2019), "Offline" upper bound (here cumulative, one row per context).
"""

from __future__ import annotations

import numpy as np

from engram.continual.learner import shuffled_batches
from engram.continual.methods.base import Method


class Joint(Method):
    name = "joint"

    def batches(self, learner, k, iterations, batch_size):
        seen = learner.stream.contexts[: k + 1]
        x = np.concatenate([c.x_train for c in seen])
        y = np.concatenate([c.y_train for c in seen])
        origin = np.concatenate([np.full(len(c.y_train), i) for i, c in enumerate(seen)])
        for idx in shuffled_batches(len(x), batch_size, iterations, learner.rng):
            yield x[idx], learner.targets(origin[idx], y[idx], k)
