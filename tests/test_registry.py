"""The one Registry type behind every family of names."""

from __future__ import annotations

import pytest

from engram.registry import Registry


@pytest.fixture
def optimizers():
    reg = Registry("optimizer")
    for name in ("sgd", "adam", "rmsprop", "adagrad"):
        reg.add(name, type(name.upper(), (), {}))
    return reg


def test_lookup_and_pass_through(optimizers):
    adam = optimizers.get("adam")
    assert adam.__name__ == "ADAM"
    instance = object()
    assert optimizers.get(instance) is instance
    assert optimizers.get(adam) is adam


def test_names_are_normalized():
    reg = Registry("layer")
    reg.add("LeakyReLU", object)
    assert reg.get("leaky_relu") is object and reg.get("leaky-relu") is object
    assert "LEAKYRELU" in reg and 3 not in reg
    strict = Registry("experiment", normalize=False)
    strict.add("xor", int)
    assert "XOR" not in strict


def test_unknown_name_message_matches_the_style_guide(optimizers):
    with pytest.raises(ValueError) as info:
        optimizers.get("adma")
    assert str(info.value) == (
        "Unknown optimizer 'adma'. Did you mean 'adam' or 'adagrad'? "
        "Available: adagrad, adam, rmsprop, sgd."
    )


def test_no_close_match_lists_everything(optimizers):
    with pytest.raises(
        ValueError,
        match=r"^Unknown optimizer 'zzz'\. Available: adagrad, adam, "
        r"rmsprop, sgd\.$",
    ):
        optimizers.get("zzz")


def test_aliases_resolve_and_are_suggested_but_not_listed():
    reg = Registry("loss")
    reg.add("mean_squared_error", float, "mse")
    assert reg.get("MSE") is float
    assert reg.names() == ["mean_squared_error"] and len(reg) == 1 and list(reg) == reg.names()
    with pytest.raises(ValueError, match=r"Did you mean 'mse'\? Available: mean_squared_error\."):
        reg.get("mse2")


def test_case_insensitive_suggestions():
    reg = Registry("layer")
    reg.add("Dense", int)
    with pytest.raises(ValueError, match=r"Unknown layer 'dnse'\. Did you mean 'Dense'\?"):
        reg.get("dnse")


def test_decorator_and_name_of():
    reg = Registry("activation")

    @reg.register("relu", "rectifier")
    class ReLU:
        pass

    assert reg.get("rectifier") is ReLU
    assert reg.name_of(ReLU) == "relu" and reg.name_of(ReLU()) == "relu"
    with pytest.raises(ValueError, match="is not a registered activation"):
        reg.name_of(int)


def test_registering_a_different_object_twice_is_refused():
    reg = Registry("loss")
    reg.add("mse", float)
    reg.add("mse", float)  # same object: fine
    with pytest.raises(ValueError, match="loss name 'MSE' is already registered"):
        reg.add("MSE", int)


def test_engine_registries_hold_the_issue_names():
    from engram.nn import activations, initializers, losses, metrics, optimizers
    from engram.nn.layers import layers

    assert {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax"} <= set(
        activations.activations.names()
    )
    assert {
        "mean_squared_error",
        "mean_absolute_error",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
    } <= set(losses.losses.names())
    assert set(optimizers.optimizers.names()) >= {"sgd", "adam", "rmsprop", "adagrad"}
    assert {
        "glorot_uniform",
        "glorot_normal",
        "he_uniform",
        "he_normal",
        "lecun_normal",
        "zeros",
        "ones",
        "orthogonal",
    } <= set(initializers.initializers.names())
    assert {
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "mean_squared_error",
        "mean_absolute_error",
    } <= set(metrics.metrics.names())
    assert {"Dense", "Activation", "Dropout", "Flatten", "Reshape"} <= set(layers.names())
