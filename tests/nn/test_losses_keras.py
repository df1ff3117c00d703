"""Huber, KLDivergence, CosineSimilarity, LogCosh and Hinge against Keras 3.15.1: the loss
value and its gradient (Keras's own loss on torch tensors, differentiated by autograd), the
per-sample functions, the names Keras accepts, and training with them from ``compile``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engram.nn import Sequential, gradcheck, losses
from engram.nn.layers import Dense
from tests.nn.keras_reference import import_keras

RNG = np.random.default_rng(7)


def _data():
    """(name, engram loss, Keras loss factory, y_true, y_pred) cases, edge cases included."""
    normal = RNG.standard_normal((6, 4)).astype(np.float32)
    target = RNG.standard_normal((6, 4)).astype(np.float32)
    probs = RNG.dirichlet(np.ones(4), 6).astype(np.float32)
    probs_pred = RNG.dirichlet(np.ones(4), 6).astype(np.float32)
    probs_pred[0, 1] = 0.0  # clipped at eps: no gradient, as in Keras
    probs[1, 2] = 0.0  # a zero target term
    binary = RNG.integers(0, 2, (6, 4)).astype(np.float32)
    signs = 2 * binary - 1
    time = RNG.standard_normal((3, 5, 4)).astype(np.float32)
    time_target = RNG.standard_normal((3, 5, 4)).astype(np.float32)
    return [
        ("huber", losses.Huber(), lambda k: k.losses.Huber(), target, 3 * normal),
        ("huber_delta", losses.Huber(0.3), lambda k: k.losses.Huber(0.3), target, normal),
        ("log_cosh", losses.LogCosh(), lambda k: k.losses.LogCosh(), target, 2 * normal),
        ("log_cosh_huge", losses.LogCosh(), lambda k: k.losses.LogCosh(), target, 1e4 * normal),
        ("hinge_01", losses.Hinge(), lambda k: k.losses.Hinge(), binary, normal),
        ("hinge_signs", losses.Hinge(), lambda k: k.losses.Hinge(), signs, normal),
        ("kl", losses.KLDivergence(), lambda k: k.losses.KLDivergence(), probs, probs_pred),
        ("kl_inside", losses.KLDivergence(), lambda k: k.losses.KLDivergence(), probs,
         RNG.dirichlet(np.ones(4), 6).astype(np.float32)),
        ("cosine", losses.CosineSimilarity(), lambda k: k.losses.CosineSimilarity(), target,
         normal),
        ("cosine_axis1", losses.CosineSimilarity(axis=1),
         lambda k: k.losses.CosineSimilarity(axis=1), time_target, time),
        ("huber_time", losses.Huber(), lambda k: k.losses.Huber(), time_target, 2 * time),
    ]  # fmt: skip


CASES = {case[0]: case[1:] for case in _data()}


def keras_value_and_grad(keras, loss, y_true, y_pred):
    import torch

    pred = torch.tensor(y_pred, requires_grad=True)
    value = loss(torch.tensor(y_true), pred)
    value.backward()
    return float(value.detach()), pred.grad.numpy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_value_and_gradient_match_keras(case):
    keras = import_keras()
    ours, make_theirs, y_true, y_pred = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on huge errors, no 0/0
        value, grad = ours.forward(y_pred, ours.prepare_targets(y_true, y_pred.shape))
    expected, expected_grad = keras_value_and_grad(keras, make_theirs(keras), y_true, y_pred)
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert grad.dtype == np.float32 and grad.shape == y_pred.shape
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "case",
    ["huber", "huber_delta", "log_cosh", "hinge_signs", "kl_inside", "cosine", "cosine_axis1"],
)
def test_gradient_matches_finite_differences_in_float64(case):
    ours, _, y_true, y_pred = CASES[case]
    report = gradcheck(ours, y_pred.astype(np.float64), y_true.astype(np.float64))
    assert report.passed, str(report)


def test_cosine_similarity_of_a_zero_prediction_is_finite_where_keras_gives_nan():
    # Keras normalizes with x * min(rsqrt(|x|^2), 1/eps): the value is 0 for a zero vector,
    # but autograd's rsqrt(0) = inf times 0 makes its gradient NaN. engram returns the
    # derivative of the same formula on the eps branch, -v / eps, which is finite.
    keras = import_keras()
    y_true = RNG.standard_normal((3, 4)).astype(np.float32)
    y_pred = RNG.standard_normal((3, 4)).astype(np.float32)
    y_pred[1] = 0.0
    loss = losses.CosineSimilarity()
    value, grad = loss.forward(y_pred, y_true)
    expected, expected_grad = keras_value_and_grad(
        keras, keras.losses.CosineSimilarity(), y_true, y_pred
    )
    assert value == pytest.approx(expected, rel=1e-5)
    assert np.isnan(expected_grad[1]).all() and np.isfinite(grad).all()
    v = y_true[1] / np.linalg.norm(y_true[1])
    np.testing.assert_allclose(grad[1], -v / losses.EPSILON / 3, rtol=1e-5)
    np.testing.assert_allclose(grad[[0, 2]], expected_grad[[0, 2]], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    ("function", "keras_name", "kwargs"),
    [
        (losses.huber, "huber", {"delta": 0.5}),
        (losses.log_cosh, "log_cosh", {}),
        (losses.hinge, "hinge", {}),
        (losses.kl_divergence, "kl_divergence", {}),
        (losses.cosine_similarity, "cosine_similarity", {"axis": -1}),
    ],
)
def test_per_sample_functions_match_keras(function, keras_name, kwargs):
    keras = import_keras()
    y_true = RNG.uniform(0, 1, (5, 3)).astype(np.float32)
    y_pred = RNG.uniform(-1, 1, (5, 3)).astype(np.float32)
    theirs = getattr(keras.losses, keras_name)(y_true, y_pred, **kwargs)
    np.testing.assert_allclose(function(y_true, y_pred, **kwargs), np.asarray(theirs), rtol=1e-5)


@pytest.mark.parametrize(
    ("names", "cls"),
    [
        (["huber", "Huber", losses.huber], losses.Huber),
        (["log_cosh", "LogCosh", losses.log_cosh], losses.LogCosh),
        (["hinge", "Hinge", losses.hinge], losses.Hinge),
        (["kl_divergence", "KLDivergence", "kld", "KLD", losses.kld], losses.KLDivergence),
        (["cosine_similarity", "CosineSimilarity", losses.cosine_similarity],
         losses.CosineSimilarity),
    ],
)  # fmt: skip
def test_names_keras_accepts(names, cls):
    keras = import_keras()
    for name in names:
        assert type(losses.get(name)) is cls
        if isinstance(name, str):
            keras.losses.get(name)  # Keras takes the same string


@pytest.mark.parametrize(
    ("loss", "activation", "targets"),
    [
        (lambda m: m.Huber(delta=0.5), None, "normal"),
        (lambda m: "log_cosh", None, "normal"),
        (lambda m: "hinge", "tanh", "binary"),
        (lambda m: "kl_divergence", "softmax", "probs"),
        (lambda m: m.CosineSimilarity(axis=-1), None, "normal"),
    ],
)
def test_training_with_the_loss_matches_keras(loss, activation, targets):
    keras = import_keras()
    keras.utils.set_random_seed(0)  # Keras's initial weights, the same every run
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 5)).astype(np.float32)
    y = {
        "normal": rng.standard_normal((24, 3)),
        "binary": rng.integers(0, 2, (24, 3)),
        "probs": rng.dirichlet(np.ones(3), 24),
    }[targets].astype(np.float32)
    kmodel = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
         keras.layers.Dense(3, activation=activation)]
    )  # fmt: skip
    model = Sequential([Dense(4, activation="relu", input_dim=5), Dense(3, activation=activation)])
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    model.compile(optimizer="sgd", loss=loss(losses))
    kmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss=loss(keras.losses))
    fit = {"batch_size": 6, "epochs": 2, "shuffle": False, "verbose": 0}
    ours, theirs = model.fit(x, y, **fit).history, kmodel.fit(x, y, **fit).history
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        kmodel.evaluate(x, y, verbose=0), rel=1e-5
    )
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)


def test_config_round_trip_and_bad_arguments():
    for loss in [losses.Huber(delta=2.5), losses.CosineSimilarity(axis=1), losses.LogCosh()]:
        clone = losses.get(losses.to_json(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    assert losses.to_json(losses.Huber()) == "huber"
    with pytest.raises(ValueError, match="delta must be > 0. Got -1"):
        losses.Huber(delta=-1)
    with pytest.raises(TypeError, match="axis must be an int"):
        losses.CosineSimilarity(axis=1.5)
    with pytest.raises(TypeError, match="Hinge takes no from_logits"):
        losses.get({"name": "hinge", "config": {"from_logits": True}})
    with pytest.raises(ValueError, match=r"CosineSimilarity\(axis=2\) needs outputs with more"):
        losses.CosineSimilarity(axis=2)(np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.parametrize(
    "loss", [losses.Huber(delta=0.25), losses.BinaryCrossentropy(from_logits=True)]
)
def test_model_file_keeps_the_loss_and_its_option(tmp_path, loss):
    # a loss with options is saved as {"name", "config"}; loading once read that dict as one
    # loss per output name and refused the file
    from engram.nn import load_model

    model = Sequential([Dense(2, input_dim=3)], seed=0)
    model.compile("adam", loss)
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    model.save(tmp_path / "m.engram")
    loaded = load_model(tmp_path / "m.engram").loss
    assert type(loaded) is type(loss) and loaded.get_config() == loss.get_config()


@pytest.mark.parametrize("loss", [losses.Huber(delta=2.0), losses.CosineSimilarity(axis=1), "kld"])
def test_keras_files_carry_the_new_losses(tmp_path, loss):
    keras = import_keras()
    from engram.nn import load_model

    model = Sequential([Dense(2, input_dim=3)], seed=0)
    model.compile("adam", loss)
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    model.save(tmp_path / "m.keras")
    assert losses.to_json(load_model(tmp_path / "m.keras").loss) == losses.to_json(model.loss)
    theirs = keras.losses.get(keras.saving.load_model(tmp_path / "m.keras").loss)  # Keras too
    y_true, y_pred = np.ones((2, 2), np.float32), np.float32([[0.5, -1], [2, 0.1]])
    assert float(np.mean(np.asarray(theirs(y_true, y_pred)))) == pytest.approx(
        model.loss(y_true, y_pred), rel=1e-6
    )
