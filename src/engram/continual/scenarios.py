"""The three scenarios of van de Ven & Tolias (2019): what the network is asked to tell apart.

With ``T`` contexts of ``c`` classes each (split MNIST: T = 5, c = 2; permuted MNIST: T = 10,
c = 10), a sample of class rank ``r`` (its position among its context's classes) in context
``k`` is trained and tested as:

* task-incremental ("task"): the context is given. Output units: ``T * c``, one head of ``c``
  units per context; the sample's target is unit ``k c + r`` and only context ``k``'s units take
  part in the softmax, in training and in testing (the multi-headed output of their code,
  where the heads are masked outputs of one layer).
* domain-incremental ("domain"): the context is not given and need not be inferred. Output
  units: ``c``, shared by all contexts; target ``r`` (split MNIST: "even or odd").
* class-incremental ("class"): the context is not given and must be inferred. Output units:
  ``T * c``, one per class; target ``k c + r``. While learning context ``k`` (and when tested
  after it), the units of every class seen so far take part in the softmax.

`Scenario.active(origin, current)` gives the output units of a sample from context ``origin``
while the network is at context ``current``: in training (``current`` is the context being
learned; replayed samples have an earlier origin) and in testing (``current`` is the last
context learned; a context not yet learned is tested with the units up to its own).

Reference:
    van de Ven & Tolias (2019), "Three scenarios for continual learning", arXiv:1904.07734,
    Table 1 and Section 2; code: github.com/GMvandeVen/continual-learning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engram.continual.streams import Stream
from engram.registry import Registry


@dataclass(frozen=True)
class Scenario:
    """One scenario: its name, whether the context is given, and how targets map to units."""

    name: str
    summary: str
    shared_units: bool  # domain: one set of c units for all contexts
    context_given: bool
    units_so_far: bool  # class: every class seen so far competes

    def n_units(self, stream: Stream) -> int:
        c = stream.classes_per_context
        return c if self.shared_units else c * len(stream)

    def targets(self, stream: Stream, k: int, labels: np.ndarray) -> np.ndarray:
        """The output unit of each label of context ``k``."""
        rank = stream.contexts[k].rank(np.asarray(labels, np.int64))
        return rank if self.shared_units else k * stream.classes_per_context + rank

    def active(self, stream: Stream, origin: int, current: int) -> np.ndarray:
        """The output units (sorted indices) a sample of context ``origin`` competes over."""
        c = stream.classes_per_context
        if self.shared_units:
            return np.arange(c)
        if self.context_given:
            return np.arange(origin * c, (origin + 1) * c)
        return np.arange((max(origin, current) + 1) * c)

    def mask(self, stream: Stream, origin: int, current: int) -> np.ndarray:
        """(units,) float32: 1 on the active units, 0 elsewhere."""
        m = np.zeros(self.n_units(stream), np.float32)
        m[self.active(stream, origin, current)] = 1.0
        return m


SCENARIOS: Registry[Scenario] = Registry("scenario")
SCENARIOS.add(
    "task",
    Scenario("task", "task-incremental: context given, a head per context", False, True, False),
)
SCENARIOS.add(
    "domain",
    Scenario("domain", "domain-incremental: context not given, shared outputs", True, False, False),
)
SCENARIOS.add(
    "class",
    Scenario(
        "class", "class-incremental: context inferred, one output per class", False, False, True
    ),
)
