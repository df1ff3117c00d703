"""Merge layers: each through the shared harness (float64 gradient check of every input, torch
parity of forward, backward and the config round trip), then against Keras's own layer."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model
from engram.nn import layers as L
from tests.helpers import check_layer
from tests.nn.keras_reference import import_keras

torch = pytest.importorskip("torch")


def _stack(xs):
    return torch.stack(list(xs))


CASES = [
    ("Add", {}, [(4, 3), (4, 3), (4, 3)], lambda p, xs: xs[0] + xs[1] + xs[2]),
    ("Subtract", {}, [(4, 3), (4, 3)], lambda p, xs: xs[0] - xs[1]),
    ("Multiply", {}, [(4, 3), (4, 3), (4, 3)], lambda p, xs: xs[0] * xs[1] * xs[2]),
    ("Average", {}, [(4, 2, 3), (4, 2, 3)], lambda p, xs: _stack(xs).mean(0)),
    ("Maximum", {}, [(4, 3), (4, 3), (4, 3)], lambda p, xs: _stack(xs).max(0).values),
    ("Minimum", {}, [(4, 3), (4, 3)], lambda p, xs: _stack(xs).min(0).values),
    ("Concatenate", {}, [(4, 3), (4, 2)], lambda p, xs: torch.cat(xs, dim=-1)),
    ("Concatenate", {"axis": 1}, [(4, 2, 3), (4, 5, 3)], lambda p, xs: torch.cat(xs, dim=1)),
    ("Dot", {"axes": 1}, [(4, 3), (4, 3)], lambda p, xs: (xs[0] * xs[1]).sum(1, keepdim=True)),
    (
        "Dot",
        {"axes": (2, 2)},
        [(4, 2, 3), (4, 5, 3)],
        lambda p, xs: torch.bmm(xs[0], xs[1].transpose(1, 2)),
    ),
    (
        "Dot",
        {"axes": 1},
        [(4, 3, 2), (4, 3, 5)],
        lambda p, xs: torch.bmm(xs[0].transpose(1, 2), xs[1]),
    ),
    (
        "Dot",
        {"axes": -1, "normalize": True},
        [(4, 3), (4, 3)],
        lambda p, xs: (
            torch.nn.functional.normalize(xs[0], dim=1)
            * torch.nn.functional.normalize(xs[1], dim=1)
        ).sum(1, keepdim=True),
    ),
]


@pytest.mark.parametrize(("name", "kwargs", "shapes", "torch_fn"), CASES)
def test_merge_layer_harness_and_keras(name, kwargs, shapes, torch_fn):
    cls = getattr(L, name)
    layer = check_layer(cls, kwargs, shapes, torch_fn)
    keras = import_keras()
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    theirs = getattr(keras.layers, name)(**kwargs)(xs)
    np.testing.assert_allclose(layer.forward(xs), np.asarray(theirs), atol=1e-5)


@pytest.mark.parametrize(
    ("fn", "cls", "kwargs"),
    [
        (L.add, L.Add, {}),
        (L.subtract, L.Subtract, {}),
        (L.multiply, L.Multiply, {}),
        (L.average, L.Average, {}),
        (L.maximum, L.Maximum, {}),
        (L.minimum, L.Minimum, {}),
        (L.concatenate, L.Concatenate, {"axis": -1}),
        (L.dot, L.Dot, {"axes": 1}),
    ],
)
def test_lower_case_helpers_record_the_layer(fn, cls, kwargs):
    a, b = Input((3,)), Input((3,))
    out = fn([a, b], **kwargs)
    assert isinstance(out.node.layer, cls)
    assert out.node.inputs == [a, b]
    model = Model([a, b], out)
    x = [np.ones((2, 3), np.float32), np.full((2, 3), 2.0, np.float32)]
    np.testing.assert_allclose(model.predict(x), cls(**kwargs)(x))


def test_extremum_ties_send_the_gradient_to_the_first_input():
    x = [np.ones((1, 2), np.float32), np.ones((1, 2), np.float32)]
    layer = L.Maximum()
    layer(x)
    g0, g1 = layer.backward(np.full((1, 2), 3.0, np.float32))
    np.testing.assert_array_equal(g0, [[3.0, 3.0]])
    np.testing.assert_array_equal(g1, [[0.0, 0.0]])


def test_multiply_gradient_is_exact_at_zero():
    x = [np.array([[0.0, 2.0]], np.float32), np.array([[3.0, 0.0]], np.float32)]
    layer = L.Multiply()
    layer(x)
    g0, g1 = layer.backward(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(g0, [[3.0, 0.0]])
    np.testing.assert_array_equal(g1, [[0.0, 2.0]])


def test_merge_errors_name_the_problem():
    a, b = Input((3,)), Input((4,))
    with pytest.raises(ValueError, match=r"An? Add layer needs inputs of one shape\. Received: "):
        L.add([a, b])
    with pytest.raises(ValueError, match=r"Subtract layer takes exactly 2 inputs\. Received: 3"):
        L.subtract([a, a, a])
    with pytest.raises(ValueError, match=r"must be called on a list of inputs"):
        L.Add()(a)
    with pytest.raises(ValueError, match=r"at least 2 inputs\. Received: 1"):
        L.Add()([a])
    with pytest.raises(ValueError, match=r"shapes match except on the concatenation axis"):
        L.concatenate([Input((2, 3)), Input((3, 3))], axis=-1)
    with pytest.raises(ValueError, match=r"Dot\(axes=1\) contracts axes of different sizes"):
        L.dot([a, b], axes=1)
