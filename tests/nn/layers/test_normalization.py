import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from engram.nn import Sequential, gradcheck, load_model
from engram.nn.layers import BatchNormalization, Conv2D, Dense, Flatten
from tests.helpers import check_layer


def torch_batch_norm(training, moving=None):
    def fn(p, x):
        c = x.shape[-1]
        mean, var = moving if moving is not None else (torch.zeros(c), torch.ones(c))
        flat = x.reshape(-1, c)
        y = tF.batch_norm(flat, mean, var, p["gamma"], p["beta"], training=training, eps=1e-3)
        return y.reshape(x.shape)

    return fn


@pytest.mark.parametrize("input_shape", [(6, 3), (2, 2, 3, 3)], ids=["dense", "images"])
def test_batch_norm_training_harness(input_shape, tmp_path):
    check_layer(
        BatchNormalization,
        {},
        input_shape,
        torch_batch_norm(True),
        training=True,
        tmp_path=tmp_path,
    )


def test_batch_norm_input_gradient_on_larger_images():
    # The input gradient is a projection (it sums to zero per channel), small beside the
    # output, so finite differences need a larger step to rise above float64 rounding.
    x = np.random.default_rng(0).standard_normal((4, 3, 4, 3)) * 3 + 1
    report = gradcheck(BatchNormalization(), x, training=True, eps=1e-4)
    assert report.passed, str(report)


def test_batch_norm_inference_harness_with_moving_statistics(tmp_path):
    rng = np.random.default_rng(0)
    layer = BatchNormalization()
    layer.build((3,), rng)
    mean = rng.standard_normal(3).astype(np.float32)
    var = rng.uniform(0.5, 2, 3).astype(np.float32)
    gamma, beta = (
        rng.standard_normal(3).astype(np.float32),
        rng.standard_normal(3).astype(np.float32),
    )
    layer.set_weights([gamma, beta, mean, var])
    x = rng.standard_normal((5, 3)).astype(np.float32)
    fn = torch_batch_norm(False, (torch.tensor(mean), torch.tensor(var)))
    from tests.helpers import check_torch_parity

    check_torch_parity(layer, x, fn)
    check_layer(BatchNormalization, {"center": False}, (4, 3), tmp_path=tmp_path)
    check_layer(BatchNormalization, {"scale": False, "momentum": 0.5}, (4, 3), training=True)


def test_get_weights_returns_keras_four_arrays_in_order():
    layer = BatchNormalization()
    layer.build((4, 4, 2), np.random.default_rng(0))
    gamma, beta, moving_mean, moving_variance = layer.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(2))
    np.testing.assert_array_equal(beta, np.zeros(2))
    np.testing.assert_array_equal(moving_mean, np.zeros(2))
    np.testing.assert_array_equal(moving_variance, np.ones(2))
    assert sorted(layer.params) == ["beta", "gamma"]  # only these are trained
    assert layer.count_params() == 8  # Keras counts the moving statistics too


def test_moving_statistics_follow_keras_update_rule():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (256, 2)).astype(np.float32)
    layer = BatchNormalization(momentum=0.9)
    layer.build((2,), rng)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(layer.moving_mean, 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * x.var(axis=0), rtol=1e-5)
    before = layer.moving_mean.copy()
    layer.forward(x, training=False)
    np.testing.assert_array_equal(layer.moving_mean, before)  # inference leaves them alone


def test_not_trainable_runs_in_inference_mode():
    layer = BatchNormalization(trainable=False)
    x = np.full((4, 2), 5.0, dtype=np.float32)
    y = layer(x, training=True)
    np.testing.assert_allclose(y, 5 / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean, 0)


def test_moving_statistics_are_saved_and_restored(tmp_path):
    model = Sequential(
        [Conv2D(2, 3, input_shape=(5, 5, 1)), BatchNormalization(), Flatten(), Dense(2)], seed=0
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 5, 5, 1)), rng.integers(0, 2, 16), epochs=2, verbose=0)
    assert not np.allclose(model.layers[1].moving_mean, 0)
    model.save(tmp_path / "bn.engram")
    loaded = load_model(tmp_path / "bn.engram")
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = rng.random((3, 5, 5, 1))
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))
    assert len(model.get_weights()) == 2 + 4 + 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axis": 1}, "only axis=-1"),
        ({"momentum": 1.5}, "momentum must be in"),
        ({"epsilon": 0}, "epsilon must be > 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNormalization(**kwargs)
