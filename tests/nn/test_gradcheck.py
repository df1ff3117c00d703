"""The public finite-difference gradient checker: it passes correct gradients, catches wrong ones,
and leaves what it checks untouched."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import GradcheckReport, Sequential, gradcheck, losses
from engram.nn.gradcheck import numerical_gradient, relative_error
from engram.nn.layers import Dense, Layer


class Square(Layer):
    """y = x^2 * scale; a deliberately wrong backward when ``wrong`` is set."""

    weight_names = ("scale",)

    def __init__(self, wrong=False, **kwargs):
        super().__init__(**kwargs)
        self.wrong = wrong

    def build(self, input_shape, rng):
        self.params["scale"] = np.full(input_shape, 1.5, dtype=self.dtype)
        super().build(input_shape, rng)

    def forward(self, x, training=False):
        self.x = x
        return x * x * self.params["scale"]

    def backward(self, grad_y):
        self.grads["scale"] = (grad_y * self.x * self.x).sum(axis=0)
        factor = 1.0 if self.wrong else 2.0  # the bug: d(x^2)/dx = 2x, not x
        return grad_y * factor * self.x * self.params["scale"]


def test_correct_layer_passes():
    report = gradcheck(Square(), np.random.default_rng(0).standard_normal((3, 4)))
    assert report.passed and bool(report) and report.max_error < 1e-8
    assert set(report.errors) == {"input", f"{report_layer_name(report)}/scale"}


def report_layer_name(report):
    return next(k for k in report.errors if k != "input").split("/")[0]


def test_wrong_backward_is_caught():
    report = gradcheck(Square(wrong=True), np.random.default_rng(0).standard_normal((3, 4)))
    assert not report.passed and not bool(report)
    assert report.errors["input"] > 0.1
    assert "FAILED" in str(report) and "input" in str(report)


def test_layer_is_not_modified():
    layer = Dense(3, activation="tanh")
    layer.build((4,), np.random.default_rng(0))
    before = layer.get_weights()
    assert gradcheck(layer, np.random.default_rng(1).standard_normal((2, 4))).passed
    for a, b in zip(before, layer.get_weights(), strict=True):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_unbuilt_layer_is_built_on_a_copy():
    layer = Dense(2)
    assert gradcheck(layer, np.ones((3, 5))).passed
    assert not layer.built


def test_losses_and_the_fused_path():
    z = np.random.default_rng(0).standard_normal((4, 3))
    y = np.array([0, 2, 1, 1])
    loss = losses.get("sparse_categorical_crossentropy")
    assert gradcheck(loss, z, y, logits=True).passed
    assert gradcheck(loss, np.abs(z) + 0.1, y).passed


def test_wrong_loss_gradient_is_caught():
    class HalfGradMSE(losses.MeanSquaredError):
        def forward(self, y_pred, y_true):
            value, grad = super().forward(y_pred, y_true)
            return value, grad * 0.5

    report = gradcheck(HalfGradMSE(), np.ones((3, 2)), np.zeros((3, 2)))
    assert not report.passed and report.errors["y_pred"] == pytest.approx(1 / 3)


def test_model_check_passes_and_leaves_the_model_alone():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    m = Sequential(
        [Dense(4, activation="sigmoid", input_dim=3), Dense(1, activation="sigmoid")], seed=0
    )
    m.compile("adam", "binary_crossentropy")
    before = m.get_weights()
    report = gradcheck(m, x, y)
    assert report.passed, str(report)
    assert len(report.errors) == 4
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert m.optimizer.iterations == 0


def test_function_target():
    def f(a):
        return float(np.sum(np.sin(a)))

    a = np.linspace(-2, 2, 7)
    assert gradcheck(f, a, grad=np.cos).passed
    assert not gradcheck(f, a, grad=np.sin).passed


def test_max_checks_samples_entries():
    calls = []

    def f(a):
        calls.append(1)
        return float(np.sum(a**2))

    report = gradcheck(f, np.ones(1000), grad=lambda a: 2 * a, max_checks=10)
    assert report.passed and len(calls) == 20


def test_numerical_gradient_and_relative_error():
    a = np.array([1.0, 2.0, 3.0])
    g = numerical_gradient(lambda: float(np.sum(a**3)), a)
    np.testing.assert_allclose(g, 3 * a**2, rtol=1e-8)
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])  # restored after perturbation
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.ones(2), -np.ones(2)) == 1.0


def test_tolerance_is_configurable():
    report = GradcheckReport(errors={"a": 1e-5}, tolerance=1e-4)
    assert report.passed
    assert not GradcheckReport(errors={"a": 1e-5}).passed


def test_bad_targets():
    with pytest.raises(
        TypeError,
        match=r"gradcheck expects a Layer, a Loss, a compiled Model \(or Sequential\) "
        "or a function. Got int instead.",
    ):
        gradcheck(3, np.ones(2))
    with pytest.raises(ValueError, match=r"gradcheck\(f, a\) needs grad=df"):
        gradcheck(np.sum, np.ones(2))
    with pytest.raises(ValueError, match=r"needs a compiled model: call compile\(\) first"):
        gradcheck(Sequential([Dense(1, input_dim=2)]), np.ones((2, 2)), np.ones(2))
