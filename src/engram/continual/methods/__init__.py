"""Continual-learning methods, one file each, looked up by name.

none (fine-tuning), joint (upper bound), ewc, online-ewc, si, lwf, replay, hippocampal-replay
and generative-replay. `make(name, **options)` builds one; an instance passes through.
"""

from __future__ import annotations

import inspect
from typing import Any

from engram.continual.methods.base import Method
from engram.continual.methods.ewc import EWC, OnlineEWC
from engram.continual.methods.generative_replay import GenerativeReplay
from engram.continual.methods.hippocampal_replay import HippocampalReplay
from engram.continual.methods.joint import Joint
from engram.continual.methods.lwf import LwF
from engram.continual.methods.replay import Replay, ReplayBuffer
from engram.continual.methods.si import SI
from engram.registry import Registry

METHODS: Registry[type[Method]] = Registry("continual-learning method")
for _cls in (Method, Joint, EWC, OnlineEWC, SI, LwF, Replay, HippocampalReplay, GenerativeReplay):
    METHODS.add(_cls.name, _cls)

__all__ = [
    "EWC",
    "METHODS",
    "GenerativeReplay",
    "SI",
    "HippocampalReplay",
    "Joint",
    "LwF",
    "Method",
    "OnlineEWC",
    "Replay",
    "ReplayBuffer",
    "make",
]


def make(method: Any, **options: Any) -> Method:
    """A method instance: ``method`` itself, or the registered class called so, built with
    ``options``."""
    if isinstance(method, Method):
        if options:
            raise ValueError(f"options {sorted(options)} are for a method name, not an instance.")
        return method
    cls = METHODS.get(method)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes = [
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind in named and cls.__init__ is not object.__init__
    ]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        offered = ", ".join(takes) if takes else "no options"
        raise ValueError(
            f"The {cls.name!r} method takes no option {', '.join(map(repr, unknown))}; it takes "
            f"{offered}. Remove {'it' if len(unknown) == 1 else 'them'} or choose a method that "
            "uses it."
        )
    return cls(**options)
