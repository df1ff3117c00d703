"""Activation functions: float64 gradient checks, PyTorch parity, extreme inputs, lookup."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from engram.nn import activations, gradcheck

ALL = activations.activations.names()

TORCH = {
    "linear": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: TF.leaky_relu(z, negative_slope=0.2),
    "elu": TF.elu,
    "softmax": lambda z: TF.softmax(z, dim=-1),
}


def away_from_zero(shape, seed=0):
    """Normal draws pushed at least 0.05 away from the kinks of relu / leaky_relu / elu."""
    z = np.random.default_rng(seed).standard_normal(shape)
    return np.where(z >= 0, z + 0.05, z - 0.05)


def test_every_registered_activation_has_a_torch_reference():
    assert set(ALL) == set(TORCH)


@pytest.mark.parametrize("name", ALL)
def test_gradient_matches_finite_differences_in_float64(name):
    act = activations.get(name)
    z = away_from_zero((4, 6))
    upstream = np.random.default_rng(1).standard_normal(z.shape)

    def f(a):
        return float(np.sum(upstream * act.forward(a)))

    def df(a):
        return act.backward(a, act.forward(a), upstream)

    report = gradcheck(f, z, grad=df)
    assert report.passed, str(report)


@pytest.mark.parametrize("name", ALL)
def test_forward_and_backward_match_torch_in_float32(name):
    act = activations.get(name)
    z = (away_from_zero((5, 7), seed=2) * 3).astype(np.float32)
    upstream = np.random.default_rng(3).standard_normal(z.shape).astype(np.float32)
    a = act.forward(z)
    grad = act.backward(z, a, upstream)
    assert a.dtype == np.float32 and grad.dtype == np.float32

    zt = torch.tensor(z, requires_grad=True)
    at = TORCH[name](zt)
    at.backward(torch.tensor(upstream))
    np.testing.assert_allclose(a, at.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_extreme_inputs_give_finite_values_and_gradients_without_warnings(name, dtype):
    act = activations.get(name)
    z = np.array([[1e20, -1e20, 1e4, -1e4, 0.0, 1.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        a = act.forward(z)
        grad = act.backward(z, a, np.ones_like(a))
    assert a.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(grad).all()


def test_extreme_values_are_the_limits():
    z = np.array([[1e20, -1e20, 1e4, -1e4]], dtype=np.float32)
    np.testing.assert_array_equal(activations.get("sigmoid")(z), [[1, 0, 1, 0]])
    np.testing.assert_array_equal(activations.get("tanh")(z), [[1, -1, 1, -1]])
    np.testing.assert_array_equal(activations.get("elu")(z), np.float32([[1e20, -1, 1e4, -1]]))
    np.testing.assert_array_equal(activations.get("softmax")(z), [[1, 0, 0, 0]])


def test_softmax_rows_sum_to_one_and_are_shift_invariant():
    z = np.random.default_rng(0).standard_normal((3, 5)) * 50
    s = activations.get("softmax")(z)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0)
    np.testing.assert_allclose(activations.get("softmax")(z + 1e4), s, rtol=1e-6)


def test_softmax_along_another_axis_matches_torch():
    z = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    act = activations.Softmax(axis=1)
    np.testing.assert_allclose(act(z), TF.softmax(torch.tensor(z), dim=1).numpy(), rtol=1e-6)
    up = np.random.default_rng(1).standard_normal(z.shape)
    z64 = z.astype(np.float64)
    report = gradcheck(
        lambda a: float(np.sum(up * act.forward(a))),
        z64,
        grad=lambda a: act.backward(a, act.forward(a), up),
    )
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("kwargs", "torch_fn"),
    [
        ({"negative_slope": 0.01}, lambda z: TF.leaky_relu(z, 0.01)),
        ({"alpha": 0.5}, lambda z: TF.elu(z, alpha=0.5)),
    ],
)
def test_parameters_are_used(kwargs, torch_fn):
    name = "leaky_relu" if "negative_slope" in kwargs else "elu"
    act = activations.get({"name": name, "config": kwargs})
    z = away_from_zero((4, 4)).astype(np.float32)
    np.testing.assert_allclose(act(z), torch_fn(torch.tensor(z)).numpy(), rtol=1e-6)
    assert act.get_config() == {k: float(v) for k, v in kwargs.items()}
    assert activations.get(act.to_json()).get_config() == act.get_config()


def test_keras_default_negative_slope_is_0_2():
    z = np.array([-1.0])
    np.testing.assert_allclose(activations.get("leaky_relu")(z), [-0.2])


def test_lookup_accepts_names_aliases_instances_classes_and_none():
    assert isinstance(activations.get(None), activations.Linear)
    assert isinstance(activations.get("LeakyReLU"), activations.LeakyReLU)
    assert isinstance(activations.get("identity"), activations.Linear)
    relu = activations.ReLU()
    assert activations.get(relu) is relu
    assert isinstance(activations.get(activations.Tanh), activations.Tanh)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(
        ValueError,
        match=r"Unknown activation 'rellu'\. Did you mean 'relu'.*Available: elu, leaky_relu",
    ):
        activations.get("rellu")


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"activation must be a name such as 'relu'.*Got int"):
        activations.get(3)


@pytest.mark.parametrize("name", ALL)
def test_in_place_forms_match_forward_and_backward(name):
    """forward_into / backward_into (what Conv2D and the recurrent layers call) give forward /
    backward's values, in place too; an activation claiming derivative_from_output gets no z."""
    act = activations.get(name)
    z = away_from_zero((5, 7)).astype(np.float32)
    a, up = act.forward(z), np.random.default_rng(1).standard_normal(z.shape).astype(np.float32)
    np.testing.assert_allclose(act.forward_into(z, np.empty_like(z)), a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(act.forward_into(z.copy(), z.copy()), a, rtol=1e-6, atol=1e-7)
    expected = act.backward(z, a, up)
    z_arg = None if act.derivative_from_output else z
    scratch = np.empty(z.shape, act.scratch_dtype or z.dtype)
    got = act.backward_into(z_arg, a, up, np.empty_like(up), scratch)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    grad = up.copy()
    act.backward_into(z_arg, a, grad, grad, np.empty_like(z))  # over grad, float scratch
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", [n for n in ALL if activations.get(n).tanh_form is not None])
def test_tanh_form_is_the_function_and_implies_derivative_from_output(name):
    act = activations.get(name)
    k, s, c = act.tanh_form
    z = np.linspace(-8, 8, 101)
    np.testing.assert_allclose(s * np.tanh(k * z) + c, act.forward(z), atol=1e-12)
    assert act.derivative_from_output
