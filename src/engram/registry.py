"""One `Registry` type for every family of names in engram.

Layers, activations, losses, optimizers, initializers, metrics and experiments are each kept in a
`Registry`. An instance passes through `get` unchanged, a string is looked up, and an unknown
string gets close matches and the full list::

    Unknown optimizer 'adma'. Did you mean 'adam'? Available: adagrad, adam, rmsprop, sgd.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: names that modules above the engine register, by registry kind: ``{kind: {name: module}}``.
#: A registry that is asked for such a name imports its module (which registers it), so a model
#: file naming a motor layer loads in a fresh process while `engram.nn` names no motor module.
#: Filled by `declare` (in ``engram/__init__.py``, where every package is known); a name read
#: from a file only ever selects one of these modules, never names one itself.
_DECLARED: dict[str, dict[str, str]] = {}


def declare(kind: str, module: str, *names: str) -> None:
    """Declare that importing ``module`` registers ``names`` in the registries of ``kind``.

    Example:
        >>> declare("layer", "engram.motor.rate_network", "RateRNN")
    """
    entries = _DECLARED.setdefault(kind, {})
    for name in names:
        entries[name] = module


class Registry(Generic[T]):
    """A named family of objects (classes or functions) looked up by string.

    Args:
        kind: what the family is called in messages, e.g. ``"optimizer"``.
        normalize: whether lookups ignore case, ``-`` and ``_`` differences (``"LeakyReLU"`` and
            ``"leaky_relu"`` are the same name).
        declared: whether the names `declare`d for ``kind`` belong to this registry (the
            engine's layer and loss registries); others ignore the declarations.

    Example:
        >>> optimizers = Registry("optimizer")
        >>> @optimizers.register("sgd")
        ... class SGD: ...
        >>> optimizers.get("sgd") is SGD
        True
    """

    def __init__(self, kind: str, normalize: bool = True, *, declared: bool = False) -> None:
        self.kind = kind
        self.normalize = normalize
        self._declared = _DECLARED.setdefault(kind, {}) if declared else {}
        self._entries: dict[str, T] = {}
        self._display: dict[str, str] = {}
        self._spellings: dict[str, str] = {}  # every name and alias as registered, by key

    def _key(self, name: str) -> str:
        if not self.normalize:
            return name
        return name.lower().replace("-", "").replace("_", "")

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator that stores an object under ``name`` (and any aliases)."""

        def decorator(obj: T) -> T:
            for alias in (name, *aliases):
                key = self._key(alias)
                if key in self._entries and self._entries[key] is not obj:
                    raise ValueError(f"{self.kind} name {alias!r} is already registered.")
                self._entries[key] = obj
                self._spellings.setdefault(key, alias)
            self._display[self._key(name)] = name
            return obj

        return decorator

    def add(self, name: str, obj: T, *aliases: str) -> T:
        """Store ``obj`` under ``name`` without the decorator syntax."""
        return self.register(name, *aliases)(obj)

    def unregister(self, name: str) -> T:
        """Remove ``name`` and its aliases from the registry; return the object it held.

        ``name`` is matched as `get` matches it and may be an alias, which removes the object
        under every name. If the object is also stored under another primary name, that name
        and the aliases stay.

        Raises:
            ValueError: unknown name, with close matches and the full list (as `get`).
        """
        key = self._key(name) if isinstance(name, str) else None
        if key not in self._entries:
            raise ValueError(self.unknown_message(str(name)))
        obj = self._entries[key]
        same = [k for k, v in self._entries.items() if v is obj]
        primaries = [k for k in same if k in self._display]
        keep = [k for k in primaries if k != key] if key in self._display else []
        for other in same if not keep else [key]:
            del self._entries[other]
            self._display.pop(other, None)
            self._spellings.pop(other, None)
        return obj

    def _import_declared(self, key: str) -> bool:
        """Import the module declared to register ``key`` (see `declare`); whether it did."""
        for name, module in self._declared.items():
            if self._key(name) == key:
                importlib.import_module(module)
                return key in self._entries
        return False

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = self._key(name)
        return key in self._entries or self._import_declared(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._display)

    def names(self) -> list[str]:
        """The primary names, sorted (aliases are not listed), with the declared ones whose
        modules are not imported yet."""
        declared = [name for name in self._declared if self._key(name) not in self._entries]
        return sorted([*self._display.values(), *declared])

    def name_of(self, obj: Any) -> str:
        """The primary name under which ``obj`` (or its class) is registered."""
        for key, value in self._entries.items():
            if (value is obj or value is type(obj)) and key in self._display:
                return self._display[key]
        raise ValueError(f"{obj!r} is not a registered {self.kind}.")

    def get(self, name: Any) -> T:
        """Look ``name`` up; objects that are not strings pass through unchanged.

        Raises:
            ValueError: unknown name, with close matches and the full list.
        """
        if not isinstance(name, str):
            return name
        key = self._key(name)
        if key in self._entries or self._import_declared(key):
            return self._entries[key]
        raise ValueError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        names = self.names()
        # aliases count as close matches too ('mse2' -> 'mse'), but only the primary names
        # are listed as available
        spellings = [s for k, s in self._spellings.items() if k in self._entries]
        close = difflib.get_close_matches(name, spellings, n=3, cutoff=0.5)
        if not close:
            keyed = {self._key(n): n for n in spellings}
            close = [keyed[k] for k in difflib.get_close_matches(self._key(name), keyed, n=3)]
        hint = ""
        if close:
            hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        return f"Unknown {self.kind} {name!r}.{hint} Available: {', '.join(names)}."
