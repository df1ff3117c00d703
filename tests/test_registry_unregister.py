"""Registry.unregister: a name and its aliases go, an unknown name gets "did you mean"."""

from __future__ import annotations

import pytest

from engram.registry import Registry


class Adam: ...


class SGD: ...


@pytest.fixture
def optimizers() -> Registry:
    registry: Registry = Registry("optimizer")
    registry.add("adam", Adam, "adam_w", "ADAM-optimizer")
    registry.add("sgd", SGD)
    return registry


def test_unregister_removes_the_name_and_its_aliases(optimizers):
    assert optimizers.unregister("adam") is Adam
    assert optimizers.names() == ["sgd"] and len(optimizers) == 1
    for name in ("adam", "adam_w", "ADAM-optimizer", "AdamW"):
        assert name not in optimizers
    assert optimizers.get("sgd") is SGD


def test_unregister_by_alias_or_other_spelling(optimizers):
    assert optimizers.unregister("Adam-W") is Adam
    assert "adam" not in optimizers and optimizers.names() == ["sgd"]


def test_name_can_be_registered_again(optimizers):
    optimizers.unregister("adam")

    class OtherAdam: ...

    optimizers.add("adam", OtherAdam)
    assert optimizers.get("adam") is OtherAdam


def test_other_primary_name_of_the_same_object_stays():
    registry: Registry = Registry("activation")
    registry.add("relu", SGD, "rectifier")
    registry.add("rectified_linear", SGD)
    registry.unregister("relu")
    assert registry.names() == ["rectified_linear"] and "rectifier" in registry


def test_unknown_name_gets_the_same_message_as_get(optimizers):
    with pytest.raises(ValueError) as from_get:
        optimizers.get("adma")
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adma'\. Did you mean 'adam'"):
        optimizers.unregister("adma")
    with pytest.raises(ValueError) as from_unregister:
        optimizers.unregister("adma")
    assert str(from_unregister.value) == str(from_get.value)
    assert optimizers.names() == ["adam", "sgd"]


def test_unregister_without_normalize_is_exact():
    kinds: Registry = Registry("figure kind", normalize=False)
    kinds.add("lines", print)
    with pytest.raises(ValueError, match="Unknown figure kind 'Lines'"):
        kinds.unregister("Lines")
    kinds.unregister("lines")
    assert len(kinds) == 0
