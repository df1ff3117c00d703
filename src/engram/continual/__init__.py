"""Continual learning: context streams, the three scenarios, metrics and methods against forgetting.

A network learns a stream of contexts one after another (split: the classes in pairs; permuted:
a fixed pixel permutation per context) and is tested on all of them after each one. What the
network must tell apart depends on the scenario (task-, domain- or class-incremental, van de Ven
& Tolias 2019); how much it forgets depends on the method (`engram.continual.methods`).

Example:
    >>> from engram.continual import streams, scenarios, train_stream
    >>> stream = streams.load_stream("digits", "split", seed=0)
    >>> result = train_stream("none", stream, "task", iterations=20, hidden=(32,), seed=0)
    >>> result.accuracy.shape
    (5, 5)
"""

from __future__ import annotations

from engram.continual.learner import Learner, StreamResult, train_stream, train_streams
from engram.continual.metrics import average_accuracy, backward_transfer, forward_transfer
from engram.continual.scenarios import SCENARIOS, Scenario
from engram.continual.search import StrengthSearch, search_strength
from engram.continual.streams import (
    Context,
    Stream,
    hold_out,
    load_stream,
    permuted_stream,
    split_stream,
)

__all__ = [
    "SCENARIOS",
    "Context",
    "Learner",
    "Scenario",
    "Stream",
    "StreamResult",
    "StrengthSearch",
    "average_accuracy",
    "backward_transfer",
    "forward_transfer",
    "hold_out",
    "load_stream",
    "permuted_stream",
    "search_strength",
    "split_stream",
    "train_stream",
    "train_streams",
]
