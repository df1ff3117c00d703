"""Losses: float64 gradient checks (probability and fused logits paths), PyTorch parity,
extreme inputs without warnings, target checks and lookup."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from engram.nn import functional as F
from engram.nn import gradcheck, losses

ALL = losses.losses.names()
CROSS_ENTROPIES = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]
RNG = np.random.default_rng(0)


def targets(name, shape, seed=0):
    rng = np.random.default_rng(seed)
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, shape[-1], shape[0])
    if name == "categorical_crossentropy":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[0])]
    if name == "binary_crossentropy":
        return rng.integers(0, 2, shape).astype(np.float64)
    return rng.standard_normal(shape)


def predictions(name, shape, seed=1):
    rng = np.random.default_rng(seed)
    if name == "binary_crossentropy":
        return rng.uniform(0.05, 0.95, shape)
    if name in CROSS_ENTROPIES:  # positive, not normalized: Keras divides by the row sum
        return rng.uniform(0.05, 1.0, shape)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("name", ALL)
def test_gradient_matches_finite_differences(name):
    loss = losses.get(name)
    shape = (5, 4)
    report = gradcheck(loss, predictions(name, shape), targets(name, shape))
    assert report.passed, str(report)


@pytest.mark.parametrize("name", CROSS_ENTROPIES)
def test_fused_logits_gradient_matches_finite_differences(name):
    loss = losses.get(name)
    shape = (6, 3) if name != "binary_crossentropy" else (6, 1)
    z = np.random.default_rng(2).standard_normal(shape) * 3
    report = gradcheck(loss, z, targets(name, shape), logits=True)
    assert report.passed, str(report)
    from_logits = losses.get({"name": name, "config": {"from_logits": True}})
    report = gradcheck(from_logits, z, targets(name, shape))
    assert report.passed, str(report)


def test_fused_soft_targets_gradient_matches_finite_differences():
    soft = np.random.default_rng(3).dirichlet(np.ones(4), size=5)
    z = np.random.default_rng(4).standard_normal((5, 4))
    report = gradcheck(losses.get("categorical_crossentropy"), z, soft, logits=True)
    assert report.passed, str(report)


def _torch_kl(p, t):
    t, q = t.clamp(losses.EPSILON, 1), p.clamp(losses.EPSILON, 1)
    return (t * torch.log(t / q)).sum(-1).mean()


# the new losses written with torch's own functions (autograd gives the reference gradient)
TORCH_FORMULAS = {
    "huber": lambda p, t: TF.huber_loss(p, t, delta=1.0),
    "log_cosh": lambda p, t: torch.log(torch.cosh(p - t)).mean(),
    "hinge": lambda p, t: torch.clamp(1 - t * p, min=0).mean(),  # targets are not 0/1 here
    "kl_divergence": _torch_kl,
    "cosine_similarity": lambda p, t: -TF.cosine_similarity(p, t, dim=-1).mean(),
}


def _torch(name, y_pred, y_true, logits):
    p = torch.tensor(y_pred, requires_grad=True)
    if name in ("mean_squared_error", "masked_mean_squared_error"):  # no mask: plain MSE
        value = TF.mse_loss(p, torch.tensor(y_true))
    elif name == "mean_absolute_error":
        value = TF.l1_loss(p, torch.tensor(y_true))
    elif name == "binary_crossentropy":
        fn = TF.binary_cross_entropy_with_logits if logits else TF.binary_cross_entropy
        value = fn(p, torch.tensor(y_true))
    elif name == "sparse_categorical_crossentropy":
        value = TF.cross_entropy(p if logits else torch.log(p), torch.tensor(y_true))
    elif name in TORCH_FORMULAS:
        value = TORCH_FORMULAS[name](p, torch.tensor(y_true))
    else:  # probability targets
        value = TF.cross_entropy(p if logits else torch.log(p), torch.tensor(y_true))
    value.backward()
    return value.item(), p.grad.numpy()


@pytest.mark.parametrize("name", ALL)
def test_values_and_gradients_match_torch_on_probabilities(name):
    shape = (8, 5)
    y_true = targets(name, shape)
    y_pred = predictions(name, shape)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        y_pred = y_pred / y_pred.sum(axis=1, keepdims=True)  # clipping inactive, rows sum to 1
    loss = losses.get(name)
    y = loss.prepare_targets(y_true, shape)
    value, grad = loss.forward(y_pred.astype(np.float32), y)
    t_value, t_grad = _torch(
        name,
        y_pred.astype(np.float32),
        np.asarray(y_true).astype(np.int64 if name.startswith("sparse") else np.float32),
        logits=False,
    )
    assert value == pytest.approx(t_value, rel=1e-5)
    if name != "categorical_crossentropy" and name != "sparse_categorical_crossentropy":
        np.testing.assert_allclose(grad, t_grad, rtol=1e-4, atol=1e-7)
    assert grad.dtype == np.float32


@pytest.mark.parametrize("name", CROSS_ENTROPIES)
def test_values_and_gradients_match_torch_on_logits(name):
    shape = (8, 5)
    z = (np.random.default_rng(5).standard_normal(shape) * 4).astype(np.float32)
    y_true = targets(name, shape)
    loss = losses.get({"name": name, "config": {"from_logits": True}})
    value, grad = loss.forward(z, loss.prepare_targets(y_true, shape))
    t_value, t_grad = _torch(
        name,
        z,
        np.asarray(y_true).astype(np.int64 if name.startswith("sparse") else np.float32),
        logits=True,
    )
    assert value == pytest.approx(t_value, rel=1e-5)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-4, atol=1e-7)
    assert grad.dtype == np.float32


def test_probability_cross_entropy_gradient_through_softmax_equals_fused_gradient():
    z = np.random.default_rng(6).standard_normal((6, 4))
    y = np.random.default_rng(7).integers(0, 4, 6)
    loss = losses.get("sparse_categorical_crossentropy")
    p = F.softmax(z)
    value, grad_p = loss.forward(p, y)
    grad_z = p * (grad_p - np.sum(grad_p * p, axis=-1, keepdims=True))
    fused_value, fused_grad = loss.forward_logits(z, y)
    assert value == pytest.approx(fused_value, rel=1e-9)
    np.testing.assert_allclose(grad_z, fused_grad, rtol=1e-7, atol=1e-12)


EXTREME = np.array([[1e20, -1e20, 1e4, -1e4, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CROSS_ENTROPIES)
@pytest.mark.parametrize("sign", [1, -1])
def test_fused_path_is_finite_on_extreme_logits_without_warnings(name, dtype, sign):
    z = (sign * EXTREME).astype(dtype)
    if name == "binary_crossentropy":
        z = z.T
    y = losses.get(name).prepare_targets(targets(name, z.shape), z.shape)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value, grad = losses.get(name).forward_logits(z, y)
    assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_probability_path_is_finite_on_saturated_outputs_without_warnings(name, dtype):
    shape = (5, 5)
    y = losses.get(name).prepare_targets(targets(name, shape), shape)
    if name in CROSS_ENTROPIES:  # outputs of sigmoid / softmax on extreme logits: exact 0 and 1
        act = F.sigmoid if name == "binary_crossentropy" else F.softmax
        y_pred = act(np.tile(EXTREME, (5, 1)).astype(dtype))
    else:
        y_pred = np.tile(EXTREME, (5, 1)).astype(dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value, grad = losses.get(name).forward(y_pred, y)
    assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype


def test_huge_logits_give_the_exact_cross_entropy():
    z = np.array([[1e20, -1e20], [-1e20, 1e20]], dtype=np.float32)
    value, grad = losses.get("sparse_categorical_crossentropy").forward_logits(z, np.array([0, 0]))
    assert value == pytest.approx(1e20, rel=1e-6)  # (0 + 2e20) / 2
    np.testing.assert_allclose(grad, [[0, 0], [-0.5, 0.5]])


def test_probabilities_are_clipped_like_keras():
    loss = losses.get("binary_crossentropy")
    value, grad = loss.forward(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]]))
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)
    np.testing.assert_array_equal(grad, 0.0)  # clipped: no gradient, as in Keras


# Rows with clipped entries, far enough inside the clip that a finite-difference step stays there
# (the clip acts on y / sum(y), so scale sets the margin), beside rows where nothing is clipped.
CLIPPED_ROWS = np.array(
    [
        [1e-4, 5e3, 5e3],  # class 0 clipped from below (1e-8)
        [1e4, 1e-5, 1e-5],  # class 0 clipped from above (1 - 2e-9)
        [3.0, 1e-4, 4e3],  # class 1 clipped, the others not
        [0.2, 0.5, 0.3],  # nothing clipped
    ]
)
CLIPPED_TARGETS = {
    "categorical_crossentropy": np.array([[1.0, 0, 0], [1, 0, 0], [0.5, 0.5, 0], [0, 0.3, 0.7]]),
    "sparse_categorical_crossentropy": np.array([0, 0, 1, 2]),
}


@pytest.mark.parametrize("name", sorted(CLIPPED_TARGETS))
def test_gradient_is_zero_where_the_probability_is_clipped(name):
    loss = losses.get(name)
    report = gradcheck(loss, CLIPPED_ROWS, CLIPPED_TARGETS[name])
    assert report.passed, str(report)
    # the point: y_pred = [1e-9, .5, .5] with class 0 true; the loss is flat there
    _, grad = loss.forward(np.array([[1e-9, 0.5, 0.5]]), CLIPPED_TARGETS[name][:1])
    np.testing.assert_array_equal(grad, 0.0)


def test_binary_gradient_is_zero_where_the_probability_is_clipped():
    y_pred = np.array([[-0.01], [1.01], [0.3], [0.8]])
    report = gradcheck(losses.get("binary_crossentropy"), y_pred, np.array([[1.0], [0], [1], [0]]))
    assert report.passed, str(report)


def test_categorical_crossentropy_on_clipped_probabilities_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("needs Keras on the torch backend to read its gradient")
    y_true = CLIPPED_TARGETS["categorical_crossentropy"]
    y_pred = torch.tensor(CLIPPED_ROWS, requires_grad=True)
    value = keras.losses.categorical_crossentropy(torch.tensor(y_true), y_pred).mean()
    value.backward()
    ours, grad = losses.get("categorical_crossentropy").forward(CLIPPED_ROWS, y_true)
    assert ours == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(grad, y_pred.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_call_is_keras_order_y_true_then_y_pred():
    mse = losses.get("mse")
    assert mse([1.0, 2.0], [[1.0], [4.0]]) == pytest.approx(2.0)
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert scce([0], [[0.0, 0.0]]) == pytest.approx(np.log(2))


def test_mse_and_mae_accept_label_vectors_for_one_output():
    y = losses.get("mse").prepare_targets(np.arange(4), (4, 1))
    assert y.shape == (4, 1) and y.dtype == np.float32


def test_config_round_trip():
    loss = losses.get({"name": "bce", "config": {"from_logits": True}})
    assert losses.to_json(loss) == {"name": "binary_crossentropy", "config": {"from_logits": True}}
    assert losses.to_json(losses.get("mae")) == "mean_absolute_error"


def test_sparse_labels_outside_range_are_refused():
    with pytest.raises(ValueError, match=r"labels outside \[0, 3\): found values from 0 to 3"):
        losses.get("sparse_categorical_crossentropy").prepare_targets(np.array([0, 3]), (2, 3))


def test_one_hot_width_must_match_the_output():
    with pytest.raises(ValueError, match=r"must be one-hot with 3 columns.*Got shape \(2, 4\)"):
        losses.get("categorical_crossentropy").prepare_targets(np.eye(4)[:2], (2, 3))


def test_integer_labels_with_categorical_crossentropy_get_a_hint():
    with pytest.raises(ValueError, match="use loss='sparse_categorical_crossentropy'"):
        losses.get("categorical_crossentropy").prepare_targets(np.array([0, 1]), (2, 3))


def test_binary_targets_must_be_in_0_1():
    with pytest.raises(ValueError, match=r"targets in \[0, 1\].*from -1\.0 to 1\.0"):
        losses.get("binary_crossentropy").prepare_targets(np.array([-1, 1]), (2, 1))


def test_unknown_loss_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown loss 'mse2'\. Did you mean 'mse'"):
        losses.get("mse2")
    with pytest.raises(TypeError, match="loss must be a name such as 'mse'"):
        losses.get(1.5)


@pytest.mark.parametrize("classes", [1, 2, 10, 64, 65, 300])
@pytest.mark.parametrize("batch", [1, 7, 128])
def test_softmax_and_fused_cross_entropy_agree_with_float64_on_every_shape(batch, classes):
    # few classes take the transposed path, many the row-wise one: both must give the same
    # numbers as a float64 reference, keep float32, and leave the logits untouched
    from engram.nn import functional as F

    rng = np.random.default_rng(batch * 1000 + classes)
    z = (5 * rng.standard_normal((batch, classes))).astype(np.float32)
    labels = rng.integers(0, classes, batch)
    z_before = z.copy()
    z64 = z.astype(np.float64)
    e = np.exp(z64 - z64.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    probs = F.softmax(z)
    assert probs.dtype == np.float32 and probs.flags.c_contiguous
    np.testing.assert_allclose(probs, p, rtol=1e-5, atol=1e-7)
    loss, grad = F.softmax_cross_entropy(z, labels)
    expected = np.mean(-np.log(p[np.arange(batch), labels]))
    assert loss == pytest.approx(expected, rel=1e-5, abs=1e-6)
    onehot = np.eye(classes)[labels]
    assert grad.dtype == np.float32 and grad.flags.c_contiguous
    np.testing.assert_allclose(grad, (p - onehot) / batch, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(z, z_before)
